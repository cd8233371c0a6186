//! The tasks family as the collector holds it: its settings, the engine kept between scrapes,
//! and the full pass over the history that builds (and later reconciles) the engine in the
//! background.
//!
//! A pass runs on the pool's background connection, in one REPEATABLE READ snapshot; its result
//! replaces the engine and the next scrape catches up from that snapshot. A pass starts when
//! there are no totals yet, when the engine asked for one (a terminal task forced back to a
//! non-terminal state), or when the reconciliation interval has passed; never twice at once,
//! and not again within [`HISTORY_RETRY`] of a failed one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use super::attribution::Attributor;
use super::{Engine, TasksSettings, TasksSnapshot, TasksState};
use crate::db::{self, Database};
use crate::sql;

/// Do not start a history pass more often than this after a failed one.
const HISTORY_RETRY: Duration = Duration::from_secs(30);

/// Statement timeout of the history pass: its batches over a busy database's history may take
/// longer than a scrape's statement timeout, and a failed batch would restart the whole pass.
const HISTORY_STATEMENT_TIMEOUT_MS: &str = "120000";

/// The family's state across scrapes.
#[derive(Debug)]
pub struct Tasks {
    settings: TasksSettings,
    state: Arc<tokio::sync::Mutex<TasksState>>,
    /// Set while a full pass over the task history runs in the background.
    running: Arc<AtomicBool>,
    /// After a failed pass, none starts again before this instant.
    retry_at: Arc<Mutex<Option<Instant>>>,
}

impl Tasks {
    pub fn new(settings: TasksSettings) -> Self {
        Self { settings, state: Arc::default(), running: Arc::default(), retry_at: Arc::default() }
    }

    pub fn settings(&self) -> &TasksSettings {
        &self.settings
    }

    /// Reads the family inside the scrape's transaction and advances the engine.
    pub async fn fetch(&self, conn: &mut PgConnection) -> Result<TasksSnapshot, sqlx::Error> {
        let mut state = self.state.lock().await;
        super::fetch(conn, &mut state, &self.settings).await
    }

    /// The per-tag task counts, for the inventory (None before the first full pass).
    pub async fn tag_totals(&self) -> Option<Vec<(String, super::aggregate::Counts)>> {
        super::tag_totals(&*self.state.lock().await)
    }

    /// Starts a history pass in the background when one is due. Needs the Tokio runtime.
    pub async fn start(&self, db: &Database) {
        let due = match &self.state.lock().await.engine {
            None => true,
            Some(engine) => {
                engine.needs_reconcile
                    || engine.built_at.elapsed().is_ok_and(|age| age >= self.settings.reconcile_interval)
            }
        };
        if due {
            self.start_pass(db);
        }
    }

    /// Starts a full pass over the task history, unless one runs or one failed moments ago. It
    /// takes the pool's background connection (shared in turns with the catalog recount) for
    /// its duration; scrapes keep the others.
    fn start_pass(&self, db: &Database) {
        let retry_at = self.retry_at.lock().map(|at| *at).unwrap_or(None);
        if retry_at.is_some_and(|at| Instant::now() < at) || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let retry = Arc::clone(&self.retry_at);
        let db = db.clone();
        let state = Arc::clone(&self.state);
        let running = Arc::clone(&self.running);
        let settings = self.settings.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            tracing::info!("task history pass started");
            let retry_later = || {
                if let Ok(mut at) = retry.lock() {
                    *at = Some(Instant::now() + HISTORY_RETRY);
                }
            };
            match pass(&db, &settings).await {
                // Not a Koji database: the detection said so at WARN; nothing to count.
                Ok(None) => retry_later(),
                Ok(Some((engine, attributor))) => {
                    let mut state = state.lock().await;
                    state.engine = Some(engine);
                    state.attributor = attributor;
                    tracing::info!(seconds = started.elapsed().as_secs_f64(), "task history pass finished");
                }
                Err(error) => {
                    tracing::warn!(error = %db::error_text(&error), "task history pass failed; retrying later");
                    retry_later();
                }
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// One full pass, in one snapshot.
async fn pass(db: &Database, settings: &TasksSettings) -> Result<Option<(Engine, Attributor)>, sqlx::Error> {
    let (_permit, mut conn) = db.background_connection().await?;
    if db.koji_features().is_none() {
        return Ok(None);
    }
    let mut tx = conn.begin_with(db::BEGIN_SNAPSHOT).await?;
    sqlx::query(sql::statement("session", "family_deadline"))
        .bind(HISTORY_STATEMENT_TIMEOUT_MS)
        .execute(&mut *tx)
        .await?;
    let mut attributor = Attributor::default();
    let engine = Engine::from_history(&mut tx, &mut attributor, settings).await?;
    tx.commit().await?;
    Ok(Some((engine, attributor)))
}
