//! Site-defined metrics: a read-only query per metric, run with the same safety as the built-in
//! families (read-only session, its own statement timeout within the scrape's deadline, its own
//! success and duration, failures that never break the scrape) and cached for its
//! `min_interval_seconds`.
//!
//! Definitions are validated twice: without a database at start ([`definition`]: names, one
//! SELECT, no call of a known side-effect function), and against the database ([`check`]):
//! the statement is prepared (its result columns) and planned with `EXPLAIN (VERBOSE, FORMAT
//! JSON)`, which never runs it; a plan that writes or locks rows (ModifyTable, LockRows) is
//! refused, and so is a call of a function [`policy`] refuses (side effects, volatile,
//! untrusted extension). The functions are found by reading every expression text of the plan
//! with [`lexer`] (views and inlined SQL functions are expanded there) plus the query's own
//! text, and resolved by name in `pg_proc`, across schemas and overloads, so the check errs on
//! the side of refusing; operators are resolved to their functions the same way.
//!
//! What the check cannot see: the bodies of functions (a function declared STABLE is trusted),
//! the functions behind casts and type input (written `::type`, not by name), and functions the
//! planner folded away (immutable ones). Behind it stand the read-only session and the session
//! check after the site metrics ([`verify_session`]).
//!
//! The database check is required: a metric runs only after it passed, at start or, when the
//! database did not answer then, at the first scrape that reaches the database (on that
//! scrape's connection). Until then the metric reports failed; one that fails the check never
//! runs. The query itself is sent with the extended protocol, which takes one statement only.
//!
//! Names, help texts and label names live for the whole process, so they are leaked once into
//! `&'static str` and shared with the exposition code like the built-in names are.

pub mod definition;
pub mod lexer;
pub mod policy;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Column, Connection, Executor, PgConnection, Postgres, Row, TypeInfo};

use self::definition::Definition;
use crate::koji::Feature;

/// One definition, ready to run.
#[derive(Debug)]
pub struct CustomMetric {
    pub name: &'static str,
    /// `collector` label of its success and duration: `custom:<name>`.
    pub collector: &'static str,
    pub help: &'static str,
    pub counter: bool,
    pub labels: Vec<&'static str>,
    value: String,
    sql: String,
    min_interval: Duration,
    pub timeout: Duration,
    pub requires_feature: Option<Feature>,
    cache: Mutex<Option<(Instant, Arc<CustomResult>)>>,
    checked: Mutex<Checked>,
}

/// Where a metric stands with the database check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    Pending,
    Passed,
    Refused,
}

/// Why the database check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// The definition is wrong or unsafe; one line naming the metric and the fix.
    Refused(String),
    /// The check could not finish (the database went away); it is tried again.
    Unavailable(String),
}

/// Rows of one run, as samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomResult {
    /// Label values (in `labels` order) and the value, one per distinct label set.
    pub samples: Vec<(Vec<String>, f64)>,
    /// Rows whose label set repeated an earlier row's (the first one is kept).
    pub duplicate_rows: u64,
    /// Rows whose value was NULL (skipped).
    pub null_values: u64,
}

/// What a scrape reports for one site metric.
#[derive(Debug, Clone)]
pub struct CustomOutcome {
    pub metric: Arc<CustomMetric>,
    /// None when the query failed, timed out or was not run (missing schema feature).
    pub result: Option<Arc<CustomResult>>,
}

impl CustomMetric {
    /// A metric ready to run. The checks that need no database ([`definition::validate`]) are
    /// the caller's; the database check runs before the first query whatever the caller did.
    pub fn new(definition: Definition) -> Arc<Self> {
        let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
        let help = if definition.min_interval > Duration::ZERO {
            format!(
                "{} (site metric, cached up to {} s)",
                definition.help.trim(),
                definition.min_interval.as_secs_f64()
            )
        } else {
            format!("{} (site metric)", definition.help.trim())
        };
        Arc::new(Self {
            name: leak(definition.name.clone()),
            collector: leak(format!("custom:{}", definition.name)),
            help: leak(help),
            counter: definition.counter,
            labels: definition.labels.into_iter().map(leak).collect(),
            value: definition.value,
            sql: definition.sql,
            min_interval: definition.min_interval,
            timeout: definition.timeout,
            requires_feature: definition.requires_feature,
            cache: Mutex::new(None),
            checked: Mutex::new(Checked::Pending),
        })
    }

