//! `koji-sim`: makes Koji databases for trying and benchmarking koji-exporter.
//!
//! The exporter only ever reads; this is the one program in the project that writes, and only to
//! the database named with `--database.url` (as the exporter spells it; `--database-url` still works). `create` lays our Koji schema subset into an empty
//! database and fills it with a history of the chosen scale; `live` then keeps changing it the way
//! a healthy hub and its builders would, or plays an unhealthy case (`--scenario`).
//!
//! It is a package of its own (`sim/`), apart from the exporter: nothing here is shared with the
//! exporter library, and none of it (nor what only it depends on) is built into the exporter's
//! binary.
//! Its library target (`src/lib.rs`: the schema levels and their DDL) is what the exporter's
//! integration tests load their databases with.
//!
//! Exit codes: 0 success, 1 a runtime failure (database error, counts off target), 2 a refusal or
//! a bad command line (the database already has a schema, an unknown scale).

mod fill;
mod live;
mod scale;
mod schema;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::scale::Scale;
use crate::schema::Level;

#[derive(Debug, Parser)]
#[command(
    name = "koji-sim",
    version,
    about = "Creates and animates Koji databases for koji-exporter's tests and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the Koji schema subset in an empty database and fill it with a history.
    Create {
        /// The database to write to (it is changed, so never point this at a real Koji).
        #[arg(long = "database.url", alias = "database-url", value_name = "URL")]
        database_url: String,
        /// Size of the history: tiny, small, medium or large.
        #[arg(long, default_value = "small")]
        scale: Scale,
        /// Koji schema level to create: 1.32, 1.33, 1.34 or 1.35.
        #[arg(long, default_value = "1.35")]
        schema_level: Level,
        /// Seed of the pseudo-random choices; the same seed gives the same rows.
        #[arg(long, default_value_t = 1)]
        seed: u32,
        /// Fill a database that already has our schema (its tables must be empty).
        #[arg(long)]
        force_existing_schema: bool,
    },
    /// Keep changing a filled database as a Koji hub and its builders would.
    Live {
        /// The database to write to.
        #[arg(long = "database.url", alias = "database-url", value_name = "URL")]
        database_url: String,
        /// New top-level tasks per second (default: one for every 100 units of enabled builder
        /// capacity, which keeps the site busy but not full).
        #[arg(long)]
        rate: Option<f64>,
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// Play an unhealthy case instead of a healthy site: overload, host-down or stuck-queue.
        #[arg(long, value_enum)]
        scenario: Option<live::Scenario>,
    },
}

/// A failure and the exit code it maps to.
pub enum Failure {
    Refused(String),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Runtime(error)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        Failure::Runtime(error.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return report(Failure::Runtime(error.into())),
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Create { database_url, scale, schema_level, seed, force_existing_schema } => {
                create(&database_url, scale, schema_level, seed, force_existing_schema).await
            }
            Command::Live { database_url, rate, duration, scenario } => {
                live::run(&database_url, rate, duration, scenario).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(failure),
    }
}

fn report(failure: Failure) -> ExitCode {
    match failure {
        Failure::Refused(message) => {
            eprintln!("koji-sim: {message}");
            ExitCode::from(2)
        }
        Failure::Runtime(error) => {
            eprintln!("koji-sim: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn create(url: &str, scale: Scale, level: Level, seed: u32, force: bool) -> Result<(), Failure> {
    let mut conn = PgConnection::connect(url).await?;
    if schema::has_task_table(&mut conn).await? {
        if !force {
            return Err(Failure::Refused(
                "the database already has a `task` table; use an empty database or pass --force-existing-schema".into(),
            ));
        }
        schema::check_existing(&mut conn, level).await?;
    } else {
        schema::apply(&mut conn, level).await?;
    }
    let started = std::time::Instant::now();
    fill::run(&mut conn, scale, level, seed).await?;
    let elapsed = started.elapsed();
    let counts = verify::counts(&mut conn).await?;
    print!("{}", verify::render(&counts, scale));
    println!("filled scale {} (schema {level}, seed {seed}) in {:.1} s", scale.name(), elapsed.as_secs_f64());
    verify::check(&counts, scale).map_err(Failure::Runtime)?;
    conn.close().await?;
    Ok(())
}
