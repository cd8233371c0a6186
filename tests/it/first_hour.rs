//! What a newcomer meets in the first hour, through the real binary: configuration errors that
//! are one true line, a refused database port that is reported at once and in words, a
//! database that is not Koji's, and background work that starts with the process.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary::{BIN, free_port, http_get, run, stderr, write_temp};
use crate::support::{Level, Metrics, TestDb, admin_url};

/// Starts `serve` on a free port with `args`, logs on a pipe, and waits until it listens.
async fn start(args: &[&str]) -> (Child, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args(["serve", "--web.listen-address", &listen])
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "the exporter did not start listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, port)
}

/// Stops the exporter and returns what it logged.
fn stop(mut child: Child) -> String {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    logs
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[test]
fn configuration_errors_name_the_key_once_and_the_file_as_given() {
    let unknown = write_temp("first-hour-unknown.toml", "[database]\nmax_conections = 3\n");
    let syntax = write_temp("first-hour-syntax.toml", "[database]\nmax_connections = = 3\n");
    // A relative path, as a user types it: the message must repeat it, not another form.
    let relative = pathdiff(&syntax);
    /// Arguments, environment, and what the one line must contain.
    type Case = (Vec<String>, Vec<(&'static str, &'static str)>, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            vec!["--config".into(), unknown.display().to_string(), "check-config".into()],
            vec![],
            vec!["`database.max_conections`".into(), format!("(in {})", unknown.display())],
        ),
        (
            vec!["check-config".into()],
            vec![("KOJI_EXPORTER_DATABASE__MAX_CONECTIONS", "3")],
            vec!["`database.max_conections`".into(), "KOJI_EXPORTER_DATABASE__MAX_CONECTIONS".into()],
        ),
        (
            vec!["check-config".into()],
            vec![("KOJI_EXPORTER_DATABASE_URL", "postgres://db/koji")],
            vec!["`database_url`".into(), "KOJI_EXPORTER_DATABASE__URL".into()],
        ),
        (
            vec!["--config".into(), relative.clone(), "check-config".into()],
            vec![],
            vec![format!("configuration file {relative} is not valid TOML at line 2, column 19")],
        ),
    ];
    for (args, env, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&args, &env);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
        for part in expected {
            assert!(message.contains(part.as_str()), "{args:?} {env:?}: {part:?} missing from {message}");
        }
        assert!(!message.contains("max_conections.max_conections"), "the key doubled: {message}");
        assert!(!message.contains("database_url.database_url"), "the key doubled: {message}");
        assert!(!message.contains("(top level)"), "{message}");
    }
}

/// `path` relative to the current directory, with `..` as needed.
fn pathdiff(path: &std::path::Path) -> String {
    let here = std::env::current_dir().unwrap();
    let depth = here.components().count() - 1;
    let up = "../".repeat(depth);
    format!("{up}{}", path.display().to_string().trim_start_matches('/'))
}

#[tokio::test]
async fn a_refused_database_port_costs_a_scrape_milliseconds_and_says_so() {
    let closed = free_port();
    let url = format!("postgres://postgres@127.0.0.1:{closed}/koji");
    let (child, port) = start(&["--database.url", &url]).await;
    for _ in 0..3 {
        let started = Instant::now();
        let response = http_get(port, "/metrics").await.unwrap();
        let took = started.elapsed();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert_eq!(Metrics::parse(body(&response)).value("koji_up"), 0.0);
        assert!(took < Duration::from_millis(200), "a refused port took {took:?}");
    }
    let ready = http_get(port, "/-/ready").await.unwrap();
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(ready.contains("connection refused"), "{ready}");
    let logs = stop(child);
    let refused: Vec<&str> = logs.lines().filter(|line| line.contains("connection refused")).collect();
    assert!(!refused.is_empty(), "no log line says the connection was refused:\n{logs}");
    assert!(refused[0].contains(&format!("127.0.0.1:{closed}")), "{logs}");
    assert!(!logs.contains("pool timed out"), "{logs}");
}

#[tokio::test]
async fn a_database_that_is_not_kojis_is_not_ready_and_is_logged_once() {
    // The server's own maintenance database holds no Koji tables.
    let (child, port) = start(&["--database.url", &admin_url().await]).await;
    let ready = http_get(port, "/-/ready").await.unwrap();
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(ready.contains("no Koji schema"), "{ready}");
    for _ in 0..3 {
        let response = http_get(port, "/metrics").await.unwrap();
        let metrics = Metrics::parse(body(&response));
        assert_eq!(metrics.value("koji_up"), 1.0, "the database answers");
        assert_eq!(metrics.value("koji_exporter_collector_success{collector=\"hosts\"}"), 0.0);
    }
    let logs = stop(child);
    assert_eq!(logs.matches("does not hold a supported Koji schema").count(), 1, "{logs}");
    assert!(!logs.contains("does not exist"), "missing relations logged per scrape:\n{logs}");
}

#[tokio::test]
async fn the_task_history_pass_starts_with_the_process_not_the_first_scrape() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.load("migrations-fixtures/fixtures/tasks_history.sql").await;
    let (child, port) = start(&["--database.url", &db.url]).await;
    // No request at all for a while: the pass must run by itself.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let response = http_get(port, "/metrics").await.unwrap();
    let metrics = Metrics::parse(body(&response));
    let logs = stop(child);
    assert_eq!(metrics.value("koji_exporter_task_history_ready"), 1.0, "{logs}");
    assert_eq!(metrics.value("koji_exporter_catalog_available"), 1.0, "{logs}");
}

#[tokio::test]
async fn a_failing_family_logs_the_servers_message_and_sqlstate_not_a_source_line() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    // A Koji database that lost a table the tasks family reads (odd, but it happens in a
    // half-restored database): the family fails, and its log line must be readable.
    db.exec("drop table task cascade").await;
    let (child, port) = start(&["--database.url", &db.url]).await;
    let response = http_get(port, "/metrics").await.unwrap();
    let metrics = Metrics::parse(body(&response));
    assert_eq!(metrics.value("koji_exporter_collector_success{collector=\"tasks\"}"), 0.0);
    assert_eq!(metrics.value("koji_up"), 1.0);
    let logs = stop(child);
    let failed = logs.lines().find(|line| line.contains("collection failed")).expect("a failure line");
    assert!(failed.contains("relation \"task\" does not exist (SQLSTATE 42P01)"), "{failed}");
    assert!(!logs.contains(" at line "), "{logs}");
}
