//! Turns a [`Snapshot`] into Prometheus exposition text. Synchronous and pure: no I/O, no SQL.
//!
//! Each family module maps snapshot data to [`MetricFamily`] values (name, help, type, samples);
//! [`render`] encodes them with prometheus-client into a registry built fresh for this scrape,
//! so a host or channel that disappears from Koji disappears from the output. Both the
//! OpenMetrics 1.0.0 and the classic 0.0.4 text formats come from the same families.

mod catalog;
mod custom;
mod hosts;
mod self_metrics;
mod tasks;

use std::collections::{HashMap, HashSet};
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::collect::Snapshot;
use crate::collect::tasks::aggregate::Counts;
use crate::metrics::Description;
pub use crate::metrics::Kind;

/// Content type of the OpenMetrics text format, served when the scraper asks for it.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
        }
    }
}

/// What the exporter knows about itself, for `koji_exporter_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: &'static str,
}

impl BuildInfo {
    pub fn current() -> Self {
        Self { version: env!("CARGO_PKG_VERSION") }
    }
}

/// One metric family ready to encode. `name` is the full name without the `_total` that the
/// encoder adds to counters.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<Sample>,
    /// The samples of a histogram family (`kind` = Histogram).
    pub histograms: Vec<HistogramSample>,
}

/// One labelled histogram: per-bucket (not cumulative) counts, the last for +Inf.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    pub labels: Vec<(&'static str, String)>,
    pub bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub sum: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl MetricFamily {
    /// An empty family of a built-in description.
    pub fn new(description: &Description) -> Self {
        Self {
            name: description.name,
            help: description.help,
            kind: description.kind,
            samples: Vec::new(),
            histograms: Vec::new(),
        }
    }

    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Self { name, help, kind: Kind::Gauge, samples: Vec::new(), histograms: Vec::new() }
    }

    /// A counter; `name` without the `_total` the encoder appends.
    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Self { kind: Kind::Counter, ..Self::gauge(name, help) }
    }

    pub fn histogram(name: &'static str, help: &'static str) -> Self {
        Self { kind: Kind::Histogram, ..Self::gauge(name, help) }
    }

    /// Adds a sample; labels are given as (name, value) pairs.
    pub fn with<const N: usize>(&mut self, labels: [(&'static str, &str); N], value: f64) -> &mut Self {
        let labels = labels.iter().map(|(name, value)| (*name, (*value).to_owned())).collect();
        self.samples.push(Sample { labels, value });
        self
    }
}

pub fn bool_value(flag: bool) -> f64 {
    if flag { 1.0 } else { 0.0 }
}

/// The two scrape targets. The operational answer holds what a site watches every 15-60 s and
/// stays small whatever the site's size (its series follow hosts, channels, methods and the
/// non-terminal tasks); the inventory holds the per-tag and per-package series, a few per live
/// tag and one per package, for a scrape every few minutes. The exporter's own metrics are on
/// both, so each target says whether its data is sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Operational,
    Inventory,
}

/// The data of the inventory that is not in a [`Snapshot`]: the tasks family's per-tag counts,
/// read from the engine only when the inventory is scraped (None before the first full pass).
#[derive(Debug, Clone, Default)]
pub struct InventoryData {
    pub tag_tasks: Option<Vec<(String, Counts)>>,
}

/// Every family of the operational answer, the exporter's own metrics first.
pub fn families(snapshot: &Snapshot, build: &BuildInfo) -> Vec<MetricFamily> {
    let mut families = self_metrics::families(snapshot, build);
    if let Some(data) = &snapshot.hosts {
        families.extend(hosts::families(data, snapshot.default_max_jobs));
    }
    if let Some(data) = &snapshot.tasks {
        families.extend(tasks::families(data));
    }
    if let Some(data) = &snapshot.catalog {
        families.extend(catalog::families(data));
    }
    families.extend(custom::families(&snapshot.custom));
    families
}

/// Every family of the inventory, the exporter's own metrics first.
pub fn inventory_families(snapshot: &Snapshot, inventory: &InventoryData, build: &BuildInfo) -> Vec<MetricFamily> {
    let mut families = self_metrics::families(snapshot, build);
    if let Some(data) = &snapshot.catalog {
        families.extend(catalog::inventory_families(data));
    }
    if let Some(tag_tasks) = &inventory.tag_tasks {
        families.extend(tasks::tag_families(tag_tasks));
    }
    families
}

/// The operational response body in the requested format.
pub fn render(snapshot: &Snapshot, build: &BuildInfo, format: Format) -> String {
    encode(families(snapshot, build), format)
}

/// A target's body, written into `out` (a compressor, say) instead of a text of its own. The
/// operational target never touches the inventory's data.
pub fn render_into(
    target: Target,
    snapshot: &Snapshot,
    inventory: &InventoryData,
    build: &BuildInfo,
    format: Format,
    out: &mut impl fmt::Write,
) {
    let families = match target {
        Target::Operational => families(snapshot, build),
        Target::Inventory => inventory_families(snapshot, inventory, build),
    };
    encode_into(families, format, out);
}

/// Encodes families with prometheus-client.
pub fn encode(families: Vec<MetricFamily>, format: Format) -> String {
    let mut body = String::new();
    encode_into(families, format, &mut body);
    body
}

