//! A randomized run of concurrent task life cycles through real transactions, including
//! commits out of id order and rollbacks, with scrapes in between; afterwards every task counter
//! and histogram must equal a recount of the table done here, independently of the exporter.
//!
//! Each worker has its own generator, derived from the run's seed (`TASK_CHURN_SEED` overrides
//! it), and changes only tasks it created, along transitions the hub allows (FREE -> ASSIGNED ->
//! OPEN -> CLOSED/FAILED, ASSIGNED -> FREE, any unfinished state -> CANCELED with its subtasks; a
//! parent closes only after its subtasks). Every change names the state it moves from, as the
//! hub's do, and must apply: a finished task is never finished again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use koji_exporter::http::AppState;
use sqlx::PgPool;

use crate::support::{Level, Metrics, TestDb, scrape, scrape_inventory, state_for};
use crate::tasks::scrape_when_ready;

/// A small deterministic generator, so a failing run can be repeated with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Top-level methods the test creates, with the request it writes and the tag that request
/// names (worked out here, not by the exporter's parser).
const KINDS: [(&str, &str, &str); 4] = [
    (
        "build",
        "<param><value><string>src</string></value></param><param><value><string>f40-candidate</string></value></param>",
        "f40",
    ),
    ("newRepo", "<param><value><string>f40-build</string></value></param>", "f40-build"),
    ("tagBuild", "<param><value><int>1</int></value></param><param><value><int>9</int></value></param>", "f40"),
    ("buildArch", "<param><value><string>x</string></value></param>", ""),
];

/// The tag each top-level task the test created names.
type Tags = Arc<Mutex<HashMap<i32, String>>>;

async fn insert_task(executor: impl sqlx::PgExecutor<'_>, rng: &mut Rng, parent: Option<(i32, i32)>) -> (i32, String) {
    let (method, params, tag) = KINDS[rng.below(KINDS.len() as u64) as usize];
    let (method, channel, request) = match parent {
        Some((_, channel)) => ("buildArch", channel, None),
        None => (
            method,
            1 + rng.below(2) as i32,
            Some(format!("<methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>")),
        ),
    };
    let age = rng.below(5000) as f64 + 0.25;
    let id: i32 = sqlx::query_scalar(
        "insert into task (state, create_time, channel_id, parent, owner, method, arch, request)
         values (0, now() - make_interval(secs => $1), $2, $3, 1, $4, 'x86_64', $5) returning id",
    )
    .bind(age)
    .bind(channel)
    .bind(parent.map(|(id, _)| id))
    .bind(method)
    .bind(request)
    .fetch_one(executor)
    .await
    .unwrap();
    (id, if parent.is_some() { String::new() } else { tag.to_owned() })
}

/// A task a worker created (or was handed), as the worker last wrote it.
struct Owned {
    id: i32,
    state: i32,
    channel: i32,
    top_level: bool,
    children: Vec<i32>,
}

/// One state change, applied only if the task is still in the state the worker read, as the
/// hub's `Task` methods do (they check the current state before writing). Every worker owns a
/// disjoint set of tasks, so the guard must always hold: a change that does not apply means a
/// second writer touched the task, and the test says so instead of counting a task twice.
async fn change(conn: &mut sqlx::PgConnection, task: &mut Owned, to: i32, secs: f64) {
    let set = match to {
        4 => "state = 4, host_id = 1 + (id % 5)",
        // Task.free: back to FREE without a host; start_time is kept.
        0 => "state = 0, host_id = null",
        1 => "state = 1, start_time = create_time + make_interval(secs => $3)",
        _ => "state = $4, completion_time = coalesce(start_time, create_time) + make_interval(secs => $3)",
    };
    let sql = format!("update task set {set} where id = $1 and state = $2");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(task.id)
        .bind(task.state)
        .bind(secs)
        .bind(to)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        done.rows_affected(),
        1,
        "task {} was no longer in state {} when its owner moved it",
        task.id,
        task.state
    );
    task.state = to;
}

fn terminal(state: i32) -> bool {
    matches!(state, 2 | 3 | 5)
}

