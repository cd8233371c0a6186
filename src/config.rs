//! Configuration: built-in defaults < TOML file < `KOJI_EXPORTER_*` environment < command-line flags.
//!
//! Every layer goes through one serde model with `deny_unknown_fields`, so a misspelt key is an
//! error at start rather than a silently ignored setting. [`load`] returns a [`Config`] that has
//! also passed [`Config::validate`]: values that parse but cannot work (a zero pool, a statement
//! timeout longer than the scrape timeout, a TLS file that does not exist) are refused there, each
//! with one line that names the key and the fix. Secrets (the database password, a password inside
//! the URL) never leave this module unmasked except towards the database driver.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::koji::Feature;
use crate::names::whole_name_regex;

/// Environment variables with this prefix override the file; `__` separates nesting levels,
/// as in `KOJI_EXPORTER_DATABASE__MAX_CONNECTIONS=3`.
pub const ENV_PREFIX: &str = "KOJI_EXPORTER_";

/// The exporter's whole configuration. Field names are the TOML keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub hosts: HostsConfig,
    pub tasks: TasksConfig,
    pub catalog: CatalogConfig,
    /// Site-defined metrics, declared inline (`[[custom]]` tables).
    pub custom: Vec<CustomMetricConfig>,
    /// More TOML files of `[[metric]]` tables, for sites that keep their metrics apart.
    pub custom_files: Vec<PathBuf>,
}

/// One site-defined metric: a read-only query whose rows become samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomMetricConfig {
    /// Full metric name, e.g. `koji_site_builds_per_owner`; a counter's without `_total`.
    pub name: String,
    pub help: String,
    /// gauge or counter (a counter's value column must only grow).
    #[serde(rename = "type", default)]
    pub kind: CustomKind,
    /// Columns that become labels, in this order.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Column holding the sample value.
    pub value: String,
    /// One SELECT (or WITH ... SELECT).
    pub sql: String,
    /// Results are reused for this long; 0 runs the query on every scrape.
    #[serde(default)]
    pub min_interval_seconds: f64,
    #[serde(default = "default_custom_timeout")]
    pub timeout_seconds: f64,
    /// A schema feature the query needs (as in koji_exporter_schema_feature); without it the
    /// metric is not collected.
    #[serde(default)]
    pub requires_feature: Option<Feature>,
}

/// The types a site metric may have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CustomKind {
    #[default]
    Gauge,
    Counter,
}

fn default_custom_timeout() -> f64 {
    2.0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address and port of the HTTP server.
    pub listen_address: String,
    /// Path that serves the metrics (the operational answer).
    pub telemetry_path: String,
    /// Path that serves the inventory: per-tag and per-package series, a scrape target of its
    /// own for a longer interval and a `sample_limit` of its own.
    pub inventory_path: String,
    /// Upper bound of one scrape's database work; Prometheus' own timeout header can lower it.
    pub scrape_timeout_seconds: f64,
    /// HTTP requests served at once; more get 503 (exporter-toolkit's --web.max-requests).
    pub max_requests: usize,
    /// exporter-toolkit web configuration file (TLS, basic authentication); none: plain HTTP.
    pub config_file: Option<PathBuf>,
    /// Time a client has to send a request's headers (and to finish a TLS handshake).
    pub header_read_timeout_seconds: f64,
    /// A connection whose answer makes no write progress for this long is closed.
    pub write_timeout_seconds: f64,
    /// Connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl WebConfig {
    /// The address to bind: `:PORT` means every IPv4 interface (as the default 0.0.0.0 does);
    /// a host name is resolved when the exporter binds.
    pub fn bind_address(&self) -> String {
        match self.listen_address.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => self.listen_address.clone(),
        }
    }
}

/// Whether `address` is `IP:PORT`, `[IPv6]:PORT`, `HOST:PORT` or `:PORT`.
fn is_listen_address(address: &str) -> bool {
    if address.parse::<SocketAddr>().is_ok() {
        return true;
    }
    let Some((host, port)) = address.rsplit_once(':') else { return false };
    let host_ok = host.is_empty()
        || host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        });
    host_ok && host.len() <= 253 && port.parse::<u16>().is_ok()
}