/// Encodes families into `out`. Writing into memory cannot fail, so an error here would be a
/// bug in the encoder; it is logged rather than a panic.
pub fn encode_into(families: Vec<MetricFamily>, format: Format, out: &mut impl fmt::Write) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families(families)));
    let result = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(out, &registry),
        Format::Text => prometheus_client::encoding::prometheus_text::encode(out, &registry),
    };
    if result.is_err() {
        tracing::error!("encoding the metrics failed");
    }
}

#[derive(Debug)]
struct Families(Vec<MetricFamily>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        for family in &self.0 {
            let metric_type = match family.kind {
                Kind::Gauge => MetricType::Gauge,
                Kind::Counter => MetricType::Counter,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut metric_encoder = encoder.encode_descriptor(family.name, family.help, None, metric_type)?;
            // Two series with one label set make the exposition invalid. The collectors never
            // produce them from sound data, but two names that differ only in bytes that are
            // not UTF-8 decode to the same text (src/lossy.rs); the first series is kept.
            let mut seen: HashSet<&[(&'static str, String)]> = HashSet::new();
            for sample in &family.samples {
                let labels = sample.labels.as_slice();
                if !seen.insert(labels) {
                    tracing::warn!(metric = family.name, "two series with the same labels; the second is dropped");
                    continue;
                }
                let sample_encoder = metric_encoder.encode_family(&labels)?;
                match family.kind {
                    Kind::Counter => ConstCounter::new(sample.value).encode(sample_encoder)?,
                    Kind::Gauge | Kind::Histogram => ConstGauge::new(sample.value).encode(sample_encoder)?,
                }
            }
            for histogram in &family.histograms {
                let labels = histogram.labels.as_slice();
                if !seen.insert(labels) {
                    tracing::warn!(metric = family.name, "two series with the same labels; the second is dropped");
                    continue;
                }
                let buckets: Vec<(f64, u64)> = histogram
                    .bounds
                    .iter()
                    .copied()
                    .chain([f64::INFINITY])
                    .zip(histogram.counts.iter().copied())
                    .collect();
                let count = histogram.counts.iter().sum();
                metric_encoder.encode_family(&labels)?.encode_histogram(
                    histogram.sum,
                    count,
                    &buckets,
                    None::<&HashMap<usize, Exemplar<NoLabelSet, f64>>>,
                )?;
            }
        }
        Ok(())
    }
}

/// The items of an `Accept`-style header (`Accept`, `Accept-Encoding`) with their weights: the
/// item in lower case, and its `q` (1 when absent; None when it is not a finite number).
pub fn weighted_items(header: &str) -> impl Iterator<Item = (String, Option<f32>)> + '_ {
    header.split(',').map(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|param| param.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, value)| value.trim().parse::<f32>().ok())
            .filter(|q| q.is_finite());
        (name, q)
    })
}

/// Picks the format from an `Accept` header: OpenMetrics when the client ranks it at least as
/// high as plain text (Prometheus does), the classic text format otherwise.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else { return Format::Text };
    let mut openmetrics_q: f32 = 0.0;
    let mut text_q: f32 = 0.0;
    for (media_type, q) in weighted_items(accept) {
        let q = q.unwrap_or(0.0);
        match media_type.as_str() {
            "application/openmetrics-text" => openmetrics_q = openmetrics_q.max(q),
            "text/plain" | "text/*" | "*/*" => text_q = text_q.max(q),
            _ => {}
        }
    }
    if openmetrics_q > 0.0 && openmetrics_q >= text_q { Format::OpenMetrics } else { Format::Text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_and_others_get_text() {
        let prometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(negotiate(Some("application/openmetrics-text")), Format::OpenMetrics);
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")), Format::Text);
        assert_eq!(negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
        assert_eq!(negotiate(Some(";;;,,garbage;q=abc")), Format::Text);
    }

    #[test]
    fn a_repeated_label_set_is_encoded_once() {
        let mut gauge = MetricFamily::gauge("koji_test_value", "A test");
        gauge.with([("host", "b\u{fffd}")], 1.0).with([("host", "b\u{fffd}")], 2.0).with([("host", "c")], 3.0);
        let text = encode(vec![gauge], Format::Text);
        assert_eq!(text.matches("koji_test_value{").count(), 2, "{text}");
        assert!(text.contains("host=\"b\u{fffd}\"} 1"), "{text}");
    }

    #[test]
    fn counters_get_total_and_labels_are_escaped() {
        let mut gauge = MetricFamily::gauge("koji_test_value", "A test");
        gauge.with([("host", "a\"b\\c\nd")], 1.5);
        let mut counter = MetricFamily::counter("koji_test_events", "Events");
        counter.with([], 3.0);
        let text = encode(vec![gauge, counter], Format::OpenMetrics);
        assert!(text.contains("koji_test_value{host=\"a\\\"b\\\\c\\nd\"} 1.5\n"), "{text}");
        assert!(text.contains("koji_test_events_total 3"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let classic = encode(vec![MetricFamily::gauge("koji_x", "X")], Format::Text);
        assert!(!classic.contains("# EOF"), "{classic}");
    }
}
