//! `koji-exporter report`: capacity and history reports a DBA runs against the Koji database.
//!
//! The exporter answers "how is Koji now"; a report answers "how was it over this window" from
//! the history in the same tables, with the same read-only sessions and, where the data is the
//! same, the same fetch functions (`collect::hosts::fetch` for the hosts now, the tasks family's
//! primary-key range reads for tasks), so a report and `/metrics` cannot disagree about what a
//! row means. Each report is: read rows (I/O, one REPEATABLE READ READ ONLY transaction), compute
//! plain structs from them (pure), render text (`render`, pure).
//!
//! Reports: `capacity`, `queue`, `hosts`, `builds`, `tags`; see each module for the rules.

pub mod builds;
pub mod capacity;
pub mod history;
pub mod hosts;
pub mod queue;
pub mod render;
pub mod tags;
pub mod window;

use std::fmt::Write as _;

use indicatif::ProgressBar;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use self::render::Document;
use self::window::Window;
use crate::collect;
use crate::db::Database;
use crate::schema::SchemaFeatures;
use crate::sql;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportName {
    Capacity,
    Queue,
    Hosts,
    Builds,
    Tags,
}

impl ReportName {
    pub const ALL: [ReportName; 5] =
        [ReportName::Capacity, ReportName::Queue, ReportName::Hosts, ReportName::Builds, ReportName::Tags];

    pub fn name(self) -> &'static str {
        match self {
            ReportName::Capacity => "capacity",
            ReportName::Queue => "queue",
            ReportName::Hosts => "hosts",
            ReportName::Builds => "builds",
            ReportName::Tags => "tags",
        }
    }

    /// The groupings the report offers, the default first (empty: it takes no --by).
    pub fn groupings(self) -> &'static [By] {
        match self {
            ReportName::Capacity => &[By::Channel, By::Arch, By::Host],
            ReportName::Queue => &[By::Method, By::Channel, By::Arch, By::Host],
            ReportName::Hosts | ReportName::Builds | ReportName::Tags => &[],
        }
    }

    pub fn sections(self) -> &'static [&'static str] {
        match self {
            ReportName::Capacity => &["capacity"],
            ReportName::Queue => &["times", "states", "longest_waits"],
            ReportName::Hosts => &["hosts"],
            ReportName::Builds => &["by_state", "by_target", "by_owner"],
            ReportName::Tags => &["tags"],
        }
    }
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Channel,
    /// Channel and task arch.
    Arch,
    Host,
    /// Channel and method.
    Method,
}

impl By {
    pub fn name(self) -> &'static str {
        match self {
            By::Channel => "channel",
            By::Arch => "arch",
            By::Host => "host",
            By::Method => "method",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// A validated report request.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub report: ReportName,
    pub window: Window,
    pub by: By,
    pub format: Format,
    /// Rows of ranked lists (longest waits, targets, owners, tags).
    pub top: usize,
    pub section: Option<String>,
    pub explain: bool,
    /// Job limit of builders that report none (for the "busy" verdict).
    pub default_max_jobs: u64,
}

/// The command-line words of a report request, before validation.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub report: &'a str,
    pub since: &'a str,
    pub until: &'a str,
    pub by: Option<&'a str>,
    pub format: &'a str,
    pub top: usize,
    pub section: Option<&'a str>,
    pub explain: bool,
}

fn names(list: impl IntoIterator<Item = &'static str>) -> String {
    list.into_iter().collect::<Vec<_>>().join(", ")
}

