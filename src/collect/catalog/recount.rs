//! What the background task keeps between cycles, and how a cycle brings it up to date.
//!
//! A **full recount** reads whole tables and keeps only aggregates: current COMPLETE taggings
//! per tag and package, build rows per package and state (both counted by the database, the
//! rows streamed), the current package-list rows, the repos that are not DELETED and a count of
//! the DELETED ones. Every other cycle reads what changed through indexes:
//!
//! - taggings created after the start of an **event window** (`tag_listing`'s primary key leads
//!   with `create_event`), and package-list rows created or revoked after it (the
//!   `create_event` and `revoke_event` indexes of `tag_packages`);
//! - builds with ids above the start of an **id window**, the BUILDING builds below it, and any
//!   BUILDING build (one Koji recycled); repos above the window, and the repos below it that
//!   were not DELETED (DELETED is terminal), by primary key.
//!
//! A window starts where the newest event or id stood [`GRACE`] ago, not at the newest one:
//! transactions commit out of event and id order, so a row may become visible after a newer
//! one was read. The rows of the window are kept and each cycle's read of the window is
//! compared with them, so a row is counted once however often it is read, and a tagging of the
//! window that disappears (untagged within minutes) is uncounted. What changed below the
//! windows without an indexed trace (an older tagging revoked, `deleteBuild`, `resetBuild`, a
//! package renamed, a commit later than [`GRACE`]) waits for the next full recount.
//!
//! The per-tag numbers are recomputed only for the tags a change touched and every tag that
//! inherits from them; when tags or inheritance links change, for every tag.
//!
//! A cycle first reads everything it needs, then applies it without I/O, so a cycle cut short
//! (an error, the recount timeout) leaves the kept state as it was.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use sqlx::PgConnection;

use crate::collect::catalog::inheritance::{self, Entry, Inheritance, Link, PackageLists};
use crate::koji;
use crate::lossy::Lossy;
use crate::sql;

/// How long after its event or id was handed out a row is still looked for: hub transactions
/// commit within seconds, so a row that is later than this is left to the full recount. The
/// window's rows are read every cycle, so this also sets the cost of a cycle (at the `medium`
/// scale of the simulator, a few thousand taggings per ten minutes).
pub const GRACE: Duration = Duration::from_secs(120);
/// Right after a full recount nothing says how far back the newest uncommitted rows are: the
/// windows start this many events or ids below the newest (seconds of hub calls).
const EVENT_MARGIN: i32 = 1_000;
const ID_MARGIN: i32 = 1_000;

/// The change probe's answer (`catalog_changes`).
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct Changes {
    inheritance_created: Option<i32>,
    inheritance_revoked: Option<i32>,
    tags_created: Option<i32>,
    tags_revoked: Option<i32>,
    newest_event: Option<i32>,
    newest_package: Option<i32>,
    newest_build: Option<i32>,
    newest_repo: Option<i32>,
}

type StructureKey = (Option<i32>, Option<i32>, Option<i32>, Option<i32>);

impl Changes {
    pub async fn probe(conn: &mut PgConnection) -> Result<Self, sqlx::Error> {
        sqlx::query_as(sql::statement("catalog", "catalog_changes")).fetch_one(conn).await
    }

    /// Tags and inheritance links: small tables, re-read whole when they change.
    fn structure(&self) -> StructureKey {
        (self.tags_created, self.tags_revoked, self.inheritance_created, self.inheritance_revoked)
    }
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

/// A count from the database, never negative.
pub fn count(value: i64) -> u64 {
    value.max(0) as u64
}

/// Where reads of a key that grows (an event or an id) start: at the newest key seen at least
/// [`GRACE`] ago.
#[derive(Debug)]
struct Window {
    start: i32,
    /// The newest key of each cycle younger than [`GRACE`].
    marks: VecDeque<(Instant, i32)>,
}

impl Window {
    fn new(newest: Option<i32>, margin: i32) -> Self {
        let newest = newest.unwrap_or(0);
        let mut window = Window { start: newest.saturating_sub(margin).max(0), marks: VecDeque::new() };
        window.marks.push_back((Instant::now(), newest));
        window
    }

