//! The exporter's own metrics: is the database reachable, how did each family fare, what build
//! and which Koji schema. Always present, also when the database is down.

use super::{BuildInfo, MetricFamily, bool_value};
use crate::collect::Snapshot;

pub fn families(snapshot: &Snapshot, build: &BuildInfo) -> Vec<MetricFamily> {
    let mut up = MetricFamily::gauge("koji_up", "1 when this scrape reached the Koji database, 0 when it could not");
    up.with([], bool_value(snapshot.up));

    let mut success = MetricFamily::gauge(
        "koji_exporter_collector_success",
        "1 when the family was collected in this scrape, 0 when it failed or missed the deadline",
    );
    let mut duration =
        MetricFamily::gauge("koji_exporter_collector_duration_seconds", "Time this scrape spent collecting the family");
    for outcome in &snapshot.outcomes {
        success.with([("collector", outcome.family)], bool_value(outcome.success));
        duration.with([("collector", outcome.family)], outcome.duration.as_secs_f64());
    }

    let mut build_info = MetricFamily::gauge("koji_exporter_build_info", "Version of the running koji-exporter");
    build_info.with([("version", build.version)], 1.0);

    let mut schema_info = MetricFamily::gauge(
        "koji_exporter_schema_info",
        "Koji schema level detected on the database: the newest release whose tables and columns are all present",
    );
    let mut schema_feature = MetricFamily::gauge(
        "koji_exporter_schema_feature",
        "Whether an optional Koji schema feature the exporter probes for is present",
    );
    if let Some(features) = &snapshot.schema {
        schema_info.with([("level", features.level())], 1.0);
        for (feature, present) in features.features() {
            schema_feature.with([("feature", feature)], bool_value(present));
        }
    }
    let mut in_recovery = MetricFamily::gauge(
        "koji_exporter_database_in_recovery",
        "1 when the database is a hot standby (pg_is_in_recovery())",
    );
    let mut lag = MetricFamily::gauge(
        "koji_exporter_replica_lag_seconds",
        "How far the data is behind the primary: on a hot standby now() - pg_last_xact_replay_timestamp() (which also grows while the primary is idle), 0 on a primary",
    );
    let mut data_time = MetricFamily::gauge(
        "koji_exporter_data_timestamp_seconds",
        "Unix time the data of this scrape reflects: the last replayed transaction on a standby, now() on a primary",
    );
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
    let mut conflicts = MetricFamily::counter(
        "koji_exporter_recovery_conflict_retries",
        "Queries a hot standby cancelled to replay WAL (conflict with recovery) that the exporter retried",
    );
    conflicts.with([], snapshot.recovery_conflict_retries as f64);
    vec![up, success, duration, build_info, schema_info, schema_feature, in_recovery, lag, data_time, conflicts]
}