impl Options {
    /// Validates a request; every problem is one line naming it and the fix.
    pub fn parse(request: &Request<'_>, now: f64, default_max_jobs: u64) -> Result<Options, String> {
        let report = ReportName::ALL.into_iter().find(|r| r.name() == request.report).ok_or_else(|| {
            format!(
                "there is no report {:?}; use one of {} (e.g. koji-exporter report capacity)",
                request.report,
                names(ReportName::ALL.map(ReportName::name))
            )
        })?;
        let window = Window::parse(request.since, request.until, now)?;
        let groupings = report.groupings();
        let by = match request.by {
            None => groupings.first().copied().unwrap_or(By::Host),
            Some(word) => match groupings.iter().find(|by| by.name() == word) {
                Some(by) => *by,
                None if groupings.is_empty() => {
                    return Err(format!("report {} takes no --by; leave it out", report.name()));
                }
                None => {
                    return Err(format!(
                        "report {} cannot group --by {word:?}; use one of {}",
                        report.name(),
                        names(groupings.iter().map(|by| by.name()))
                    ));
                }
            },
        };
        let format = match request.format {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            other => return Err(format!("--format {other:?} is not a format; use table, csv or json")),
        };
        if request.top == 0 {
            return Err("--top 0 shows nothing; give at least 1, e.g. --top 20".to_owned());
        }
        if let Some(section) = request.section
            && !report.sections().contains(&section)
        {
            return Err(format!(
                "report {} has no section {section:?}; use one of {}",
                report.name(),
                names(report.sections().iter().copied())
            ));
        }
        Ok(Options {
            report,
            window,
            by,
            format,
            top: request.top,
            section: request.section.map(str::to_owned),
            explain: request.explain,
            default_max_jobs,
        })
    }
}

/// What a report computed, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Capacity(Vec<capacity::CapacityRow>),
    Queue(queue::QueueReport),
    Hosts(Vec<hosts::HostRow>),
    Builds(builds::BuildsReport),
    Tags(Vec<tags::TagRow>),
}

/// Reads what the report needs and computes it, inside the caller's read-only transaction.
pub async fn gather(
    conn: &mut PgConnection,
    features: &SchemaFeatures,
    options: &Options,
    progress: &ProgressBar,
) -> Result<Outcome, sqlx::Error> {
    let window = &options.window;
    Ok(match options.report {
        ReportName::Capacity => {
            progress.set_message("reading hosts and channels");
            let now = collect::hosts::fetch(conn, features).await?;
            let history = history::read(conn, window, progress).await?;
            Outcome::Capacity(capacity::compute(options.by, &now, &history, window))
        }
        ReportName::Queue => {
            let history = history::read(conn, window, progress).await?;
            Outcome::Queue(queue::compute(options.by, &history, window, options.top))
        }
        ReportName::Hosts => {
            progress.set_message("reading hosts");
            let now = collect::hosts::fetch(conn, features).await?;
            let history = history::read(conn, window, progress).await?;
            Outcome::Hosts(hosts::compute(&now, &history, window, options.default_max_jobs))
        }
        ReportName::Builds => {
            progress.set_message("reading builds (build_completion)");
            let rows = builds::fetch(conn, window).await?;
            Outcome::Builds(builds::compute(&rows, options.top))
        }
        ReportName::Tags => {
            progress.set_message("counting tag contents");
            Outcome::Tags(tags::fetch(conn, options.top).await?)
        }
    })
}

/// The document of an outcome (pure).
pub fn document(outcome: &Outcome, options: &Options) -> Document {
    let sections = match outcome {
        Outcome::Capacity(rows) => vec![capacity::section(options.by, rows)],
        Outcome::Queue(report) => queue::sections(options.by, report),
        Outcome::Hosts(rows) => vec![hosts::section(rows)],
        Outcome::Builds(report) => builds::sections(report),
        Outcome::Tags(rows) => vec![tags::section(rows)],
    };
    let document =
        Document { report: options.report.name(), since: options.window.since, until: options.window.until, sections };
    match &options.section {
        Some(section) => document.clone().only(section).unwrap_or(document),
        None => document,
    }
}

pub fn render(document: &Document, format: Format) -> String {
    match format {
        Format::Table => render::table(document),
        Format::Csv => render::csv(document),
        Format::Json => render::json(document),
    }
}

