//! Which Koji schema the database holds, found by probing tables and columns.
//!
//! Koji writes no schema version into its database and upgrades are SQL files an admin runs by
//! hand, so the hub's code version says nothing reliable about the tables. Each feature the
//! exporter depends on is probed by itself (`sql/schema.sql`) on every new connection; the
//! collectors ask for features, never for a version number. The level is only for people: the
//! newest Koji release whose additions are all present.

use sqlx::PgConnection;

use crate::koji::Feature;
use crate::sql;

/// What the connected database offers. Field names follow the probes in `sql/schema.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct SchemaFeatures {
    pub has_host_tables: bool,
    /// `channels.enabled`, Koji 1.26.
    pub has_channel_enabled: bool,
    /// `sessions.closed`, Koji 1.32.
    pub has_session_closed: bool,
    /// `host.update_time`, Koji 1.33.
    pub has_host_update_time: bool,
    /// `scheduler_*` tables, Koji 1.34.
    pub has_scheduler: bool,
    /// `repo_queue`, Koji 1.35.
    pub has_repo_queue: bool,
    /// The server is a hot standby.
    pub in_recovery: bool,
    pub server_version_num: i32,
}

impl SchemaFeatures {
    /// Runs the probes on one connection.
    pub async fn detect(conn: &mut PgConnection) -> Result<Self, sqlx::Error> {
        sqlx::query_as(sql::statement("schema", "features")).fetch_one(conn).await
    }

    /// The newest Koji release whose schema additions are all present, as "1.35"; "pre-1.26"
    /// for older schemas and "none" when the host tables are missing (not a Koji database).
    pub fn level(&self) -> &'static str {
        Feature::ALL.iter().take_while(|feature| self.has(**feature)).last().map_or("none", |feature| feature.since())
    }

    /// Whether this is a Koji database at all (its host tables exist); the families, the
    /// background passes and readiness need that much.
    pub fn is_koji(&self) -> bool {
        self.has_host_tables
    }

    pub fn has(&self, feature: Feature) -> bool {
        match feature {
            Feature::HostTables => self.has_host_tables,
            Feature::ChannelEnabled => self.has_channel_enabled,
            Feature::SessionClosed => self.has_session_closed,
            Feature::HostUpdateTime => self.has_host_update_time,
            Feature::Scheduler => self.has_scheduler,
            Feature::RepoQueue => self.has_repo_queue,
        }
    }

    /// Each probed feature with its presence, for `koji_exporter_schema_feature`.
    pub fn features(&self) -> [(Feature, bool); 6] {
        Feature::ALL.map(|feature| (feature, self.has(feature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(present: usize) -> SchemaFeatures {
        let flags: Vec<bool> = (0..6).map(|i| i < present).collect();
        SchemaFeatures {
            has_host_tables: flags[0],
            has_channel_enabled: flags[1],
            has_session_closed: flags[2],
            has_host_update_time: flags[3],
            has_scheduler: flags[4],
            has_repo_queue: flags[5],
            in_recovery: false,
            server_version_num: 150000,
        }
    }

    #[test]
    fn level_is_the_newest_complete_release() {
        let levels: Vec<_> = (0..=6).map(|n| features(n).level()).collect();
        assert_eq!(levels, ["none", "pre-1.26", "1.26", "1.32", "1.33", "1.34", "1.35"]);
        let gap = SchemaFeatures { has_host_update_time: false, ..features(6) };
        assert_eq!(gap.level(), "1.32", "a missing 1.33 column caps the level even with newer tables");
    }
}
