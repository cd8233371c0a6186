//! The hosts family against `hosts_edge_cases.sql`, on every tested schema level. Every
//! expected number below is worked out by hand from the fixture's comments and rows.

use crate::support::{Level, TESTED, TestDb, scrape, state_for};

fn host(name: &str) -> String {
    format!("{{host=\"{name}\"}}")
}

fn channel(name: &str) -> String {
    format!("{{channel=\"{name}\"}}")
}

#[tokio::test]
async fn host_and_channel_metrics_match_the_fixture_on_every_schema() {
    for level in TESTED {
        let db = TestDb::with_fixture(level, "hosts_edge_cases").await;
        let metrics = scrape(&state_for(&db.config())).await;
        let at = |series: String| metrics.value(&series);
        let ctx = level.name();

        assert_eq!(at("koji_up".into()), 1.0, "{ctx}");
        assert_eq!(at("koji_exporter_collector_success{collector=\"hosts\"}".into()), 1.0, "{ctx}");
        assert_eq!(at(format!("koji_exporter_schema_info{{level=\"{ctx}\"}}")), 1.0);

        // Enabled and ready: builder-d is disabled, builder-f has no current config row.
        for (name, enabled, ready) in [
            ("builder-a", 1.0, 1.0),
            ("builder-b", 1.0, 0.0),
            ("builder-c", 1.0, 0.0),
            ("builder-d", 0.0, 1.0),
            ("builder-e", 1.0, 0.0),
            ("builder-f", 0.0, 0.0),
        ] {
            assert_eq!(at(format!("koji_hosts_enabled{}", host(name))), enabled, "{ctx} {name}");
            assert_eq!(at(format!("koji_host_enabled{}", host(name))), enabled, "{ctx} {name}");
            assert_eq!(at(format!("koji_hosts_ready{}", host(name))), ready, "{ctx} {name}");
            assert_eq!(at(format!("koji_host_ready{}", host(name))), ready, "{ctx} {name}");
        }

        // Capacity: every host with a current config; the paper's metric only for enabled ones.
        let capacity = metrics.family("koji_host_capacity");
        assert_eq!(capacity.len(), 5, "{ctx}: builder-f has no capacity {capacity:?}");
        assert_eq!(at(format!("koji_host_capacity{}", host("builder-d"))), 3.0);
        let paper_capacity = metrics.family("koji_hosts_capacity");
        let expected: Vec<(String, f64)> =
            [("builder-a", 4.0), ("builder-b", 2.0), ("builder-c", 8.0), ("builder-e", 2.0)]
                .iter()
                .map(|(name, value)| (format!("koji_hosts_capacity{}", host(name)), *value))
                .collect();
        assert_eq!(paper_capacity.into_iter().collect::<Vec<_>>(), expected, "{ctx}");

        for (name, load) in [("builder-a", 1.5), ("builder-b", 2.5), ("builder-c", 0.0), ("builder-e", 0.5)] {
            assert_eq!(at(format!("koji_task_load{}", host(name))), load, "{ctx} {name}");
            assert_eq!(at(format!("koji_host_task_load{}", host(name))), load, "{ctx} {name}");
        }

        // OPEN tasks: builder-a holds 10 (waiting parent) and 11; builder-e holds 12, 13
        // (waiting) and 14. FREE, ASSIGNED and finished tasks do not count.
        for (name, open, running) in
            [("builder-a", 2.0, 1.0), ("builder-b", 0.0, 0.0), ("builder-c", 0.0, 0.0), ("builder-e", 3.0, 2.0)]
        {
            assert_eq!(at(format!("koji_host_open_tasks{}", host(name))), open, "{ctx} {name}");
            assert_eq!(at(format!("koji_host_running_tasks{}", host(name))), running, "{ctx} {name}");
        }

        // Busy: builder-b is over capacity; builder-e reaches its job limit of 3 only where the
        // schema carries scheduler data (1.34+), otherwise kojid's default of 10 applies.
        let scheduler = level >= Level::V1_34;
        for (name, busy) in [
            ("builder-a", 0.0),
            ("builder-b", 1.0),
            ("builder-c", 0.0),
            ("builder-d", 0.0),
            ("builder-e", if scheduler { 1.0 } else { 0.0 }),
        ] {
            assert_eq!(at(format!("koji_host_busy{}", host(name))), busy, "{ctx} {name}");
        }
        let max_jobs = metrics.family("koji_host_max_jobs");
        if scheduler {
            let expected = [
                (format!("koji_host_max_jobs{}", host("builder-a")), 10.0),
                (format!("koji_host_max_jobs{}", host("builder-e")), 3.0),
            ];
            assert_eq!(
                max_jobs.into_iter().collect::<Vec<_>>(),
                expected,
                "{ctx}: garbage and missing limits are left out"
            );
        } else {
            assert!(max_jobs.is_empty(), "{ctx}: {max_jobs:?}");
        }

        // Last update: host.update_time where the schema has it and it is set, else the newest
        // session of the host's user; builder-e and builder-f were never seen.
        let newer_schema = level >= Level::V1_33;
        let expected_updates = [
            ("builder-a", if newer_schema { 1_793_534_400.0 } else { 1_793_534_395.0 }),
            ("builder-b", if newer_schema { 1_793_534_380.0 } else { 1_793_534_375.0 }),
            ("builder-c", 1_793_534_300.0),
            ("builder-d", if newer_schema { 1_793_534_370.0 } else { 1_793_530_800.0 }),
        ];
        let updates = metrics.family("koji_host_last_update_timestamp_seconds");
        assert_eq!(updates.len(), 4, "{ctx}: {updates:?}");
        for (name, time) in expected_updates {
            assert_eq!(at(format!("koji_host_last_update_timestamp_seconds{}", host(name))), time, "{ctx} {name}");
        }
        assert_eq!(
            at(r#"koji_builders_update{host="builder-d",enabled="false",ready="true"}"#.into()),
            expected_updates[3].1,
            "{ctx}"
        );
        assert_eq!(metrics.family("koji_builders_update").len(), 4, "{ctx}");

        // Channels: a host in several channels counts in each; the revoked membership of
        // builder-b in image does not; sums are over enabled hosts; empty channels report 0.
        for (name, hosts, enabled, ready, capacity, load) in [
            ("default", 3.0, 3.0, 1.0, 14.0, 4.0),
            ("createrepo", 2.0, 2.0, 1.0, 6.0, 2.0),
            ("image", 2.0, 1.0, 0.0, 8.0, 0.0),
            ("retired", 0.0, 0.0, 0.0, 0.0, 0.0),
        ] {
            let label = channel(name);
            assert_eq!(at(format!("koji_channel_hosts{label}")), hosts, "{ctx} {name}");
            assert_eq!(at(format!("koji_channel_enabled_hosts{label}")), enabled, "{ctx} {name}");
            assert_eq!(at(format!("koji_enabled_hosts_count{label}")), enabled, "{ctx} {name}");
            assert_eq!(at(format!("koji_channel_ready_hosts{label}")), ready, "{ctx} {name}");
            assert_eq!(at(format!("koji_channel_capacity{label}")), capacity, "{ctx} {name}");
            assert_eq!(at(format!("koji_enabled_hosts_capacity_per_channel{label}")), capacity, "{ctx} {name}");
            assert_eq!(at(format!("koji_channel_task_load{label}")), load, "{ctx} {name}");
        }
        assert_eq!(at(format!("koji_channel_enabled{}", channel("retired"))), 0.0, "{ctx}");
        assert_eq!(at(format!("koji_channel_enabled{}", channel("default"))), 1.0, "{ctx}");

        let memberships = metrics.family("koji_host_channel_info");
        assert_eq!(memberships.len(), 7, "{ctx}: {memberships:?}");
        assert!(metrics.get(r#"koji_host_channel_info{host="builder-b",channel="image"}"#).is_none());
        assert_eq!(at(r#"koji_host_arch_info{host="builder-a",arch="i686"}"#.into()), 1.0);
        assert_eq!(
            metrics.family("koji_host_arch_info").len(),
            6,
            "{ctx}: a, a, b, c, d (revoked config of f has none), e"
        );
    }
}

#[tokio::test]
async fn an_empty_koji_gives_empty_families_not_errors() {
    let db = TestDb::new(Level::V1_35).await;
    let metrics = scrape(&state_for(&db.config())).await;
    assert_eq!(metrics.value("koji_up"), 1.0);
    assert_eq!(metrics.value("koji_exporter_collector_success{collector=\"hosts\"}"), 1.0);
    assert!(metrics.family("koji_host_enabled").is_empty());
    assert!(metrics.text.contains("# TYPE koji_host_enabled gauge"), "families are declared even without samples");
}

#[tokio::test]
async fn changes_in_the_database_show_in_the_next_scrape() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let state = state_for(&db.config());
    assert_eq!(scrape(&state).await.value(&format!("koji_host_ready{}", host("builder-c"))), 0.0);
    // The builder checks in as ready, and an admin disables builder-a the Koji way: revoke the
    // current config row and insert a new one.
    db.exec("update host set ready = true where name = 'builder-c'").await;
    db.exec(
        "insert into events (id) values (6);
         update host_config set active = null, revoke_event = 6, revoker_id = 1 where host_id = 1 and active;
         insert into host_config (host_id, arches, capacity, enabled, create_event, creator_id)
             values (1, 'x86_64 i686', 4.0, false, 6, 1);",
    )
    .await;
    let metrics = scrape(&state).await;
    assert_eq!(metrics.value(&format!("koji_host_ready{}", host("builder-c"))), 1.0);
    assert_eq!(metrics.value(&format!("koji_host_enabled{}", host("builder-a"))), 0.0);
    assert_eq!(metrics.value(&format!("koji_channel_enabled_hosts{}", channel("createrepo"))), 1.0);
    assert_eq!(metrics.value(&format!("koji_channel_capacity{}", channel("default"))), 10.0);
}
