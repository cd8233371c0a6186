//! Deadlines, shared collections, the request cap and the pool limit, with a database made
//! slow on purpose: a test transaction holds an exclusive lock on a table one family reads.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use sqlx::{Connection, Executor, PgConnection};

use crate::support::{Level, Metrics, TestDb, request, request_on, scrape, state_for};

/// Blocks every reader of `table` until the returned connection is dropped.
async fn lock_table(db: &TestDb, table: &str) -> PgConnection {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("begin; lock table {table} in access exclusive mode"))).await.unwrap();
    conn
}

/// Exporter sessions on the test database that are running a statement.
async fn exporter_statements(db: &TestDb) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_stat_activity where datname = current_database()
         and application_name = 'koji-exporter' and state = 'active'",
    )
    .fetch_one(&db.writer)
    .await
    .unwrap()
}

fn slow_friendly_config(db: &TestDb) -> koji_exporter::config::Config {
    let mut config = db.config();
    // Long lock waits, so that it is the family's deadline that ends them.
    config.database.lock_timeout_seconds = 30.0;
    config.database.statement_timeout_seconds = 5.0;
    config.web.scrape_timeout_seconds = 6.0;
    config.hosts.timeout_seconds = 1.0;
    config
}

#[tokio::test]
async fn a_late_family_fails_alone_and_the_server_cancels_its_query() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let state = state_for(&slow_friendly_config(&db));
    crate::tasks::scrape_when_ready(&state).await;
    let _lock = lock_table(&db, "host_channels").await;

    let started = Instant::now();
    let metrics = scrape(&state).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "the hosts family's 1 s timeout bounds the scrape, took {took:?}");
    assert_eq!(metrics.value("koji_up"), 1.0);
    assert_eq!(metrics.value("koji_exporter_collector_success{collector=\"hosts\"}"), 0.0);
    assert_eq!(
        metrics.value("koji_exporter_collector_success{collector=\"tasks\"}"),
        1.0,
        "the other family still answers"
    );
    assert!(metrics.family("koji_host_enabled").is_empty());
    assert_eq!(exporter_statements(&db).await, 0, "no exporter query is left running on the server");
}

#[tokio::test]
async fn concurrent_scrapes_share_one_collection() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let state = state_for(&db.config());
    crate::tasks::scrape_when_ready(&state).await;
    let mut scrapes = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let state = state.clone();
        scrapes.spawn(async move { scrape(&state).await });
    }
    let results: Vec<Metrics> = scrapes.join_all().await;
    let durations: Vec<f64> =
        results.iter().map(|m| m.value("koji_exporter_collector_duration_seconds{collector=\"hosts\"}")).collect();
    let distinct: std::collections::BTreeSet<u64> = durations.iter().map(|d| d.to_bits()).collect();
    assert!(distinct.len() < results.len(), "six simultaneous scrapes ran six collections: {durations:?}");
}

#[tokio::test]
async fn the_pool_stays_within_its_size_while_the_database_is_slow() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let config = slow_friendly_config(&db);
    let state = state_for(&config);
    crate::tasks::scrape_when_ready(&state).await;
    let lock = lock_table(&db, "host_channels").await;
    let mut scrapes = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let state = state.clone();
        scrapes.spawn(async move { request(&state, "GET", "/metrics", &[]).await.status });
    }
    let mut most = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sessions: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and application_name = 'koji-exporter'",
        )
        .fetch_one(&db.writer)
        .await
        .unwrap();
        most = most.max(sessions);
    }
    assert!(most >= 1 && most <= i64::from(config.database.max_connections), "{most} exporter sessions");
    drop(lock);
    for status in scrapes.join_all().await {
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn requests_beyond_the_cap_are_refused_not_queued() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let mut config = slow_friendly_config(&db);
    config.web.max_requests = 1;
    let router = koji_exporter::http::app(state_for(&config));
    let _lock = lock_table(&db, "host_channels").await;
    let slow = {
        let router = router.clone();
        tokio::spawn(async move { request_on(&router, "GET", "/metrics", &[]).await.status })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = request_on(&router, "GET", "/", &[]).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.body);
    let probe = request_on(&router, "GET", "/-/healthy", &[]).await;
    assert_eq!(probe.status, StatusCode::OK, "the liveness probe is outside the cap: {}", probe.body);
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert_eq!(request_on(&router, "GET", "/", &[]).await.status, StatusCode::OK, "served again once free");
}

#[tokio::test]
async fn a_primary_reports_zero_lag_and_current_data() {
    let db = TestDb::new(Level::V1_35).await;
    let metrics = scrape(&state_for(&db.config())).await;
    assert_eq!(metrics.value("koji_exporter_database_in_recovery"), 0.0);
    assert_eq!(metrics.value("koji_exporter_replica_lag_seconds"), 0.0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((metrics.value("koji_exporter_data_timestamp_seconds") - now).abs() < 60.0);
    assert_eq!(metrics.value("koji_exporter_recovery_conflict_retries_total"), 0.0);
}

#[tokio::test]
async fn a_scrape_that_waits_out_its_deadline_behind_another_never_reports_the_database_down() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let mut config = slow_friendly_config(&db);
    config.hosts.timeout_seconds = 3.0;
    let state = state_for(&config);
    crate::tasks::scrape_when_ready(&state).await;
    let lock = lock_table(&db, "host_channels").await;
    // A scraper with a 6 s deadline starts a collection that waits 3 s on the lock ...
    let patient = {
        let state = state.clone();
        tokio::spawn(async move { request(&state, "GET", "/metrics", &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ... and one with a 1 s deadline arrives while it runs.
    let started = Instant::now();
    let hurried = request(&state, "GET", "/metrics", &[("x-prometheus-scrape-timeout-seconds", "1.5")]).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the hurried scrape kept to its deadline, took {took:?}");
    assert!(
        !(hurried.status == StatusCode::OK && Metrics::parse(&hurried.body).get("koji_up") == Some(0.0)),
        "a healthy database was reported down:\n{}",
        hurried.body
    );
    assert_eq!(hurried.status, StatusCode::SERVICE_UNAVAILABLE, "{}", hurried.body);
    assert!(hurried.body.contains("deadline"), "{}", hurried.body);
    drop(lock);
    let patient = patient.await.unwrap();
    assert_eq!(patient.status, StatusCode::OK);
    assert_eq!(Metrics::parse(&patient.body).value("koji_up"), 1.0);
}
