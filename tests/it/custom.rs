//! Site-defined metrics: the shipped examples against our schema, and definitions that are
//! wrong in every way the exporter promises to catch, at start or during a scrape.

use std::process::Command;

use sqlx::Connection;
use std::time::{Duration, Instant};

use koji_exporter::collect::custom::CustomMetric;
use koji_exporter::config::{CustomKind, CustomMetricConfig};
use koji_exporter::startup;

use crate::binary::http_get;
use crate::support::{Level, Metrics, TestDb, repo_path, scrape, state_for};

const BIN: &str = env!("CARGO_BIN_EXE_koji-exporter");

fn examples() -> Vec<CustomMetricConfig> {
    let text = std::fs::read_to_string(repo_path("config/custom-metrics.example.toml")).unwrap();
    #[derive(serde::Deserialize)]
    struct File {
        metric: Vec<CustomMetricConfig>,
    }
    toml::from_str::<File>(&text).unwrap().metric
}

async fn examples_db() -> TestDb {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    db.load("migrations-fixtures/fixtures/custom_examples.sql").await;
    db
}

fn definition(name: &str, sql: &str) -> CustomMetricConfig {
    CustomMetricConfig {
        name: name.into(),
        help: "A site metric".into(),
        kind: CustomKind::Gauge,
        labels: vec!["label".into()],
        value: "value".into(),
        sql: sql.into(),
        min_interval_seconds: 0.0,
        timeout_seconds: 1.0,
        requires_feature: None,
    }
}

