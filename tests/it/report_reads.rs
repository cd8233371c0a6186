//! What `koji-exporter report` sends to the database and what it can read back.
//!
//! `--explain` must show exactly the statements a report sends. The test does not trust any list
//! in the code for that: the report runs through a proxy that reads the PostgreSQL protocol on
//! its way to the server and writes down the SQL of every Parse and simple Query message, which
//! is what the server was asked to run. Each recorded text is looked up among the statements of
//! `sql/` by its text; the report's run and its `--explain` output must name the same statements
//! in the same order (of first use).
//!
//! A report must also survive names that are not UTF-8 (a SQL_ASCII database), as `/metrics`
//! does (tests/it/hostile_data.rs).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use koji_exporter::sql;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::report::run;
use crate::support::{Level, TESTED, TestDb, admin_url, host_port};

/// The report window of the fixture `report_history` (see tests/it/report.rs).
const WINDOW: [&str; 4] = ["--since", "2026-11-10", "--until", "2026-11-10T10:00"];

/// A TCP proxy in front of PostgreSQL that records the SQL text of every statement a client
/// sends. It answers a TLS (or GSSAPI) encryption request with "N", so the client talks plain
/// protocol (sslmode=prefer, the default, then goes on without TLS).
struct Recorder {
    port: u16,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(upstream: String) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the recorder");
        let port = listener.local_addr().unwrap().port();
        let sent: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = Arc::clone(&sent);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(record_session(client, upstream.clone(), Arc::clone(&record)));
            }
        });
        Recorder { port, sent }
    }

    /// The URL of `database` on the server, through the recorder.
    fn url(&self, admin_url: &str, database: &str) -> String {
        let direct = crate::support::with_database(admin_url, database);
        direct.replacen(&host_port(admin_url), &format!("127.0.0.1:{}", self.port), 1)
    }

    /// What was recorded since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

/// PostgreSQL's request codes for TLS and GSSAPI encryption (sent before the startup message).
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;

async fn record_session(mut client: TcpStream, upstream: String, sent: Arc<Mutex<Vec<String>>>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    // Start-up: untyped messages (length, then body) until the startup message itself.
    loop {
        let Ok(length) = client.read_i32().await else { return };
        let mut body = vec![0; usize::try_from(length - 4).unwrap_or(0)];
        if client.read_exact(&mut body).await.is_err() {
            return;
        }
        let code = body.get(..4).map(|b| i32::from_be_bytes(b.try_into().unwrap()));
        if matches!(code, Some(SSL_REQUEST | GSSENC_REQUEST)) {
            if client.write_all(b"N").await.is_err() {
                return;
            }
            continue;
        }
        if server.write_all(&length.to_be_bytes()).await.is_err() || server.write_all(&body).await.is_err() {
            return;
        }
        break;
    }
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
    });
    // Typed messages: one byte of type, the length (counting itself), the body.
    loop {
        let mut head = [0u8; 5];
        if from_client.read_exact(&mut head).await.is_err() {
            return;
        }
        let length = i32::from_be_bytes(head[1..5].try_into().unwrap());
        let mut body = vec![0; usize::try_from(length - 4).unwrap_or(0)];
        if from_client.read_exact(&mut body).await.is_err() {
            return;
        }
        let text = match head[0] {
            // Parse: statement name, then the query, both NUL-terminated.
            b'P' => body.split(|b| *b == 0).nth(1),
            // Query (the simple protocol): the query.
            b'Q' => body.split(|b| *b == 0).next(),
            _ => None,
        };
        if let Some(text) = text {
            sent.lock().unwrap().push(String::from_utf8_lossy(text).into_owned());
        }
        if to_server.write_all(&head).await.is_err() || to_server.write_all(&body).await.is_err() {
            return;
        }
    }
}

/// The statements of `sql/` that the recorded texts are, in order of first use. Connection
/// set-up (the schema probes of sql/schema.sql) and transaction control are left out; any other
/// text that is not a statement of `sql/` fails the test.
fn statements_sent(texts: &[String]) -> Vec<String> {
    let known: BTreeMap<&str, (&str, &str)> =
        sql::all().into_iter().map(|(family, name)| (sql::statement(family, name), (family, name))).collect();
    let mut sent: Vec<String> = Vec::new();
    for text in texts {
        let lower = text.trim().to_lowercase();
        if lower.starts_with("begin") || lower == "commit" || lower == "rollback" || lower.is_empty() {
            continue;
        }
        let Some((family, name)) = known.get(text.as_str()) else {
            panic!("the report sent a statement that is not in sql/:\n{text}");
        };
        if *family == "schema" {
            continue;
        }
        let id = format!("{family}/{name}");
        if !sent.contains(&id) {
            sent.push(id);
        }
    }
    sent
}

/// The statements an `--explain` output shows plans of (`-- sql/<family>.sql: <name>` lines).
fn statements_explained(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("-- sql/"))
        .filter_map(|rest| rest.split_once(".sql: "))
        .map(|(family, name)| format!("{family}/{name}"))
        .collect()
}

