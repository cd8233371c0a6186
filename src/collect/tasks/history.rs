//! The full pass over the task history: the totals of every finished task, added up by the
//! server, and what the engine needs to stay incremental afterwards, read row by row.
//!
//! A finished task's contribution depends on its channel, method, final state, host and times,
//! which the server can group and bucket itself (`history_totals`), and on its tag, which only
//! Rust can work out (a top-level task's request is parsed, [`super::attribution`]). The pass
//! therefore sends the server the tag of every task whose subtasks inherit one, and lets it
//! join that map to each task by `coalesce(parent, id)`:
//! 1. the tag-bearing top-level tasks (methods of [`request::TAG_METHODS`]) are read with their
//!    requests, one range of heap pages at a time (slices of one sequential scan), and
//!    attributed; those with a tag enter the map;
//! 2. the tasks that have subtasks (`history_parents`) but are no such top-level task are
//!    looked up by primary key: those with a parent are subtasks of subtasks, followed up to
//!    their top-level task, and enter the map with its tag. Koji nests so rarely that this is
//!    a short list; a chain that ends at a missing parent or loops gives no tag, as in
//!    attribution;
//! 3. `history_totals` adds up the finished tasks, in one scan, by (tag, channel, method,
//!    state) with their wait and run buckets and sums; `history_hosts` counts them by (host,
//!    state);
//! 4. the unfinished tasks (`history_unfinished`), the highest id and the ids missing below it
//!    are read as the engine keeps them, and the unfinished ones are taken in one by one.
//!
//! The result equals the row-by-row pass ([`Engine::from_history_row_by_row`]) in every count
//! and bucket; histogram sums differ only by the rounding of a different order of addition.
//! Without the tag label, steps 1 and 2 are skipped.

use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime};

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::aggregate::{Counts, Histogram, RUN_BUCKETS, TaskKey, WAIT_BUCKETS};
use super::attribution::Attributor;
use super::{Engine, Gap, MAX_GAPS_PER_STRETCH, TaskRow, TasksSettings, request};
use crate::koji::task::{CANCELED, CLOSED, FAILED};
use crate::lossy::Lossy;
use crate::sql;

/// Heap pages per batch of tag-bearing top-level tasks (64 MiB of the table; their requests are
/// read and parsed per batch).
const ROOT_PAGES: i64 = 8192;
/// Ids per look-up of tasks that have subtasks.
const LINK_BATCH: usize = 50_000;
/// Parent links followed at most from a subtask of a subtask up to its top-level task.
const MAX_CHAIN: usize = 64;
/// `work_mem` of the pass's transaction, for the tag map history_totals joins.
const WORK_MEM: &str = "64MB";

/// The tag map the server joins: task ids, the index of their tag in `names`.
#[derive(Debug, Default)]
struct TagMap {
    ids: Vec<i32>,
    tags: Vec<i32>,
    names: Vec<String>,
}

