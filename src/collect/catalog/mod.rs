//! The catalog family: tags, their package lists and tagged builds, builds, repos.
//!
//! Exact per-tag numbers need Koji's inheritance rules (`inheritance.rs`) over whole tables:
//! every current tagging (`tag_listing`), every build, every repo. That cannot run inside a
//! scrape on a large Koji, so this module splits the family in two:
//!
//! - a **live** part ([`fetch_live`]) that every scrape reads in its own transaction, from a few
//!   index entries or small tables: builds finished recently, the repo request queue;
//! - a **cached** part ([`Catalog`]) that a background task keeps on the pool's background
//!   connection (`recount.rs`): a full recount of whole tables at start and every
//!   `full_recount_interval_seconds`, and in between, every `refresh_interval_seconds`, a read
//!   of only what changed (by event and id, through indexes), which recomputes the tags it
//!   touched and their descendants. A scrape never waits for it: it takes the last completed
//!   result and its age, or nothing before the first cycle has finished.
//!
//! Series are cut here, not in the exposition: names are filtered by the configured patterns
//! and capped per metric, and the number cut is part of the data.

pub mod inheritance;
mod recount;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::time::timeout;

pub use self::recount::TagCounts;
use self::recount::{Changes, Lists, Repo, State, count};
use crate::db::Database;
use crate::koji;
use crate::names::NameFilter;
use crate::schema::SchemaFeatures;
use crate::sql;

/// What one scrape reports for the family.
#[derive(Debug, Clone, Default)]
pub struct CatalogSnapshot {
    /// This scrape's live part; None when it failed.
    pub live: Option<LiveCatalog>,
    /// The newest background result; None until the first cycle has completed.
    pub cached: Option<Arc<CachedCatalog>>,
    /// Seconds since the transaction that produced `cached` began.
    pub age_seconds: Option<f64>,
}

/// Read by every scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveCatalog {
    /// Builds by current state that finished in the last hour, day and week.
    pub finished: Vec<FinishedBuilds>,
    /// Koji 1.35+: the repo request queue.
    pub repo_queue: Option<RepoQueue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinishedBuilds {
    pub state: i32,
    pub last_hour: u64,
    pub last_day: u64,
    pub last_week: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepoQueue {
    pub requests: u64,
    /// Unix time the oldest active request was made; None when the queue is empty.
    pub oldest: Option<f64>,
}

/// Computed by the background task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CachedCatalog {
    /// Existing tags that pass the tag patterns, in name order, capped.
    pub tags: Vec<TagCounts>,
    /// Build rows of each package (any state), packages that pass the patterns, capped.
    pub builds_per_package: Vec<(String, u64)>,
    /// Build rows per state, every state present in the table.
    pub builds_by_state: BTreeMap<i32, u64>,
    /// Repo rows per state (dist repos included).
    pub repos_by_state: BTreeMap<i32, u64>,
    /// Per existing tag that passes the patterns: Unix time of the content of its newest READY
    /// non-dist repo. Tags without one are absent. Capped.
    pub newest_ready_repo: Vec<(String, f64)>,
    /// Series cut by the cap, per list (only lists that lost some).
    pub dropped: Vec<(Capped, u64)>,
    /// How long the cycle that produced this took.
    pub duration_seconds: f64,
    /// How often each part was re-read since the exporter started.
    pub reads: Vec<(&'static str, u64)>,
}

/// The series lists the cap applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// The per-tag counts (four metrics share one list).
    Tags,
    /// Build rows per package.
    Packages,
    /// The newest READY repo per tag.
    ReadyRepos,
}

/// Reads the live part. Call inside the scrape's read-only transaction.
#[tracing::instrument(skip_all)]
pub async fn fetch_live(conn: &mut PgConnection, features: &SchemaFeatures) -> Result<LiveCatalog, sqlx::Error> {
    let rows: Vec<(i32, i64, i64, i64)> =
        sqlx::query_as(sql::statement("catalog", "builds_finished_recently")).fetch_all(&mut *conn).await?;
    let mut finished: Vec<FinishedBuilds> = rows
        .into_iter()
        .map(|(state, hour, day, week)| FinishedBuilds {
            state,
            last_hour: count(hour),
            last_day: count(day),
            last_week: count(week),
        })
        .collect();
    finished.sort_by_key(|row| row.state);
    let repo_queue = if features.has_repo_queue {
        let (requests, oldest): (i64, Option<f64>) =
            sqlx::query_as(sql::statement("catalog", "repo_queue")).fetch_one(&mut *conn).await?;
        Some(RepoQueue { requests: count(requests), oldest })
    } else {
        None
    };
    Ok(LiveCatalog { finished, repo_queue })
}

/// Pause after a background cycle that could not reach the database, when shorter than the
/// refresh interval.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(5);

/// What the family needs to know, from the configuration's `catalog` table.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time the live part may take in one scrape.
    pub timeout: Duration,
    /// How often the background task looks for changes.
    pub refresh_interval: Duration,
    /// Everything is re-read at least this often.
    pub full_recount_interval: Duration,
    /// Time one background cycle may take.
    pub recount_timeout: Duration,
    /// Tags and packages that get series.
    pub tags: NameFilter,
    pub packages: NameFilter,
    /// At most this many series per list.
    pub max_series: usize,
}

