//! Garbage in the database never costs a scrape or the validity of the exposition: values Koji
//! never writes (negative or infinite loads, NULLs in columns Koji always fills, state codes it
//! does not define, times out of order), names with control characters, and, in a SQL_ASCII
//! database, names that are not UTF-8 at all.

use crate::exposition_formats::{openmetrics_parser_accepts, promtool_accepts};
use crate::support::{Level, OPENMETRICS_ACCEPT, TestDb, request, state_for};

/// Checks that are in Koji's schema are dropped first, as a site that edited its schema (or
/// restored a dump without them) might have done.
const GARBAGE: &str = r#"
alter table host drop constraint host_task_load_check;
alter table host alter column task_load drop not null;
alter table host_config drop constraint host_config_capacity_check;
alter table host_config alter column capacity drop not null;
alter table task drop constraint task_weight_check;
update host set task_load = -3.5 where name = 'builder-a';
update host set task_load = 'NaN' where name = 'builder-b';
update host set task_load = 'Infinity' where name = 'builder-c';
update host set task_load = null where name = 'builder-d';
update host_config set capacity = -2 where host_id = 1 and active;
update host_config set capacity = null where host_id = 2 and active;
update host_config set capacity = '-Infinity' where host_id = 3 and active;
update host_config set arches = E'x86_64\t\u0001arm  \n s390x\\' where host_id = 3 and active;
update host set name = E'ctl\u0001\u0007\r\u001b[31mred\u2028sep\\"' where name = 'builder-e';
update channels set name = E'ch\u0085\uFEFF\U0001F600 "q"' where name = 'createrepo';
update channels set name = '' where name = 'image';
insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, owner, method, arch, weight, request) values
    (9001, 42, now(), null, null, 1, null, 1, 'build', 'noarch', -1, 'not xml at all <<<'),
    (9002, null, now(), null, null, 1, null, 1, null, E'a\u0002r', 1, null),
    (9003, 2, now(), now() - interval '1 hour', now() - interval '2 hours', 1, 1, 1, E'we"ird\\method\n', 'x86_64', 1, E'<?xml version="1.0"?><methodCall><methodName>build</methodName><params><param><value><string>\u0001</string></value></param></params></methodCall>'),
    (9004, 5, now(), now() + interval '1 day', now() + interval '2 days', 1, 1, 1, '', '', 1, ''),
    (9005, -7, now() - interval '1 day', null, now(), 2, 5, 1, 'createrepo', 'noarch', 'NaN', null);
"#;

async fn assert_every_family_survives(db: &TestDb) -> String {
    let state = state_for(&db.config());
    let metrics = crate::tasks::scrape_when_ready(&state).await;
    assert_eq!(metrics.value("koji_up"), 1.0);
    for family in ["hosts", "tasks", "catalog"] {
        assert_eq!(
            metrics.value(&format!("koji_exporter_collector_success{{collector=\"{family}\"}}")),
            1.0,
            "{family} failed on garbage:\n{}",
            metrics.text
        );
    }
    let text = request(&state, "GET", "/metrics", &[]).await.body;
    promtool_accepts(&text);
    openmetrics_parser_accepts(&request(&state, "GET", "/metrics", &[("accept", OPENMETRICS_ACCEPT)]).await.body);
    text
}

#[tokio::test]
async fn values_koji_never_writes_do_not_break_a_scrape() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.exec(GARBAGE).await;
    let text = assert_every_family_survives(&db).await;
    assert!(text.contains("koji_host_task_load{host=\"builder-a\"} -3.5"), "{text}");
}

#[tokio::test]
async fn names_that_are_not_utf8_degrade_instead_of_failing_the_family() {
    let db = TestDb::with_encoding(Level::V1_35, "SQL_ASCII").await;
    db.load("migrations-fixtures/fixtures/hosts_edge_cases.sql").await;
    db.load("migrations-fixtures/fixtures/hosts_edge_cases.1.33.sql").await;
    db.load("migrations-fixtures/fixtures/hosts_edge_cases.1.34.sql").await;
    // Latin-1 and stray bytes, as an old tool writing into a SQL_ASCII database might leave.
    db.exec(r"update host set name = E'b\xe9zier-\xff\xfe' where name = 'builder-a'").await;
    db.exec(r"update host set name = E'b\xe9zier-\xfe\xff' where name = 'builder-b'").await;
    db.exec(r"update channels set name = E'caf\xe9' where name = 'createrepo'").await;
    db.exec(r"update host_config set arches = E'x86_64 \xa0arm' where host_id = 1 and active").await;
    db.exec(r"update task set method = E'buil\xe4', arch = E'\xff' where id = (select min(id) from task)").await;
    let text = assert_every_family_survives(&db).await;
    assert!(text.contains("host=\"b\u{fffd}zier-\u{fffd}\u{fffd}\""), "{text}");
    assert!(text.contains("channel=\"caf\u{fffd}\""), "{text}");
}
