//! Our Koji schema subset, embedded from `migrations-fixtures/schema`, and the checks around it.
//!
//! The DDL files are the same ones the tests load, applied in version order, each in its own
//! transaction, as their README prescribes. `create` refuses a database that already has a `task`
//! table unless told to fill an existing schema, and then checks that the schema has the level
//! asked for (Koji keeps no version marker, so it probes for what each level added).

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    V1_32,
    V1_33,
    V1_34,
    V1_35,
}

const FILES: [(Level, &str); 4] = [
    (Level::V1_32, include_str!("../../../migrations-fixtures/schema/koji-1.32.sql")),
    (Level::V1_33, include_str!("../../../migrations-fixtures/schema/koji-1.33.sql")),
    (Level::V1_34, include_str!("../../../migrations-fixtures/schema/koji-1.34.sql")),
    (Level::V1_35, include_str!("../../../migrations-fixtures/schema/koji-1.35.sql")),
];

impl FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Level, String> {
        match text {
            "1.32" => Ok(Level::V1_32),
            "1.33" => Ok(Level::V1_33),
            "1.34" => Ok(Level::V1_34),
            "1.35" => Ok(Level::V1_35),
            other => Err(format!("unknown schema level {other:?}; use 1.32, 1.33, 1.34 or 1.35")),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::V1_32 => "1.32",
            Level::V1_33 => "1.33",
            Level::V1_34 => "1.34",
            Level::V1_35 => "1.35",
        })
    }
}

pub async fn has_task_table(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query("select to_regclass('task') is not null").fetch_one(conn).await?.try_get(0)
}

/// Applies the DDL of every level up to `level`.
pub async fn apply(conn: &mut PgConnection, level: Level) -> Result<(), sqlx::Error> {
    for (file_level, ddl) in FILES {
        if file_level <= level {
            let mut tx = conn.begin().await?;
            sqlx::raw_sql(ddl).execute(&mut *tx).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// The level an existing schema has, judged by the objects each level added.
pub async fn probe(conn: &mut PgConnection) -> Result<Level, sqlx::Error> {
    let row = sqlx::query(
        "select to_regclass('repo_queue') is not null, to_regclass('scheduler_task_runs') is not null,
                exists (select 1 from pg_attribute where attrelid = to_regclass('host')
                        and attname = 'update_time' and not attisdropped)",
    )
    .fetch_one(conn)
    .await?;
    let (queue, scheduler, update_time): (bool, bool, bool) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    Ok(if queue {
        Level::V1_35
    } else if scheduler {
        Level::V1_34
    } else if update_time {
        Level::V1_33
    } else {
        Level::V1_32
    })
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
