//! The tasks a window needs, read through the primary key, and the time each one loaded its
//! host.
//!
//! `task` has no index on any time column, but ids grow with `create_time`, so the window is
//! turned into an id range by binary search with primary-key probes (about 25 for 10^7 tasks),
//! and only that range is read, in primary-key batches, with the same statement and row type as
//! the exporter's task family. The range starts [`LOOKBACK`] before `--since`, so tasks created
//! earlier that were still running in the window are seen; tasks created even earlier and still
//! unfinished now come from the non-terminal set (task_by_state). What is missed: a task created
//! more than the look-back before `--since` that finished inside the window.
//!
//! Load intervals (pure, [`load_intervals`]): a task loads its host with its weight from
//! `start_time` to `completion_time`; an OPEN task until the window's end. The database keeps no
//! history of `waiting`, so a task with subtasks is taken as waiting (and, as kojid counts, as
//! adding no load) from the creation of its first subtask to the completion of its last one;
//! its weight counts before and after that span. An OPEN task flagged waiting whose subtasks
//! are not in the range read counts no load. FREE and ASSIGNED tasks load nothing, even with a
//! stale `start_time` from an earlier attempt; for a task opened several times only the last
//! run is known.

use std::collections::{BTreeMap, HashMap};

use indicatif::ProgressBar;
use sqlx::PgConnection;

use super::statement::{Param, Planned, Statement};
use super::window::Window;
use crate::collect::tasks::{self, TaskRow, request};
use crate::koji::task::{CANCELED, CLOSED, FAILED, OPEN};

/// How far before `--since` the id range starts.
pub const LOOKBACK: f64 = 7.0 * 86_400.0;
/// Beyond `--until`, to catch tasks whose transaction committed out of id order.
const LOOKAHEAD: f64 = 3_600.0;
/// Rows per primary-key batch.
const BATCH: i64 = 50_000;

/// The tasks of a window plus the names their ids refer to.
#[derive(Debug, Clone, Default)]
pub struct TaskHistory {
    /// Tasks created from `LOOKBACK` before the window to its end, and older unfinished ones.
    pub rows: Vec<TaskRow>,
    pub channel_names: BTreeMap<i32, String>,
    pub host_names: BTreeMap<i32, String>,
    /// The id range scanned (inclusive).
    pub id_range: Option<(i32, i32)>,
}

impl TaskHistory {
    pub fn channel(&self, id: i32) -> String {
        self.channel_names.get(&id).cloned().unwrap_or_else(|| format!("channel {id}"))
    }

    pub fn host(&self, id: Option<i32>) -> String {
        match id {
            Some(id) => self.host_names.get(&id).cloned().unwrap_or_else(|| format!("host {id}")),
            None => "(none)".to_owned(),
        }
    }
}

/// The lowest and highest task id: the first statement of every task read.
fn id_bounds() -> Statement {
    Statement::new("report", "task_id_bounds", vec![])
}

/// One step of the binary search: the first task with an id of at least `id`.
fn probe(id: i32) -> Statement {
    Statement::new("report", "task_at_or_after", vec![Param::Int(id)])
}

/// The middle of `[low, high)`, the id the search probes next.
fn middle(low: i64, high: i64) -> i64 {
    low + (high - low) / 2
}

/// Rows of the primary-key batch that starts after `after`, for a range that ends at `last`.
fn batch_limit(after: i32, last: i32) -> i64 {
    BATCH.min(i64::from(last) - i64::from(after))
}

/// The lowest and highest task id, None for an empty table.
async fn bounds(conn: &mut PgConnection) -> Result<Option<(i32, i32)>, sqlx::Error> {
    let (min, max): (Option<i32>, Option<i32>) = id_bounds().query_as().fetch_one(&mut *conn).await?;
    Ok(min.zip(max))
}

/// The id range to scan for a window, found with primary-key probes; None when no task is in it.
async fn id_range(conn: &mut PgConnection, window: &Window) -> Result<Option<(i32, i32)>, sqlx::Error> {
    match bounds(conn).await? {
        Some((min, max)) => range_within(conn, min, max, window).await,
        None => Ok(None),
    }
}

async fn range_within(
    conn: &mut PgConnection,
    min: i32,
    max: i32,
    window: &Window,
) -> Result<Option<(i32, i32)>, sqlx::Error> {
    let first = first_id_created_at_or_after(conn, min, max, window.since - LOOKBACK).await?;
    let after_end = first_id_created_at_or_after(conn, min, max, window.until + LOOKAHEAD).await?;
    let last = after_end.saturating_sub(1).min(max);
    Ok((first <= last).then_some((first, last)))
}

