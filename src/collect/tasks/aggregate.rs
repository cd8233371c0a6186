//! Totals over the task history: what one task adds to the counters and histograms.
//!
//! Everything here is a function of task rows as they are now in the database, so a full
//! recount and the incremental engine must arrive at identical values; the integration tests
//! compare the two. A task adds to `created` as soon as it exists, and to its final state's
//! counters and the histograms once it is terminal (CLOSED, CANCELED or FAILED).

use std::collections::BTreeMap;

use crate::koji::task::{CANCELED, CLOSED, FAILED};

/// Upper bounds of the wait-time buckets (created to started), seconds.
pub const WAIT_BUCKETS: [f64; 13] =
    [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0];
/// Upper bounds of the run-time buckets (started to finished), seconds.
pub const RUN_BUCKETS: [f64; 12] =
    [10.0, 30.0, 60.0, 180.0, 480.0, 1200.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 259200.0];

/// What a task is counted under: channel id, method, tag ("" when the task names none). The
/// queue gauges use all three; the counters add it up by (channel, method) and by tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskKey {
    pub channel_id: i32,
    pub method: String,
    pub tag: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub closed: u64,
    pub canceled: u64,
    pub failed: u64,
}

/// A classic histogram: per-bucket (not cumulative) counts, the last one for +Inf.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0 }
    }

    pub fn observe(&mut self, value: f64, times: i64) {
        let index = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        self.counts[index] = self.counts[index].saturating_add_signed(times);
        self.sum += value * times as f64;
    }

    /// Adds the observations of another histogram with the same bounds (a group of tasks the
    /// server added up, in a full pass).
    pub fn merge(&mut self, other: &Histogram) {
        for (count, more) in self.counts.iter_mut().zip(&other.counts) {
            *count = count.saturating_add(*more);
        }
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// What a terminal task contributes beyond `created`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub state: i32,
    pub host_id: Option<i32>,
    /// Seconds from creation to start, when the task started.
    pub wait: Option<f64>,
    /// Seconds from start to completion, when the task started.
    pub run: Option<f64>,
}

/// All totals, keyed for exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregates {
    /// By (channel id, method): the operational counters.
    pub by_method: BTreeMap<(i32, String), Counts>,
    /// By tag ("" for tasks that name none): the inventory's per-tag counters, bounded by the
    /// live tags. Left out of [`Aggregates::operational`], so that a scrape does not copy it.
    pub by_tag: BTreeMap<String, Counts>,
    /// By (channel id, method).
    pub wait: BTreeMap<(i32, String), Histogram>,
    /// By (channel id, method, final state).
    pub run: BTreeMap<(i32, String, i32), Histogram>,
    /// Terminal tasks by (host id, final state).
    pub host_finished: BTreeMap<(i32, i32), u64>,
}

impl Aggregates {
    /// Everything but the per-tag counts: what the operational answer needs, cheap to copy.
    pub fn operational(&self) -> Aggregates {
        Aggregates {
            by_method: self.by_method.clone(),
            by_tag: BTreeMap::new(),
            wait: self.wait.clone(),
            run: self.run.clone(),
            host_finished: self.host_finished.clone(),
        }
    }

    /// Adds counts of tasks with one key, to both views.
    pub fn add_counts(&mut self, key: &TaskKey, counts: Counts) {
        for slot in [
            self.by_method.entry((key.channel_id, key.method.clone())).or_default(),
            self.by_tag.entry(key.tag.clone()).or_default(),
        ] {
            slot.created += counts.created;
            slot.closed += counts.closed;
            slot.canceled += counts.canceled;
            slot.failed += counts.failed;
        }
    }

    /// The counts of a key in both views, for an update.
    fn counts_of(&mut self, key: &TaskKey) -> [&mut Counts; 2] {
        [
            self.by_method.entry((key.channel_id, key.method.clone())).or_default(),
            self.by_tag.entry(key.tag.clone()).or_default(),
        ]
    }

    /// Adds (`sign` = 1) or removes (-1) a task's existence.
    pub fn created(&mut self, key: &TaskKey, sign: i64) {
        for counts in self.counts_of(key) {
            counts.created = counts.created.saturating_add_signed(sign);
        }
    }

    /// Adds (`sign` = 1) or removes (-1) a terminal task's contribution.
    pub fn finished(&mut self, key: &TaskKey, finished: &Finished, sign: i64) {
        if ![CLOSED, CANCELED, FAILED].contains(&finished.state) {
            return;
        }
        for counts in self.counts_of(key) {
            let slot = match finished.state {
                CLOSED => &mut counts.closed,
                CANCELED => &mut counts.canceled,
                _ => &mut counts.failed,
            };
            *slot = slot.saturating_add_signed(sign);
        }
        let method_key = (key.channel_id, key.method.clone());
        if let Some(wait) = finished.wait {
            self.wait.entry(method_key.clone()).or_insert_with(|| Histogram::new(&WAIT_BUCKETS)).observe(wait, sign);
        }
        if let Some(run) = finished.run {
            let run_key = (method_key.0, method_key.1, finished.state);
            self.run.entry(run_key).or_insert_with(|| Histogram::new(&RUN_BUCKETS)).observe(run, sign);
        }
        if let Some(host_id) = finished.host_id {
            let count = self.host_finished.entry((host_id, finished.state)).or_default();
            *count = count.saturating_add_signed(sign);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_and_removing_a_task_leaves_nothing_behind() {
        let key = TaskKey { channel_id: 1, method: "build".into(), tag: "f40".into() };
        let finished = Finished { state: FAILED, host_id: Some(3), wait: Some(4.0), run: Some(100.0) };
        let mut aggregates = Aggregates::default();
        aggregates.created(&key, 1);
        aggregates.finished(&key, &finished, 1);
        assert_eq!(
            aggregates.by_method[&(1, "build".into())],
            Counts { created: 1, closed: 0, canceled: 0, failed: 1 }
        );
        assert_eq!(aggregates.by_tag["f40"], Counts { created: 1, closed: 0, canceled: 0, failed: 1 });
        assert!(aggregates.operational().by_tag.is_empty(), "the operational copy leaves the tags out");
        assert_eq!(aggregates.wait[&(1, "build".into())].counts[1], 1, "4 s falls in the 5 s bucket");
        assert_eq!(aggregates.run[&(1, "build".into(), FAILED)].count(), 1);
        assert_eq!(aggregates.host_finished[&(3, FAILED)], 1);
        aggregates.finished(&key, &finished, -1);
        aggregates.created(&key, -1);
        assert_eq!(aggregates.by_method[&(1, "build".into())], Counts::default());
        assert_eq!(aggregates.by_tag["f40"], Counts::default());
        assert_eq!(aggregates.wait[&(1, "build".into())].count(), 0);
        assert_eq!(aggregates.wait[&(1, "build".into())].sum, 0.0);
    }

    #[test]
    fn values_on_a_bound_fall_in_that_bucket_and_large_ones_in_inf() {
        let mut histogram = Histogram::new(&WAIT_BUCKETS);
        histogram.observe(1.0, 1);
        histogram.observe(1e9, 1);
        assert_eq!(histogram.counts[0], 1);
        assert_eq!(histogram.counts[WAIT_BUCKETS.len()], 1);
    }
}
