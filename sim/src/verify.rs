//! Row counts after a fill, printed for the user and checked against the scale's targets.
//!
//! Only the tables the issue gives targets for are checked (tasks, hosts, tags, packages, builds,
//! tag_listing); the others are printed so a reader sees the whole shape of the data set.

use std::fmt::Write as _;

use sqlx::Row;
use sqlx::postgres::PgConnection;

use crate::scale::Scale;

/// Every table of the subset that may exist, in a readable order.
const TABLES: [&str; 30] = [
    "events",
    "permissions",
    "users",
    "sessions",
    "channels",
    "host",
    "host_config",
    "host_channels",
    "task",
    "tag",
    "tag_config",
    "tag_inheritance",
    "tag_extra",
    "package",
    "tag_packages",
    "tag_package_owners",
    "build_target",
    "build_target_config",
    "volume",
    "content_generator",
    "build",
    "tag_listing",
    "repo",
    "locks",
    "scheduler_task_runs",
    "scheduler_host_data",
    "scheduler_sys_data",
    "scheduler_task_refusals",
    "scheduler_log_messages",
    "repo_queue",
];

/// Allowed deviation from a target, as a fraction.
const TOLERANCE: f64 = 0.05;

pub async fn counts(conn: &mut PgConnection) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
    let mut counts = Vec::new();
    for table in TABLES {
        let present: bool =
            sqlx::query("select to_regclass($1) is not null").bind(table).fetch_one(&mut *conn).await?.try_get(0)?;
        if present {
            // The name comes from the fixed list above, never from input.
            let sql = format!("select count(*) from {table}");
            let count: i64 = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *conn).await?.try_get(0)?;
            counts.push((table, count));
        }
    }
    Ok(counts)
}

fn targets(scale: Scale) -> [(&'static str, i64); 6] {
    let s = scale.sizes();
    [
        ("task", s.tasks),
        ("host", s.hosts),
        ("tag", s.tags),
        ("package", s.packages),
        ("build", s.builds),
        ("tag_listing", s.listings),
    ]
}

pub fn render(counts: &[(&'static str, i64)], scale: Scale) -> String {
    let targets = targets(scale);
    let mut out = String::new();
    let _ = writeln!(out, "{:<26} {:>12} {:>12}", "table", "rows", "target");
    for (table, count) in counts {
        let target = targets.iter().find(|(name, _)| name == table).map(|(_, t)| t.to_string()).unwrap_or_default();
        let _ = writeln!(out, "{table:<26} {count:>12} {target:>12}");
    }
    out
}

pub fn check(counts: &[(&'static str, i64)], scale: Scale) -> anyhow::Result<()> {
    let mut off = Vec::new();
    for (table, target) in targets(scale) {
        let count = counts.iter().find(|(name, _)| *name == table).map_or(0, |(_, c)| *c);
        if (count - target).abs() as f64 > target as f64 * TOLERANCE {
            off.push(format!("{table} has {count} rows, target {target}"));
        }
    }
    if off.is_empty() { Ok(()) } else { anyhow::bail!("row counts off target by more than 5%: {}", off.join("; ")) }
}
