//! Checks of a site-defined metric that need no database: names, labels, type, the shape of
//! the SQL, and collisions with the built-in metrics and with each other.
//!
//! Every error is one line naming the metric and the fix. The built-in names come from the
//! exposition code itself ([`crate::exposition::builtin_names`]), so a new built-in family is
//! protected without a list to maintain here.

use std::collections::HashSet;

use super::lexer::{self, Token};
use super::policy;
use crate::config::CustomMetricConfig;

/// Label names the exposition formats reserve.
const RESERVED_LABELS: [&str; 2] = ["le", "quantile"];
/// Suffixes the formats give meaning to; a site metric must not end with them.
const RESERVED_SUFFIXES: [&str; 5] = ["_total", "_bucket", "_sum", "_count", "_created"];

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validates one definition on its own.
pub fn validate(metric: &CustomMetricConfig) -> Result<(), String> {
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
    if !matches!(metric.kind.as_str(), "gauge" | "counter") {
        return fail(format!("type {:?} is not supported", metric.kind), "use gauge or counter");
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
    if !(metric.timeout_seconds.is_finite() && metric.timeout_seconds > 0.0 && metric.timeout_seconds <= 60.0) {
        return fail(format!("timeout_seconds {} is outside (0, 60]", metric.timeout_seconds), "use a few seconds");
    }
    if !(metric.min_interval_seconds.is_finite() && (0.0..=86_400.0).contains(&metric.min_interval_seconds)) {
        return fail(
            format!("min_interval_seconds {} is outside 0 to 1 day", metric.min_interval_seconds),
            "use seconds",
        );
    }
    check_sql_text(&metric.sql).map_err(|problem| format!("custom metric `{name}`: {problem}"))?;
    if let Some(feature) = &metric.requires_feature {
        let known = ["host_tables", "channel_enabled", "session_closed", "host_update_time", "scheduler", "repo_queue"];
        if !known.contains(&feature.as_str()) {
            return fail(
                format!("requires_feature {feature:?} is unknown"),
                &format!("use one of {}", known.join(", ")),
            );
        }
    }
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

/// No two site metrics share a name, and none takes a built-in one.
pub fn check_unique(metrics: &[CustomMetricConfig]) -> Result<(), String> {
    let builtin = crate::exposition::builtin_names();
    let mut seen = HashSet::new();
    for metric in metrics {
        let exposed = if metric.kind == "counter" { format!("{}_total", metric.name) } else { metric.name.clone() };
        if builtin.iter().any(|name| *name == metric.name || *name == exposed) {
            return Err(format!(
                "custom metric `{}`: the name is taken by a built-in metric; choose another (e.g. prefix it with koji_site_)",
                metric.name
            ));
        }
        if !seen.insert(metric.name.as_str()) {
            return Err(format!("custom metric `{}`: defined twice; keep one definition", metric.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str) -> CustomMetricConfig {
        CustomMetricConfig {
            name: name.into(),
            help: "Builds per owner".into(),
            kind: "gauge".into(),
            labels: vec!["owner".into()],
            value: "builds".into(),
            sql: "select 'a' as owner, 1 as builds".into(),
            min_interval_seconds: 0.0,
            timeout_seconds: 2.0,
            requires_feature: None,
        }
    }

    #[test]
    fn good_definitions_pass() {
        validate(&metric("koji_site_builds_per_owner")).unwrap();
        let with_cte = CustomMetricConfig {
            sql: "-- note\nWITH x AS (select 1) select 'a' as owner, 1 as builds;".into(),
            ..metric("a")
        };
        validate(&with_cte).unwrap();
        let literals = CustomMetricConfig {
            sql: "select '--;' as owner, $$ ; $$ as x, 1 as builds /* ; */ -- ;\n;;".into(),
            ..metric("a")
        };
        validate(&literals).unwrap();
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let cases: Vec<(CustomMetricConfig, &str)> = vec![
            (metric("9lives"), "not a Prometheus metric name"),
            (metric("koji-site"), "not a Prometheus metric name"),
            (metric("koji_site_builds_total"), "ends in _total"),
            (CustomMetricConfig { kind: "summary".into(), ..metric("a") }, "type \"summary\""),
            (CustomMetricConfig { labels: vec!["le".into()], ..metric("a") }, "label \"le\""),
            (CustomMetricConfig { labels: vec!["x".into(), "x".into()], ..metric("a") }, "listed twice"),
            (CustomMetricConfig { labels: vec!["builds".into()], ..metric("a") }, "both a label and the value"),
            (CustomMetricConfig { sql: "delete from task".into(), ..metric("a") }, "one SELECT"),
            (CustomMetricConfig { sql: "select 1; delete from task".into(), ..metric("a") }, "one SELECT"),
            (
                CustomMetricConfig {
                    sql: "select 1::float8 as v, '--' as l; commit; begin read write; insert into canary values (66)"
                        .into(),
                    ..metric("a")
                },
                "one SELECT",
            ),
            (CustomMetricConfig { sql: "select 'it''s' as owner; x".into(), ..metric("a") }, "one SELECT"),
            (CustomMetricConfig { sql: "select 'open".into(), ..metric("a") }, "cannot be read"),
            (
                CustomMetricConfig {
                    sql: "select pg_catalog.\"dblink_exec\"('x', 'y') as owner".into(),
                    ..metric("a")
                },
                "dblink_exec(), which acts outside",
            ),
            (CustomMetricConfig { timeout_seconds: 0.0, ..metric("a") }, "timeout_seconds"),
            (CustomMetricConfig { requires_feature: Some("sidetags".into()), ..metric("a") }, "requires_feature"),
        ];
        for (definition, expected) in cases {
            let error = validate(&definition).unwrap_err();
            assert!(error.contains(expected), "{error}");
            assert!(error.starts_with(&format!("custom metric `{}`", definition.name)), "{error}");
        }
    }

    #[test]
    fn collisions_with_builtins_and_each_other_are_refused() {
        assert!(check_unique(&[metric("koji_up")]).unwrap_err().contains("built-in"));
        assert!(check_unique(&[metric("koji_host_busy")]).unwrap_err().contains("built-in"));
        let counter = CustomMetricConfig { kind: "counter".into(), ..metric("koji_tasks") };
        assert!(check_unique(&[counter]).unwrap_err().contains("built-in"), "koji_tasks_total is built in");
        assert!(check_unique(&[metric("a"), metric("a")]).unwrap_err().contains("defined twice"));
        check_unique(&[metric("a"), metric("b")]).unwrap();
    }
}