/// Why axum's router could not serve metrics on `path`, if it cannot.
fn telemetry_path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        Some("it must start with / and hold no spaces")
    } else if path.contains([':', '{', '}', '*']) {
        Some("`:`, `{`, `}` and `*` are route syntax, not literal characters")
    } else if ["/", "/-/healthy", "/-/ready"].contains(&path) || path.starts_with("/-/") {
        Some("/ and the paths under /-/ are the landing page and the health probes")
    } else {
        None
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// libpq's sslmode values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// libpq-style URL; the separate fields below override its parts.
    pub url: Option<Secret>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    /// Prefer `password_file`, `PGPASSWORD` or `~/.pgpass`.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub sslmode: Option<SslMode>,
    pub sslrootcert: Option<PathBuf>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub application_name: String,
    pub max_connections: u32,
    pub connect_timeout_seconds: f64,
    pub statement_timeout_seconds: f64,
    pub lock_timeout_seconds: f64,
    pub idle_in_transaction_timeout_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostsConfig {
    /// Job limit assumed for a builder that does not report one (kojid's own default is 10).
    pub default_max_jobs: u32,
    /// Time the family may take in one scrape.
    pub timeout_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TasksConfig {
    /// Whether tasks are attributed to tags (from the top-level task's request): the queue
    /// gauges' `tag` label and the inventory's per-tag task counts; off, both are empty.
    pub tag_label: bool,
    /// Methods kept as `method` label values; any other method is reported as "other".
    /// Empty keeps every method.
    pub methods: Vec<String>,
    /// How often the task totals are rebuilt from the whole history, correcting what the
    /// incremental engine cannot see (tasks deleted by koji-sweep-db).
    pub reconcile_interval_seconds: f64,
    /// How long a task id that is missing below the newest one is looked for again before it is
    /// taken as rolled back.
    pub gap_grace_seconds: f64,
    /// Time the family may take in one scrape.
    pub timeout_seconds: f64,
    /// Whole-name patterns: tags that keep their own `tag` value (empty: all) ...
    pub tag_include: Vec<String>,
    /// ... and tags reported as "other" instead, by default the sidetag plugin's
    /// `<base>-side-<number>` tags, which would otherwise add series for ever.
    pub tag_exclude: Vec<String>,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            tag_label: true,
            methods: Vec::new(),
            reconcile_interval_seconds: 21600.0,
            gap_grace_seconds: 900.0,
            timeout_seconds: 5.0,
            tag_include: Vec::new(),
            tag_exclude: vec![".*-side-[0-9]+".into()],
        }
    }
}

/// The catalog family (tags, packages, builds, repos): how often the background recount runs
/// and which series it may export.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Off: no background recount and no catalog metrics.
    pub enabled: bool,
    /// Time the family's per-scrape part (a few index probes) may take in one scrape.
    pub timeout_seconds: f64,
    /// How often the background task reads what changed (index probes and range scans of the
    /// newest events and ids) and recomputes the tags it touched.
    pub refresh_interval_seconds: f64,
    /// Everything is recounted from whole tables this often: untagging an old tagging, deleting
    /// or resetting a build and renaming a package leave no trace that an index finds, so they
    /// show up only then.
    pub full_recount_interval_seconds: f64,
    /// Statement timeout of the background recount (scrapes keep `database.statement_timeout_seconds`).
    pub recount_timeout_seconds: f64,
    /// Regular expressions matched against the whole tag name: a tag gets series when it matches
    /// one of `tag_include` (or the list is empty) and none of `tag_exclude`.
    pub tag_include: Vec<String>,
    pub tag_exclude: Vec<String>,
    /// The same for package names (`koji_builds_per_package`).
    pub package_include: Vec<String>,
    pub package_exclude: Vec<String>,
    /// At most this many series per metric name on the inventory; the rest are dropped (in
    /// name order) and counted in `koji_exporter_series_dropped`. The default keeps everything
    /// of a large site; `sample_limit` on the inventory's scrape job is the budget.
    pub max_series_per_metric: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen_address: format!("0.0.0.0:{DEFAULT_PORT}"),
            telemetry_path: "/metrics".into(),
            inventory_path: "/metrics/inventory".into(),
            scrape_timeout_seconds: 8.0,
            max_requests: 40,
            config_file: None,
            header_read_timeout_seconds: 10.0,
            write_timeout_seconds: 10.0,
            max_connections: 128,
        }
    }
}

