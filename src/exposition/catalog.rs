//! Metric names and meanings of the catalog family.
//!
//! The paper's three names carry the numbers Koji's own web pages show for a tag or package
//! (inheritance included); the direct-only numbers get names of their own rather than a label
//! on the paper's names, so that dashboards built on the paper keep one series per tag and a
//! `sum()` never adds two views of the same thing. Values computed by the background recount
//! say so in their HELP; `koji_exporter_catalog_age_seconds` tells how old they are.

use super::{MetricFamily, Sample, bool_value};
use crate::collect::catalog::{Capped, CatalogSnapshot};
use crate::koji::{build, repo};
use crate::metrics;

/// The metrics a capped list feeds.
fn capped_metrics(list: Capped) -> &'static [metrics::Description] {
    match list {
        Capped::Tags => &[
            metrics::PACKAGES_PER_TAG,
            metrics::BUILDS_PER_TAG,
            metrics::TAG_DIRECT_PACKAGES,
            metrics::TAG_DIRECT_BUILDS,
        ],
        Capped::Packages => &[metrics::BUILDS_PER_PACKAGE],
        Capped::ReadyRepos => &[metrics::TAG_READY_REPO_TIMESTAMP_SECONDS],
    }
}

/// The catalog's own state (available, age, reads, what the cap cut): on both answers.
fn self_families(data: &CatalogSnapshot) -> Vec<MetricFamily> {
    let mut families = Vec::new();

    let mut available = MetricFamily::new(&metrics::EXPORTER_CATALOG_AVAILABLE);
    available.with([], bool_value(data.cached.is_some()));
    let mut age = MetricFamily::new(&metrics::EXPORTER_CATALOG_AGE_SECONDS);
    let mut duration = MetricFamily::new(&metrics::EXPORTER_CATALOG_RECOUNT_DURATION_SECONDS);
    let mut reads = MetricFamily::new(&metrics::EXPORTER_CATALOG_READS);
    let mut dropped = MetricFamily::new(&metrics::EXPORTER_SERIES_DROPPED);
    if let (Some(cached), Some(seconds)) = (&data.cached, data.age_seconds) {
        age.with([], seconds);
        duration.with([], cached.duration_seconds);
        for (part, count) in &cached.reads {
            reads.samples.push(Sample { labels: vec![("part", (*part).to_owned())], value: *count as f64 });
        }
        for (list, count) in &cached.dropped {
            for metric in capped_metrics(*list) {
                dropped.with([("family", "catalog"), ("metric", metric.name)], *count as f64);
            }
        }
    }
    families.extend([available, age, duration, reads, dropped]);
    families
}

/// The operational answer's part: a handful of series whatever the catalog's size.
pub fn families(data: &CatalogSnapshot) -> Vec<MetricFamily> {
    let mut families = self_families(data);
    if let Some(live) = &data.live {
        let mut finished = MetricFamily::new(&metrics::BUILDS_FINISHED);
        // The four final states always have series (zero when nothing finished), plus any
        // unknown code that shows up.
        let final_states = [build::COMPLETE, build::DELETED, build::FAILED, build::CANCELED];
        let mut codes = final_states.to_vec();
        codes.extend(live.finished.iter().map(|row| row.state).filter(|code| !final_states.contains(code)));
        for code in codes {
            let state = build::state_name(code);
            let row = live.finished.iter().find(|row| row.state == code);
            let values = row.map_or([0; 3], |row| [row.last_hour, row.last_day, row.last_week]);
            for (window, value) in ["1h", "1d", "7d"].into_iter().zip(values) {
                finished.with([("state", &state), ("window", window)], value as f64);
            }
        }
        families.push(finished);
        if let Some(queue) = &live.repo_queue {
            let mut requests = MetricFamily::new(&metrics::REPO_QUEUE_REQUESTS);
            requests.with([], queue.requests as f64);
            let mut oldest = MetricFamily::new(&metrics::REPO_QUEUE_OLDEST_REQUEST_TIMESTAMP_SECONDS);
            if let Some(time) = queue.oldest {
                oldest.with([], time);
            }
            families.extend([requests, oldest]);
        }
    }

    let Some(cached) = &data.cached else { return families };
    let mut builds = MetricFamily::new(&metrics::BUILDS);
    let mut seen_states: Vec<String> = build::NAMES.iter().map(|s| (*s).to_owned()).collect();
    for code in cached.builds_by_state.keys() {
        let name = build::state_name(*code);
        if !seen_states.contains(&name) {
            seen_states.push(name);
        }
    }
    for state in &seen_states {
        let value = cached.builds_by_state.iter().find(|(code, _)| build::state_name(**code) == *state);
        builds.with([("state", state)], value.map_or(0.0, |(_, n)| *n as f64));
    }
    let mut repos = MetricFamily::new(&metrics::REPOS);
    for code in 0..repo::NAMES.len() as i32 {
        repos.with([("state", &repo::state_name(code))], *cached.repos_by_state.get(&code).unwrap_or(&0) as f64);
    }
    for (code, count) in cached.repos_by_state.range(..0).chain(cached.repos_by_state.range(repo::NAMES.len() as i32..))
    {
        repos.with([("state", &repo::state_name(*code))], *count as f64);
    }
    families.extend([builds, repos]);
    families
}

