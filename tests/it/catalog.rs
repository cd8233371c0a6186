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
        // Both answers must come from a completed recount: the first may predate it.
        let available = |m: &Metrics| m.get("koji_exporter_catalog_available") == Some(1.0);
        let both_available = available(&metrics) && available(&inventory);
        metrics.samples.extend(inventory.samples);
        metrics.text.push_str(&inventory.text);
        if both_available && done(&metrics) {
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

pub fn reads(metrics: &Metrics, part: &str) -> f64 {
    metrics.get(&format!("koji_exporter_catalog_reads_total{{part=\"{part}\"}}")).unwrap_or(0.0)
}

/// Scrapes until a cycle that began after this call has completed (the cycle in flight may have
/// begun before), and returns that scrape.
pub async fn after_next_cycle(state: &AppState) -> Metrics {
    let now = scrape(state).await;
    let seen = reads(&now, "changes") + reads(&now, "full");
    scrape_until(state, "two more cycles", |m| reads(m, "changes") + reads(m, "full") >= seen + 2.0).await
}

/// Rows that put every fixture event, build and repo below the exporter's windows (the windows
/// start up to 1 000 events and 1 000 ids below the newest), so that changes to fixture rows
/// are seen only the way changes to old rows are: b3 tagged into the deleted tag gone at event
/// 50 000, a FAILED vim build 5 000, a DELETED repo 5 000 of gone.
pub const PUSH_WINDOWS: &str = "
    insert into events (id, time) values (50000, now());
    select setval('events_id_seq', 50000);
    insert into tag_listing (build_id, tag_id, create_event, creator_id) values (3, 6, 50000, 1);
    insert into build (id, volume_id, pkg_id, version, release, create_event, start_time, completion_time, state, owner)
        values (5000, 0, 6, 'x', '1', 50000, now(), now(), 3, 1);
    select setval('build_id_seq', 5000);
    insert into repo (id, create_event, tag_id, state, dist) values (5000, 50000, 6, 3, false);
    select setval('repo_id_seq', 5000);";

/// Counts the test works out with SQL of its own: builds per state and package, repos per
/// state, the newest READY non-dist repo of each existing tag, own unblocked packages per tag.
pub async fn sql_counts(db: &TestDb) -> Vec<(String, f64)> {
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "select format('koji_builds{state=\"%s\"}', (array['building','complete','deleted','failed','canceled'])[state + 1]), count(*)::float8
           from build group by state
         union all
         select format('koji_builds_per_package{package=\"%s\"}', p.name), count(*)::float8
           from build b join package p on p.id = b.pkg_id group by p.name
         union all
         select format('koji_repos{state=\"%s\"}', (array['init','ready','expired','deleted','problem'])[state + 1]), count(*)::float8
           from repo group by state
         union all
         select format('koji_tag_ready_repo_timestamp_seconds{tag=\"%s\"}', t.name), extract(epoch from e.time)::float8
           from tag t
           join tag_config tc on tc.tag_id = t.id and tc.active
           join lateral (select max(create_event) as ev from repo r
                         where r.tag_id = t.id and r.state = 1 and not coalesce(r.dist, false)) n on n.ev is not null
           join events e on e.id = n.ev
         union all
         select format('koji_tag_direct_packages{tag=\"%s\"}', t.name), count(tp.package_id)::float8
           from tag t
           join tag_config tc on tc.tag_id = t.id and tc.active
           left join tag_packages tp on tp.tag_id = t.id and tp.active and not tp.blocked
           group by t.name",
    )
    .fetch_all(&db.writer)
    .await
    .unwrap();
    rows
}

/// Checks a scrape against [`sql_counts`].
pub fn assert_sql_counts(metrics: &Metrics, expected: &[(String, f64)], ctx: &str) {
    for (series, value) in expected {
        assert_eq!(metrics.get(series), Some(*value), "{ctx}: {series}\n{}", metrics.text);
    }
    let families = ["koji_builds_per_package", "koji_tag_ready_repo_timestamp_seconds", "koji_tag_direct_packages"];
    for family in families {
        let exported = metrics.family(family).len();
        let counted = expected.iter().filter(|(series, _)| series.starts_with(&format!("{family}{{"))).count();
        assert_eq!(exported, counted, "{ctx}: {family}\n{}", metrics.text);
    }
}