/// Default HTTP port; see README.md, "Port".
pub const DEFAULT_PORT: u16 = 10045;

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: LogLevel::Info, format: LogFormat::Logfmt }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            host: None,
            port: None,
            user: None,
            dbname: None,
            password: None,
            password_file: None,
            sslmode: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            application_name: "koji-exporter".into(),
            max_connections: 2,
            connect_timeout_seconds: 5.0,
            statement_timeout_seconds: 5.0,
            lock_timeout_seconds: 1.0,
            idle_in_transaction_timeout_seconds: 30.0,
        }
    }
}

impl Default for HostsConfig {
    fn default() -> Self {
        Self { default_max_jobs: 10, timeout_seconds: 4.0 }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout_seconds: 4.0,
            refresh_interval_seconds: 60.0,
            full_recount_interval_seconds: 21_600.0,
            recount_timeout_seconds: 300.0,
            tag_include: Vec::new(),
            tag_exclude: Vec::new(),
            package_include: Vec::new(),
            package_exclude: Vec::new(),
            max_series_per_metric: 1_000_000,
        }
    }
}

/// A string that is never printed: `Debug` and `Serialize` show a mask.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

const MASK: &str = "********";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&mask_url_password(&self.0).unwrap_or_else(|| MASK.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// For a URL, the same URL with its password replaced by a mask (None when it is not a URL).
fn mask_url_password(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let (authority_end, _) = rest.char_indices().find(|(_, c)| matches!(c, '/' | '?')).unwrap_or((rest.len(), ' '));
    let authority = &rest[..authority_end];
    let masked_authority = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{MASK}@{hostport}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let query = &rest[authority_end..];
    let masked_query = query
        .split_inclusive(['?', '&'])
        .map(|part| match part.split_once('=') {
            Some((key, value)) if key.ends_with("password") => {
                let tail = if value.ends_with('&') { "&" } else { "" };
                format!("{key}={MASK}{tail}")
            }
            _ => part.to_owned(),
        })
        .collect::<String>();
    Some(format!("{scheme}://{masked_authority}{masked_query}"))
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telemetry_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
}

impl Overrides {
    fn into_figment(self) -> Figment {
        let mut figment = Figment::new();
        let pairs = [
            ("web.listen_address", self.listen_address),
            ("web.telemetry_path", self.telemetry_path),
            ("log.level", self.log_level),
            ("log.format", self.log_format),
            ("database.url", self.database_url),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        if let Some(file) = self.web_config_file {
            figment = figment.merge(Serialized::default("web.config_file", file));
        }
        figment
    }
}

/// A configuration problem, already phrased as the one line the user sees.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn key(key: &str, problem: impl fmt::Display, fix: impl fmt::Display) -> Self {
        Self(format!("configuration key `{key}`: {problem}; {fix}"))
    }
}

/// Loads and validates the configuration from every layer.
pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        if !file.is_file() {
            return Err(ConfigError(format!(
                "configuration file {} does not exist or is not a file; pass an existing TOML file to --config",
                file.display()
            )));
        }
        check_toml_syntax(file)?;
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__")).merge(overrides.into_figment());
    let mut config: Config = figment.extract().map_err(|error| describe_figment_error(&error, file))?;
    for file in config.custom_files.clone() {
        config.custom.extend(load_custom_file(&file)?);
    }
    config.validate()?;
    Ok(config)
}

