//! The catalog family: tags, their package lists and tagged builds, builds, repos.
//!
//! Exact per-tag numbers need Koji's inheritance rules (`inheritance.rs`) over whole tables:
//! every current tagging (`tag_listing`), every build, every repo. That cannot run inside a
//! scrape on a large Koji, so this module splits the family in two:
//!
//! - a **live** part ([`fetch_live`]) that every scrape reads in its own transaction, from a few
//!   index entries or small tables: builds finished recently, the repo request queue;
//! - a **cached** part ([`Catalog`]) that a background task recomputes on its own interval, on a
//!   connection of its own. Each cycle first asks cheap index probes whether anything changed
//!   (`catalog_changes` in `sql/catalog.sql`) and re-reads only the parts that did; everything
//!   is re-read after `full_recount_interval_seconds` regardless, because untagging and build
//!   deletions leave no trace an index finds. A scrape never waits for it: it takes the last
//!   completed result and its age, or nothing before the first cycle has finished.
//!
//! Series are cut here, not in the exposition: names are filtered by the configured patterns
//! and capped per metric, and the number cut is part of the data.

pub mod inheritance;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::time::timeout;

use self::inheritance::{Entry, Inheritance, Link, PackageLists};
use crate::db::Database;
use crate::koji;
use crate::lossy::Lossy;
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

/// The four numbers of one tag. "Direct" counts the tag's own rows; the others follow
/// inheritance as Koji does (see `inheritance.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct TagCounts {
    pub name: String,
    /// Own package list rows that are not blocked.
    pub direct_packages: u64,
    /// The effective package list: inherited, nearest entry winning, blocked ones left out.
    pub packages: u64,
    /// Current taggings of COMPLETE builds into the tag itself whose package is in the tag's
    /// effective package list (Koji's `listTagged` without inherit).
    pub direct_builds: u64,
    /// The same over the tag and every ancestor, one count per tag in the chain (`listTagged`
    /// with inherit).
    pub builds: u64,
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

fn count(value: i64) -> u64 {
    value.max(0) as u64
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

/// The change probe's answer; each part of the catalog depends on some of its fields.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
struct Changes {
    packages_created: Option<i32>,
    packages_revoked: Option<i32>,
    inheritance_created: Option<i32>,
    inheritance_revoked: Option<i32>,
    tags_created: Option<i32>,
    tags_revoked: Option<i32>,
    newest_package: Option<i32>,
    listings_created: Option<i32>,
    newest_build: Option<i32>,
    newest_completion: Option<f64>,
    building: i64,
}

type ListsKey = (Option<i32>, Option<i32>, Option<i32>, Option<i32>, Option<i32>, Option<i32>, Option<i32>);

impl Changes {
    fn lists_key(&self) -> ListsKey {
        (
            self.packages_created,
            self.packages_revoked,
            self.inheritance_created,
            self.inheritance_revoked,
            self.tags_created,
            self.tags_revoked,
            self.newest_package,
        )
    }

    fn builds_key(&self) -> BuildsKey {
        (self.newest_build, self.newest_completion.map(f64::to_bits), self.building)
    }
}

/// The parts of the catalog as last read, kept across cycles so that an unchanged part is not
/// read again.
#[derive(Default)]
struct Recount {
    lists: Option<(ListsKey, Lists)>,
    tagged: Option<(Option<i32>, Vec<CountRow>)>,
    builds: Option<(BuildsKey, Vec<CountRow>)>,
    /// Per-tag numbers derived from `lists` and `tagged`, rebuilt when either was re-read.
    tags: Option<Vec<(i32, TagCounts)>>,
    last_full: Option<Instant>,
    reads: [u64; 4],
}

const PARTS: [&str; 4] = ["package_lists", "tagged_builds", "builds", "repos"];

/// Tags, packages and package lists, as read.
struct Lists {
    tags: Vec<(i32, String)>,
    package_ids: HashMap<i32, usize>,
    package_names: Vec<String>,
    inheritance: Inheritance,
    lists: PackageLists,
}

type LinkRow = (i32, i32, i32, Option<i32>, bool, bool, Option<String>);
/// (tag or package id, package id or state, count).
type CountRow = (i32, i32, i64);
type BuildsKey = (Option<i32>, Option<u64>, i64);
/// (tag id, dist, state, repos, time of the newest one's content).
type RepoRow = (i32, bool, Option<i32>, i64, Option<f64>);

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
        let mut tx = conn.begin_with(crate::db::BEGIN_SNAPSHOT).await?;
        let millis = settings.recount_timeout.as_millis().to_string();
        sqlx::query(sql::statement("catalog", "recount_statement_timeout")).bind(millis).execute(&mut *tx).await?;
        let changes: Changes = sqlx::query_as(sql::statement("catalog", "catalog_changes")).fetch_one(&mut *tx).await?;
        let full = self.last_full.is_none_or(|at| at.elapsed() >= settings.full_recount_interval);
        let mut tags_stale = full || self.tags.is_none();

        if full || self.lists.as_ref().is_none_or(|(key, _)| *key != changes.lists_key()) {
            self.lists = Some((changes.lists_key(), read_lists(&mut tx).await?));
            self.reads[0] += 1;
            tags_stale = true;
        }
        if full || self.tagged.as_ref().is_none_or(|(key, _)| *key != changes.listings_created) {
            let rows = sqlx::query_as(sql::statement("catalog", "tagged_builds")).fetch_all(&mut *tx).await?;
            self.tagged = Some((changes.listings_created, rows));
            self.reads[1] += 1;
            tags_stale = true;
        }
        if full || self.builds.as_ref().is_none_or(|(key, _)| *key != changes.builds_key()) {
            let rows =
                sqlx::query_as(sql::statement("catalog", "builds_by_package_and_state")).fetch_all(&mut *tx).await?;
            self.builds = Some((changes.builds_key(), rows));
            self.reads[2] += 1;
        }
        let repos: Vec<RepoRow> = sqlx::query_as(sql::statement("catalog", "repos")).fetch_all(&mut *tx).await?;
        self.reads[3] += 1;
        tx.commit().await?;
        if full {
            self.last_full = Some(Instant::now());
        }

        let (Some((_, lists)), Some((_, tagged)), Some((_, builds))) = (&self.lists, &self.tagged, &self.builds) else {
            unreachable!("every part was read above when missing");
        };
        if tags_stale {
            self.tags = Some(count_tags(lists, tagged));
        }
        let tag_counts = self.tags.as_deref().unwrap_or_default();
        Ok(Some(assemble(settings, lists, tag_counts, builds, &repos, &self.reads)))
    }
}

