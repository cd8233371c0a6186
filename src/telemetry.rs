//! Logging through `tracing`: logfmt-like text or JSON lines on stderr.
//!
//! `RUST_LOG` still works for fine-grained filters; `--log.level` sets the exporter's own level.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Safe to call once per process.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,koji_exporter={}", config.level.name())));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if config.format == LogFormat::Json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    if let Err(error) = result {
        eprintln!("koji-exporter: logging was already set up: {error}");
    }
}
