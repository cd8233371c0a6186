//! `report capacity`: how much of each channel's builder capacity the tasks used over a window.
//!
//! Capacity is what the hosts offer now (enabled hosts' `host_config.capacity`; Koji keeps the
//! history in `host_config`, but a DBA sizing a channel asks about today's hosts). Used
//! capacity is the sum of the weights of the tasks running at each instant, computed exactly by
//! a sweep over the start and end events of the load intervals (`history::load_intervals`), not
//! by sampling. A task's weight counts in its own `channel_id`; a host in several channels adds
//! its capacity to each of them, as Koji's cluster health page and the exporter's
//! `koji_channel_capacity` do, so the channels' capacities do not add up to the cluster's.
//! With `--by arch` a row is (channel, task arch) and its capacity is that of the enabled hosts
//! in the channel that build the arch (all of them for `noarch`); with `--by host` a row is a
//! host with the tasks it held.

use std::collections::{BTreeMap, BTreeSet};

use super::By;
use super::history::{TaskHistory, load_intervals};
use super::render::{Section, Value, column};
use super::window::{Window, hour_start};
use crate::collect::hosts::HostsSnapshot;

/// What a sweep over a set of load intervals found.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sweep {
    /// Time-weighted mean of the load over the window.
    pub average: f64,
    pub peak: f64,
    /// When the peak was first reached (None when nothing ran).
    pub peak_at: Option<f64>,
    /// Seconds during which the load was at or over the capacity (0 when there is none).
    pub at_or_over: f64,
}

/// Loads differ from a capacity or a peak by less than this only through rounding.
const EPSILON: f64 = 1e-9;

