//! The checks around our Koji schema subset that only the simulator makes; the levels, their DDL
//! and the probe are the library's (`koji_sim`, shared with koji-exporter's integration tests).
//!
//! `create` refuses a database that already has a `task` table unless told to fill an existing
//! schema, and then checks that the schema has the level asked for.

use sqlx::Row;
use sqlx::postgres::PgConnection;

pub use koji_sim::{Level, apply, probe};

pub async fn has_task_table(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query("select to_regclass('task') is not null").fetch_one(conn).await?.try_get(0)
}

/// An existing schema may be filled if it has the asked level and no tasks yet.
pub async fn check_existing(conn: &mut PgConnection, level: Level) -> Result<(), crate::Failure> {
    let found = probe(conn).await?;
    if found != level {
        return Err(crate::Failure::Refused(format!(
            "the existing schema looks like level {found}, not {level}; pass --schema-level {found}"
        )));
    }
    let empty: bool = sqlx::query("select not exists (select 1 from task) and not exists (select 1 from host)")
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    if !empty {
        return Err(crate::Failure::Refused(
            "the existing schema already holds tasks or hosts; use an empty one".into(),
        ));
    }
    Ok(())
}
