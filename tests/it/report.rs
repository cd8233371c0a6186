//! `koji-exporter report` against `report_history.sql`: every number below is worked out by
//! hand from the fixture's rows (its header lists each task's load interval in the window), and
//! the CSV and JSON output is compared with the files in `tests/it/golden/`.
//!
//! The window is 2026-11-10 00:00 to 10:00 UTC; "hour h" means 2026-11-10 00:00 + h hours.

use std::process::{Command, Output, Stdio};

use indicatif::ProgressBar;
use koji_exporter::db::Database;
use koji_exporter::report::capacity::CapacityRow;
use koji_exporter::report::queue::Percentiles;
use koji_exporter::report::{self, Options, Outcome, Request};
use sqlx::Connection;

use crate::support::{Level, TestDb, repo_path};

const BIN: &str = env!("CARGO_BIN_EXE_koji-exporter");
/// 2026-11-10 00:00 UTC.
const T0: f64 = 1_794_268_800.0;
/// "Now" for the library tests: 2026-11-20 00:00 UTC, after the window.
const NOW: f64 = T0 + 10.0 * 86_400.0;
const HOUR: f64 = 3600.0;

fn options(report: &str, by: Option<&str>, top: usize) -> Options {
    let request = Request {
        report,
        since: "2026-11-10",
        until: "2026-11-10T10:00",
        by,
        format: "table",
        top,
        section: None,
        explain: false,
    };
    Options::parse(&request, NOW, 10).unwrap()
}

async fn gather(db: &TestDb, options: &Options) -> Outcome {
    let database = Database::connect_lazy(&db.config().database).unwrap();
    let mut conn = database.pool.acquire().await.unwrap();
    let features = database.features().unwrap();
    let mut tx = conn.begin_with("begin isolation level repeatable read read only").await.unwrap();
    let outcome = report::gather(&mut tx, &features, options, &ProgressBar::hidden()).await.unwrap();
    tx.commit().await.unwrap();
    outcome
}

/// Compares rendered output with a golden file; `UPDATE_GOLDEN_FILES=1` rewrites it.
#[track_caller]
fn golden(name: &str, actual: &str) {
    let path = repo_path(&format!("tests/it/golden/{name}"));
    if std::env::var_os("UPDATE_GOLDEN_FILES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

fn check_golden(name: &str, outcome: &Outcome, options: &Options) {
    let document = report::document(outcome, options);
    golden(&format!("{name}.csv"), &report::render::csv(&document));
    golden(&format!("{name}.json"), &report::render::json(&document));
}

fn row<'a>(rows: &'a [CapacityRow], key: &[&str]) -> &'a CapacityRow {
    rows.iter().find(|row| row.key == key).unwrap_or_else(|| panic!("no row {key:?} in {rows:#?}"))
}

/// Asserts (hosts, capacity, tasks, average, peak, peak hour, utilisation %, seconds at/over).
#[track_caller]
fn assert_capacity(row: &CapacityRow, expected: (u64, f64, u64, f64, f64, Option<f64>, Option<f64>, f64)) {
    let (hosts, capacity, tasks, average, peak, peak_at, utilisation, over) = expected;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert_eq!((row.hosts, row.capacity, row.tasks), (hosts, capacity, tasks), "{row:?}");
    assert!(close(row.load.average, average), "average {row:?}");
    assert!(close(row.load.peak, peak), "peak {row:?}");
    assert_eq!(row.load.peak_at, peak_at, "peak time {row:?}");
    match (row.utilisation, utilisation) {
        (Some(a), Some(b)) => assert!(close(a, b), "utilisation {row:?}"),
        (a, b) => assert_eq!(a, b, "utilisation {row:?}"),
    }
    assert!(close(row.load.at_or_over, over), "at/over {row:?}");
}

