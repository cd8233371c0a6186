//! The `tag` label of a task: its top-level task's tag, from what that task's request names.
//!
//! Top-level requests are parsed once ([`super::request`]); the result is cached by task id for
//! recent tasks, so the subtasks that arrive later find their parent's tag without parsing or a
//! query. A subtask whose ancestors are no longer cached costs a few primary-key look-ups.
//! Targets resolve to their destination tag (the current configuration, else the newest revoked
//! one of a deleted target); tag ids to tag names.
//!
//! A label value is always a word of the database's vocabulary: the name of a live tag (a `tag`
//! row with a current `tag_config` row), whether the request names it, gives its id or names a
//! target that lands in it. Whatever else a request holds (a purged tag, a deleted target's
//! deleted destination, a typo, junk) becomes [`OTHER`], so the label's values are bounded by
//! the live tags however many distinct strings requests carry. Each name, id and target is
//! looked up once, through the unique indexes of `tag.name` and `tag_config (tag_id, active)`,
//! when a top-level task naming it is first attributed, and the answer is cached (the caches
//! are emptied when they grow past [`NAME_CACHE_LIMIT`], and start afresh with every full pass
//! over the history). A tag deleted after its tasks were counted keeps its label on those
//! tasks until the next full pass (`tasks.reconcile_interval_seconds`), which counts them under
//! [`OTHER`].

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::request::{self, Reference};
use super::row::TaskRow;
use crate::lossy::Lossy;
use crate::sql;

/// Recent tasks whose tags are remembered; older ones are looked up again when needed.
const CACHE_LIMIT: usize = 500_000;
/// Parent chains are followed at most this deep (Koji nests three or four levels).
const MAX_DEPTH: usize = 12;
/// Names, ids and targets whose answers are remembered; a cache that grows past this (requests
/// full of junk) is emptied and refilled by look-ups.
const NAME_CACHE_LIMIT: usize = 100_000;
/// The label value of a task whose request names something that is not a live tag.
pub const OTHER: &str = "other";

#[derive(Debug, Default)]
pub struct Attributor {
    by_task: HashMap<i32, String>,
    /// Live tag names by id; None for an id that names no live tag.
    tag_names: HashMap<i32, Option<String>>,
    /// Whether a name is a live tag's.
    live_names: HashMap<String, bool>,
    /// The live destination tag of each target; None for a target that is missing or whose
    /// destination is not live.
    target_tags: HashMap<String, Option<String>>,
}

impl Attributor {
    /// The tag of a task that [`Attributor::attribute`] has seen.
    pub fn tag_of(&self, task_id: i32) -> Option<&str> {
        self.by_task.get(&task_id).map(String::as_str)
    }

    /// Makes sure every row (and, through it, its ancestors) has a tag in the cache.
    pub async fn attribute(&mut self, conn: &mut PgConnection, rows: &[TaskRow]) -> Result<(), sqlx::Error> {
        let mut pending: Vec<TaskRow> =
            rows.iter().filter(|row| !self.by_task.contains_key(&row.id)).cloned().collect();
        for _ in 0..MAX_DEPTH {
            if pending.is_empty() {
                return Ok(());
            }
            pending.sort_by_key(|row| row.id);
            // Each top-level request is parsed once, here.
            let references: HashMap<i32, Option<Reference>> = pending
                .iter()
                .filter(|row| row.parent.is_none())
                .map(|row| {
                    let method_and_request = row.method.as_deref().zip(row.request.as_deref());
                    (row.id, method_and_request.and_then(|(m, r)| request::reference(m, r)))
                })
                .collect();
            self.resolve_references(conn, references.values().flatten()).await?;
            let mut missing_parents = HashSet::new();
            for row in &pending {
                let tag = match row.parent {
                    None => Some(self.tag_named_by(references.get(&row.id).and_then(Option::as_ref))),
                    Some(parent) => self.by_task.get(&parent).cloned(),
                };
                match tag {
                    Some(tag) => {
                        self.by_task.insert(row.id, tag);
                    }
                    None => {
                        missing_parents.insert(row.parent.unwrap_or_default());
                    }
                }
            }
            pending.retain(|row| !self.by_task.contains_key(&row.id));
            if missing_parents.is_empty() {
                break;
            }
            let ids: Vec<i32> = missing_parents.into_iter().collect();
            let ancestors: Vec<TaskRow> = sqlx::query_as(sql::statement("tasks", "by_id"))
                .bind(request::tag_method_names())
                .bind(&ids)
                .fetch_all(&mut *conn)
                .await?;
            let found: HashSet<i32> = ancestors.iter().map(|row| row.id).collect();
            for id in ids.iter().filter(|id| !found.contains(id)) {
                // A parent that no longer exists (deleted by koji-sweep-db): its children get no tag.
                self.by_task.insert(*id, String::new());
            }
            pending.extend(ancestors);
        }
        for row in pending {
            self.by_task.insert(row.id, String::new());
        }
        self.trim();
        Ok(())
    }

