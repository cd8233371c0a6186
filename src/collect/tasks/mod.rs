//! The tasks family: the queue now, and totals over the whole task history, kept exact by an
//! incremental engine whose cost per scrape follows what changed, not the table's size.
//!
//! The queue gauges are recomputed every scrape from the non-terminal tasks (FREE, ASSIGNED,
//! OPEN), which the task_by_state index returns cheaply.
//!
//! The totals (tasks per final state, wait and run time histograms, finished tasks per host)
//! are functions of the task rows as they are in the database, so they survive restarts and
//! agree between replicas. One full pass over the history builds them ([`Engine::from_history`],
//! run outside any scrape); each scrape then advances the engine by reading, in one snapshot:
//! tasks with ids above the highest seen, tasks that were not terminal at the last scrape, and
//! ids that were missing below the highest seen. Missing ids happen because transactions commit
//! out of id order (a later id becomes visible first) or roll back (the id never appears): such
//! a gap is looked up again until it appears or has stayed missing for the grace period. Late
//! commits land within moments, rollbacks never do, so a gap is looked up on every scrape only
//! while it is young ([`GAP_EAGER`]) and then once per [`GAP_RECHECK`]: the per-scrape cost
//! follows the rate at which gaps appear rather than that rate times the grace period, and a
//! task that commits later than that is counted at most [`GAP_RECHECK`] late.
//!
//! Ids handed out again (a database restored from a backup, a failover to a replica that had
//! not received the newest tasks) would make the engine mix two histories: ids at or below the
//! highest seen are never read again. Each scrape therefore checks, with two primary-key probes,
//! that the highest id did not go back and that the newest task counted still has the create
//! time it had; when either fails the totals are dropped and recounted at once
//! ([`Engine::ids_reused`]).
//!
//! Two things the engine cannot see incrementally: terminal tasks deleted by koji-sweep-db, and
//! an admin forcing a terminal task back to ASSIGNED (that one it notices, because the task
//! shows up among the non-terminal ones, and it asks for a reconciliation). A periodic
//! reconciliation (a fresh full pass) corrects both.

pub mod aggregate;
pub mod attribution;
mod history;
pub mod lifecycle;
mod row;

pub use self::row::TaskRow;
pub mod request;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use sqlx::PgConnection;

use self::aggregate::{Aggregates, TaskKey};
use self::attribution::Attributor;
use crate::lossy::Lossy;
use crate::names::NameFilter;
use crate::sql;

/// Rows read per statement when walking new tasks or the history.
const BATCH: i64 = 20_000;
/// New tasks read by one scrape at most; a larger backlog is read over the next scrapes.
const MAX_NEW_PER_SCRAPE: usize = 200_000;
/// Missing ids recorded at most per stretch (a sequence jump must not flood the gap list).
const MAX_GAPS_PER_STRETCH: i32 = 10_000;
/// A missing id is looked up on every scrape while it is younger than this.
pub const GAP_EAGER: Duration = Duration::from_secs(10);
/// After that, it is looked up again once this long has passed since the last look.
pub const GAP_RECHECK: Duration = Duration::from_secs(60);

/// Settings of the family (from `[tasks]` in the configuration).
#[derive(Debug, Clone)]
pub struct TasksSettings {
    /// Whether tasks are attributed to tags (the queue gauges' `tag` label, the per-tag counts).
    pub tag_label: bool,
    /// Methods kept as label values; others become "other". Empty keeps every method.
    pub methods: HashSet<String>,
    pub reconcile_interval: Duration,
    pub gap_grace: Duration,
    /// Tags that keep their own label value; the others are reported as "other".
    pub tags: NameFilter,
    /// Time the family may take in one scrape.
    pub timeout: Duration,
}

impl TasksSettings {
    pub fn key(&self, row: &TaskRow, tag: &str) -> TaskKey {
        let method = row.method.as_deref().unwrap_or("");
        let method = if self.methods.is_empty() || self.methods.contains(method) { method } else { "other" };
        TaskKey {
            channel_id: row.channel_id,
            method: method.to_owned(),
            tag: match tag {
                _ if !self.tag_label => String::new(),
                "" => String::new(),
                tag if self.tags.keeps(tag) => tag.to_owned(),
                _ => attribution::OTHER.to_owned(),
            },
        }
    }
}

/// Totals over the task history plus what is needed to keep them current.
#[derive(Debug, Clone)]
pub struct Engine {
    pub aggregates: Aggregates,
    /// Highest task id taken into account.
    max_seen: i32,
    /// Create time of the task with id `max_seen`, to notice the id naming another task later.
    max_seen_created: Option<f64>,
    /// Tasks counted as existing but not (yet) as finished: non-terminal or unknown state.
    tracked: HashMap<i32, TaskKey>,
    /// Ids below `max_seen` not visible yet.
    gaps: HashMap<i32, Gap>,
    /// Set when the engine saw something only a full pass can account for.
    pub needs_reconcile: bool,
    pub built_at: SystemTime,
}