/// The cached half of the family: the last background result, and the task that makes it.
#[derive(Debug)]
pub struct Catalog {
    inner: Arc<Inner>,
    started: AtomicBool,
}

#[derive(Debug)]
struct Inner {
    settings: Settings,
    latest: Mutex<Option<(Arc<CachedCatalog>, Instant)>>,
}

impl Catalog {
    pub fn new(settings: Settings) -> Self {
        Self { inner: Arc::new(Inner { settings, latest: Mutex::new(None) }), started: AtomicBool::new(false) }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Starts the background task on the first call (it needs the Tokio runtime, which the
    /// first scrape runs in). The task ends when the `Catalog` is dropped.
    pub fn start(&self, db: &Database) {
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(background(Arc::downgrade(&self.inner), db.clone()));
        }
    }

    /// The scrape's view: the last completed background result and its age, never waiting.
    pub fn snapshot(&self, live: Option<LiveCatalog>) -> CatalogSnapshot {
        let latest = self.inner.latest.lock().map(|slot| slot.clone()).unwrap_or(None);
        CatalogSnapshot {
            live,
            age_seconds: latest.as_ref().map(|(_, taken)| taken.elapsed().as_secs_f64()),
            cached: latest.map(|(cached, _)| cached),
        }
    }
}

async fn background(inner: Weak<Inner>, db: Database) {
    let mut state = Recount::default();
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let started = Instant::now();
        let settings = &strong.settings;
        let unreachable = match timeout(settings.recount_timeout, state.cycle(&db, settings)).await {
            Ok(Ok(None)) => false,
            Ok(Ok(Some(mut result))) => {
                result.duration_seconds = started.elapsed().as_secs_f64();
                if let Ok(mut slot) = strong.latest.lock() {
                    *slot = Some((Arc::new(result), started));
                }
                false
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %crate::db::error_text(&error), "catalog recount failed; scrapes keep the previous result");
                matches!(
                    error,
                    sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_)
                )
            }
            Err(_) => {
                tracing::warn!("catalog recount ran out of catalog.recount_timeout_seconds");
                false
            }
        };
        // A cycle that could not reach the database is tried again soon, so that the catalog
        // returns within seconds of the database rather than a refresh interval; a cycle that
        // failed on the database (a timeout at scale) waits the whole interval, not to hammer it.
        let pause =
            if unreachable { settings.refresh_interval.min(UNREACHABLE_RETRY) } else { settings.refresh_interval };
        drop(strong);
        tokio::time::sleep(pause).await;
    }
}

/// The kept state and how often each kind of cycle ran.
#[derive(Default)]
struct Recount {
    state: Option<State>,
    last_full: Option<Instant>,
    reads: [u64; 2],
}

/// The kinds of background cycle `koji_exporter_catalog_reads_total` counts: whole-table
/// recounts and reads of what changed.
const PARTS: [&str; 2] = ["full", "changes"];

impl Recount {
    /// One background cycle; None when the database holds no Koji schema (the detection has
    /// said so once, at WARN; a cycle's failure would say it again every interval).
    async fn cycle(&mut self, db: &Database, settings: &Settings) -> Result<Option<CachedCatalog>, sqlx::Error> {
        // The pool's background connection: background passes take turns on one connection,
        // so the rest of the pool stays free for scrapes and the pool never grows past its size.
        let (_permit, mut conn) = db.background_connection().await?;
        if db.koji_features().is_none() {
            return Ok(None);
        }
        let began = Instant::now();
        let mut tx = conn.begin_with(crate::db::BEGIN_SNAPSHOT).await?;
        let millis = settings.recount_timeout.as_millis().to_string();
        sqlx::query(sql::statement("catalog", "recount_statement_timeout")).bind(millis).execute(&mut *tx).await?;
        let changes = Changes::probe(&mut tx).await?;
        let full_due = self.last_full.is_none_or(|at| at.elapsed() >= settings.full_recount_interval);
        match &mut self.state {
            Some(state) if !full_due => {
                state.update(&mut tx, changes).await?;
                self.reads[1] += 1;
            }
            _ => {
                let state = State::full(&mut tx, changes).await?;
                self.state = Some(state);
                self.last_full = Some(began);
                self.reads[0] += 1;
            }
        }
        tx.commit().await?;
        let state = self.state.as_ref().expect("set above");
        Ok(Some(assemble(
            settings,
            &state.lists,
            &state.tag_counts,
            &state.builds,
            state.repos.values(),
            state.deleted_repos,
            &self.reads,
        )))
    }
}

