//! The bulk fill behind `create`: a fixed list of set-based SQL steps run on one connection.
//!
//! Every step is an `INSERT ... SELECT` over `generate_series` (no row-by-row round trips); the
//! large tables are written in chunks only so the progress bar can move. Foreign keys and plain
//! indexes are dropped for the load and rebuilt afterwards (see `sql/prepare.sql`), then the
//! tables are vacuumed and analysed so the planner and index-only scans behave as on a real,
//! maintained Koji database.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::Row;
use sqlx::postgres::PgConnection;

use crate::scale::Scale;
use crate::schema::Level;

const PREPARE: &str = include_str!("sql/prepare.sql");
const BASE: &str = include_str!("sql/base.sql");
const JOBS: &str = include_str!("sql/jobs.sql");
const TASKS: &str = include_str!("sql/tasks.sql");
const BUILDS: &str = include_str!("sql/builds.sql");
const TAGGED: &str = include_str!("sql/tagged.sql");
const LISTINGS: &str = include_str!("sql/listings.sql");
const REPOS: &str = include_str!("sql/repos.sql");
const PLACE: &str = include_str!("sql/place.sql");
const LEVEL_1_33: &str = include_str!("sql/level_1_33.sql");
const LEVEL_1_34: &str = include_str!("sql/level_1_34.sql");
const LEVEL_1_35: &str = include_str!("sql/level_1_35.sql");
const FINISH: &str = include_str!("sql/finish.sql");

/// Rows per chunk of the big tables.
const CHUNK: i64 = 250_000;

pub async fn run(conn: &mut PgConnection, scale: Scale, level: Level, seed: u32) -> anyhow::Result<()> {
    let sizes = scale.sizes();
    let settings = [
        ("sim.seed", i64::from(seed).to_string()),
        ("sim.days", sizes.days.to_string()),
        ("sim.events", scale.events().to_string()),
        ("sim.tasks", sizes.tasks.to_string()),
        ("sim.hosts", sizes.hosts.to_string()),
        ("sim.tags", sizes.tags.to_string()),
        ("sim.packages", sizes.packages.to_string()),
        ("sim.builds", sizes.builds.to_string()),
        ("sim.listings", sizes.listings.to_string()),
        ("sim.people", sizes.people.to_string()),
        ("sim.releases", sizes.releases.to_string()),
    ];
    for (name, value) in settings {
        sqlx::query("select set_config($1, $2, false)").bind(name).bind(value).execute(&mut *conn).await?;
    }
    sqlx::query("set statement_timeout = 0").execute(&mut *conn).await?;

    // The bar counts "work units": one per task and tag_listing row, and fixed shares for the
    // other steps, roughly in proportion to the time they take.
    let unit = sizes.tasks / 20;
    let total = sizes.tasks + sizes.listings + unit * 15;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(500));

    let step = |bar: &ProgressBar, message: &str| bar.set_message(message.to_owned());
    step(&bar, "preparing");
    sqlx::raw_sql(PREPARE).execute(&mut *conn).await?;
    step(&bar, "hosts, tags, packages, targets");
    sqlx::raw_sql(BASE).execute(&mut *conn).await?;
    bar.inc(unit as u64);
    step(&bar, "planning jobs");
    sqlx::raw_sql(JOBS).execute(&mut *conn).await?;
    bar.inc(unit as u64);

    let jobs: i64 = sqlx::query("select jobs::int8 from sim_counts").fetch_one(&mut *conn).await?.try_get(0)?;
    let tasks_per_job = sizes.tasks as f64 / jobs.max(1) as f64;
    let jobs_per_chunk = ((CHUNK as f64 / tasks_per_job) as i64).max(1);
    let mut first = 1;
    while first <= jobs {
        let last = (first + jobs_per_chunk - 1).min(jobs);
        step(&bar, &format!("tasks of jobs {first}..{last} of {jobs}"));
        let done = sqlx::query(TASKS).bind(first as i32).bind(last as i32).execute(&mut *conn).await?;
        bar.inc(done.rows_affected());
        first = last + 1;
    }

    step(&bar, "builds");
    sqlx::raw_sql(BUILDS).execute(&mut *conn).await?;
    sqlx::raw_sql(TAGGED).execute(&mut *conn).await?;
    bar.inc(unit as u64);
    let mut first = 1;
    while first <= sizes.listings {
        let last = (first + CHUNK - 1).min(sizes.listings);
        step(&bar, &format!("tag_listing rows {first}..{last}"));
        sqlx::query(LISTINGS).bind(first).bind(last).execute(&mut *conn).await?;
        bar.inc((last - first + 1) as u64);
        first = last + 1;
    }
    step(&bar, "repos");
    sqlx::raw_sql(REPOS).execute(&mut *conn).await?;
    bar.inc(unit as u64);

    let saved: i32 = sqlx::query("select count(*)::int4 from sim_saved_ddl").fetch_one(&mut *conn).await?.try_get(0)?;
    let share = (unit * 6) / i64::from(saved.max(1));
    for n in 1..=saved {
        let what: String =
            sqlx::query("select pg_temp.restore_ddl($1)").bind(n).fetch_one(&mut *conn).await?.try_get(0)?;
        step(&bar, &format!("rebuilding {what}"));
        bar.inc(share as u64);
    }

    step(&bar, "running work on the builders");
    sqlx::raw_sql(PLACE).execute(&mut *conn).await?;

    for (needed, sql, name) in [
        (Level::V1_33, LEVEL_1_33, "1.33 columns"),
        (Level::V1_34, LEVEL_1_34, "1.34 scheduler and drafts"),
        (Level::V1_35, LEVEL_1_35, "1.35 repo bookkeeping and queue"),
    ] {
        if level >= needed {
            step(&bar, name);
            sqlx::raw_sql(sql).execute(&mut *conn).await?;
        }
    }
    step(&bar, "host load, sequences");
    sqlx::raw_sql(FINISH).execute(&mut *conn).await?;
    bar.inc(unit as u64);
    step(&bar, "vacuum analyze");
    sqlx::raw_sql("vacuum (analyze)").execute(&mut *conn).await?;
    bar.set_position(total as u64);
    bar.finish_with_message("done");
    Ok(())
}