#[tokio::test]
async fn capacity_by_channel_arch_and_host() {
    let db = TestDb::with_fixture(Level::V1_35, "report_history").await;

    let by_channel = options("capacity", None, 20);
    let outcome = gather(&db, &by_channel).await;
    let Outcome::Capacity(rows) = &outcome else { panic!("{outcome:?}") };
    assert_eq!(rows.iter().map(|r| r.key[0].as_str()).collect::<Vec<_>>(), ["createrepo", "default", "image"]);
    // default, load by stretch: [0,1.5) 2.5 | [1.5,2) 4 | [2,3) 2 | [3,4) 2.5 | [4,4.25) 0.5 |
    // [4.25,5) 1.5 | [5,6) 4.5 | [6,7) 3.5 | [7,8) 1 | [8,9.5) 0.5 | [9.5,10) 1.5.
    // Per task: 5 + 4 + 3.75 + 1 + 1.75 + 6 + 0.5 = 22 load-hours over 10 h: 2.2 on average.
    // Capacity 3.5 (h-c is disabled): 2.2 / 3.5; at or over 3.5 in [1.5,2), [5,6), [6,7): 2.5 h.
    assert_capacity(
        row(rows, &["default"]),
        (2, 3.5, 7, 2.2, 4.5, Some(T0 + 5.0 * HOUR), Some(2.2 / 3.5 * 100.0), 2.5 * HOUR),
    );
    // createrepo: task 9 (weight 1) from hour 9; h-a counts here too, capacity 2.
    assert_capacity(row(rows, &["createrepo"]), (1, 2.0, 1, 0.1, 1.0, Some(T0 + 9.0 * HOUR), Some(5.0), 0.0));
    // image: only the disabled h-c.
    assert_capacity(row(rows, &["image"]), (0, 0.0, 0, 0.0, 0.0, None, None, 0.0));
    check_golden("capacity", &outcome, &by_channel);

    let outcome = gather(&db, &options("capacity", Some("arch"), 20)).await;
    let Outcome::Capacity(rows) = &outcome else { panic!("{outcome:?}") };
    // x86_64 in default: tasks 1, 4, 5, 7, 10 = 5 + 4 + 3.75 + 1.75 + 0.5 = 15 load-hours;
    // peak 0.5 + 2 + 1.5 = 4 in [1.5, 2), the only stretch at or over 3.5.
    assert_capacity(
        row(rows, &["default", "x86_64"]),
        (2, 3.5, 5, 1.5, 4.0, Some(T0 + 1.5 * HOUR), Some(1.5 / 3.5 * 100.0), 0.5 * HOUR),
    );
    // i686: only h-a builds it (capacity 2); task 8 weighs 3 from 5 to 7.
    assert_capacity(
        row(rows, &["default", "i686"]),
        (1, 2.0, 1, 0.6, 3.0, Some(T0 + 5.0 * HOUR), Some(30.0), 2.0 * HOUR),
    );
    // noarch: every enabled host; the build parent's 0.5 counts 3-4 and 7-8 only.
    assert_capacity(
        row(rows, &["default", "noarch"]),
        (2, 3.5, 1, 0.1, 0.5, Some(T0 + 3.0 * HOUR), Some(0.1 / 3.5 * 100.0), 0.0),
    );
    assert_capacity(row(rows, &["createrepo", "x86_64"]), (1, 2.0, 0, 0.0, 0.0, None, Some(0.0), 0.0));
    assert_eq!(rows.len(), 6, "default and createrepo × (i686, noarch, x86_64): {rows:#?}");

    let by_host = options("capacity", Some("host"), 20);
    let outcome = gather(&db, &by_host).await;
    let Outcome::Capacity(rows) = &outcome else { panic!("{outcome:?}") };
    // h-a: tasks 4 (2 × 2 h), 6 (0.5 × 2 h), 8 (3 × 2 h), 9 (1 × 1 h, createrepo) = 12 load-hours;
    // at or over 2 in [0,2) and [5,7).
    assert_capacity(row(rows, &["h-a"]), (1, 2.0, 4, 1.2, 3.0, Some(T0 + 5.0 * HOUR), Some(60.0), 4.0 * HOUR));
    // h-b: tasks 5 (1.5 × 2.5 h), 7 (1 × 1.75 h), 10 (1 × 0.5 h) = 6 load-hours; at 1.5 in [1.5,4).
    assert_capacity(
        row(rows, &["h-b"]),
        (1, 1.5, 3, 0.6, 1.5, Some(T0 + 1.5 * HOUR), Some(0.6 / 1.5 * 100.0), 2.5 * HOUR),
    );
    // h-c: disabled, no capacity, still running task 1 the whole window.
    assert_capacity(row(rows, &["h-c"]), (0, 0.0, 1, 0.5, 0.5, Some(T0), None, 0.0));
    check_golden("capacity_by_host", &outcome, &by_host);
}

