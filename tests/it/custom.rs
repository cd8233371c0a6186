//! Site-defined metrics: the shipped examples against our schema, and definitions that are
//! wrong in every way the exporter promises to catch, at start or during a scrape.

use std::process::Command;
use std::time::{Duration, Instant};

use koji_exporter::config::CustomMetricConfig;

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
        kind: "gauge".into(),
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
