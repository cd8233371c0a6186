//! `live`: keeps a filled database moving the way a healthy Koji hub and its builders would.
//!
//! One loop, one tick per second. Each tick submits new tasks at the requested rate; every
//! `RUN_INTERVAL` seconds the hub's scheduler makes a pass (kojihub/scheduler.py): FREE tasks, by
//! priority then age, go to the least loaded ready host of their channel and arch that has a free
//! job slot and room for the task's weight (the simulated hub runs with `CapacityOvercommit = 0`
//! and `MaxJobs = 10`, so it never plans a host past its capacity), and on 1.34+ it logs each
//! assignment, records the run and its `last_run_ts`, and applies its timeouts. Builders open
//! their ASSIGNED tasks while kojid's `readyForTask` would let them (load not over capacity,
//! fewer OPEN tasks than maxjobs) and check in right after, or every 15 seconds otherwise, with
//! `task_load` = the weights of their OPEN tasks that are not waiting. Parents run in phases as
//! kojid's handlers do (a build makes its SRPM, then its buildArch subtasks, waiting on each
//! phase; newRepo and image wait on their subtasks), subtasks finish, parents settle their
//! builds, tags and repos. Now and then a user cancels a task, a build is untagged, a repo is
//! requested. Each step is one short transaction from a small pool; some ticks also commit two
//! transactions out of id order or roll one back, which real hubs do and which leave gaps and
//! late ids that a reader must cope with.
//!
//! The unhealthy cases are explicit scenarios (`--scenario`), off by default: `overload` (four
//! times the rate, and the hub's default `CapacityOvercommit = 5`, so builders go over capacity
//! and the queue grows), `host-down` (a third of the builders that may fail stop checking in at
//! start, and builders keep going down, coming back and reporting themselves busy), and
//! `stuck-queue` (the scheduler never runs: nothing is assigned, `last_run_ts` goes stale).
//!
//! Every UPDATE of `task` names the non-terminal states it moves from, so a CLOSED, CANCELED or
//! FAILED task is never changed again.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Executor, Row};

use crate::Failure;
use crate::schema::{self, Level};

const SUBMIT: &str = include_str!("sql/live/submit.sql");
const SCHEDULE: &str = include_str!("sql/live/schedule.sql");
const FREE: &str = include_str!("sql/live/free.sql");
const ASSIGN: &str = include_str!("sql/live/assign.sql");
const ASSIGN_1_34: &str = include_str!("sql/live/assign_1_34.sql");
const OPEN: &str = include_str!("sql/live/open.sql");
const OPEN_TASKS: &str = include_str!("sql/live/open_tasks.sql");
const SPAWN: &str = include_str!("sql/live/spawn.sql");
const SPAWN_RECORDS: &str = include_str!("sql/live/spawn_records.sql");
const FINISH: &str = include_str!("sql/live/finish.sql");
const UNWAIT: &str = include_str!("sql/live/unwait.sql");
const REPOS: &str = include_str!("sql/live/repos.sql");
const REPOS_1_35: &str = include_str!("sql/live/repos_1_35.sql");
const CANCEL: &str = include_str!("sql/live/cancel.sql");
const CHECKIN: &str = include_str!("sql/live/checkin.sql");
const CHECKIN_1_32: &str = include_str!("sql/live/checkin_1_32.sql");
const SWEEP: &str = include_str!("sql/live/sweep.sql");
const UNTAG: &str = include_str!("sql/live/untag.sql");
const QUEUE: &str = include_str!("sql/live/queue.sql");

/// Seconds between two check-ins of a builder (kojid's default sleep time).
const CHECKIN_PERIOD: u64 = 15;

/// Seconds between two scheduler passes: the simulated hub's `RunInterval` (Koji's default is
/// 60; a short one keeps the queue of a small site short, as builders ask for work every loop).
const RUN_INTERVAL: u64 = 2;

/// Units of enabled builder capacity per top-level task per second when `--rate` is not given
/// (`small`: 123 units, 1.2 tasks/s): the builders stay busy, each keeps room to spare, and a
/// task waits seconds in the queue.
const CAPACITY_PER_TASK_RATE: f64 = 100.0;

/// kojid's default `maxjobs`, and the simulated hub's `MaxJobs` for hosts that sent no data.
const MAX_JOBS: i64 = 10;

/// The first host of each arch family, which serve every channel and never fail (so every
/// channel and arch keeps a builder, see base.sql).
const PROTECTED: [i32; 4] = [1, 2, 4, 8];

/// The unhealthy cases `live` can play, each named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Four times the rate, with the hub's default `CapacityOvercommit` of 5.
    Overload,
    /// Builders stop checking in (a third at start, more later), come back, report busy.
    HostDown,
    /// The hub's scheduler never runs: tasks stay FREE.
    StuckQueue,
}

