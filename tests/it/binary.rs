//! The real `koji-exporter` binary: exit codes, one-line errors, masked secrets, serving and
//! shutting down on SIGTERM.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Level, Metrics, TestDb};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_koji-exporter");

pub(crate) fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("RUST_LOG");
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("KOJI_EXPORTER_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().copied()).output().expect("run koji-exporter")
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) fn write_temp(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("koji-exporter-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn version_flag() {
    let output = run(&["--version"], &[]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("koji-exporter {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_key() {
    let unknown = write_temp("unknown.toml", "[database]\nmax_conections = 3\n");
    let wrong_type = write_temp("type.toml", "[database]\nmax_connections = \"two\"\n");
    let sslmode = write_temp("sslmode.toml", "[database]\nsslmode = \"maybe\"\n");
    let site = |name: &str, extra: &str| {
        let text =
            format!("[[custom]]\nname = \"{name}\"\nhelp = \"h\"\nvalue = \"v\"\nsql = \"select 1 as v\"\n{extra}");
        write_temp(&format!("site-{name}.toml"), &text).display().to_string()
    };
    // The scrape emits this family itself; a site metric of that name made the exposition invalid.
    let taken = site("koji_exporter_custom_null_values", "");
    let summary = site("koji_site_a", "type = \"summary\"\n");
    let feature = site("koji_site_b", "requires_feature = \"sidetags\"\n");
    /// Arguments, environment, and the key the error must name.
    type Case = (Vec<String>, Vec<(&'static str, &'static str)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            vec!["--config".into(), unknown.display().to_string(), "check-config".into()],
            vec![],
            "database.max_conections",
        ),
        (
            vec!["--config".into(), wrong_type.display().to_string(), "check-config".into()],
            vec![],
            "database.max_connections",
        ),
        (
            vec!["check-config".into()],
            vec![("KOJI_EXPORTER_DATABASE__MAX_CONNECTIONS", "0")],
            "database.max_connections",
        ),
        (vec!["--web.listen-address".into(), "nowhere".into()], vec![], "web.listen_address"),
        (vec!["--log.level".into(), "loud".into(), "check-config".into()], vec![], "log.level"),
        (vec!["--log.format".into(), "xml".into(), "check-config".into()], vec![], "log.format"),
        (vec!["--config".into(), sslmode.display().to_string(), "check-config".into()], vec![], "database.sslmode"),
        (vec!["--config".into(), taken, "check-config".into()], vec![], "taken by a built-in metric"),
        (vec!["--config".into(), summary, "check-config".into()], vec![], "custom"),
        (vec!["--config".into(), feature, "check-config".into()], vec![], "requires_feature"),
        (vec!["--config".into(), "/nonexistent/koji.toml".into()], vec![], "--config"),
        (vec!["--database.url".into(), "mysql://x".into(), "check-config".into()], vec![], "database.url"),
    ];
    for (args, env, key) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&args, &env);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{args:?}: {message}");
        assert!(message.contains(key), "{args:?} should name {key}: {message}");
    }
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_masked() {
    let password_file = write_temp("pw", "file-secret\n");
    let config = write_temp(
        "ok.toml",
        &format!("[database]\npassword_file = \"{}\"\nmax_connections = 3\n", password_file.display()),
    );
    let output = run(
        &[
            "--config",
            &config.display().to_string(),
            "--database.url",
            "postgres://koji:url-secret@db.example.org/koji",
            "check-config",
        ],
        &[("KOJI_EXPORTER_WEB__SCRAPE_TIMEOUT_SECONDS", "9")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout.contains("url-secret") && !stdout.contains("file-secret"), "{stdout}");
    assert!(stdout.contains("postgres://koji:********@db.example.org/koji"), "{stdout}");
    assert!(stdout.contains("max_connections = 3"), "{stdout}");
    assert!(stdout.contains("scrape_timeout_seconds = 9"), "{stdout}");
}

pub(crate) async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    Some(response)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn serves_metrics_and_stops_cleanly_on_sigterm() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--database.url",
            &db.url,
            "--log.format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let started = Instant::now();
    let metrics = loop {
        if let Some(response) = http_get(port, "/metrics").await {
            break response;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the exporter did not start listening");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let body = Metrics::parse(metrics.split_once("\r\n\r\n").map_or("", |(_, body)| body));
    assert_eq!(body.value("koji_up"), 1.0);
    assert_eq!(body.value("koji_hosts_enabled{host=\"builder-a\"}"), 1.0);

    let second = Command::new(BIN)
        .args(["--web.listen-address", &format!("127.0.0.1:{port}"), "--database.url", &db.url])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1), "a taken port is a runtime failure");
    assert!(stderr(&second).contains("cannot listen on"), "{}", stderr(&second));

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    assert!(logs.lines().all(|line| line.starts_with('{')), "JSON logs expected:\n{logs}");
    assert!(logs.contains("detected Koji schema"), "{logs}");
}

#[test]
fn a_bad_web_config_file_exits_2_naming_the_key() {
    let unknown = write_temp("web-unknown.yml", "tls_server_config:\n  cert_fle: a.crt\n  key_file: a.key\n");
    let missing_cert =
        write_temp("web-missing.yml", "tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\n");
    let bad_hash = write_temp("web-hash.yml", "basic_auth_users:\n  prometheus: hunter2\n");
    let cases = [(&unknown, "cert_fle"), (&missing_cert, "cert_file"), (&bad_hash, "basic_auth_users.prometheus")];
    for (file, key) in cases {
        for command in [&["check-config"][..], &["serve", "--web.listen-address", "127.0.0.1:1"]] {
            let mut args = vec!["--web.config.file", file.to_str().unwrap(), "--database.url", "postgres://db/koji"];
            args.extend_from_slice(command);
            let output = run(&args, &[]);
            let message = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
            assert_eq!(message.trim_end().lines().count(), 1, "{message}");
            assert!(message.contains(key), "{args:?} should name {key}: {message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
    let output = run(&["--web.config.file", "/nonexistent/web.yml", "check-config"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("web.config_file"), "{}", stderr(&output));
}

#[test]
fn check_config_names_the_web_config_file_and_masks_its_hashes() {
    let hash = "$2y$10$/MqJgiQrGTFj6VJAYaRpf.m3PEitvXN.yh6xDzDiqLc2MRnu14NjW";
    let web = write_temp("web-ok.yml", &format!("basic_auth_users:\n  prometheus: '{hash}'\n"));
    let output =
        run(&["--web.config.file", web.to_str().unwrap(), "--database.url", "postgres://db/koji", "check-config"], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout.contains(&format!("config_file = \"{}\"", web.display())), "{stdout}");
    assert!(stdout.contains("basic_auth_users: prometheus = ********"), "{stdout}");
    assert!(!stdout.contains("$2y$"), "{stdout}");
    assert!(stdout.contains("tls: off"), "{stdout}");
}
