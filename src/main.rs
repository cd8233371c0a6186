//! The `koji-exporter` binary: parse the command line, load the configuration, run a command.
//!
//! Exit codes: 0 success, 1 a runtime failure (the port is taken), 2 bad configuration or
//! command line. Errors are one line on stderr that names the problem and the fix.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use koji_exporter::cli::{Cli, Command, ReportArgs};
use koji_exporter::collect::{CollectSettings, Collector, custom};
use koji_exporter::config::{self, Config};
use koji_exporter::db::{self, Database};
use koji_exporter::http;
use koji_exporter::report;
use koji_exporter::startup;
use koji_exporter::telemetry;
use koji_exporter::web::{self, Security};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load(cli.config.as_deref(), cli.overrides()) {
        Ok(config) => config,
        Err(error) => return fail(2, &error),
    };
    let settings = match startup::collect_settings(&config) {
        Ok(settings) => settings,
        Err(error) => return fail(2, &error),
    };
    // The web configuration file and the TLS files it names are read now, so that a mistake
    // stops the exporter at start (exit 2) rather than at the first connection.
    let security = match Security::load(config.web.config_file.as_deref()) {
        Ok(security) => security,
        Err(error) => return fail(2, &error),
    };
    match cli.command_or_serve() {
        Command::CheckConfig(_) => check_config(&config, &settings),
        Command::Serve(_) => serve(config, settings, security),
        Command::Report(args) => report(config, &args),
    }
}

/// Statements of a report may take longer than a scrape's; they get at least this long.
const REPORT_STATEMENT_TIMEOUT_SECONDS: f64 = 300.0;

fn report(mut config: Config, args: &ReportArgs) -> ExitCode {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let request = report::Request {
        report: &args.name,
        since: &args.since,
        until: &args.until,
        by: args.by.as_deref(),
        format: &args.format,
        top: args.top,
        section: args.section.as_deref(),
        explain: args.explain,
    };
    let options = match report::Options::parse(&request, now, u64::from(config.hosts.default_max_jobs)) {
        Ok(options) => options,
        Err(error) => return fail(2, &error),
    };
    let database = &mut config.database;
    database.statement_timeout_seconds = database.statement_timeout_seconds.max(REPORT_STATEMENT_TIMEOUT_SECONDS);
    database.idle_in_transaction_timeout_seconds =
        database.idle_in_transaction_timeout_seconds.max(REPORT_STATEMENT_TIMEOUT_SECONDS);
    database.max_connections = 1;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(1, &format!("cannot start the async runtime: {error}")),
    };
    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = runtime.block_on(async {
        let database = Database::connect_lazy(&config.database).map_err(|error| (2, error.to_string()))?;
        report::run(&database, &options, &progress).await.map_err(|error| (1, error.to_string()))
    });
    progress.finish_and_clear();
    let text = match result {
        Ok(text) => text,
        Err((code, error)) => return fail(code, &error),
    };
    // A reader that stops early (`| head`) is not an error.
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => fail(1, &format!("cannot write the report: {error}")),
    }
}

fn check_config(config: &Config, settings: &CollectSettings) -> ExitCode {
    if let Err(error) = db::connect_options(&config.database) {
        return fail(2, &error);
    }
    if !config.custom.is_empty() {
        // Site metrics' SQL is checked against the database when it answers.
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => return fail(1, &format!("cannot start the async runtime: {error}")),
        };
        let checked = runtime.block_on(async {
            let database = Database::connect_lazy(&config.database).map_err(|error| error.to_string())?;
            let checked = custom::check_all(&database, &settings.custom, Duration::from_secs(5)).await?;
            Ok::<_, String>((checked, custom::role_warning(&database, Duration::from_secs(5)).await))
        });
        match checked {
            Ok((true, warning)) => {
                if let Some(warning) = warning {
                    eprintln!("koji-exporter: warning: {warning}");
                }
            }
            Ok((false, _)) => {
                return fail(
                    1,
                    &"the database did not answer within 5 s, so the site metrics' SQL was not checked (the exporter runs none until it passes); run check-config again when the database is reachable",
                );
            }
            Err(error) => return fail(2, &error),
        }
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

fn serve(config: Config, settings: CollectSettings, security: Security) -> ExitCode {
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
        match custom::check_all(&database, &settings.custom, Duration::from_secs(5)).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "the database did not answer at start; each site metric runs only after its SQL passed the database check at the first scrape that reaches the database"
            ),
            Err(error) => return fail(2, &error),
        }
        // In the background: a database that is down must not delay serving.
        let checked = database.clone();
        tokio::spawn(async move {
            if let Some(warning) = custom::role_warning(&checked, Duration::from_secs(60)).await {
                tracing::warn!("{warning}");
            }
        });
        let address = config.web.listen_address.clone();
        let listener = match bind(&config.web.bind_address()).await {
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
        let collector = Arc::new(Collector::new(database, settings));
        // The task history pass and the catalog recount start now, not at the first scrape.
        collector.start_background().await;
        let state = startup::app_state(&config, collector);
        let limits = startup::limits(&config);
        match http::serve(listener, state, Arc::new(security), limits).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(1, &format!("HTTP server stopped: {error}")),
        }
    })
}

/// Binds `address`, resolving a host name first and preferring its IPv4 addresses, as Go's
/// `net.Listen` (and so the other exporters) does.
async fn bind(address: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host(address).await?.collect();
    addresses.sort_by_key(|address| !address.is_ipv4());
    tokio::net::TcpListener::bind(&addresses[..]).await
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("koji-exporter: {error}");
    ExitCode::from(code)
}