/// A file of `[[metric]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomFile {
    #[serde(default)]
    metric: Vec<CustomMetricConfig>,
}

fn load_custom_file(file: &Path) -> Result<Vec<CustomMetricConfig>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|error| {
        ConfigError::key(
            "custom_files",
            format!("{} cannot be read ({error})", file.display()),
            "list readable TOML files",
        )
    })?;
    let parsed: CustomFile = toml::from_str(&text).map_err(|error| {
        let message = error.message().replace('\n', " ");
        ConfigError(format!(
            "custom metrics file {}: {message}; fix the file (config/custom-metrics.example.toml shows the form)",
            file.display()
        ))
    })?;
    Ok(parsed.metric)
}

/// A syntax error of the file as one line, with line and column (figment would quote the
/// offending line over several lines and name no key).
fn check_toml_syntax(file: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|error| {
        ConfigError(format!("configuration file {} cannot be read ({error}); make it readable", file.display()))
    })?;
    let Err(error) = text.parse::<toml::Table>() else { return Ok(()) };
    let at = error.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
        format!(" at line {line}, column {column}")
    });
    Err(ConfigError(format!(
        "configuration file {} is not valid TOML{}: {}; fix its syntax",
        file.display(),
        at.unwrap_or_default(),
        error.message().replace('\n', " ").trim_end()
    )))
}

fn describe_figment_error(error: &figment::Error, file: Option<&Path>) -> ConfigError {
    let mut path = error.path.clone();
    // figment's path of an unknown field usually ends with the field already.
    if let figment::error::Kind::UnknownField(field, _) = &error.kind
        && path.last() != Some(field)
    {
        path.push(field.clone());
    }
    let key = if path.is_empty() { "(top level)".to_owned() } else { path.join(".") };
    let source = error
        .metadata
        .as_ref()
        .map(|metadata| match (&metadata.source, file) {
            // The file as the user gave it, not relative to some other directory.
            (Some(figment::Source::File(_)), Some(file)) => format!(" (in {})", file.display()),
            // Only the flags are merged from code.
            (Some(figment::Source::Code(_)), _) => " (from the command line)".to_owned(),
            (Some(source), _) => format!(" (from {source})"),
            (None, _) if metadata.name.contains("environment") => {
                let variable: Vec<String> = path.iter().map(|part| part.to_ascii_uppercase()).collect();
                format!(" (from the environment variable {ENV_PREFIX}{})", variable.join("__"))
            }
            (None, _) => format!(" (from {})", metadata.name),
        })
        .unwrap_or_default();
    let from_environment = error.metadata.as_ref().is_some_and(|metadata| metadata.name.contains("environment"));
    let fix = match &error.kind {
        figment::error::Kind::UnknownField(..) if from_environment => {
            "remove it or correct its spelling; a section and its key are joined by two underscores, as in KOJI_EXPORTER_DATABASE__URL"
        }
        figment::error::Kind::UnknownField(..) => {
            "remove it or correct its spelling (config/example.toml lists every key)"
        }
        _ => "correct the value (config/example.toml documents every key)",
    };
    if let figment::error::Kind::UnknownVariant(found, expected) = &error.kind {
        return ConfigError::key(
            &key,
            format!("{found:?} is not a value it takes{source}"),
            format!("use one of {}", expected.join(", ")),
        );
    }
    ConfigError::key(&key, format!("{}{source}", error.kind), fix)
}

