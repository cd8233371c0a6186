//! The catalog family against `catalog_edge_cases.sql`, on every tested schema level. Every
//! expected number below is worked out by hand from the fixture's comments and rows.

use std::time::{Duration, Instant};

use koji_exporter::config::Config;
use koji_exporter::http::AppState;
use sqlx::Executor;

use crate::support::{Level, Metrics, TESTED, TestDb, scrape, scrape_inventory, state_for};

fn tag(name: &str) -> String {
    format!("{{tag=\"{name}\"}}")
}

/// A configuration whose background task cycles quickly.
fn fast(db: &TestDb) -> Config {
    let mut config = db.config();
    config.catalog.refresh_interval_seconds = 0.2;
    config
}

/// Scrapes both targets until the background recount has produced a result satisfying `done`;
/// the samples of both answers together (the per-tag and per-package ones are the inventory's,
/// and only its).
async fn scrape_until(state: &AppState, what: &str, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let started = Instant::now();
    loop {
        let mut metrics = scrape(state).await;
        let inventory = scrape_inventory(state).await;
        for name in ["koji_packages_per_tag", "koji_builds_per_package", "koji_tag_ready_repo_timestamp_seconds"] {
            assert!(metrics.family(name).is_empty(), "{name} on the operational target:\n{}", metrics.text);
        }
        for name in ["koji_builds", "koji_repos", "koji_builds_finished"] {
            assert!(inventory.family(name).is_empty(), "{name} on the inventory:\n{}", inventory.text);
        }
        metrics.samples.extend(inventory.samples);
        metrics.text.push_str(&inventory.text);
        if metrics.get("koji_exporter_catalog_available") == Some(1.0) && done(&metrics) {
            return metrics;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{what} never happened:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn catalog_metrics_match_the_fixture_on_every_schema() {
    for level in TESTED {
        let db = TestDb::with_fixture(level, "catalog_edge_cases").await;
        let state = state_for(&fast(&db));
        let metrics = scrape_until(&state, "a first recount", |_| true).await;
        let at = |series: String| metrics.value(&series);
        let ctx = level.name();
        assert_eq!(at("koji_exporter_collector_success{collector=\"catalog\"}".into()), 1.0, "{ctx}");
        assert!(at("koji_exporter_catalog_age_seconds".into()) >= 0.0, "{ctx}");

        // (tag, own packages, effective packages, direct builds, inherited builds)
        let expected = [
            ("base", 4, 4, 5, 5),
            ("extras", 4, 4, 3, 3),
            ("mid", 1, 4, 2, 6),
            ("child", 0, 4, 1, 8),
            ("deep", 0, 1, 0, 1),
        ];
        for (name, own, effective, direct, inherited) in expected {
            let label = tag(name);
            assert_eq!(at(format!("koji_tag_direct_packages{label}")), f64::from(own), "{ctx} {name}");
            assert_eq!(at(format!("koji_packages_per_tag{label}")), f64::from(effective), "{ctx} {name}");
            assert_eq!(at(format!("koji_tag_direct_builds{label}")), f64::from(direct), "{ctx} {name}");
            assert_eq!(at(format!("koji_builds_per_tag{label}")), f64::from(inherited), "{ctx} {name}");
        }
        for metric in ["koji_packages_per_tag", "koji_builds_per_tag", "koji_tag_direct_packages"] {
            assert_eq!(metrics.family(metric).len(), 5, "{ctx}: the deleted tag gone has no {metric}");
        }

        for (state, count) in [("building", 1), ("complete", 8), ("deleted", 1), ("failed", 1), ("canceled", 1)] {
            assert_eq!(at(format!("koji_builds{{state=\"{state}\"}}")), f64::from(count), "{ctx} {state}");
        }
        for (package, count) in [("bash", 3), ("kernel", 2), ("libfoo", 2), ("libbar", 1), ("zsh", 2), ("vim", 2)] {
            assert_eq!(at(format!("koji_builds_per_package{{package=\"{package}\"}}")), f64::from(count), "{ctx}");
        }
        // Finished in the last hour / day / week, by current state; the recycled b12 is complete.
        for (state, hour, day, week) in
            [("complete", 2, 2, 3), ("failed", 0, 1, 1), ("canceled", 0, 0, 1), ("deleted", 0, 0, 1)]
        {
            for (window, value) in [("1h", hour), ("1d", day), ("7d", week)] {
                let series = format!("koji_builds_finished{{state=\"{state}\",window=\"{window}\"}}");
                assert_eq!(at(series), f64::from(value), "{ctx} {state} {window}");
            }
        }
        assert!(metrics.get("koji_builds_finished{state=\"building\",window=\"1h\"}").is_none());

        for (state, count) in [("init", 1), ("ready", 4), ("expired", 2), ("deleted", 1), ("problem", 1)] {
            assert_eq!(at(format!("koji_repos{{state=\"{state}\"}}")), f64::from(count), "{ctx} {state}");
        }
        let ready = metrics.family("koji_tag_ready_repo_timestamp_seconds");
        let expected_ready = [
            (format!("koji_tag_ready_repo_timestamp_seconds{}", tag("base")), 1_791_417_600.0),
            (format!("koji_tag_ready_repo_timestamp_seconds{}", tag("mid")), 1_791_504_000.0),
        ];
        assert_eq!(ready.into_iter().collect::<Vec<_>>(), expected_ready, "{ctx}: events 8 and 9");

        if level >= Level::V1_35 {
            assert_eq!(at("koji_repo_queue_requests".into()), 2.0, "{ctx}");
            assert_eq!(at("koji_repo_queue_oldest_request_timestamp_seconds".into()), 1_793_527_200.0, "{ctx}");
        } else {
            assert!(metrics.get("koji_repo_queue_requests").is_none(), "{ctx}");
        }
        assert!(metrics.family("koji_exporter_series_dropped").is_empty(), "{ctx}");
    }
}

#[tokio::test]
async fn patterns_and_the_cap_bound_the_series_and_say_what_was_cut() {
    let db = TestDb::with_fixture(Level::V1_35, "catalog_edge_cases").await;
    let mut config = fast(&db);
    config.catalog.tag_exclude = vec!["deep|extras".into()];
    config.catalog.package_include = vec!["lib.*".into(), "zsh".into()];
    config.catalog.max_series_per_metric = 2;
    let metrics = scrape_until(&state_for(&config), "a first recount", |_| true).await;
    // Tags left after the pattern: base, child, mid; the cap keeps the first two by name.
    let kept: Vec<String> = metrics.family("koji_packages_per_tag").into_keys().collect();
    assert_eq!(
        kept,
        [format!("koji_packages_per_tag{}", tag("base")), format!("koji_packages_per_tag{}", tag("child"))]
    );
    // child still counts through the excluded extras.
    assert_eq!(metrics.value(&format!("koji_builds_per_tag{}", tag("child"))), 8.0);
    assert_eq!(metrics.value("koji_exporter_series_dropped{family=\"catalog\",metric=\"koji_packages_per_tag\"}"), 1.0);
    // Packages: libbar, libfoo, zsh pass; the cap keeps libbar and libfoo.
    let packages: Vec<String> = metrics.family("koji_builds_per_package").into_keys().collect();
    assert_eq!(
        packages,
        ["koji_builds_per_package{package=\"libbar\"}", "koji_builds_per_package{package=\"libfoo\"}"]
    );
    assert_eq!(
        metrics.value("koji_exporter_series_dropped{family=\"catalog\",metric=\"koji_builds_per_package\"}"),
        1.0
    );
}

#[tokio::test]
async fn a_scrape_never_waits_for_the_recount() {
    let db = TestDb::with_fixture(Level::V1_35, "catalog_edge_cases").await;
    let mut config = fast(&db);
    // Long enough that the blocked recount is still running while we scrape.
    config.database.lock_timeout_seconds = 4.0;
    let state = state_for(&config);

    // Another session holds tag_listing, so the background recount cannot read it.
    let mut blocker = db.writer.acquire().await.unwrap();
    blocker.execute("begin; lock table tag_listing in access exclusive mode").await.unwrap();

    for _ in 0..3 {
        let started = Instant::now();
        let metrics = scrape(&state).await;
        assert!(started.elapsed() < Duration::from_secs(1), "the scrape waited: {:?}", started.elapsed());
        assert_eq!(metrics.value("koji_exporter_catalog_available"), 0.0, "{}", metrics.text);
        assert!(metrics.get("koji_exporter_catalog_age_seconds").is_none());
        assert!(metrics.family("koji_packages_per_tag").is_empty());
        // The live part does not need the lock and still reports.
        assert_eq!(metrics.value("koji_exporter_collector_success{collector=\"catalog\"}"), 1.0);
        assert_eq!(metrics.value("koji_repo_queue_requests"), 2.0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    blocker.execute("rollback").await.unwrap();
    let metrics = scrape_until(&state, "the recount after the lock", |_| true).await;
    assert_eq!(metrics.value(&format!("koji_builds_per_tag{}", tag("child"))), 8.0);
}

#[tokio::test]
async fn unchanged_parts_are_reused_and_changes_show_up() {
    let db = TestDb::with_fixture(Level::V1_34, "catalog_edge_cases").await;
    let state = state_for(&fast(&db));
    let reads =
        |metrics: &Metrics, part: &str| metrics.value(&format!("koji_exporter_catalog_reads_total{{part=\"{part}\"}}"));

    // Several cycles without a change: repos are re-read every cycle, the rest only once.
    let metrics = scrape_until(&state, "three cycles", |m| reads(m, "repos") >= 3.0).await;
    for part in ["package_lists", "tagged_builds", "builds"] {
        assert_eq!(reads(&metrics, part), 1.0, "{part} was read again without a change");
    }

    // Tag the recycled libfoo-2 into base (a new event): base 5 -> 6, and everything that
    // inherits base's builds with libfoo in its list: mid 6 -> 7, child 8 -> 9; deep unchanged.
    db.exec("insert into events (id) values (15); insert into tag_listing (build_id, tag_id, create_event, creator_id) values (12, 1, 15, 1);").await;
    let metrics = scrape_until(&state, "the new tagging", |m| reads(m, "tagged_builds") >= 2.0).await;
    assert_eq!(reads(&metrics, "package_lists"), 1.0);
    for (name, direct, inherited) in [("base", 6, 6), ("mid", 2, 7), ("child", 1, 9), ("deep", 0, 1)] {
        assert_eq!(metrics.value(&format!("koji_tag_direct_builds{}", tag(name))), f64::from(direct), "{name}");
        assert_eq!(metrics.value(&format!("koji_builds_per_tag{}", tag(name))), f64::from(inherited), "{name}");
    }

    // Block libfoo in mid (revoke nothing, add a row): the package lists are read again; mid
    // and child lose libfoo (mid 4 -> 3 packages; child 4 -> 3), and their libfoo builds.
    db.exec("insert into events (id) values (16); insert into tag_packages (package_id, tag_id, blocked, create_event, creator_id) values (3, 2, true, 16, 1);").await;
    let metrics = scrape_until(&state, "the new block", |m| reads(m, "package_lists") >= 2.0).await;
    // mid: own b7 (vim) + base b1, b2 (bash), b6 (zsh) = 4; the libfoo builds b4, b12 drop.
    // child: libbar b5 (child) + b5, b7 (extras) + b7 (mid) + b1, b2 (base) = 6.
    for (name, packages, inherited) in [("mid", 3, 4), ("child", 3, 6), ("base", 4, 6)] {
        assert_eq!(metrics.value(&format!("koji_packages_per_tag{}", tag(name))), f64::from(packages), "{name}");
        assert_eq!(metrics.value(&format!("koji_builds_per_tag{}", tag(name))), f64::from(inherited), "{name}");
    }
}
