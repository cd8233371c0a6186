//! A randomized run of catalog changes against `catalog_edge_cases.sql`: taggings and
//! untaggings, package-list rows added, blocked and revoked in tags that others inherit from,
//! repos created and moved through their states, builds started, finished and recycled, new
//! packages. After every round the exporter that has followed the changes cycle by cycle (no
//! full recount after its first) must serve exactly what a freshly started exporter's full
//! recount serves, and what the test counts with its own SQL.
//!
//! The fixture's rows lie below the exporter's windows (see `PUSH_WINDOWS`), so changes to them
//! take the paths of changes to old rows (tracked BUILDING builds, repos re-read by id, recycled
//! builds, package-list revocations by index); rows the run creates lie in the windows. Only
//! taggings the run made are untagged: an old untagging waits for the full recount by design
//! (see `catalog::an_old_untagging_shows_up_at_the_full_recount`). The run's seed is printed;
//! `CATALOG_CHURN_SEED` repeats it.

use koji_exporter::config::Config;
use sqlx::PgPool;

use crate::catalog::{PUSH_WINDOWS, after_next_cycle, assert_sql_counts, sql_counts};
use crate::support::{Level, Metrics, TestDb, scrape, scrape_both, state_for};

/// A small deterministic generator, so a failing run can be repeated with its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const ROUNDS: usize = 8;
const CHANGES_PER_ROUND: usize = 14;
/// Every tag, the deleted gone (6) included: its package list still takes part in walks.
const TAGS: [i32; 6] = [1, 2, 3, 4, 5, 6];

const FAMILIES: [&str; 8] = [
    "koji_packages_per_tag",
    "koji_builds_per_tag",
    "koji_tag_direct_packages",
    "koji_tag_direct_builds",
    "koji_builds",
    "koji_builds_per_package",
    "koji_repos",
    "koji_tag_ready_repo_timestamp_seconds",
];

fn catalog_series(metrics: &Metrics) -> Vec<(String, f64)> {
    FAMILIES.iter().flat_map(|family| metrics.family(family)).collect()
}

