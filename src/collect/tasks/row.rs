//! One task as the exporter reads it, and what a terminal one adds to the totals.

use super::aggregate::Finished;
use crate::koji::task;
use crate::lossy::Lossy;

/// One task as the exporter reads it (`sql/tasks.sql`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i32,
    pub state: Option<i32>,
    pub channel_id: i32,
    pub host_id: Option<i32>,
    pub parent: Option<i32>,
    pub method: Option<Lossy>,
    #[sqlx(try_from = "Lossy")]
    pub arch: String,
    pub waiting: Option<bool>,
    /// Load units the task takes on its host (kojid sums them into `host.task_load`).
    pub weight: f64,
    pub create_time: f64,
    pub start_time: Option<f64>,
    pub completion_time: Option<f64>,
    /// Only for top-level tasks of methods whose request names a tag or target.
    pub request: Option<Lossy>,
}

impl TaskRow {
    pub fn finished(&self) -> Option<Finished> {
        let state = self.state.filter(|state| task::is_terminal(*state))?;
        let wait = self.start_time.map(|start| (start - self.create_time).max(0.0));
        let run = self.start_time.zip(self.completion_time).map(|(start, end)| (end - start).max(0.0));
        Some(Finished { state, host_id: self.host_id, wait, run })
    }
}