/// An id below the highest seen that was not visible when last looked for.
#[derive(Debug, Clone, Copy)]
struct Gap {
    first_missed: Instant,
    last_looked: Instant,
}

impl Gap {
    fn due(&self, now: Instant) -> bool {
        now.duration_since(self.first_missed) < GAP_EAGER || now.duration_since(self.last_looked) >= GAP_RECHECK
    }
}

impl Engine {
    fn empty() -> Self {
        Engine {
            aggregates: Aggregates::default(),
            max_seen: 0,
            max_seen_created: None,
            tracked: HashMap::new(),
            gaps: HashMap::new(),
            needs_reconcile: false,
            built_at: SystemTime::now(),
        }
    }

    /// Builds the totals from every task inside the caller's (REPEATABLE READ) transaction, so
    /// that the result describes one snapshot: the server adds up the finished tasks, and only
    /// what needs Rust is read row by row (see `history.rs`).
    pub async fn from_history(
        conn: &mut PgConnection,
        attributor: &mut Attributor,
        settings: &TasksSettings,
    ) -> Result<Engine, sqlx::Error> {
        history::pass(conn, attributor, settings).await
    }

    /// The same pass done row by row: every task read in batches of the primary key and taken
    /// in as the scrapes take new tasks. Far slower on a large history; kept as the reference
    /// that [`Engine::from_history`] is tested against.
    pub async fn from_history_row_by_row(
        conn: &mut PgConnection,
        attributor: &mut Attributor,
        settings: &TasksSettings,
    ) -> Result<Engine, sqlx::Error> {
        let mut engine = Engine::empty();
        let now = Instant::now();
        loop {
            let rows = created_after(conn, engine.max_seen, BATCH).await?;
            let last_batch = (rows.len() as i64) < BATCH;
            attributor.attribute(conn, &rows).await?;
            for row in &rows {
                engine.note_gaps_before(row.id, now);
                engine.take_new(row, attributor, settings);
            }
            if last_batch {
                break;
            }
        }
        // Only recent gaps can still fill; older ones are rolled back or deleted for good.
        let horizon = engine.max_seen.saturating_sub(MAX_GAPS_PER_STRETCH);
        engine.gaps.retain(|id, _| *id > horizon);
        engine.built_at = SystemTime::now();
        Ok(engine)
    }

    /// Takes in what changed since the last scrape. `nonterminal` are the scrape's FREE,
    /// ASSIGNED and OPEN tasks.
    pub async fn advance(
        &mut self,
        conn: &mut PgConnection,
        attributor: &mut Attributor,
        settings: &TasksSettings,
        nonterminal: &[TaskRow],
    ) -> Result<(), sqlx::Error> {
        let now = Instant::now();
        let max_before = self.max_seen;
        let nonterminal_ids: HashSet<i32> = nonterminal.iter().map(|row| row.id).collect();

        // Tasks that left the non-terminal set (finished, or deleted) and gaps that may have filled.
        let mut recheck: Vec<i32> = self.tracked.keys().filter(|id| !nonterminal_ids.contains(id)).copied().collect();
        // A gap that is already among the non-terminal tasks has appeared: look it up now.
        recheck.extend(
            self.gaps.iter().filter(|(id, gap)| gap.due(now) || nonterminal_ids.contains(id)).map(|(id, _)| *id),
        );
        let rechecked: Vec<TaskRow> = if recheck.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(sql::statement("tasks", "by_id"))
                .bind(request::tag_method_names())
                .bind(&recheck)
                .fetch_all(&mut *conn)
                .await?
        };
        let filled: Vec<TaskRow> = rechecked.iter().filter(|row| self.gaps.contains_key(&row.id)).cloned().collect();
        attributor.attribute(conn, &filled).await?;
        let found: HashSet<i32> = rechecked.iter().map(|row| row.id).collect();
        for row in &rechecked {
            if self.gaps.remove(&row.id).is_some() {
                self.take_new(row, attributor, settings);
            } else if let Some(finished) = row.finished()
                && let Some(key) = self.tracked.remove(&row.id)
            {
                self.aggregates.finished(&key, &finished, 1);
            }
        }
        for id in recheck.iter().filter(|id| !found.contains(id)) {
            if let Some(key) = self.tracked.remove(id) {
                // Deleted while not finished: it no longer exists, so it no longer counts.
                self.aggregates.created(&key, -1);
            } else if let Some(gap) = self.gaps.get_mut(id) {
                gap.last_looked = now;
            }
        }
        self.gaps.retain(|_, gap| now.duration_since(gap.first_missed) < settings.gap_grace);

