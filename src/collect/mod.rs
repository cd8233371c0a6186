//! One scrape's worth of Koji data, read from the database within a deadline.
//!
//! [`Collector::scrape`] returns a plain [`Snapshot`] and never fails: an unreachable database
//! gives `up = false`, a family that errors or misses the deadline is marked failed while the
//! others still report. Nothing here knows about Prometheus; `exposition` turns the snapshot
//! into text. Each family runs in its own read-only REPEATABLE READ transaction, so the numbers
//! of one family agree with each other.

pub mod hosts;
pub mod tasks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};
use tokio::time::timeout;

use crate::db::Database;
use crate::schema::SchemaFeatures;

const BEGIN: &str = "begin isolation level repeatable read read only";

/// What one scrape found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The database answered during this scrape.
    pub up: bool,
    pub schema: Option<SchemaFeatures>,
    /// One entry per family, in a fixed order.
    pub outcomes: Vec<Outcome>,
    pub hosts: Option<hosts::HostsSnapshot>,
    pub tasks: Option<tasks::TasksSnapshot>,
    /// Builders that report no job limit are held to this one.
    pub default_max_jobs: u64,
}

/// How one family fared.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub family: &'static str,
    pub success: bool,
    pub duration: Duration,
}

/// The families, in the order they are collected and reported.
pub const FAMILIES: [&str; 2] = ["hosts", "tasks"];

/// What the collector needs from the configuration.
#[derive(Debug, Clone)]
pub struct CollectSettings {
    pub default_max_jobs: u32,
    pub tasks: tasks::TasksSettings,
}

impl CollectSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let tasks = &config.tasks;
        Self {
            default_max_jobs: config.hosts.default_max_jobs,
            tasks: tasks::TasksSettings {
                tag_label: tasks.tag_label,
                methods: tasks.methods.iter().cloned().collect(),
                reconcile_interval: crate::db::seconds(tasks.reconcile_interval_seconds),
                gap_grace: crate::db::seconds(tasks.gap_grace_seconds),
            },
        }
    }
}

/// Do not start a history pass more often than this after a failed one.
const HISTORY_RETRY: Duration = Duration::from_secs(30);

/// Reads the database on demand; shared by every HTTP request.
#[derive(Debug)]
pub struct Collector {
    db: Database,
    default_max_jobs: u64,
    task_settings: tasks::TasksSettings,
    task_state: Arc<tokio::sync::Mutex<tasks::TasksState>>,
    /// Set while a full pass over the task history runs in the background.
    history_running: Arc<AtomicBool>,
    /// After a failed pass, none starts again before this instant.
    history_retry_at: Arc<std::sync::Mutex<Option<Instant>>>,
    /// Whether the previous scrape reached the database, so that an outage is logged when it
    /// starts and when it ends rather than on every scrape.
    was_up: AtomicBool,
}