    /// The live tag a reference resolves to, [`OTHER`] when it resolves to none, "" without one.
    fn tag_named_by(&self, reference: Option<&Reference>) -> String {
        let live = match reference {
            None => return String::new(),
            Some(Reference::TagName(name)) => self.live_names.get(name).copied().unwrap_or(false).then(|| name.clone()),
            Some(Reference::TagId(id)) => self.tag_names.get(id).cloned().flatten(),
            Some(Reference::TargetName(target)) => self.target_tags.get(target).cloned().flatten(),
        };
        live.unwrap_or_else(|| OTHER.to_owned())
    }

    /// Looks up the names, ids and targets the references need and the caches lack: index
    /// probes for names and ids, and the (small) target table once for any unknown target.
    async fn resolve_references(
        &mut self,
        conn: &mut PgConnection,
        references: impl Iterator<Item = &Reference>,
    ) -> Result<(), sqlx::Error> {
        let mut tag_ids = HashSet::new();
        let mut names = HashSet::new();
        let mut unknown_targets = HashSet::new();
        for reference in references {
            match reference {
                Reference::TagId(id) if !self.tag_names.contains_key(id) => {
                    tag_ids.insert(*id);
                }
                Reference::TagName(name) if !self.live_names.contains_key(name) => {
                    names.insert(name.clone());
                }
                Reference::TargetName(target) if !self.target_tags.contains_key(target) => {
                    unknown_targets.insert(target.clone());
                }
                _ => {}
            }
        }
        if !tag_ids.is_empty() {
            let ids: Vec<i32> = tag_ids.into_iter().collect();
            let live: HashMap<i32, String> = crate::lossy::named(
                sqlx::query_as(sql::statement("tasks", "tag_names")).bind(&ids).fetch_all(&mut *conn).await?,
            )
            .into_iter()
            .collect();
            bound(&mut self.tag_names, ids.len());
            self.tag_names.extend(ids.into_iter().map(|id| (id, live.get(&id).cloned())));
        }
        if !names.is_empty() {
            let asked: Vec<String> = names.into_iter().collect();
            let live: Vec<Lossy> = sqlx::query_scalar(sql::statement("tasks", "live_tag_names"))
                .bind(&asked)
                .fetch_all(&mut *conn)
                .await?;
            let live: HashSet<String> = live.into_iter().map(String::from).collect();
            bound(&mut self.live_names, asked.len());
            self.live_names.extend(asked.into_iter().map(|name| {
                let is_live = live.contains(&name);
                (name, is_live)
            }));
        }
        if !unknown_targets.is_empty() {
            let targets: Vec<(Lossy, Lossy, bool)> =
                sqlx::query_as(sql::statement("tasks", "target_destinations")).fetch_all(&mut *conn).await?;
            bound(&mut self.target_tags, targets.len() + unknown_targets.len());
            self.target_tags.extend(targets.into_iter().map(|(target, tag, live)| (target.0, live.then_some(tag.0))));
            // A target that no longer exists at all names no tag; remember that too.
            for target in unknown_targets {
                self.target_tags.entry(target).or_default();
            }
        }
        Ok(())
    }

    fn trim(&mut self) {
        if self.by_task.len() > CACHE_LIMIT {
            let newest = self.by_task.keys().copied().max().unwrap_or_default();
            let keep_from = newest.saturating_sub(CACHE_LIMIT as i32 / 2);
            self.by_task.retain(|id, _| *id >= keep_from);
        }
    }
}

/// Empties a cache that would grow past [`NAME_CACHE_LIMIT`] with `adding` more entries.
fn bound<K, V>(cache: &mut HashMap<K, V>, adding: usize) {
    if cache.len() + adding > NAME_CACHE_LIMIT {
        cache.clear();
    }
}
