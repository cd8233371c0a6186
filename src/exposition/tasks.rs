//! Metric names and meanings of the tasks family.
//!
//! The paper's names are kept (`koji_waiting_tasks`, `koji_tasks_total`, ...). The counters
//! count over the database's whole history, so they are the same after a restart and on every
//! replica; on the operational answer they carry channel and method, and their per-tag view
//! (`koji_tag_tasks_total`, ...) is the inventory's ([`tag_families`]), because channel ×
//! method × tag is what multiplied them. The queue gauges keep the tag: they are bounded by
//! the non-terminal tasks. Series are built from the non-terminal tasks and the engine's totals
//! of this scrape only.

use crate::metrics;
use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use super::{HistogramSample, MetricFamily};
use crate::collect::tasks::TasksSnapshot;
use crate::collect::tasks::aggregate::Counts;
use crate::koji::task::{ASSIGNED, FREE, OPEN, state_name};

pub fn families(data: &TasksSnapshot) -> Vec<MetricFamily> {
    let channel = |id: i32| data.channel_names.get(&id).cloned().unwrap_or_else(|| format!("channel_{id}"));
    let mut families = queue_families(data, &channel);

    let mut ready = MetricFamily::new(&metrics::EXPORTER_TASK_HISTORY_READY);
    ready.with([], if data.totals.is_some() { 1.0 } else { 0.0 });
    families.push(ready);
    let Some(totals) = &data.totals else { return families };

    let mut created = MetricFamily::new(&metrics::TASKS);
    let mut completions = MetricFamily::new(&metrics::TASK_COMPLETIONS);
    let mut succeeded = MetricFamily::new(&metrics::TASK_SUCCEED);
    let mut failed = MetricFamily::new(&metrics::TASK_ERRORS);
    let mut canceled = MetricFamily::new(&metrics::TASK_CANCELLATIONS);
    for ((channel_id, method), counts) in &totals.by_method {
        let channel_name = channel(*channel_id);
        let labels = [("channel", channel_name.as_str()), ("method", method.as_str())];
        created.with(labels, counts.created as f64);
        completions.with(labels, (counts.closed + counts.failed + counts.canceled) as f64);
        succeeded.with(labels, counts.closed as f64);
        failed.with(labels, counts.failed as f64);
        canceled.with(labels, counts.canceled as f64);
    }

    let mut wait = MetricFamily::new(&metrics::TASK_WAIT_SECONDS);
    for ((channel_id, method), histogram) in &totals.wait {
        wait.histograms.push(HistogramSample {
            labels: vec![("channel", channel(*channel_id)), ("method", method.clone())],
            bounds: histogram.bounds,
            counts: histogram.counts.clone(),
            sum: histogram.sum,
        });
    }
    let mut run = MetricFamily::new(&metrics::TASK_RUN_SECONDS);
    for ((channel_id, method, state), histogram) in &totals.run {
        run.histograms.push(HistogramSample {
            labels: vec![("channel", channel(*channel_id)), ("method", method.clone()), ("state", state_name(*state))],
            bounds: histogram.bounds,
            counts: histogram.counts.clone(),
            sum: histogram.sum,
        });
    }
    let mut by_host = MetricFamily::new(&metrics::HOST_FINISHED_TASKS);
    for ((host_id, state), count) in &totals.host_finished {
        let host = data.host_names.get(host_id).cloned().unwrap_or_else(|| format!("host_{host_id}"));
        by_host.with([("host", host.as_str()), ("state", state_name(*state).as_str())], *count as f64);
    }

    let mut tracked = MetricFamily::new(&metrics::EXPORTER_TASKS_TRACKED);
    tracked.with([], data.tracked as f64);
    let mut gaps = MetricFamily::new(&metrics::EXPORTER_TASK_ID_GAPS);
    gaps.with([], data.gaps as f64);
    let mut built = MetricFamily::new(&metrics::EXPORTER_TASK_HISTORY_BUILT_TIMESTAMP_SECONDS);
    if let Some(time) = data.built_at.and_then(|time| time.duration_since(UNIX_EPOCH).ok()) {
        built.with([], time.as_secs_f64());
    }
    families.extend([created, completions, succeeded, failed, canceled, wait, run, by_host, tracked, gaps, built]);
    families
}

/// The inventory's per-tag task counts: at most three series per tag that tasks name.
pub fn tag_families(by_tag: &[(String, Counts)]) -> Vec<MetricFamily> {
    let mut created = MetricFamily::new(&metrics::TAG_TASKS);
    let mut succeeded = MetricFamily::new(&metrics::TAG_TASK_SUCCEED);
    let mut failed = MetricFamily::new(&metrics::TAG_TASK_ERRORS);
    for (tag, counts) in by_tag.iter().filter(|(_, counts)| *counts != Counts::default()) {
        let label = [("tag", tag.as_str())];
        created.with(label, counts.created as f64);
        succeeded.with(label, counts.closed as f64);
        failed.with(label, counts.failed as f64);
    }
    vec![created, succeeded, failed]
}

fn queue_families(data: &TasksSnapshot, channel: &impl Fn(i32) -> String) -> Vec<MetricFamily> {
    let mut waiting: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut in_progress: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut by_state: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut oldest: BTreeMap<(String, String), f64> = BTreeMap::new();
    for task in &data.queue {
        let series = (channel(task.key.channel_id), task.key.method.clone(), task.key.tag.clone());
        let state = match (task.state, task.waiting) {
            (FREE | ASSIGNED, _) => {
                *waiting.entry(series.clone()).or_default() += 1;
                let first = oldest.entry((series.0.clone(), task.arch.clone())).or_insert(task.create_time);
                *first = first.min(task.create_time);
                state_name(task.state)
            }
            (OPEN, true) => {
                *in_progress.entry(series.clone()).or_default() += 1;
                "waiting".to_owned()
            }
            (OPEN, false) => {
                *in_progress.entry(series.clone()).or_default() += 1;
                "open".to_owned()
            }
            (other, _) => state_name(other),
        };
        *by_state.entry((series.0, series.1, state)).or_default() += 1;
    }

    let mut waiting_family = MetricFamily::new(&metrics::WAITING_TASKS);
    for ((channel, method, tag), count) in &waiting {
        waiting_family.with([("channel", channel), ("method", method), ("tag", tag)], *count as f64);
    }
    let mut progress_family = MetricFamily::new(&metrics::IN_PROGRESS_TASKS);
    for ((channel, method, tag), count) in &in_progress {
        progress_family.with([("channel", channel), ("method", method), ("tag", tag)], *count as f64);
    }
    let mut state_family = MetricFamily::new(&metrics::TASKS_UNFINISHED);
    for ((channel, method, state), count) in &by_state {
        state_family.with([("channel", channel), ("method", method), ("state", state)], *count as f64);
    }
    let mut oldest_family = MetricFamily::new(&metrics::TASK_OLDEST_WAITING_CREATED_TIMESTAMP_SECONDS);
    for ((channel, arch), time) in &oldest {
        oldest_family.with([("channel", channel), ("arch", arch)], *time);
    }
    vec![waiting_family, progress_family, state_family, oldest_family]
}
