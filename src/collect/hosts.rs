//! The hosts family: what each builder is, whether it can take work, and how loaded it is.
//!
//! Reads only small tables and the OPEN tasks (see `sql/hosts.sql`), and returns plain data;
//! the per-channel sums and the "busy" verdict are pure functions of that data, so they are
//! unit-tested without a database.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sqlx::PgConnection;

use crate::lossy::Lossy;
use crate::schema::SchemaFeatures;
use crate::sql;

/// What the family needs to know, from the configuration's `hosts` table.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Time the family may take in one scrape.
    pub timeout: Duration,
    /// Job limit assumed for a builder that reports none.
    pub default_max_jobs: u32,
}

/// One Koji host (builder) as the scrape saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub enabled: bool,
    pub ready: bool,
    /// None when the host has no current configuration row (odd data).
    pub capacity: Option<f64>,
    /// The load the builder last reported (sum of weights of its running, non-waiting tasks).
    pub task_load: f64,
    pub arches: Vec<String>,
    pub channels: Vec<String>,
    /// Unix time of the last check-in: `host.update_time` where the schema has it and it is set,
    /// else the newest session activity of the host's user; None if the host was never seen.
    pub last_update: Option<f64>,
    /// OPEN tasks held by the host (what kojid compares with maxjobs).
    pub open_tasks: u64,
    /// OPEN tasks that are not waiting on subtasks (they use the builder).
    pub running_tasks: u64,
    /// The job limit the builder reported (Koji 1.34+ scheduler data), if any.
    pub max_jobs: Option<u64>,
}

impl Host {
    /// Whether the builder refuses new work because it is full, by kojid's own rule: its load is
    /// over its capacity (strictly), or it holds as many tasks as its job limit allows. A builder
    /// that reports no limit is held to `default_max_jobs`.
    pub fn is_busy(&self, default_max_jobs: u64) -> bool {
        let over_capacity = self.capacity.is_some_and(|capacity| self.task_load > capacity);
        let full_queue = self.open_tasks >= self.max_jobs.unwrap_or(default_max_jobs);
        over_capacity || full_queue
    }
}

/// One channel with sums over its current member hosts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Channel {
    pub name: String,
    /// None on schemas before Koji 1.26, which have no channels.enabled.
    pub enabled: Option<bool>,
    pub hosts: u64,
    pub enabled_hosts: u64,
    /// Enabled and ready.
    pub ready_hosts: u64,
    /// Sum of the capacity of enabled hosts.
    pub enabled_capacity: f64,
    /// Sum of the task load of enabled hosts.
    pub enabled_task_load: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostsSnapshot {
    pub hosts: Vec<Host>,
    pub channels: Vec<Channel>,
}

#[derive(sqlx::FromRow)]
struct HostRow {
    id: i32,
    #[sqlx(try_from = "Lossy")]
    name: String,
    ready: bool,
    /// NOT NULL in Koji's schema; a NULL (edited schema) reads as Koji's default, 0.
    task_load: Option<f64>,
    enabled: bool,
    capacity: Option<f64>,
    arches: Option<Lossy>,
}

/// The statements of `sql/hosts.sql` that [`fetch`] sends on a schema with `features`, in the
/// order it sends them; `host_session_activity` only when a host has no check-in time of its
/// own. `koji-exporter report --explain` prints these (keep them in step with `fetch`; the
/// integration test tests/it/report_reads.rs compares with what is really sent).
pub fn statement_names(features: &SchemaFeatures) -> Vec<&'static str> {
    let mut names = vec!["hosts"];
    if features.has_host_update_time {
        names.push("host_update_times");
    }
    names.extend(["host_session_activity", "host_channels"]);
    names.push(if features.has_channel_enabled { "channels" } else { "channels_before_1_26" });
    names.push("host_open_tasks");
    if features.has_scheduler {
        names.push("host_max_jobs");
    }
    names
}

