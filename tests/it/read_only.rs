//! The exporter's sessions cannot write, whatever SQL reaches them.

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