impl Config {
    /// Refuses values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let web = &self.web;
        if !is_listen_address(&web.listen_address) {
            return Err(ConfigError::key(
                "web.listen_address",
                format!("{:?} is not an address and port", web.listen_address),
                "use a form like 0.0.0.0:10045, [::1]:10045, localhost:10045 or :10045",
            ));
        }
        let path = &web.telemetry_path;
        if let Some(problem) = telemetry_path_problem(path) {
            return Err(ConfigError::key(
                "web.telemetry_path",
                format!("{path:?} cannot serve metrics ({problem})"),
                "use a plain path such as /metrics",
            ));
        }
        let inventory = &web.inventory_path;
        if let Some(problem) = telemetry_path_problem(inventory) {
            return Err(ConfigError::key(
                "web.inventory_path",
                format!("{inventory:?} cannot serve the inventory ({problem})"),
                "use a plain path such as /metrics/inventory",
            ));
        }
        if inventory == path {
            return Err(ConfigError::key(
                "web.inventory_path",
                format!("{inventory:?} is web.telemetry_path too"),
                "give the inventory a path of its own, such as /metrics/inventory",
            ));
        }
        positive("web.scrape_timeout_seconds", web.scrape_timeout_seconds)?;
        if !(1..=10_000).contains(&web.max_requests) {
            return Err(ConfigError::key(
                "web.max_requests",
                format!("{} is outside 1..=10000", web.max_requests),
                "allow a few requests per Prometheus server that scrapes the exporter (default 40)",
            ));
        }
        positive("web.header_read_timeout_seconds", web.header_read_timeout_seconds)?;
        positive("web.write_timeout_seconds", web.write_timeout_seconds)?;
        if !(1..=100_000).contains(&web.max_connections) {
            return Err(ConfigError::key(
                "web.max_connections",
                format!("{} is outside 1..=100000", web.max_connections),
                "allow room for every scraper plus clients that are refused (default 128)",
            ));
        }
        if let Some(file) = &web.config_file
            && !file.is_file()
        {
            return Err(ConfigError::key(
                "web.config_file",
                format!("{} does not exist or is not a file", file.display()),
                "give the path of an exporter-toolkit web configuration file (README.md shows one)",
            ));
        }
        self.database.validate(web.scrape_timeout_seconds)?;
        positive("hosts.timeout_seconds", self.hosts.timeout_seconds)?;
        positive("tasks.timeout_seconds", self.tasks.timeout_seconds)?;
        for metric in &self.custom {
            metric.validate()?;
        }
        let tasks = &self.tasks;
        if !(tasks.reconcile_interval_seconds.is_finite()
            && (60.0..=2_592_000.0).contains(&tasks.reconcile_interval_seconds))
        {
            return Err(ConfigError::key(
                "tasks.reconcile_interval_seconds",
                format!("{} is outside 60 s to 30 days", tasks.reconcile_interval_seconds),
                "use a number of seconds such as 21600 (6 hours)",
            ));
        }
        if !(tasks.gap_grace_seconds.is_finite() && (1.0..=86_400.0).contains(&tasks.gap_grace_seconds)) {
            return Err(ConfigError::key(
                "tasks.gap_grace_seconds",
                format!("{} is outside 1 s to 1 day", tasks.gap_grace_seconds),
                "use a number of seconds longer than your longest hub transaction, such as 900",
            ));
        }
        check_patterns(&[("tasks.tag_include", &tasks.tag_include), ("tasks.tag_exclude", &tasks.tag_exclude)])?;
        if let Some(bad) = tasks.methods.iter().find(|method| method.is_empty() || method.len() > 128) {
            return Err(ConfigError::key(
                "tasks.methods",
                format!("{bad:?} is not a task method"),
                "list Koji method names such as \"build\" and \"buildArch\"",
            ));
        }
        if self.hosts.default_max_jobs == 0 {
            return Err(ConfigError::key(
                "hosts.default_max_jobs",
                "0 would make every host look busy",
                "use kojid's maxjobs (10 unless your kojid.conf says otherwise)",
            ));
        }
        self.catalog.validate()
    }
}