async fn read_lists(conn: &mut PgConnection) -> Result<Lists, sqlx::Error> {
    let tags: Vec<(i32, Lossy)> = sqlx::query_as(sql::statement("catalog", "live_tags")).fetch_all(&mut *conn).await?;
    let tags = crate::lossy::named(tags);
    let packages: Vec<(i32, Lossy)> =
        sqlx::query_as(sql::statement("catalog", "packages")).fetch_all(&mut *conn).await?;
    let packages = crate::lossy::named(packages);
    let links: Vec<LinkRow> =
        sqlx::query_as(sql::statement("catalog", "inheritance_links")).fetch_all(&mut *conn).await?;
    let rows: Vec<(i32, i32, bool)> =
        sqlx::query_as(sql::statement("catalog", "package_listings")).fetch_all(&mut *conn).await?;
    Ok(build_lists(tags, packages, links, rows))
}

fn build_lists(
    tags: Vec<(i32, String)>,
    packages: Vec<(i32, String)>,
    links: Vec<LinkRow>,
    rows: Vec<(i32, i32, bool)>,
) -> Lists {
    let package_ids: HashMap<i32, usize> = packages.iter().enumerate().map(|(index, (id, _))| (*id, index)).collect();
    let package_names = packages.into_iter().map(|(_, name)| name).collect();
    let inheritance = Inheritance::new(links.into_iter().map(
        |(child, parent, priority, maxdepth, intransitive, noconfig, pkg_filter)| {
            (child, Link { parent, priority, maxdepth, intransitive, noconfig, pkg_filter })
        },
    ));
    let mut lists: PackageLists = HashMap::new();
    for (tag, package, blocked) in rows {
        if let Some(&index) = package_ids.get(&package) {
            lists.entry(tag).or_default().push((index, blocked));
        }
    }
    Lists { tags, package_ids, package_names, inheritance, lists }
}

/// The four numbers of every existing tag, by Koji's rules (see [`TagCounts`]).
fn count_tags(lists: &Lists, tagged: &[(i32, i32, i64)]) -> Vec<(i32, TagCounts)> {
    let mut tagged_by_tag: HashMap<i32, Vec<(usize, u64)>> = HashMap::new();
    for &(tag, package, builds) in tagged {
        if let Some(&index) = lists.package_ids.get(&package) {
            tagged_by_tag.entry(tag).or_default().push((index, count(builds)));
        }
    }
    let builds_in = |tag: i32, entries: &[Entry]| -> u64 {
        tagged_by_tag
            .get(&tag)
            .map(|rows| rows.iter().filter(|(package, _)| entries[*package] == Entry::Listed).map(|(_, n)| n).sum())
            .unwrap_or(0)
    };
    lists
        .tags
        .iter()
        .map(|(id, name)| {
            let ancestors = lists.inheritance.ancestors(*id);
            let entries =
                inheritance::resolve_packages(&lists.inheritance, &lists.lists, &lists.package_names, *id, &ancestors);
            let direct_packages = lists.lists.get(id).map_or(0, |rows| rows.iter().filter(|(_, b)| !b).count()) as u64;
            let packages = entries.iter().filter(|entry| **entry == Entry::Listed).count() as u64;
            let direct_builds = builds_in(*id, &entries);
            let builds =
                direct_builds + ancestors.iter().map(|ancestor| builds_in(ancestor.tag, &entries)).sum::<u64>();
            (*id, TagCounts { name: name.clone(), direct_packages, packages, direct_builds, builds })
        })
        .collect()
}

