//! The tasks family: queue gauges, history totals from the full pass and from incremental
//! updates, restarts, and a randomized run of concurrent task life cycles checked against an
//! independent recount of the table.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use koji_exporter::http::AppState;

use crate::support::{Level, Metrics, TestDb, scrape, scrape_inventory, state_for};

/// Scrapes until the task history pass has finished, and returns that scrape.
pub async fn scrape_when_ready(state: &AppState) -> Metrics {
    let started = Instant::now();
    loop {
        let metrics = scrape(state).await;
        if metrics.get("koji_exporter_task_history_ready") == Some(1.0) {
            return metrics;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "task history never became ready:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if labels.is_empty() { name.to_owned() } else { format!("{name}{{{}}}", labels.join(",")) }
}

/// Counter series by (channel, method): created, closed, failed, canceled.
const EXPECTED_COUNTS: [(&str, &str, [u64; 4]); 7] = [
    ("default", "build", [4, 2, 0, 0]),
    ("default", "buildArch", [5, 1, 2, 0]),
    ("createrepo", "newRepo", [2, 0, 0, 1]),
    ("createrepo", "createrepo", [2, 0, 0, 1]),
    ("default", "tagBuild", [2, 0, 0, 0]),
    ("default", "tagNotification", [1, 1, 0, 0]),
    ("default", "", [1, 0, 0, 0]),
];

/// The inventory's per-tag counts of the same tasks: created, closed, failed. f40 is named by
/// build 20 (through its target) with its two buildArch subtasks, and by tagBuild 25; f40-build
/// by newRepo 23 (by id) and its createrepo subtask; the rest name no tag.
const EXPECTED_TAG_COUNTS: [(&str, [u64; 3]); 3] = [("", [11, 2, 1]), ("f40", [4, 2, 1]), ("f40-build", [2, 0, 0])];

/// Checks the inventory's per-tag task counts against [`EXPECTED_TAG_COUNTS`].
pub fn assert_fixture_tag_values(inventory: &Metrics) {
    for (name, index) in
        [("koji_tag_tasks_total", 0), ("koji_tag_task_succeed_total", 1), ("koji_tag_task_errors_total", 2)]
    {
        let expected: BTreeMap<String, f64> = EXPECTED_TAG_COUNTS
            .iter()
            .map(|(tag, counts)| (series(name, &[("tag", tag)]), counts[index] as f64))
            .collect();
        assert_eq!(inventory.family(name), expected, "{name}");
    }
}

/// Checks every task metric against the values worked out by hand for hosts_edge_cases.sql +
/// tasks_history.sql (see the comments in both files).
pub fn assert_fixture_values(metrics: &Metrics) {
    for (name, index) in [
        ("koji_tasks_total", 0),
        ("koji_task_succeed_total", 1),
        ("koji_task_errors_total", 2),
        ("koji_task_cancellations_total", 3),
    ] {
        let expected: BTreeMap<String, f64> = EXPECTED_COUNTS
            .iter()
            .map(|(channel, method, counts)| {
                (series(name, &[("channel", channel), ("method", method)]), counts[index] as f64)
            })
            .collect();
        assert_eq!(metrics.family(name), expected, "{name}");
    }
    for (channel, method, [_, closed, failed, canceled]) in EXPECTED_COUNTS {
        let name = series("koji_task_completions_total", &[("channel", channel), ("method", method)]);
        assert_eq!(metrics.value(&name), (closed + failed + canceled) as f64, "{name}");
    }

    let waiting: BTreeMap<String, f64> = [("build", ""), ("tagBuild", ""), ("", "")]
        .iter()
        .map(|(method, tag)| {
            (series("koji_waiting_tasks", &[("channel", "default"), ("method", method), ("tag", tag)]), 1.0)
        })
        .collect();
    assert_eq!(metrics.family("koji_waiting_tasks"), waiting);
    let in_progress: BTreeMap<String, f64> = [
        ("default", "build", 1.0),
        ("default", "buildArch", 2.0),
        ("createrepo", "newRepo", 1.0),
        ("createrepo", "createrepo", 1.0),
    ]
    .iter()
    .map(|(channel, method, n)| {
        (series("koji_in_progress_tasks", &[("channel", channel), ("method", method), ("tag", "")]), *n)
    })
    .collect();
    assert_eq!(metrics.family("koji_in_progress_tasks"), in_progress);
    let unfinished: BTreeMap<String, f64> = [
        ("default", "build", "waiting", 1.0),
        ("default", "build", "free", 1.0),
        ("default", "buildArch", "open", 2.0),
        ("createrepo", "newRepo", "waiting", 1.0),
        ("createrepo", "createrepo", "open", 1.0),
        ("default", "tagBuild", "assigned", 1.0),
        ("default", "", "free", 1.0),
    ]
    .iter()
    .map(|(channel, method, state, n)| {
        (series("koji_tasks_unfinished", &[("channel", channel), ("method", method), ("state", state)]), *n)
    })
    .collect();
    assert_eq!(metrics.family("koji_tasks_unfinished"), unfinished);
    let oldest = "koji_task_oldest_waiting_created_timestamp_seconds";
    assert_eq!(metrics.value(&series(oldest, &[("channel", "default"), ("arch", "noarch")])), 1_793_530_800.0);
    assert_eq!(metrics.value(&series(oldest, &[("channel", "default"), ("arch", "x86_64")])), 1_793_532_600.0);
    assert_eq!(metrics.family(oldest).len(), 2);

    // Wait (start - create) of finished tasks that started: 15: 5 s, 20: 10 s, 18: 5 s, 21: 30 s,
    // 22: 60 s, 24: 1 s. Run (completion - start): 15: 595, 20: 600, 18: 1195, 22: 60, 21: 300, 24: 3.
    let wait = |channel: &str, method: &str, suffix: &str| {
        metrics.value(&series(&format!("koji_task_wait_seconds_{suffix}"), &[("channel", channel), ("method", method)]))
    };
    assert_eq!((wait("default", "build", "count"), wait("default", "build", "sum")), (2.0, 15.0));
    assert_eq!((wait("default", "buildArch", "count"), wait("default", "buildArch", "sum")), (3.0, 95.0));
    assert_eq!((wait("createrepo", "createrepo", "count"), wait("createrepo", "createrepo", "sum")), (1.0, 1.0));
    assert_eq!(metrics.family("koji_task_wait_seconds_count").len(), 3);
    let bucket = |le: &str| {
        metrics.value(&format!("koji_task_wait_seconds_bucket{{le=\"{le}\",channel=\"default\",method=\"buildArch\"}}"))
    };
    assert_eq!(
        (bucket("1.0"), bucket("5.0"), bucket("30.0"), bucket("60.0"), bucket("+Inf")),
        (0.0, 1.0, 2.0, 3.0, 3.0)
    );
    let run = |method: &str, state: &str, suffix: &str| {
        let name = format!("koji_task_run_seconds_{suffix}");
        let channel = if method == "createrepo" { "createrepo" } else { "default" };
        metrics.value(&series(&name, &[("channel", channel), ("method", method), ("state", state)]))
    };
    assert_eq!((run("build", "closed", "count"), run("build", "closed", "sum")), (2.0, 1195.0));
    assert_eq!((run("buildArch", "failed", "count"), run("buildArch", "failed", "sum")), (2.0, 1255.0));
    assert_eq!((run("buildArch", "closed", "count"), run("buildArch", "closed", "sum")), (1.0, 300.0));
    assert_eq!((run("createrepo", "canceled", "count"), run("createrepo", "canceled", "sum")), (1.0, 3.0));
    assert_eq!(metrics.family("koji_task_run_seconds_count").len(), 4);

    let by_host: BTreeMap<String, f64> = [
        ("builder-a", "closed", 1.0),
        ("builder-a", "failed", 2.0),
        ("builder-b", "closed", 2.0),
        ("builder-e", "canceled", 1.0),
    ]
    .iter()
    .map(|(host, state, n)| (series("koji_host_finished_tasks_total", &[("host", host), ("state", state)]), *n))
    .collect();
    assert_eq!(metrics.family("koji_host_finished_tasks_total"), by_host);
}

#[tokio::test]
async fn the_full_pass_matches_the_hand_computed_values() {
    for level in [Level::V1_32, Level::V1_35] {
        let db = TestDb::with_fixture(level, "hosts_edge_cases").await;
        db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
        let state = state_for(&db.config());
        let metrics = scrape_when_ready(&state).await;
        assert_eq!(metrics.value("koji_exporter_collector_success{collector=\"tasks\"}"), 1.0);
        assert_fixture_values(&metrics);
        assert!(metrics.family("koji_tag_tasks_total").is_empty(), "per-tag counts are the inventory's");
        assert_fixture_tag_values(&scrape_inventory(&state).await);
    }
}

#[tokio::test]
async fn incremental_updates_reach_the_same_values() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let state = state_for(&db.config());
    let before = scrape_when_ready(&state).await;
    assert_eq!(before.value(&series("koji_tasks_total", &[("channel", "default"), ("method", "build")])), 3.0);
    // The history arrives after the full pass: the engine must take it in incrementally.
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    let after = scrape(&state).await;
    assert_fixture_values(&after);
    assert_fixture_tag_values(&scrape_inventory(&state).await);
    assert_eq!(after.value("koji_exporter_tasks_tracked"), 9.0, "8 non-terminal tasks and one in an unknown state");
}

#[tokio::test]
async fn a_restarted_exporter_continues_from_the_same_values() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let first = state_for(&db.config());
    scrape_when_ready(&first).await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    // A task finishes and a new one arrives while the first exporter runs.
    db.exec("update task set state = 2, completion_time = '2026-11-01 12:00:00+00' where id = 11").await;
    db.exec("insert into task (id, state, channel_id, owner, method, arch, create_time) values (28, 0, 2, 1, 'newRepo', 'noarch', '2026-11-01 12:00:00+00')").await;
    let running = scrape(&first).await;
    let restarted = scrape_when_ready(&state_for(&db.config())).await;
    for name in [
        "koji_tasks_total",
        "koji_task_completions_total",
        "koji_task_succeed_total",
        "koji_task_errors_total",
        "koji_task_cancellations_total",
        "koji_task_wait_seconds_bucket",
        "koji_task_run_seconds_bucket",
        "koji_task_run_seconds_sum",
        "koji_host_finished_tasks_total",
    ] {
        assert_eq!(running.family(name), restarted.family(name), "{name}");
    }
    let closed_build_arch = series("koji_task_succeed_total", &[("channel", "default"), ("method", "buildArch")]);
    assert_eq!(restarted.value(&closed_build_arch), 2.0, "task 11 closed, with task 21");
}