#[tokio::test]
async fn the_shipped_examples_report_what_the_fixture_holds() {
    let db = examples_db().await;
    let mut config = db.config();
    config.custom = examples();
    config.validate().unwrap();
    let metrics = scrape(&state_for(&config)).await;
    for collector in ["koji_site_builds_per_owner_last_day", "koji_site_packages_owned", "koji_site_sidetags_per_user"]
    {
        assert_eq!(metrics.value(&format!("koji_exporter_collector_success{{collector=\"custom:{collector}\"}}")), 1.0);
    }
    let builds = metrics.family("koji_site_builds_per_owner_last_day");
    let expected: std::collections::BTreeMap<String, f64> = [
        (r#"koji_site_builds_per_owner_last_day{owner="alice",state="complete"}"#, 2.0),
        (r#"koji_site_builds_per_owner_last_day{owner="alice",state="failed"}"#, 1.0),
        (r#"koji_site_builds_per_owner_last_day{owner="bob",state="complete"}"#, 1.0),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), *v))
    .collect();
    assert_eq!(builds, expected);
    assert_eq!(metrics.value(r#"koji_site_packages_owned{owner="alice"}"#), 2.0);
    assert_eq!(metrics.value(r#"koji_site_packages_owned{owner="bob"}"#), 1.0);
    assert_eq!(metrics.value(r#"koji_site_sidetags_per_user{owner="alice"}"#), 2.0);
    assert!(metrics.get(r#"koji_site_sidetags_per_user{owner="bob"}"#).is_none(), "bob's side tag was deleted");
    assert!(metrics.text.contains("cached up to 60 s"), "HELP says a metric is cached");
}

#[tokio::test]
async fn odd_results_are_reported_not_turned_into_errors() {
    let db = examples_db().await;
    let mut config = db.config();
    config.custom = vec![
        // Duplicate label sets and a NULL label.
        definition("koji_site_dupes", "select * from (values ('a', 1), ('a', 2), (null, 3)) v(label, value)"),
        // A NULL value.
        definition("koji_site_nulls", "select 'x' as label, null::int as value union all select 'y', 5"),
        // A query that runs past its timeout.
        CustomMetricConfig {
            timeout_seconds: 0.5,
            ..definition("koji_site_slow", "select 'a' as label, 1 as value from pg_sleep(3)")
        },
        // A query that tries to write: the session refuses.
        definition(
            "koji_site_writer",
            "with x as (insert into channels (name) values ('sneaky') returning id) select 'a' as label, id as value from x",
        ),
        // Cached between scrapes.
        CustomMetricConfig {
            min_interval_seconds: 60.0,
            ..definition(
                "koji_site_clock",
                "select 'now' as label, extract(epoch from clock_timestamp())::float8 as value",
            )
        },
    ];
    config.validate().unwrap();
    let state = state_for(&config);
    let started = Instant::now();
    let metrics = scrape(&state).await;
    assert!(started.elapsed() < Duration::from_secs(4), "the slow query is cut at its timeout");
    assert_eq!(metrics.value("koji_up"), 1.0);
    assert_eq!(metrics.value(r#"koji_site_dupes{label="a"}"#), 1.0, "the first of the duplicates is kept");
    assert_eq!(metrics.value(r#"koji_site_dupes{label=""}"#), 3.0, "a NULL label is an empty string");
    assert_eq!(metrics.value(r#"koji_exporter_custom_duplicate_rows{metric="koji_site_dupes"}"#), 1.0);
    assert_eq!(metrics.value(r#"koji_site_nulls{label="y"}"#), 5.0);
    assert!(metrics.get(r#"koji_site_nulls{label="x"}"#).is_none());
    assert_eq!(metrics.value(r#"koji_exporter_custom_null_values{metric="koji_site_nulls"}"#), 1.0);
    assert_eq!(metrics.value(r#"koji_exporter_collector_success{collector="custom:koji_site_slow"}"#), 0.0);
    assert_eq!(metrics.value(r#"koji_exporter_collector_success{collector="custom:koji_site_writer"}"#), 0.0);
    assert_eq!(metrics.value(r#"koji_exporter_collector_success{collector="hosts"}"#), 1.0, "built-ins still answer");
    let channels: i64 =
        sqlx::query_scalar("select count(*) from channels where name = 'sneaky'").fetch_one(&db.writer).await.unwrap();
    assert_eq!(channels, 0);

    let first = metrics.value(r#"koji_site_clock{label="now"}"#);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again: Metrics = scrape(&state).await;
    assert_eq!(again.value(r#"koji_site_clock{label="now"}"#), first, "served from the cache within min_interval");
}

#[tokio::test]
async fn bad_definitions_stop_the_exporter_with_one_line() {
    let db = examples_db().await;
    let dir = std::env::temp_dir().join(format!("koji-exporter-custom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "name",
            "name = \"koji site\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"select 1 as v\"\n",
            "not a Prometheus metric name",
        ),
        ("builtin", "name = \"koji_host_busy\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"select 1 as v\"\n", "built-in"),
        (
            "parse",
            "name = \"koji_site_x\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"select 1 as v frm task\"\n",
            "rejects the SQL",
        ),
        (
            "column",
            "name = \"koji_site_x\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"select 1 as w\"\n",
            "value column \"v\" is not in the result",
        ),
        ("type", "name = \"koji_site_x\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"select 'a' as v\"\n", "has type TEXT"),
        ("write", "name = \"koji_site_x\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"delete from task\"\n", "one SELECT"),
        (
            "key",
            "name = \"koji_site_x\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"select 1 as v\"\nintreval = 3\n",
            "intreval",
        ),
    ];
    for (case, metric, expected) in cases {
        let file = dir.join(format!("{case}.toml"));
        std::fs::write(&file, format!("[[metric]]\n{metric}")).unwrap();
        let config = dir.join(format!("{case}-main.toml"));
        std::fs::write(&config, format!("custom_files = [\"{}\"]\n", file.display())).unwrap();
        let output = Command::new(BIN)
            .args(["--config", &config.display().to_string(), "--database.url", &db.url, "check-config"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{case}: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert!(
            stderr.contains("koji_site_x")
                || stderr.contains("koji site")
                || stderr.contains("koji_host_busy")
                || case == "key",
            "{case} names the metric: {stderr}"
        );
    }
    let good = dir.join("good-main.toml");
    std::fs::write(
        &good,
        format!("custom_files = [\"{}\"]\n", repo_path("config/custom-metrics.example.toml").display()),
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["--config", &good.display().to_string(), "--database.url", &db.url, "check-config"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Issue #13: the attack of the report. A multi-statement "SELECT" that hid its `;` behind a
/// `'--'` literal, given to the real binary while the database is down: no row may ever land in
/// the canary table, whether the binary refuses the definition at start or serves.
#[tokio::test]
async fn a_multi_statement_query_never_writes_even_if_the_database_was_down_at_start() {
    use crate::support::{Proxy, ProxyMode, admin_url, host_port};
    let db = TestDb::new(crate::support::Level::V1_35).await;
    db.exec("create table canary (v int); grant all on canary to public").await;
    let proxy = Proxy::start(host_port(&admin_url().await)).await;
    proxy.set(ProxyMode::Down);
    let url = proxy.url(&admin_url().await, &db.name);
    let sql = "select 1::float8 as v, '--' as l; commit; begin read write; insert into canary values (66); commit; begin; select 2::float8 as v, 'x' as l";
    let (mut child, port) = spawn_binary(&url, &[("koji_site_multi", sql)]);
    let listening = wait_listening(&mut child, port).await;
    proxy.set(ProxyMode::Forward);
    if listening {
        for _ in 0..5 {
            let _ = http_get(port, "/metrics").await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let rows: i64 = sqlx::query_scalar("select count(*) from canary").fetch_one(&db.writer).await.unwrap();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert_eq!(rows, 0, "the site query wrote into canary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("koji_site_multi") && stderr.contains("one SELECT"), "{stderr}");
}

/// A side effect no text check can see (a view that calls dblink_exec), started while the
/// database is down: the check runs at the first scrape that reaches the database, refuses it,
/// and the metric never runs; a harmless metric passes the same late check and reports.
#[tokio::test]
async fn the_check_runs_at_the_first_scrape_that_reaches_the_database() {
    use crate::support::{Proxy, ProxyMode, admin_url, host_port};
    let db = TestDb::new(crate::support::Level::V1_35).await;
    db.exec("create table canary (v int)").await;
    let writer_view = if has_extension(&db, "dblink").await {
        format!(
            "create view sneaky as select dblink_exec('{}', 'insert into canary values (66)') as l",
            db.url.replace('\'', "''")
        )
    } else {
        // Without dblink the hidden side effect is an advisory lock the session would keep.
        "create view sneaky as select pg_advisory_lock(6613)::text as l".to_owned()
    };
    db.exec(&writer_view).await;
    let proxy = Proxy::start(host_port(&admin_url().await)).await;
    proxy.set(ProxyMode::Down);
    let url = proxy.url(&admin_url().await, &db.name);
    let metrics = [
        ("koji_site_sneaky", "select 1::float8 as v, l::text as l from sneaky"),
        ("koji_site_fine", "select 7::float8 as v, 'ok' as l"),
    ];
    let (mut child, port) = spawn_binary(&url, &metrics);
    assert!(wait_listening(&mut child, port).await, "the exporter serves while the database is down");
    let down = scrape_body(port).await;
    assert_eq!(down.value(r#"koji_exporter_collector_success{collector="custom:koji_site_fine"}"#), 0.0);
    proxy.set(ProxyMode::Forward);
    let mut last = None;
    for _ in 0..20 {
        let metrics = scrape_body(port).await;
        if metrics.get("koji_up") == Some(1.0) {
            last = Some(metrics);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let metrics = last.expect("the exporter reached the database again");
    let again = scrape_body(port).await;
    let rows: i64 = sqlx::query_scalar("select count(*) from canary").fetch_one(&db.writer).await.unwrap();
    let locks: i64 = sqlx::query_scalar("select count(*) from pg_locks where locktype = 'advisory' and objid = 6613")
        .fetch_one(&db.writer)
        .await
        .unwrap();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert_eq!((rows, locks), (0, 0), "the hidden side effect ran:\n{logs}");
    for m in [&metrics, &again] {
        assert_eq!(m.value(r#"koji_exporter_collector_success{collector="custom:koji_site_sneaky"}"#), 0.0);
        assert_eq!(m.value(r#"koji_exporter_collector_success{collector="custom:koji_site_fine"}"#), 1.0);
        assert_eq!(m.value(r#"koji_site_fine{l="ok"}"#), 7.0);
    }
    assert_eq!(logs.matches("koji_site_sneaky").count(), 1, "one line says why the metric is refused:\n{logs}");
}

/// Item 3 of issue #13, attack by attack: each is refused by check-config and at run time, and
/// the database is as it was.
#[tokio::test]
async fn side_effect_functions_are_refused_and_leave_the_database_unchanged() {
    let db = TestDb::new(crate::support::Level::V1_35).await;
    db.exec("create table canary (v int)").await;
    let dblink = has_extension(&db, "dblink").await;
    if !dblink {
        eprintln!("dblink is not available on this server; its case is skipped");
    }
    let files = std::env::temp_dir().join(format!("koji-exporter-sidefx-{}", std::process::id()));
    std::fs::create_dir_all(&files).unwrap();
    std::fs::set_permissions(&files, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let exported = files.join("lo_export.out");
    let large_object: i64 =
        sqlx::query_scalar("select lo_from_bytea(0, 'secret')::bigint").fetch_one(&db.writer).await.unwrap();
    let mut victim = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let victim_pid: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut victim).await.unwrap();
    let mut cases = vec![
        (
            "koji_site_terminate",
            format!("select pg_terminate_backend({victim_pid})::int::float8 as value, 'a' as label"),
        ),
        (
            "koji_site_lo_export",
            format!("select lo_export({large_object}, '{}')::float8 as value, 'a' as label", exported.display()),
        ),
        ("koji_site_lock", "select pg_advisory_lock(6614)::text as label, 1::float8 as value".to_owned()),
        ("koji_site_setting", "select set_config('lock_timeout', '0', false) as label, 1::float8 as value".to_owned()),
        ("koji_site_xid", "select 'a' as label, txid_current()::float8 as value".to_owned()),
        (
            "koji_site_quoted",
            "select \"pg_catalog\".\"set_config\"('statement_timeout', '0', false) as label, 1::float8 as value"
                .to_owned(),
        ),
    ];
    if dblink {
        let conninfo = db.url.replace('\'', "''");
        cases.push((
            "koji_site_dblink",
            format!("select dblink_exec('{conninfo}', 'insert into canary values (66)') as label, 1::float8 as value"),
        ));
    }

    // check-config: one line naming the metric and the function, exit 2.
    let dir = std::env::temp_dir().join(format!("koji-exporter-sidefx-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sql) in &cases {
        let file = dir.join(format!("{name}.toml"));
        let definition = CustomMetricConfig { name: (*name).into(), ..definition(name, sql) };
        std::fs::write(&file, format!("[[custom]]\n{}", toml::to_string(&definition).unwrap())).unwrap();
        let output = Command::new(BIN)
            .args(["--config", &file.display().to_string(), "--database.url", &db.url, "check-config"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
    }

    // At run time, bypassing the start-up checks (as a definition that could not be checked at
    // start would): every metric is refused, the others still report.
    let mut config = db.config();
    config.catalog.enabled = false;
    let mut settings = startup::collect_settings(&config).unwrap();
    settings.custom =
        cases.iter().map(|(name, sql)| CustomMetric::new(startup::site_metric(&definition(name, sql)))).collect();
    let state = startup::build(&config, settings).unwrap();
    for _ in 0..2 {
        let metrics = scrape(&state).await;
        assert_eq!(metrics.value("koji_up"), 1.0);
        for (name, _) in &cases {
            assert_eq!(
                metrics.value(&format!("koji_exporter_collector_success{{collector=\"custom:{name}\"}}")),
                0.0,
                "{name} ran"
            );
            assert!(metrics.family(name).is_empty(), "{name} reported samples");
        }
    }
    let alive: i32 =
        sqlx::query_scalar("select 1").fetch_one(&mut victim).await.expect("the victim session was killed");
    assert_eq!(alive, 1);
    assert!(!exported.exists(), "lo_export wrote {}", exported.display());
    let locks: i64 = sqlx::query_scalar("select count(*) from pg_locks where locktype = 'advisory' and objid = 6614")
        .fetch_one(&db.writer)
        .await
        .unwrap();
    assert_eq!(locks, 0, "the advisory lock is held");
    let rows: i64 = sqlx::query_scalar("select count(*) from canary").fetch_one(&db.writer).await.unwrap();
    assert_eq!(rows, 0, "dblink_exec wrote");
    let pool = &state.collector.database().pool;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = pool.acquire().await.unwrap();
        let settings: (String, String) =
            sqlx::query_as("select current_setting('lock_timeout'), current_setting('statement_timeout')")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(settings, ("1s".to_owned(), "2s".to_owned()), "a session setting stuck");
        held.push(conn);
    }
}

/// check-config cannot vouch for site SQL it could not check.
#[test]
fn check_config_fails_when_the_database_cannot_check_the_site_sql() {
    let dir = std::env::temp_dir().join(format!("koji-exporter-custom-down-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("down.toml");
    std::fs::write(
        &file,
        format!(
            "[[custom]]\n{}",
            toml::to_string(&definition("koji_site_x", "select 'a' as label, 1 as value")).unwrap()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = Command::new(BIN)
        .args([
            "--config",
            &file.display().to_string(),
            "--database.url",
            &format!("postgres://u@127.0.0.1:{port}/koji"),
            "check-config",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not checked") || stderr.contains("could not be checked"), "{stderr}");
}

/// A role that can write is named at start and in check-config (the test role is a superuser).
#[tokio::test]
async fn check_config_warns_about_a_role_that_can_write() {
    let db = examples_db().await;
    let file = std::env::temp_dir().join(format!("koji-exporter-role-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "[[custom]]\n{}",
            toml::to_string(&definition("koji_site_x", "select 'a' as label, 1 as value")).unwrap()
        ),
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["--config", &file.display().to_string(), "--database.url", &db.url, "check-config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("superuser") && stderr.contains("A read-only database role"), "{stderr}");
}

async fn has_extension(db: &TestDb, name: &str) -> bool {
    let available: bool = sqlx::query_scalar("select exists (select 1 from pg_available_extensions where name = $1)")
        .bind(name)
        .fetch_one(&db.writer)
        .await
        .unwrap();
    available
        && sqlx::query(sqlx::AssertSqlSafe(format!("create extension if not exists {name}")))
            .execute(&db.writer)
            .await
            .is_ok()
}

fn spawn_binary(url: &str, metrics: &[(&str, &str)]) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let file = std::env::temp_dir().join(format!("koji-exporter-spawn-{}-{port}.toml", std::process::id()));
    let mut text = String::from("[catalog]\nenabled = false\n");
    for (name, sql) in metrics {
        let definition = CustomMetricConfig { labels: vec!["l".into()], value: "v".into(), ..definition(name, sql) };
        text = format!("{}\n[[custom]]\n{}", text, toml::to_string(&definition).unwrap());
    }
    std::fs::write(&file, text).unwrap();
    let child = Command::new(BIN)
        .args([
            "--config",
            &file.display().to_string(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--database.url",
            url,
        ])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, port)
}

/// True once the binary listens; false when it exits first.
async fn wait_listening(child: &mut std::process::Child, port: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the exporter neither listened nor exited");
}

async fn scrape_body(port: u16) -> Metrics {
    let response = http_get(port, "/metrics").await.expect("a response");
    Metrics::parse(response.split_once("\r\n\r\n").map_or("", |(_, body)| body))
}