/// Runs the binary on a blocking thread; panics unless it succeeds, and returns stdout.
async fn report(url: &str, args: &[&str]) -> String {
    let mut list = vec!["--database.url".to_owned(), url.to_owned(), "report".to_owned()];
    list.extend(args.iter().map(|arg| (*arg).to_owned()));
    let output =
        tokio::task::spawn_blocking(move || run(&list.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "report {args:?} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("report {args:?} printed invalid UTF-8: {e}"))
}

/// Runs each report through the recorder and with `--explain`, compares, and returns the
/// `--explain` output of each report.
async fn assert_explain_matches_what_is_sent(
    db: &TestDb,
    recorder: &Recorder,
    admin: &str,
    what: &str,
    args: &[&str],
) -> BTreeMap<&'static str, String> {
    let through_recorder = recorder.url(admin, &db.name);
    let mut explained_by_report = BTreeMap::new();
    for name in ["capacity", "queue", "hosts", "builds", "tags"] {
        let run_args: Vec<&str> = [&[name][..], args].concat();
        recorder.take();
        report(&through_recorder, &run_args).await;
        let sent = statements_sent(&recorder.take());
        let explain_args: Vec<&str> = [&run_args[..], &["--explain"][..]].concat();
        let plans = report(&db.url, &explain_args).await;
        let explained = statements_explained(&plans);
        assert!(!sent.is_empty(), "{what}, report {name}: nothing recorded");
        assert_eq!(explained, sent, "{what}, report {name}: --explain differs from what the report sent:\n{plans}");
        explained_by_report.insert(name, plans);
    }
    explained_by_report
}

#[tokio::test]
async fn explain_shows_exactly_the_statements_each_report_sends() {
    let admin = admin_url().await;
    let recorder = Recorder::start(host_port(&admin)).await;
    for level in TESTED {
        let db = TestDb::with_fixture(level, "report_history").await;
        let what = format!("Koji {}", level.name());
        let plans = assert_explain_matches_what_is_sent(&db, &recorder, &admin, &what, &WINDOW).await;
        // The hosts without a check-in time of their own: all before Koji 1.33, then h-c.
        let asked = if level < Level::V1_33 { "{1,2,3}" } else { "{3}" };
        let capacity = &plans["capacity"];
        assert!(
            capacity.contains(&format!("-- sql/hosts.sql: host_session_activity\n-- $1 = {asked}\n")),
            "{capacity}"
        );
        if level == Level::V1_35 {
            // Every host has a check-in time of its own: no session look-up.
            db.exec("update host set update_time = '2026-11-20 07:00:00+00' where update_time is null").await;
            // A window without tasks: no primary-key range read.
            let empty_window = ["--since", "2020-01-01", "--until", "2020-01-02"];
            let what = "every host checked in, empty window";
            let plans = assert_explain_matches_what_is_sent(&db, &recorder, &admin, what, &empty_window).await;
            // What is left out is named, with the reason.
            let hosts = &plans["hosts"];
            assert!(
                hosts.contains("\n-- not sent: host_session_activity (sql/hosts.sql), because every host"),
                "{hosts}"
            );
            assert!(hosts.contains("\n-- not sent: created_after (sql/tasks.sql), because no task"), "{hosts}");
        }
    }
    // No hosts, no tasks, no builds: the id probes and the session look-up are not sent.
    let empty = TestDb::new(Level::V1_32).await;
    let plans = assert_explain_matches_what_is_sent(&empty, &recorder, &admin, "an empty Koji 1.32", &WINDOW).await;
    assert!(
        plans["queue"].contains("\n-- not sent: task_at_or_after (sql/report.sql), because the task table is empty")
    );
}

/// Latin-1 and stray bytes where each report reads a name, as an old tool writing into a
/// SQL_ASCII database might leave them: host, channel, tag, build target (in the build task's
/// request, where the report reads it, and in build_target) and user (a build's owner); and a
/// package, which no report shows yet (`tags_direct` counts a tag's packages).
const NOT_UTF8: &str = r"
update host set name = E'h-\xe1' where name = 'h-a';
update channels set name = E'd\xe9fault' where name = 'default';
update tag set name = E'f40-\xff' where name = 'f40';
update package set name = E'f\xf6o' where name = 'foo';
update build_target set name = E'f40-c\xe1ndidate' where name = 'f40-candidate';
update task set request = replace(request, 'f40-candidate', E'f40-c\xe1ndidate') where id = 6;
update users set name = E'al\xefce' where name = 'alice';
";

#[tokio::test]
async fn every_report_shows_names_that_are_not_utf8_with_replacement_characters() {
    let db = TestDb::with_encoding(Level::V1_35, "SQL_ASCII").await;
    db.load_fixture(Level::V1_35, "report_history").await;
    db.exec(NOT_UTF8).await;
    let host = "h-\u{fffd}";
    let channel = "d\u{fffd}fault";
    // (report, --by, the names its output must show)
    let cases: [(&str, Option<&str>, &[&str]); 10] = [
        ("capacity", Some("channel"), &[channel]),
        ("capacity", Some("arch"), &[channel]),
        ("capacity", Some("host"), &[host]),
        ("queue", Some("method"), &[channel]),
        ("queue", Some("channel"), &[channel]),
        ("queue", Some("arch"), &[channel]),
        ("queue", Some("host"), &[host]),
        ("hosts", None, &[host]),
        ("builds", None, &["al\u{fffd}ce", "f40-c\u{fffd}ndidate"]),
        ("tags", None, &["f40-\u{fffd}"]),
    ];
    for (name, by, expected) in cases {
        for format in ["table", "csv", "json"] {
            let mut args = vec![name, "--format", format];
            args.extend(WINDOW);
            if let Some(by) = by {
                args.extend(["--by", by]);
            }
            let text = report(&db.url, &args).await;
            for shown in expected {
                assert!(text.contains(shown), "report {args:?} does not show {shown:?}:\n{text}");
            }
            if format == "json" {
                serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"));
            }
        }
    }
}
