//! A database that goes away and comes back: the scrape keeps answering 200 within its
//! deadline with `koji_up 0`, and recovers by itself. The database is cut with a TCP proxy so
//! the shared PostgreSQL keeps serving the other tests.

use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::support::{Level, Metrics, Proxy, ProxyMode, TestDb, admin_url, config_for, request, state_for};

async fn timed_scrape(state: &koji_exporter::http::AppState) -> (Metrics, Duration) {
    let started = Instant::now();
    let response = request(state, "GET", "/metrics", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    (Metrics::parse(&response.body), started.elapsed())
}

#[tokio::test]
async fn scrapes_answer_during_an_outage_and_recover_without_restart() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let proxy = Proxy::start(crate::support::host_port(&admin_url().await)).await;
    let config = config_for(&proxy.url(&admin_url().await, &db.name));
    let deadline = Duration::from_secs_f64(config.web.scrape_timeout_seconds);
    let state = state_for(&config);

    let (metrics, _) = timed_scrape(&state).await;
    assert_eq!(metrics.value("koji_up"), 1.0);

    proxy.set(ProxyMode::Down);
    for _ in 0..2 {
        let (metrics, took) = timed_scrape(&state).await;
        assert_eq!(metrics.value("koji_up"), 0.0, "{}", metrics.text);
        assert_eq!(metrics.value("koji_exporter_collector_success{collector=\"hosts\"}"), 0.0);
        assert!(metrics.family("koji_host_enabled").is_empty(), "no stale host data while down");
        assert!(took < deadline + Duration::from_secs(1), "scrape took {took:?}");
    }

    proxy.set(ProxyMode::Forward);
    let mut recovered = false;
    for _ in 0..20 {
        let (metrics, _) = timed_scrape(&state).await;
        if metrics.value("koji_up") == 1.0 {
            assert_eq!(metrics.value("koji_host_enabled{host=\"builder-a\"}"), 1.0);
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the exporter did not reconnect after the database came back");
}

#[tokio::test]
async fn a_database_that_accepts_but_never_answers_cannot_hang_the_scrape() {
    let db = TestDb::new(Level::V1_35).await;
    let proxy = Proxy::start(crate::support::host_port(&admin_url().await)).await;
    proxy.set(ProxyMode::Blackhole);
    let config = config_for(&proxy.url(&admin_url().await, &db.name));
    let deadline = Duration::from_secs_f64(config.web.scrape_timeout_seconds);
    let state = state_for(&config);
    let (metrics, took) = timed_scrape(&state).await;
    assert_eq!(metrics.value("koji_up"), 0.0);
    assert!(took < deadline + Duration::from_secs(1), "scrape took {took:?}");
    proxy.set(ProxyMode::Forward);
}

#[tokio::test]
async fn an_unknown_host_name_is_just_down() {
    let state = state_for(&config_for("postgres://postgres@no-such-host.invalid:5432/koji"));
    let (metrics, took) = timed_scrape(&state).await;
    assert_eq!(metrics.value("koji_up"), 0.0);
    assert!(took < Duration::from_secs(4), "scrape took {took:?}");
}

#[tokio::test]
async fn task_totals_catch_up_with_what_changed_during_an_outage() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let proxy = Proxy::start(crate::support::host_port(&admin_url().await)).await;
    let state = state_for(&config_for(&proxy.url(&admin_url().await, &db.name)));
    crate::tasks::scrape_when_ready(&state).await;

    proxy.set(ProxyMode::Down);
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    let (down, _) = timed_scrape(&state).await;
    assert_eq!(down.value("koji_up"), 0.0);

    proxy.set(ProxyMode::Forward);
    let started = Instant::now();
    let metrics = loop {
        let (metrics, _) = timed_scrape(&state).await;
        if metrics.value("koji_up") == 1.0
            && metrics.value("koji_exporter_collector_success{collector=\"tasks\"}") == 1.0
        {
            break metrics;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no recovery:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(metrics.value("koji_exporter_task_history_ready"), 1.0);
    crate::tasks::assert_fixture_values(&crate::support::scrape(&state).await);
}

#[tokio::test]
async fn a_connection_cut_mid_query_or_killed_by_a_restart_fails_one_scrape_at_most() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let proxy = Proxy::start(crate::support::host_port(&admin_url().await)).await;
    let mut config = config_for(&proxy.url(&admin_url().await, &db.name));
    config.database.lock_timeout_seconds = 30.0;
    config.web.scrape_timeout_seconds = 6.0;
    config.database.statement_timeout_seconds = 5.0;
    let state = state_for(&config);
    crate::tasks::scrape_when_ready(&state).await;

    // The hosts family waits on a lock; the network goes away while its query runs.
    let mut locker = {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        conn.execute("begin; lock table host_channels in access exclusive mode").await.unwrap();
        conn
    };
    let scrape = {
        let state = state.clone();
        tokio::spawn(async move { timed_scrape(&state).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set(ProxyMode::Down);
    let (cut, took) = scrape.await.unwrap();
    assert_eq!(cut.value("koji_exporter_collector_success{collector=\"hosts\"}"), 0.0);
    assert!(took < Duration::from_secs(7), "took {took:?}");
    {
        use sqlx::Executor;
        locker.execute("rollback").await.unwrap();
    }
    proxy.set(ProxyMode::Forward);

    // A server restart ends every session; the pool's connections are dead when it comes back.
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'koji-exporter'")
        .execute(&db.writer)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let (metrics, _) = timed_scrape(&state).await;
        let ok = metrics.value("koji_up") == 1.0
            && metrics.value("koji_exporter_collector_success{collector=\"hosts\"}") == 1.0
            && metrics.value("koji_exporter_collector_success{collector=\"tasks\"}") == 1.0;
        if ok {
            assert_eq!(metrics.value("koji_host_enabled{host=\"builder-a\"}"), 1.0);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no recovery:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn catalog_metrics_return_within_seconds_of_the_database() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let proxy = Proxy::start(crate::support::host_port(&admin_url().await)).await;
    proxy.set(ProxyMode::Down);
    let config = config_for(&proxy.url(&admin_url().await, &db.name));
    assert!(config.catalog.refresh_interval_seconds >= 30.0, "the default refresh interval is long");
    let state = state_for(&config);
    let (metrics, _) = timed_scrape(&state).await;
    assert_eq!(metrics.value("koji_up"), 0.0);
    assert_eq!(metrics.value("koji_exporter_catalog_available"), 0.0);
    // Give the background recount time to try, and fail, while the database is down.
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.set(ProxyMode::Forward);
    let back = Instant::now();
    loop {
        let (metrics, _) = timed_scrape(&state).await;
        if metrics.value("koji_up") == 1.0 && metrics.value("koji_exporter_catalog_available") == 1.0 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(15), "catalog still absent:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
