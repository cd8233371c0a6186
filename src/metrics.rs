//! What every built-in metric family is: its name, its help text and its type.
//!
//! The exposition builds each family from one of these descriptions, so a name exists once and
//! [`ALL`] is the complete list: the site-metric check refuses a name taken here, and a test
//! holds README's metric tables against it. Labels and values are the exposition's business;
//! help texts name the source column where there is one.

/// A metric family's type. A counter's name is given without the `_total` the encoders add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

/// One built-in metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Description {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

impl Description {
    /// Every name a scrape can show for this family: the name itself, `_total` for a counter,
    /// the series suffixes of a histogram.
    pub fn exposed_names(&self) -> Vec<String> {
        let suffixes: &[&str] = match self.kind {
            Kind::Gauge => &[""],
            Kind::Counter => &["", "_total"],
            Kind::Histogram => &["", "_bucket", "_sum", "_count"],
        };
        suffixes.iter().map(|suffix| format!("{}{suffix}", self.name)).collect()
    }
}

/// Every name a built-in family can show in a scrape.
pub fn builtin_names() -> Vec<String> {
    ALL.iter().flat_map(Description::exposed_names).collect()
}

const fn describe(name: &'static str, kind: Kind, help: &'static str) -> Description {
    Description { name, help, kind }
}

// The exporter's own metrics (always present).

pub const UP: Description =
    describe("koji_up", Kind::Gauge, "1 when this scrape reached the Koji database, 0 when it could not");
pub const EXPORTER_COLLECTOR_SUCCESS: Description = describe(
    "koji_exporter_collector_success",
    Kind::Gauge,
    "1 when the family was collected in this scrape, 0 when it failed or missed the deadline",
);
pub const EXPORTER_COLLECTOR_DURATION_SECONDS: Description =
    describe("koji_exporter_collector_duration_seconds", Kind::Gauge, "Time this scrape spent collecting the family");
pub const EXPORTER_BUILD_INFO: Description =
    describe("koji_exporter_build_info", Kind::Gauge, "Version of the running koji-exporter");
pub const EXPORTER_SCHEMA_INFO: Description = describe(
    "koji_exporter_schema_info",
    Kind::Gauge,
    "Koji schema level detected on the database: the newest release whose tables and columns are all present",
);
pub const EXPORTER_SCHEMA_FEATURE: Description = describe(
    "koji_exporter_schema_feature",
    Kind::Gauge,
    "Whether an optional Koji schema feature the exporter probes for is present",
);
pub const EXPORTER_DATABASE_IN_RECOVERY: Description = describe(
    "koji_exporter_database_in_recovery",
    Kind::Gauge,
    "1 when the database is a hot standby (pg_is_in_recovery())",
);
pub const EXPORTER_REPLICA_LAG_SECONDS: Description = describe(
    "koji_exporter_replica_lag_seconds",
    Kind::Gauge,
    "How far the data is behind the primary: on a hot standby now() - pg_last_xact_replay_timestamp() (which also grows while the primary is idle), 0 on a primary",
);
pub const EXPORTER_DATA_TIMESTAMP_SECONDS: Description = describe(
    "koji_exporter_data_timestamp_seconds",
    Kind::Gauge,
    "Unix time the data of this scrape reflects: the last replayed transaction on a standby, now() on a primary",
);
pub const EXPORTER_RECOVERY_CONFLICT_RETRIES: Description = describe(
    "koji_exporter_recovery_conflict_retries",
    Kind::Counter,
    "Queries a hot standby cancelled to replay WAL (conflict with recovery) that the exporter retried",
);

// The hosts family: the paper's names, then the `koji_host_*` and `koji_channel_*` set.

pub const BUILDERS_UPDATE: Description = describe(
    "koji_builders_update",
    Kind::Gauge,
    "Unix time of each builder's last update (host.update_time, else its newest session), labelled with its enabled and ready state",
);
pub const HOSTS_ENABLED: Description =
    describe("koji_hosts_enabled", Kind::Gauge, "Whether the host is enabled (1) or not (0)");