    /// The last result, while it is younger than `min_interval_seconds`.
    pub fn cached(&self) -> Option<Arc<CustomResult>> {
        let cache = self.cache.lock().ok()?;
        let (at, result) = cache.as_ref()?;
        (at.elapsed() < self.min_interval).then(|| Arc::clone(result))
    }

    fn mark(&self, state: Checked) {
        if let Ok(mut checked) = self.checked.lock() {
            *checked = state;
        }
    }

    fn state(&self) -> Checked {
        self.checked.lock().map_or(Checked::Pending, |checked| *checked)
    }

    /// Whether the metric may run: it passed the database check before, or passes it now on
    /// `conn` (within `wait`). A refusal is logged once and is final; a check that could not
    /// finish is tried again at the next scrape.
    pub async fn ready(&self, conn: &mut PgConnection, wait: Duration) -> bool {
        match self.state() {
            Checked::Passed => return true,
            Checked::Refused => return false,
            Checked::Pending => {}
        }
        match tokio::time::timeout(wait, check(conn, self)).await {
            Ok(Ok(())) => {
                tracing::info!(metric = self.name, "site metric passed the database check; collecting it");
                true
            }
            Ok(Err(CheckError::Refused(reason))) => {
                tracing::error!("{reason}; it is not collected (fix it and restart)");
                false
            }
            Ok(Err(CheckError::Unavailable(error))) => {
                tracing::warn!(metric = self.name, %error, "site metric not checked yet; not collected until it is");
                false
            }
            Err(_) => {
                tracing::warn!(metric = self.name, "site metric check ran out of time; not collected until it passes");
                false
            }
        }
    }

    /// Runs the query in the caller's (read-only) transaction and keeps the result. Only after
    /// [`CustomMetric::ready`]; the extended protocol runs exactly one statement.
    pub async fn fetch(&self, conn: &mut PgConnection) -> Result<Arc<CustomResult>, sqlx::Error> {
        if self.state() != Checked::Passed {
            return Err(sqlx::Error::Protocol(format!("site metric {} has not passed its check", self.name)));
        }
        let rows = sqlx::query(AssertSqlSafe(self.sql.clone())).fetch_all(&mut *conn).await?;
        let result = Arc::new(self.to_samples(&rows)?);
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), Arc::clone(&result)));
        }
        if result.duplicate_rows > 0 {
            tracing::warn!(
                metric = self.name,
                rows = result.duplicate_rows,
                "site metric returned duplicate label sets; kept the first of each"
            );
        }
        Ok(result)
    }

    fn to_samples(&self, rows: &[PgRow]) -> Result<CustomResult, sqlx::Error> {
        let mut result = CustomResult::default();
        let mut seen = HashSet::new();
        for row in rows {
            let Some(value) = number(row, &self.value)? else {
                result.null_values += 1;
                continue;
            };
            let labels = self
                .labels
                .iter()
                .map(|label| text(row, label).map(Option::unwrap_or_default))
                .collect::<Result<Vec<_>, _>>()?;
            if seen.insert(labels.clone()) {
                result.samples.push((labels, value));
            } else {
                result.duplicate_rows += 1;
            }
        }
        Ok(result)
    }
}

/// A label cell as text: text, integer and boolean columns are accepted.
fn text(row: &PgRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    let type_name = row.try_column(column)?.type_info().name().to_owned();
    Ok(match type_name.as_str() {
        "INT2" => row.try_get::<Option<i16>, _>(column)?.map(|v| v.to_string()),
        "INT4" => row.try_get::<Option<i32>, _>(column)?.map(|v| v.to_string()),
        "INT8" => row.try_get::<Option<i64>, _>(column)?.map(|v| v.to_string()),
        "BOOL" => row.try_get::<Option<bool>, _>(column)?.map(|v| v.to_string()),
        _ => row.try_get::<Option<String>, _>(column)?,
    })
}

/// The value cell as a number: integer and floating-point columns are accepted.
fn number(row: &PgRow, column: &str) -> Result<Option<f64>, sqlx::Error> {
    let type_name = row.try_column(column)?.type_info().name().to_owned();
    Ok(match type_name.as_str() {
        "INT2" => row.try_get::<Option<i16>, _>(column)?.map(f64::from),
        "INT4" => row.try_get::<Option<i32>, _>(column)?.map(f64::from),
        "INT8" => row.try_get::<Option<i64>, _>(column)?.map(|v| v as f64),
        "FLOAT4" => row.try_get::<Option<f32>, _>(column)?.map(f64::from),
        _ => row.try_get::<Option<f64>, _>(column)?,
    })
}