/// The inventory's part: per-tag and per-package series, encoded only when the inventory is
/// scraped.
pub fn inventory_families(data: &CatalogSnapshot) -> Vec<MetricFamily> {
    let mut families = self_families(data);
    let Some(cached) = &data.cached else { return families };
    let mut packages_per_tag = MetricFamily::new(&metrics::PACKAGES_PER_TAG);
    let mut builds_per_tag = MetricFamily::new(&metrics::BUILDS_PER_TAG);
    let mut direct_packages = MetricFamily::new(&metrics::TAG_DIRECT_PACKAGES);
    let mut direct_builds = MetricFamily::new(&metrics::TAG_DIRECT_BUILDS);
    for tag in &cached.tags {
        let label = [("tag", tag.name.as_str())];
        packages_per_tag.with(label, tag.packages as f64);
        builds_per_tag.with(label, tag.builds as f64);
        direct_packages.with(label, tag.direct_packages as f64);
        direct_builds.with(label, tag.direct_builds as f64);
    }
    let mut builds_per_package = MetricFamily::new(&metrics::BUILDS_PER_PACKAGE);
    for (package, count) in &cached.builds_per_package {
        builds_per_package.with([("package", package)], *count as f64);
    }
    let mut ready_repo = MetricFamily::new(&metrics::TAG_READY_REPO_TIMESTAMP_SECONDS);
    for (tag, time) in &cached.newest_ready_repo {
        ready_repo.with([("tag", tag)], *time);
    }
    families.extend([packages_per_tag, builds_per_tag, builds_per_package, direct_packages, direct_builds, ready_repo]);
    families
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::collect::catalog::{CachedCatalog, LiveCatalog, TagCounts};
    use crate::exposition::{Format, encode};

    #[test]
    fn nothing_cached_yet_means_unavailable_and_no_catalog_series() {
        let snapshot = CatalogSnapshot { live: Some(LiveCatalog::default()), cached: None, age_seconds: None };
        let text = encode(families(&snapshot), Format::Text);
        assert!(text.contains("koji_exporter_catalog_available 0"), "{text}");
        assert!(!text.contains("\nkoji_exporter_catalog_age_seconds "), "{text}");
        assert!(!text.contains("# TYPE koji_packages_per_tag"), "{text}");
    }

    #[test]
    fn states_have_names_and_unknown_codes_are_kept() {
        let cached = CachedCatalog {
            tags: vec![TagCounts { name: "f42".into(), direct_packages: 1, packages: 2, direct_builds: 3, builds: 4 }],
            builds_by_state: BTreeMap::from([(1, 7), (9, 1)]),
            repos_by_state: BTreeMap::from([(-1, 2), (1, 3)]),
            dropped: vec![(Capped::Packages, 5)],
            ..CachedCatalog::default()
        };
        let snapshot = CatalogSnapshot { live: None, cached: Some(Arc::new(cached)), age_seconds: Some(2.5) };
        let operational = encode(families(&snapshot), Format::Text);
        assert!(!operational.contains("koji_packages_per_tag"), "per-tag series are the inventory's: {operational}");
        let text = operational + &encode(inventory_families(&snapshot), Format::Text);
        for line in [
            "koji_builds{state=\"complete\"} 7",
            "koji_builds{state=\"failed\"} 0",
            "koji_builds{state=\"unknown_9\"} 1",
            "koji_repos{state=\"ready\"} 3",
            "koji_repos{state=\"unknown_-1\"} 2",
            "koji_packages_per_tag{tag=\"f42\"} 2",
            "koji_tag_direct_builds{tag=\"f42\"} 3",
            "koji_exporter_catalog_age_seconds 2.5",
            "koji_exporter_series_dropped{family=\"catalog\",metric=\"koji_builds_per_package\"} 5",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
