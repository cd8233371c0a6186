//! Metric names and meanings of the hosts family.
//!
//! Two sets: the names of the CERN paper (kept exactly, so existing dashboards work) and a set
//! named by Prometheus conventions (`koji_host_*`, `koji_channel_*`, base units, `_info`).

use super::{MetricFamily, bool_value};
use crate::collect::hosts::HostsSnapshot;

pub fn families(data: &HostsSnapshot, default_max_jobs: u64) -> Vec<MetricFamily> {
    let mut builders_update = MetricFamily::gauge(
        "koji_builders_update",
        "Unix time of each builder's last update (host.update_time, else its newest session), labelled with its enabled and ready state",
    );
    let mut hosts_enabled = MetricFamily::gauge("koji_hosts_enabled", "Whether the host is enabled (1) or not (0)");
    let mut hosts_ready = MetricFamily::gauge("koji_hosts_ready", "Whether the host is ready (1) or not (0)");
    let mut hosts_capacity = MetricFamily::gauge("koji_hosts_capacity", "Capacity of each enabled host");
    let mut task_load = MetricFamily::gauge("koji_task_load", "Task load each host last reported");
    let mut enabled_count = MetricFamily::gauge("koji_enabled_hosts_count", "Number of enabled hosts per channel");
    let mut enabled_capacity = MetricFamily::gauge(
        "koji_enabled_hosts_capacity_per_channel",
        "Sum of the capacity of enabled hosts per channel",
    );

    let mut enabled = MetricFamily::gauge("koji_host_enabled", "Whether the host is enabled (host_config.enabled)");
    let mut ready = MetricFamily::gauge("koji_host_ready", "Whether the host says it is ready for tasks (host.ready)");
    let mut capacity = MetricFamily::gauge("koji_host_capacity", "Task weight the host accepts (host_config.capacity)");
    let mut load = MetricFamily::gauge(
        "koji_host_task_load",
        "Sum of weights of the host's running non-waiting tasks, as the builder last reported (host.task_load)",
    );
    let mut last_update = MetricFamily::gauge(
        "koji_host_last_update_timestamp_seconds",
        "Unix time of the host's last check-in (host.update_time on Koji 1.33+, else the newest sessions.update_time of its user)",
    );
    let mut open_tasks = MetricFamily::gauge(
        "koji_host_open_tasks",
        "OPEN tasks held by the host, waiting parents included (task.state = 1)",
    );
    let mut running_tasks =
        MetricFamily::gauge("koji_host_running_tasks", "OPEN tasks of the host that are not waiting on subtasks");
    let mut max_jobs = MetricFamily::gauge(
        "koji_host_max_jobs",
        "Job limit the builder reported (scheduler_host_data maxjobs, Koji 1.34+); absent when it reports none",
    );
    let mut busy = MetricFamily::gauge(
        "koji_host_busy",
        "1 when the builder is full by its own rule: task load over capacity, or open tasks at its job limit",
    );
    let mut arch_info = MetricFamily::gauge("koji_host_arch_info", "One series per architecture the host builds for");
    let mut channel_info = MetricFamily::gauge("koji_host_channel_info", "One series per channel the host is in");

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

    let mut channel_enabled =
        MetricFamily::gauge("koji_channel_enabled", "Whether the channel is enabled (channels.enabled, Koji 1.26+)");
    let mut channel_hosts = MetricFamily::gauge("koji_channel_hosts", "Hosts in the channel, enabled or not");
    let mut channel_enabled_hosts = MetricFamily::gauge("koji_channel_enabled_hosts", "Enabled hosts in the channel");
    let mut channel_ready_hosts =
        MetricFamily::gauge("koji_channel_ready_hosts", "Enabled hosts in the channel that are ready");
    let mut channel_capacity =
        MetricFamily::gauge("koji_channel_capacity", "Sum of the capacity of the channel's enabled hosts");
    let mut channel_load =
        MetricFamily::gauge("koji_channel_task_load", "Sum of the task load of the channel's enabled hosts");
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
