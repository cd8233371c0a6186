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

use crate::config::{DatabaseConfig, SslMode, seconds};
use crate::schema::SchemaFeatures;

/// How every family, background pass and report reads: one snapshot, read-only, so that the
/// numbers it reads agree with each other.
pub const BEGIN_SNAPSHOT: &str = "begin isolation level repeatable read read only";

/// The pool plus what the newest connection found out about the schema.
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: PgPool,
    /// Where the server listens, for the quick reachability check of [`Database::acquire`].
    target: Target,
    features: Arc<RwLock<Option<SchemaFeatures>>>,
    /// One permit: background passes (the task history, the catalog recount) take turns on a
    /// single pool connection, so the others always remain for scrapes.
    background: Arc<tokio::sync::Semaphore>,
}

impl Database {
    /// Builds the pool without connecting.
    pub fn connect_lazy(config: &DatabaseConfig) -> Result<Self, DbConfigError> {
        let options = connect_options(config)?;
        let target = Target::of(&options);
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
        Ok(Self { pool, target, features, background: Arc::new(tokio::sync::Semaphore::new(1)) })
    }

    /// A pool connection within `wait`, or what went wrong in words. The pool retries a refused
    /// connection until its time-out and then reports only that it timed out; so while the pool
    /// holds no idle connection, the server's address is tried first with a bare TCP (or Unix socket)
    /// connect, closed again before a byte is sent (PostgreSQL logs nothing for that): a refused
    /// connection or an unknown host costs milliseconds and says so.
    pub async fn acquire(&self, wait: Duration) -> Result<PoolConnection<Postgres>, String> {
        // `size()` counts connection attempts in progress too (a background pass retrying a
        // refused port), so the test is for an idle connection to hand out.
        if self.pool.num_idle() == 0 {
            match tokio::time::timeout(wait, self.target.reachable()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(format!("{} did not accept a connection within {wait:?}", self.target)),
            }
        }
        match tokio::time::timeout(wait, self.pool.acquire()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(describe(&error, &self.target)),
            Err(_) => Err(format!("no connection to {} within {wait:?}", self.target)),
        }
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

    /// The schema features when the database holds a Koji schema.
    pub fn koji_features(&self) -> Option<SchemaFeatures> {
        self.features().filter(SchemaFeatures::is_koji)
    }

    /// Schema features found by the most recent new connection, if any connection succeeded yet.
    pub fn features(&self) -> Option<SchemaFeatures> {
        self.features.read().ok().and_then(|slot| *slot)
    }
}

/// Where the server listens: a TCP host and port, or a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Tcp(String, u16),
    Socket(std::path::PathBuf),
}

impl Target {
    fn of(options: &PgConnectOptions) -> Self {
        // As libpq: a host that is a path names the directory of the server's socket.
        let socket = options.get_socket().cloned().or_else(|| {
            let host = options.get_host();
            host.starts_with('/').then(|| std::path::PathBuf::from(host))
        });
        match socket {
            Some(dir) => Target::Socket(dir.join(format!(".s.PGSQL.{}", options.get_port()))),
            None => Target::Tcp(options.get_host().to_owned(), options.get_port()),
        }
    }

    async fn reachable(&self) -> Result<(), String> {
        let result = match self {
            Target::Tcp(host, port) => tokio::net::TcpStream::connect((host.as_str(), *port)).await.map(drop),
            #[cfg(unix)]
            Target::Socket(path) => tokio::net::UnixStream::connect(path).await.map(drop),
            #[cfg(not(unix))]
            Target::Socket(_) => Ok(()),
        };
        result.map_err(|error| describe_io(&error, self))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(host, port) => write!(f, "{host}:{port}"),
            Target::Socket(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A driver error as people read it: a server error's message and SQLSTATE, without the
/// driver's "at line N" (a line of PostgreSQL's own C source, which means nothing here).
pub fn error_text(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        None => error.to_string(),
    }
}

/// A driver error as one line that says what happened and where to look.
fn describe(error: &sqlx::Error, target: &Target) -> String {
    match error {
        sqlx::Error::Io(io) => describe_io(io, target),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let hint = match code.as_ref() {
                "28P01" => "; check database.password, database.password_file or ~/.pgpass",
                "28000" => "; the server's pg_hba.conf refuses this role, host or database",
                "3D000" => "; check database.dbname or the database in database.url",
                "57P03" => "; the server is starting up or shutting down",
                "53300" => "; the server has no connection slots left",
                _ => "",
            };
            format!("{} refused the session: {} (SQLSTATE {code}){hint}", target, db.message())
        }
        sqlx::Error::Tls(tls) => format!("TLS with {target} failed: {tls}"),
        sqlx::Error::PoolTimedOut => format!("no connection to {target} within the connect timeout"),
        other => format!("{target}: {other}"),
    }
}

fn describe_io(error: &std::io::Error, target: &Target) -> String {
    use std::io::ErrorKind;
    match (error.kind(), target) {
        (ErrorKind::ConnectionRefused, Target::Tcp(..)) => {
            format!("connection refused by {target}: is PostgreSQL running and listening there?")
        }
        (ErrorKind::NotFound | ErrorKind::ConnectionRefused, Target::Socket(_)) => {
            format!("no server on the socket {target}: is PostgreSQL running, with this socket directory and port?")
        }
        (ErrorKind::TimedOut, _) => format!("connecting to {target} timed out"),
        _ if error.to_string().contains("lookup") || error.to_string().contains("resolve") => {
            format!("the host name of {target} cannot be resolved ({error}); check database.host or database.url")
        }
        _ => format!("cannot connect to {target}: {error}"),
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
    // libpq's default role is the operating-system user running it, and so is ours when
    // neither the URL, database.user nor PGUSER names one.
    let url_names_user = config
        .url
        .as_ref()
        .and_then(|url| url::Url::parse(url.expose()).ok())
        .is_some_and(|url| !url.username().is_empty() || url.query_pairs().any(|(key, _)| key == "user"));
    if config.user.is_none()
        && !url_names_user
        && std::env::var_os("PGUSER").is_none()
        && let Some(login) = login_name()
    {
        options = options.username(&login);
    }
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
    if let Some(mode) = config.sslmode {
        options = options.ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Allow => PgSslMode::Allow,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        });
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

/// The name of the effective user, as libpq finds it.
fn login_name() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten().map(|user| user.name)
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
    fn without_a_named_role_the_login_name_is_used_as_libpq_does() {
        if std::env::var_os("PGUSER").is_some() {
            return;
        }
        let login = login_name().expect("the test runs as a user with a passwd entry");
        let bare =
            DatabaseConfig { url: Some(Secret::new("postgres://db.example.org/koji")), ..DatabaseConfig::default() };
        assert_eq!(connect_options(&bare).unwrap().get_username(), login);
        let named = DatabaseConfig {
            url: Some(Secret::new("postgres://koji@db.example.org/koji")),
            ..DatabaseConfig::default()
        };
        assert_eq!(connect_options(&named).unwrap().get_username(), "koji");
        let field = DatabaseConfig { user: Some("ro".into()), ..bare };
        assert_eq!(connect_options(&field).unwrap().get_username(), "ro");
    }

    #[test]
    fn url_errors_do_not_quote_the_password() {
        assert_eq!(
            redact("bad url postgres://u:pw@h:x/db", "postgres://u:pw@h:x/db"),
            "bad url postgres://u:********@h:x/db"
        );
    }
}
