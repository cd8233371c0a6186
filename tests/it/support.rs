//! Shared test helpers: throw-away Koji databases at a chosen schema level, an exporter wired to
//! one, a scrape that returns the body, a tiny exposition reader, and a TCP proxy that can cut
//! the database off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use koji_exporter::config::{Config, Secret};
use koji_exporter::http::{AppState, app};
use koji_exporter::startup;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Executor, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Koji schema levels we keep DDL for, and their loader: the simulator's library (`sim/src/lib.rs`),
/// so the tests and `koji-sim create` build the same schema the same way.
pub use koji_sim::Level;

/// The levels that the tests covering several levels run on: the oldest, the first with the
/// scheduler tables (1.34) and the newest.
pub const TESTED: [Level; 3] = [Level::V1_32, Level::V1_34, Level::V1_35];

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The simulator's binary, `koji-sim`, for the tests that run it (`sim.rs`, `ops.rs`).
///
/// It is a package of its own (`sim/`), so Cargo builds it for these tests only when asked and
/// gives them no `CARGO_BIN_EXE_koji-sim`: `scripts/test.sh` runs `cargo build -p koji-sim`
/// before `cargo test`, and this finds it in the profile directory above this test binary
/// (`target/<profile>/deps/it-*` → `target/<profile>/koji-sim`). A binary missing, or older than one
/// of its Rust or SQL sources, fails the test with the command that builds it, instead of testing
/// something else than the code at hand.
pub fn sim_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).expect("the test binary is in target/<profile>/deps");
    let bin = dir.join(format!("koji-sim{}", std::env::consts::EXE_SUFFIX));
    let build = "build it with `cargo build --locked -p koji-sim` (scripts/test.sh does so before the tests)";
    let built = std::fs::metadata(&bin)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|e| panic!("the simulator {} is not there ({e}): {build}", bin.display()));
    let mut sources = vec![repo_path("sim"), repo_path("migrations-fixtures/schema")];
    while let Some(path) = sources.pop() {
        if path.is_dir() {
            sources.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else if path.extension().is_some_and(|ext| ext == "rs" || ext == "sql")
            && std::fs::metadata(&path).and_then(|meta| meta.modified()).is_ok_and(|changed| changed > built)
        {
            panic!("the simulator {} is older than {}: {build}", bin.display(), path.display());
        }
    }
    bin
}

/// The server the tests use: `DATABASE_URL`, or (with `--features testcontainers`) a container.
pub async fn admin_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect(&url).await.is_ok() {
            return url;
        }
        #[cfg(not(feature = "testcontainers"))]
        panic!("DATABASE_URL={url} is not reachable; start PostgreSQL or run with --features testcontainers");
    }
    #[cfg(feature = "testcontainers")]
    {
        container::url().await
    }
    #[cfg(not(feature = "testcontainers"))]
    panic!(
        "set DATABASE_URL to a PostgreSQL role that may create databases, e.g. postgres://postgres@127.0.0.1:5432/postgres \
         (or run with --features testcontainers where Docker is available)"
    )
}

#[cfg(feature = "testcontainers")]
mod container {
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::ContainerAsync;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use tokio::sync::OnceCell;

    static NODE: OnceCell<(ContainerAsync<Postgres>, String)> = OnceCell::const_new();

