//! Schema detection and the SQL files against each schema level.

use koji_exporter::db::Database;
use koji_exporter::schema::SchemaFeatures;
use koji_exporter::sql;
use sqlx::Executor;

use crate::support::{Level, TESTED, TestDb};

#[tokio::test]
async fn features_are_detected_per_level() {
    for (level, update_time, scheduler, repo_queue, name) in [
        (Level::V1_32, false, false, false, "1.32"),
        (Level::V1_33, true, false, false, "1.33"),
        (Level::V1_34, true, true, false, "1.34"),
        (Level::V1_35, true, true, true, "1.35"),
    ] {
        let db = TestDb::new(level).await;
        let exporter = Database::connect_lazy(&db.config().database).unwrap();
        assert_eq!(exporter.features(), None, "nothing is known before the first connection");
        let mut conn = exporter.pool.acquire().await.unwrap();
        let features = exporter.features().expect("detected on connect");
        assert_eq!(features, SchemaFeatures::detect(&mut conn).await.unwrap());
        assert!(features.has_host_tables && features.has_channel_enabled && features.has_session_closed);
        assert_eq!(
            (features.has_host_update_time, features.has_scheduler, features.has_repo_queue),
            (update_time, scheduler, repo_queue),
            "{name}"
        );
        assert_eq!(features.level(), name);
        assert!(!features.in_recovery);
    }
}

#[tokio::test]
async fn extra_tables_do_not_confuse_detection_and_a_foreign_database_is_level_none() {
    let db = TestDb::new(Level::V1_35).await;
    db.exec("create table sidetag_plugin_data (id serial primary key); alter table host add column site_note text")
        .await;
    let exporter = Database::connect_lazy(&db.config().database).unwrap();
    let _conn = exporter.pool.acquire().await.unwrap();
    assert_eq!(exporter.features().unwrap().level(), "1.35");

    let empty = TestDb::new(Level::V1_32).await;
    empty.exec("drop table host_channels, host_config cascade").await;
    let exporter = Database::connect_lazy(&empty.config().database).unwrap();
    let _conn = exporter.pool.acquire().await.unwrap();
    assert_eq!(exporter.features().unwrap().level(), "none");
}

/// Every statement in `sql/` is prepared (parsed and planned against the tables) on the schema
/// levels that have what it needs. Statements for newer features only on levels that have them.
#[tokio::test]
async fn every_statement_prepares_on_the_schemas_it_is_meant_for() {
    let newest_only = [
        ("hosts", "host_update_times", Level::V1_33),
        ("hosts", "host_max_jobs", Level::V1_34),
        ("catalog", "repo_queue", Level::V1_35),
    ];
    for level in TESTED {
        let db = TestDb::new(level).await;
        let mut conn = db.writer.acquire().await.unwrap();
        for (family, name) in sql::all() {
            let needs = newest_only.iter().find(|(f, n, _)| *f == family && *n == name).map(|(_, _, l)| *l);
            if needs.is_some_and(|needed| level < needed) {
                continue;
            }
            let described = (&mut *conn).prepare(sqlx::SqlSafeStr::into_sql_str(sql::statement(family, name))).await;
            assert!(described.is_ok(), "{family}/{name} on {}: {:?}", level.name(), described.err());
        }
    }
}
