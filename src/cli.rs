//! The command line, in the habits of Prometheus exporters (`--web.listen-address`, `--log.level`).
//!
//! Flags only carry what people change per invocation; everything else lives in the
//! configuration file, and a flag that is given wins over the file and the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

#[derive(Debug, Parser)]
#[command(name = "koji-exporter", version, about = "Prometheus exporter that reads a Koji database, read-only")]
pub struct Cli {
    /// TOML configuration file (see config/example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on for HTTP requests.
    #[arg(long = "web.listen-address", global = true, value_name = "ADDR")]
    pub listen_address: Option<String>,

    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", global = true, value_name = "PATH")]
    pub telemetry_path: Option<String>,

    /// exporter-toolkit web configuration file: TLS and basic authentication (YAML).
    #[arg(long = "web.config.file", global = true, value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log.level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format: logfmt or json.
    #[arg(long = "log.format", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Koji database as a libpq-style URL (a password here is visible in `ps`; prefer a file).
    #[arg(long = "database.url", global = true, value_name = "URL")]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Serve metrics over HTTP (the default).
    Serve,
    /// Validate the configuration and print the effective values, secrets masked.
    CheckConfig,
    /// Print a report over the database's history (capacity, queue, hosts, builds, tags).
    Report(ReportArgs),
}

/// `report <name>`: values are checked by `report::Options::parse`, which gives one-line errors.
#[derive(Debug, Args, PartialEq, Eq)]
pub struct ReportArgs {
    /// capacity, queue, hosts, builds or tags.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Start of the window: 2026-10-01, 2026-10-01T12:00 (UTC) or an age (7d, 24h, 30m).
    #[arg(long, default_value = "7d", value_name = "WHEN")]
    pub since: String,
    /// End of the window, same forms; `now` by default.
    #[arg(long, default_value = "now", value_name = "WHEN")]
    pub until: String,
    /// Grouping: channel, arch or host (capacity); method, channel, arch or host (queue).
    #[arg(long, value_name = "GROUPING")]
    pub by: Option<String>,
    /// table, csv or json.
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: String,
    /// Rows of ranked lists (longest waits, targets, owners, tags).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// Print only this section of the report (a plain CSV file with --format csv).
    #[arg(long, value_name = "NAME")]
    pub section: Option<String>,
    /// Print the EXPLAIN plans of the report's statements instead of running it.
    #[arg(long)]
    pub explain: bool,
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen_address: self.listen_address.clone(),
            telemetry_path: self.telemetry_path.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
            database_url: self.database_url.clone(),
            web_config_file: self.web_config_file.clone(),
        }
    }
}