const LABEL_TYPES: [&str; 9] = ["TEXT", "VARCHAR", "NAME", "BPCHAR", "CHAR", "INT2", "INT4", "INT8", "BOOL"];
const VALUE_TYPES: [&str; 5] = ["INT2", "INT4", "INT8", "FLOAT4", "FLOAT8"];

/// Prepares and plans the statement on the database (never running it): the label and value
/// columns must exist with usable types, the plan must neither write nor lock, and every
/// function it calls must pass [`policy`]. Marks the metric passed or refused.
pub async fn check(conn: &mut PgConnection, metric: &CustomMetric) -> Result<(), CheckError> {
    let result = check_on(conn, metric).await;
    match &result {
        Ok(()) => metric.mark(Checked::Passed),
        Err(CheckError::Refused(_)) => metric.mark(Checked::Refused),
        Err(CheckError::Unavailable(_)) => {}
    }
    result
}

/// A database error is the SQL's fault; anything else (I/O, a closed pool) is the database's.
fn classify(error: sqlx::Error, refused: impl FnOnce(String) -> String) -> CheckError {
    match error.as_database_error() {
        Some(database) => CheckError::Refused(refused(database.message().to_owned())),
        None => CheckError::Unavailable(crate::db::error_text(&error)),
    }
}

async fn check_on(conn: &mut PgConnection, metric: &CustomMetric) -> Result<(), CheckError> {
    let fail = |problem: String, fix: &str| format!("custom metric `{}`: {problem}; {fix}", metric.name);
    let refuse = |problem: String, fix: &str| CheckError::Refused(fail(problem, fix));
    let mut tx =
        conn.begin_with("begin read only").await.map_err(|e| CheckError::Unavailable(crate::db::error_text(&e)))?;
    let statement =
        tx.prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(metric.sql.clone()))).await.map_err(|error| {
            classify(error, |message| {
                fail(
                    format!("the database rejects the SQL ({message})"),
                    "fix the query; it is prepared, never run, here",
                )
            })
        })?;
    let columns: Vec<(String, String)> = sqlx::Statement::columns(&statement)
        .iter()
        .map(|column| (column.name().to_owned(), column.type_info().name().to_owned()))
        .collect();
    check_columns(metric, &columns).map_err(CheckError::Refused)?;

    // The site's own statement behind EXPLAIN (planned, not run), hence not in sql/.
    let plan: sqlx::types::JsonValue =
        sqlx::query_scalar(AssertSqlSafe(format!("explain (verbose, format json) {}", metric.sql)))
            .persistent(false)
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| {
                classify(error, |message| {
                    fail(format!("the database cannot plan the SQL ({message})"), "fix the query")
                })
            })?;
    let mut nodes = Vec::new();
    let mut texts = vec![metric.sql.clone()];
    walk(&plan, &mut nodes, &mut texts);
    if let Some(node) = nodes.iter().find(|node| matches!(node.as_str(), "ModifyTable" | "LockRows")) {
        let what = if node == "LockRows" {
            "locks rows (FOR UPDATE/SHARE)"
        } else {
            "writes (INSERT, UPDATE, DELETE or MERGE)"
        };
        return Err(refuse(format!("the query {what}"), "site metrics may only read"));
    }
    let mut calls = Vec::new();
    let mut operators = Vec::new();
    for text in &texts {
        // Plan texts are PostgreSQL's own deparsed SQL; one that cannot be read is skipped
        // (the query's own text was read at start).
        if let Ok(tokens) = lexer::tokens(text) {
            calls.extend(lexer::calls(&tokens));
            operators.extend(lexer::operators(&tokens));
        }
    }
    calls.sort();
    calls.dedup();
    operators.sort();
    operators.dedup();
    let names: Vec<String> = calls.iter().map(|call| call.name.clone()).collect();
    let schemas: Vec<String> = calls.iter().map(|call| call.schema.clone().unwrap_or_default()).collect();
    let facts: Vec<policy::FunctionFacts> = sqlx::query_as(crate::sql::statement("custom", "function_facts"))
        .bind(&names)
        .bind(&schemas)
        .bind(&operators)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| CheckError::Unavailable(crate::db::error_text(&e)))?;
    let _ = tx.rollback().await;
    if let Some(reason) = facts.iter().find_map(policy::refusal) {
        return Err(refuse(reason, "site metrics may only read; see README, \"Site-defined metrics\""));
    }
    Ok(())
}