pub const HOSTS_READY: Description =
    describe("koji_hosts_ready", Kind::Gauge, "Whether the host is ready (1) or not (0)");
pub const HOSTS_CAPACITY: Description = describe("koji_hosts_capacity", Kind::Gauge, "Capacity of each enabled host");
pub const TASK_LOAD: Description = describe("koji_task_load", Kind::Gauge, "Task load each host last reported");
pub const ENABLED_HOSTS_COUNT: Description =
    describe("koji_enabled_hosts_count", Kind::Gauge, "Number of enabled hosts per channel");
pub const ENABLED_HOSTS_CAPACITY_PER_CHANNEL: Description = describe(
    "koji_enabled_hosts_capacity_per_channel",
    Kind::Gauge,
    "Sum of the capacity of enabled hosts per channel",
);
pub const HOST_ENABLED: Description =
    describe("koji_host_enabled", Kind::Gauge, "Whether the host is enabled (host_config.enabled)");
pub const HOST_READY: Description =
    describe("koji_host_ready", Kind::Gauge, "Whether the host says it is ready for tasks (host.ready)");
pub const HOST_CAPACITY: Description =
    describe("koji_host_capacity", Kind::Gauge, "Task weight the host accepts (host_config.capacity)");
pub const HOST_TASK_LOAD: Description = describe(
    "koji_host_task_load",
    Kind::Gauge,
    "Sum of weights of the host's running non-waiting tasks, as the builder last reported (host.task_load)",
);
pub const HOST_LAST_UPDATE_TIMESTAMP_SECONDS: Description = describe(
    "koji_host_last_update_timestamp_seconds",
    Kind::Gauge,
    "Unix time of the host's last check-in (host.update_time on Koji 1.33+, else the newest sessions.update_time of its user)",
);
pub const HOST_OPEN_TASKS: Description = describe(
    "koji_host_open_tasks",
    Kind::Gauge,
    "OPEN tasks held by the host, waiting parents included (task.state = 1)",
);
pub const HOST_RUNNING_TASKS: Description =
    describe("koji_host_running_tasks", Kind::Gauge, "OPEN tasks of the host that are not waiting on subtasks");
pub const HOST_MAX_JOBS: Description = describe(
    "koji_host_max_jobs",
    Kind::Gauge,
    "Job limit the builder reported (scheduler_host_data maxjobs, Koji 1.34+); absent when it reports none",
);
pub const HOST_BUSY: Description = describe(
    "koji_host_busy",
    Kind::Gauge,
    "1 when the builder is full by its own rule: task load over capacity, or open tasks at its job limit",
);
pub const HOST_ARCH_INFO: Description =
    describe("koji_host_arch_info", Kind::Gauge, "One series per architecture the host builds for");
pub const HOST_CHANNEL_INFO: Description =
    describe("koji_host_channel_info", Kind::Gauge, "One series per channel the host is in");
pub const CHANNEL_ENABLED: Description =
    describe("koji_channel_enabled", Kind::Gauge, "Whether the channel is enabled (channels.enabled, Koji 1.26+)");
pub const CHANNEL_HOSTS: Description =
    describe("koji_channel_hosts", Kind::Gauge, "Hosts in the channel, enabled or not");
pub const CHANNEL_ENABLED_HOSTS: Description =
    describe("koji_channel_enabled_hosts", Kind::Gauge, "Enabled hosts in the channel");
pub const CHANNEL_READY_HOSTS: Description =
    describe("koji_channel_ready_hosts", Kind::Gauge, "Enabled hosts in the channel that are ready");
pub const CHANNEL_CAPACITY: Description =
    describe("koji_channel_capacity", Kind::Gauge, "Sum of the capacity of the channel's enabled hosts");
pub const CHANNEL_TASK_LOAD: Description =
    describe("koji_channel_task_load", Kind::Gauge, "Sum of the task load of the channel's enabled hosts");

// The tasks family.

