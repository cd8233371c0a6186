//! Site-defined metrics, as their definitions name them, plus what the exporter noticed about
//! their rows (duplicate label sets, NULL values) so that odd results are visible, not silent.

use super::{Kind, MetricFamily, Sample};
use crate::collect::custom::CustomOutcome;
use crate::metrics;

pub fn families(outcomes: &[CustomOutcome]) -> Vec<MetricFamily> {
    let mut families = Vec::new();
    let mut duplicates = MetricFamily::new(&metrics::EXPORTER_CUSTOM_DUPLICATE_ROWS);
    let mut nulls = MetricFamily::new(&metrics::EXPORTER_CUSTOM_NULL_VALUES);
    for outcome in outcomes {
        let metric = &outcome.metric;
        let kind = if metric.counter { Kind::Counter } else { Kind::Gauge };
        let mut family = MetricFamily { kind, ..MetricFamily::gauge(metric.name, metric.help) };
        if let Some(result) = &outcome.result {
            for (values, value) in &result.samples {
                let labels = metric.labels.iter().copied().zip(values.iter().cloned()).collect();
                family.samples.push(Sample { labels, value: *value });
            }
            duplicates.with([("metric", metric.name)], result.duplicate_rows as f64);
            nulls.with([("metric", metric.name)], result.null_values as f64);
        }
        families.push(family);
    }
    if !outcomes.is_empty() {
        families.extend([duplicates, nulls]);
    }
    families
}
