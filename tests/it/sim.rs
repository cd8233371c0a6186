//! The `koji-sim` binary: it refuses a database that already has a schema, its fill meets the
//! scale's row counts and Koji's invariants at every schema level it is asked for, its live
//! simulation keeps those invariants while it changes the database, and without a scenario both
//! leave a site that looks healthy (builders within capacity and checking in, room to spare,
//! parents waiting only on running subtasks, a moving queue, the scheduler's tables written).
//!
//! "Terminal tasks never change state" and the other task rules are hub conventions, not database
//! constraints (shared/koji-reference.md §5.1), which is why they are checked here by query.

use std::process::{Command, Output};

use sqlx::{PgPool, Row};

use crate::support::{Level, TestDb, sim_binary};

async fn run(args: Vec<String>) -> Output {
    let bin = sim_binary();
    tokio::task::spawn_blocking(move || Command::new(bin).args(&args).output().expect("run koji-sim"))
        .await
        .expect("join koji-sim")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| (*arg).to_owned()).collect()
}

/// Queries that count rows breaking a rule; each must return 0.
const INVARIANTS: [(&str, &str); 14] = [
    (
        "completion_time is set exactly for terminal tasks",
        "select count(*) from task where (state in (2, 3, 5)) <> (completion_time is not null)",
    ),
    ("every task has a known state", "select count(*) from task where state is null or state not in (0, 1, 2, 3, 4, 5)"),
    ("OPEN tasks have a start_time and a host", "select count(*) from task where state = 1 and (start_time is null or host_id is null)"),
    ("ASSIGNED tasks have a host", "select count(*) from task where state = 4 and host_id is null"),
    ("FREE tasks have no host", "select count(*) from task where state = 0 and host_id is not null"),
    ("CLOSED and FAILED tasks started on a host", "select count(*) from task where state in (2, 5) and (start_time is null or host_id is null)"),
    (
        "times are in order",
        "select count(*) from task where start_time < create_time or completion_time < create_time
             or completion_time < start_time",
    ),
    ("only OPEN tasks wait", "select count(*) from task where waiting and state <> 1"),
    (
        "a finished parent has no unfinished subtask",
        "select count(*) from task c join task p on p.id = c.parent
         where p.state in (2, 3, 5) and c.state not in (2, 3, 5)",
    ),
    (
        "builds are tagged only when COMPLETE",
        "select count(*) from tag_listing l join build b on b.id = l.build_id where l.active and b.state <> 1",
    ),
    (
        "build completion_time is set exactly when not BUILDING",
        "select count(*) from build where (state = 0) <> (completion_time is null)",
    ),
    (
        "one active row per versioned key",
        "select (select count(*) from (select 1 from host_config where active group by host_id having count(*) > 1) a)
              + (select count(*) from (select 1 from tag_listing where active group by build_id, tag_id having count(*) > 1) b)
              + (select count(*) from (select 1 from tag_packages where active group by package_id, tag_id having count(*) > 1) c)
              + (select count(*) from (select 1 from host_channels where active group by host_id, channel_id having count(*) > 1) d)
              + (select count(*) from (select 1 from tag_config where active group by tag_id having count(*) > 1) e)",
    ),
    (
        "revoked rows carry their revoke event and revoker",
        "select (select count(*) from tag_listing where (active is null) <> (revoke_event is not null and revoker_id is not null))
              + (select count(*) from tag_listing where revoke_event < create_event)",
    ),
    ("host load is never negative", "select count(*) from host where task_load < 0"),
];