#[tokio::test]
async fn queue_times_states_and_longest_waits() {
    let db = TestDb::with_fixture(Level::V1_35, "report_history").await;
    let by_method = options("queue", None, 3);
    let outcome = gather(&db, &by_method).await;
    let Outcome::Queue(queue) = &outcome else { panic!("{outcome:?}") };
    let key = |channel: &str, method: &str| vec![channel.to_owned(), method.to_owned()];
    let times: Vec<_> = queue.times.iter().map(|t| (t.key.clone(), t.started, t.wait, t.finished, t.run)).collect();
    let same = |x: f64| Some(Percentiles { p50: x, p90: x, p99: x, max: x });
    assert_eq!(
        times,
        [
            // Task 9 waited 1 h (created 8, started 9) and is still running.
            (key("createrepo", "newRepo"), 1, same(3600.0), 0, None),
            // Task 6: no wait, ran 5 h.
            (key("default", "build"), 1, same(0.0), 1, same(18_000.0)),
            // Waits of 7, 5, 8, 10: 900, 1800, 1800, 2700 s: p50 is rank 2, p90 and p99 rank 4.
            // Runs of 7, 8, 5, 4: 6300, 7200, 9000, 10800 s (task 4 started before the window
            // but finished in it; task 10 finished after it).
            (
                key("default", "buildArch"),
                4,
                Some(Percentiles { p50: 1800.0, p90: 2700.0, p99: 2700.0, max: 2700.0 }),
                4,
                Some(Percentiles { p50: 7200.0, p90: 10_800.0, p99: 10_800.0, max: 10_800.0 }),
            ),
        ]
    );
    let states: Vec<_> = queue.states.iter().map(|s| (s.key.clone(), s.closed, s.failed, s.canceled)).collect();
    assert_eq!(states, [(key("default", "build"), 1, 0, 0), (key("default", "buildArch"), 2, 1, 1)]);
    // Candidates: 9 (3600 s), 10 (2700), 5, 8 and 11 (still FREE: 9.5 to 10) at 1800, 7 (900), 6 (0).
    let waits: Vec<_> = queue.longest_waits.iter().map(|w| (w.task_id, w.wait, w.started.is_some())).collect();
    assert_eq!(waits, [(9, 3600.0, true), (10, 2700.0, true), (5, 1800.0, true)]);
    assert_eq!(queue.more_waits, 4);
    check_golden("queue", &outcome, &by_method);

    let outcome = gather(&db, &options("queue", Some("channel"), 20)).await;
    let Outcome::Queue(queue) = &outcome else { panic!("{outcome:?}") };
    let default = queue.times.iter().find(|t| t.key == ["default"]).unwrap();
    // Waits 0, 900, 1800, 1800, 2700: p50 is rank 3, p90 rank 5.
    assert_eq!(default.wait, Some(Percentiles { p50: 1800.0, p90: 2700.0, p99: 2700.0, max: 2700.0 }));
    let still_waiting = queue.longest_waits.iter().find(|w| w.task_id == 11).unwrap();
    assert_eq!((still_waiting.started, still_waiting.wait, still_waiting.created), (None, 1800.0, T0 + 9.5 * HOUR));
    assert_eq!(queue.longest_waits.len(), 7, "task 12 was created after the window");
}

#[tokio::test]
async fn hosts_tasks_failure_rate_and_busy_share() {
    let db = TestDb::with_fixture(Level::V1_35, "report_history").await;
    let hosts = options("hosts", None, 20);
    let outcome = gather(&db, &hosts).await;
    let Outcome::Hosts(rows) = &outcome else { panic!("{outcome:?}") };
    let got: Vec<_> = rows
        .iter()
        .map(|h| (h.name.as_str(), h.enabled, h.ready, h.busy, h.last_update, h.closed, h.failed, h.canceled))
        .collect();
    assert_eq!(
        got,
        [
            // h-a: 4 and 6 closed, 8 canceled; 3 closed before the window.
            ("h-a", true, true, false, Some(T0 + 10.0 * 86_400.0 + 9.0 * HOUR), 2, 0, 1),
            // h-b: 7 closed, 5 failed, 10 closed after the window; load 2.5 > capacity 1.5: busy.
            ("h-b", true, false, true, Some(T0 + 10.0 * 86_400.0 + 8.0 * HOUR), 1, 1, 0),
            ("h-c", false, false, false, None, 0, 0, 0),
        ]
    );
    let shares: Vec<_> = rows.iter().map(|h| (h.failure_rate, h.busy_seconds, h.busy_share)).collect();
    assert_eq!(
        shares,
        [
            // h-a busy [0,2) + [3,4) + [5,7) ∪ [7,8) + [9,10) = 7 h; the parent's wait 4-5 is idle.
            (Some(0.0), 7.0 * HOUR, 70.0),
            // h-b: [1.5,4) + [4.25,6) + [9.5,10) = 4.75 h.
            (Some(50.0), 4.75 * HOUR, 47.5),
            // h-c: the old task 1 for the whole window.
            (None, 10.0 * HOUR, 100.0),
        ]
    );
    check_golden("hosts", &outcome, &hosts);
}