/// Filters, caps and sums everything into the result a scrape serves.
fn assemble<'a>(
    settings: &Settings,
    lists: &Lists,
    tag_counts: &HashMap<i32, TagCounts>,
    builds: &HashMap<i32, BTreeMap<i32, u64>>,
    repos: impl Iterator<Item = &'a Repo>,
    deleted_repos: u64,
    reads: &[u64; 2],
) -> CachedCatalog {
    let mut dropped = Vec::new();
    let cap = settings.max_series;

    let mut tags: Vec<TagCounts> =
        tag_counts.values().filter(|counts| settings.tags.keeps(&counts.name)).cloned().collect();
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    cap_series(&mut tags, cap, Capped::Tags, &mut dropped);

    let mut builds_by_state: BTreeMap<i32, u64> = BTreeMap::new();
    let mut builds_per_package: Vec<(String, u64)> = Vec::new();
    for (package, states) in builds {
        let mut total = 0;
        for (state, n) in states {
            *builds_by_state.entry(*state).or_default() += n;
            total += n;
        }
        if total > 0
            && let Some(&index) = lists.package_ids.get(package)
            && settings.packages.keeps(&lists.package_names[index])
        {
            builds_per_package.push((lists.package_names[index].clone(), total));
        }
    }
    builds_by_state.retain(|_, n| *n > 0);
    builds_per_package.sort();
    cap_series(&mut builds_per_package, cap, Capped::Packages, &mut dropped);

    let tag_names: HashMap<i32, &str> = lists.tags.iter().map(|(id, name)| (*id, name.as_str())).collect();
    let mut repos_by_state: BTreeMap<i32, u64> = BTreeMap::new();
    if deleted_repos > 0 {
        repos_by_state.insert(koji::repo::DELETED, deleted_repos);
    }
    // Per tag: the newest READY non-dist repo's create_event and content time.
    let mut newest: HashMap<i32, (i32, Option<f64>)> = HashMap::new();
    for repo in repos {
        // A repo without a state is odd data; it counts as state -1 ("unknown").
        *repos_by_state.entry(repo.state.unwrap_or(-1)).or_default() += 1;
        if repo.state == Some(koji::repo::READY) && !repo.dist {
            let slot = newest.entry(repo.tag).or_insert((repo.event, repo.time));
            if repo.event > slot.0 {
                *slot = (repo.event, repo.time);
            }
        }
    }
    let mut newest_ready_repo: Vec<(String, f64)> = newest
        .into_iter()
        .filter_map(|(tag, (_, time))| Some(((*tag_names.get(&tag)?).to_owned(), time?)))
        .filter(|(name, _)| settings.tags.keeps(name))
        .collect();
    newest_ready_repo.sort_by(|a, b| a.0.cmp(&b.0));
    cap_series(&mut newest_ready_repo, cap, Capped::ReadyRepos, &mut dropped);

    CachedCatalog {
        tags,
        builds_per_package,
        builds_by_state,
        repos_by_state,
        newest_ready_repo,
        dropped,
        duration_seconds: 0.0,
        reads: PARTS.iter().copied().zip(reads.iter().copied()).collect(),
    }
}

fn cap_series<T>(series: &mut Vec<T>, cap: usize, list: Capped, dropped: &mut Vec<(Capped, u64)>) {
    if series.len() > cap {
        dropped.push((list, (series.len() - cap) as u64));
        series.truncate(cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_series: usize, tag_exclude: &[&str]) -> Settings {
        Settings {
            timeout: Duration::from_secs(1),
            refresh_interval: Duration::from_secs(1),
            full_recount_interval: Duration::from_secs(1),
            recount_timeout: Duration::from_secs(1),
            tags: NameFilter::new(&[], &tag_exclude.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>()),
            packages: NameFilter::default(),
            max_series,
        }
    }

    fn repo(tag: i32, dist: bool, state: i32, event: i32, time: f64) -> Repo {
        Repo { tag, dist, state: Some(state), event, time: Some(time) }
    }

    #[test]
    fn names_are_filtered_and_capped_with_the_cut_counted() {
        let lists = recount::sample_lists();
        let tags: HashMap<i32, TagCounts> = lists
            .tags
            .iter()
            .map(|(id, name)| (*id, recount::count_tag(&lists, &Default::default(), *id, name)))
            .collect();
        let builds = HashMap::from([(10, BTreeMap::from([(1, 4), (3, 1)])), (11, BTreeMap::from([(0, 2)]))]);
        let repos = [
            repo(1, false, 1, 7, 100.0),
            repo(1, false, 1, 5, 150.0),
            repo(1, true, 1, 9, 200.0),
            repo(2, false, 2, 3, 50.0),
            repo(2, false, 2, 4, 50.0),
        ];
        let result = assemble(&settings(1, &["side"]), &lists, &tags, &builds, repos.iter(), 2, &[1, 1]);
        assert_eq!(result.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["base"]);
        assert!(result.dropped.contains(&(Capped::Tags, 1)), "child was cut, side filtered: {:?}", result.dropped);
        assert_eq!(result.builds_per_package, [("bash".to_owned(), 5)]);
        assert!(result.dropped.contains(&(Capped::Packages, 1)));
        assert_eq!(result.builds_by_state, BTreeMap::from([(0, 2), (1, 4), (3, 1)]));
        assert_eq!(result.repos_by_state, BTreeMap::from([(1, 3), (2, 2), (3, 2)]));
        assert_eq!(
            result.newest_ready_repo,
            [("base".to_owned(), 100.0)],
            "the newest event's time; dist repos do not count"
        );
    }
}
