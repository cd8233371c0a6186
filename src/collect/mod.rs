//! One scrape's worth of Koji data, read from the database within a deadline.
//!
//! [`Collector::scrape`] returns a plain [`Snapshot`] and never fails: an unreachable database
//! gives `up = false`, a family that errors or misses the deadline is marked failed while the
//! others still report. Nothing here knows about Prometheus; `exposition` turns the snapshot
//! into text. Each family runs in its own read-only REPEATABLE READ transaction, so the numbers
//! of one family agree with each other.
//!
//! This module only orchestrates: the deadline, the transactions, retries after a standby's
//! recovery conflict, the outcomes. What a family reads, its settings and any state it keeps
//! across scrapes (the task engine and its history pass in `tasks::lifecycle`, the catalog's
//! recount in `catalog::Catalog`) live in the family's own module, which never sees `Config`:
//! `startup` fills in [`CollectSettings`].

pub mod catalog;
pub mod custom;
pub mod hosts;
pub mod tasks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};
use tokio::time::timeout;

use crate::db::Database;
use crate::schema::SchemaFeatures;
use crate::sql;

/// How one attempt at a family ended.
enum Attempt<T> {
    Done(T),
    /// A hot standby cancelled the query to replay WAL; worth another try.
    Conflict,
    Failed,
}

/// Runs a family: a few attempts while a hot standby cancels its queries, then records how it
/// fared. A macro rather than a function so that each attempt gets a fresh `async` closure.
macro_rules! family {
    ($collector:expr, $conn:expr, $name:expr, $timeout:expr, $deadline_at:expr, $outcomes:expr, $fetch:expr) => {{
        let started = Instant::now();
        let family_deadline = $deadline_at.min(started + $timeout);
        let mut value = None;
        for _ in 0..=MAX_CONFLICT_RETRIES {
            match $collector.attempt_family($conn, $name, family_deadline, $fetch).await {
                Attempt::Done(fetched) => {
                    value = Some(fetched);
                    break;
                }
                Attempt::Conflict => continue,
                Attempt::Failed => break,
            }
        }
        $outcomes.push(Outcome { family: $name, success: value.is_some(), duration: started.elapsed() });
        value
    }};
}

/// What one scrape found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The database answered during this scrape.
    pub up: bool,
    pub schema: Option<SchemaFeatures>,
    /// One entry per family, in a fixed order.
    pub outcomes: Vec<Outcome>,
    pub server: Option<ServerState>,
    pub hosts: Option<hosts::HostsSnapshot>,
    pub tasks: Option<tasks::TasksSnapshot>,
    /// None when the family is disabled.
    pub catalog: Option<catalog::CatalogSnapshot>,
    /// Site-defined metrics, in configuration order.
    pub custom: Vec<custom::CustomOutcome>,
    /// Queries retried after a hot standby cancelled them, since the exporter started.
    pub recovery_conflict_retries: u64,
    /// Builders that report no job limit are held to this one.
    pub default_max_jobs: u64,
}

/// A scrape that waited for another scrape's collection until its own deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("this scrape's deadline ({:.1} s) passed while another scrape's collection was still running", deadline.as_secs_f64())]
pub struct Busy {
    pub deadline: Duration,
}

/// How one family fared.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub family: &'static str,
    pub success: bool,
    pub duration: Duration,
}

/// The families, in the order they are collected and reported.
pub const FAMILIES: [&str; 3] = ["hosts", "tasks", "catalog"];

/// Every family's settings; `startup` makes them from the configuration.
#[derive(Debug, Clone)]
pub struct CollectSettings {
    pub hosts: hosts::Settings,
    pub tasks: tasks::TasksSettings,
    /// None when the family is disabled.
    pub catalog: Option<catalog::Settings>,
    pub custom: Vec<Arc<custom::CustomMetric>>,
}

/// Retries of a family whose query a hot standby cancelled.
const MAX_CONFLICT_RETRIES: usize = 2;
/// How much longer than the server's own timeout the exporter waits for an answer before it
/// gives the connection up (the network or the server is not answering at all).
const CLIENT_GRACE: Duration = Duration::from_millis(500);