#[tokio::test]
async fn changes_show_up_in_the_next_cycle_without_a_full_recount() {
    let db = TestDb::with_fixture(Level::V1_34, "catalog_edge_cases").await;
    db.exec(PUSH_WINDOWS).await;
    let mut config = fast(&db);
    config.catalog.full_recount_interval_seconds = 3600.0;
    let state = state_for(&config);
    scrape_until(&state, "a first recount", |_| true).await;
    let at = |metrics: &Metrics, metric: &str, name: &str| metrics.value(&format!("{metric}{}", tag(name)));

    // Tag the recycled libfoo-2 into base (a new event): base 5 -> 6, and everything that
    // inherits base's builds with libfoo in its list: mid 6 -> 7, child 8 -> 9; deep unchanged.
    db.exec("insert into events (id) values (50001); insert into tag_listing (build_id, tag_id, create_event, creator_id) values (12, 1, 50001, 1);").await;
    let metrics = after_next_cycle(&state).await;
    for (name, direct, inherited) in [("base", 6, 6), ("mid", 2, 7), ("child", 1, 9), ("deep", 0, 1)] {
        assert_eq!(at(&metrics, "koji_tag_direct_builds", name), f64::from(direct), "{name}");
        assert_eq!(at(&metrics, "koji_builds_per_tag", name), f64::from(inherited), "{name}");
    }

    // Block libfoo in mid, a parent of child (a new row, nothing revoked): mid and child lose
    // libfoo (mid 4 -> 3 packages; child 4 -> 3), and their libfoo builds.
    // mid: own b7 (vim) + base b1, b2 (bash), b6 (zsh) = 4; the libfoo builds b4, b12 drop.
    // child: libbar b5 (child) + b5, b7 (extras) + b7 (mid) + b1, b2 (base) = 6.
    db.exec("insert into events (id) values (50002); insert into tag_packages (package_id, tag_id, blocked, create_event, creator_id) values (3, 2, true, 50002, 1);").await;
    let metrics = after_next_cycle(&state).await;
    for (name, packages, inherited) in [("mid", 3, 4), ("child", 3, 6), ("base", 4, 6)] {
        assert_eq!(at(&metrics, "koji_packages_per_tag", name), f64::from(packages), "{name}");
        assert_eq!(at(&metrics, "koji_builds_per_tag", name), f64::from(inherited), "{name}");
    }
    // And unblock it again by revoking the row (only revoke_event changes): back to 4 and 7 / 9.
    db.exec("insert into events (id) values (50003); update tag_packages set active = null, revoke_event = 50003, revoker_id = 1 where tag_id = 2 and package_id = 3 and active;").await;
    let metrics = after_next_cycle(&state).await;
    for (name, packages, inherited) in [("mid", 4, 7), ("child", 4, 9)] {
        assert_eq!(at(&metrics, "koji_packages_per_tag", name), f64::from(packages), "{name}");
        assert_eq!(at(&metrics, "koji_builds_per_tag", name), f64::from(inherited), "{name}");
    }

    // base's READY repo 2 expires as its new repo 5001 becomes READY; mid's READY repo 4 is
    // deleted; the BUILDING vim-2 (b8) completes and a new kernel build starts.
    db.exec(
        "insert into events (id, time) values (50004, timestamptz '2026-12-01 00:00:00+00');
         insert into repo (id, create_event, tag_id, state, dist) values (5001, 50004, 1, 1, false);
         update repo set state = 2 where id = 2;
         update repo set state = 3 where id = 4;
         update build set state = 1, completion_time = now() where id = 8;
         insert into build (id, volume_id, pkg_id, version, release, create_event, start_time, state, owner)
             values (5001, 0, 2, '3', '1', 50004, now(), 0, 1);",
    )
    .await;
    let metrics = after_next_cycle(&state).await;
    // Worked out by hand from the fixture: repos init 1, ready 4 - 2 + 1, expired 2 + 1,
    // deleted 1 + 1 (+ the DELETED repo 5000), problem 1; builds building 1 - 1 + 1, complete
    // 8 + 1, failed 1 (+ the FAILED build 5000).
    for (state, count) in [("init", 1), ("ready", 3), ("expired", 3), ("deleted", 3), ("problem", 1)] {
        assert_eq!(metrics.value(&format!("koji_repos{{state=\"{state}\"}}")), f64::from(count), "{state}");
    }
    for (state, count) in [("building", 1), ("complete", 9), ("failed", 2), ("canceled", 1), ("deleted", 1)] {
        assert_eq!(metrics.value(&format!("koji_builds{{state=\"{state}\"}}")), f64::from(count), "{state}");
    }
    assert_eq!(metrics.value("koji_tag_ready_repo_timestamp_seconds{tag=\"base\"}"), 1_796_083_200.0);
    assert!(metrics.get("koji_tag_ready_repo_timestamp_seconds{tag=\"mid\"}").is_none(), "mid has no READY repo");
    assert_sql_counts(&metrics, &sql_counts(&db).await, "after the repo and build changes");
    assert_eq!(reads(&metrics, "full"), 1.0, "every change came through the change reads");
}

#[tokio::test]
async fn an_old_untagging_shows_up_at_the_full_recount() {
    let db = TestDb::with_fixture(Level::V1_35, "catalog_edge_cases").await;
    db.exec(PUSH_WINDOWS).await;
    let mut config = fast(&db);
    config.catalog.full_recount_interval_seconds = 3.0;
    let state = state_for(&config);
    scrape_until(&state, "a first recount", |_| true).await;

    // Untag b1 (bash-1) from base: its row was created at event 1, far below the event window,
    // and revoke_event has no index, so the change reads cannot see it.
    db.exec("insert into events (id) values (50001); update tag_listing set active = null, revoke_event = 50001, revoker_id = 1 where build_id = 1 and tag_id = 1 and active;").await;
    let untagged = Instant::now();
    let metrics = after_next_cycle(&state).await;
    let fulls = reads(&metrics, "full");
    if reads(&metrics, "changes") >= 1.0 && fulls == 1.0 {
        assert_eq!(
            metrics.value(&format!("koji_tag_direct_builds{}", tag("base"))),
            5.0,
            "stale until the full recount"
        );
    }
    // base 5 -> 4 direct and inherited; mid 6 -> 5 and child 8 -> 7 inherit it.
    let metrics = scrape_until(&state, "the full recount", |m| reads(m, "full") >= 2.0).await;
    for (name, direct, inherited) in [("base", 4, 4), ("mid", 2, 5), ("child", 1, 7)] {
        assert_eq!(metrics.value(&format!("koji_tag_direct_builds{}", tag(name))), f64::from(direct), "{name}");
        assert_eq!(metrics.value(&format!("koji_builds_per_tag{}", tag(name))), f64::from(inherited), "{name}");
    }
    assert!(untagged.elapsed() < Duration::from_secs(3) + Duration::from_secs(2), "within the full recount interval");
}
