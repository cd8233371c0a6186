//! The exporter's own metrics: is the database reachable, how did each family fare, what build
//! and which Koji schema. Always present, also when the database is down.

use super::{BuildInfo, MetricFamily, bool_value};
use crate::collect::Snapshot;
use crate::metrics;

pub fn families(snapshot: &Snapshot, build: &BuildInfo) -> Vec<MetricFamily> {
    let mut up = MetricFamily::new(&metrics::UP);
    up.with([], bool_value(snapshot.up));

    let mut success = MetricFamily::new(&metrics::EXPORTER_COLLECTOR_SUCCESS);
    let mut duration = MetricFamily::new(&metrics::EXPORTER_COLLECTOR_DURATION_SECONDS);
    for outcome in &snapshot.outcomes {
        success.with([("collector", outcome.family)], bool_value(outcome.success));
        duration.with([("collector", outcome.family)], outcome.duration.as_secs_f64());
    }

    let mut build_info = MetricFamily::new(&metrics::EXPORTER_BUILD_INFO);
    build_info.with([("version", build.version)], 1.0);

    let mut schema_info = MetricFamily::new(&metrics::EXPORTER_SCHEMA_INFO);
    let mut schema_feature = MetricFamily::new(&metrics::EXPORTER_SCHEMA_FEATURE);
    if let Some(features) = &snapshot.schema {
        schema_info.with([("level", features.level())], 1.0);
        for (feature, present) in features.features() {
            schema_feature.with([("feature", feature.name())], bool_value(present));
        }
    }
    let mut in_recovery = MetricFamily::new(&metrics::EXPORTER_DATABASE_IN_RECOVERY);
    let mut lag = MetricFamily::new(&metrics::EXPORTER_REPLICA_LAG_SECONDS);
    let mut data_time = MetricFamily::new(&metrics::EXPORTER_DATA_TIMESTAMP_SECONDS);
    if let Some(server) = &snapshot.server {
        in_recovery.with([], bool_value(server.in_recovery));
        if let Some(value) = server.replay_lag() {
            lag.with([], value);
        }
        let as_of = if server.in_recovery { server.replayed_at } else { Some(server.server_now) };
        if let Some(time) = as_of {
            data_time.with([], time);
        }
    }
    let mut conflicts = MetricFamily::new(&metrics::EXPORTER_RECOVERY_CONFLICT_RETRIES);
    conflicts.with([], snapshot.recovery_conflict_retries as f64);
    vec![up, success, duration, build_info, schema_info, schema_feature, in_recovery, lag, data_time, conflicts]
}