async fn change(pool: &PgPool, rng: &mut Rng, serial: i32) -> String {
    let packages: Vec<i32> = sqlx::query_scalar("select id from package order by id").fetch_all(pool).await.unwrap();
    let offset = rng.below(1_000) as i64;
    match rng.below(9) {
        0 | 1 => {
            let (build, tag) = (rng.below(20) as i32 + 1, rng.pick(&TAGS));
            let build: i32 = sqlx::query_scalar(
                "select coalesce((select id from build where state = 1 order by id offset $1 % greatest(1, (select count(*) from build where state = 1)) limit 1), 1)",
            )
            .bind(i64::from(build))
            .fetch_one(pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into tag_listing (build_id, tag_id, create_event, creator_id)
                 select $1, $2, get_event(), 1 where exists (select 1 from build where id = $1 and state = 1)
                 on conflict do nothing",
            )
            .bind(build)
            .bind(tag)
            .execute(pool)
            .await
            .unwrap();
            format!("tag build {build} into {tag}")
        }
        2 => {
            let done = sqlx::query(
                "update tag_listing set active = null, revoke_event = get_event(), revoker_id = 1
                 where ctid = (select ctid from tag_listing where active and create_event > 50000
                               order by build_id, tag_id
                               offset $1 % greatest(1, (select count(*) from tag_listing where active and create_event > 50000))
                               limit 1)",
            )
            .bind(offset)
            .execute(pool)
            .await
            .unwrap();
            format!("untag a tagging of the run ({} row)", done.rows_affected())
        }
        3 | 4 => {
            let (tag, package) = (rng.pick(&TAGS), rng.pick(&packages));
            let add = rng.below(3) > 0;
            let blocked = rng.below(3) == 0;
            let mut tx = pool.begin().await.unwrap();
            let event: i32 = sqlx::query_scalar("select get_event()").fetch_one(&mut *tx).await.unwrap();
            sqlx::query(
                "update tag_packages set active = null, revoke_event = $3, revoker_id = 1
                 where tag_id = $1 and package_id = $2 and active",
            )
            .bind(tag)
            .bind(package)
            .bind(event)
            .execute(&mut *tx)
            .await
            .unwrap();
            if add {
                sqlx::query(
                    "insert into tag_packages (package_id, tag_id, blocked, create_event, creator_id)
                     values ($2, $1, $3, $4, 1)",
                )
                .bind(tag)
                .bind(package)
                .bind(blocked)
                .bind(event)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
            format!(
                "package {package} in {tag}: {}",
                if add { if blocked { "blocked" } else { "listed" } } else { "removed" }
            )
        }
        5 => {
            if rng.below(2) == 0 {
                let (tag, state, dist) = (rng.pick(&TAGS), rng.pick(&[0, 1, 1, 4]), rng.below(4) == 0);
                sqlx::query("insert into repo (create_event, tag_id, state, dist) values (get_event(), $1, $2, $3)")
                    .bind(tag)
                    .bind(state)
                    .bind(dist)
                    .execute(pool)
                    .await
                    .unwrap();
                format!("new repo of {tag} in state {state}")
            } else {
                sqlx::query(
                    "update repo set state = case state when 0 then 1 when 1 then 2 else 3 end
                     where id = (select id from repo where state is distinct from 3 order by id
                                 offset $1 % greatest(1, (select count(*) from repo where state is distinct from 3))
                                 limit 1)",
                )
                .bind(offset)
                .execute(pool)
                .await
                .unwrap();
                "a repo moves on".to_owned()
            }
        }
        6 => {
            let package = rng.pick(&packages);
            sqlx::query(
                "insert into build (volume_id, pkg_id, version, release, create_event, start_time, state, owner)
                 values (0, $1, 'churn' || $2, '1', get_event(), now(), 0, 1)",
            )
            .bind(package)
            .bind(serial)
            .execute(pool)
            .await
            .unwrap();
            format!("package {package} starts a build")
        }
        7 => {
            let state = rng.pick(&[1, 1, 3, 4]);
            sqlx::query(
                "update build set state = $2, completion_time = now()
                 where id = (select id from build where state = 0 order by id
                             offset $1 % greatest(1, (select count(*) from build where state = 0)) limit 1)",
            )
            .bind(offset)
            .bind(state)
            .execute(pool)
            .await
            .unwrap();
            format!("a BUILDING build ends in state {state}")
        }
        _ => {
            if rng.below(2) == 0 {
                // Koji recycles the row of a FAILED or CANCELED build built again.
                sqlx::query(
                    "update build set state = 0, completion_time = null
                     where id = (select id from build where state in (3, 4) order by id
                                 offset $1 % greatest(1, (select count(*) from build where state in (3, 4))) limit 1)",
                )
                .bind(offset)
                .execute(pool)
                .await
                .unwrap();
                "a failed build is recycled".to_owned()
            } else {
                sqlx::query("insert into package (name) values ('churn-' || $1)")
                    .bind(serial)
                    .execute(pool)
                    .await
                    .unwrap();
                "a new package".to_owned()
            }
        }
    }
}

async fn full_recount(config: &Config) -> Metrics {
    let fresh = state_for(config);
    loop {
        // The operational answer must come from a completed recount too, not only the inventory.
        let operational = scrape(&fresh).await;
        let metrics = scrape_both(&fresh).await;
        if operational.get("koji_exporter_catalog_available") == Some(1.0) {
            return metrics;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn changes_followed_cycle_by_cycle_equal_a_full_recount() {
    let seed =
        std::env::var("CATALOG_CHURN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>) | 1;
    println!("CATALOG_CHURN_SEED={seed}");
    let mut rng = Rng(seed);
    let db = TestDb::with_fixture(Level::V1_35, "catalog_edge_cases").await;
    db.exec(PUSH_WINDOWS).await;
    let mut config = db.config();
    config.catalog.refresh_interval_seconds = 0.2;
    config.catalog.full_recount_interval_seconds = 3600.0;
    let following = state_for(&config);
    after_next_cycle(&following).await;

    let mut serial = 0;
    let mut log = Vec::new();
    for round in 0..ROUNDS {
        for _ in 0..CHANGES_PER_ROUND {
            serial += 1;
            log.push(change(&db.writer, &mut rng, serial).await);
        }
        let followed = after_next_cycle(&following).await;
        let recounted = full_recount(&config).await;
        let ctx = format!("seed {seed}, round {round}, changes:\n{}", log.join("\n"));
        let (followed_series, recounted_series) = (catalog_series(&followed), catalog_series(&recounted));
        let differ: Vec<String> = recounted_series
            .iter()
            .filter(|series| !followed_series.contains(series))
            .map(|(series, value)| format!("{series}: followed {:?}, recounted {value}", followed.get(series)))
            .chain(
                followed_series
                    .iter()
                    .filter(|(series, _)| recounted.get(series).is_none())
                    .map(|(series, value)| format!("{series}: followed {value}, not in the recount")),
            )
            .collect();
        assert!(differ.is_empty(), "{}\n{ctx}", differ.join("\n"));
        assert_sql_counts(&followed, &sql_counts(&db).await, &ctx);
        assert_eq!(followed.value("koji_exporter_catalog_reads_total{part=\"full\"}"), 1.0, "{ctx}");
    }
}