/// The smallest id from which every task was created at or after `at` (max + 1 if none), by
/// binary search: each step is one primary-key probe. Ids follow creation order except for
/// transactions that commit out of order, which the look-back and look-ahead margins absorb.
async fn first_id_created_at_or_after(
    conn: &mut PgConnection,
    min: i32,
    max: i32,
    at: f64,
) -> Result<i32, sqlx::Error> {
    let (mut low, mut high) = (i64::from(min), i64::from(max) + 1);
    while low < high {
        let middle = middle(low, high);
        let probe: Option<(i32, f64)> = probe(middle as i32).query_as().fetch_optional(&mut *conn).await?;
        match probe {
            Some((_, created)) if created >= at => high = middle,
            Some((id, _)) => low = i64::from(id) + 1,
            None => high = middle,
        }
    }
    Ok(low as i32)
}

/// The statements [`read`] sends for `window`, in order of first use, with the parameters it
/// binds (of the probes and of the batches, the first). It runs the id probes to know them.
/// The report's own statements are the values `read` sends; those of the tasks family are sent
/// by that family's functions (`tasks::created_after`, `tasks::nonterminal`, `tasks::names`),
/// which bind what is listed here (keep them in step; tests/it/report_reads.rs compares the
/// statements with what is really sent).
pub async fn plan(conn: &mut PgConnection, window: &Window) -> Result<Vec<Planned>, sqlx::Error> {
    let methods = || Param::Texts(request::tag_method_names());
    let mut planned = vec![Planned::Sent(id_bounds())];
    let range = match bounds(conn).await? {
        Some((min, max)) => {
            planned.push(Planned::Sent(probe(middle(i64::from(min), i64::from(max) + 1) as i32)));
            range_within(conn, min, max, window).await?
        }
        None => {
            let why = "the task table is empty";
            planned.push(Planned::NotSent { family: "report", name: "task_at_or_after", why });
            None
        }
    };
    match range {
        Some((first, last)) => {
            let after = first - 1;
            let params = vec![methods(), Param::Int(after), Param::BigInt(batch_limit(after, last))];
            planned.push(Planned::Sent(Statement::new("tasks", "created_after", params)));
        }
        None => {
            let why = "no task was created in the window or the 7 days before it";
            planned.push(Planned::NotSent { family: "tasks", name: "created_after", why });
        }
    }
    planned.push(Planned::Sent(Statement::new("tasks", "nonterminal", vec![methods()])));
    planned.push(Planned::Sent(Statement::new("tasks", "channel_names", vec![])));
    planned.push(Planned::Sent(Statement::new("tasks", "host_names", vec![])));
    Ok(planned)
}

/// Reads the tasks of the window (see the module documentation).
pub async fn read(
    conn: &mut PgConnection,
    window: &Window,
    progress: &ProgressBar,
) -> Result<TaskHistory, sqlx::Error> {
    progress.set_message("finding the task id range (primary-key probes)");
    let id_range = id_range(conn, window).await?;
    let mut rows: Vec<TaskRow> = Vec::new();
    if let Some((first, last)) = id_range {
        progress.set_length(u64::try_from(i64::from(last) - i64::from(first) + 1).unwrap_or(0));
        progress.set_message(format!("reading tasks {first}..{last}"));
        let mut after = first - 1;
        while after < last {
            let batch = tasks::created_after(conn, after, batch_limit(after, last)).await?;
            let Some(newest) = batch.last().map(|row| row.id) else { break };
            progress.set_position(u64::try_from(i64::from(newest) - i64::from(first) + 1).unwrap_or(0));
            rows.extend(batch.into_iter().filter(|row| row.id <= last && row.create_time < window.until));
            after = newest;
        }
    }
    progress.set_message("reading unfinished tasks (task_by_state)");
    let first = id_range.map_or(i32::MAX, |(first, _)| first);
    let older: Vec<TaskRow> = tasks::nonterminal(conn)
        .await?
        .into_iter()
        .filter(|row| row.id < first && row.create_time < window.until)
        .collect();
    rows.extend(older);
    rows.sort_by_key(|row| row.id);
    let (channel_names, host_names) = tasks::names(conn).await?;
    Ok(TaskHistory { rows, channel_names, host_names, id_range })
}

/// A stretch of time in which a task loaded its host with `weight`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadInterval {
    /// Index of the task in [`TaskHistory::rows`].
    pub task: usize,
    pub start: f64,
    pub end: f64,
    pub weight: f64,
}

/// When each task with subtasks waited: from its first subtask's creation to its last
/// subtask's completion (None: a subtask is unfinished, so it still waits).
fn waiting_spans(rows: &[TaskRow]) -> HashMap<i32, (f64, Option<f64>)> {
    let mut spans: HashMap<i32, (f64, Option<f64>)> = HashMap::new();
    for row in rows {
        let Some(parent) = row.parent else { continue };
        let done = row.completion_time.filter(|_| matches!(row.state, Some(CLOSED | CANCELED | FAILED)));
        spans
            .entry(parent)
            .and_modify(|(from, to)| {
                *from = from.min(row.create_time);
                *to = to.zip(done).map(|(a, b)| a.max(b));
            })
            .or_insert((row.create_time, done));
    }
    spans
}