/// Collects the node types and every string of an EXPLAIN (FORMAT JSON) document.
fn walk(value: &serde_json::Value, nodes: &mut Vec<String>, texts: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(node)) = map.get("Node Type") {
                nodes.push(node.clone());
            }
            map.values().for_each(|value| walk(value, nodes, texts));
        }
        serde_json::Value::Array(values) => values.iter().for_each(|value| walk(value, nodes, texts)),
        serde_json::Value::String(text) => texts.push(text.clone()),
        _ => {}
    }
}

/// The label and value columns exist with usable types.
fn check_columns(metric: &CustomMetric, columns: &[(String, String)]) -> Result<(), String> {
    let fail = |problem: String, fix: &str| format!("custom metric `{}`: {problem}; {fix}", metric.name);
    let find = |name: &str| columns.iter().find(|(column, _)| column == name).map(|(_, kind)| kind.as_str());
    for label in &metric.labels {
        match find(label) {
            None => {
                return Err(fail(
                    format!("label column {label:?} is not in the result"),
                    "name it with AS in the SELECT",
                ));
            }
            Some(kind) if !LABEL_TYPES.contains(&kind) => {
                return Err(fail(format!("label column {label:?} has type {kind}"), "cast it to text (::text)"));
            }
            Some(_) => {}
        }
    }
    match find(&metric.value) {
        None => {
            Err(fail(format!("value column {:?} is not in the result", metric.value), "name it with AS in the SELECT"))
        }
        Some(kind) if !VALUE_TYPES.contains(&kind) => {
            Err(fail(format!("value column {:?} has type {kind}", metric.value), "cast it to a number (::float8)"))
        }
        Some(_) => Ok(()),
    }
}

/// Checks every site metric against the database, if it answers within `wait`. Ok(false) when
/// it did not answer (nothing could be checked: the metrics wait for the check at the first
/// scrape that reaches the database); metrics whose schema feature is missing are left for the
/// scrapes too, which skip them while the feature is absent.
pub async fn check_all(
    db: &crate::db::Database,
    metrics: &[Arc<CustomMetric>],
    wait: Duration,
) -> Result<bool, String> {
    if metrics.is_empty() {
        return Ok(true);
    }
    let Ok(Ok(mut conn)) = tokio::time::timeout(wait, db.pool.acquire()).await else { return Ok(false) };
    let features = db.features();
    for metric in metrics {
        let present = metric.requires_feature.is_none_or(|needed| features.is_some_and(|f| f.has(needed)));
        if present {
            match check(&mut conn, metric).await {
                Ok(()) => {}
                Err(CheckError::Refused(error)) => return Err(error),
                Err(CheckError::Unavailable(_)) => return Ok(false),
            }
        }
    }
    Ok(true)
}

/// After the site metrics ran on `conn`: unless the session is as the pool made it (no setting
/// changed for the session, no advisory lock held; `sql/custom.sql`, `session_intact`), the
/// connection is closed instead of going back to the pool. DISCARD ALL would also drop the
/// driver's prepared statements, so the session is checked rather than reset.
pub async fn verify_session(conn: &mut Option<PoolConnection<Postgres>>, wait: Duration) {
    let Some(connection) = conn.as_mut() else { return };
    let intact = tokio::time::timeout(
        wait,
        sqlx::query_scalar::<_, bool>(crate::sql::statement("custom", "session_intact")).fetch_one(&mut **connection),
    )
    .await;
    if !matches!(intact, Ok(Ok(true))) {
        tracing::warn!(
            "a site metric left the session changed (a setting or an advisory lock); closing the connection"
        );
        if let Some(mut changed) = conn.take() {
            changed.close_on_drop();
        }
    }
}

/// What the role may do, as a warning to print, if it could write; None when it only reads or
/// the database does not answer within `wait`.
pub async fn role_warning(db: &crate::db::Database, wait: Duration) -> Option<String> {
    let row: (String, bool, Option<String>, i64, Option<String>) = tokio::time::timeout(
        wait,
        sqlx::query_as(crate::sql::statement("custom", "role_privileges")).fetch_one(&db.pool),
    )
    .await
    .ok()?
    .ok()?;
    let (role, superuser, schema, writable, examples) = row;
    let power = if superuser {
        "is a superuser".to_owned()
    } else if writable > 0 {
        format!(
            "may write (INSERT, UPDATE, DELETE or TRUNCATE) {writable} tables of schema {} ({}, ...)",
            schema.unwrap_or_default(),
            examples.unwrap_or_default()
        )
    } else {
        return None;
    };
    Some(format!(
        "the database role {role} {power}; the sessions are read-only, but give the exporter a role with SELECT on Koji's tables only (and pg_monitor for standby metrics), as README's \"A read-only database role\" shows"
    ))
}
