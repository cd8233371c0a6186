//! The connection pool, made safe to point at a production Koji database or replica.
//!
//! Safety is a property of the session, not of the code that uses it: every connection starts
//! with `default_transaction_read_only=on`, a `statement_timeout`, a `lock_timeout` and an
//! `idle_in_transaction_session_timeout`, passed as startup parameters so they hold before the
//! first statement runs. The pool is tiny and lazy: the exporter starts and serves while the
//! database is unreachable, and each scrape tries again. Every new connection re-probes the
//! schema (`schema.rs`), so an upgrade or a failover to a different server is noticed.

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, PgPool, Postgres};

use crate::config::DatabaseConfig;
use crate::schema::SchemaFeatures;

/// The pool plus what the newest connection found out about the schema.
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: PgPool,
    features: Arc<RwLock<Option<SchemaFeatures>>>,
    /// One permit: background passes (the task history, the catalog recount) take turns on a
    /// single pool connection, so the others always remain for scrapes.
    background: Arc<tokio::sync::Semaphore>,
}

impl Database {
    /// Builds the pool without connecting.
    pub fn connect_lazy(config: &DatabaseConfig) -> Result<Self, DbConfigError> {
        let options = connect_options(config)?;
        let features: Arc<RwLock<Option<SchemaFeatures>>> = Arc::default();
        let detected = Arc::clone(&features);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(0)
            .acquire_timeout(seconds(config.connect_timeout_seconds))
            .idle_timeout(Duration::from_secs(300))
            .max_lifetime(Duration::from_secs(3600))
            .test_before_acquire(true)
            .after_connect(move |conn, _meta| {
                let detected = Arc::clone(&detected);
                Box::pin(async move {
                    let features = SchemaFeatures::detect(conn).await?;
                    let previous = detected.write().map(|mut slot| slot.replace(features)).unwrap_or(None);
                    if previous != Some(features) {
                        log_detected(&features);
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Self { pool, features, background: Arc::new(tokio::sync::Semaphore::new(1)) })
    }

    /// A pool connection for long background work, once no other background pass holds one.
    /// Keep the permit as long as the connection.
    pub async fn background_connection(
        &self,
    ) -> Result<(tokio::sync::OwnedSemaphorePermit, PoolConnection<Postgres>), sqlx::Error> {
        let permit = Arc::clone(&self.background).acquire_owned().await.map_err(|_| sqlx::Error::PoolClosed)?;
        let conn = self.pool.acquire().await?;
        Ok((permit, conn))
    }

    /// Schema features found by the most recent new connection, if any connection succeeded yet.
    pub fn features(&self) -> Option<SchemaFeatures> {
        self.features.read().ok().and_then(|slot| *slot)
    }
}

fn log_detected(features: &SchemaFeatures) {
    let level = features.level();
    if matches!(level, "none" | "pre-1.26") {
        tracing::warn!(
            level,
            "the database does not hold a supported Koji schema (1.26 or later); families that need missing tables will fail"
        );
    } else {
        tracing::info!(
            level,
            hot_standby = features.in_recovery,
            server_version_num = features.server_version_num,
            "detected Koji schema"
        );
    }
}

/// A database setting that the driver refuses.
#[derive(Debug, thiserror::Error)]
#[error("configuration key `{key}`: {problem}; {fix}")]
pub struct DbConfigError {
    key: &'static str,
    problem: String,
    fix: &'static str,
}

/// Connection options: the `PG*` environment and `~/.pgpass` first, then the URL, then the
/// separate fields, then the session settings that make the connection safe.
pub fn connect_options(config: &DatabaseConfig) -> Result<PgConnectOptions, DbConfigError> {
    let mut options = match &config.url {
        Some(url) => PgConnectOptions::from_str(url.expose()).map_err(|error| DbConfigError {
            key: "database.url",
            problem: format!("cannot be parsed ({})", redact(&error.to_string(), url.expose())),
            fix: "use a form like postgres://koji_exporter@db.example.org:5432/koji?sslmode=verify-full",
        })?,
        None => PgConnectOptions::new(),
    };
    if let Some(host) = &config.host {
        options = options.host(host);
    }
    if let Some(port) = config.port {
        options = options.port(port);
    }
    if let Some(user) = &config.user {
        options = options.username(user);
    }
    if let Some(dbname) = &config.dbname {
        options = options.database(dbname);
    }
    if let Some(password) = &config.password {
        options = options.password(password.expose());
    }
    if let Some(file) = &config.password_file {
        let password = std::fs::read_to_string(file).map_err(|error| DbConfigError {
            key: "database.password_file",
            problem: format!("{} cannot be read ({error})", file.display()),
            fix: "make the file readable by the exporter's user",
        })?;
        options = options.password(password.trim_end_matches(['\r', '\n']));
    }
    if let Some(mode) = &config.sslmode {
        let mode = PgSslMode::from_str(mode).map_err(|_| DbConfigError {
            key: "database.sslmode",
            problem: format!("{mode:?} is not an sslmode"),
            fix: "use disable, allow, prefer, require, verify-ca or verify-full",
        })?;
        options = options.ssl_mode(mode);
    }
    if let Some(file) = &config.sslrootcert {
        options = options.ssl_root_cert(file);
    }
    if let Some(file) = &config.sslcert {
        options = options.ssl_client_cert(file);
    }
    if let Some(file) = &config.sslkey {
        options = options.ssl_client_key(file);
    }
    let millis = |value: f64| format!("{}", (value * 1000.0).round() as u64);
    // Long statements are normal for the background passes; the driver's slow-statement
    // warnings would flood the log, so they are debug-level here.
    let options = options.log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    Ok(options.application_name(&config.application_name).options([
        ("default_transaction_read_only", "on".to_owned()),
        ("statement_timeout", millis(config.statement_timeout_seconds)),
        ("lock_timeout", millis(config.lock_timeout_seconds)),
        ("idle_in_transaction_session_timeout", millis(config.idle_in_transaction_timeout_seconds)),
    ]))
}

/// Removes a URL's password from a driver message that may quote the URL.
fn redact(message: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|password| !password.is_empty());
    match password {
        Some(password) => message.replace(password, "********"),
        None => message.to_owned(),
    }
}

pub fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn sessions_are_read_only_with_timeouts() {
        let config = DatabaseConfig {
            url: Some(Secret::new("postgres://u@db.example.org:6432/koji")),
            dbname: Some("other".into()),
            ..DatabaseConfig::default()
        };
        let options = connect_options(&config).unwrap();
        assert_eq!(options.get_host(), "db.example.org");
        assert_eq!(options.get_port(), 6432);
        assert_eq!(options.get_database(), Some("other"), "a separate field overrides the URL");
        assert_eq!(options.get_application_name(), Some("koji-exporter"));
        let startup = options.get_options().unwrap();
        for setting in ["default_transaction_read_only=on", "statement_timeout=5000", "lock_timeout=1000"] {
            assert!(startup.contains(setting), "{startup}");
        }
    }

    #[test]
    fn url_errors_do_not_quote_the_password() {
        assert_eq!(
            redact("bad url postgres://u:pw@h:x/db", "postgres://u:pw@h:x/db"),
            "bad url postgres://u:********@h:x/db"
        );
    }
}