    pub async fn url() -> String {
        let (_, url) = NODE
            .get_or_init(|| async {
                let node = Postgres::default().start().await.expect("start a PostgreSQL container");
                let port = node.get_host_port_ipv4(5432).await.expect("container port");
                (node, format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"))
            })
            .await;
        url.clone()
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of its own for one test, dropped when the value is.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
    /// A read-write pool for loading fixtures; the exporter gets its own, read-only one.
    pub writer: PgPool,
}

impl TestDb {
    /// An empty database with the Koji schema of `level`.
    pub async fn new(level: Level) -> TestDb {
        TestDb::create(level, None).await
    }

    /// The same with a server encoding other than the default, such as SQL_ASCII (which stores
    /// any bytes, valid UTF-8 or not).
    pub async fn with_encoding(level: Level, encoding: &str) -> TestDb {
        TestDb::create(level, Some(encoding)).await
    }

    async fn create(level: Level, encoding: Option<&str>) -> TestDb {
        let admin_url = admin_url().await;
        let name = format!("koji_it_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let admin = PgPoolOptions::new().max_connections(1).connect(&admin_url).await.expect("connect as admin");
        sweep_stale_databases(&admin).await;
        let options = encoding.map(|e| format!(" encoding '{e}' template template0")).unwrap_or_default();
        admin.execute(AssertSqlSafe(format!("create database {name}{options}"))).await.expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let writer = PgPoolOptions::new().max_connections(2).connect(&url).await.expect("connect to test database");
        // Each level's file in version order, each in its own transaction.
        let mut conn = writer.acquire().await.expect("connect to test database");
        koji_sim::apply(&mut conn, level).await.unwrap_or_else(|e| panic!("apply the schema of level {level}: {e}"));
        drop(conn);
        TestDb { name, url, admin_url, writer }
    }

    /// The database with a fixture loaded, plus its per-level parts (`NAME.1.33.sql`, ...).
    pub async fn with_fixture(level: Level, fixture: &str) -> TestDb {
        let db = TestDb::new(level).await;
        db.load_fixture(level, fixture).await;
        db
    }

    /// Loads a fixture and its parts up to `level` (the database's schema level).
    pub async fn load_fixture(&self, level: Level, fixture: &str) {
        self.load(&format!("migrations-fixtures/fixtures/{fixture}.sql")).await;
        for (part_level, suffix) in [(Level::V1_33, "1.33"), (Level::V1_34, "1.34"), (Level::V1_35, "1.35")] {
            let part = format!("migrations-fixtures/fixtures/{fixture}.{suffix}.sql");
            if level >= part_level && repo_path(&part).exists() {
                self.load(&part).await;
            }
        }
    }

    pub async fn load(&self, relative: &str) {
        load_file(&self.writer, relative).await;
    }

    pub async fn exec(&self, sql: &str) {
        self.writer.execute(AssertSqlSafe(sql.to_owned())).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// An exporter configuration pointing at this database.
    pub fn config(&self) -> Config {
        config_for(&self.url)
    }
}

pub fn config_for(url: &str) -> Config {
    let mut config = Config::default();
    config.database.url = Some(Secret::new(url));
    config.database.connect_timeout_seconds = 1.0;
    config.database.statement_timeout_seconds = 2.0;
    config.web.scrape_timeout_seconds = 3.0;
    config
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs on the test's runtime thread, which must not block on its own sockets: a
        // separate thread with a runtime of its own drops the database, forcing out every
        // session still connected (the writer pool's and the exporter's).
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                if let Ok(admin) = PgPoolOptions::new().max_connections(1).connect(&admin_url).await {
                    let _ = admin.execute(AssertSqlSafe(format!("drop database if exists {name} with (force)"))).await;
                }
            });
        })
        .join();
    }
}

/// Removes databases left by test processes that no longer run (a killed run keeps its own).
async fn sweep_stale_databases(admin: &PgPool) {
    let names: Vec<(String,)> =
        sqlx::query_as("select datname::text from pg_database where datname like 'koji\\_it\\_%'")
            .fetch_all(admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let pid = name.split('_').nth(2).and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = admin.execute(AssertSqlSafe(format!("drop database if exists {name} with (force)"))).await;
        }
    }
}

async fn load_file(pool: &PgPool, relative: &str) {
    let text = std::fs::read_to_string(repo_path(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"));
    let mut tx = pool.begin().await.expect("begin");
    sqlx::raw_sql(AssertSqlSafe(text)).execute(&mut *tx).await.unwrap_or_else(|e| panic!("load {relative}: {e}"));
    tx.commit().await.expect("commit");
}

/// The same server URL with another database name.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let (scheme, rest) = base.split_once("://").expect("a URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}/{database}{query}")
}

/// Host and port of a URL, for the proxy.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, hostport)| hostport);
    if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:5432") }
}

/// The application state the binary would build from `config`.
pub fn state_for(config: &Config) -> AppState {
    let settings = startup::collect_settings(config).expect("collect settings");
    startup::build(config, settings).expect("database settings")
}

pub struct Response {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: axum::http::HeaderMap,
    /// The body as text (lossy: a gzip body is in `bytes`).
    pub body: String,
    pub bytes: Vec<u8>,
}