/// One worker: its own generator (seeded from the run's seed and its number) and its own tasks,
/// so what it does depends on nothing but its seed; only the interleaving with the other
/// workers, and so the ids, vary between runs.
async fn worker(url: String, state: AppState, tags: Tags, seed: u64, handed: Vec<i32>) {
    use sqlx::{Connection, PgConnection};
    // Two connections of its own: the out-of-order case holds two transactions at once.
    let mut pool = PgConnection::connect(&url).await.unwrap();
    let mut other = PgConnection::connect(&url).await.unwrap();
    let mut rng = Rng(seed);
    let mut mine: Vec<Owned> = Vec::new();
    for id in handed {
        let (task_state, channel, parent): (i32, i32, Option<i32>) =
            sqlx::query_as("select state, channel_id, parent from task where id = $1")
                .bind(id)
                .fetch_one(&mut pool)
                .await
                .unwrap();
        mine.push(Owned { id, state: task_state, channel, top_level: parent.is_none(), children: Vec::new() });
    }
    for _ in 0..60 {
        let live: Vec<usize> = (0..mine.len()).filter(|&i| !terminal(mine[i].state)).collect();
        let pick = (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize]);
        match rng.below(10) {
            0..=2 => {
                let (id, tag) = insert_task(&mut pool, &mut rng, None).await;
                tags.lock().unwrap().insert(id, tag);
                mine.push(Owned { id, state: 0, channel: 0, top_level: true, children: Vec::new() });
                mine.last_mut().unwrap().channel = sqlx::query_scalar("select channel_id from task where id = $1")
                    .bind(id)
                    .fetch_one(&mut pool)
                    .await
                    .unwrap();
            }
            3 => {
                // A subtask of a running top-level task (host.subtask); its tag comes from its
                // parent, which the recount follows itself.
                let Some(i) = pick.filter(|&i| mine[i].top_level && mine[i].state == 1) else { continue };
                let (id, _) = insert_task(&mut pool, &mut rng, Some((mine[i].id, mine[i].channel))).await;
                mine[i].children.push(id);
                let channel = mine[i].channel;
                mine.push(Owned { id, state: 0, channel, top_level: false, children: Vec::new() });
            }
            4..=6 => {
                let Some(i) = pick else { continue };
                let secs = rng.below(4000) as f64 / 3.0;
                let to = match mine[i].state {
                    0 => 4,
                    // An assigned task is opened, or now and then freed again (a refusal).
                    4 => [1, 1, 1, 0][rng.below(4) as usize],
                    // OPEN: closed or failed by its host, or canceled.
                    _ => [2, 2, 5, 3][rng.below(4) as usize],
                };
                // A parent closes or fails only once its subtasks are done (the builder waits
                // for them); until then only a cancel may end it.
                let unfinished = mine[i].children.iter().any(|c| mine.iter().any(|t| t.id == *c && !terminal(t.state)));
                if matches!(to, 2 | 5) && unfinished {
                    continue;
                }
                change(&mut pool, &mut mine[i], to, secs).await;
                if to == 3 {
                    cancel_children(&mut pool, &mut mine, i, secs).await;
                }
            }
            7 => {
                // A user cancels (Task.cancel): the task and its unfinished subtasks.
                let Some(i) = pick else { continue };
                change(&mut pool, &mut mine[i], 3, 0.0).await;
                cancel_children(&mut pool, &mut mine, i, 0.0).await;
            }
            8 => {
                // Two transactions that commit out of id order, with a scrape in between.
                let mut first = pool.begin().await.unwrap();
                let (first_id, first_tag) = insert_task(&mut *first, &mut rng, None).await;
                let mut second = other.begin().await.unwrap();
                let (second_id, second_tag) = insert_task(&mut *second, &mut rng, None).await;
                second.commit().await.unwrap();
                tags.lock().unwrap().insert(second_id, second_tag);
                scrape(&state).await;
                first.commit().await.unwrap();
                tags.lock().unwrap().insert(first_id, first_tag);
                for id in [first_id, second_id] {
                    let channel: i32 = sqlx::query_scalar("select channel_id from task where id = $1")
                        .bind(id)
                        .fetch_one(&mut pool)
                        .await
                        .unwrap();
                    mine.push(Owned { id, state: 0, channel, top_level: true, children: Vec::new() });
                }
            }
            _ => {
                // An insert that rolls back: its id never appears.
                let mut tx = pool.begin().await.unwrap();
                insert_task(&mut *tx, &mut rng, None).await;
                scrape(&state).await;
                tx.rollback().await.unwrap();
            }
        }
    }
}

