//! The statements a report sends, as values, and `--explain`, which prints their plans.
//!
//! One list drives both the report and its plans: [`super::ReportName::reads`] says what a
//! report reads, `gather` runs those reads and [`explain`] asks each of them for the statements
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

use sqlx::PgConnection;
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::QueryAs;
use sqlx::{AssertSqlSafe, FromRow};

use super::{Options, Read, builds, history, tags, window};
use crate::collect;
use crate::schema::SchemaFeatures;
use crate::sql;

/// A parameter a statement binds.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i32),
    BigInt(i64),
    /// Unix seconds (printed with their UTC time too).
    Float(f64),
    Ints(Vec<i32>),
    Texts(Vec<String>),
}

/// One statement of `sql/` with the parameters it binds.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub family: &'static str,
    pub name: &'static str,
    pub params: Vec<Param>,
}

impl Statement {
    pub fn new(family: &'static str, name: &'static str, params: Vec<Param>) -> Statement {
        Statement { family, name, params }
    }

    pub fn sql(&self) -> &'static str {
        sql::statement(self.family, self.name)
    }

    /// The statement as a query, its parameters bound: what the report sends.
    pub fn query_as<O>(&self) -> QueryAs<'_, Postgres, O, PgArguments>
    where
        O: for<'r> FromRow<'r, PgRow>,
    {
        self.bind(sqlx::query_as(self.sql()))
    }

    /// Binds the parameters, in order, to a query of this statement (or of EXPLAIN of it).
    fn bind<'q, O>(
        &'q self,
        mut query: QueryAs<'q, Postgres, O, PgArguments>,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::BigInt(value) => query.bind(*value),
                Param::Float(value) => query.bind(*value),
                Param::Ints(values) => query.bind(values.as_slice()),
                Param::Texts(values) => query.bind(values.as_slice()),
            };
        }
        query
    }

    /// The parameters as `--explain` prints them: `$1 = 7, $2 = {a,b}`.
    fn shown_params(&self) -> String {
        let list = |values: Vec<String>| format!("{{{}}}", values.join(","));
        self.params
            .iter()
            .enumerate()
            .map(|(index, param)| {
                let value = match param {
                    Param::Int(value) => value.to_string(),
                    Param::BigInt(value) => value.to_string(),
                    Param::Float(value) => format!("{value} ({})", window::format_iso(*value)),
                    Param::Ints(values) => list(values.iter().map(i32::to_string).collect()),
                    Param::Texts(values) => list(values.clone()),
                };
                format!("${} = {value}", index + 1)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a read does with one of its statements on this database.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Sent(Statement),
    /// A statement the read sends only on some data, with the reason it is not sent here.
    NotSent {
        family: &'static str,
        name: &'static str,
        why: &'static str,
    },
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
    options: &Options,
) -> Result<String, sqlx::Error> {
    let mut planned = Vec::new();
    for read in options.report.reads() {
        match read {
            Read::HostsNow => planned.extend(hosts_now(conn, features).await?),
            Read::Tasks => planned.extend(history::plan(conn, &options.window).await?),
            Read::Builds => planned.push(Planned::Sent(builds::statement(&options.window))),
            Read::Tags => planned.push(Planned::Sent(tags::statement(options.top))),
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- report {}: plans of its statements with the parameters it would bind (EXPLAIN; only the cheap reads that find those parameters run)",
        options.report.name()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_shown_in_order() {
        let statement = Statement::new(
            "report",
            "builds_completed",
            vec![
                Param::Int(7),
                Param::BigInt(50_000),
                Param::Float(0.0),
                Param::Ints(vec![1, 2]),
                Param::Texts(vec!["build".into(), "newRepo".into()]),
            ],
        );
        assert_eq!(
            statement.shown_params(),
            "$1 = 7, $2 = 50000, $3 = 0 (1970-01-01T00:00:00Z), $4 = {1,2}, $5 = {build,newRepo}"
        );
    }
}