#[tokio::test]
async fn builds_by_state_target_and_owner() {
    let db = TestDb::with_fixture(Level::V1_35, "report_history").await;
    let builds = options("builds", None, 20);
    let outcome = gather(&db, &builds).await;
    let Outcome::Builds(report) = &outcome else { panic!("{outcome:?}") };
    // In the window: 1 (COMPLETE), 3 (COMPLETE, import), 4 (CANCELED), 5 (FAILED), 8 (DELETED at
    // 00:00 exactly); 7 finished at 10:00 (excluded), 2 before, 6 is still BUILDING.
    let states: Vec<_> = report.by_state.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(states, [("complete", 2), ("deleted", 1), ("failed", 1), ("canceled", 1)]);
    let targets: Vec<_> = report
        .by_target
        .iter()
        .map(|t| (t.name.as_str(), t.total, t.complete, t.failed, t.canceled, t.other))
        .collect();
    assert_eq!(
        targets,
        [("(no task)", 2, 1, 0, 0, 1), ("f40-candidate", 2, 1, 0, 1, 0), ("f39-candidate", 1, 0, 1, 0, 0)]
    );
    let owners: Vec<_> = report.by_owner.iter().map(|o| (o.name.as_str(), o.total, o.complete, o.failed)).collect();
    assert_eq!(owners, [("bob", 3, 0, 1), ("alice", 2, 2, 0)]);
    check_golden("builds", &outcome, &builds);
}

#[tokio::test]
async fn tags_count_direct_content_of_live_tags() {
    let db = TestDb::with_fixture(Level::V1_32, "report_history").await;
    let tags = options("tags", None, 2);
    let outcome = gather(&db, &tags).await;
    let Outcome::Tags(rows) = &outcome else { panic!("{outcome:?}") };
    // f40: builds 1 and 3 (5 FAILED, 7 revoked), foo listed, bar blocked (baz revoked).
    // f40-build: build 1, three packages. f41 is third (empty); f39 is deleted.
    let got: Vec<_> = rows.iter().map(|t| (t.name.as_str(), t.builds, t.packages, t.blocked, t.live_tags)).collect();
    assert_eq!(got, [("f40", 2, 1, 1, 3), ("f40-build", 1, 3, 0, 3)]);
    check_golden("tags", &outcome, &tags);
}

/// Runs the binary with `args`, without the caller's `RUST_LOG` and `KOJI_EXPORTER_*` settings.
pub(crate) fn run(args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("RUST_LOG");
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("KOJI_EXPORTER_")) {
        command.env_remove(key);
    }
    command.output().expect("run koji-exporter")
}

#[tokio::test]
async fn the_binary_prints_tables_explains_and_refuses_bad_input() {
    let db = TestDb::with_fixture(Level::V1_35, "report_history").await;
    let url = db.url.clone();
    let window = ["--since", "2026-11-10", "--until", "2026-11-10T10:00"];
    let args = |extra: &[&str]| -> Vec<String> {
        let mut list = vec!["--database.url".to_owned(), url.clone(), "report".to_owned()];
        list.extend(extra.iter().map(|s| (*s).to_owned()));
        list
    };

    let output = tokio::task::spawn_blocking({
        let list = args(&[&["capacity"][..], &window[..]].concat());
        move || run(&list.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.starts_with("Capacity by channel (2026-11-10 00:00 – 2026-11-10 10:00 UTC, 10.0 h)\n"), "{table}");
    // default: 2 hosts, 3.5, 7 tasks, 2.2 avg, 4.5 peak, 63 %, 2.5 h at or over, peak at 05:00.
    assert!(
        table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["default", "2", "3.50", "7", "2.20", "4.50", "63", "%", "2.5", "h", "2026-11-10", "05:00"]),
        "{table}"
    );

    let output = tokio::task::spawn_blocking({
        let list = args(&[&["queue", "--explain"][..], &window[..]].concat());
        move || run(&list.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let plans = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success() && plans.contains("-- sql/report.sql: task_at_or_after"), "{plans}");
    assert!(plans.contains("-- sql/tasks.sql: created_after\n-- $1 = {"), "{plans}");

    // A reader that goes away early is not an error: the read end is closed before any output.
    let list = args(&["builds"]);
    let status = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN).args(&list).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    })
    .await
    .unwrap();
    assert_eq!(status, (Some(0), String::new()));

    for (extra, names) in [
        (vec!["capacity", "--since", "yesterday"], "--since \"yesterday\""),
        (vec!["capacity", "--since", "2026-11-10", "--until", "2026-11-01"], "is not before --until"),
        (vec!["capacity", "--by", "method"], "use one of channel, arch, host"),
        (vec!["builds", "--by", "host"], "takes no --by"),
        (vec!["nosuch"], "there is no report \"nosuch\""),
        (vec!["queue", "--format", "xml"], "use table, csv or json"),
        (vec!["queue", "--section", "tags"], "use one of times, states, longest_waits"),
    ] {
        let list = args(&extra);
        let output = tokio::task::spawn_blocking(move || run(&list.iter().map(String::as_str).collect::<Vec<_>>()))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{extra:?}: {stderr}");
        assert!(stderr.contains(names), "{extra:?}: {stderr}");
    }
}