    /// Records this cycle's newest key; returns whether the start moved.
    fn advance(&mut self, newest: Option<i32>, now: Instant) -> bool {
        if let Some(newest) = newest {
            self.marks.push_back((now, newest));
        }
        let before = self.start;
        while let Some(&(at, key)) = self.marks.front() {
            if now.duration_since(at) < GRACE {
                break;
            }
            self.start = self.start.max(key);
            self.marks.pop_front();
        }
        self.start != before
    }
}

/// Tags, packages and package lists, as read.
pub struct Lists {
    pub tags: Vec<(i32, String)>,
    pub package_ids: HashMap<i32, usize>,
    pub package_names: Vec<String>,
    pub inheritance: Inheritance,
    pub lists: PackageLists,
}

type LinkRow = (i32, i32, i32, Option<i32>, bool, bool, Option<String>);
/// (tag id, name).
type TagRow = (i32, String);

impl Lists {
    fn new(tags: Vec<(i32, String)>, links: Vec<LinkRow>) -> Self {
        Lists {
            tags,
            package_ids: HashMap::new(),
            package_names: Vec::new(),
            inheritance: inheritance_of(links),
            lists: HashMap::new(),
        }
    }

    /// Adds a package, or renames one.
    fn add_package(&mut self, id: i32, name: String) {
        match self.package_ids.get(&id) {
            Some(&index) => self.package_names[index] = name,
            None => {
                self.package_ids.insert(id, self.package_names.len());
                self.package_names.push(name);
            }
        }
    }

    /// Sets the own package-list entry of (tag, package): Some(blocked), or None for no current
    /// row. Returns whether it changed.
    fn set_entry(&mut self, tag: i32, package: i32, entry: Option<bool>) -> bool {
        let Some(&index) = self.package_ids.get(&package) else { return false };
        let rows = self.lists.entry(tag).or_default();
        let at = rows.iter().position(|(p, _)| *p == index);
        let changed = match (at, entry) {
            (Some(at), Some(blocked)) if rows[at].1 == blocked => false,
            (Some(at), Some(blocked)) => {
                rows[at].1 = blocked;
                true
            }
            (Some(at), None) => {
                rows.swap_remove(at);
                true
            }
            (None, Some(blocked)) => {
                rows.push((index, blocked));
                true
            }
            (None, None) => false,
        };
        if rows.is_empty() {
            self.lists.remove(&tag);
        }
        changed
    }
}

fn inheritance_of(links: Vec<LinkRow>) -> Inheritance {
    Inheritance::new(links.into_iter().map(
        |(child, parent, priority, maxdepth, intransitive, noconfig, pkg_filter)| {
            (child, Link { parent, priority, maxdepth, intransitive, noconfig, pkg_filter })
        },
    ))
}

/// Current COMPLETE taggings per tag and package id.
pub type Tagged = HashMap<i32, HashMap<i32, u64>>;

/// One repo the exporter keeps: not DELETED, or in the id window.
#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    pub tag: i32,
    pub dist: bool,
    pub state: Option<i32>,
    pub event: i32,
    pub time: Option<f64>,
}

type RepoRow = (i32, i32, bool, Option<i32>, i32, Option<f64>);
/// (id, package, state, finished in the last [`GRACE`]).
type BuildRow = (i32, i32, i32, bool);

impl Repo {
    fn from_row((id, tag, dist, state, event, time): RepoRow) -> (i32, Repo) {
        (id, Repo { tag, dist, state, event, time })
    }

    fn deleted(&self) -> bool {
        self.state == Some(koji::repo::DELETED)
    }
}

/// Everything kept between cycles: aggregates per tag and package, and the rows of the windows.
pub struct State {
    pub lists: Lists,
    structure: StructureKey,
    events: Window,
    packages: Window,
    pub tagged: Tagged,
    /// Counted taggings created in the event window: (event, build, tag) -> package.
    recent_taggings: HashMap<(i32, i32, i32), i32>,
    builds_window: Window,
    /// Build rows per package and state.
    pub builds: HashMap<i32, BTreeMap<i32, u64>>,
    /// Builds in the id window: id -> (package, state).
    recent_builds: HashMap<i32, (i32, i32)>,
    /// BUILDING builds below the id window: id -> package.
    building: HashMap<i32, i32>,
    /// Builds below the id window that finished in the last [`GRACE`]: id -> (package, state).
    finished: HashMap<i32, (i32, i32)>,
    repos_window: Window,
    /// Repos that are not DELETED, and every repo in the id window.
    pub repos: HashMap<i32, Repo>,
    /// DELETED repos not in `repos`.
    pub deleted_repos: u64,
    /// The four numbers of every existing tag.
    pub tag_counts: HashMap<i32, TagCounts>,
}

