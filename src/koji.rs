//! Koji's vocabulary: the state codes of tasks, builds and repos with the names the exporter
//! gives them, and the optional schema features it probes for.
//!
//! The codes are Koji's (`koji/__init__.py` numbers the states); the names are the lower-case
//! words Koji itself prints. This is the only place either is spelled out: collectors, the
//! exposition, the reports and the site-metric checks all take them from here. A code Koji
//! does not define is kept, as `unknown_<code>`, rather than dropped or guessed.

use serde::{Deserialize, Serialize};

/// The name of a state code in a table of names indexed by code.
fn name_of(names: &[&'static str], code: i32) -> String {
    usize::try_from(code).ok().and_then(|i| names.get(i)).map_or_else(|| format!("unknown_{code}"), |n| (*n).to_owned())
}

/// `task.state`.
pub mod task {
    pub const FREE: i32 = 0;
    pub const OPEN: i32 = 1;
    pub const CLOSED: i32 = 2;
    pub const CANCELED: i32 = 3;
    pub const ASSIGNED: i32 = 4;
    pub const FAILED: i32 = 5;

    /// Names by code.
    pub const NAMES: [&str; 6] = ["free", "open", "closed", "canceled", "assigned", "failed"];

    pub fn state_name(code: i32) -> String {
        super::name_of(&NAMES, code)
    }

    /// CLOSED, CANCELED and FAILED: the task will not change again (unless an admin forces it).
    pub fn is_terminal(code: i32) -> bool {
        matches!(code, CLOSED | CANCELED | FAILED)
    }
}

/// `build.state`.
pub mod build {
    pub const BUILDING: i32 = 0;
    pub const COMPLETE: i32 = 1;
    pub const DELETED: i32 = 2;
    pub const FAILED: i32 = 3;
    pub const CANCELED: i32 = 4;

    /// Names by code.
    pub const NAMES: [&str; 5] = ["building", "complete", "deleted", "failed", "canceled"];

    pub fn state_name(code: i32) -> String {
        super::name_of(&NAMES, code)
    }
}

/// `repo.state`.
pub mod repo {
    pub const INIT: i32 = 0;
    pub const READY: i32 = 1;
    pub const EXPIRED: i32 = 2;
    pub const DELETED: i32 = 3;
    pub const PROBLEM: i32 = 4;

    /// Names by code.
    pub const NAMES: [&str; 5] = ["init", "ready", "expired", "deleted", "problem"];

    pub fn state_name(code: i32) -> String {
        super::name_of(&NAMES, code)
    }
}

/// An optional part of Koji's schema that the exporter probes for (`sql/schema.sql`), by the
/// name `koji_exporter_schema_feature` and a site metric's `requires_feature` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// `host`, `host_config` and the channel tables: a Koji database at all.
    HostTables,
    /// `channels.enabled`, Koji 1.26.
    ChannelEnabled,
    /// `sessions.closed`, Koji 1.32.
    SessionClosed,
    /// `host.update_time`, Koji 1.33.
    HostUpdateTime,
    /// The `scheduler_*` tables, Koji 1.34.
    Scheduler,
    /// `repo_queue`, Koji 1.35.
    RepoQueue,
}

impl Feature {
    /// In the order Koji added them.
    pub const ALL: [Feature; 6] = [
        Feature::HostTables,
        Feature::ChannelEnabled,
        Feature::SessionClosed,
        Feature::HostUpdateTime,
        Feature::Scheduler,
        Feature::RepoQueue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Feature::HostTables => "host_tables",
            Feature::ChannelEnabled => "channel_enabled",
            Feature::SessionClosed => "session_closed",
            Feature::HostUpdateTime => "host_update_time",
            Feature::Scheduler => "scheduler",
            Feature::RepoQueue => "repo_queue",
        }
    }

    /// The Koji release that added the feature ("pre-1.26" for the host tables).
    pub fn since(self) -> &'static str {
        match self {
            Feature::HostTables => "pre-1.26",
            Feature::ChannelEnabled => "1.26",
            Feature::SessionClosed => "1.32",
            Feature::HostUpdateTime => "1.33",
            Feature::Scheduler => "1.34",
            Feature::RepoQueue => "1.35",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_names_and_unknown_codes_are_kept() {
        assert_eq!(task::state_name(task::ASSIGNED), "assigned");
        assert_eq!(task::state_name(task::FAILED), "failed");
        assert_eq!(task::state_name(9), "unknown_9");
        assert_eq!(build::state_name(build::CANCELED), "canceled");
        assert_eq!(repo::state_name(repo::PROBLEM), "problem");
        assert_eq!(repo::state_name(-1), "unknown_-1");
        assert!(task::is_terminal(task::CANCELED) && !task::is_terminal(task::ASSIGNED));
    }
}