/// Reads the family. Call inside a read-only transaction so all statements see one snapshot.
#[tracing::instrument(skip_all)]
pub async fn fetch(conn: &mut PgConnection, features: &SchemaFeatures) -> Result<HostsSnapshot, sqlx::Error> {
    let rows: Vec<HostRow> = sqlx::query_as(sql::statement("hosts", "hosts")).fetch_all(&mut *conn).await?;

    let mut last_update: HashMap<i32, f64> = HashMap::new();
    if features.has_host_update_time {
        let times: Vec<(i32, f64)> =
            sqlx::query_as(sql::statement("hosts", "host_update_times")).fetch_all(&mut *conn).await?;
        last_update.extend(times);
    }
    let without_time: Vec<i32> = rows.iter().map(|row| row.id).filter(|id| !last_update.contains_key(id)).collect();
    if !without_time.is_empty() {
        let times: Vec<(i32, f64)> = sqlx::query_as(sql::statement("hosts", "host_session_activity"))
            .bind(&without_time)
            .fetch_all(&mut *conn)
            .await?;
        last_update.extend(times);
    }

    let memberships: Vec<(i32, Lossy)> =
        sqlx::query_as(sql::statement("hosts", "host_channels")).fetch_all(&mut *conn).await?;
    let channel_statement = if features.has_channel_enabled { "channels" } else { "channels_before_1_26" };
    let channels: Vec<(Lossy, Option<bool>)> =
        sqlx::query_as(sql::statement("hosts", channel_statement)).fetch_all(&mut *conn).await?;
    let channels: Vec<(String, Option<bool>)> = channels.into_iter().map(|(name, on)| (name.0, on)).collect();
    let open: Vec<(i32, i64, i64)> =
        sqlx::query_as(sql::statement("hosts", "host_open_tasks")).fetch_all(&mut *conn).await?;
    let max_jobs: Vec<(i32, Option<Lossy>)> = if features.has_scheduler {
        sqlx::query_as(sql::statement("hosts", "host_max_jobs")).fetch_all(&mut *conn).await?
    } else {
        Vec::new()
    };

    let mut channels_of: HashMap<i32, Vec<String>> = HashMap::new();
    for (host_id, channel) in memberships {
        channels_of.entry(host_id).or_default().push(channel.0);
    }
    let open: HashMap<i32, (i64, i64)> = open.into_iter().map(|(id, all, running)| (id, (all, running))).collect();
    let max_jobs: HashMap<i32, u64> =
        max_jobs.into_iter().filter_map(|(id, text)| Some((id, parse_max_jobs(text.as_deref()?)?))).collect();

    let hosts = rows
        .into_iter()
        .map(|row| {
            let (open_tasks, running_tasks) = open.get(&row.id).copied().unwrap_or_default();
            let mut channels = channels_of.remove(&row.id).unwrap_or_default();
            channels.sort();
            Host {
                name: row.name,
                enabled: row.enabled,
                ready: row.ready,
                capacity: row.capacity,
                task_load: row.task_load.unwrap_or(0.0),
                arches: row.arches.as_deref().unwrap_or("").split_whitespace().map(str::to_owned).collect(),
                channels,
                last_update: last_update.get(&row.id).copied(),
                open_tasks: open_tasks.max(0) as u64,
                running_tasks: running_tasks.max(0) as u64,
                max_jobs: max_jobs.get(&row.id).copied(),
            }
        })
        .collect::<Vec<_>>();
    let channels = summarize_channels(channels, &hosts);
    Ok(HostsSnapshot { hosts, channels })
}

/// A job limit from the builder's JSON, or None when it is not a non-negative number.
fn parse_max_jobs(text: &str) -> Option<u64> {
    let value: f64 = text.trim().parse().ok()?;
    (0.0..1e9).contains(&value).then_some(value.floor() as u64)
}

/// Per-channel sums. A host in several channels counts in each of them; channels without hosts
/// are kept (with zeros) so their series exist before the first host joins.
pub fn summarize_channels(channels: Vec<(String, Option<bool>)>, hosts: &[Host]) -> Vec<Channel> {
    let mut by_name: BTreeMap<String, Channel> = channels
        .into_iter()
        .map(|(name, enabled)| (name.clone(), Channel { name, enabled, ..Channel::default() }))
        .collect();
    for host in hosts {
        for channel_name in &host.channels {
            let channel = by_name
                .entry(channel_name.clone())
                .or_insert_with(|| Channel { name: channel_name.clone(), ..Channel::default() });
            channel.hosts += 1;
            if host.enabled {
                channel.enabled_hosts += 1;
                channel.ready_hosts += u64::from(host.ready);
                channel.enabled_capacity += host.capacity.unwrap_or(0.0);
                channel.enabled_task_load += host.task_load;
            }
        }
    }
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, enabled: bool, ready: bool, capacity: f64, load: f64, channels: &[&str]) -> Host {
        Host {
            name: name.into(),
            enabled,
            ready,
            capacity: Some(capacity),
            task_load: load,
            arches: vec![],
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            last_update: None,
            open_tasks: 0,
            running_tasks: 0,
            max_jobs: None,
        }
    }

    #[test]
    fn channel_sums_count_enabled_hosts_in_every_channel() {
        let hosts = [
            host("a", true, true, 4.0, 1.5, &["default", "createrepo"]),
            host("b", true, false, 2.0, 0.5, &["default"]),
            host("c", false, true, 8.0, 3.0, &["default"]),
        ];
        let channels =
            vec![("createrepo".into(), Some(true)), ("default".into(), Some(true)), ("empty".into(), Some(false))];
        let summary = summarize_channels(channels, &hosts);
        let default = summary.iter().find(|c| c.name == "default").unwrap();
        assert_eq!((default.hosts, default.enabled_hosts, default.ready_hosts), (3, 2, 1));
        assert_eq!((default.enabled_capacity, default.enabled_task_load), (6.0, 2.0));
        let createrepo = summary.iter().find(|c| c.name == "createrepo").unwrap();
        assert_eq!((createrepo.hosts, createrepo.enabled_capacity), (1, 4.0));
        let empty = summary.iter().find(|c| c.name == "empty").unwrap();
        assert_eq!((empty.hosts, empty.enabled, empty.enabled_capacity), (0, Some(false), 0.0));
    }

    #[test]
    fn busy_follows_kojid() {
        let mut h = host("a", true, false, 2.0, 2.0, &[]);
        assert!(!h.is_busy(10), "load equal to capacity is not over capacity");
        h.task_load = 2.5;
        assert!(h.is_busy(10));
        h.task_load = 0.5;
        h.open_tasks = 3;
        h.max_jobs = Some(3);
        assert!(h.is_busy(10), "job limit reached");
        h.max_jobs = None;
        assert!(!h.is_busy(10));
        assert!(h.is_busy(3), "the default limit applies when the builder reports none");
    }

    #[test]
    fn max_jobs_must_be_a_number() {
        assert_eq!(parse_max_jobs("10"), Some(10));
        assert_eq!(parse_max_jobs("4.0"), Some(4));
        assert_eq!(parse_max_jobs("-1"), None);
        assert_eq!(parse_max_jobs("\"ten\""), None);
        assert_eq!(parse_max_jobs("null"), None);
    }
}
