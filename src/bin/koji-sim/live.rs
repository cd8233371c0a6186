//! `live`: keeps a filled database moving the way a Koji hub and its builders would.
//!
//! One loop, one tick per second. Each tick submits new tasks at the requested rate, lets the
//! scheduler assign FREE tasks, builders open, spawn subtasks, wait and finish them, parents
//! settle their builds, tags and repos, and every host checks in every 15 seconds. Now and then a
//! user cancels a task, a build is untagged, a repo is requested, a host stops checking in (and
//! later returns) or reports itself busy. Each step is one short transaction from a small pool;
//! some ticks also commit two transactions out of id order or roll one back, which real hubs do
//! and which leave gaps and late ids that a reader must cope with.
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
const OPEN: &str = include_str!("sql/live/open.sql");
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
const RUNS_END: &str = "update scheduler_task_runs set active = false where active and task_id = any($1::integer[])";
const RUNS_ADD: &str =
    "insert into scheduler_task_runs (task_id, host_id) select * from unnest($1::integer[], $2::integer[])";

/// Seconds between two check-ins of a builder (kojid's default sleep time).
const CHECKIN_PERIOD: u64 = 15;

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
    tally: Tally,
}

pub async fn run(url: &str, rate: f64, duration: Option<f64>) -> Result<(), Failure> {
    if !(rate.is_finite() && rate >= 0.0) {
        return Err(Failure::Refused(format!("--rate must be a non-negative number, not {rate}")));
    }
    let pool = PgPoolOptions::new().max_connections(3).connect(url).await?;
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
    let offline = sqlx::query(silent).fetch_all(&pool).await?.iter().map(|r| r.get(0)).collect();
    let mut sim = Sim { pool, level, hosts, offline, busy: BTreeSet::new(), tally: Tally::default() };

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
        self.schedule(batch).await?;
        let offline: Vec<i32> = self.offline.iter().copied().collect();
        self.tally.opened += sqlx::query(OPEN).bind(batch).bind(&offline).execute(&self.pool).await?.rows_affected();
        self.spawn(batch).await?;
        self.tally.finished += sqlx::query(FINISH).bind(batch).execute(&self.pool).await?.rows_affected();
        self.settle(batch).await?;
        self.checkin(tick).await?;
        if self.level >= Level::V1_34 && tick.is_multiple_of(5) {
            self.tally.freed += sqlx::query(SWEEP).execute(&self.pool).await?.rows_affected();
            sqlx::query(
                "update scheduler_task_runs r set active = false from task t
                         where r.active and t.id = r.task_id and t.state not in (1, 4)",
            )
            .execute(&self.pool)
            .await?;
        }
        self.now_and_then(rate).await
    }

    async fn schedule(&mut self, batch: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(SCHEDULE).bind(batch).fetch_all(&mut *tx).await?;
        let tasks: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        let hosts: Vec<i32> = rows.iter().map(|r| r.get(1)).collect();
        if self.level >= Level::V1_34 && !tasks.is_empty() {
            sqlx::query(RUNS_END).bind(&tasks).execute(&mut *tx).await?;
            sqlx::query(RUNS_ADD).bind(&tasks).bind(&hosts).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.tally.assigned += tasks.len() as u64;
        Ok(())
    }

    async fn spawn(&mut self, batch: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let parents: Vec<i32> =
            sqlx::query(SPAWN).bind(batch / 4 + 1).fetch_all(&mut *tx).await?.iter().map(|r| r.get(0)).collect();
        if !parents.is_empty() {
            sqlx::query(SPAWN_RECORDS).bind(&parents).execute(&mut *tx).await?;
        }
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

    /// Hosts whose turn it is (one fifteenth per tick) and that are online check in.
    async fn checkin(&mut self, tick: u64) -> Result<(), sqlx::Error> {
        let due: Vec<i32> = self
            .hosts
            .iter()
            .copied()
            .filter(|h| (*h as u64) % CHECKIN_PERIOD == tick % CHECKIN_PERIOD && !self.offline.contains(h))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let busy: Vec<i32> = self.busy.iter().copied().collect();
        let sql = if self.level >= Level::V1_33 { CHECKIN } else { CHECKIN_1_32 };
        self.tally.checkins += sqlx::query(sql).bind(&due).bind(&busy).execute(&self.pool).await?.rows_affected();
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
        // A running host goes down now and then, and a down one (not a retired one) comes back.
        let online: Vec<i32> = self.hosts.iter().copied().filter(|h| !self.offline.contains(h)).collect();
        if rand::random_bool(0.01) && online.len() > 4 {
            let host = online[rand::random_range(0..online.len())];
            if ![1, 2, 4, 8].contains(&host) {
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