/// What one cycle read, before it is applied.
struct Delta {
    changes: Changes,
    /// Tags and links, when they changed.
    structure: Option<(Vec<TagRow>, Vec<LinkRow>)>,
    packages: Vec<(i32, String)>,
    package_lists: Vec<(i32, i32, Option<bool>)>,
    taggings: Vec<(i32, i32, i32, i32)>,
    builds: Vec<BuildRow>,
    recounted_packages: Vec<(i32, i32, i64)>,
    /// Taggings below the event window of builds that became COMPLETE (+1) or stopped being
    /// COMPLETE (-1): (tag, package, +1 or -1).
    retagged: Vec<(i32, i32, i64)>,
    new_repos: Vec<RepoRow>,
    repo_states: Vec<(i32, Option<i32>)>,
}

async fn read_tags(conn: &mut PgConnection) -> Result<Vec<(i32, String)>, sqlx::Error> {
    let rows: Vec<(i32, Lossy)> = sqlx::query_as(sql::statement("catalog", "live_tags")).fetch_all(conn).await?;
    Ok(crate::lossy::named(rows))
}

async fn read_links(conn: &mut PgConnection) -> Result<Vec<LinkRow>, sqlx::Error> {
    sqlx::query_as(sql::statement("catalog", "inheritance_links")).fetch_all(conn).await
}

async fn read_packages(conn: &mut PgConnection, after: i32) -> Result<Vec<(i32, String)>, sqlx::Error> {
    let rows: Vec<(i32, Lossy)> =
        sqlx::query_as(sql::statement("catalog", "packages_after")).bind(after).fetch_all(conn).await?;
    Ok(crate::lossy::named(rows))
}

impl State {
    /// The full recount: whole tables, rows folded as they arrive.
    pub async fn full(conn: &mut PgConnection, changes: Changes) -> Result<State, sqlx::Error> {
        let tags = read_tags(conn).await?;
        let links = read_links(conn).await?;
        let mut lists = Lists::new(tags, links);
        for (id, name) in read_packages(conn, 0).await? {
            lists.add_package(id, name);
        }
        {
            let mut rows =
                sqlx::query_as::<_, (i32, i32, bool)>(sql::statement("catalog", "package_listings")).fetch(&mut *conn);
            while let Some((tag, package, blocked)) = rows.try_next().await? {
                if let Some(&index) = lists.package_ids.get(&package) {
                    lists.lists.entry(tag).or_default().push((index, blocked));
                }
            }
        }
        let mut tagged = Tagged::new();
        {
            let mut rows =
                sqlx::query_as::<_, (i32, i32, i64)>(sql::statement("catalog", "tagged_builds")).fetch(&mut *conn);
            while let Some((tag, package, n)) = rows.try_next().await? {
                tagged.entry(tag).or_default().insert(package, count(n));
            }
        }
        let mut builds: HashMap<i32, BTreeMap<i32, u64>> = HashMap::new();
        {
            let mut rows =
                sqlx::query_as::<_, (i32, i32, i64)>(sql::statement("catalog", "builds_by_package_and_state"))
                    .fetch(&mut *conn);
            while let Some((package, state, n)) = rows.try_next().await? {
                builds.entry(package).or_default().insert(state, count(n));
            }
        }
        let mut repos: HashMap<i32, Repo> = HashMap::new();
        {
            let mut rows =
                sqlx::query_as::<_, RepoRow>(sql::statement("catalog", "repos_not_deleted")).fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                let (id, repo) = Repo::from_row(row);
                repos.insert(id, repo);
            }
        }