/// One request through a router built for this request.
pub async fn request(state: &AppState, method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
    request_on(&app(state.clone()), method, uri, headers).await
}

/// One request through `router`, as axum would serve it; clones of a router share its layers
/// (the request cap among them), as the connections of one server do.
pub async fn request_on(router: &axum::Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = router.clone().oneshot(builder.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Response { status, content_type, headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes }
}

pub const OPENMETRICS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Scrapes `/metrics` asking for OpenMetrics, as Prometheus does.
pub async fn scrape(state: &AppState) -> Metrics {
    let response = request(state, "GET", "/metrics", &[("accept", OPENMETRICS_ACCEPT)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    Metrics::parse(&response.body)
}

/// Scrapes the inventory target (`/metrics/inventory`) the same way.
pub async fn scrape_inventory(state: &AppState) -> Metrics {
    let response = request(state, "GET", "/metrics/inventory", &[("accept", OPENMETRICS_ACCEPT)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    Metrics::parse(&response.body)
}

/// Both targets' samples in one (the exporter's own metrics come from the inventory answer).
pub async fn scrape_both(state: &AppState) -> Metrics {
    let mut metrics = scrape(state).await;
    let inventory = scrape_inventory(state).await;
    metrics.samples.extend(inventory.samples);
    metrics.text.push_str(&inventory.text);
    metrics
}

/// Samples of an exposition, keyed by `name{label="value",...}` exactly as printed.
#[derive(Debug)]
pub struct Metrics {
    pub samples: BTreeMap<String, f64>,
    pub text: String,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("sample line {line:?}"));
                (series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("value in {line:?}")))
            })
            .collect();
        Metrics { samples, text: text.to_owned() }
    }

    /// The value of one series, given as it is printed.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.samples.get(series).copied()
    }

    /// The value of one series that must exist.
    #[track_caller]
    pub fn value(&self, series: &str) -> f64 {
        self.get(series).unwrap_or_else(|| panic!("no series {series} in\n{}", self.text))
    }

    /// Every series of a metric name, with their values.
    pub fn family(&self, name: &str) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .filter(|(series, _)| series.split('{').next() == Some(name))
            .map(|(series, value)| (series.clone(), *value))
            .collect()
    }
}

/// A TCP proxy in front of PostgreSQL that a test can take down (connections refused and cut)
/// and bring back on the same port.
pub struct Proxy {
    pub port: u16,
    control: watch::Sender<ProxyMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Forward,
    /// Nothing listens: connections are refused and open ones are cut.
    Down,
    /// Connections are accepted but nothing is ever forwarded.
    Blackhole,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let (control, mode) = watch::channel(ProxyMode::Forward);
        tokio::spawn(run_proxy(Some(listener), port, upstream, mode));
        Proxy { port, control }
    }

    pub fn set(&self, mode: ProxyMode) {
        self.control.send_replace(mode);
    }

    /// The URL of `database` on the server, reached through the proxy.
    pub fn url(&self, admin_url: &str, database: &str) -> String {
        let direct = with_database(admin_url, database);
        let upstream = host_port(admin_url);
        direct.replacen(&upstream, &format!("127.0.0.1:{}", self.port), 1)
    }
}

async fn run_proxy(
    mut listener: Option<TcpListener>,
    port: u16,
    upstream: String,
    mut mode: watch::Receiver<ProxyMode>,
) {
    loop {
        let current = *mode.borrow_and_update();
        if current == ProxyMode::Down {
            listener = None;
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        }
        let active = match listener.take() {
            Some(listener) => listener,
            None => match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => listener,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = active.accept() => {
                listener = Some(active);
                let Ok((client, _)) = accepted else { continue };
                tokio::spawn(serve_client(client, upstream.clone(), mode.clone(), current));
            }
            changed = mode.changed() => {
                listener = Some(active);
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn serve_client(
    mut client: TcpStream,
    upstream: String,
    mut mode: watch::Receiver<ProxyMode>,
    current: ProxyMode,
) {
    if current == ProxyMode::Blackhole {
        // Hold the connection open without answering until the mode changes.
        let _ = mode.changed().await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = async { while mode.changed().await.is_ok() { if *mode.borrow() != ProxyMode::Forward { break; } } } => {}
    }
}