pub async fn broken_invariants(pool: &PgPool) -> Vec<String> {
    let mut broken = Vec::new();
    for (rule, sql) in INVARIANTS {
        let count: i64 = sqlx::query(sql).fetch_one(pool).await.unwrap_or_else(|e| panic!("{rule}: {e}")).get(0);
        if count != 0 {
            broken.push(format!("{rule}: {count} rows"));
        }
    }
    broken
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query(sql).fetch_one(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

#[tokio::test]
async fn create_refuses_a_database_with_a_schema() {
    let db = TestDb::new(Level::V1_35).await;
    let output = run(args(&["create", "--database.url", &db.url, "--scale", "tiny"])).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--force-existing-schema"), "{stderr}");
    assert_eq!(count(&db.writer, "select count(*) from task").await, 0);
}

#[tokio::test]
async fn tiny_fill_of_an_empty_database_meets_targets_and_invariants() {
    let db = TestDb::new(Level::V1_35).await;
    db.exec("drop schema public cascade; create schema public").await;
    let output = run(args(&["create", "--database.url", &db.url, "--scale", "tiny", "--seed", "7"])).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("filled scale tiny"), "{stdout}");

    let tasks = count(&db.writer, "select count(*) from task").await;
    assert!((9_500..=10_500).contains(&tasks), "{tasks} tasks");
    assert_eq!(count(&db.writer, "select count(*) from host").await, 10);
    assert_eq!(count(&db.writer, "select count(*) from tag_listing").await, 10_000);
    // Every state shows up, of tasks, builds and repos, and the history has revoked rows.
    assert_eq!(count(&db.writer, "select count(distinct state) from task").await, 6, "task states");
    assert_eq!(count(&db.writer, "select count(distinct state) from build").await, 5, "build states");
    assert_eq!(count(&db.writer, "select count(distinct state) from repo").await, 5, "repo states");
    assert!(count(&db.writer, "select count(*) from task where waiting").await > 0);
    assert!(count(&db.writer, "select count(*) from tag_listing where active is null").await > 0);
    assert!(count(&db.writer, "select count(*) from tag t where not exists (select 1 from tag_config c where c.tag_id = t.id and c.active)").await > 0);
    assert!(count(&db.writer, "select count(*) from tag_packages where blocked and active").await > 0);
    assert!(count(&db.writer, "select count(*) from repo_queue where active").await > 0);
    assert!(count(&db.writer, "select count(*) from sessions where expired").await > 0);
    let broken = broken_invariants(&db.writer).await;
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test]
async fn fill_is_deterministic_for_a_seed_and_fills_an_older_existing_schema() {
    let first = TestDb::new(Level::V1_32).await;
    let second = TestDb::new(Level::V1_32).await;
    for db in [&first, &second] {
        let output = run(args(&[
            "create",
            "--database.url",
            &db.url,
            "--scale",
            "tiny",
            "--schema-level",
            "1.32",
            "--force-existing-schema",
        ]))
        .await;
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let digest =
        "select md5(string_agg(concat_ws(',', id, state, method, host_id, parent, label, weight), ';' order by id))
                  from task";
    let a: String = sqlx::query(digest).fetch_one(&first.writer).await.unwrap().get(0);
    let b: String = sqlx::query(digest).fetch_one(&second.writer).await.unwrap().get(0);
    assert_eq!(a, b, "same seed, same tasks");
    let broken = broken_invariants(&first.writer).await;
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test]
async fn live_simulation_keeps_every_invariant() {
    let db = TestDb::new(Level::V1_35).await;
    db.exec("drop schema public cascade; create schema public").await;
    let output = run(args(&["create", "--database.url", &db.url, "--scale", "tiny"])).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    db.exec(
        "create table sim_terminal_before as
         select id, state, completion_time, result from task where state in (2, 3, 5)",
    )
    .await;
    let max_id_before = count(&db.writer, "select max(id)::int8 from task").await;
    let listings_before = count(&db.writer, "select count(*) from tag_listing").await;
    // The database was filled an hour ago: live must resume it with the hosts that were up then.
    db.exec("update host set update_time = update_time - interval '1 hour'").await;

    let output = run(args(&["live", "--database.url", &db.url, "--rate", "20", "--duration", "15"])).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let changed = count(
        &db.writer,
        "select count(*) from sim_terminal_before b join task t using (id)
         where t.state <> b.state or t.completion_time is distinct from b.completion_time
            or t.result is distinct from b.result",
    )
    .await;
    assert_eq!(changed, 0, "terminal tasks changed");
    assert_eq!(
        count(
            &db.writer,
            "select count(*) from sim_terminal_before b where not exists (select 1 from task t where t.id = b.id)"
        )
        .await,
        0
    );
    let broken = broken_invariants(&db.writer).await;
    assert!(broken.is_empty(), "{broken:#?}");

    // The simulation did move things: new tasks through every state, finished work, check-ins,
    // new tags, and ids skipped by rolled-back transactions.
    let new_tasks =
        count(&db.writer, "select count(*) from task where id > (select max(id) from sim_terminal_before)").await;
    assert!(new_tasks > 100, "{new_tasks} new tasks");
    let new_tasks_run = count(
        &db.writer,
        "select count(*) from task where id > (select max(id) from sim_terminal_before) and start_time is not null",
    )
    .await;
    assert!(new_tasks_run > 50, "only {new_tasks_run} of {new_tasks} new tasks were started by a host");
    assert!(
        count(&db.writer, "select count(*) from task where completion_time > now() - interval '20 seconds'").await > 20
    );
    assert!(
        count(&db.writer, "select count(*) from host where update_time > now() - interval '20 seconds'").await >= 5
    );
    assert!(count(&db.writer, "select count(*) from tag_listing").await > listings_before, "no build got tagged");
    assert!(count(&db.writer, "select count(*) from build where task_id > 0 and release like 'live%'").await > 0);
    let gaps: i64 = sqlx::query(
        "select count(*) from generate_series($1::int8, (select max(id) from task)) as g(id)
         where not exists (select 1 from task t where t.id = g.id)",
    )
    .bind(max_id_before + 1)
    .fetch_one(&db.writer)
    .await
    .unwrap()
    .get(0);
    assert!(gaps > 0, "rolled-back inserts leave id gaps");
}

/// Queries about a simulated site that must each return 0 while `live` runs without a scenario.
/// Each is one statement, so it sees one consistent snapshot.
const HEALTHY: [(&str, &str); 5] = [
    (
        "a ready builder reports a load within its capacity (kojid reports not ready when over)",
        "select count(*) from host h join host_config c on c.host_id = h.id and c.active and c.enabled
         where h.ready and h.task_load > c.capacity",
    ),
    (
        "no enabled builder is down (every one checked in within two check-in periods)",
        "select count(*) from host h join host_config c on c.host_id = h.id and c.active and c.enabled
         where h.update_time is null or h.update_time < now() - interval '30 seconds'",
    ),
    (
        // kojid wakes a parent on its next loop after the last subtask finished, so a parent may
        // still wait for a moment on finished subtasks, never longer.
        "a waiting parent has a subtask that is unfinished or finished within the last 10 s",
        "select count(*) from task p where p.state = 1 and p.waiting
         and not exists (select 1 from task c where c.parent = p.id
                         and (c.state in (0, 1, 4) or c.completion_time > now() - interval '10 seconds'))",
    ),
    (
        "an ASSIGNED or OPEN task's active scheduler run names the task's host",
        "select count(*) from scheduler_task_runs r join task t on t.id = r.task_id
         where r.active and t.state in (1, 4) and t.host_id <> r.host_id",
    ),
    (
        "some ready builder has room for another buildArch (1.5) by the load it reported",
        "select (count(*) filter (where h.ready and c.capacity - h.task_load >= 1.5) = 0)::int4::int8
         from host h join host_config c on c.host_id = h.id and c.active and c.enabled",
    ),
];

#[tokio::test]
async fn live_site_looks_healthy() {
    let db = TestDb::new(Level::V1_35).await;
    db.exec("drop schema public cascade; create schema public").await;
    let output = run(args(&["create", "--database.url", &db.url, "--scale", "tiny"])).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let assigned_before =
        count(&db.writer, "select count(*) from scheduler_log_messages where msg = 'Assigning task'").await;

    // `create` leaves a healthy site too.
    let mut broken = Vec::new();
    for (rule, sql) in HEALTHY {
        let n: i64 = sqlx::query(sql).fetch_one(&db.writer).await.unwrap_or_else(|e| panic!("{rule}: {e}")).get(0);
        if n != 0 {
            broken.push(format!("after create: {rule}: {n}"));
        }
    }

    // The default rate, no scenario; the site is sampled every second while it runs.
    let live = tokio::spawn(run(args(&["live", "--database.url", &db.url, "--duration", "20"])));
    let (mut samples, mut idle_seen, mut running_seen) = (0, 0, 0);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    while !live.is_finished() {
        samples += 1;
        for (rule, sql) in HEALTHY {
            let n: i64 = sqlx::query(sql).fetch_one(&db.writer).await.unwrap_or_else(|e| panic!("{rule}: {e}")).get(0);
            if n != 0 {
                broken.push(format!("sample {samples}: {rule}: {n}"));
            }
        }
        // A builder with room to spare: ready, at most half its capacity in use, by what it
        // reported and by the OPEN tasks it holds now. (The scheduler spreads work over every
        // builder that can take it, as kojihub's ranks hosts by load and task count, so on a
        // tiny site a builder running nothing at all is rare.)
        if count(
            &db.writer,
            "select count(*) from host h join host_config c on c.host_id = h.id and c.active and c.enabled
             where h.ready and h.task_load <= c.capacity / 2
               and (select coalesce(sum(t.weight), 0) from task t
                    where t.host_id = h.id and t.state = 1 and t.waiting is not true) <= c.capacity / 2",
        )
        .await
            > 0
        {
            idle_seen += 1;
        }
        if count(&db.writer, "select count(*) from task where state = 1 and waiting is not true").await > 0 {
            running_seen += 1;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let output = live.await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(broken.is_empty(), "{broken:#?}");
    assert!(samples >= 10, "{samples} samples");
    assert_eq!(running_seen, samples, "some task OPEN and not waiting in every sample");
    // Not in every sample: a burst of submissions may keep every builder above half for a
    // moment (the fill leaves one queued, and the machine may be slow), but not for long.
    assert!(
        idle_seen * 4 >= samples * 3,
        "a builder with half its capacity free in only {idle_seen} of {samples} samples"
    );

    // The work moved through the builders: buildArch subtasks ran on hosts and finished, and
    // the scheduler wrote what kojihub's writes.
    let arch_done = count(
        &db.writer,
        "select count(*) from task where method = 'buildArch' and state = 2 and host_id is not null
            and completion_time > now() - interval '30 seconds' and start_time < completion_time",
    )
    .await;
    assert!(arch_done > 5, "{arch_done} buildArch subtasks finished");
    let assigned = count(&db.writer, "select count(*) from scheduler_log_messages where msg = 'Assigning task'").await;
    assert!(assigned > assigned_before + 20, "{assigned_before} -> {assigned} assignment messages");
    let last_run = count(
        &db.writer,
        "select (extract(epoch from now()) - (data::text)::float8)::int8 from scheduler_sys_data where name = 'last_run_ts'",
    )
    .await;
    assert!((0..10).contains(&last_run), "last scheduler run {last_run} s ago");
    // The queue moves: nothing has waited in it for more than a minute.
    let oldest = count(
        &db.writer,
        "select coalesce(max(extract(epoch from now() - create_time)), 0)::int8 from task where state = 0",
    )
    .await;
    assert!(oldest < 60, "a FREE task waited {oldest} s");
    let broken = broken_invariants(&db.writer).await;
    assert!(broken.is_empty(), "{broken:#?}");
}