/// A host as a scheduler pass sees it.
struct PassHost {
    id: i32,
    ready: bool,
    capacity: f64,
    arches: Vec<String>,
    load: f64,
    tasks: i64,
    max_jobs: i64,
    channels: Vec<i32>,
}

/// What happened during the run, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    submitted: u64,
    assigned: u64,
    opened: u64,
    spawned: u64,
    finished: u64,
    settled: u64,
    canceled: u64,
    checkins: u64,
    freed: u64,
    untagged: u64,
    requests: u64,
    out_of_order: u64,
    rolled_back: u64,
}

struct Sim {
    pool: PgPool,
    level: Level,
    hosts: Vec<i32>,
    /// Hosts that stopped checking in (their daemon is down).
    offline: BTreeSet<i32>,
    /// Hosts that check in but report not ready (low disk, pending restart).
    busy: BTreeSet<i32>,
    /// Job limits the builders report in scheduler_host_data (1.34+), by host.
    max_jobs: Vec<(i32, i64)>,
    scenario: Option<Scenario>,
    tally: Tally,
}

pub async fn run(
    url: &str,
    rate: Option<f64>,
    duration: Option<f64>,
    scenario: Option<Scenario>,
) -> Result<(), Failure> {
    if let Some(rate) = rate.filter(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(Failure::Refused(format!("--rate must be a non-negative number, not {rate}")));
    }
    let pool = PgPoolOptions::new().max_connections(3).connect(url).await?;
    let rate = match rate {
        Some(rate) => rate,
        None => {
            let capacity: f64 =
                sqlx::query("select coalesce(sum(capacity), 0)::float8 from host_config where active and enabled")
                    .fetch_one(&pool)
                    .await?
                    .get(0);
            (capacity / CAPACITY_PER_TASK_RATE * 10.0).round() / 10.0
        }
    };
    let level = schema::probe(&mut *pool.acquire().await?).await?;
    let hosts: Vec<i32> =
        sqlx::query("select id from host order by id").fetch_all(&pool).await?.iter().map(|r| r.get(0)).collect();
    if hosts.is_empty() {
        return Err(Failure::Refused("the database has no hosts; fill it first with `koji-sim create`".into()));
    }
    // Hosts that are disabled, or had been silent for five minutes when most hosts last checked
    // in, stay down, as in the filled history. Silence is measured against the median check-in,
    // not the clock, so a database filled an hour ago resumes with the same hosts up.
    let silent = if level >= Level::V1_33 {
        "select h.id from host h join host_config c on c.host_id = h.id and c.active
         where not c.enabled or h.update_time is null
            or h.update_time < (select percentile_disc(0.5) within group (order by update_time) from host)
                               - interval '5 minutes'"
    } else {
        "select h.id from host h join host_config c on c.host_id = h.id and c.active where not c.enabled"
    };
    let mut offline: BTreeSet<i32> = sqlx::query(silent).fetch_all(&pool).await?.iter().map(|r| r.get(0)).collect();
    if scenario == Some(Scenario::HostDown) {
        // A third of the builders that may fail (not the first of each arch family) go down.
        let may_fail: Vec<i32> =
            hosts.iter().copied().filter(|h| !PROTECTED.contains(h) && !offline.contains(h)).collect();
        offline.extend(may_fail.iter().step_by(3));
    }
    let max_jobs = if level >= Level::V1_34 {
        sqlx::query("select host_id, (data->>'maxjobs')::int8 from scheduler_host_data where data ? 'maxjobs'")
            .fetch_all(&pool)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    } else {
        Vec::new()
    };
    let rate = if scenario == Some(Scenario::Overload) { rate * 4.0 } else { rate };
    let mut sim =
        Sim { pool, level, hosts, offline, busy: BTreeSet::new(), max_jobs, scenario, tally: Tally::default() };

    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut owed = 0.0;
    let mut tick: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if duration.is_some_and(|limit| started.elapsed().as_secs_f64() >= limit) {
            break;
        }
        owed += rate;
        let due = owed.floor();
        owed -= due;
        sim.tick(tick, due as i32, rate).await?;
        tick += 1;
    }
    println!("{:?}", sim.tally);
    sim.pool.close().await;
    Ok(())
}

impl Sim {
    async fn tick(&mut self, tick: u64, submit: i32, rate: f64) -> Result<(), sqlx::Error> {
        let batch = (rate * 4.0) as i64 + 20;
        if submit > 0 {
            self.tally.submitted += sqlx::query(SUBMIT).bind(submit).execute(&self.pool).await?.rows_affected();
        }
        if tick.is_multiple_of(RUN_INTERVAL) && self.scenario != Some(Scenario::StuckQueue) {
            self.schedule().await?;
        }
        let opened_on = self.open().await?;
        self.spawn(batch).await?;
        self.tally.finished += sqlx::query(FINISH).bind(batch).execute(&self.pool).await?.rows_affected();
        self.settle(batch).await?;
        self.checkin(tick, &opened_on).await?;
        self.now_and_then(rate).await
    }