impl CustomMetricConfig {
    /// The numbers; names, labels and the SQL are the site-metric family's to check.
    fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.name;
        if !(self.timeout_seconds.is_finite() && self.timeout_seconds > 0.0 && self.timeout_seconds <= 60.0) {
            return Err(ConfigError(format!(
                "custom metric `{name}`: timeout_seconds {} is outside (0, 60]; use a few seconds",
                self.timeout_seconds
            )));
        }
        if !(self.min_interval_seconds.is_finite() && (0.0..=86_400.0).contains(&self.min_interval_seconds)) {
            return Err(ConfigError(format!(
                "custom metric `{name}`: min_interval_seconds {} is outside 0 to 1 day; use seconds",
                self.min_interval_seconds
            )));
        }
        Ok(())
    }
}

impl CatalogConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let interval = |key: &str, value: f64| {
            if value.is_finite() && (0.1..=86_400.0).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::key(
                    key,
                    format!("{value} is not an interval in seconds"),
                    "use a number of seconds from 0.1 to 86400",
                ))
            }
        };
        positive("catalog.timeout_seconds", self.timeout_seconds)?;
        interval("catalog.refresh_interval_seconds", self.refresh_interval_seconds)?;
        interval("catalog.full_recount_interval_seconds", self.full_recount_interval_seconds)?;
        interval("catalog.recount_timeout_seconds", self.recount_timeout_seconds)?;
        if self.full_recount_interval_seconds < self.refresh_interval_seconds {
            return Err(ConfigError::key(
                "catalog.full_recount_interval_seconds",
                "is shorter than catalog.refresh_interval_seconds",
                "make it at least the refresh interval (the default is 900 s against 60 s)",
            ));
        }
        check_patterns(&[
            ("catalog.tag_include", &self.tag_include),
            ("catalog.tag_exclude", &self.tag_exclude),
            ("catalog.package_include", &self.package_include),
            ("catalog.package_exclude", &self.package_exclude),
        ])?;
        if self.max_series_per_metric == 0 {
            return Err(ConfigError::key(
                "catalog.max_series_per_metric",
                "0 would drop every series",
                "use a positive cap (the default 1000000 keeps every tag and package of a large site) or set catalog.enabled = false",
            ));
        }
        Ok(())
    }
}

/// Every pattern of every listed key compiles.
fn check_patterns(lists: &[(&str, &Vec<String>)]) -> Result<(), ConfigError> {
    for (key, list) in lists {
        for pattern in list.iter() {
            if let Err(error) = whole_name_regex(pattern) {
                let problem = format!("{pattern:?} is not a regular expression ({})", one_line(&error.to_string()));
                return Err(ConfigError::key(key, problem, "fix the pattern (Rust regex syntax)"));
            }
        }
    }
    Ok(())
}