/// The cancel of task `i` cascades to its unfinished subtasks, each guarded like any change.
async fn cancel_children(conn: &mut sqlx::PgConnection, mine: &mut [Owned], i: usize, secs: f64) {
    let children = mine[i].children.clone();
    for child in children {
        if let Some(task) = mine.iter_mut().find(|t| t.id == child && !terminal(t.state)) {
            change(conn, task, 3, secs).await;
        }
    }
}

#[derive(sqlx::FromRow)]
struct Recounted {
    id: i32,
    state: i32,
    channel: String,
    method: Option<String>,
    parent: Option<i32>,
    host: Option<String>,
    create_time: f64,
    start_time: Option<f64>,
    completion_time: Option<f64>,
}

const WAIT_BOUNDS: [f64; 13] =
    [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0];
const RUN_BOUNDS: [f64; 12] =
    [10.0, 30.0, 60.0, 180.0, 480.0, 1200.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 259200.0];

fn state_label(state: i32) -> &'static str {
    match state {
        2 => "closed",
        3 => "canceled",
        5 => "failed",
        _ => "other",
    }
}

fn le(bound: f64) -> String {
    format!("{bound:?}")
}

/// The expected value of every task counter and histogram series, from the table.
async fn recount(pool: &PgPool, fixture_tags: &HashMap<i32, String>) -> BTreeMap<String, f64> {
    let rows: Vec<Recounted> = sqlx::query_as(
        "select t.id, t.state, c.name as channel, t.method, t.parent, h.name as host,
                extract(epoch from t.create_time)::float8 as create_time,
                extract(epoch from t.start_time)::float8 as start_time,
                extract(epoch from t.completion_time)::float8 as completion_time
         from task t join channels c on c.id = t.channel_id left join host h on h.id = t.host_id order by t.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut tag_of: HashMap<i32, String> = HashMap::new();
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    let mut add = |series: String, value: f64| *expected.entry(series).or_default() += value;
    for row in &rows {
        let tag = match row.parent {
            Some(parent) => tag_of.get(&parent).cloned().unwrap_or_default(),
            None => fixture_tags.get(&row.id).cloned().unwrap_or_default(),
        };
        tag_of.insert(row.id, tag.clone());
        let method = row.method.clone().unwrap_or_default();
        let key = format!("channel=\"{}\",method=\"{method}\"", row.channel);
        add(format!("koji_tasks_total{{{key}}}"), 1.0);
        // The inventory's per-tag view of the same counts.
        add(format!("koji_tag_tasks_total{{tag=\"{tag}\"}}"), 1.0);
        add(format!("koji_tag_task_succeed_total{{tag=\"{tag}\"}}"), f64::from(row.state == 2));
        add(format!("koji_tag_task_errors_total{{tag=\"{tag}\"}}"), f64::from(row.state == 5));
        let terminal = matches!(row.state, 2 | 3 | 5);
        if !terminal {
            continue;
        }
        for (name, states) in [
            ("koji_task_completions_total", &[2, 3, 5][..]),
            ("koji_task_succeed_total", &[2][..]),
            ("koji_task_errors_total", &[5][..]),
            ("koji_task_cancellations_total", &[3][..]),
        ] {
            add(format!("{name}{{{key}}}"), if states.contains(&row.state) { 1.0 } else { 0.0 });
        }
        if let Some(host) = &row.host {
            add(format!("koji_host_finished_tasks_total{{host=\"{host}\",state=\"{}\"}}", state_label(row.state)), 1.0);
        }
        let Some(start) = row.start_time else { continue };
        let wait = (start - row.create_time).max(0.0);
        let wait_key = format!("channel=\"{}\",method=\"{method}\"", row.channel);
        add(format!("koji_task_wait_seconds_count{{{wait_key}}}"), 1.0);
        for bound in WAIT_BOUNDS {
            add(format!("koji_task_wait_seconds_bucket{{le=\"{}\",{wait_key}}}", le(bound)), f64::from(wait <= bound));
        }
        add(format!("koji_task_wait_seconds_bucket{{le=\"+Inf\",{wait_key}}}"), 1.0);
        add(format!("koji_task_wait_seconds_sum{{{wait_key}}}"), wait);
        if let Some(end) = row.completion_time {
            let run = (end - start).max(0.0);
            let run_key = format!("{wait_key},state=\"{}\"", state_label(row.state));
            add(format!("koji_task_run_seconds_count{{{run_key}}}"), 1.0);
            for bound in RUN_BOUNDS {
                add(format!("koji_task_run_seconds_bucket{{le=\"{}\",{run_key}}}", le(bound)), f64::from(run <= bound));
            }
            add(format!("koji_task_run_seconds_bucket{{le=\"+Inf\",{run_key}}}"), 1.0);
            add(format!("koji_task_run_seconds_sum{{{run_key}}}"), run);
        }
    }
    expected
}

fn exported(metrics: &Metrics) -> BTreeMap<String, f64> {
    let prefixes = [
        "koji_tasks_total{",
        "koji_task_completions_total{",
        "koji_task_succeed_total{",
        "koji_task_errors_total{",
        "koji_task_cancellations_total{",
        "koji_host_finished_tasks_total{",
        "koji_tag_tasks_total{",
        "koji_tag_task_succeed_total{",
        "koji_tag_task_errors_total{",
        "koji_task_wait_seconds_",
        "koji_task_run_seconds_",
    ];
    metrics
        .samples
        .iter()
        .filter(|(series, _)| prefixes.iter().any(|p| series.starts_with(p)))
        .map(|(s, v)| (s.clone(), *v))
        .collect()
}

fn assert_same(exported: &BTreeMap<String, f64>, expected: &BTreeMap<String, f64>, context: &str) {
    let keys: Vec<&String> = exported.keys().chain(expected.keys()).collect();
    for key in keys {
        let (got, want) = (exported.get(key).copied().unwrap_or(0.0), expected.get(key).copied().unwrap_or(0.0));
        // Sums of fractional seconds may differ in the last bits with the order of addition.
        let tolerance = if key.contains("_sum{") { 1e-6 * want.abs().max(1.0) } else { 0.0 };
        assert!((got - want).abs() <= tolerance, "{context}: {key} exported {got}, recount {want}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_life_cycles_match_an_independent_recount() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    let fixture_tags: HashMap<i32, String> =
        [(20, "f40"), (23, "f40-build"), (25, "f40")].iter().map(|(id, tag)| (*id, (*tag).to_owned())).collect();
    let state = state_for(&db.config());
    scrape_when_ready(&state).await;

    let tags: Tags = Arc::new(Mutex::new(fixture_tags.clone()));
    // The base seed can be overridden to repeat a failing run; each worker derives its own.
    let base: u64 = std::env::var("TASK_CHURN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15);
    let workers: Vec<_> = (0..4u64)
        .map(|n| {
            // The fixture's one FREE task (27) belongs to the first worker; every other task a
            // worker changes is one it created.
            let handed = if n == 0 { vec![27] } else { Vec::new() };
            let seed = base ^ (n + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
            tokio::spawn(worker(db.url.clone(), state.clone(), Arc::clone(&tags), seed, handed))
        })
        .collect();
    for _ in 0..20 {
        scrape(&state).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for worker in workers {
        worker.await.unwrap();
    }

    let all_tags = tags.lock().unwrap().clone();
    let expected = recount(&db.writer, &all_tags).await;
    let incremental = scrape(&state).await;
    let mut got = exported(&incremental);
    got.extend(exported(&scrape_inventory(&state).await));
    assert_same(&got, &expected, "incremental engine");

    // A second exporter (a restart, or another replica) builds the same values from scratch.
    let fresh_state = state_for(&db.config());
    let fresh = scrape_when_ready(&fresh_state).await;
    let mut got = exported(&fresh);
    got.extend(exported(&scrape_inventory(&fresh_state).await));
    assert_same(&got, &expected, "full pass");
    let created: f64 = incremental.family("koji_tasks_total").values().sum();
    let rows: i64 = sqlx::query_scalar("select count(*) from task").fetch_one(&db.writer).await.unwrap();
    assert_eq!(created, rows as f64);
    assert!(rows > 60, "the run created tasks ({rows})");
}