impl Collector {
    pub fn new(db: Database, settings: CollectSettings) -> Self {
        Self {
            db,
            default_max_jobs: u64::from(settings.default_max_jobs),
            task_settings: settings.tasks,
            task_state: Arc::default(),
            history_running: Arc::default(),
            history_retry_at: Arc::default(),
            was_up: AtomicBool::new(true),
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Collects every family, spending at most `deadline` in total.
    pub async fn scrape(&self, deadline: Duration) -> Snapshot {
        let started = Instant::now();
        let mut snapshot = Snapshot { default_max_jobs: self.default_max_jobs, ..Snapshot::default() };
        let mut conn = match timeout(deadline, self.db.pool.acquire()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => {
                self.note_reachability(false, &error.to_string());
                snapshot.outcomes = failed_families(started.elapsed());
                return snapshot;
            }
            Err(_) => {
                self.note_reachability(false, "no connection within the scrape deadline");
                snapshot.outcomes = failed_families(started.elapsed());
                return snapshot;
            }
        };
        self.note_reachability(true, "");
        snapshot.up = true;
        snapshot.schema = self.db.features();
        let Some(features) = snapshot.schema else {
            snapshot.outcomes = failed_families(started.elapsed());
            return snapshot;
        };

        let deadline_at = started + deadline;
        snapshot.hosts = run_family(&mut conn, "hosts", deadline_at, &mut snapshot.outcomes, async |tx| {
            hosts::fetch(tx, &features).await
        })
        .await;
        let settings = &self.task_settings;
        let mut task_state = self.task_state.lock().await;
        snapshot.tasks = run_family(&mut conn, "tasks", deadline_at, &mut snapshot.outcomes, async |tx| {
            tasks::fetch(tx, &mut task_state, settings).await
        })
        .await;
        let history_due = match &task_state.engine {
            None => true,
            Some(engine) => {
                engine.needs_reconcile
                    || engine.built_at.elapsed().is_ok_and(|age| age >= self.task_settings.reconcile_interval)
            }
        };
        drop(task_state);
        if history_due {
            self.start_history_pass();
        }
        // A new family: one more `run_family` call here, a field in `Snapshot`, and its name in
        // `FAMILIES`.
        snapshot
    }

    /// Starts a full pass over the task history in the background, unless one runs or one
    /// failed moments ago. It takes one connection of the pool for its duration; scrapes keep
    /// the other. The result replaces the engine; the next scrape catches up from its snapshot.
    fn start_history_pass(&self) {
        let retry_at = self.history_retry_at.lock().map(|at| *at).unwrap_or(None);
        if retry_at.is_some_and(|at| Instant::now() < at) || self.history_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let retry = Arc::clone(&self.history_retry_at);
        let pool = self.db.pool.clone();
        let state = Arc::clone(&self.task_state);
        let running = Arc::clone(&self.history_running);
        let settings = self.task_settings.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            tracing::info!("task history pass started");
            let result = async {
                let mut conn = pool.acquire().await?;
                let mut tx = conn.begin_with(BEGIN).await?;
                let mut attributor = tasks::attribution::Attributor::default();
                let engine = tasks::Engine::from_history(&mut tx, &mut attributor, &settings).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>((engine, attributor))
            }
            .await;
            match result {
                Ok((engine, attributor)) => {
                    let mut state = state.lock().await;
                    state.engine = Some(engine);
                    state.attributor = attributor;
                    tracing::info!(seconds = started.elapsed().as_secs_f64(), "task history pass finished");
                }
                Err(error) => {
                    tracing::warn!(%error, "task history pass failed; retrying later");
                    if let Ok(mut at) = retry.lock() {
                        *at = Some(Instant::now() + HISTORY_RETRY);
                    }
                }
            }
            running.store(false, Ordering::Release);
        });
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

/// Runs one family in its own read-only transaction, bounded by the scrape's deadline, and
/// records how it fared. A family that errors or runs late yields None; the others still run.
async fn run_family<T>(
    conn: &mut PoolConnection<Postgres>,
    family: &'static str,
    deadline_at: Instant,
    outcomes: &mut Vec<Outcome>,
    fetch: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
) -> Option<T> {
    let started = Instant::now();
    let remaining = deadline_at.saturating_duration_since(started);
    let result = timeout(remaining, async {
        let mut tx = conn.begin_with(BEGIN).await?;
        let value = fetch(&mut tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(value)
    })
    .await;
    let value = match result {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::warn!(family, %error, "collection failed");
            None
        }
        Err(_) => {
            tracing::warn!(family, "collection missed the scrape deadline");
            // The connection may be in the middle of a statement; do not hand it back.
            conn.close_on_drop();
            None
        }
    };
    outcomes.push(Outcome { family, success: value.is_some(), duration: started.elapsed() });
    value
}

fn failed_families(elapsed: Duration) -> Vec<Outcome> {
    FAMILIES.iter().map(|family| Outcome { family, success: false, duration: elapsed }).collect()
}
