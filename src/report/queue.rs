//! `report queue`: how long tasks waited for a builder and how long they ran, and how they ended.
//!
//! Wait is `start_time - create_time` of the tasks that started in the window (OPEN or
//! finished; a FREE task's stale `start_time` is not a start); for a task opened more than once
//! it runs to the last opening. Run is `completion_time - start_time` of the tasks that finished
//! in the window after starting. Final states count the tasks that finished in the window.
//! The longest waits also list tasks still FREE or ASSIGNED, waiting until the window's end.
//! Percentiles are nearest-rank: the p-th percentile of n sorted values is the value at rank
//! ⌈p·n/100⌉, always a real observation.

use std::collections::BTreeMap;

use super::By;
use super::history::TaskHistory;
use super::render::{Section, Value, column};
use super::window::Window;
use crate::collect::tasks::TaskRow;
use crate::koji::task::{ASSIGNED, CANCELED, CLOSED, FAILED, FREE, OPEN};

/// p50, p90, p99 and max of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Nearest-rank percentiles; None for no values.
pub fn percentiles(mut values: Vec<f64>) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| values[((p * values.len() as f64 / 100.0).ceil() as usize).clamp(1, values.len()) - 1];
    Some(Percentiles { p50: rank(50.0), p90: rank(90.0), p99: rank(99.0), max: values[values.len() - 1] })
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimesRow {
    pub key: Vec<String>,
    pub started: u64,
    pub wait: Option<Percentiles>,
    pub finished: u64,
    pub run: Option<Percentiles>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatesRow {
    pub key: Vec<String>,
    pub closed: u64,
    pub failed: u64,
    pub canceled: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LongWait {
    pub task_id: i32,
    pub method: String,
    pub channel: String,
    pub arch: String,
    pub created: f64,
    /// None: still waiting at the window's end.
    pub started: Option<f64>,
    pub wait: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueReport {
    pub times: Vec<TimesRow>,
    pub states: Vec<StatesRow>,
    pub longest_waits: Vec<LongWait>,
    /// Candidates for the longest waits beyond the `top` shown.
    pub more_waits: usize,
}

fn key(by: By, history: &TaskHistory, row: &TaskRow) -> Vec<String> {
    let channel = history.channel(row.channel_id);
    match by {
        By::Channel => vec![channel],
        By::Method => vec![channel, row.method.clone().map(String::from).unwrap_or_default()],
        By::Arch => vec![channel, row.arch.clone()],
        By::Host => vec![history.host(row.host_id)],
    }
}

pub fn compute(by: By, history: &TaskHistory, window: &Window, top: usize) -> QueueReport {
    let inside = |at: f64| at >= window.since && at < window.until;
    let mut waits: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
    let mut runs: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
    let mut states: BTreeMap<Vec<String>, [u64; 3]> = BTreeMap::new();
    let mut long: Vec<LongWait> = Vec::new();
    for row in &history.rows {
        let started = row.start_time.filter(|_| matches!(row.state, Some(OPEN | CLOSED | FAILED | CANCELED)));
        let terminal = matches!(row.state, Some(CLOSED | FAILED | CANCELED));
        let finished_at = row.completion_time.filter(|at| terminal && inside(*at));
        let waiting_now = matches!(row.state, Some(FREE | ASSIGNED));
        let key = key(by, history, row);
        let mut wait = None;
        if let Some(start) = started.filter(|at| inside(*at)) {
            let value = (start - row.create_time).max(0.0);
            waits.entry(key.clone()).or_default().push(value);
            wait = Some((Some(start), value));
        } else if waiting_now {
            wait = Some((None, (window.until - row.create_time).max(0.0)));
        }
        if let Some((started, value)) = wait {
            long.push(LongWait {
                task_id: row.id,
                method: row.method.clone().map(String::from).unwrap_or_default(),
                channel: history.channel(row.channel_id),
                arch: row.arch.clone(),
                created: row.create_time,
                started,
                wait: value,
            });
        }
        if let Some(end) = finished_at {
            let counts = states.entry(key.clone()).or_default();
            match row.state {
                Some(CLOSED) => counts[0] += 1,
                Some(FAILED) => counts[1] += 1,
                _ => counts[2] += 1,
            }
            if let Some(start) = row.start_time {
                runs.entry(key).or_default().push((end - start).max(0.0));
            }
        }
    }
    let keys: std::collections::BTreeSet<Vec<String>> = waits.keys().chain(runs.keys()).cloned().collect();
    let times = keys
        .into_iter()
        .map(|key| {
            let wait = waits.remove(&key).unwrap_or_default();
            let run = runs.remove(&key).unwrap_or_default();
            TimesRow {
                started: wait.len() as u64,
                finished: run.len() as u64,
                wait: percentiles(wait),
                run: percentiles(run),
                key,
            }
        })
        .collect();
    let states = states
        .into_iter()
        .map(|(key, [closed, failed, canceled])| StatesRow { key, closed, failed, canceled })
        .collect();
    long.sort_by(|a, b| b.wait.total_cmp(&a.wait).then(a.task_id.cmp(&b.task_id)));
    let more_waits = long.len().saturating_sub(top);
    long.truncate(top);
    QueueReport { times, states, longest_waits: long, more_waits }
}

fn key_columns(by: By) -> Vec<super::render::Column> {
    match by {
        By::Channel => vec![column("channel", "channel")],
        By::Method => vec![column("channel", "channel"), column("method", "method")],
        By::Arch => vec![column("channel", "channel"), column("arch", "arch")],
        By::Host => vec![column("host", "host")],
    }
}

fn seconds_or_empty(value: Option<f64>) -> Value {
    value.map_or(Value::Empty, Value::Seconds)
}

pub fn sections(by: By, report: &QueueReport) -> Vec<Section> {
    let mut time_columns = key_columns(by);
    time_columns.extend([
        column("started", "started"),
        column("wait_p50_seconds", "wait p50"),
        column("wait_p90_seconds", "wait p90"),
        column("wait_p99_seconds", "wait p99"),
        column("wait_max_seconds", "wait max"),
        column("finished", "finished"),
        column("run_p50_seconds", "run p50"),
        column("run_p90_seconds", "run p90"),
        column("run_p99_seconds", "run p99"),
        column("run_max_seconds", "run max"),
    ]);
    let times = report
        .times
        .iter()
        .map(|row| {
            let mut cells: Vec<Value> = row.key.iter().cloned().map(Value::Text).collect();
            cells.push(Value::Int(row.started as i64));
            for value in
                [row.wait.map(|p| p.p50), row.wait.map(|p| p.p90), row.wait.map(|p| p.p99), row.wait.map(|p| p.max)]
            {
                cells.push(seconds_or_empty(value));
            }
            cells.push(Value::Int(row.finished as i64));
            for value in
                [row.run.map(|p| p.p50), row.run.map(|p| p.p90), row.run.map(|p| p.p99), row.run.map(|p| p.max)]
            {
                cells.push(seconds_or_empty(value));
            }
            cells
        })
        .collect();
    let mut state_columns = key_columns(by);
    state_columns.extend([
        column("finished", "finished"),
        column("closed", "closed"),
        column("failed", "failed"),
        column("canceled", "canceled"),
        column("failed_percent", "failed %"),
    ]);
    let states = report
        .states
        .iter()
        .map(|row| {
            let total = row.closed + row.failed + row.canceled;
            let mut cells: Vec<Value> = row.key.iter().cloned().map(Value::Text).collect();
            cells.extend([
                Value::Int(total as i64),
                Value::Int(row.closed as i64),
                Value::Int(row.failed as i64),
                Value::Int(row.canceled as i64),
                Value::Percent(row.failed as f64 / total as f64 * 100.0),
            ]);
            cells
        })
        .collect();
    let waits = report
        .longest_waits
        .iter()
        .map(|wait| {
            vec![
                Value::Int(i64::from(wait.task_id)),
                Value::Text(wait.method.clone()),
                Value::Text(wait.channel.clone()),
                Value::Text(wait.arch.clone()),
                Value::Time(wait.created),
                wait.started.map_or(Value::Absent("still waiting"), Value::Time),
                Value::Seconds(wait.wait),
            ]
        })
        .collect();
    let mut wait_notes = vec![
        "tasks that started in the window, and tasks still FREE or ASSIGNED (waiting until the window's end; no start time)"
            .to_owned(),
    ];
    if report.more_waits > 0 {
        wait_notes.push(format!("{} more not shown (--top)", super::render::thousands(report.more_waits as i64)));
    }
    vec![
        Section {
            name: "times",
            timeless: false,
            title: "Wait (created to started) and run (started to finished) times".to_owned(),
            columns: time_columns,
            rows: times,
            notes: vec![
                "wait: tasks that started in the window; run: tasks that finished in it; nearest-rank percentiles"
                    .to_owned(),
            ],
        },
        Section {
            name: "states",
            timeless: false,
            title: "Tasks finished in the window, by final state".to_owned(),
            columns: state_columns,
            rows: states,
            notes: vec![],
        },
        Section {
            name: "longest_waits",
            timeless: false,
            title: "Longest waits".to_owned(),
            columns: vec![
                column("task_id", "task"),
                column("method", "method"),
                column("channel", "channel"),
                column("arch", "arch"),
                column("created", "created (UTC)"),
                column("started", "started (UTC)"),
                column("wait_seconds", "wait"),
            ],
            rows: waits,
            notes: wait_notes,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        // n = 10: p50 rank 5, p90 rank 9, p99 rank ⌈9.9⌉ = 10.
        assert_eq!(percentiles(values), Some(Percentiles { p50: 5.0, p90: 9.0, p99: 10.0, max: 10.0 }));
        assert_eq!(percentiles(vec![7.0]), Some(Percentiles { p50: 7.0, p90: 7.0, p99: 7.0, max: 7.0 }));
        // n = 3, unsorted: p50 rank 2 → 5.
        assert_eq!(percentiles(vec![9.0, 1.0, 5.0]).map(|p| p.p50), Some(5.0));
        assert_eq!(percentiles(vec![]), None);
    }
}
