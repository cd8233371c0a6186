//! From a loaded [`Config`] to running parts: the only module that reads the configuration on
//! behalf of the others.
//!
//! Each family takes a settings struct of its own (`collect::hosts::Settings`, ...) and never
//! sees `Config`; this module fills them in, builds the site metrics and checks them against
//! the built-in metric descriptions and each other, and assembles the state the HTTP handlers
//! share. `main.rs` and the integration tests build the exporter through the same functions,
//! so what the tests run is what the binary runs.

use std::collections::HashSet;
use std::sync::Arc;

use crate::collect::custom::CustomMetric;
use crate::collect::custom::definition::{self, Definition};
use crate::collect::{CollectSettings, Collector, catalog, hosts, tasks};
use crate::config::{Config, CustomKind, CustomMetricConfig, seconds};
use crate::db::Database;
use crate::exposition::BuildInfo;
use crate::http::AppState;
use crate::metrics;
use crate::names::NameFilter;
use crate::web::Limits;

/// Every family's settings, site metrics included. Fails with one line naming the site metric
/// and the fix when a definition is wrong or takes a name already in use.
pub fn collect_settings(config: &Config) -> Result<CollectSettings, String> {
    let tasks = &config.tasks;
    let catalog = &config.catalog;
    Ok(CollectSettings {
        hosts: hosts::Settings {
            timeout: seconds(config.hosts.timeout_seconds),
            default_max_jobs: config.hosts.default_max_jobs,
        },
        tasks: tasks::TasksSettings {
            tag_label: tasks.tag_label,
            methods: tasks.methods.iter().cloned().collect(),
            reconcile_interval: seconds(tasks.reconcile_interval_seconds),
            gap_grace: seconds(tasks.gap_grace_seconds),
            tags: NameFilter::new(&tasks.tag_include, &tasks.tag_exclude),
            timeout: seconds(tasks.timeout_seconds),
        },
        catalog: catalog.enabled.then(|| catalog::Settings {
            timeout: seconds(catalog.timeout_seconds),
            refresh_interval: seconds(catalog.refresh_interval_seconds),
            full_recount_interval: seconds(catalog.full_recount_interval_seconds),
            recount_timeout: seconds(catalog.recount_timeout_seconds),
            tags: NameFilter::new(&catalog.tag_include, &catalog.tag_exclude),
            packages: NameFilter::new(&catalog.package_include, &catalog.package_exclude),
            max_series: catalog.max_series_per_metric as usize,
        }),
        custom: site_metrics(&config.custom)?,
    })
}

/// The site metrics, each checked on its own and then for a name that a built-in family or an
/// earlier site metric already shows.
fn site_metrics(configs: &[CustomMetricConfig]) -> Result<Vec<Arc<CustomMetric>>, String> {
    let mut taken: HashSet<String> = metrics::builtin_names().into_iter().collect();
    let mut built = Vec::with_capacity(configs.len());
    for config in configs {
        let definition = site_metric(config);
        let exposed = definition.exposed_names();
        if let Some(name) = exposed.iter().find(|name| taken.contains(*name)) {
            let owner =
                if metrics::builtin_names().contains(name) { "a built-in metric" } else { "another site metric" };
            return Err(format!(
                "custom metric `{}`: the name {name} is taken by {owner}; choose another (e.g. prefix it with koji_site_)",
                config.name
            ));
        }
        definition::validate(&definition)?;
        built.push(CustomMetric::new(definition));
        taken.extend(exposed);
    }
    Ok(built)
}

/// A site metric's definition as its family takes it, not yet checked.
pub fn site_metric(config: &CustomMetricConfig) -> Definition {
    Definition {
        name: config.name.clone(),
        help: config.help.clone(),
        counter: config.kind == CustomKind::Counter,
        labels: config.labels.clone(),
        value: config.value.clone(),
        sql: config.sql.clone(),
        min_interval: std::time::Duration::from_secs_f64(config.min_interval_seconds),
        timeout: std::time::Duration::from_secs_f64(config.timeout_seconds),
        requires_feature: config.requires_feature,
    }
}

/// What the HTTP handlers share.
pub fn app_state(config: &Config, collector: Arc<Collector>) -> AppState {
    AppState {
        collector,
        telemetry_path: config.web.telemetry_path.clone(),
        inventory_path: config.web.inventory_path.clone(),
        max_requests: config.web.max_requests,
        scrape_timeout: seconds(config.web.scrape_timeout_seconds),
        build: BuildInfo::current(),
        rendered: Default::default(),
    }
}

/// The collector and the state around it, on a lazy pool; nothing is started.
pub fn build(config: &Config, settings: CollectSettings) -> Result<AppState, String> {
    let database = Database::connect_lazy(&config.database).map_err(|error| error.to_string())?;
    Ok(app_state(config, Arc::new(Collector::new(database, settings))))
}

/// The listener's limits.
pub fn limits(config: &Config) -> Limits {
    Limits {
        header_read_timeout: seconds(config.web.header_read_timeout_seconds),
        write_timeout: seconds(config.web.write_timeout_seconds),
        max_connections: config.web.max_connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, kind: CustomKind) -> CustomMetricConfig {
        CustomMetricConfig {
            name: name.into(),
            help: "Builds per owner".into(),
            kind,
            labels: vec!["owner".into()],
            value: "builds".into(),
            sql: "select 'a' as owner, 1 as builds".into(),
            min_interval_seconds: 0.0,
            timeout_seconds: 2.0,
            requires_feature: None,
        }
    }

    fn refusal(metrics: &[CustomMetricConfig]) -> String {
        site_metrics(metrics).map(|built| format!("accepted {} metrics", built.len())).unwrap_or_else(|error| error)
    }

    #[test]
    fn every_built_in_and_self_metric_name_is_refused() {
        for description in metrics::ALL {
            for name in description.exposed_names() {
                let error = refusal(&[metric(&name, CustomKind::Gauge)]);
                assert!(error.contains("taken by a built-in metric") || error.contains("reserves"), "{name}: {error}");
            }
        }
        let error = refusal(&[metric("koji_exporter_custom_null_values", CustomKind::Gauge)]);
        assert!(error.contains("taken by a built-in metric"), "{error}");
        let error = refusal(&[metric("koji_tasks", CustomKind::Counter)]);
        assert!(error.contains("koji_tasks"), "a counter koji_tasks would show koji_tasks_total: {error}");
    }

    #[test]
    fn site_metrics_may_not_share_a_name() {
        let twice = [metric("koji_site_a", CustomKind::Gauge), metric("koji_site_a", CustomKind::Gauge)];
        assert!(refusal(&twice).contains("taken by another site metric"));
        let ok = [metric("koji_site_a", CustomKind::Gauge), metric("koji_site_b", CustomKind::Counter)];
        assert_eq!(refusal(&ok), "accepted 2 metrics");
    }
}
