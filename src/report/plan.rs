//! What a report reads, and `--explain`, which prints the plans of the statements it sends.
//!
//! One list drives both the report and its plans: `ReportName::reads` (in `report`) says what a
//! report reads, as [`Read`] values, `gather` runs those reads and [`explain`] asks each of them for the statements
//! it sends. A read the reports own (the id probes, `builds_completed`, `tags_direct`) sends
//! exactly the [`Statement`] values it gives `--explain` (its runner binds
//! [`Statement::params`]), so names and parameters cannot drift apart. The reads shared with
//! `/metrics` keep their own fetch functions: `collect::hosts::fetch` lists its statements in
//! `collect::hosts::statement_names`, and `history::plan` lists those of the tasks family
//! (`created_after`, `nonterminal`, `names`). tests/it/report_reads.rs records what each report
//! really sends on the wire, at every tested schema level, and compares it with `--explain`.
//!
//! Some statements depend on the data as well as on the schema: the primary-key probes and the
//! range read need tasks in the window, the session look-up a host without a check-in time of
//! its own. `--explain` finds out the way the report does (the cheap id probes and two reads
//! of the host table) and says which statements it leaves out and why.

use std::collections::HashSet;
use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, PgConnection};

use super::statement::{Param, Planned, Statement};
use super::window::Window;
use super::{builds, history, tags};
use crate::collect;
use crate::schema::SchemaFeatures;
use crate::sql;

/// One read of a report, made of one or more statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The hosts and channels now: `collect::hosts::fetch`, as `/metrics` reads them.
    HostsNow,
    /// The tasks of the window: `history::read`.
    Tasks,
    /// The builds that finished in the window: `builds::fetch`.
    Builds,
    /// The biggest tags by direct content: `tags::fetch`.
    Tags,
}

/// The statements `collect::hosts::fetch` sends, in order, with what it binds. The hosts it
/// asks the sessions table about are those without a check-in time of their own, found as
/// fetch finds them (the host table and, from Koji 1.33, its update times).
async fn hosts_now(conn: &mut PgConnection, features: &SchemaFeatures) -> Result<Vec<Planned>, sqlx::Error> {
    let mut planned = Vec::new();
    for name in collect::hosts::statement_names(features) {
        let params = match name {
            "host_session_activity" => {
                let hosts: Vec<(i32,)> = sqlx::query_as(sql::statement("hosts", "hosts")).fetch_all(&mut *conn).await?;
                let timed: HashSet<i32> = if features.has_host_update_time {
                    let times: Vec<(i32,)> =
                        sqlx::query_as(sql::statement("hosts", "host_update_times")).fetch_all(&mut *conn).await?;
                    times.into_iter().map(|(id,)| id).collect()
                } else {
                    HashSet::new()
                };
                let no_hosts = hosts.is_empty();
                let without_time: Vec<i32> =
                    hosts.into_iter().map(|(id,)| id).filter(|id| !timed.contains(id)).collect();
                if without_time.is_empty() {
                    let why = if no_hosts {
                        "there are no hosts"
                    } else {
                        "every host has a check-in time of its own (host.update_time)"
                    };
                    planned.push(Planned::NotSent { family: "hosts", name, why });
                    continue;
                }
                vec![Param::Ints(without_time)]
            }
            _ => vec![],
        };
        planned.push(Planned::Sent(Statement::new("hosts", name, params)));
    }
    Ok(planned)
}

/// The plans of the report's statements, with the parameters it would bind. Nothing of the
/// report is run but what finds those parameters: the id probes and the small host reads
/// (see the module documentation).
pub async fn explain(
    conn: &mut PgConnection,
    features: &SchemaFeatures,
    report: &str,
    reads: &[Read],
    window: &Window,
    top: usize,
) -> Result<String, sqlx::Error> {
    let mut planned = Vec::new();
    for read in reads {
        match read {
            Read::HostsNow => planned.extend(hosts_now(conn, features).await?),
            Read::Tasks => planned.extend(history::plan(conn, window).await?),
            Read::Builds => planned.push(Planned::Sent(builds::statement(window))),
            Read::Tags => planned.push(Planned::Sent(tags::statement(top))),
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- report {report}: plans of its statements with the parameters it would bind (EXPLAIN; only the cheap reads that find those parameters run)"
    );
    for step in planned {
        let statement = match step {
            Planned::Sent(statement) => statement,
            Planned::NotSent { family, name, why } => {
                let _ = writeln!(out, "\n-- not sent: {name} (sql/{family}.sql), because {why}");
                continue;
            }
        };
        let query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(format!("explain {}", statement.sql())));
        let plan = statement.bind(query).fetch_all(&mut *conn).await?;
        let _ = writeln!(out, "\n-- sql/{}.sql: {}", statement.family, statement.name);
        if !statement.params.is_empty() {
            let _ = writeln!(out, "-- {}", statement.shown_params());
        }
        for (line,) in plan {
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(out)
}