/// The exact load profile of `(start, end, weight)` intervals inside the window: between two
/// consecutive events the load is constant, so each stretch adds `load × length`.
pub fn sweep(intervals: &[(f64, f64, f64)], capacity: f64, window: &Window) -> Sweep {
    let mut events: Vec<(f64, f64)> = Vec::with_capacity(intervals.len() * 2);
    for &(start, end, weight) in intervals {
        events.push((start, weight));
        events.push((end, -weight));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut result = Sweep::default();
    let mut integral = 0.0;
    let mut stretch = |from: f64, to: f64, load: f64, result: &mut Sweep| {
        if to <= from {
            return;
        }
        integral += load * (to - from);
        if load > result.peak + EPSILON {
            result.peak = load;
            result.peak_at = Some(from);
        }
        if capacity > 0.0 && load >= capacity - EPSILON {
            result.at_or_over += to - from;
        }
    };
    let mut load = 0.0;
    let mut at = window.since;
    let mut index = 0;
    while index < events.len() {
        let time = events[index].0;
        stretch(at, time, load, &mut result);
        while index < events.len() && events[index].0 == time {
            load += events[index].1;
            index += 1;
        }
        at = at.max(time);
    }
    stretch(at, window.until, load, &mut result);
    result.average = integral / window.seconds();
    result
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityRow {
    /// Channel; channel and arch; or host (see [`By`]).
    pub key: Vec<String>,
    /// Enabled hosts now.
    pub hosts: u64,
    /// Their capacity now.
    pub capacity: f64,
    /// Tasks that loaded the row's hosts during the window.
    pub tasks: u64,
    pub load: Sweep,
    /// Average load / capacity, percent; None without capacity.
    pub utilisation: Option<f64>,
}

/// The load intervals `(start, end, weight)` of one row and the tasks they came from.
type Used = (Vec<(f64, f64, f64)>, BTreeSet<usize>);

/// Computes the rows from the hosts now and the tasks of the window.
pub fn compute(by: By, hosts: &HostsSnapshot, history: &TaskHistory, window: &Window) -> Vec<CapacityRow> {
    // Capacity and enabled hosts per key.
    let mut offer: BTreeMap<Vec<String>, (u64, f64)> = BTreeMap::new();
    match by {
        By::Host => {
            for host in &hosts.hosts {
                let capacity = if host.enabled { host.capacity.unwrap_or(0.0) } else { 0.0 };
                offer.insert(vec![host.name.clone()], (u64::from(host.enabled), capacity));
            }
        }
        By::Arch => {
            for host in hosts.hosts.iter().filter(|host| host.enabled) {
                let arches: BTreeSet<&str> = host.arches.iter().map(String::as_str).chain(["noarch"]).collect();
                for channel in &host.channels {
                    for arch in &arches {
                        let entry = offer.entry(vec![channel.clone(), (*arch).to_owned()]).or_default();
                        entry.0 += 1;
                        entry.1 += host.capacity.unwrap_or(0.0);
                    }
                }
            }
        }
        By::Channel | By::Method => {
            for channel in &hosts.channels {
                offer.insert(vec![channel.name.clone()], (channel.enabled_hosts, channel.enabled_capacity));
            }
        }
    }

    let mut used: BTreeMap<Vec<String>, Used> = BTreeMap::new();
    for interval in load_intervals(&history.rows, window) {
        let row = &history.rows[interval.task];
        let key = match by {
            By::Host => vec![history.host(row.host_id)],
            By::Arch => vec![history.channel(row.channel_id), row.arch.clone()],
            By::Channel | By::Method => vec![history.channel(row.channel_id)],
        };
        let entry = used.entry(key).or_default();
        entry.0.push((interval.start, interval.end, interval.weight));
        entry.1.insert(interval.task);
    }

    let keys: BTreeSet<Vec<String>> = offer.keys().chain(used.keys()).cloned().collect();
    keys.into_iter()
        .map(|key| {
            let (hosts, capacity) = offer.get(&key).copied().unwrap_or_default();
            let (intervals, tasks) = used.remove(&key).unwrap_or_default();
            let load = sweep(&intervals, capacity, window);
            let utilisation = (capacity > 0.0).then(|| load.average / capacity * 100.0);
            CapacityRow { key, hosts, capacity, tasks: tasks.len() as u64, load, utilisation }
        })
        .collect()
}

pub fn section(by: By, rows: &[CapacityRow]) -> Section {
    let mut columns = match by {
        By::Host => vec![column("host", "host")],
        By::Arch => vec![column("channel", "channel"), column("arch", "arch")],
        By::Channel | By::Method => vec![column("channel", "channel")],
    };
    // Per host a count of enabled hosts is only ever 0 or 1: say whether the host is enabled.
    columns.push(match by {
        By::Host => column("enabled", "enabled"),
        _ => column("enabled_hosts", "hosts"),
    });
    columns.extend([
        column("capacity", "capacity"),
        column("tasks", "tasks"),
        column("average_load", "avg load"),
        column("peak_load", "peak load"),
        column("utilisation_percent", "utilisation"),
        column("at_or_over_capacity_seconds", "at/over capacity"),
        column("peak_hour", "peak hour (UTC)"),
    ]);
    let rows = rows
        .iter()
        .map(|row| {
            let mut cells: Vec<Value> = row.key.iter().cloned().map(Value::Text).collect();
            cells.extend([
                match by {
                    By::Host => Value::Text(if row.hosts > 0 { "yes" } else { "no" }.to_owned()),
                    _ => Value::Int(row.hosts as i64),
                },
                Value::Number(row.capacity),
                Value::Int(row.tasks as i64),
                Value::Number(row.load.average),
                Value::Number(row.load.peak),
                row.utilisation.map_or(Value::Empty, Value::Percent),
                if row.capacity > 0.0 { Value::Seconds(row.load.at_or_over) } else { Value::Empty },
                row.load.peak_at.map_or(Value::Empty, |at| Value::Time(hour_start(at))),
            ]);
            cells
        })
        .collect();
    let title = match by {
        By::Host => "Capacity by host",
        By::Arch => "Capacity by channel and arch",
        By::Channel | By::Method => "Capacity by channel",
    };
    Section {
        name: "capacity",
        timeless: false,
        title: title.to_owned(),
        columns,
        rows,
        notes: vec![
            match by {
                By::Host => "enabled and capacity: the host's configuration now".to_owned(),
                _ => "hosts and capacity: enabled hosts now; a host in several channels counts in each".to_owned(),
            },
            "load: task weights from start to completion, by the task's channel; parents add none while their subtasks run"
                .to_owned(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_finds_average_peak_and_time_over_capacity() {
        let window = Window { since: 0.0, until: 100.0 };
        // 0-100: weight 1; 20-60: weight 2; 40-80: weight 1.5; a task ending where another starts.
        let intervals = [(0.0, 100.0, 1.0), (20.0, 60.0, 2.0), (40.0, 80.0, 1.5), (80.0, 90.0, 1.5)];
        let result = sweep(&intervals, 3.0, &window);
        // Integral: 100 + 80 + 60 + 15 = 255 over 100 s.
        assert_eq!(result.average, 2.55);
        // 40-60 runs 1 + 2 + 1.5 = 4.5; load ≥ 3 during 20-60 only (80-90 is 2.5).
        assert_eq!((result.peak, result.peak_at, result.at_or_over), (4.5, Some(40.0), 40.0));
    }

    #[test]
    fn sweep_of_nothing_is_zero() {
        let result = sweep(&[], 4.0, &Window { since: 0.0, until: 10.0 });
        assert_eq!(result, Sweep::default());
        let no_capacity = sweep(&[(0.0, 10.0, 1.0)], 0.0, &Window { since: 0.0, until: 10.0 });
        assert_eq!((no_capacity.average, no_capacity.at_or_over), (1.0, 0.0));
    }
}