pub const EXPORTER_TASK_HISTORY_READY: Description = describe(
    "koji_exporter_task_history_ready",
    Kind::Gauge,
    "1 once the full pass over the task history has finished and the task counters are served",
);
pub const TASKS: Description = describe("koji_tasks", Kind::Counter, "Tasks in the database, by channel and method");
pub const TASK_COMPLETIONS: Description =
    describe("koji_task_completions", Kind::Counter, "Finished tasks (CLOSED, FAILED or CANCELED) in the database");
pub const TASK_SUCCEED: Description = describe("koji_task_succeed", Kind::Counter, "CLOSED tasks in the database");
pub const TASK_ERRORS: Description = describe("koji_task_errors", Kind::Counter, "FAILED tasks in the database");
pub const TASK_CANCELLATIONS: Description =
    describe("koji_task_cancellations", Kind::Counter, "CANCELED tasks in the database");
pub const TAG_TASKS: Description = describe(
    "koji_tag_tasks",
    Kind::Counter,
    "Tasks in the database whose top-level task names the tag (a live tag, other for anything else, empty for none; inventory)",
);
pub const TAG_TASK_SUCCEED: Description =
    describe("koji_tag_task_succeed", Kind::Counter, "CLOSED tasks in the database, by the tag they name (inventory)");
pub const TAG_TASK_ERRORS: Description =
    describe("koji_tag_task_errors", Kind::Counter, "FAILED tasks in the database, by the tag they name (inventory)");
pub const TASK_WAIT_SECONDS: Description = describe(
    "koji_task_wait_seconds",
    Kind::Histogram,
    "Time finished tasks waited from creation to start (task.start_time - create_time)",
);
pub const TASK_RUN_SECONDS: Description = describe(
    "koji_task_run_seconds",
    Kind::Histogram,
    "Time finished tasks ran from start to completion, by final state",
);
pub const HOST_FINISHED_TASKS: Description = describe(
    "koji_host_finished_tasks",
    Kind::Counter,
    "Finished tasks whose task.host_id is the host, by final state (the Reports page's tasks by host)",
);
pub const EXPORTER_TASKS_TRACKED: Description = describe(
    "koji_exporter_tasks_tracked",
    Kind::Gauge,
    "Tasks the incremental engine re-reads each scrape (not finished when last seen)",
);
pub const EXPORTER_TASK_ID_GAPS: Description = describe(
    "koji_exporter_task_id_gaps",
    Kind::Gauge,
    "Task ids below the newest seen that are not visible yet (uncommitted or rolled back)",
);
pub const EXPORTER_TASK_HISTORY_BUILT_TIMESTAMP_SECONDS: Description = describe(
    "koji_exporter_task_history_built_timestamp_seconds",
    Kind::Gauge,
    "Unix time the last full pass over the task history finished (counters are exact since then)",
);
pub const WAITING_TASKS: Description =
    describe("koji_waiting_tasks", Kind::Gauge, "Tasks waiting for a builder (FREE or ASSIGNED)");
pub const IN_PROGRESS_TASKS: Description =
    describe("koji_in_progress_tasks", Kind::Gauge, "OPEN tasks, waiting parents included");
pub const TASKS_UNFINISHED: Description = describe(
    "koji_tasks_unfinished",
    Kind::Gauge,
    "Non-terminal tasks by state: free, assigned, open (using a builder) or waiting (an OPEN parent waiting on subtasks)",
);
pub const TASK_OLDEST_WAITING_CREATED_TIMESTAMP_SECONDS: Description = describe(
    "koji_task_oldest_waiting_created_timestamp_seconds",
    Kind::Gauge,
    "Creation time of the oldest task waiting for a builder (FREE or ASSIGNED), by channel and arch",
);

// The catalog family (tags, packages, builds, repos).

