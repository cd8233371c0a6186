//! Site-defined metrics: a read-only query per metric, run with the same safety as the built-in
//! families (read-only session, its own statement timeout within the scrape's deadline, its own
//! success and duration, failures that never break the scrape) and cached for its
//! `min_interval_seconds`.
//!
//! Definitions are validated twice: without a database at start ([`definition`]), and against
//! the database by preparing each statement and checking its result columns ([`check`]), at
//! start and in `check-config`. Names, help texts and label names live for the whole process,
//! so they are leaked once into `&'static str` and shared with the exposition code like the
//! built-in names are.

pub mod definition;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Column, Executor, PgConnection, Row, TypeInfo};

use crate::config::CustomMetricConfig;

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
    pub requires_feature: Option<String>,
    cache: Mutex<Option<(Instant, Arc<CustomResult>)>>,
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
    pub fn new(config: &CustomMetricConfig) -> Arc<Self> {
        let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
        let help = if config.min_interval_seconds > 0.0 {
            format!("{} (site metric, cached up to {} s)", config.help.trim(), config.min_interval_seconds)
        } else {
            format!("{} (site metric)", config.help.trim())
        };
        Arc::new(Self {
            name: leak(config.name.clone()),
            collector: leak(format!("custom:{}", config.name)),
            help: leak(help),
            counter: config.kind == "counter",
            labels: config.labels.iter().map(|label| leak(label.clone())).collect(),
            value: config.value.clone(),
            sql: config.sql.clone(),
            min_interval: Duration::from_secs_f64(config.min_interval_seconds),
            timeout: Duration::from_secs_f64(config.timeout_seconds),
            requires_feature: config.requires_feature.clone(),
            cache: Mutex::new(None),
        })
    }

    /// The last result, while it is younger than `min_interval_seconds`.
    pub fn cached(&self) -> Option<Arc<CustomResult>> {
        let cache = self.cache.lock().ok()?;
        let (at, result) = cache.as_ref()?;
        (at.elapsed() < self.min_interval).then(|| Arc::clone(result))
    }

    /// Runs the query in the caller's (read-only) transaction and keeps the result.
    pub async fn fetch(&self, conn: &mut PgConnection) -> Result<Arc<CustomResult>, sqlx::Error> {
        let rows = conn.fetch_all(AssertSqlSafe(self.sql.clone())).await?;
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

/// Prepares the statement on the database (parse, plan, result columns, without running it) and
/// checks that the label and value columns exist with usable types. The error names the metric.
pub async fn check(conn: &mut PgConnection, metric: &CustomMetric) -> Result<(), String> {
    let fail = |problem: String, fix: &str| format!("custom metric `{}`: {problem}; {fix}", metric.name);
    let statement =
        conn.prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(metric.sql.clone()))).await.map_err(|error| {
            let message = error.as_database_error().map_or_else(|| error.to_string(), |e| e.message().to_owned());
            fail(format!("the database rejects the SQL ({message})"), "fix the query; it is prepared, never run, here")
        })?;
    let columns: Vec<(String, String)> = sqlx::Statement::columns(&statement)
        .iter()
        .map(|column| (column.name().to_owned(), column.type_info().name().to_owned()))
        .collect();
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
/// it did not answer (nothing could be checked); metrics whose schema feature is missing are
/// skipped, as the scrapes skip them.
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
        let present = metric.requires_feature.as_deref().is_none_or(|needed| {
            features.is_some_and(|f| f.features().iter().any(|(feature, present)| *feature == needed && *present))
        });
        if present {
            check(&mut conn, metric).await?;
        }
    }
    Ok(true)
}
