//! The aggregated history pass (the server adds up the finished tasks) against the row-by-row
//! pass it replaced, on a history with a bit of everything: subtasks three levels deep under
//! tag-bearing and other top-level tasks, every state, a state code Koji does not define and
//! none, missing and infinite times, times on the bucket bounds, negative durations, a subtask
//! whose parent was deleted, a loop of parents, and missing ids deep down and near the top.

use koji_exporter::collect::tasks::Engine;
use koji_exporter::collect::tasks::aggregate::{Aggregates, Histogram};
use koji_exporter::collect::tasks::attribution::Attributor;
use koji_exporter::config::Config;
use sqlx::{Connection, PgConnection};

use crate::support::{Level, TestDb};

/// Fills the task table: 1 200 top-level tasks (ids from 1000 up), their subtasks, and then the
/// odd cases. Every choice is a function of the id, so a failure can be repeated.
const HISTORY: &str = r#"
alter table task drop constraint task_parent_fkey;
create temporary table kinds (k int, method text, request text);
insert into kinds values
  (0, 'build', '<param><value><string>git</string></value></param><param><value><string>f40-candidate</string></value></param>'),
  (1, 'build', '<param><value><string>git</string></value></param><param><value><string>f39-candidate</string></value></param>'),
  (2, 'build', '<param><value><string>git</string></value></param><param><value><string>no-such-target</string></value></param>'),
  (3, 'newRepo', '<param><value><int>2</int></value></param>'),
  (4, 'newRepo', '<param><value><struct><member><name>id</name><value><int>1</int></value></member><member><name>name</name><value><string>f40</string></value></member></struct></value></param>'),
  (5, 'waitrepo', '<param><value><string>f40-build-side-77</string></value></param>'),
  (6, 'tagBuild', '<param><value><int>3</int></value></param><param><value><int>5</int></value></param>'),
  (7, 'tagNotification', '<param><value><nil/></value></param>'),
  (8, 'runroot', '<param><value><string>f40</string></value></param>'),
  (9, null, null),
  (10, 'build', null),
  (11, 'newRepo', 'not xml');
-- Durations (seconds) that sit on bucket bounds, between them, below zero and beyond the last.
create temporary table spans (s int, wait float8, run float8);
insert into spans values (0, 1, 10), (1, 5, 30), (2, 0.25, 259200), (3, -3, -7), (4, 86400, 3600),
  (5, 86400.5, 1e7), (6, 15, 480.125), (7, 0, 0), (8, 3600, 14400), (9, 7.75, 11);
insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, parent, owner, method, arch, request)
select id,
       (array[2, 2, 2, 3, 5, 5, 0, 1, 4, 7, null, 2, 3])[1 + id % 13],
       create_time,
       case when id % 7 = 3 then null else create_time + make_interval(secs => sp.wait) end,
       case when id % 11 = 5 then null
            else create_time + make_interval(secs => sp.wait) + make_interval(secs => sp.run) end,
       1 + id % 3, case when id % 5 = 0 then null else 1 + id % 5 end, null, 1, k.method, 'noarch',
       case when k.request is not null
            then '<methodCall><methodName>' || k.method || '</methodName><params>' || k.request || '</params></methodCall>' end
from (select id, timestamptz '2026-10-01 00:00:00+00' + make_interval(secs => id * 37) as create_time
      from generate_series(1000, 2199) as id) as t
join kinds k on k.k = t.id % 12
join spans sp on sp.s = (t.id / 12) % 10;
-- Subtasks: two per top-level task at the first level, one below every third of those, one
-- more below every second of those; states and times vary as above.
insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, parent, owner, method, arch, label)
select p.id * 10 + n, (array[2, 5, 3, 2, 0, 1, 4, null, 9])[1 + (p.id + n) % 9], p.create_time,
       case when (p.id + n) % 6 = 1 then null else p.create_time + make_interval(secs => 2 * n + (p.id % 400)) end,
       case when (p.id + n) % 8 = 2 then null else p.create_time + make_interval(secs => 3 * n + (p.id % 9000)) end,
       p.channel_id, 1 + (p.id + n) % 5, p.id, 1, (array['buildArch', 'createrepo', 'tagBuild'])[1 + n], 'x86_64', 'l' || n
