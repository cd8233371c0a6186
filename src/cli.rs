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

    /// Serving flags given before any command (`koji-exporter --web.listen-address ...`, the way
    /// exporters are usually started).
    #[command(flatten)]
    pub web: WebArgs,

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

/// The HTTP flags, which only `serve` and `check-config` take (`report --help` does not list
/// them).
#[derive(Debug, Args, Default, Clone, PartialEq, Eq)]
pub struct WebArgs {
    /// Address to listen on for HTTP requests.
    #[arg(long = "web.listen-address", value_name = "ADDR")]
    pub listen_address: Option<String>,

    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", value_name = "PATH")]
    pub telemetry_path: Option<String>,

    /// exporter-toolkit web configuration file: TLS and basic authentication (YAML).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
}

impl WebArgs {
    /// These flags, each one that is missing taken from `outer`.
    fn or(&self, outer: &WebArgs) -> WebArgs {
        WebArgs {
            listen_address: self.listen_address.clone().or_else(|| outer.listen_address.clone()),
            telemetry_path: self.telemetry_path.clone().or_else(|| outer.telemetry_path.clone()),
            web_config_file: self.web_config_file.clone().or_else(|| outer.web_config_file.clone()),
        }
    }
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Serve metrics over HTTP (the default).
    Serve(WebArgs),
    /// Validate the configuration and print the effective values, secrets masked.
    CheckConfig(WebArgs),
    /// Print a report over the database's history (capacity, queue, hosts, builds, tags).
    Report(ReportArgs),
}

/// `report <name>`: values are checked by `report::Options::parse`, which gives one-line errors.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
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
    #[arg(long, default_value_t = 20, value_name = "N", allow_negative_numbers = true, value_parser = rows)]
    pub top: usize,
    /// Print only this section of the report (a plain CSV file with --format csv).
    #[arg(long, value_name = "NAME")]
    pub section: Option<String>,
    /// Print the EXPLAIN plans of the report's statements instead of running it.
    #[arg(long)]
    pub explain: bool,
}

/// `--top`: a count of rows, with a message that says so (clap would suggest `-- -1`).
fn rows(text: &str) -> Result<usize, String> {
    text.parse::<usize>().map_err(|_| format!("{text:?} is not a number of rows; give a whole number such as 20"))
}

impl Cli {
    /// The command, `serve` when none was given.
    pub fn command_or_serve(&self) -> Command {
        self.command.clone().unwrap_or(Command::Serve(WebArgs::default()))
    }

    pub fn overrides(&self) -> Overrides {
        let web = match &self.command {
            Some(Command::Serve(web) | Command::CheckConfig(web)) => web.or(&self.web),
            _ => self.web.clone(),
        };
        Overrides {
            listen_address: web.listen_address,
            telemetry_path: web.telemetry_path,
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
            database_url: self.database_url.clone(),
            web_config_file: web.web_config_file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn web_flags_work_before_and_after_serve_but_not_for_report() {
        let before = Cli::parse_from(["koji-exporter", "--web.listen-address", ":1", "serve"]);
        assert_eq!(before.overrides().listen_address.as_deref(), Some(":1"));
        let after =
            Cli::parse_from(["koji-exporter", "--web.listen-address", ":1", "serve", "--web.listen-address", ":2"]);
        assert_eq!(after.overrides().listen_address.as_deref(), Some(":2"), "the later flag wins");
        let bare = Cli::parse_from(["koji-exporter", "--web.telemetry-path", "/m"]);
        assert_eq!(bare.overrides().telemetry_path.as_deref(), Some("/m"));
        assert!(Cli::try_parse_from(["koji-exporter", "report", "queue", "--web.listen-address", ":1"]).is_err());
        let mut command = Cli::command();
        command.build();
        let help = command.find_subcommand_mut("report").unwrap().render_long_help().to_string();
        assert!(!help.contains("--web."), "{help}");
        assert!(help.contains("--database.url"), "{help}");
    }

    #[test]
    fn a_negative_top_gets_a_plain_message() {
        let error = Cli::try_parse_from(["koji-exporter", "report", "queue", "--top", "-1"]).unwrap_err().to_string();
        assert!(error.contains("not a number of rows"), "{error}");
        assert!(!error.contains("-- -1"), "{error}");
    }
}