        // New tasks, oldest first.
        let mut read = 0;
        while read < MAX_NEW_PER_SCRAPE {
            let rows = created_after(conn, self.max_seen, BATCH).await?;
            read += rows.len();
            attributor.attribute(conn, &rows).await?;
            for row in &rows {
                self.note_gaps_before(row.id, now);
                self.take_new(row, attributor, settings);
            }
            if (rows.len() as i64) < BATCH {
                break;
            }
        }

        // A non-terminal task the engine had counted as finished: only a full pass can say
        // which final state to take back.
        let reopened = nonterminal
            .iter()
            .any(|row| row.id <= max_before && !self.tracked.contains_key(&row.id) && !self.gaps.contains_key(&row.id));
        if reopened {
            self.needs_reconcile = true;
        }
        Ok(())
    }

    fn note_gaps_before(&mut self, id: i32, now: Instant) {
        let first_missing = self.max_seen.saturating_add(1).max(id.saturating_sub(MAX_GAPS_PER_STRETCH));
        for missing in first_missing..id {
            self.gaps.insert(missing, Gap { first_missed: now, last_looked: now });
        }
        self.max_seen = self.max_seen.max(id);
    }

    /// Why the database no longer holds the history the totals were built from, if it does not:
    /// the highest id went back, or the newest task counted now has another create time.
    pub async fn ids_reused(&self, conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
        if self.max_seen == 0 {
            return Ok(None);
        }
        let (max_id, created): (Option<i32>, Option<f64>) =
            sqlx::query_as(sql::statement("tasks", "id_probe")).bind(self.max_seen).fetch_one(conn).await?;
        Ok(id_reuse(self.max_seen, self.max_seen_created, max_id, created))
    }

    fn take_new(&mut self, row: &TaskRow, attributor: &Attributor, settings: &TasksSettings) {
        if row.id == self.max_seen {
            self.max_seen_created = Some(row.create_time);
        }
        let key = settings.key(row, attributor.tag_of(row.id).unwrap_or(""));
        self.aggregates.created(&key, 1);
        match row.finished() {
            Some(finished) => self.aggregates.finished(&key, &finished, 1),
            None => {
                self.tracked.insert(row.id, key);
            }
        }
    }

    /// The highest task id taken into account.
    pub fn max_seen(&self) -> i32 {
        self.max_seen
    }

    /// The tasks counted as existing but not (yet) as finished, with their keys.
    pub fn tracked(&self) -> &HashMap<i32, TaskKey> {
        &self.tracked
    }

    /// The ids below the highest seen that were not visible when last looked for.
    pub fn gap_ids(&self) -> std::collections::BTreeSet<i32> {
        self.gaps.keys().copied().collect()
    }

    pub fn tracked_count(&self) -> usize {
        self.tracked.len()
    }

    pub fn gap_count(&self) -> usize {
        self.gaps.len()
    }
}

/// The verdict of [`Engine::ids_reused`] from what the probe found (pure).
fn id_reuse(max_seen: i32, seen_created: Option<f64>, max_id: Option<i32>, created: Option<f64>) -> Option<String> {
    let max_id = max_id.unwrap_or(0);
    if max_id < max_seen {
        return Some(format!("the highest task id went back from {max_seen} to {max_id}"));
    }
    match (seen_created, created) {
        (Some(seen), Some(now)) if seen.to_bits() != now.to_bits() => {
            Some(format!("task {max_seen} is another task than the one counted (its create time changed)"))
        }
        _ => None,
    }
}

/// Tasks with ids above `after`, oldest first, at most `limit`: a primary-key range read. The
/// history pass, the scrapes and the reports all walk the task table through this.
pub async fn created_after(conn: &mut PgConnection, after: i32, limit: i64) -> Result<Vec<TaskRow>, sqlx::Error> {
    sqlx::query_as(sql::statement("tasks", "created_after"))
        .bind(request::tag_method_names())
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The FREE, ASSIGNED and OPEN tasks, through the task_by_state index.
pub async fn nonterminal(conn: &mut PgConnection) -> Result<Vec<TaskRow>, sqlx::Error> {
    sqlx::query_as(sql::statement("tasks", "nonterminal")).bind(request::tag_method_names()).fetch_all(conn).await
}

/// Channel and host names by id (both tables are small).
pub async fn names(conn: &mut PgConnection) -> Result<(BTreeMap<i32, String>, BTreeMap<i32, String>), sqlx::Error> {
    let channel_names: Vec<(i32, Lossy)> =
        sqlx::query_as(sql::statement("tasks", "channel_names")).fetch_all(&mut *conn).await?;
    let host_names: Vec<(i32, Lossy)> =
        sqlx::query_as(sql::statement("tasks", "host_names")).fetch_all(&mut *conn).await?;
    Ok((
        crate::lossy::named(channel_names).into_iter().collect(),
        crate::lossy::named(host_names).into_iter().collect(),
    ))
}

/// A non-terminal task, as the queue gauges need it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedTask {
    pub key: TaskKey,
    pub state: i32,
    pub waiting: bool,
    pub arch: String,
    pub create_time: f64,
}