/// Time for a site metric's database check, and for the session check after the site metrics.
const CHECK_TIME: Duration = Duration::from_secs(2);

/// Reads the database on demand; shared by every HTTP request.
#[derive(Debug)]
pub struct Collector {
    db: Database,
    hosts: hosts::Settings,
    tasks: tasks::lifecycle::Tasks,
    /// The catalog family's background state; None when the family is disabled.
    catalog: Option<catalog::Catalog>,
    custom: Vec<Arc<custom::CustomMetric>>,
    /// Held while a collection runs, so that scrapes share one.
    flight: tokio::sync::Mutex<()>,
    /// The last collection and when it finished; its lock is never held across I/O.
    last: std::sync::Mutex<Option<(Instant, Arc<Snapshot>)>>,
    recovery_conflict_retries: AtomicU64,
    /// Whether the previous scrape reached the database, so that an outage is logged when it
    /// starts and when it ends rather than on every scrape.
    was_up: AtomicBool,
}

impl Collector {
    pub fn new(db: Database, settings: CollectSettings) -> Self {
        Self {
            db,
            hosts: settings.hosts,
            tasks: tasks::lifecycle::Tasks::new(settings.tasks),
            catalog: settings.catalog.map(catalog::Catalog::new),
            custom: settings.custom,
            flight: tokio::sync::Mutex::new(()),
            last: std::sync::Mutex::new(None),
            recovery_conflict_retries: AtomicU64::new(0),
            was_up: AtomicBool::new(true),
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The per-tag task counts as they are now (None before the first history pass), for the
    /// inventory; operational scrapes never copy them.
    pub async fn tag_task_totals(&self) -> Option<Vec<(String, tasks::aggregate::Counts)>> {
        self.tasks.tag_totals().await
    }

    /// Collects every family, spending at most `deadline` in total. Concurrent callers share
    /// one collection: a scrape that arrives while another runs waits for it and serves its
    /// result, so two Prometheus servers never double the database's work. A scrape whose
    /// deadline passes while it waits gets [`Busy`], never an empty snapshot: that would say
    /// `koji_up 0` about a database that is answering the other scrape.
    pub async fn scrape(&self, deadline: Duration) -> Result<Arc<Snapshot>, Busy> {
        let arrived = Instant::now();
        let Ok(_flight) = timeout(deadline, self.flight.lock()).await else {
            // The collection waited for may have finished in the same instant.
            if let Some(snapshot) = self.finished_since(arrived) {
                return Ok(snapshot);
            }
            let busy = Busy { deadline };
            tracing::warn!(
                deadline_seconds = deadline.as_secs_f64(),
                "{busy}; raise this scraper's scrape_timeout or look for the slow family in koji_exporter_collector_duration_seconds"
            );
            return Err(busy);
        };
        if let Some(snapshot) = self.finished_since(arrived) {
            return Ok(snapshot);
        }
        let remaining = deadline.saturating_sub(arrived.elapsed());
        let snapshot = Arc::new(self.collect(remaining).await);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), Arc::clone(&snapshot)));
        }
        Ok(snapshot)
    }

    /// The last collection, if it finished at or after `instant`.
    fn finished_since(&self, instant: Instant) -> Option<Arc<Snapshot>> {
        let last = self.last.lock().ok()?;
        let (finished_at, snapshot) = last.as_ref()?;
        (*finished_at >= instant).then(|| Arc::clone(snapshot))
    }

    /// One collection of every family, without sharing.
    async fn collect(&self, deadline: Duration) -> Snapshot {
        let started = Instant::now();
        let deadline_at = started + deadline;
        let mut snapshot = Snapshot { default_max_jobs: u64::from(self.hosts.default_max_jobs), ..Snapshot::default() };
        if let Some(catalog) = &self.catalog {
            // The background recount runs on its own schedule; the scrape only reads its result.
            catalog.start(&self.db);
            snapshot.catalog = Some(catalog.snapshot(None));
        }
        let mut conn = match self.connect(deadline_at).await {
            Ok(conn) => conn,
            Err(error) => {
                self.note_reachability(false, &error);
                snapshot.outcomes = self.failed_families(started.elapsed());
                return snapshot;
            }
        };
        let server: Result<ServerState, sqlx::Error> =
            sqlx::query_as(sql::statement("session", "server_state")).fetch_one(&mut *conn).await;
        let Ok(server) = server else {
            self.note_reachability(false, "the database did not answer a trivial query");
            conn.close_on_drop();
            snapshot.outcomes = self.failed_families(started.elapsed());
            return snapshot;
        };
        self.note_reachability(true, "");
        snapshot.up = true;
        snapshot.server = Some(server);
        snapshot.schema = self.db.features();
        // Not a Koji database (wrong database name, say): the families would only fail on
        // missing tables, every scrape; the detection has said so once, at WARN.
        let Some(features) = snapshot.schema.filter(SchemaFeatures::is_koji) else {
            snapshot.outcomes = self.failed_families(started.elapsed());
            return snapshot;
        };

        let mut conn = Some(conn);
        snapshot.hosts =
            family!(self, &mut conn, "hosts", self.hosts.timeout, deadline_at, snapshot.outcomes, async |tx| {
                hosts::fetch(tx, &features).await
            });
        let tasks = &self.tasks;
        snapshot.tasks =
            family!(self, &mut conn, "tasks", tasks.settings().timeout, deadline_at, snapshot.outcomes, async |tx| {
                tasks.fetch(tx).await
            });
        // A reconciliation may be due, or the engine may have asked for one.
        tasks.start(&self.db).await;
        if let Some(catalog) = &self.catalog {
            let limit = catalog.settings().timeout;
            let live = family!(self, &mut conn, "catalog", limit, deadline_at, snapshot.outcomes, async |tx| {
                catalog::fetch_live(tx, &features).await
            });
            snapshot.catalog = Some(catalog.snapshot(live));
        }
        let mut site_queries_ran = false;
        for metric in &self.custom {
            if !metric.requires_feature.is_none_or(|needed| features.has(needed)) {
                continue;
            }
            let result = match metric.cached() {
                Some(result) => {
                    snapshot.outcomes.push(Outcome {
                        family: metric.collector,
                        success: true,
                        duration: Duration::ZERO,
                    });
                    Some(result)
                }
                None => {
                    // The database check is required before a site metric runs, on this
                    // connection when it did not pass at start.
                    let ready = match conn.as_mut() {
                        Some(connection) => metric.ready(connection, metric.timeout.max(CHECK_TIME)).await,
                        None => false,
                    };
                    if ready {
                        site_queries_ran = true;
                        family!(
                            self,
                            &mut conn,
                            metric.collector,
                            metric.timeout,
                            deadline_at,
                            snapshot.outcomes,
                            async |tx| { metric.fetch(tx).await }
                        )
                    } else {
                        snapshot.outcomes.push(Outcome {
                            family: metric.collector,
                            success: false,
                            duration: Duration::ZERO,
                        });
                        None
                    }
                }
            };
            snapshot.custom.push(custom::CustomOutcome { metric: Arc::clone(metric), result });
        }
        // Only a site query that ran can have changed the session; cached results sent none.
        if site_queries_ran {
            custom::verify_session(&mut conn, CHECK_TIME).await;
        }
        // A new family: one more `family!` here, a field in `Snapshot`, and its name in `FAMILIES`.
        snapshot.recovery_conflict_retries = self.recovery_conflict_retries.load(Ordering::Relaxed);
        snapshot
    }

    async fn connect(&self, deadline_at: Instant) -> Result<PoolConnection<Postgres>, String> {
        let remaining = deadline_at.saturating_duration_since(Instant::now());
        self.db.acquire(remaining).await
    }

    /// One attempt at a family, in its own read-only transaction. The attempt gets what is left
    /// of the family's time; the server enforces it too (a transaction-local statement_timeout),
    /// so a late query is cancelled there, not left running. A connection that can no longer be
    /// trusted is dropped, and the next family or attempt takes a fresh one.
    async fn attempt_family<T>(
        &self,
        conn: &mut Option<PoolConnection<Postgres>>,
        family: &'static str,
        family_deadline: Instant,
        fetch: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Attempt<T> {
        if conn.is_none() {
            *conn = self.connect(family_deadline).await.ok();
        }
        let Some(connection) = conn.as_mut() else { return Attempt::Failed };
        let remaining = family_deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Attempt::Failed;
        }
        let server_limit = format!("{}", remaining.as_millis().max(1));
        let result = timeout(remaining + CLIENT_GRACE, async {
            let mut tx = connection.begin_with(crate::db::BEGIN_SNAPSHOT).await?;
            sqlx::query(sql::statement("session", "family_deadline")).bind(&server_limit).execute(&mut *tx).await?;
            let value = fetch(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(value)
        })
        .await;
        match result {
            Ok(Ok(value)) => Attempt::Done(value),
            Ok(Err(error)) if is_recovery_conflict(&error) => {
                self.recovery_conflict_retries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(family, error = %crate::db::error_text(&error), "query cancelled by a recovery conflict");
                Attempt::Conflict
            }
            Ok(Err(error)) => {
                if is_query_cancelled(&error) {
                    tracing::warn!(family, "collection missed its deadline; the server cancelled the query");
                } else {
                    tracing::warn!(family, error = %crate::db::error_text(&error), "collection failed");
                }
                if matches!(error, sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_)) {
                    *conn = None;
                }
                Attempt::Failed
            }
            Err(_) => {
                tracing::warn!(family, "collection missed its deadline and the server did not answer");
                // The connection may be in the middle of a statement; do not hand it back.
                if let Some(mut broken) = conn.take() {
                    broken.close_on_drop();
                }
                Attempt::Failed
            }
        }
    }

    /// Starts the background work (the task history pass, the catalog recount) without waiting
    /// for a first scrape, so that the totals are ready by the time Prometheus asks. Needs the
    /// Tokio runtime. Scrapes start whatever is not running yet, so calling this is optional.
    pub async fn start_background(&self) {
        if let Some(catalog) = &self.catalog {
            catalog.start(&self.db);
        }
        self.tasks.start(&self.db).await;
    }

    /// Every enabled family marked as failed (the database could not be reached).
    fn failed_families(&self, elapsed: Duration) -> Vec<Outcome> {
        FAMILIES
            .iter()
            .filter(|family| **family != "catalog" || self.catalog.is_some())
            .copied()
            .chain(self.custom.iter().map(|metric| metric.collector))
            .map(|family| Outcome { family, success: false, duration: elapsed })
            .collect()
    }

    fn note_reachability(&self, up: bool, error: &str) {
        let was_up = self.was_up.swap(up, Ordering::Relaxed);
        match (was_up, up) {
            (true, false) => tracing::error!(%error, "database unreachable; koji_up is 0 until it answers again"),
            (false, false) => tracing::debug!(%error, "database still unreachable"),
            (false, true) => tracing::info!("database reachable again"),
            (true, true) => {}
        }
    }
}

/// SQLSTATE 40001 with the hot-standby wording: the standby cancelled the query to replay WAL.
fn is_recovery_conflict(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.code().as_deref() == Some("40001") || e.message().contains("conflict with recovery"))
}

/// SQLSTATE 57014: cancelled, here by the family's statement_timeout.
fn is_query_cancelled(error: &sqlx::Error) -> bool {
    error.as_database_error().and_then(|e| e.code()).as_deref() == Some("57014")
}

/// The server's view of itself at the start of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct ServerState {
    pub in_recovery: bool,
    /// Unix time of the last replayed transaction (standbys only).
    pub replayed_at: Option<f64>,
    pub server_now: f64,
}

impl ServerState {
    /// How far a standby's data is behind its primary: 0 on a primary, None on a standby that
    /// has replayed nothing yet.
    pub fn replay_lag(&self) -> Option<f64> {
        if self.in_recovery { self.replayed_at.map(|at| (self.server_now - at).max(0.0)) } else { Some(0.0) }
    }
}