pub(super) async fn pass(
    conn: &mut PgConnection,
    attributor: &mut Attributor,
    settings: &TasksSettings,
) -> Result<Engine, sqlx::Error> {
    let now = Instant::now();
    let mut engine = Engine::empty();
    sqlx::query(sql::statement("tasks", "history_work_mem")).bind(WORK_MEM).execute(&mut *conn).await?;
    sqlx::query(sql::statement("tasks", "history_no_jit")).execute(&mut *conn).await?;
    let newest: Option<(i32, f64)> =
        sqlx::query_as(sql::statement("tasks", "history_newest")).fetch_optional(&mut *conn).await?;
    let Some((max_id, max_created)) = newest else {
        return Ok(engine);
    };
    engine.max_seen = max_id;
    engine.max_seen_created = Some(max_created);

    let map = if settings.tag_label { tag_map(conn, attributor).await? } else { TagMap::default() };
    let negated = |bounds: &[f64]| bounds.iter().rev().map(|bound| -bound).collect::<Vec<f64>>();
    let groups: Vec<PgRow> = sqlx::query(sql::statement("tasks", "history_totals"))
        .bind(&map.ids)
        .bind(&map.tags)
        .bind(negated(&WAIT_BUCKETS[..]))
        .bind(negated(&RUN_BUCKETS[..]))
        .fetch_all(&mut *conn)
        .await?;
    for group in &groups {
        engine.take_group(group, &map.names, settings)?;
    }
    let hosts: Vec<(i32, i32, i64)> =
        sqlx::query_as(sql::statement("tasks", "history_hosts")).fetch_all(&mut *conn).await?;
    for (host_id, state, tasks) in hosts {
        let count = engine.aggregates.host_finished.entry((host_id, state)).or_default();
        *count = count.saturating_add(u64::try_from(tasks).unwrap_or(0));
    }

    let unfinished: Vec<TaskRow> = sqlx::query_as(sql::statement("tasks", "history_unfinished"))
        .bind(request::tag_method_names())
        .fetch_all(&mut *conn)
        .await?;
    attributor.attribute(conn, &unfinished).await?;
    for row in &unfinished {
        engine.take_new(row, attributor, settings);
    }

    // The ids missing near the top, as the row-by-row pass leaves them.
    let horizon = max_id.saturating_sub(MAX_GAPS_PER_STRETCH).max(0);
    let present: HashSet<i32> = sqlx::query_scalar(sql::statement("tasks", "history_ids_near_top"))
        .bind(horizon)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    for missing in (horizon + 1..max_id).filter(|id| !present.contains(id)) {
        engine.gaps.insert(missing, Gap { first_missed: now, last_looked: now });
    }
    engine.built_at = SystemTime::now();
    Ok(engine)
}

/// The tag of every task whose subtasks inherit one (steps 1 and 2 of the module doc).
async fn tag_map(conn: &mut PgConnection, attributor: &mut Attributor) -> Result<TagMap, sqlx::Error> {
    let mut map = TagMap::default();
    let mut index: HashMap<String, i32> = HashMap::new();
    // Every tag-bearing top-level task, with the index of its tag (None: it names none).
    let mut roots: HashMap<i32, Option<i32>> = HashMap::new();
    let (pages,): (i64,) = sqlx::query_as(sql::statement("tasks", "history_pages")).fetch_one(&mut *conn).await?;
    let mut first = 0;
    loop {
        // The last range is open: pages added since the size was read hold no task of the snapshot,
        // but the size is not read in it.
        let last = first + ROOT_PAGES >= pages;
        let until = if last { i64::from(u32::MAX) } else { first + ROOT_PAGES };
        let rows: Vec<TaskRow> = sqlx::query_as(sql::statement("tasks", "history_roots"))
            .bind(request::tag_method_names())
            .bind(format!("({first},0)"))
            .bind(format!("({until},0)"))
            .fetch_all(&mut *conn)
            .await?;
        attributor.attribute(conn, &rows).await?;
        for row in &rows {
            let tag = attributor.tag_of(row.id).unwrap_or("");
            let tag = (!tag.is_empty()).then(|| {
                let next = index.len() as i32;
                *index.entry(tag.to_owned()).or_insert_with(|| {
                    map.names.push(tag.to_owned());
                    next
                })
            });
            roots.insert(row.id, tag);
        }
        if last {
            break;
        }
        first = until;
    }

    // Tasks with subtasks that are not tag-bearing top-level tasks: other top-level tasks (no
    // tag) and subtasks of subtasks, whose parents are followed.
    let (parents,): (Vec<i32>,) =
        sqlx::query_as(sql::statement("tasks", "history_parents")).fetch_one(&mut *conn).await?;
    let others: Vec<i32> = parents.into_iter().filter(|id| !roots.contains_key(id)).collect();
    let mut links: HashMap<i32, i32> = HashMap::new();
    for chunk in others.chunks(LINK_BATCH) {
        let found: Vec<(i32, Option<i32>)> =
            sqlx::query_as(sql::statement("tasks", "history_links")).bind(chunk).fetch_all(&mut *conn).await?;
        links.extend(found.into_iter().filter_map(|(id, parent)| Some((id, parent?))));
    }
    for (id, tag) in &roots {
        if let Some(tag) = tag {
            map.ids.push(*id);
            map.tags.push(*tag);
        }
    }
    for id in links.keys() {
        if let Some(tag) = inherited(*id, &links, &roots) {
            map.ids.push(*id);
            map.tags.push(tag);
        }
    }
    Ok(map)
}