        // Seed the windows with their rows, which the aggregates above already count.
        let events = Window::new(changes.newest_event, EVENT_MARGIN);
        let packages = Window::new(changes.newest_package, ID_MARGIN);
        let builds_window = Window::new(changes.newest_build, ID_MARGIN);
        let repos_window = Window::new(changes.newest_repo, ID_MARGIN);
        let taggings: Vec<(i32, i32, i32, i32)> = sqlx::query_as(sql::statement("catalog", "taggings_after"))
            .bind(events.start)
            .fetch_all(&mut *conn)
            .await?;
        let recent_taggings =
            taggings.into_iter().map(|(event, build, tag, package)| ((event, build, tag), package)).collect();
        let rows: Vec<BuildRow> = sqlx::query_as(sql::statement("catalog", "builds_to_recheck"))
            .bind(builds_window.start)
            .bind(Vec::<i32>::new())
            .bind(GRACE.as_secs_f64())
            .fetch_all(&mut *conn)
            .await?;
        let mut recent_builds = HashMap::new();
        let mut building = HashMap::new();
        let mut finished = HashMap::new();
        for (id, package, state, recent) in rows {
            if id > builds_window.start {
                recent_builds.insert(id, (package, state));
            } else if state == koji::build::BUILDING {
                building.insert(id, package);
            } else if recent {
                finished.insert(id, (package, state));
            }
        }
        let (deleted_repos,): (i64,) = sqlx::query_as(sql::statement("catalog", "repos_deleted"))
            .bind(repos_window.start)
            .fetch_one(&mut *conn)
            .await?;
        let recent: Vec<RepoRow> = sqlx::query_as(sql::statement("catalog", "repos_after"))
            .bind(repos_window.start)
            .fetch_all(&mut *conn)
            .await?;
        repos.extend(recent.into_iter().map(Repo::from_row));