#[tokio::test]
async fn a_forced_reopen_and_a_sweep_are_corrected_by_reconciliation() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    let mut config = db.config();
    config.tasks.reconcile_interval_seconds = 1.0;
    let state = state_for(&config);
    scrape_when_ready(&state).await;

    // An admin forces the CLOSED task 15 back to ASSIGNED; koji-sweep-db deletes task 26.
    db.exec("update task set state = 4 where id = 15").await;
    db.exec("delete from task where id = 26").await;
    let started = Instant::now();
    let build = series("koji_task_succeed_total", &[("channel", "default"), ("method", "build")]);
    let notification = series("koji_tasks_total", &[("channel", "default"), ("method", "tagNotification")]);
    loop {
        let metrics = scrape(&state).await;
        // Task 20 (tag f40) stays CLOSED.
        if metrics.get(&build) == Some(1.0) && metrics.get(&notification).is_none_or(|n| n == 0.0) {
            assert_eq!(
                metrics
                    .value(&series("koji_waiting_tasks", &[("channel", "default"), ("method", "build"), ("tag", "")])),
                2.0
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not reconciled:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn side_tags_are_folded_into_other_unless_configured() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.exec(
        "insert into tag (id, name) values (40, 'f40-build-side-4242');
         insert into tag_config (tag_id, create_event, creator_id) values (40, 1, 1);
         insert into task (id, state, channel_id, owner, method, arch, request) values
         (40, 0, 2, 1, 'newRepo', 'noarch', '<methodCall><methodName>newRepo</methodName><params><param><value><string>f40-build-side-4242</string></value></param></params></methodCall>')",
    )
    .await;
    let state = state_for(&db.config());
    scrape_when_ready(&state).await;
    let folded = scrape_inventory(&state).await;
    let series = |tag: &str| series("koji_tag_tasks_total", &[("tag", tag)]);
    assert_eq!(folded.value(&series("other")), 1.0, "the default tasks.tag_exclude folds side tags");
    assert!(folded.get(&series("f40-build-side-4242")).is_none());

    let mut config = db.config();
    config.tasks.tag_exclude.clear();
    let state = state_for(&config);
    scrape_when_ready(&state).await;
    assert_eq!(scrape_inventory(&state).await.value(&series("f40-build-side-4242")), 1.0);
}

/// A request as the hub's make_task writes it (Python's xmlrpc dumps of the arguments).
fn hub_request(method: &str, params: &[&str]) -> String {
    let params: String = params.iter().map(|p| format!("<param>\n<value>{p}</value>\n</param>\n")).collect();
    format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n{params}</params>\n</methodCall>\n"
    )
}

/// Every value the `tag` label of a family takes.
fn tag_values(metrics: &Metrics, name: &str) -> std::collections::BTreeSet<String> {
    metrics
        .family(name)
        .keys()
        .map(|series| series.split("tag=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn only_live_tags_become_label_values() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    // 10,000 top-level tasks naming 10,000 different tags that do not exist, in the argument
    // positions of four methods, as the hub encodes them.
    let methods = [("newRepo", 0), ("tagBuild", 0), ("build", 1), ("buildSRPMFromSCM", 1)];
    let mut values = Vec::new();
    for n in 0..10_000usize {
        let (method, position) = methods[n % methods.len()];
        let named = format!("<string>purged-{n}</string>");
        let mut params = vec!["<string>git+https://src.example.org/rpms/foo.git#1a2b</string>"; position];
        params.push(&named);
        params.push("<struct>\n</struct>");
        let request = hub_request(method, &params).replace('\'', "''");
        values.push(format!("({}, 2, 1, 1, '{method}', 'noarch', '{request}')", 1000 + n));
    }
    // Live tags keep their names, by name or by id; the deleted f39 and an id no tag has do not.
    let live = [
        (20_001, "newRepo", hub_request("newRepo", &["<string>f40-build</string>", "<nil/>"])),
        (20_002, "tagBuild", hub_request("tagBuild", &["<int>2</int>", "<int>7</int>"])),
        (20_003, "newRepo", hub_request("newRepo", &["<string>f39</string>", "<nil/>"])),
        (20_004, "tagBuild", hub_request("tagBuild", &["<int>999</int>", "<int>7</int>"])),
    ];
    for (id, method, request) in &live {
        values.push(format!("({id}, 2, 1, 1, '{method}', 'noarch', '{}')", request.replace('\'', "''")));
    }
    db.exec(&format!(
        "insert into task (id, state, channel_id, owner, method, arch, request) values {}; select setval('task_id_seq', 20004)",
        values.join(",\n")
    ))
    .await;

    let state = state_for(&db.config());
    let operational = scrape_when_ready(&state).await;
    let metrics = scrape_inventory(&state).await;
    for name in ["koji_tag_tasks_total", "koji_tag_task_succeed_total"] {
        let tags = tag_values(&metrics, name);
        assert_eq!(tags, ["", "f40", "f40-build", "other"].map(str::to_owned).into(), "label values of {name}");
    }
    // The fixture's 11 tasks without a tag and 6 under f40 and f40-build; the 10,000 junk names,
    // the deleted f39 and the unknown id under other; f40-build by name and by id.
    let tasks = |tag: &str| metrics.value(&series("koji_tag_tasks_total", &[("tag", tag)]));
    assert_eq!(tasks("other"), 10_002.0);
    assert_eq!(tasks("f40-build"), 2.0 + 2.0);
    assert_eq!(tasks("f40"), 4.0);
    assert_eq!(metrics.value(&series("koji_tag_task_succeed_total", &[("tag", "other")])), 10_002.0);
    let by_tag: f64 = metrics.family("koji_tag_tasks_total").values().sum();
    let total: f64 = operational.family("koji_tasks_total").values().sum();
    assert_eq!(by_tag, total, "the per-tag view sums to the counters");
    assert_eq!(
        operational.value(&series("koji_tasks_total", &[("channel", "default"), ("method", "newRepo")])),
        2_502.0
    );
}

/// Per method, the number of tasks and of CLOSED ones, counted in the database by the test.
async fn recount_by_method(db: &TestDb) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("select coalesce(method, ''), count(*), count(*) filter (where state = 2) from task group by 1")
            .fetch_all(&db.writer)
            .await
            .unwrap();
    let created = rows.iter().map(|(method, n, _)| (method.clone(), *n as f64)).collect();
    let closed = rows.iter().filter(|(_, _, n)| *n > 0).map(|(method, _, n)| (method.clone(), *n as f64)).collect();
    (created, closed)
}

/// A counter family summed per method over channel and tag, leaving out zero sums.
fn by_method(metrics: &Metrics, name: &str) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for (series, value) in metrics.family(name) {
        let method = series.split("method=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("");
        *sums.entry(method.to_owned()).or_insert(0.0) += value;
    }
    sums.retain(|_, sum| *sum > 0.0);
    sums
}

/// Scrapes until the totals per method agree with the database, or fails after 20 s.
async fn assert_totals_converge(db: &TestDb, state: &AppState) {
    let (created, closed) = recount_by_method(db).await;
    let started = Instant::now();
    loop {
        let metrics = scrape(state).await;
        let ready = metrics.get("koji_exporter_task_history_ready") == Some(1.0);
        if ready
            && by_method(&metrics, "koji_tasks_total") == created
            && by_method(&metrics, "koji_task_succeed_total") == closed
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "totals never matched the database: created {:?} vs {created:?}, closed {:?} vs {closed:?}",
            by_method(&metrics, "koji_tasks_total"),
            by_method(&metrics, "koji_task_succeed_total"),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The task history fixture, scraped until its totals are ready, with a reconciliation interval
/// far longer than a test: only the engine's own checks can start a recount.
async fn history_without_reconciliation() -> (TestDb, AppState) {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    let mut config = db.config();
    config.tasks.reconcile_interval_seconds = 86_400.0;
    let state = state_for(&config);
    scrape_when_ready(&state).await;
    (db, state)
}

#[tokio::test]
async fn task_ids_reused_after_a_restore_are_noticed_and_recounted() {
    let (db, state) = history_without_reconciliation().await;
    assert_totals_converge(&db, &state).await;

    // A restore from a backup taken before tasks 26 and 27 existed; the hub then hands out
    // the same ids again, to other tasks.
    db.exec("delete from task where id in (26, 27)").await;
    db.exec(
        "insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, owner, method, arch, request) values
         (26, 2, '2026-11-02 08:00:00+00', '2026-11-02 08:00:05+00', '2026-11-02 08:03:00+00', 2, 5, 1, 'newRepo', 'noarch',
          '<?xml version=''1.0''?><methodCall><methodName>newRepo</methodName><params><param><value><int>3</int></value></param></params></methodCall>'),
         (27, 2, '2026-11-02 08:10:00+00', '2026-11-02 08:10:05+00', '2026-11-02 08:20:00+00', 2, 5, 1, 'newRepo', 'noarch',
          '<?xml version=''1.0''?><methodCall><methodName>newRepo</methodName><params><param><value><int>3</int></value></param></params></methodCall>')",
    )
    .await;
    assert_totals_converge(&db, &state).await;
}

#[tokio::test]
async fn task_ids_that_went_backwards_are_noticed_and_recounted() {
    let (db, state) = history_without_reconciliation().await;

    // A failover to a replica that had not yet received the newest tasks: the CLOSED
    // tagNotification task 26 and the FREE task 27 never happened there.
    db.exec("delete from task where id in (26, 27)").await;
    db.exec("select setval('task_id_seq', 25)").await;
    assert_totals_converge(&db, &state).await;
}
