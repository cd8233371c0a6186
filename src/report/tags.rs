//! `report tags`: the biggest tags by their DIRECT content.
//!
//! Direct means what is written on the tag itself: active `tag_packages` rows that are not
//! blocked, and active `tag_listing` rows of COMPLETE builds; only live tags (an active
//! `tag_config` row) are listed. Koji's own pages count with inheritance; the inherited columns
//! will come from the catalog family's inheritance walk once it exists, and are left out rather
//! than approximated here. Tags are current state: the window does not apply.

use sqlx::PgConnection;

use super::render::{Section, Value, column};
use super::statement::{Param, Statement};
use crate::lossy::Lossy;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TagRow {
    #[sqlx(try_from = "Lossy")]
    pub name: String,
    pub packages: i64,
    pub blocked: i64,
    pub builds: i64,
    /// Live tags in the database (the same on every row).
    pub live_tags: i64,
}

/// The statement [`fetch`] sends.
pub fn statement(top: usize) -> Statement {
    Statement::new("report", "tags_direct", vec![Param::BigInt(i64::try_from(top).unwrap_or(i64::MAX))])
}

pub async fn fetch(conn: &mut PgConnection, top: usize) -> Result<Vec<TagRow>, sqlx::Error> {
    statement(top).query_as().fetch_all(conn).await
}

pub fn section(rows: &[TagRow]) -> Section {
    let live = rows.first().map_or(0, |row| row.live_tags);
    let mut notes =
        vec!["DIRECT counts only (no inheritance); inherited columns come with the catalog family".to_owned()];
    if live > rows.len() as i64 {
        notes.push(format!("{} of {} live tags shown (--top)", rows.len(), super::render::thousands(live)));
    }
    Section {
        name: "tags",
        timeless: true,
        title: "Biggest tags by direct builds and packages".to_owned(),
        columns: vec![
            column("tag", "tag"),
            column("direct_builds", "direct builds"),
            column("direct_packages", "direct packages"),
            column("direct_blocked", "direct blocked"),
        ],
        rows: rows
            .iter()
            .map(|row| {
                vec![
                    Value::Text(row.name.clone()),
                    Value::Int(row.builds),
                    Value::Int(row.packages),
                    Value::Int(row.blocked),
                ]
            })
            .collect(),
        notes,
    }
}
