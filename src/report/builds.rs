//! `report builds`: builds that finished in the window, by final state, build target and owner.
//!
//! The window is on `build.completion_time` (the build_completion index), as the Reports page's
//! "builds by status" has it. Unlike that page, builds without a task (imports, content
//! generators) are counted too, under the target `(no task)`: they are builds a DBA sees in the
//! table. The target is read from the build's task request as the tasks family reads it
//! (`collect::tasks::request`); a task whose method names no target gives `(no target)`.
//! Scratch builds have no build row and do not appear.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use super::render::{Section, Value, column};
use super::statement::{Param, Statement};
use super::window::Window;
use crate::collect::tasks::request::{self, Reference};
use crate::koji::build::{CANCELED, COMPLETE, FAILED, state_name};
use crate::lossy::Lossy;

/// One finished build, as `sql/report.sql` returns it (text decoded with [`Lossy`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildRow {
    pub id: i32,
    pub state: i32,
    #[sqlx(try_from = "Lossy")]
    pub owner: String,
    pub task_id: Option<i32>,
    pub method: Option<Lossy>,
    pub request: Option<Lossy>,
}

/// The statement [`fetch`] sends.
pub fn statement(window: &Window) -> Statement {
    Statement::new("report", "builds_completed", vec![Param::Float(window.since), Param::Float(window.until)])
}

pub async fn fetch(conn: &mut PgConnection, window: &Window) -> Result<Vec<BuildRow>, sqlx::Error> {
    statement(window).query_as().fetch_all(conn).await
}

/// Builds of one target or owner, by state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildCounts {
    pub name: String,
    pub total: u64,
    pub complete: u64,
    pub failed: u64,
    pub canceled: u64,
    /// DELETED and codes Koji does not define.
    pub other: u64,
}

impl BuildCounts {
    fn add(&mut self, state: i32) {
        self.total += 1;
        match state {
            COMPLETE => self.complete += 1,
            FAILED => self.failed += 1,
            CANCELED => self.canceled += 1,
            _ => self.other += 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildsReport {
    /// Every state that has builds, plus complete, failed and canceled always.
    pub by_state: Vec<(String, u64)>,
    pub by_target: Vec<BuildCounts>,
    pub by_owner: Vec<BuildCounts>,
    pub more_targets: usize,
    pub more_owners: usize,
}

pub fn target_of(row: &BuildRow) -> String {
    if row.task_id.is_none() {
        return "(no task)".to_owned();
    }
    match row.method.as_deref().zip(row.request.as_deref()).and_then(|(m, r)| request::reference(m, r)) {
        Some(Reference::TargetName(target)) => target,
        _ => "(no target)".to_owned(),
    }
}

fn ranked(groups: BTreeMap<String, BuildCounts>, top: usize) -> (Vec<BuildCounts>, usize) {
    let mut list: Vec<BuildCounts> = groups.into_values().collect();
    list.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    let more = list.len().saturating_sub(top);
    list.truncate(top);
    (list, more)
}

pub fn compute(rows: &[BuildRow], top: usize) -> BuildsReport {
    let mut states: BTreeMap<i32, u64> = [(COMPLETE, 0), (FAILED, 0), (CANCELED, 0)].into_iter().collect();
    let mut targets: BTreeMap<String, BuildCounts> = BTreeMap::new();
    let mut owners: BTreeMap<String, BuildCounts> = BTreeMap::new();
    for row in rows {
        *states.entry(row.state).or_default() += 1;
        let target = target_of(row);
        targets
            .entry(target.clone())
            .or_insert_with(|| BuildCounts { name: target, ..BuildCounts::default() })
            .add(row.state);
        owners
            .entry(row.owner.clone())
            .or_insert_with(|| BuildCounts { name: row.owner.clone(), ..BuildCounts::default() })
            .add(row.state);
    }
    let (by_target, more_targets) = ranked(targets, top);
    let (by_owner, more_owners) = ranked(owners, top);
    BuildsReport {
        by_state: states.into_iter().map(|(state, count)| (state_name(state), count)).collect(),
        by_target,
        by_owner,
        more_targets,
        more_owners,
    }
}

fn counts_section(name: &'static str, title: &str, key: &'static str, rows: &[BuildCounts], more: usize) -> Section {
    let notes = if more > 0 {
        vec![format!("{} more not shown (--top)", super::render::thousands(more as i64))]
    } else {
        vec![]
    };
    Section {
        name,
        timeless: false,
        title: title.to_owned(),
        columns: vec![
            column(key, key),
            column("builds", "builds"),
            column("complete", "complete"),
            column("failed", "failed"),
            column("canceled", "canceled"),
            column("other", "other"),
            column("failed_percent", "failed %"),
        ],
        rows: rows
            .iter()
            .map(|row| {
                vec![
                    Value::Text(row.name.clone()),
                    Value::Int(row.total as i64),
                    Value::Int(row.complete as i64),
                    Value::Int(row.failed as i64),
                    Value::Int(row.canceled as i64),
                    Value::Int(row.other as i64),
                    Value::Percent(row.failed as f64 / row.total as f64 * 100.0),
                ]
            })
            .collect(),
        notes,
    }
}

pub fn sections(report: &BuildsReport) -> Vec<Section> {
    let total: u64 = report.by_state.iter().map(|(_, count)| count).sum();
    let by_state = Section {
        name: "by_state",
        timeless: false,
        title: "Builds finished in the window, by state".to_owned(),
        columns: vec![column("state", "state"), column("builds", "builds"), column("share_percent", "share")],
        rows: report
            .by_state
            .iter()
            .map(|(state, count)| {
                let share = if total > 0 { *count as f64 / total as f64 * 100.0 } else { 0.0 };
                vec![Value::Text(state.clone()), Value::Int(*count as i64), Value::Percent(share)]
            })
            .collect(),
        notes: vec![
            "window on build.completion_time; imports and content-generator builds included; scratch builds have no build row"
                .to_owned(),
        ],
    };
    vec![
        by_state,
        counts_section("by_target", "Builds by target", "target", &report.by_target, report.more_targets),
        counts_section("by_owner", "Builds by owner", "owner", &report.by_owner, report.more_owners),
    ]
}