        let mut state = State {
            lists,
            structure: changes.structure(),
            events,
            packages,
            tagged,
            recent_taggings,
            builds_window,
            builds,
            recent_builds,
            building,
            finished,
            repos_window,
            repos,
            deleted_repos: count(deleted_repos),
            tag_counts: HashMap::new(),
        };
        let all: Vec<i32> = state.lists.tags.iter().map(|(id, _)| *id).collect();
        state.recount_tags(all);
        Ok(state)
    }

    /// One cycle between full recounts: reads what changed since the windows' starts, then
    /// applies it.
    pub async fn update(&mut self, conn: &mut PgConnection, changes: Changes) -> Result<(), sqlx::Error> {
        let delta = self.read(conn, changes).await?;
        self.apply(delta, Instant::now());
        Ok(())
    }

    async fn read(&self, conn: &mut PgConnection, changes: Changes) -> Result<Delta, sqlx::Error> {
        let structure = if changes.structure() != self.structure {
            Some((read_tags(conn).await?, read_links(conn).await?))
        } else {
            None
        };
        let packages = read_packages(conn, self.packages.start).await?;
        let package_lists: Vec<(i32, i32, Option<bool>)> =
            sqlx::query_as(sql::statement("catalog", "package_list_changes"))
                .bind(self.events.start)
                .fetch_all(&mut *conn)
                .await?;
        let taggings: Vec<(i32, i32, i32, i32)> = sqlx::query_as(sql::statement("catalog", "taggings_after"))
            .bind(self.events.start)
            .fetch_all(&mut *conn)
            .await?;
        let builds: Vec<BuildRow> = sqlx::query_as(sql::statement("catalog", "builds_to_recheck"))
            .bind(self.builds_window.start)
            .bind(self.building.keys().copied().collect::<Vec<i32>>())
            .bind(GRACE.as_secs_f64())
            .fetch_all(&mut *conn)
            .await?;
        // A build below the window that is BUILDING or just finished, and was neither at the last
        // look, was recycled by Koji from a state the exporter did not keep: its package is
        // counted again.
        let recycled: Vec<i32> = builds
            .iter()
            .filter(|(id, _, _, _)| {
                *id <= self.builds_window.start && !self.building.contains_key(id) && !self.finished.contains_key(id)
            })
            .map(|(_, package, _, _)| *package)
            .collect::<HashSet<i32>>()
            .into_iter()
            .collect();
        let recounted_packages = if recycled.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(sql::statement("catalog", "builds_of_packages")).bind(recycled).fetch_all(&mut *conn).await?
        };
        // Builds that became or stopped being COMPLETE change the counts of their taggings. A
        // recycled build of unknown state was not COMPLETE (Koji recycles only failed builds).
        let complete = |state: i32| state == koji::build::COMPLETE;
        let flipped: HashMap<i32, (i32, i64)> = builds
            .iter()
            .filter_map(|&(id, package, state, _)| {
                let was = self.known_build(id).is_some_and(|(_, before)| complete(before));
                (was != complete(state)).then_some((id, (package, if was { -1 } else { 1 })))
            })
            .collect();
        let retagged = if flipped.is_empty() {
            Vec::new()
        } else {
            let rows: Vec<(i32, i32)> = sqlx::query_as(sql::statement("catalog", "taggings_of_builds"))
                .bind(flipped.keys().copied().collect::<Vec<i32>>())
                .bind(self.events.start)
                .fetch_all(&mut *conn)
                .await?;
            rows.into_iter().map(|(build, tag)| (tag, flipped[&build].0, flipped[&build].1)).collect()
        };
        let new_repos: Vec<RepoRow> = sqlx::query_as(sql::statement("catalog", "repos_after"))
            .bind(self.repos_window.start)
            .fetch_all(&mut *conn)
            .await?;
        let below: Vec<i32> = self.repos.keys().copied().filter(|id| *id <= self.repos_window.start).collect();
        let repo_states: Vec<(i32, Option<i32>)> =
            sqlx::query_as(sql::statement("catalog", "repo_states")).bind(below).fetch_all(&mut *conn).await?;
        Ok(Delta {
            changes,
            structure,
            packages,
            package_lists,
            taggings,
            builds,
            recounted_packages,
            retagged,
            new_repos,
            repo_states,
        })
    }

    fn apply(&mut self, delta: Delta, now: Instant) {
        let mut touched: HashSet<i32> = HashSet::new();
        let mut all_tags = false;
        if let Some((tags, links)) = delta.structure {
            self.lists.tags = tags;
            self.lists.inheritance = inheritance_of(links);
            self.structure = delta.changes.structure();
            all_tags = true;
        }
        for (id, name) in delta.packages {
            self.lists.add_package(id, name);
        }
        for (tag, package, entry) in delta.package_lists {
            if self.lists.set_entry(tag, package, entry) {
                touched.insert(tag);
            }
        }
        self.apply_taggings(delta.taggings, &mut touched);
        for (tag, package, change) in delta.retagged {
            let n = self.tagged.entry(tag).or_default().entry(package).or_default();
            *n = n.saturating_add_signed(change);
            touched.insert(tag);
        }
        self.apply_builds(delta.builds, delta.recounted_packages);
        self.apply_repos(delta.new_repos, delta.repo_states);

        self.events.advance(delta.changes.newest_event, now);
        let start = self.events.start;
        self.recent_taggings.retain(|(event, _, _), _| *event > start);
        self.packages.advance(delta.changes.newest_package, now);
        if self.builds_window.advance(delta.changes.newest_build, now) {
            let start = self.builds_window.start;
            let (building, finished) = (&mut self.building, &mut self.finished);
            self.recent_builds.retain(|id, (package, state)| {
                if *id > start {
                    return true;
                }
                if *state == koji::build::BUILDING {
                    building.insert(*id, *package);
                } else {
                    // Dropped at the next read unless it finished in the last GRACE.
                    finished.insert(*id, (*package, *state));
                }
                false
            });
        }
        if self.repos_window.advance(delta.changes.newest_repo, now) {
            self.settle_deleted_repos();
        }

        if all_tags {
            let every: Vec<i32> = self.lists.tags.iter().map(|(id, _)| *id).collect();
            self.tag_counts.clear();
            self.recount_tags(every);
        } else if !touched.is_empty() {
            let affected = self.lists.inheritance.with_descendants(&touched);
            self.recount_tags(affected);
        }
    }

    /// The window's taggings as read now against those counted before.
    fn apply_taggings(&mut self, rows: Vec<(i32, i32, i32, i32)>, touched: &mut HashSet<i32>) {
        let now: HashMap<(i32, i32, i32), i32> =
            rows.into_iter().map(|(event, build, tag, package)| ((event, build, tag), package)).collect();
        for (key, package) in &now {
            if !self.recent_taggings.contains_key(key) {
                *self.tagged.entry(key.2).or_default().entry(*package).or_default() += 1;
                touched.insert(key.2);
            }
        }
        for (key, package) in &self.recent_taggings {
            if !now.contains_key(key)
                && let Some(n) = self.tagged.get_mut(&key.2).and_then(|per_package| per_package.get_mut(package))
            {
                *n = n.saturating_sub(1);
                touched.insert(key.2);
            }
        }
        self.recent_taggings = now;
    }

    fn apply_builds(&mut self, rows: Vec<BuildRow>, recounted: Vec<(i32, i32, i64)>) {
        let start = self.builds_window.start;
        let mut seen: HashSet<i32> = HashSet::new();
        let mut finished: HashMap<i32, (i32, i32)> = HashMap::new();
        for (id, package, state, recent) in rows {
            seen.insert(id);
            let before = self.known_build(id);
            match before {
                Some(before) if before == (package, state) => {}
                Some(before) => {
                    self.add_build(before, -1);
                    self.add_build((package, state), 1);
                }
                // New in the window.
                None if id > start => self.add_build((package, state), 1),
                // Recycled below the window: its package is replaced by the recount below.
                None => {}
            }
            if id > start {
                self.recent_builds.insert(id, (package, state));
            } else if state == koji::build::BUILDING {
                self.building.insert(id, package);
            } else {
                self.building.remove(&id);
                if recent {
                    finished.insert(id, (package, state));
                }
            }
        }
        // Kept rows that are gone (Koji does not delete builds; a restored database might).
        // Finished builds that were not read again have only left the last GRACE.
        let gone: Vec<(i32, (i32, i32))> = self
            .recent_builds
            .iter()
            .map(|(id, row)| (*id, *row))
            .chain(self.building.iter().map(|(id, package)| (*id, (*package, koji::build::BUILDING))))
            .filter(|(id, _)| !seen.contains(id))
            .collect();
        for (id, row) in gone {
            self.add_build(row, -1);
            self.recent_builds.remove(&id);
            self.building.remove(&id);
        }
        self.finished = finished;
        let mut replaced: HashSet<i32> = HashSet::new();
        for (package, state, n) in recounted {
            if replaced.insert(package) {
                self.builds.remove(&package);
            }
            self.builds.entry(package).or_default().insert(state, count(n));
        }
    }

    /// The (package, state) a build had at the last look, when the exporter kept it.
    fn known_build(&self, id: i32) -> Option<(i32, i32)> {
        if id > self.builds_window.start {
            self.recent_builds.get(&id).copied()
        } else {
            self.building
                .get(&id)
                .map(|package| (*package, koji::build::BUILDING))
                .or_else(|| self.finished.get(&id).copied())
        }
    }

    fn add_build(&mut self, (package, state): (i32, i32), delta: i64) {
        let n = self.builds.entry(package).or_default().entry(state).or_default();
        *n = if delta < 0 { n.saturating_sub(delta.unsigned_abs()) } else { *n + delta as u64 };
    }

    fn apply_repos(&mut self, new: Vec<RepoRow>, states: Vec<(i32, Option<i32>)>) {
        let start = self.repos_window.start;
        let new: HashMap<i32, Repo> = new.into_iter().map(Repo::from_row).collect();
        let states: HashMap<i32, Option<i32>> = states.into_iter().collect();
        // A kept repo that is no longer there was removed from the table (not Koji's way).
        self.repos.retain(|id, _| if *id > start { new.contains_key(id) } else { states.contains_key(id) });
        for (id, state) in states {
            if let Some(repo) = self.repos.get_mut(&id) {
                repo.state = state;
            }
        }
        self.repos.extend(new);
        self.settle_deleted_repos();
    }

    /// DELETED repos below the id window are only counted from now on.
    fn settle_deleted_repos(&mut self) {
        let start = self.repos_window.start;
        let before = self.repos.len();
        self.repos.retain(|id, repo| *id > start || !repo.deleted());
        self.deleted_repos += (before - self.repos.len()) as u64;
    }

    /// Recomputes the numbers of `tags` (ids; those that no longer exist are dropped).
    fn recount_tags(&mut self, tags: impl IntoIterator<Item = i32>) {
        let names: HashMap<i32, &str> = self.lists.tags.iter().map(|(id, name)| (*id, name.as_str())).collect();
        for tag in tags {
            match names.get(&tag) {
                Some(name) => {
                    self.tag_counts.insert(tag, count_tag(&self.lists, &self.tagged, tag, name));
                }
                None => {
                    self.tag_counts.remove(&tag);
                }
            }
        }
    }
}

