//! A randomized run of concurrent task life cycles through real transactions, including
//! commits out of id order and rollbacks, with scrapes in between; afterwards every task counter
//! and histogram must equal a recount of the table done here, independently of the exporter.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use koji_exporter::http::AppState;
use sqlx::PgPool;

use crate::support::{Level, Metrics, TestDb, scrape, state_for};
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

async fn worker(url: String, state: AppState, tags: Tags, seed: u64) {
    use sqlx::{Connection, PgConnection};
    // Two connections of its own: the out-of-order case holds two transactions at once.
    let mut pool = PgConnection::connect(&url).await.unwrap();
    let mut other = PgConnection::connect(&url).await.unwrap();
    let mut rng = Rng(seed);
    for _ in 0..60 {
        let open: Vec<(i32, i32, i32, Option<i32>)> = sqlx::query_as(
            "select id, state, channel_id, parent from task where state in (0, 1, 4) order by random() limit 5",
        )
        .fetch_all(&mut pool)
        .await
        .unwrap();
        match rng.below(10) {
            0..=2 => {
                let (id, tag) = insert_task(&mut pool, &mut rng, None).await;
                tags.lock().unwrap().insert(id, tag);
            }
            3 => {
                // A subtask; its tag comes from its parent, which the recount follows itself.
                if let Some((parent, _, channel, None)) = open.first().copied() {
                    insert_task(&mut pool, &mut rng, Some((parent, channel))).await;
                }
            }
            4..=6 => {
                let Some((id, task_state, _, _)) = open.first().copied() else { continue };
                let step = match task_state {
                    0 => "update task set state = 4, host_id = 1 + (id % 5) where id = $1".to_owned(),
                    4 => "update task set state = 1, start_time = create_time + make_interval(secs => $2) where id = $1".to_owned(),
                    _ => format!(
                        "update task set state = {}, completion_time = coalesce(start_time, create_time) + make_interval(secs => $2)
                         where id = $1",
                        [2, 2, 5, 3][rng.below(4) as usize]
                    ),
                };
                sqlx::query(sqlx::AssertSqlSafe(step))
                    .bind(id)
                    .bind(rng.below(4000) as f64 / 3.0)
                    .execute(&mut pool)
                    .await
                    .unwrap();
            }
            7 => {
                let Some((id, _, _, _)) = open.first().copied() else { continue };
                sqlx::query("update task set state = 3, completion_time = now() where id = $1 and state in (0, 1, 4)")
                    .bind(id)
                    .execute(&mut pool)
                    .await
                    .unwrap();
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
        let key = format!("channel=\"{}\",method=\"{method}\",tag=\"{tag}\"", row.channel);
        add(format!("koji_tasks_total{{{key}}}"), 1.0);
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
    let workers: Vec<_> = (0..4u64)
        .map(|n| {
            tokio::spawn(worker(db.url.clone(), state.clone(), Arc::clone(&tags), 0x9E37_79B9_7F4A_7C15 ^ (n + 1)))
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
    assert_same(&exported(&incremental), &expected, "incremental engine");

    // A second exporter (a restart, or another replica) builds the same values from scratch.
    let fresh = scrape_when_ready(&state_for(&db.config())).await;
    assert_same(&exported(&fresh), &expected, "full pass");
    let created: f64 = incremental.family("koji_tasks_total").values().sum();
    let rows: i64 = sqlx::query_scalar("select count(*) from task").fetch_one(&db.writer).await.unwrap();
    assert_eq!(created, rows as f64);
    assert!(rows > 60, "the run created tasks ({rows})");
}