/// What the family found in one scrape.
#[derive(Debug, Clone, Default)]
pub struct TasksSnapshot {
    pub channel_names: BTreeMap<i32, String>,
    pub host_names: BTreeMap<i32, String>,
    pub queue: Vec<QueuedTask>,
    /// None until the first full pass over the history has finished.
    pub totals: Option<Aggregates>,
    pub tracked: usize,
    pub gaps: usize,
    pub built_at: Option<SystemTime>,
}

/// The per-tag task counts of the engine, by tag name (None before the first full pass): the
/// inventory's, copied only when it is scraped.
pub fn tag_totals(state: &TasksState) -> Option<Vec<(String, aggregate::Counts)>> {
    let engine = state.engine.as_ref()?;
    Some(engine.aggregates.by_tag.iter().map(|(tag, counts)| (tag.clone(), *counts)).collect())
}

/// State kept between scrapes.
#[derive(Debug, Default)]
pub struct TasksState {
    pub engine: Option<Engine>,
    pub attributor: Attributor,
}

/// Reads the family and advances the engine, inside the scrape's read-only transaction.
#[tracing::instrument(skip_all)]
pub async fn fetch(
    conn: &mut PgConnection,
    state: &mut TasksState,
    settings: &TasksSettings,
) -> Result<TasksSnapshot, sqlx::Error> {
    if let Some(engine) = state.engine.as_ref()
        && let Some(reason) = engine.ids_reused(conn).await?
    {
        tracing::warn!(%reason, "task ids were handed out again (a restore or failover?); the task totals are recounted from the history");
        // Tags cached by task id may belong to the old tasks too.
        *state = TasksState::default();
    }
    let nonterminal = nonterminal(conn).await?;
    if let Some(engine) = state.engine.as_mut() {
        engine.advance(conn, &mut state.attributor, settings, &nonterminal).await?;
    }
    state.attributor.attribute(conn, &nonterminal).await?;
    let (channel_names, host_names) = names(conn).await?;

    let queue = nonterminal
        .iter()
        .map(|row| QueuedTask {
            key: settings.key(row, state.attributor.tag_of(row.id).unwrap_or("")),
            state: row.state.unwrap_or(-1),
            waiting: row.waiting == Some(true),
            arch: row.arch.clone(),
            create_time: row.create_time,
        })
        .collect();
    let engine = state.engine.as_ref();
    Ok(TasksSnapshot {
        channel_names,
        host_names,
        queue,
        totals: engine.map(|engine| engine.aggregates.operational()),
        tracked: engine.map_or(0, Engine::tracked_count),
        gaps: engine.map_or(0, Engine::gap_count),
        built_at: engine.map(|engine| engine.built_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_is_looked_up_every_scrape_while_young_then_once_per_recheck_period() {
        let born = Instant::now();
        let at = |seconds: u64| born + Duration::from_secs(seconds);
        let fresh = Gap { first_missed: born, last_looked: born };
        assert!(fresh.due(at(0)));
        assert!(fresh.due(at(9)));
        let looked_at_9 = Gap { last_looked: at(9), ..fresh };
        assert!(!looked_at_9.due(at(10)), "past the eager window, looked at 1 s ago");
        assert!(!looked_at_9.due(at(68)));
        assert!(looked_at_9.due(at(69)), "a full recheck period after the last look");
    }

    #[test]
    fn reused_ids_are_told_from_new_tasks_and_deletions() {
        let seen = Some(1_700_000_000.25);
        assert_eq!(id_reuse(0, None, None, None), None, "nothing counted yet");
        assert_eq!(id_reuse(27, seen, Some(27), seen), None, "nothing new");
        assert_eq!(id_reuse(27, seen, Some(40), seen), None, "new tasks above");
        assert_eq!(id_reuse(27, seen, Some(40), None), None, "the newest counted task was deleted, more came");
        assert!(id_reuse(27, seen, Some(25), None).unwrap().contains("went back from 27 to 25"));
        assert!(id_reuse(27, seen, None, None).unwrap().contains("went back from 27 to 0"));
        assert!(id_reuse(27, seen, Some(27), Some(1_700_000_100.0)).unwrap().contains("another task"));
    }
}
