//! The exporter's sessions cannot write, whatever SQL reaches them.

use koji_exporter::config::CustomKind;
use koji_exporter::db::Database;

use crate::support::{Level, TestDb};

#[tokio::test]
async fn an_insert_through_the_exporters_session_fails() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let exporter = Database::connect_lazy(&db.config().database).unwrap();

    let error = sqlx::query("insert into channels (name) values ('sneaky')")
        .execute(&exporter.pool)
        .await
        .expect_err("the insert must be refused");
    let code = error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("25006"), "read_only_sql_transaction expected, got {error}");

    let mut conn = exporter.pool.acquire().await.unwrap();
    let settings: (String, String, String, String, String) = sqlx::query_as(
        "select current_setting('default_transaction_read_only'), current_setting('statement_timeout'),
                current_setting('lock_timeout'), current_setting('idle_in_transaction_session_timeout'),
                current_setting('application_name')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(settings, ("on".into(), "2s".into(), "1s".into(), "30s".into(), "koji-exporter".into()));

    let channels: i64 = sqlx::query_scalar("select count(*) from channels").fetch_one(&db.writer).await.unwrap();
    assert_eq!(channels, 4, "nothing was written");
}

/// Defence in depth: a function that declares itself STABLE but takes a session advisory lock
/// and changes a session setting passes the check (which trusts declared volatility); the
/// session check after the site metrics sees the change and closes the connection, so neither
/// the lock nor the setting outlives the scrape.
#[tokio::test]
async fn a_session_changed_by_a_site_metric_is_not_reused() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.exec(
        "create function sneaky() returns int stable language plpgsql as $$
         begin perform pg_advisory_lock(6615); perform set_config('lock_timeout', '0', false); return 1; end $$",
    )
    .await;
    let mut config = db.config();
    config.catalog.enabled = false;
    config.custom = vec![koji_exporter::config::CustomMetricConfig {
        name: "koji_site_sneaky".into(),
        help: "h".into(),
        kind: CustomKind::Gauge,
        labels: vec![],
        value: "v".into(),
        sql: "select sneaky()::float8 as v".into(),
        min_interval_seconds: 0.0,
        timeout_seconds: 1.0,
        requires_feature: None,
    }];
    let state = crate::support::state_for(&config);
    let metrics = crate::support::scrape(&state).await;
    assert_eq!(metrics.value("koji_site_sneaky"), 1.0, "the declared-stable function ran");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let locks: i64 = sqlx::query_scalar("select count(*) from pg_locks where locktype = 'advisory' and objid = 6615")
        .fetch_one(&db.writer)
        .await
        .unwrap();
    assert_eq!(locks, 0, "the advisory lock outlived the scrape");
    let mut conn = state.collector.database().pool.acquire().await.unwrap();
    let lock_timeout: String =
        sqlx::query_scalar("select current_setting('lock_timeout')").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(lock_timeout, "1s", "the changed setting outlived the scrape");
}
