//! The `koji-exporter` binary: parse the command line, load the configuration, run a command.
//!
//! Exit codes: 0 success, 1 a runtime failure (the port is taken), 2 bad configuration or
//! command line. Errors are one line on stderr that names the problem and the fix.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use koji_exporter::cli::{Cli, Command};
use koji_exporter::collect::{CollectSettings, Collector};
use koji_exporter::config::{self, Config};
use koji_exporter::db::{self, Database};
use koji_exporter::exposition::BuildInfo;
use koji_exporter::http::{self, AppState};
use koji_exporter::telemetry;
use koji_exporter::web::{self, Limits, Security};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load(cli.config.as_deref(), cli.overrides()) {
        Ok(config) => config,
        Err(error) => return fail(2, &error),
    };
    // The web configuration file and the TLS files it names are read now, so that a mistake
    // stops the exporter at start (exit 2) rather than at the first connection.
    let security = match Security::load(config.web.config_file.as_deref()) {
        Ok(security) => security,
        Err(error) => return fail(2, &error),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => check_config(&config),
        Command::Serve => serve(config, security),
    }
}

fn check_config(config: &Config) -> ExitCode {
    if let Err(error) = db::connect_options(&config.database) {
        return fail(2, &error);
    }
    print!("{}", config::render_effective(config));
    if let Some(file) = &config.web.config_file {
        match web::file::read(file) {
            Ok(parsed) => print!("{}", parsed.describe(file)),
            Err(error) => return fail(2, &error),
        }
    }
    ExitCode::SUCCESS
}

fn serve(config: Config, security: Security) -> ExitCode {
    telemetry::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(1, &format!("cannot start the async runtime: {error}")),
    };
    runtime.block_on(async move {
        // The pool spawns its maintenance task, so it is built inside the runtime.
        let database = match Database::connect_lazy(&config.database) {
            Ok(database) => database,
            Err(error) => return fail(2, &error),
        };
        let address = config.web.listen_address.clone();
        let listener = match tokio::net::TcpListener::bind(&address).await {
            Ok(listener) => listener,
            Err(error) => {
                return fail(1, &format!("cannot listen on {address}: {error}; choose another --web.listen-address"));
            }
        };
        let active = security.current();
        tracing::info!(
            address = %address,
            path = %config.web.telemetry_path,
            tls = active.tls.is_some(),
            basic_auth = active.users.is_some(),
            "serving metrics"
        );
        let state = AppState {
            collector: Arc::new(Collector::new(database, CollectSettings::from_config(&config))),
            telemetry_path: config.web.telemetry_path.clone(),
            max_requests: config.web.max_requests,
            scrape_timeout: db::seconds(config.web.scrape_timeout_seconds),
            build: BuildInfo::current(),
        };
        let limits = Limits { header_read_timeout: db::seconds(config.web.header_read_timeout_seconds) };
        match http::serve(listener, state, Arc::new(security), limits).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(1, &format!("HTTP server stopped: {error}")),
        }
    })
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("koji-exporter: {error}");
    ExitCode::from(code)
}
