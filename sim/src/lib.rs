//! The Koji schema subset of `migrations-fixtures/schema`, by level: the one loader that both the
//! simulator and koji-exporter's integration tests use.
//!
//! **Level N** is `koji-1.32.sql` and every later file up to `koji-N.sql`, applied in version
//! order onto an empty database, each file in its own transaction, as the schema's README
//! prescribes. Koji keeps no version marker, so [`probe`] tells a schema's level by the objects
//! each level added.
//!
//! This is the library target of the `koji-sim` package; it writes to the database it is given
//! and has nothing to do with the read-only exporter, which never applies any of this DDL.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

/// A Koji schema level we keep DDL for, ordered by version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    V1_32,
    V1_33,
    V1_34,
    V1_35,
}

impl Level {
    /// Every level, in version order.
    pub const ALL: [Level; 4] = [Level::V1_32, Level::V1_33, Level::V1_34, Level::V1_35];

    /// The release it mirrors, as people write it: `1.32`, ...
    pub fn name(self) -> &'static str {
        match self {
            Level::V1_32 => "1.32",
            Level::V1_33 => "1.33",
            Level::V1_34 => "1.34",
            Level::V1_35 => "1.35",
        }
    }

    /// The file of `migrations-fixtures/schema/` that takes the level below to this one (for
    /// 1.32, the base).
    pub fn file(self) -> &'static str {
        match self {
            Level::V1_32 => "koji-1.32.sql",
            Level::V1_33 => "koji-1.33.sql",
            Level::V1_34 => "koji-1.34.sql",
            Level::V1_35 => "koji-1.35.sql",
        }
    }

    /// The DDL of [`Level::file`], compiled in.
    pub fn ddl(self) -> &'static str {
        match self {
            Level::V1_32 => include_str!("../../migrations-fixtures/schema/koji-1.32.sql"),
            Level::V1_33 => include_str!("../../migrations-fixtures/schema/koji-1.33.sql"),
            Level::V1_34 => include_str!("../../migrations-fixtures/schema/koji-1.34.sql"),
            Level::V1_35 => include_str!("../../migrations-fixtures/schema/koji-1.35.sql"),
        }
    }

    /// The levels whose files make up this one, in the order they are applied.
    pub fn steps(self) -> impl Iterator<Item = Level> {
        Level::ALL.into_iter().filter(move |step| *step <= self)
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Level, String> {
        Level::ALL
            .into_iter()
            .find(|level| level.name() == text)
            .ok_or_else(|| format!("unknown schema level {text:?}; use 1.32, 1.33, 1.34 or 1.35"))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Applies the DDL of every level up to `level` onto an empty database, each file in its own
/// transaction.
pub async fn apply(conn: &mut PgConnection, level: Level) -> Result<(), sqlx::Error> {
    for step in level.steps() {
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(step.ddl()).execute(&mut *tx).await?;
        tx.commit().await?;
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

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn names_parse_back_and_files_follow_the_names() {
        for level in Level::ALL {
            assert_eq!(level.name().parse::<Level>(), Ok(level));
            assert_eq!(level.to_string(), level.name());
            assert_eq!(level.file(), format!("koji-{}.sql", level.name()));
            assert!(!level.ddl().trim().is_empty(), "{level}");
        }
        assert!("1.36".parse::<Level>().unwrap_err().contains("use 1.32, 1.33, 1.34 or 1.35"));
    }

    #[test]
    fn a_level_is_its_own_file_after_those_of_the_levels_below() {
        assert_eq!(Level::V1_32.steps().collect::<Vec<_>>(), [Level::V1_32]);
        assert_eq!(Level::V1_34.steps().collect::<Vec<_>>(), [Level::V1_32, Level::V1_33, Level::V1_34]);
        assert_eq!(Level::V1_35.steps().collect::<Vec<_>>(), Level::ALL);
        assert!(Level::ALL.windows(2).all(|pair| pair[0] < pair[1]), "ALL is in version order");
    }
}