/// The tag of a subtask of a subtask: its chain of parents up to a tag-bearing top-level task.
fn inherited(id: i32, links: &HashMap<i32, i32>, roots: &HashMap<i32, Option<i32>>) -> Option<i32> {
    let mut current = id;
    for _ in 0..MAX_CHAIN {
        let parent = *links.get(&current)?;
        if let Some(tag) = roots.get(&parent) {
            return *tag;
        }
        current = parent;
    }
    None
}

impl Engine {
    /// Adds one row of `history_totals`.
    fn take_group(&mut self, group: &PgRow, tags: &[String], settings: &TasksSettings) -> Result<(), sqlx::Error> {
        let tasks = u64::try_from(group.try_get::<i64, _>("tasks")?).unwrap_or(0);
        let state: i32 = group.try_get("state")?;
        let tag: Option<i32> = group.try_get("tag")?;
        let tag = tag.and_then(|tag| tags.get(usize::try_from(tag).ok()?)).map_or("", String::as_str);
        let row = method_row(group.try_get("channel_id")?, group.try_get("method")?);
        let key = settings.key(&row, tag);
        let mut counts = Counts { created: tasks, ..Counts::default() };
        match state {
            CLOSED => counts.closed = tasks,
            CANCELED => counts.canceled = tasks,
            FAILED => counts.failed = tasks,
            _ => {}
        }
        self.aggregates.add_counts(&key, counts);
        let TaskKey { channel_id, method, .. } = key;
        if let Some(histogram) = buckets(group, "w", &WAIT_BUCKETS, "wait_seconds")? {
            let entry = self.aggregates.wait.entry((channel_id, method.clone()));
            entry.or_insert_with(|| Histogram::new(&WAIT_BUCKETS)).merge(&histogram);
        }
        if let Some(histogram) = buckets(group, "r", &RUN_BUCKETS, "run_seconds")? {
            let entry = self.aggregates.run.entry((channel_id, method, state));
            entry.or_insert_with(|| Histogram::new(&RUN_BUCKETS)).merge(&histogram);
        }
        Ok(())
    }
}

/// The histogram in the bucket columns `{prefix}0`, `{prefix}1`, ... and the sum column of a
/// row of `history_totals`; None when no task in the group was observed.
fn buckets(group: &PgRow, prefix: &str, bounds: &'static [f64], sum: &str) -> Result<Option<Histogram>, sqlx::Error> {
    let mut histogram = Histogram::new(bounds);
    for (index, count) in histogram.counts.iter_mut().enumerate() {
        *count = u64::try_from(group.try_get::<i64, _>(format!("{prefix}{index}").as_str())?).unwrap_or(0);
    }
    histogram.sum = group.try_get::<Option<f64>, _>(sum)?.unwrap_or(0.0);
    Ok((histogram.count() > 0).then_some(histogram))
}

/// A task row with only what [`TasksSettings::key`] reads: the channel and the method.
fn method_row(channel_id: i32, method: Option<Lossy>) -> TaskRow {
    TaskRow {
        id: 0,
        state: None,
        channel_id,
        host_id: None,
        parent: None,
        method,
        arch: String::new(),
        waiting: None,
        weight: 0.0,
        create_time: 0.0,
        start_time: None,
        completion_time: None,
        request: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_subtasks_takes_its_top_level_tag_and_a_broken_one_none() {
        let roots: HashMap<i32, Option<i32>> = [(1, Some(0)), (2, None)].into_iter().collect();
        // 10 -> 1 (tagged), 11 -> 10 -> 1, 12 -> 2 (no tag), 13 -> 99 (missing), 14 <-> 15 (a loop).
        let links: HashMap<i32, i32> = [(10, 1), (11, 10), (12, 2), (13, 99), (14, 15), (15, 14)].into_iter().collect();
        assert_eq!(inherited(10, &links, &roots), Some(0));
        assert_eq!(inherited(11, &links, &roots), Some(0));
        assert_eq!(inherited(12, &links, &roots), None);
        assert_eq!(inherited(13, &links, &roots), None);
        assert_eq!(inherited(14, &links, &roots), None);
    }
}
