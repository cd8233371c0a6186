//! The `tag` label of a task: its top-level task's tag, from what that task's request names.
//!
//! Top-level requests are parsed once ([`super::request`]); the result is cached by task id for
//! recent tasks, so the subtasks that arrive later find their parent's tag without parsing or a
//! query. A subtask whose ancestors are no longer cached costs a few primary-key look-ups.
//! Targets resolve to their destination tag (the current configuration, else the newest revoked
//! one of a deleted target); tag ids to tag names.

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

#[derive(Debug, Default)]
pub struct Attributor {
    by_task: HashMap<i32, String>,
    tag_names: HashMap<i32, String>,
    target_tags: HashMap<String, String>,
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

    fn tag_named_by(&self, reference: Option<&Reference>) -> String {
        match reference {
            Some(Reference::TagName(name)) => name.clone(),
            Some(Reference::TagId(id)) => self.tag_names.get(id).cloned().unwrap_or_default(),
            Some(Reference::TargetName(target)) => self.target_tags.get(target).cloned().unwrap_or_default(),
            None => String::new(),
        }
    }

    /// Loads the tag names and target mappings the references need and the cache lacks.
    async fn resolve_references(
        &mut self,
        conn: &mut PgConnection,
        references: impl Iterator<Item = &Reference>,
    ) -> Result<(), sqlx::Error> {
        let mut tag_ids = HashSet::new();
        let mut unknown_targets = HashSet::new();
        for reference in references {
            match reference {
                Reference::TagId(id) if !self.tag_names.contains_key(id) => {
                    tag_ids.insert(*id);
                }
                Reference::TargetName(target) if !self.target_tags.contains_key(target) => {
                    unknown_targets.insert(target.clone());
                }
                _ => {}
            }
        }
        if !tag_ids.is_empty() {
            let ids: Vec<i32> = tag_ids.into_iter().collect();
            let names: Vec<(i32, Lossy)> =
                sqlx::query_as(sql::statement("tasks", "tag_names")).bind(&ids).fetch_all(&mut *conn).await?;
            self.tag_names.extend(crate::lossy::named(names));
        }
        if !unknown_targets.is_empty() {
            let targets: Vec<(Lossy, Lossy)> =
                sqlx::query_as(sql::statement("tasks", "target_destinations")).fetch_all(&mut *conn).await?;
            self.target_tags.extend(targets.into_iter().map(|(target, tag)| (target.0, tag.0)));
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