pub const EXPORTER_CATALOG_AVAILABLE: Description = describe(
    "koji_exporter_catalog_available",
    Kind::Gauge,
    "1 once the background recount of the catalog family has completed; 0 before, when its metrics are absent",
);
pub const EXPORTER_CATALOG_AGE_SECONDS: Description = describe(
    "koji_exporter_catalog_age_seconds",
    Kind::Gauge,
    "Age of the cached catalog metrics: seconds since the background recount that produced them began",
);
pub const EXPORTER_CATALOG_RECOUNT_DURATION_SECONDS: Description = describe(
    "koji_exporter_catalog_recount_duration_seconds",
    Kind::Gauge,
    "Time the background cycle that produced the cached catalog metrics took",
);
pub const EXPORTER_CATALOG_READS: Description = describe(
    "koji_exporter_catalog_reads",
    Kind::Counter,
    "Background cycles of the catalog by kind: full (whole tables recounted) or changes (only what changed read)",
);
pub const EXPORTER_SERIES_DROPPED: Description = describe(
    "koji_exporter_series_dropped",
    Kind::Gauge,
    "Series left out of the metric because of catalog.max_series_per_metric",
);
pub const BUILDS_FINISHED: Description = describe(
    "koji_builds_finished",
    Kind::Gauge,
    "Builds whose completion_time lies in the window, by current state; a failed or canceled build that Koji later recycled counts under its new state only",
);
pub const REPO_QUEUE_REQUESTS: Description = describe(
    "koji_repo_queue_requests",
    Kind::Gauge,
    "Repo requests waiting in the queue (active repo_queue rows, Koji 1.35+)",
);
pub const REPO_QUEUE_OLDEST_REQUEST_TIMESTAMP_SECONDS: Description = describe(
    "koji_repo_queue_oldest_request_timestamp_seconds",
    Kind::Gauge,
    "Unix time the oldest waiting repo request was made (repo_queue.create_time); absent when the queue is empty",
);
pub const PACKAGES_PER_TAG: Description = describe(
    "koji_packages_per_tag",
    Kind::Gauge,
    "Packages in the tag's effective package list: inherited, nearest entry winning, blocked ones left out (cached)",
);
pub const BUILDS_PER_TAG: Description = describe(
    "koji_builds_per_tag",
    Kind::Gauge,
    "Current taggings of COMPLETE builds into the tag and its ancestors whose package is in the tag's package list, as listTagged with inherit counts them (cached)",
);
pub const TAG_DIRECT_PACKAGES: Description = describe(
    "koji_tag_direct_packages",
    Kind::Gauge,
    "Packages listed and not blocked in the tag's own package list (tag_packages, no inheritance; cached)",
);
pub const TAG_DIRECT_BUILDS: Description = describe(
    "koji_tag_direct_builds",
    Kind::Gauge,
    "Current taggings of COMPLETE builds into the tag itself whose package is in the tag's package list (cached)",
);
pub const BUILDS_PER_PACKAGE: Description =
    describe("koji_builds_per_package", Kind::Gauge, "Build rows of the package in any state (build.pkg_id; cached)");
pub const BUILDS: Description = describe("koji_builds", Kind::Gauge, "Build rows by state (build.state; cached)");
pub const REPOS: Description =
    describe("koji_repos", Kind::Gauge, "Repo rows by state (repo.state, dist repos included; cached)");
pub const TAG_READY_REPO_TIMESTAMP_SECONDS: Description = describe(
    "koji_tag_ready_repo_timestamp_seconds",
    Kind::Gauge,
    "Unix time of the tag content (events.time of repo.create_event) of the tag's newest READY non-dist repo (cached)",
);

// What the exporter noticed about site metrics' rows.

pub const EXPORTER_CUSTOM_DUPLICATE_ROWS: Description = describe(
    "koji_exporter_custom_duplicate_rows",
    Kind::Gauge,
    "Rows of a site metric's last run whose label set repeated an earlier row's (only the first is exported)",
);
pub const EXPORTER_CUSTOM_NULL_VALUES: Description = describe(
    "koji_exporter_custom_null_values",
    Kind::Gauge,
    "Rows of a site metric's last run whose value was NULL (skipped)",
);

