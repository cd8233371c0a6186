//! Metric names and meanings of the catalog family.
//!
//! The paper's three names carry the numbers Koji's own web pages show for a tag or package
//! (inheritance included); the direct-only numbers get names of their own rather than a label
//! on the paper's names, so that dashboards built on the paper keep one series per tag and a
//! `sum()` never adds two views of the same thing. Values computed by the background recount
//! say so in their HELP; `koji_exporter_catalog_age_seconds` tells how old they are.

use super::{MetricFamily, Sample, bool_value};
use crate::collect::catalog::{
    BUILDS_PER_PACKAGE, BUILDS_PER_TAG, CatalogSnapshot, PACKAGES_PER_TAG, TAG_DIRECT_BUILDS, TAG_DIRECT_PACKAGES,
    TAG_READY_REPO,
};

/// Build states, by their code in `build.state`.
const BUILD_STATES: [&str; 5] = ["building", "complete", "deleted", "failed", "canceled"];
/// Repo states, by their code in `repo.state`.
const REPO_STATES: [&str; 5] = ["init", "ready", "expired", "deleted", "problem"];

fn state_name(names: &[&str], code: i32) -> String {
    usize::try_from(code).ok().and_then(|i| names.get(i)).map_or_else(|| format!("unknown_{code}"), |n| (*n).to_owned())
}