from task p, generate_series(1, 2) as n
where p.id between 1000 and 2199;
insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, parent, owner, method, arch, label)
select p.id * 10 + 5, (array[2, 3, 5, 1])[1 + p.id % 4], p.create_time, p.start_time, p.completion_time,
       p.channel_id, p.host_id, p.id, 1, 'createImage', 'x86_64', 'deep'
from task p where p.id between 10000 and 21999 and p.id % 3 = 0;
insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, parent, owner, method, arch, label)
select 300000 + p.id, (array[2, 5, 0])[1 + p.id % 3], p.create_time, p.start_time, p.completion_time,
       p.channel_id, null, p.id, 1, 'buildArch', 'x86_64', 'deeper'
from task p where p.label = 'deep' and p.id % 2 = 0;
-- Infinite times: a wait and a run of infinity, and infinity minus infinity.
insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, owner, method, arch) values
  (2300, 2, '2026-11-01 00:00:00+00', 'infinity', 'infinity', 1, 2, 1, 'runroot', 'noarch'),
  (2301, 5, '2026-11-01 00:00:00+00', '2026-11-01 00:00:10+00', 'infinity', 1, 2, 1, 'runroot', 'noarch'),
  (2302, 3, 'infinity', 'infinity', 'infinity', 2, 3, 1, 'runroot', 'noarch');
-- A subtask whose parent was deleted (koji-sweep-db), and its own subtask; a loop of parents.
insert into task (id, state, create_time, channel_id, owner, method, arch, request) values
  (2310, 2, '2026-11-01 00:00:00+00', 1, 1, 'build', 'noarch',
   '<methodCall><methodName>build</methodName><params><param><value><string>git</string></value></param><param><value><string>f40-candidate</string></value></param></params></methodCall>');
insert into task (id, state, create_time, completion_time, channel_id, owner, method, arch, parent, label) values
  (2311, 2, '2026-11-01 00:00:00+00', '2026-11-01 00:01:00+00', 1, 1, 'buildArch', 'x86_64', 2310, 'a'),
  (2312, 5, '2026-11-01 00:00:00+00', '2026-11-01 00:01:00+00', 1, 1, 'buildArch', 'x86_64', 2311, 'a'),
  (2320, 2, '2026-11-01 00:00:00+00', '2026-11-01 00:01:00+00', 1, 1, 'buildArch', 'x86_64', 2321, 'a'),
  (2321, 3, '2026-11-01 00:00:00+00', '2026-11-01 00:01:00+00', 1, 1, 'buildArch', 'x86_64', 2320, 'b');
delete from task where id = 2310;
-- Missing ids: a stretch deep down, and three of the newest tasks (ids below the newest).
delete from task where id between 1500 and 1520;
delete from task where id in (select id from task order by id desc offset 1 limit 3);
select setval('task_id_seq', (select max(id) from task));
"#;

async fn pass(db: &TestDb, config: &Config, row_by_row: bool) -> Engine {
    let settings = koji_exporter::startup::collect_settings(config).unwrap().tasks;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let mut tx = conn.begin_with(koji_exporter::db::BEGIN_SNAPSHOT).await.unwrap();
    let mut attributor = Attributor::default();
    let engine = if row_by_row {
        Engine::from_history_row_by_row(&mut tx, &mut attributor, &settings).await
    } else {
        Engine::from_history(&mut tx, &mut attributor, &settings).await
    };
    tx.commit().await.unwrap();
    engine.unwrap()
}

/// Sums of histograms may differ by the rounding of a different order of addition: at most
/// one rounding per observation, relative to the sum (every observation is >= 0).
fn same_sum(a: f64, b: f64, observations: u64) -> bool {
    a == b || (a - b).abs() <= 2.0 * (observations as f64 + 1.0) * f64::EPSILON * a.abs().max(b.abs())
}