/// A statement with the parameters the report would bind, for `--explain`.
enum Param {
    Int(i32),
    BigInt(i64),
    Float(f64),
    Texts(Vec<String>),
}

/// The plans of the report's statements, with the parameters it would use (the id range is
/// found first with the same primary-key probes, which are cheap).
pub async fn explain(conn: &mut PgConnection, options: &Options) -> Result<String, sqlx::Error> {
    let window = &options.window;
    let methods = collect::tasks::request::tag_method_names();
    let mut statements: Vec<(&str, &str, Vec<Param>)> = Vec::new();
    match options.report {
        ReportName::Capacity | ReportName::Queue | ReportName::Hosts => {
            let range = history::id_range(conn, window).await?;
            let (first, last) = range.unwrap_or((1, 1));
            statements.push(("report", "task_id_bounds", vec![]));
            statements.push(("report", "task_at_or_after", vec![Param::Int(first + (last - first) / 2)]));
            statements.push((
                "tasks",
                "created_after",
                vec![Param::Texts(methods.clone()), Param::Int(first - 1), Param::BigInt(50_000)],
            ));
            statements.push(("tasks", "nonterminal", vec![Param::Texts(methods)]));
            if options.report != ReportName::Queue {
                statements.push(("hosts", "hosts", vec![]));
            }
        }
        ReportName::Builds => {
            statements.push((
                "report",
                "builds_completed",
                vec![Param::Float(window.since), Param::Float(window.until)],
            ));
        }
        ReportName::Tags => {
            statements.push(("report", "tags_direct", vec![Param::BigInt(options.top as i64)]));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- report {}: plans of its statements with the parameters it would bind (EXPLAIN, nothing is run)",
        options.report.name()
    );
    for (family, name, params) in statements {
        let text = sql::statement(family, name);
        let mut query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(format!("explain {text}")));
        let mut shown = Vec::new();
        for (index, param) in params.into_iter().enumerate() {
            let n = index + 1;
            query = match param {
                Param::Int(value) => {
                    shown.push(format!("${n} = {value}"));
                    query.bind(value)
                }
                Param::BigInt(value) => {
                    shown.push(format!("${n} = {value}"));
                    query.bind(value)
                }
                Param::Float(value) => {
                    shown.push(format!("${n} = {value} ({})", window::format_iso(value)));
                    query.bind(value)
                }
                Param::Texts(values) => {
                    shown.push(format!("${n} = {{{}}}", values.join(",")));
                    query.bind(values)
                }
            };
        }
        let plan = query.fetch_all(&mut *conn).await?;
        let _ = writeln!(out, "\n-- sql/{family}.sql: {name}");
        if !shown.is_empty() {
            let _ = writeln!(out, "-- {}", shown.join(", "));
        }
        for (line,) in plan {
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(out)
}

/// Why a report could not be produced (the database, not the request).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read the database ({}); check --database.url and that the role may read Koji's tables", crate::db::error_text(.0))]
    Database(#[from] sqlx::Error),
    #[error("the database holds no Koji schema this program knows; point --database.url at a Koji database")]
    NotKoji,
    #[error("cannot connect: {0}")]
    Connect(String),
}

const BEGIN: &str = "begin isolation level repeatable read read only";

/// Runs a report end to end on one connection and returns its text.
pub async fn run(database: &Database, options: &Options, progress: &ProgressBar) -> Result<String, ReportError> {
    let wait = database.pool.options().get_acquire_timeout();
    let mut conn = database.acquire(wait).await.map_err(ReportError::Connect)?;
    let features = database.koji_features().ok_or(ReportError::NotKoji)?;
    let mut tx = conn.begin_with(BEGIN).await?;
    let text = if options.explain {
        explain(&mut tx, options).await?
    } else {
        let outcome = gather(&mut tx, &features, options, progress).await?;
        render(&document(&outcome, options), options.format)
    };
    tx.commit().await?;
    Ok(text)
}