pub fn families(data: &CatalogSnapshot) -> Vec<MetricFamily> {
    let mut families = Vec::new();

    let mut available = MetricFamily::gauge(
        "koji_exporter_catalog_available",
        "1 once the background recount of the catalog family has completed; 0 before, when its metrics are absent",
    );
    available.with([], bool_value(data.cached.is_some()));
    let mut age = MetricFamily::gauge(
        "koji_exporter_catalog_age_seconds",
        "Age of the cached catalog metrics: seconds since the background recount that produced them began",
    );
    let mut duration = MetricFamily::gauge(
        "koji_exporter_catalog_recount_duration_seconds",
        "Time the background cycle that produced the cached catalog metrics took",
    );
    let mut reads = MetricFamily::counter(
        "koji_exporter_catalog_reads",
        "Times the background task read each part of the catalog from the database (unchanged parts are reused)",
    );
    let mut dropped = MetricFamily::gauge(
        "koji_exporter_series_dropped",
        "Series left out of the metric because of catalog.max_series_per_metric",
    );
    if let (Some(cached), Some(seconds)) = (&data.cached, data.age_seconds) {
        age.with([], seconds);
        duration.with([], cached.duration_seconds);
        for (part, count) in &cached.reads {
            reads.samples.push(Sample { labels: vec![("part", (*part).to_owned())], value: *count as f64 });
        }
        for (metric, count) in &cached.dropped {
            dropped.with([("family", "catalog"), ("metric", metric)], *count as f64);
        }
    }
    families.extend([available, age, duration, reads, dropped]);

    if let Some(live) = &data.live {
        let mut finished = MetricFamily::gauge(
            "koji_builds_finished",
            "Builds whose completion_time lies in the window, by current state; a failed or canceled build that Koji later recycled counts under its new state only",
        );
        // The four final states always have series (zero when nothing finished), plus any
        // unknown code that shows up.
        let mut codes: Vec<i32> = vec![1, 2, 3, 4];
        codes.extend(live.finished.iter().map(|row| row.state).filter(|code| !(1..=4).contains(code)));
        for code in codes {
            let state = state_name(&BUILD_STATES, code);
            let row = live.finished.iter().find(|row| row.state == code);
            let values = row.map_or([0; 3], |row| [row.last_hour, row.last_day, row.last_week]);
            for (window, value) in ["1h", "1d", "7d"].into_iter().zip(values) {
                finished.with([("state", &state), ("window", window)], value as f64);
            }
        }
        families.push(finished);
        if let Some(queue) = &live.repo_queue {
            let mut requests = MetricFamily::gauge(
                "koji_repo_queue_requests",
                "Repo requests waiting in the queue (active repo_queue rows, Koji 1.35+)",
            );
            requests.with([], queue.requests as f64);
            let mut oldest = MetricFamily::gauge(
                "koji_repo_queue_oldest_request_timestamp_seconds",
                "Unix time the oldest waiting repo request was made (repo_queue.create_time); absent when the queue is empty",
            );
            if let Some(time) = queue.oldest {
                oldest.with([], time);
            }
            families.extend([requests, oldest]);
        }
    }

    let Some(cached) = &data.cached else { return families };
    let mut packages_per_tag = MetricFamily::gauge(
        PACKAGES_PER_TAG,
        "Packages in the tag's effective package list: inherited, nearest entry winning, blocked ones left out (cached)",
    );
    let mut builds_per_tag = MetricFamily::gauge(
        BUILDS_PER_TAG,
        "Current taggings of COMPLETE builds into the tag and its ancestors whose package is in the tag's package list, as listTagged with inherit counts them (cached)",
    );
    let mut direct_packages = MetricFamily::gauge(
        TAG_DIRECT_PACKAGES,
        "Packages listed and not blocked in the tag's own package list (tag_packages, no inheritance; cached)",
    );
    let mut direct_builds = MetricFamily::gauge(
        TAG_DIRECT_BUILDS,
        "Current taggings of COMPLETE builds into the tag itself whose package is in the tag's package list (cached)",
    );
    for tag in &cached.tags {
        let label = [("tag", tag.name.as_str())];
        packages_per_tag.with(label, tag.packages as f64);
        builds_per_tag.with(label, tag.builds as f64);
        direct_packages.with(label, tag.direct_packages as f64);
        direct_builds.with(label, tag.direct_builds as f64);
    }
    let mut builds_per_package =
        MetricFamily::gauge(BUILDS_PER_PACKAGE, "Build rows of the package in any state (build.pkg_id; cached)");
    for (package, count) in &cached.builds_per_package {
        builds_per_package.with([("package", package)], *count as f64);
    }
    let mut builds = MetricFamily::gauge("koji_builds", "Build rows by state (build.state; cached)");
    let mut seen_states: Vec<String> = BUILD_STATES.iter().map(|s| (*s).to_owned()).collect();
    for code in cached.builds_by_state.keys() {
        let name = state_name(&BUILD_STATES, *code);
        if !seen_states.contains(&name) {
            seen_states.push(name);
        }
    }
    for state in &seen_states {
        let value = cached.builds_by_state.iter().find(|(code, _)| state_name(&BUILD_STATES, **code) == *state);
        builds.with([("state", state)], value.map_or(0.0, |(_, n)| *n as f64));
    }
    let mut repos = MetricFamily::gauge("koji_repos", "Repo rows by state (repo.state, dist repos included; cached)");
    for code in 0..REPO_STATES.len() as i32 {
        repos
            .with([("state", &state_name(&REPO_STATES, code))], *cached.repos_by_state.get(&code).unwrap_or(&0) as f64);
    }
    for (code, count) in cached.repos_by_state.range(..0).chain(cached.repos_by_state.range(REPO_STATES.len() as i32..))
    {
        repos.with([("state", &state_name(&REPO_STATES, *code))], *count as f64);
    }
    let mut ready_repo = MetricFamily::gauge(
        TAG_READY_REPO,
        "Unix time of the tag content (events.time of repo.create_event) of the tag's newest READY non-dist repo (cached)",
    );
    for (tag, time) in &cached.newest_ready_repo {
        ready_repo.with([("tag", tag)], *time);
    }
    families.extend([
        packages_per_tag,
        builds_per_tag,
        builds_per_package,
        direct_packages,
        direct_builds,
        builds,
        repos,
        ready_repo,
    ]);
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
            dropped: vec![(BUILDS_PER_PACKAGE, 5)],
            ..CachedCatalog::default()
        };
        let snapshot = CatalogSnapshot { live: None, cached: Some(Arc::new(cached)), age_seconds: Some(2.5) };
        let text = encode(families(&snapshot), Format::Text);
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
