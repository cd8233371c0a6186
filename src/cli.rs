//! The command line, in the habits of Prometheus exporters (`--web.listen-address`, `--log.level`).
//!
//! Flags only carry what people change per invocation; everything else lives in the
//! configuration file, and a flag that is given wins over the file and the environment.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