/// The four numbers of one tag, by Koji's rules (see [`TagCounts`]).
pub fn count_tag(lists: &Lists, tagged: &Tagged, id: i32, name: &str) -> TagCounts {
    let ancestors = lists.inheritance.ancestors(id);
    let entries = inheritance::resolve_packages(&lists.inheritance, &lists.lists, &lists.package_names, id, &ancestors);
    let builds_in = |tag: i32| -> u64 {
        tagged.get(&tag).map_or(0, |per_package| {
            per_package
                .iter()
                .filter(|(package, _)| lists.package_ids.get(package).is_some_and(|&i| entries[i] == Entry::Listed))
                .map(|(_, n)| n)
                .sum()
        })
    };
    let direct_packages = lists.lists.get(&id).map_or(0, |rows| rows.iter().filter(|(_, b)| !b).count()) as u64;
    let packages = entries.iter().filter(|entry| **entry == Entry::Listed).count() as u64;
    let direct_builds = builds_in(id);
    let builds = direct_builds + ancestors.iter().map(|ancestor| builds_in(ancestor.tag)).sum::<u64>();
    TagCounts { name: name.to_owned(), direct_packages, packages, direct_builds, builds }
}

/// base (1) lists bash, kernel; child (2) inherits base and blocks kernel; side (3) inherits
/// child; gone (4) is not a live tag. For the unit tests here and in `mod.rs`.
#[cfg(test)]
pub fn sample_lists() -> Lists {
    let mut lists = Lists::new(
        vec![(1, "base".into()), (2, "child".into()), (3, "side".into())],
        vec![(2, 1, 10, None, false, false, None), (3, 2, 10, None, false, false, None)],
    );
    lists.add_package(10, "bash".into());
    lists.add_package(11, "kernel".into());
    for (tag, package, blocked) in [(1, 10, false), (1, 11, false), (2, 11, true), (4, 10, false)] {
        lists.set_entry(tag, package, Some(blocked));
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> Lists {
        sample_lists()
    }

    fn counts(lists: &Lists, tagged: &Tagged) -> HashMap<String, (u64, u64, u64, u64)> {
        lists
            .tags
            .iter()
            .map(|(id, name)| {
                let c = count_tag(lists, tagged, *id, name);
                (c.name, (c.direct_packages, c.packages, c.direct_builds, c.builds))
            })
            .collect()
    }

    #[test]
    fn tag_counts_follow_the_effective_package_list() {
        // Tagged: base has 2 bash and 3 kernel builds; child has 1 kernel build (blocked there).
        let tagged: Tagged = HashMap::from([(1, HashMap::from([(10, 2), (11, 3)])), (2, HashMap::from([(11, 1)]))]);
        let counts = counts(&lists(), &tagged);
        assert_eq!(counts["base"], (2, 2, 5, 5));
        assert_eq!(counts["child"], (0, 1, 0, 2));
        assert_eq!(counts["side"], (0, 1, 0, 2));
    }

    #[test]
    fn package_list_entries_are_set_and_removed() {
        let mut lists = lists();
        assert!(!lists.set_entry(1, 10, Some(false)), "unchanged");
        assert!(lists.set_entry(2, 11, None), "the block is revoked");
        assert!(!lists.lists.contains_key(&2));
        assert!(!lists.set_entry(2, 99, Some(false)), "an unknown package is not listed");
        let counts = counts(&lists, &Tagged::new());
        assert_eq!(counts["child"].1, 2, "kernel is inherited again");
    }

    #[test]
    fn a_window_starts_where_the_newest_key_stood_a_grace_period_ago() {
        let mut window = Window::new(Some(50_000), ID_MARGIN);
        assert_eq!(window.start, 49_000);
        let t0 = Instant::now();
        assert!(!window.advance(Some(50_010), t0));
        assert_eq!(window.start, 49_000);
        assert!(window.advance(Some(50_020), t0 + GRACE));
        assert_eq!(window.start, 50_010, "the newest key seen at least GRACE ago");
        assert!(window.advance(None, t0 + GRACE * 2));
        assert_eq!(window.start, 50_020);
        assert_eq!(Window::new(None, ID_MARGIN).start, 0);
    }
}