/// Filters, caps and sums everything into the result a scrape serves.
fn assemble(
    settings: &Settings,
    lists: &Lists,
    tag_counts: &[(i32, TagCounts)],
    builds: &[(i32, i32, i64)],
    repos: &[RepoRow],
    reads: &[u64; 4],
) -> CachedCatalog {
    let mut dropped = Vec::new();
    let cap = settings.max_series;

    let mut tags: Vec<TagCounts> =
        tag_counts.iter().filter(|(_, counts)| settings.tags.keeps(&counts.name)).map(|(_, c)| c.clone()).collect();
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    if tags.len() > cap {
        dropped.push((Capped::Tags, (tags.len() - cap) as u64));
        tags.truncate(cap);
    }

    let mut builds_by_state: BTreeMap<i32, u64> = BTreeMap::new();
    let mut per_package: HashMap<i32, u64> = HashMap::new();
    for &(package, state, n) in builds {
        *builds_by_state.entry(state).or_default() += count(n);
        *per_package.entry(package).or_default() += count(n);
    }
    let mut builds_per_package: Vec<(String, u64)> = per_package
        .into_iter()
        .filter_map(|(id, n)| Some((lists.package_names[*lists.package_ids.get(&id)?].clone(), n)))
        .filter(|(name, _)| settings.packages.keeps(name))
        .collect();
    builds_per_package.sort();
    cap_series(&mut builds_per_package, cap, Capped::Packages, &mut dropped);

    let tag_names: HashMap<i32, &str> = lists.tags.iter().map(|(id, name)| (*id, name.as_str())).collect();
    let mut repos_by_state: BTreeMap<i32, u64> = BTreeMap::new();
    let mut newest: HashMap<i32, f64> = HashMap::new();
    for &(tag, dist, state, n, time) in repos {
        // A repo without a state is odd data; it counts as state -1 ("unknown").
        *repos_by_state.entry(state.unwrap_or(-1)).or_default() += count(n);
        if state == Some(koji::repo::READY)
            && !dist
            && let Some(time) = time
        {
            let slot = newest.entry(tag).or_insert(time);
            *slot = slot.max(time);
        }
    }
    let mut newest_ready_repo: Vec<(String, f64)> = newest
        .into_iter()
        .filter_map(|(tag, time)| Some(((*tag_names.get(&tag)?).to_owned(), time)))
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

    /// base (1) lists bash, kernel; child (2) inherits base and blocks kernel; side (3) inherits
    /// child; gone (4) is not a live tag.
    fn lists() -> Lists {
        build_lists(
            vec![(1, "base".into()), (2, "child".into()), (3, "side".into())],
            vec![(10, "bash".into()), (11, "kernel".into())],
            vec![(2, 1, 10, None, false, false, None), (3, 2, 10, None, false, false, None)],
            vec![(1, 10, false), (1, 11, false), (2, 11, true), (4, 10, false)],
        )
    }

    #[test]
    fn tag_counts_follow_the_effective_package_list() {
        // Tagged: base has 2 bash and 3 kernel builds; child has 1 kernel build (blocked there).
        let tagged = [(1, 10, 2), (1, 11, 3), (2, 11, 1)];
        let counts: HashMap<String, TagCounts> =
            count_tags(&lists(), &tagged).into_iter().map(|(_, c)| (c.name.clone(), c)).collect();
        let base = &counts["base"];
        assert_eq!((base.direct_packages, base.packages, base.direct_builds, base.builds), (2, 2, 5, 5));
        let child = &counts["child"];
        assert_eq!((child.direct_packages, child.packages, child.direct_builds, child.builds), (0, 1, 0, 2));
        let side = &counts["side"];
        assert_eq!((side.direct_packages, side.packages, side.direct_builds, side.builds), (0, 1, 0, 2));
    }

    #[test]
    fn names_are_filtered_and_capped_with_the_cut_counted() {
        let lists = lists();
        let tags = count_tags(&lists, &[]);
        let builds = [(10, 1, 4), (10, 3, 1), (11, 0, 2)];
        let repos = [
            (1, false, Some(1), 1, Some(100.0)),
            (1, true, Some(1), 1, Some(200.0)),
            (2, false, Some(2), 3, Some(50.0)),
        ];
        let result = assemble(&settings(1, &["side"]), &lists, &tags, &builds, &repos, &[1, 1, 1, 1]);
        assert_eq!(result.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["base"]);
        assert!(result.dropped.contains(&(Capped::Tags, 1)), "child was cut, side filtered: {:?}", result.dropped);
        assert_eq!(result.builds_per_package, [("bash".to_owned(), 5)]);
        assert!(result.dropped.contains(&(Capped::Packages, 1)));
        assert_eq!(result.builds_by_state, BTreeMap::from([(0, 2), (1, 4), (3, 1)]));
        assert_eq!(result.repos_by_state, BTreeMap::from([(1, 2), (2, 3)]));
        assert_eq!(result.newest_ready_repo, [("base".to_owned(), 100.0)], "dist repos do not count");
    }
}
