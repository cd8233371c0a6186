//! Metric names and meanings of the hosts family.
//!
//! Two sets: the names of the CERN paper (kept exactly, so existing dashboards work) and a set
//! named by Prometheus conventions (`koji_host_*`, `koji_channel_*`, base units, `_info`).

use super::{MetricFamily, bool_value};
use crate::collect::hosts::HostsSnapshot;
use crate::metrics;

pub fn families(data: &HostsSnapshot, default_max_jobs: u64) -> Vec<MetricFamily> {
    let mut builders_update = MetricFamily::new(&metrics::BUILDERS_UPDATE);
    let mut hosts_enabled = MetricFamily::new(&metrics::HOSTS_ENABLED);
    let mut hosts_ready = MetricFamily::new(&metrics::HOSTS_READY);
    let mut hosts_capacity = MetricFamily::new(&metrics::HOSTS_CAPACITY);
    let mut task_load = MetricFamily::new(&metrics::TASK_LOAD);
    let mut enabled_count = MetricFamily::new(&metrics::ENABLED_HOSTS_COUNT);
    let mut enabled_capacity = MetricFamily::new(&metrics::ENABLED_HOSTS_CAPACITY_PER_CHANNEL);

    let mut enabled = MetricFamily::new(&metrics::HOST_ENABLED);
    let mut ready = MetricFamily::new(&metrics::HOST_READY);
    let mut capacity = MetricFamily::new(&metrics::HOST_CAPACITY);
    let mut load = MetricFamily::new(&metrics::HOST_TASK_LOAD);
    let mut last_update = MetricFamily::new(&metrics::HOST_LAST_UPDATE_TIMESTAMP_SECONDS);
    let mut open_tasks = MetricFamily::new(&metrics::HOST_OPEN_TASKS);
    let mut running_tasks = MetricFamily::new(&metrics::HOST_RUNNING_TASKS);
    let mut max_jobs = MetricFamily::new(&metrics::HOST_MAX_JOBS);
    let mut busy = MetricFamily::new(&metrics::HOST_BUSY);
    let mut arch_info = MetricFamily::new(&metrics::HOST_ARCH_INFO);
    let mut channel_info = MetricFamily::new(&metrics::HOST_CHANNEL_INFO);

    for host in &data.hosts {
        let name = host.name.as_str();
        let host_label = [("host", name)];
        if let Some(time) = host.last_update {
            builders_update
                .with([("host", name), ("enabled", bool_text(host.enabled)), ("ready", bool_text(host.ready))], time);
            last_update.with(host_label, time);
        }
        hosts_enabled.with(host_label, bool_value(host.enabled));
        hosts_ready.with(host_label, bool_value(host.ready));
        task_load.with(host_label, host.task_load);
        enabled.with(host_label, bool_value(host.enabled));
        ready.with(host_label, bool_value(host.ready));
        load.with(host_label, host.task_load);
        if let Some(value) = host.capacity {
            capacity.with(host_label, value);
            if host.enabled {
                hosts_capacity.with(host_label, value);
            }
        }
        open_tasks.with(host_label, host.open_tasks as f64);
        running_tasks.with(host_label, host.running_tasks as f64);
        if let Some(limit) = host.max_jobs {
            max_jobs.with(host_label, limit as f64);
        }
        busy.with(host_label, bool_value(host.is_busy(default_max_jobs)));
        for arch in &host.arches {
            arch_info.with([("host", name), ("arch", arch)], 1.0);
        }
        for channel in &host.channels {
            channel_info.with([("host", name), ("channel", channel)], 1.0);
        }
    }

    let mut channel_enabled = MetricFamily::new(&metrics::CHANNEL_ENABLED);
    let mut channel_hosts = MetricFamily::new(&metrics::CHANNEL_HOSTS);
    let mut channel_enabled_hosts = MetricFamily::new(&metrics::CHANNEL_ENABLED_HOSTS);
    let mut channel_ready_hosts = MetricFamily::new(&metrics::CHANNEL_READY_HOSTS);
    let mut channel_capacity = MetricFamily::new(&metrics::CHANNEL_CAPACITY);
    let mut channel_load = MetricFamily::new(&metrics::CHANNEL_TASK_LOAD);
    for channel in &data.channels {
        let label = [("channel", channel.name.as_str())];
        if let Some(flag) = channel.enabled {
            channel_enabled.with(label, bool_value(flag));
        }
        enabled_count.with(label, channel.enabled_hosts as f64);
        enabled_capacity.with(label, channel.enabled_capacity);
        channel_hosts.with(label, channel.hosts as f64);
        channel_enabled_hosts.with(label, channel.enabled_hosts as f64);
        channel_ready_hosts.with(label, channel.ready_hosts as f64);
        channel_capacity.with(label, channel.enabled_capacity);
        channel_load.with(label, channel.enabled_task_load);
    }

    vec![
        builders_update,
        hosts_enabled,
        hosts_ready,
        hosts_capacity,
        task_load,
        enabled_count,
        enabled_capacity,
        enabled,
        ready,
        capacity,
        load,
        last_update,
        open_tasks,
        running_tasks,
        max_jobs,
        busy,
        arch_info,
        channel_info,
        channel_enabled,
        channel_hosts,
        channel_enabled_hosts,
        channel_ready_hosts,
        channel_capacity,
        channel_load,
    ]
}

fn bool_text(flag: bool) -> &'static str {
    if flag { "true" } else { "false" }
}
