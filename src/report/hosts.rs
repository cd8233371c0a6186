//! `report hosts`: what each builder did in the window and how it stands now — the Reports
//! page's "tasks by host" and "cluster health", with the numbers those pages lack.
//!
//! Finished tasks are the tasks the host held (`task.host_id`, kept after completion) that
//! reached CLOSED, FAILED or CANCELED in the window. The failure rate is FAILED / (CLOSED +
//! FAILED): a cancel is someone's decision, not the builder's failure. The busy share is the
//! time during which at least one of the host's tasks loaded it (the union of its load
//! intervals, so overlapping tasks count once and parents waiting on subtasks not at all),
//! divided by the window's length. State and last check-in come from the hosts family's own
//! fetch, so they match `/metrics`.

use std::collections::BTreeMap;

use super::history::{TaskHistory, load_intervals, merged_length};
use super::render::{Section, Value, column};
use super::window::Window;
use crate::collect::hosts::HostsSnapshot;
use crate::koji::task::{CANCELED, CLOSED, FAILED};

#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub name: String,
    pub enabled: bool,
    pub ready: bool,
    pub busy: bool,
    pub last_update: Option<f64>,
    pub closed: u64,
    pub failed: u64,
    pub canceled: u64,
    /// Percent; None when nothing closed or failed.
    pub failure_rate: Option<f64>,
    pub busy_seconds: f64,
    /// Percent of the window.
    pub busy_share: f64,
}

pub fn compute(hosts: &HostsSnapshot, history: &TaskHistory, window: &Window, default_max_jobs: u64) -> Vec<HostRow> {
    let mut finished: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for row in &history.rows {
        let Some(host_id) = row.host_id else { continue };
        let Some(end) = row.completion_time else { continue };
        if end < window.since || end >= window.until {
            continue;
        }
        let slot = match row.state {
            Some(CLOSED) => 0,
            Some(FAILED) => 1,
            Some(CANCELED) => 2,
            _ => continue,
        };
        finished.entry(history.host(Some(host_id))).or_default()[slot] += 1;
    }
    let mut intervals: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for interval in load_intervals(&history.rows, window) {
        let row = &history.rows[interval.task];
        if row.host_id.is_some() {
            intervals.entry(history.host(row.host_id)).or_default().push((interval.start, interval.end));
        }
    }
    hosts
        .hosts
        .iter()
        .map(|host| {
            let [closed, failed, canceled] = finished.get(&host.name).copied().unwrap_or_default();
            let busy_seconds = merged_length(intervals.remove(&host.name).unwrap_or_default());
            HostRow {
                name: host.name.clone(),
                enabled: host.enabled,
                ready: host.ready,
                busy: host.is_busy(default_max_jobs),
                last_update: host.last_update,
                closed,
                failed,
                canceled,
                failure_rate: (closed + failed > 0).then(|| failed as f64 / (closed + failed) as f64 * 100.0),
                busy_seconds,
                busy_share: busy_seconds / window.seconds() * 100.0,
            }
        })
        .collect()
}

fn yes_no(value: bool) -> Value {
    Value::Text(if value { "yes" } else { "no" }.to_owned())
}

pub fn section(rows: &[HostRow]) -> Section {
    let cells = rows
        .iter()
        .map(|row| {
            vec![
                Value::Text(row.name.clone()),
                yes_no(row.enabled),
                yes_no(row.ready),
                yes_no(row.busy),
                row.last_update.map_or(Value::Empty, Value::Time),
                Value::Int((row.closed + row.failed + row.canceled) as i64),
                Value::Int(row.closed as i64),
                Value::Int(row.failed as i64),
                Value::Int(row.canceled as i64),
                row.failure_rate.map_or(Value::Empty, Value::Percent),
                Value::Seconds(row.busy_seconds),
                Value::Percent(row.busy_share),
            ]
        })
        .collect();
    Section {
        name: "hosts",
        timeless: false,
        title: "Hosts: tasks finished in the window, busy time, state now".to_owned(),
        columns: vec![
            column("host", "host"),
            column("enabled", "enabled"),
            column("ready", "ready"),
            column("busy", "busy"),
            column("last_update", "last check-in (UTC)"),
            column("finished", "finished"),
            column("closed", "closed"),
            column("failed", "failed"),
            column("canceled", "canceled"),
            column("failure_rate_percent", "failure rate"),
            column("busy_seconds", "busy time"),
            column("busy_percent", "busy share"),
        ],
        rows: cells,
        notes: vec![
            "failure rate: failed / (closed + failed); busy: kojid's rule now (load > capacity or job limit reached)"
                .to_owned(),
        ],
    }
}