fn assert_same_histograms<K: Ord + std::fmt::Debug>(
    fast: &std::collections::BTreeMap<K, Histogram>,
    reference: &std::collections::BTreeMap<K, Histogram>,
    what: &str,
) {
    assert_eq!(fast.keys().collect::<Vec<_>>(), reference.keys().collect::<Vec<_>>(), "{what} series");
    for (key, histogram) in reference {
        let got = &fast[key];
        assert_eq!(got.counts, histogram.counts, "{what} {key:?} buckets");
        assert!(
            same_sum(got.sum, histogram.sum, histogram.count()),
            "{what} {key:?} sum {} against {}",
            got.sum,
            histogram.sum
        );
    }
}

fn assert_same_totals(fast: &Aggregates, reference: &Aggregates, context: &str) {
    assert_eq!(fast.by_method, reference.by_method, "{context}: counters by channel and method");
    assert_eq!(fast.by_tag, reference.by_tag, "{context}: counters by tag");
    assert_eq!(fast.host_finished, reference.host_finished, "{context}: tasks by host");
    assert_same_histograms(&fast.wait, &reference.wait, &format!("{context}: wait"));
    assert_same_histograms(&fast.run, &reference.run, &format!("{context}: run"));
}

#[tokio::test]
async fn the_aggregated_pass_equals_the_row_by_row_pass() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    sqlx::raw_sql(HISTORY).execute(&db.writer).await.unwrap();

    let mut only_some_methods = db.config();
    only_some_methods.tasks.methods = vec!["build".into(), "buildArch".into(), "newRepo".into()];
    let mut without_tags = db.config();
    without_tags.tasks.tag_label = false;
    let mut every_tag = db.config();
    every_tag.tasks.tag_exclude.clear();
    for (name, config) in
        [("defaults", db.config()), ("methods", only_some_methods), ("no tag", without_tags), ("all tags", every_tag)]
    {
        let fast = pass(&db, &config, false).await;
        let reference = pass(&db, &config, true).await;
        assert_same_totals(&fast.aggregates, &reference.aggregates, name);
        assert_eq!(fast.max_seen(), reference.max_seen(), "{name}: highest id");
        assert_eq!(fast.tracked(), reference.tracked(), "{name}: tracked tasks");
        assert_eq!(fast.gap_ids(), reference.gap_ids(), "{name}: missing ids");
        assert!(!fast.needs_reconcile);
    }

    // The history is what it claims to be: tags inherited two and three levels down, every
    // final state, unfinished ones, missing ids near the top.
    let fast = pass(&db, &db.config(), false).await;
    let tagged = fast.aggregates.by_tag.get("f40").map_or(0, |counts| counts.created);
    assert!(tagged > 0, "subtasks of subtasks take their top-level task's tag");
    let total: u64 = fast.aggregates.by_method.values().map(|counts| counts.created).sum();
    let rows: i64 = sqlx::query_scalar("select count(*) from task").fetch_one(&db.writer).await.unwrap();
    assert_eq!(total, rows as u64);
    assert!(fast.tracked().len() > 300, "{} tracked", fast.tracked().len());
    let newest: Vec<i32> =
        sqlx::query_scalar("select id from task order by id desc limit 1").fetch_all(&db.writer).await.unwrap();
    assert_eq!(fast.max_seen(), newest[0]);
    assert!(!fast.gap_ids().is_empty() && !fast.gap_ids().contains(&1510));
    assert!(fast.aggregates.wait.values().any(|h| h.sum.is_infinite()), "an infinite wait");
}

#[tokio::test]
async fn the_aggregated_pass_of_an_empty_history_is_empty() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.exec("delete from task").await;
    let fast = pass(&db, &db.config(), false).await;
    let reference = pass(&db, &db.config(), true).await;
    assert_eq!(fast.aggregates, reference.aggregates);
    assert_eq!((fast.max_seen(), fast.tracked().len(), fast.gap_ids().len()), (0, 0, 0));
}
