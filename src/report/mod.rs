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
pub mod plan;
pub mod queue;
pub mod render;
pub mod statement;
pub mod tags;
pub mod window;

use indicatif::ProgressBar;
use sqlx::{Connection, PgConnection};

use self::plan::Read;
use self::render::Document;
use self::window::Window;
use crate::collect;
use crate::collect::hosts::HostsSnapshot;
use crate::db::Database;
use crate::schema::SchemaFeatures;

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

    /// What the report reads, in order: `gather` runs these reads and `--explain` prints the
    /// plans of their statements (`plan::explain`), so the two cannot list different reads.
    pub fn reads(self) -> &'static [Read] {
        match self {
            ReportName::Capacity | ReportName::Hosts => &[Read::HostsNow, Read::Tasks],
            ReportName::Queue => &[Read::Tasks],
            ReportName::Builds => &[Read::Builds],
            ReportName::Tags => &[Read::Tags],
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

/// The rows of a report's reads; a read the report does not make leaves its part empty.
#[derive(Debug, Default)]
struct Rows {
    hosts: HostsSnapshot,
    tasks: history::TaskHistory,
    builds: Vec<builds::BuildRow>,
    tags: Vec<tags::TagRow>,
}

/// Makes the report's reads ([`ReportName::reads`]) and computes it, inside the caller's
/// read-only transaction.
pub async fn gather(
    conn: &mut PgConnection,
    features: &SchemaFeatures,
    options: &Options,
    progress: &ProgressBar,
) -> Result<Outcome, sqlx::Error> {
    let window = &options.window;
    let mut rows = Rows::default();
    for read in options.report.reads() {
        match read {
            Read::HostsNow => {
                progress.set_message("reading hosts and channels");
                rows.hosts = collect::hosts::fetch(conn, features).await?;
            }
            Read::Tasks => rows.tasks = history::read(conn, window, progress).await?,
            Read::Builds => {
                progress.set_message("reading builds (build_completion)");
                rows.builds = builds::fetch(conn, window).await?;
            }
            Read::Tags => {
                progress.set_message("counting tag contents");
                rows.tags = tags::fetch(conn, options.top).await?;
            }
        }
    }
    Ok(match options.report {
        ReportName::Capacity => Outcome::Capacity(capacity::compute(options.by, &rows.hosts, &rows.tasks, window)),
        ReportName::Queue => Outcome::Queue(queue::compute(options.by, &rows.tasks, window, options.top)),
        ReportName::Hosts => Outcome::Hosts(hosts::compute(&rows.hosts, &rows.tasks, window, options.default_max_jobs)),
        ReportName::Builds => Outcome::Builds(builds::compute(&rows.builds, options.top)),
        ReportName::Tags => Outcome::Tags(rows.tags),
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

/// Runs a report end to end on one connection and returns its text.
pub async fn run(database: &Database, options: &Options, progress: &ProgressBar) -> Result<String, ReportError> {
    let wait = database.pool.options().get_acquire_timeout();
    let mut conn = database.acquire(wait).await.map_err(ReportError::Connect)?;
    let features = database.koji_features().ok_or(ReportError::NotKoji)?;
    let mut tx = conn.begin_with(crate::db::BEGIN_SNAPSHOT).await?;
    let text = if options.explain {
        plan::explain(&mut tx, &features, options.report.name(), options.report.reads(), &options.window, options.top)
            .await?
    } else {
        let outcome = gather(&mut tx, &features, options, progress).await?;
        render(&document(&outcome, options), options.format)
    };
    tx.commit().await?;
    Ok(text)
}