/// A configured number of seconds as a duration (values were checked to be positive).
pub fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.001))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl DatabaseConfig {
    fn validate(&self, scrape_timeout: f64) -> Result<(), ConfigError> {
        if !(2..=16).contains(&self.max_connections) {
            return Err(ConfigError::key(
                "database.max_connections",
                format!("{} is outside 2..=16", self.max_connections),
                "keep the pool tiny: one connection serves scrapes, one background passes (the default 2 suits a replica)",
            ));
        }
        positive("database.connect_timeout_seconds", self.connect_timeout_seconds)?;
        positive("database.statement_timeout_seconds", self.statement_timeout_seconds)?;
        positive("database.lock_timeout_seconds", self.lock_timeout_seconds)?;
        positive("database.idle_in_transaction_timeout_seconds", self.idle_in_transaction_timeout_seconds)?;
        if self.statement_timeout_seconds > scrape_timeout {
            return Err(ConfigError::key(
                "database.statement_timeout_seconds",
                format!(
                    "{} s is longer than web.scrape_timeout_seconds ({scrape_timeout} s), so a slow query could outlive its scrape",
                    self.statement_timeout_seconds
                ),
                "lower it or raise web.scrape_timeout_seconds",
            ));
        }
        if self.application_name.is_empty() || !self.application_name.is_ascii() {
            return Err(ConfigError::key(
                "database.application_name",
                "must be non-empty ASCII",
                "use the default koji-exporter or another plain name",
            ));
        }
        if let Some(url) = &self.url
            && !(url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://"))
        {
            return Err(ConfigError::key(
                "database.url",
                "is not a postgres:// or postgresql:// URL",
                "use a form like postgres://koji_exporter@db.example.org:5432/koji?sslmode=verify-full",
            ));
        }
        if self.password.is_some() && self.password_file.is_some() {
            return Err(ConfigError::key(
                "database.password",
                "is set together with database.password_file",
                "keep only one of them (password_file is preferred)",
            ));
        }
        let files = [
            ("database.password_file", &self.password_file),
            ("database.sslrootcert", &self.sslrootcert),
            ("database.sslcert", &self.sslcert),
            ("database.sslkey", &self.sslkey),
        ];
        for (key, file) in files {
            if let Some(file) = file
                && std::fs::metadata(file).map(|m| !m.is_file()).unwrap_or(true)
            {
                return Err(ConfigError::key(
                    key,
                    format!("{} is not a readable file", file.display()),
                    "give the path of an existing file",
                ));
            }
        }
        if self.sslcert.is_some() != self.sslkey.is_some() {
            return Err(ConfigError::key(
                "database.sslcert",
                "a client certificate needs its key and a key needs its certificate",
                "set both database.sslcert and database.sslkey, or neither",
            ));
        }
        Ok(())
    }
}

fn positive(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 3600.0 {
        Ok(())
    } else {
        Err(ConfigError::key(
            key,
            format!("{value} is not a duration in seconds"),
            "use a number of seconds above 0 and at most 3600",
        ))
    }
}

/// The effective configuration as TOML, secrets masked, for `check-config`.
pub fn render_effective(config: &Config) -> String {
    toml::to_string_pretty(config).unwrap_or_else(|error| format!("# cannot render configuration: {error}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("postgres://koji:s3cret@db:5432/koji?sslmode=require").as_deref(),
            Some("postgres://koji:********@db:5432/koji?sslmode=require")
        );
        assert_eq!(
            mask_url_password("postgres://db/koji?user=k&password=s3cret&sslmode=require").as_deref(),
            Some("postgres://db/koji?user=k&password=********&sslmode=require")
        );
        assert_eq!(mask_url_password("postgres://db/koji").as_deref(), Some("postgres://db/koji"));
        assert_eq!(mask_url_password("not a url"), None);
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), MASK);
        let mut config = Config::default();
        config.database.password = Some(secret);
        config.database.url = Some(Secret::new("postgres://u:hunter2@h/db"));
        let rendered = render_effective(&config);
        assert!(!rendered.contains("hunter2"), "{rendered}");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    #[allow(clippy::result_large_err, reason = "figment::Jail's closures return figment::Error")]
    fn layers_apply_in_order_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[web]\nlisten_address = \"127.0.0.1:1111\"\ntelemetry_path = \"/m\"\n")?;
            jail.set_env("KOJI_EXPORTER_WEB__LISTEN_ADDRESS", "127.0.0.1:2222");
            jail.set_env("KOJI_EXPORTER_DATABASE__MAX_CONNECTIONS", "3");
            let config = load(Some(Path::new("c.toml")), Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.web.listen_address, "127.0.0.1:2222");
            assert_eq!(config.web.telemetry_path, "/m");
            assert_eq!(config.database.max_connections, 3);
            let overrides = Overrides { listen_address: Some("127.0.0.1:3333".into()), ..Overrides::default() };
            let config = load(Some(Path::new("c.toml")), overrides).map_err(|e| e.to_string())?;
            assert_eq!(config.web.listen_address, "127.0.0.1:3333");

            jail.create_file("bad.toml", "[database]\nmax_conections = 3\n")?;
            let error = load(Some(Path::new("bad.toml")), Overrides::default()).unwrap_err().to_string();
            assert!(error.contains("database.max_conections"), "{error}");
            assert!(error.contains("unknown field"), "{error}");
            assert!(!error.contains('\n'));
            Ok(())
        });
    }

    #[test]
    fn impossible_values_name_their_key() {
        type Spoil = fn(&mut Config);
        let cases: [(&str, Spoil); 17] = [
            ("web.write_timeout_seconds", |c| c.web.write_timeout_seconds = 0.0),
            ("web.max_connections", |c| c.web.max_connections = 0),
            ("web.listen_address", |c| c.web.listen_address = "localhost".into()),
            ("web.telemetry_path", |c| c.web.telemetry_path = "/{*rest}".into()),
            ("web.telemetry_path", |c| c.web.telemetry_path = "/-/ready".into()),
            ("web.header_read_timeout_seconds", |c| c.web.header_read_timeout_seconds = 0.0),
            ("web.config_file", |c| c.web.config_file = Some("/nonexistent/web.yml".into())),
            ("database.max_connections", |c| c.database.max_connections = 0),
            ("web.listen_address", |c| c.web.listen_address = "nowhere".into()),
            ("web.telemetry_path", |c| c.web.telemetry_path = "/".into()),
            ("web.inventory_path", |c| c.web.inventory_path = "/-/inventory".into()),
            ("web.inventory_path", |c| c.web.inventory_path = "/metrics".into()),
            ("database.statement_timeout_seconds", |c| c.database.statement_timeout_seconds = 60.0),
            ("catalog.tag_exclude", |c| c.catalog.tag_exclude = vec!["f4[0-".into()]),
            ("catalog.max_series_per_metric", |c| c.catalog.max_series_per_metric = 0),
            ("catalog.full_recount_interval_seconds", |c| c.catalog.full_recount_interval_seconds = 10.0),
            ("catalog.refresh_interval_seconds", |c| c.catalog.refresh_interval_seconds = 0.0),
        ];
        for (key, spoil) in cases {
            let mut config = Config::default();
            spoil(&mut config);
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with(&format!("configuration key `{key}`")), "{error}");
        }
        Config::default().validate().unwrap();
    }

    #[test]
    fn a_site_metric_timeout_or_interval_out_of_range_names_the_metric() {
        let metric = CustomMetricConfig {
            name: "koji_site_a".into(),
            help: "h".into(),
            kind: CustomKind::Gauge,
            labels: Vec::new(),
            value: "v".into(),
            sql: "select 1 as v".into(),
            min_interval_seconds: 0.0,
            timeout_seconds: 2.0,
            requires_feature: None,
        };
        let spoiled = [
            (CustomMetricConfig { timeout_seconds: 0.0, ..metric.clone() }, "timeout_seconds 0"),
            (CustomMetricConfig { timeout_seconds: 61.0, ..metric.clone() }, "timeout_seconds 61"),
            (CustomMetricConfig { min_interval_seconds: -1.0, ..metric.clone() }, "min_interval_seconds -1"),
        ];
        for (spoiled, expected) in spoiled {
            let config = Config { custom: vec![spoiled], ..Config::default() };
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with("custom metric `koji_site_a`: ") && error.contains(expected), "{error}");
        }
        Config { custom: vec![metric], ..Config::default() }.validate().unwrap();
    }

    #[test]
    fn the_example_file_documents_every_key_with_its_default() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let loaded = figment::Figment::from(Toml::file_exact(&example)).extract::<Config>().unwrap();
        assert_eq!(loaded, Config::default(), "the uncommented values in config/example.toml are the defaults");
        let text = std::fs::read_to_string(&example).unwrap();
        let optional = [
            "config_file",
            "url",
            "host",
            "port",
            "user",
            "dbname",
            "password",
            "password_file",
            "sslmode",
            "sslrootcert",
        ];
        let keys = toml::to_string(&Config::default()).unwrap();
        let set_keys = keys.lines().filter_map(|line| line.split_once(" = ").map(|(key, _)| key));
        for key in set_keys.chain(optional).chain(["sslcert", "sslkey"]) {
            assert!(
                text.contains(&format!("\n{key} = ")) || text.contains(&format!("# {key} = ")),
                "{key} undocumented"
            );
        }
    }
}