    /// The job limit of a host: what it reported, else kojid's default.
    fn max_jobs(&self, host: i32) -> i64 {
        self.max_jobs.iter().find(|(h, _)| *h == host).map_or(MAX_JOBS, |(_, m)| *m)
    }

    /// One pass of the hub's scheduler (do_schedule, then on 1.34+ check_hosts and
    /// check_active_tasks in sweep.sql): each FREE task, by priority then age, goes to the host
    /// of lowest load plus task count among those that can take it, and that host's figures
    /// grow before the next task is placed.
    async fn schedule(&mut self) -> Result<(), sqlx::Error> {
        let overcommit = if self.scenario == Some(Scenario::Overload) { 5.0 } else { 0.0 };
        let mut tx = self.pool.begin().await?;
        let mut hosts: Vec<PassHost> = sqlx::query(SCHEDULE)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                let id: i32 = r.get(0);
                let arches: String = r.get(3);
                PassHost {
                    id,
                    ready: r.get(1),
                    capacity: r.get(2),
                    arches: arches.split_whitespace().map(str::to_owned).collect(),
                    load: r.get(4),
                    tasks: r.get(5),
                    max_jobs: self.max_jobs(id),
                    channels: r.get(6),
                }
            })
            .collect();
        let free = sqlx::query(FREE).fetch_all(&mut *tx).await?;
        let (mut tasks, mut chosen) = (Vec::new(), Vec::new());
        for row in &free {
            let (id, channel, arch, weight): (i32, i32, String, f64) = (row.get(0), row.get(1), row.get(2), row.get(3));
            let room = f64::max(0.0, weight - overcommit);
            let best = hosts
                .iter_mut()
                .filter(|h| {
                    h.ready
                        && h.channels.contains(&channel)
                        && (arch == "noarch" || h.arches.contains(&arch))
                        && h.tasks < h.max_jobs
                        && h.capacity - h.load > room
                })
                .min_by(|a, b| (a.load + a.tasks as f64).total_cmp(&(b.load + b.tasks as f64)));
            if let Some(host) = best {
                host.load += weight;
                host.tasks += 1;
                tasks.push(id);
                chosen.push(host.id);
            }
        }
        let rows = sqlx::query(ASSIGN).bind(&tasks).bind(&chosen).fetch_all(&mut *tx).await?;
        let tasks: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        let chosen: Vec<i32> = rows.iter().map(|r| r.get(1)).collect();
        if self.level >= Level::V1_34 {
            sqlx::query(ASSIGN_1_34).bind(&tasks).bind(&chosen).execute(&mut *tx).await?;
            self.tally.freed += sqlx::query(SWEEP).execute(&mut *tx).await?.rows_affected();
            sqlx::query(
                "update scheduler_task_runs r set active = false from task t
                 where r.active and t.id = r.task_id and t.state not in (1, 4)",
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.tally.assigned += tasks.len() as u64;
        Ok(())
    }

    /// Builders that are up and not busy open their ASSIGNED tasks one after another while
    /// kojid's readyForTask holds (load not over capacity, fewer OPEN tasks than maxjobs).
    /// Returns the hosts that opened a task: they check in at once, as kojid loops again
    /// without sleeping after it took a task.
    async fn open(&mut self) -> Result<Vec<i32>, sqlx::Error> {
        let up: Vec<i32> =
            self.hosts.iter().copied().filter(|h| !self.offline.contains(h) && !self.busy.contains(h)).collect();
        let rows = sqlx::query(OPEN).bind(&up).fetch_all(&self.pool).await?;
        let mut take = Vec::new();
        let mut current: Option<(i32, f64, i64)> = None;
        for row in &rows {
            let (host, id, weight, load, open, capacity): (i32, i32, f64, f64, i64, f64) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
            let (_, load, open) = match current {
                Some(state) if state.0 == host => state,
                _ => (host, load, open),
            };
            if load <= capacity && open < self.max_jobs(host) {
                take.push(id);
                current = Some((host, load + weight, open + 1));
            } else {
                current = Some((host, load, open));
            }
        }
        let mut hosts: Vec<i32> =
            sqlx::query(OPEN_TASKS).bind(&take).fetch_all(&self.pool).await?.iter().map(|r| r.get(0)).collect();
        self.tally.opened += hosts.len() as u64;
        hosts.sort_unstable();
        hosts.dedup();
        Ok(hosts)
    }

    async fn spawn(&mut self, batch: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(SPAWN).bind(batch / 4 + 1).fetch_all(&mut *tx).await?;
        // The build and repo records come with a parent's first phase only.
        let first: Vec<i32> = rows.iter().filter(|r| r.get::<bool, _>(1)).map(|r| r.get(0)).collect();
        if !first.is_empty() {
            sqlx::query(SPAWN_RECORDS).bind(&first).execute(&mut *tx).await?;
        }
        let parents = rows;
        tx.commit().await?;
        self.tally.spawned += parents.len() as u64;
        Ok(())
    }

    /// Parents whose subtasks are done finish, with their builds, tags and repos.
    async fn settle(&mut self, batch: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(UNWAIT).bind(batch).fetch_all(&mut *tx).await?;
        let repo_tasks: Vec<i32> = rows
            .iter()
            .filter(|r| r.get::<Option<String>, _>(2).as_deref() == Some("newRepo"))
            .map(|r| r.get(0))
            .collect();
        if !repo_tasks.is_empty() {
            let changed: Vec<i32> =
                sqlx::query(REPOS).bind(&repo_tasks).fetch_all(&mut *tx).await?.iter().map(|r| r.get(0)).collect();
            if self.level >= Level::V1_35 && !changed.is_empty() {
                sqlx::query(REPOS_1_35).bind(&changed).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        self.tally.settled += rows.len() as u64;
        Ok(())
    }

    /// Hosts whose turn it is (one fifteenth per tick), or that just took a task, and that are
    /// online check in.
    async fn checkin(&mut self, tick: u64, opened_on: &[i32]) -> Result<(), sqlx::Error> {
        let due: Vec<i32> = self
            .hosts
            .iter()
            .copied()
            .filter(|h| {
                ((*h as u64) % CHECKIN_PERIOD == tick % CHECKIN_PERIOD || opened_on.contains(h))
                    && !self.offline.contains(h)
            })
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let busy: Vec<i32> = self.busy.iter().copied().collect();
        let sql = if self.level >= Level::V1_33 { CHECKIN } else { CHECKIN_1_32 };
        let (with_limit, limits): (Vec<i32>, Vec<i32>) =
            self.max_jobs.iter().map(|(h, m)| (*h, i32::try_from(*m).unwrap_or(i32::MAX))).unzip();
        self.tally.checkins += sqlx::query(sql)
            .bind(&due)
            .bind(&busy)
            .bind(&with_limit)
            .bind(&limits)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(())
    }

    /// The rarer events, each with a probability per tick scaled to the task rate.
    async fn now_and_then(&mut self, rate: f64) -> Result<(), sqlx::Error> {
        let chance = |per_task: f64| rand::random_bool((per_task * rate.max(0.2)).min(1.0));
        if chance(0.02) {
            self.tally.canceled += sqlx::query(CANCEL).execute(&self.pool).await?.rows_affected();
        }
        if chance(0.05) {
            self.tally.untagged += sqlx::query(UNTAG).execute(&self.pool).await?.rows_affected();
        }
        if self.level >= Level::V1_35 && chance(0.05) {
            self.tally.requests += sqlx::query(QUEUE).execute(&self.pool).await?.rows_affected();
        }
        if chance(0.03) {
            self.out_of_order().await?;
        }
        if chance(0.03) {
            self.rolled_back().await?;
        }
        if self.scenario != Some(Scenario::HostDown) {
            return Ok(());
        }
        // A running host goes down now and then, and a down one (not a retired one) comes back.
        let online: Vec<i32> = self.hosts.iter().copied().filter(|h| !self.offline.contains(h)).collect();
        if rand::random_bool(0.01) && online.len() > 4 {
            let host = online[rand::random_range(0..online.len())];
            if !PROTECTED.contains(&host) {
                self.offline.insert(host);
            }
        }
        if rand::random_bool(0.01) && !self.offline.is_empty() {
            let down: Vec<i32> = self.offline.iter().copied().collect();
            self.offline.remove(&down[rand::random_range(0..down.len())]);
        }
        if rand::random_bool(0.02) {
            let host = self.hosts[rand::random_range(0..self.hosts.len())];
            if !self.busy.remove(&host) {
                self.busy.insert(host);
            }
        }
        Ok(())
    }

    /// Two transactions insert a task each; the later id commits first.
    async fn out_of_order(&mut self) -> Result<(), sqlx::Error> {
        let mut first = self.pool.begin().await?;
        first.execute(sqlx::query(SUBMIT).bind(1)).await?;
        let mut second = self.pool.begin().await?;
        second.execute(sqlx::query(SUBMIT).bind(1)).await?;
        second.commit().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        first.commit().await?;
        self.tally.out_of_order += 1;
        self.tally.submitted += 2;
        Ok(())
    }

    /// A transaction inserts tasks and rolls back: their ids are never used.
    async fn rolled_back(&mut self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        tx.execute(sqlx::query(SUBMIT).bind(3)).await?;
        tx.rollback().await?;
        self.tally.rolled_back += 1;
        Ok(())
    }
}
