//! A site-defined metric as the family takes it, and the checks that need no database: names,
//! labels, help, the shape of the SQL.
//!
//! Every error is one line naming the metric and the fix. Collisions with the built-in metrics
//! and between site metrics are checked where both are known, in `startup`.

use std::collections::HashSet;
use std::time::Duration;

use super::lexer::{self, Token};
use super::policy;
use crate::koji::Feature;

/// Label names the exposition formats reserve.
const RESERVED_LABELS: [&str; 2] = ["le", "quantile"];
/// Suffixes the formats give meaning to; a site metric must not end with them.
const RESERVED_SUFFIXES: [&str; 5] = ["_total", "_bucket", "_sum", "_count", "_created"];

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One site metric, as the configuration declares it (its types already checked there).
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// Full metric name; a counter's without `_total`.
    pub name: String,
    pub help: String,
    pub counter: bool,
    /// Columns that become labels, in this order.
    pub labels: Vec<String>,
    /// Column holding the sample value.
    pub value: String,
    /// One SELECT (or WITH ... SELECT).
    pub sql: String,
    /// Results are reused for this long.
    pub min_interval: Duration,
    pub timeout: Duration,
    /// Without this schema feature the metric is not collected.
    pub requires_feature: Option<Feature>,
}

impl Definition {
    /// Every name the metric shows in a scrape (a counter's also with `_total`).
    pub fn exposed_names(&self) -> Vec<String> {
        if self.counter { vec![self.name.clone(), format!("{}_total", self.name)] } else { vec![self.name.clone()] }
    }
}

/// Validates one definition on its own.
pub fn validate(metric: &Definition) -> Result<(), String> {
    let name = &metric.name;
    let fail = |problem: String, fix: &str| Err(format!("custom metric `{name}`: {problem}; {fix}"));
    if !is_identifier(name) {
        return fail(
            "the name is not a Prometheus metric name".into(),
            "use letters, digits and underscores, starting with a letter (e.g. koji_site_builds_per_owner)",
        );
    }
    if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|suffix| name.ends_with(*suffix)) {
        return fail(
            format!("the name ends in {suffix}, which the exposition format reserves"),
            "drop the suffix (counters get _total added)",
        );
    }
    if metric.help.trim().is_empty() || metric.help.contains('\n') {
        return fail("help must be one non-empty line".into(), "describe the metric in one line");
    }
    let mut seen = HashSet::new();
    for label in &metric.labels {
        if !is_identifier(label) || label.starts_with("__") || RESERVED_LABELS.contains(&label.as_str()) {
            return fail(
                format!("label {label:?} is not allowed"),
                "use identifiers that do not start with __ and are not le or quantile",
            );
        }
        if !seen.insert(label) {
            return fail(format!("label {label:?} is listed twice"), "list each label column once");
        }
    }
    if metric.labels.contains(&metric.value) {
        return fail(format!("column {:?} is both a label and the value", metric.value), "pick another value column");
    }
    check_sql_text(&metric.sql).map_err(|problem| format!("custom metric `{name}`: {problem}"))?;
    Ok(())
}

/// The obvious mistakes, caught without a database: not one SELECT (or WITH ... SELECT)
/// statement, or a call of a function on the deny list. Literals, quoted names and comments are
/// read as PostgreSQL reads them, so a `;` or `--` inside a literal neither hides nor invents
/// anything. The database check ([`super::check`]) is the one that decides; this one only
/// gives the clear error early, even while the database is down.
fn check_sql_text(sql: &str) -> Result<(), String> {
    let fix = "remove other statements; the exporter never writes";
    let tokens = lexer::tokens(sql).map_err(|problem| format!("sql cannot be read ({problem}); {fix}"))?;
    let mut body = tokens.as_slice();
    while let [rest @ .., Token::Punct(';')] = body {
        body = rest;
    }
    let starts_as_query = matches!(body.first(), Some(Token::Ident(word)) if word == "select" || word == "with");
    if !starts_as_query || body.contains(&Token::Punct(';')) {
        return Err(format!("sql must be one SELECT (or WITH ... SELECT) statement; {fix}"));
    }
    if let Some(call) = lexer::calls(body).into_iter().find(|call| policy::denied(&call.name)) {
        return Err(format!(
            "sql calls {}(), which acts outside the read-only transaction; site metrics may only read",
            call.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str) -> Definition {
        Definition {
            name: name.into(),
            help: "Builds per owner".into(),
            counter: false,
            labels: vec!["owner".into()],
            value: "builds".into(),
            sql: "select 'a' as owner, 1 as builds".into(),
            min_interval: Duration::ZERO,
            timeout: Duration::from_secs(2),
            requires_feature: None,
        }
    }

    #[test]
    fn good_definitions_pass() {
        validate(&metric("koji_site_builds_per_owner")).unwrap();
        let with_cte =
            Definition { sql: "-- note\nWITH x AS (select 1) select 'a' as owner, 1 as builds;".into(), ..metric("a") };
        validate(&with_cte).unwrap();
        let literals = Definition {
            sql: "select '--;' as owner, $$ ; $$ as x, 1 as builds /* ; */ -- ;\n;;".into(),
            ..metric("a")
        };
        validate(&literals).unwrap();
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let cases: Vec<(Definition, &str)> = vec![
            (metric("9lives"), "not a Prometheus metric name"),
            (metric("koji-site"), "not a Prometheus metric name"),
            (metric("koji_site_builds_total"), "ends in _total"),
            (Definition { labels: vec!["le".into()], ..metric("a") }, "label \"le\""),
            (Definition { labels: vec!["x".into(), "x".into()], ..metric("a") }, "listed twice"),
            (Definition { labels: vec!["builds".into()], ..metric("a") }, "both a label and the value"),
            (Definition { sql: "delete from task".into(), ..metric("a") }, "one SELECT"),
            (Definition { sql: "select 1; delete from task".into(), ..metric("a") }, "one SELECT"),
            (
                Definition {
                    sql: "select 1::float8 as v, '--' as l; commit; begin read write; insert into canary values (66)"
                        .into(),
                    ..metric("a")
                },
                "one SELECT",
            ),
            (Definition { sql: "select 'it''s' as owner; x".into(), ..metric("a") }, "one SELECT"),
            (Definition { sql: "select 'open".into(), ..metric("a") }, "cannot be read"),
            (
                Definition { sql: "select pg_catalog.\"dblink_exec\"('x', 'y') as owner".into(), ..metric("a") },
                "dblink_exec(), which acts outside",
            ),
        ];
        for (definition, expected) in cases {
            let error = validate(&definition).unwrap_err();
            assert!(error.contains(expected), "{error}");
            assert!(error.starts_with(&format!("custom metric `{}`", definition.name)), "{error}");
        }
    }
}