/// Every built-in family, grouped by family.
pub const ALL: [Description; 71] = [
    UP,
    EXPORTER_COLLECTOR_SUCCESS,
    EXPORTER_COLLECTOR_DURATION_SECONDS,
    EXPORTER_BUILD_INFO,
    EXPORTER_SCHEMA_INFO,
    EXPORTER_SCHEMA_FEATURE,
    EXPORTER_DATABASE_IN_RECOVERY,
    EXPORTER_REPLICA_LAG_SECONDS,
    EXPORTER_DATA_TIMESTAMP_SECONDS,
    EXPORTER_RECOVERY_CONFLICT_RETRIES,
    BUILDERS_UPDATE,
    HOSTS_ENABLED,
    HOSTS_READY,
    HOSTS_CAPACITY,
    TASK_LOAD,
    ENABLED_HOSTS_COUNT,
    ENABLED_HOSTS_CAPACITY_PER_CHANNEL,
    HOST_ENABLED,
    HOST_READY,
    HOST_CAPACITY,
    HOST_TASK_LOAD,
    HOST_LAST_UPDATE_TIMESTAMP_SECONDS,
    HOST_OPEN_TASKS,
    HOST_RUNNING_TASKS,
    HOST_MAX_JOBS,
    HOST_BUSY,
    HOST_ARCH_INFO,
    HOST_CHANNEL_INFO,
    CHANNEL_ENABLED,
    CHANNEL_HOSTS,
    CHANNEL_ENABLED_HOSTS,
    CHANNEL_READY_HOSTS,
    CHANNEL_CAPACITY,
    CHANNEL_TASK_LOAD,
    EXPORTER_TASK_HISTORY_READY,
    TASKS,
    TASK_COMPLETIONS,
    TASK_SUCCEED,
    TASK_ERRORS,
    TASK_CANCELLATIONS,
    TAG_TASKS,
    TAG_TASK_SUCCEED,
    TAG_TASK_ERRORS,
    TASK_WAIT_SECONDS,
    TASK_RUN_SECONDS,
    HOST_FINISHED_TASKS,
    EXPORTER_TASKS_TRACKED,
    EXPORTER_TASK_ID_GAPS,
    EXPORTER_TASK_HISTORY_BUILT_TIMESTAMP_SECONDS,
    WAITING_TASKS,
    IN_PROGRESS_TASKS,
    TASKS_UNFINISHED,
    TASK_OLDEST_WAITING_CREATED_TIMESTAMP_SECONDS,
    EXPORTER_CATALOG_AVAILABLE,
    EXPORTER_CATALOG_AGE_SECONDS,
    EXPORTER_CATALOG_RECOUNT_DURATION_SECONDS,
    EXPORTER_CATALOG_READS,
    EXPORTER_SERIES_DROPPED,
    BUILDS_FINISHED,
    REPO_QUEUE_REQUESTS,
    REPO_QUEUE_OLDEST_REQUEST_TIMESTAMP_SECONDS,
    PACKAGES_PER_TAG,
    BUILDS_PER_TAG,
    TAG_DIRECT_PACKAGES,
    TAG_DIRECT_BUILDS,
    BUILDS_PER_PACKAGE,
    BUILDS,
    REPOS,
    TAG_READY_REPO_TIMESTAMP_SECONDS,
    EXPORTER_CUSTOM_DUPLICATE_ROWS,
    EXPORTER_CUSTOM_NULL_VALUES,
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for description in ALL {
            assert!(seen.insert(description.name), "{} is described twice", description.name);
            assert!(description.name.starts_with("koji_"), "{}", description.name);
            assert!(!description.name.ends_with("_total"), "{}: the encoder adds _total", description.name);
            assert!(!description.help.is_empty() && !description.help.contains('\n'), "{}", description.name);
        }
        let names = builtin_names();
        assert!(names.contains(&"koji_tasks_total".to_owned()));
        assert!(names.contains(&"koji_task_wait_seconds_bucket".to_owned()));
        assert!(names.contains(&"koji_exporter_custom_null_values".to_owned()));
    }
}
