//! One scrape's worth of Koji data, read from the database within a deadline.
//!
//! [`Collector::scrape`] returns a plain [`Snapshot`] and never fails: an unreachable database
//! gives `up = false`, a family that errors or misses the deadline is marked failed while the
//! others still report. Nothing here knows about Prometheus; `exposition` turns the snapshot
//! into text. Each family runs in its own read-only REPEATABLE READ transaction, so the numbers
//! of one family agree with each other.

pub mod catalog;
pub mod hosts;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};
use tokio::time::timeout;

use crate::config::CatalogConfig;
use crate::db::Database;
use crate::schema::SchemaFeatures;

pub(crate) const BEGIN: &str = "begin isolation level repeatable read read only";

/// What one scrape found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The database answered during this scrape.
    pub up: bool,
    pub schema: Option<SchemaFeatures>,
    /// One entry per family, in a fixed order.
    pub outcomes: Vec<Outcome>,
    pub hosts: Option<hosts::HostsSnapshot>,
    /// None when the family is disabled.
    pub catalog: Option<catalog::CatalogSnapshot>,
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
pub const FAMILIES: [&str; 2] = ["hosts", "catalog"];

/// Reads the database on demand; shared by every HTTP request.
#[derive(Debug)]
pub struct Collector {
    db: Database,
    default_max_jobs: u64,
    /// The catalog family's background state; None when the family is disabled.
    catalog: Option<catalog::Catalog>,
    /// Whether the previous scrape reached the database, so that an outage is logged when it
    /// starts and when it ends rather than on every scrape.
    was_up: AtomicBool,
}

impl Collector {
    /// A collector with the catalog family at its default settings (see [`Collector::with_catalog`]).
    pub fn new(db: Database, default_max_jobs: u32) -> Self {
        Self {
            db,
            default_max_jobs: u64::from(default_max_jobs),
            catalog: Some(catalog::Catalog::new(&CatalogConfig::default())),
            was_up: AtomicBool::new(true),
        }
    }

    /// Configures the catalog family (or leaves it out when it is disabled).
    pub fn with_catalog(mut self, config: &CatalogConfig) -> Self {
        self.catalog = config.enabled.then(|| catalog::Catalog::new(config));
        self
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Collects every family, spending at most `deadline` in total.
    pub async fn scrape(&self, deadline: Duration) -> Snapshot {
        let started = Instant::now();
        let mut snapshot = Snapshot { default_max_jobs: self.default_max_jobs, ..Snapshot::default() };
        if let Some(catalog) = &self.catalog {
            // The background recount runs on its own schedule; the scrape only reads its result.
            catalog.start(&self.db);
            snapshot.catalog = Some(catalog.snapshot(None));
        }
        let mut conn = match timeout(deadline, self.db.pool.acquire()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => {
                self.note_reachability(false, &error.to_string());
                snapshot.outcomes = self.failed_families(started.elapsed());
                return snapshot;
            }
            Err(_) => {
                self.note_reachability(false, "no connection within the scrape deadline");
                snapshot.outcomes = self.failed_families(started.elapsed());
                return snapshot;
            }
        };
        self.note_reachability(true, "");
        snapshot.up = true;
        snapshot.schema = self.db.features();
        let Some(features) = snapshot.schema else {
            snapshot.outcomes = self.failed_families(started.elapsed());
            return snapshot;
        };

        let deadline_at = started + deadline;
        snapshot.hosts = run_family(&mut conn, "hosts", deadline_at, &mut snapshot.outcomes, async |tx| {
            hosts::fetch(tx, &features).await
        })
        .await;
        if let Some(catalog) = &self.catalog {
            let live = run_family(&mut conn, "catalog", deadline_at, &mut snapshot.outcomes, async |tx| {
                catalog::fetch_live(tx, &features).await
            })
            .await;
            snapshot.catalog = Some(catalog.snapshot(live));
        }
        // A new family: one more `run_family` call here, a field in `Snapshot`, and its name in
        // `FAMILIES`.
        snapshot
    }

    /// Every enabled family marked as failed (the database could not be reached).
    fn failed_families(&self, elapsed: Duration) -> Vec<Outcome> {
        FAMILIES
            .iter()
            .filter(|family| **family != "catalog" || self.catalog.is_some())
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