/// The load intervals of every task, clipped to the window (see the module documentation).
pub fn load_intervals(rows: &[TaskRow], window: &Window) -> Vec<LoadInterval> {
    let spans = waiting_spans(rows);
    let mut intervals = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let Some(start) = row.start_time else { continue };
        let end = match row.state {
            Some(CLOSED | CANCELED | FAILED) => match row.completion_time {
                Some(end) => end,
                None => continue,
            },
            Some(OPEN) => window.until,
            _ => continue,
        };
        let mut pieces = Vec::with_capacity(2);
        match spans.get(&row.id) {
            Some((wait_from, wait_to)) => {
                pieces.push((start, end.min(*wait_from)));
                if let Some(wait_to) = wait_to {
                    pieces.push((start.max(*wait_to), end));
                }
            }
            None if row.state == Some(OPEN) && row.waiting == Some(true) => {}
            None => pieces.push((start, end)),
        }
        for (from, to) in pieces {
            let (from, to) = (from.max(window.since), to.min(window.until));
            if to > from {
                intervals.push(LoadInterval { task: index, start: from, end: to, weight: row.weight });
            }
        }
    }
    intervals
}

/// Total length of the union of intervals (overlaps counted once).
pub fn merged_length(mut intervals: Vec<(f64, f64)>) -> f64 {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (start, end) in intervals {
        match current {
            Some((from, to)) if start <= to => current = Some((from, to.max(end))),
            Some((from, to)) => {
                total += to - from;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    total + current.map_or(0.0, |(from, to)| to - from)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A task row for tests: times in seconds after 0.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn task(
        id: i32,
        state: i32,
        parent: Option<i32>,
        weight: f64,
        create: f64,
        start: Option<f64>,
        end: Option<f64>,
    ) -> TaskRow {
        TaskRow {
            id,
            state: Some(state),
            channel_id: 1,
            host_id: Some(1),
            parent,
            method: Some(crate::lossy::Lossy("buildArch".into())),
            arch: "x86_64".into(),
            waiting: None,
            weight,
            create_time: create,
            start_time: start,
            completion_time: end,
            request: None,
        }
    }

    #[test]
    fn intervals_are_clipped_and_running_tasks_reach_the_window_end() {
        let window = Window { since: 100.0, until: 200.0 };
        let rows = [
            task(1, CLOSED, None, 1.5, 0.0, Some(50.0), Some(150.0)),
            task(2, OPEN, None, 2.0, 120.0, Some(130.0), None),
            task(3, FAILED, None, 1.0, 0.0, Some(10.0), Some(90.0)),
            task(4, 0, None, 1.0, 0.0, Some(60.0), None),
            task(5, CANCELED, None, 1.0, 150.0, None, Some(160.0)),
        ];
        let got = load_intervals(&rows, &window);
        assert_eq!(
            got,
            [
                LoadInterval { task: 0, start: 100.0, end: 150.0, weight: 1.5 },
                LoadInterval { task: 1, start: 130.0, end: 200.0, weight: 2.0 },
            ]
        );
    }

    #[test]
    fn parents_add_no_load_while_their_subtasks_run() {
        let window = Window { since: 0.0, until: 1000.0 };
        let mut waiting_now = task(5, OPEN, None, 1.0, 0.0, Some(10.0), None);
        waiting_now.waiting = Some(true);
        let rows = [
            // Parent 1 runs 100..900; subtasks exist from 200 to 700: load 100..200 and 700..900.
            task(1, CLOSED, None, 0.5, 90.0, Some(100.0), Some(900.0)),
            task(2, CLOSED, Some(1), 2.0, 200.0, Some(250.0), Some(600.0)),
            task(3, FAILED, Some(1), 1.0, 210.0, Some(300.0), Some(700.0)),
            // Parent 4 still has an unfinished subtask: it waits from 500 to the end.
            task(4, OPEN, None, 0.2, 400.0, Some(400.0), None),
            task(6, OPEN, Some(4), 1.0, 500.0, Some(550.0), None),
            waiting_now,
        ];
        let got: Vec<(usize, f64, f64)> =
            load_intervals(&rows, &window).iter().map(|i| (i.task, i.start, i.end)).collect();
        assert_eq!(
            got,
            [
                (0, 100.0, 200.0),
                (0, 700.0, 900.0),
                (1, 250.0, 600.0),
                (2, 300.0, 700.0),
                (3, 400.0, 500.0),
                (4, 550.0, 1000.0)
            ]
        );
    }

    #[test]
    fn merged_length_counts_overlaps_once() {
        assert_eq!(merged_length(vec![(0.0, 10.0), (5.0, 15.0), (20.0, 30.0), (30.0, 35.0), (21.0, 22.0)]), 30.0);
        assert_eq!(merged_length(vec![]), 0.0);
    }
}
