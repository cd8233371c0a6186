//! Attacks on the HTTP side, each reproduced against the real listener or the real binary:
//! a half-written web configuration file, wrong passwords and busy scrapes crowding out the
//! scraper and the liveness probe, clients that never read their answers, a full file
//! descriptor table, and command-line values that used to panic or be refused.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{config_for, state_for};
use crate::web_security::{Ca, Server, TempDir, basic, client_config, get, hash, limits, plain, status, tls};

const BIN: &str = env!("CARGO_BIN_EXE_koji-exporter");
/// Nothing listens there: scrapes answer at once with `koji_up 0`.
const NO_DATABASE: &str = "postgres://postgres@127.0.0.1:1/koji";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real binary, killed when dropped, its stderr collected as it comes.
struct Exporter {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Exporter {
    fn start(args: &[&str], ulimit_nofile: Option<u32>) -> Exporter {
        let mut command = match ulimit_nofile {
            None => Command::new(BIN),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell.args(["-c", &format!("ulimit -n {limit} && exec \"$0\" \"$@\""), BIN]);
                shell
            }
        };
        command.args(args).env_remove("RUST_LOG").stdout(Stdio::null()).stderr(Stdio::piped());
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("KOJI_EXPORTER_")) {
            command.env_remove(key);
        }
        let mut child = command.spawn().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = stderr.read(&mut buffer) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        Exporter { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn lines_with(&self, needle: &str) -> usize {
        self.log().lines().filter(|line| line.contains(needle)).count()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until(what: &str, port: u16, mut ready: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() || !ready().await {
        assert!(started.elapsed() < Duration::from_secs(15), "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `line` is a WARN line of the module that keeps the web configuration in force (JSON logs).
fn is_security_warning(line: &str) -> bool {
    line.contains("\"level\":\"WARN\"") && line.contains("koji_exporter::web::security")
}

// Item 1: a web configuration file rewritten in place is seen half-written.

#[tokio::test]
async fn a_half_written_web_config_never_turns_tls_or_authentication_off() {
    let dir = TempDir::new("half-written");
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf();
    dir.write("tls.crt", &cert);
    dir.write("tls.key", &key);
    let full = |password: &str| {
        format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: '{}'\n",
            hash(password)
        )
    };
    let web = dir.write("web.yml", &full("right horse"));
    let port = free_port();
    let exporter = Exporter::start(
        &[
            "serve",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--web.config.file",
            web.to_str().unwrap(),
            "--database.url",
            NO_DATABASE,
            "--log.format",
            "json",
        ],
        None,
    );
    let config = client_config(ca.roots(), None);
    wait_until("the exporter serves TLS", port, async || {
        tls(port, config.clone(), &get("/-/healthy", "")).await.is_ok()
    })
    .await;

    // The landing page needs the same credentials as the metrics and answers without the database.
    let right = get("/", &basic("prometheus", "right horse"));
    let full_text = full("right horse");
    let cut = &full_text[..full_text.find("basic_auth_users").unwrap()];
    for (name, half) in [("empty", ""), ("only tls_server_config:", "tls_server_config:\n"), ("cut before users", cut)]
    {
        let warnings_before = exporter.log().lines().filter(|line| is_security_warning(line)).count();
        // In place, as `: > web.yml` or a configuration management tool does: no rename.
        std::fs::write(&web, half).unwrap();
        for attempt in 0..3 {
            let answer = tls(port, config.clone(), &right).await;
            let (answer, _) = answer.unwrap_or_else(|error| panic!("{name}: TLS is off ({error})"));
            assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{name}, attempt {attempt}: {answer}");
            let (anonymous, _) = tls(port, config.clone(), &get("/metrics", "")).await.unwrap();
            assert_eq!(status(&anonymous), "HTTP/1.1 401 Unauthorized", "{name}: authentication is off: {anonymous}");
            let (ready, _) = tls(port, config.clone(), &get("/-/ready", "")).await.unwrap();
            assert_eq!(status(&ready), "HTTP/1.1 401 Unauthorized", "{name}: /-/ready is open: {ready}");
            let in_clear = plain(port, &get("/metrics", "")).await;
            assert!(!in_clear.starts_with("HTTP/1.1"), "{name}: plain HTTP is served: {in_clear}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let log = exporter.log();
        let warnings: Vec<&str> = log.lines().filter(|line| is_security_warning(line)).collect();
        assert_eq!(warnings.len(), warnings_before + 1, "{name}: one WARN line per change:\n{log}");
        assert!(warnings.last().unwrap().contains("web.yml"), "{name}: the WARN names the file:\n{log}");

        // The complete file again, with a new password: applied.
        std::fs::write(&web, full("new horse")).unwrap();
        let (answer, _) = tls(port, config.clone(), &get("/", &basic("prometheus", "new horse"))).await.unwrap();
        assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{name}: a complete file is applied again: {answer}");
        std::fs::write(&web, &full_text).unwrap();
        let (answer, _) = tls(port, config.clone(), &right).await.unwrap();
        assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{name}: {answer}");
    }
}

#[tokio::test]
async fn a_weaker_client_certificate_requirement_is_refused_until_a_restart() {
    let dir = TempDir::new("mtls-downgrade");
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf();
    dir.write("tls.crt", &cert);
    dir.write("tls.key", &key);
    dir.write("ca.pem", &ca.pem());
    let with = |client_auth: &str| {
        format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: {client_auth}\n  client_ca_file: ca.pem\n"
        )
    };
    let web = dir.write("web.yml", &with("RequireAndVerifyClientCert"));
    let server = Server::start(Some(&web), Duration::from_secs(5)).await;
    let (client_cert, client_key, _) = ca.leaf();
    let with_cert = client_config(ca.roots(), Some((client_cert, client_key)));
    let without_cert = client_config(ca.roots(), None);

    std::fs::write(&web, with("VerifyClientCertIfGiven")).unwrap();
    let refused = tls(server.port, without_cert.clone(), &get("/metrics", "")).await;
    assert!(
        refused.as_ref().map_or(true, |(response, _)| response.is_empty()),
        "a client without a certificate is still refused: {refused:?}"
    );
    let (answer, _) = tls(server.port, with_cert, &get("/metrics", "")).await.unwrap();
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");
    server.stop().await;
}

// Item 4: unauthenticated clients and busy scrapes must not lock out the scraper or the probe.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_do_not_lock_out_the_scraper_or_the_liveness_probe() {
    let dir = TempDir::new("guessing");
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf();
    dir.write("tls.crt", &cert);
    dir.write("tls.key", &key);
    // Cost 10, as `htpasswd -nBC 10` makes: every guess costs a real bcrypt verification.
    let real_hash = bcrypt::hash("right horse", 10).unwrap();
    let web = dir.write(
        "web.yml",
        &format!("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: '{real_hash}'\n"),
    );
    let server = Server::start(Some(&web), Duration::from_secs(5)).await;
    let port = server.port;
    let config = client_config(ca.roots(), None);
    // The landing page needs the same credentials as the metrics and answers without the database.
    let right = get("/", &basic("prometheus", "right horse"));
    let (warm, _) = tls(port, config.clone(), &right).await.unwrap();
    assert_eq!(status(&warm), "HTTP/1.1 200 OK", "{warm}");

    let stop = Arc::new(AtomicBool::new(false));
    let guesses = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for attacker in 0..50 {
        let (stop, guesses, config) = (Arc::clone(&stop), Arc::clone(&guesses), config.clone());
        attackers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let guess = get("/metrics", &basic("prometheus", &format!("guess-{attacker}-{n}")));
                if tls(port, config.clone(), &guess).await.is_ok() {
                    guesses.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut failures = Vec::new();
    for _ in 0..8 {
        match tls(port, config.clone(), &right).await {
            Ok((answer, _)) if status(&answer) == "HTTP/1.1 200 OK" => {}
            other => failures.push(format!("scrape: {:?}", other.map(|(answer, _)| status(&answer).to_owned()))),
        }
        match tls(port, config.clone(), &get("/-/healthy", "")).await {
            Ok((answer, _)) if status(&answer) == "HTTP/1.1 200 OK" => {}
            other => failures.push(format!("healthy: {:?}", other.map(|(answer, _)| status(&answer).to_owned()))),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }
    assert!(guesses.load(Ordering::Relaxed) > 0, "the attack did not run");
    assert!(failures.is_empty(), "the scraper or the probe was locked out: {failures:?}");
    server.stop().await;
}

/// A fake PostgreSQL that accepts connections and never answers: scrapes wait on it.
async fn silent_database() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_liveness_probe_answers_while_scrapes_fill_the_request_cap() {
    let (db_port, database) = silent_database().await;
    let mut config = config_for(&format!("postgres://postgres@127.0.0.1:{db_port}/koji"));
    config.web.max_requests = 4;
    let server = Server::start_with(None, state_for(&config), limits(Duration::from_secs(5), None, None)).await;
    let port = server.port;
    let scrapes: Vec<_> =
        (0..12).map(|_| tokio::spawn(async move { plain(port, &get("/metrics", "")).await })).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut failed = Vec::new();
    for _ in 0..5 {
        let answer = plain(port, &get("/-/healthy", "")).await;
        if status(&answer) != "HTTP/1.1 200 OK" {
            failed.push(status(&answer).to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut shed = 0;
    for scrape in scrapes {
        shed += usize::from(status(&scrape.await.unwrap()) == "HTTP/1.1 503 Service Unavailable");
    }
    assert!(failed.is_empty(), "/-/healthy failed under busy scrapes: {failed:?}");
    assert!(shed > 0, "the request cap still holds for scrapes");
    server.stop().await;
    database.abort();
}

// Item 6: clients that do not read their answers, and too many connections.

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_after_the_write_timeout() {
    let server = Server::start_with(
        None,
        state_for(&config_for(NO_DATABASE)),
        limits(Duration::from_secs(5), Some(Duration::from_secs(1)), None),
    )
    .await;
    let one = plain(server.port, &get("/", "")).await;
    assert_eq!(status(&one), "HTTP/1.1 200 OK", "{one}");
    // Enough pipelined requests that their answers (16 MiB) cannot fit in the socket buffers.
    let requests = 16 * 1024 * 1024 / one.len() + 1;
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(requests);
    let stream = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    // Never read for 4 s: the server's writes make no progress.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = Vec::new();
    let started = Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut received)).await;
    let answered = String::from_utf8_lossy(&received).matches("HTTP/1.1 200 OK").count();
    assert!(read.is_ok(), "the connection was still open after {:?}", started.elapsed());
    assert!(answered < requests, "all {requests} answers were written to a client that did not read");
    sender.abort();
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let server =
        Server::start_with(None, state_for(&config_for(NO_DATABASE)), limits(Duration::from_secs(5), None, Some(2)))
            .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
        stream.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    third.write_all(&get("/-/healthy", "")).await.unwrap();
    let mut answer = Vec::new();
    let early = tokio::time::timeout(Duration::from_secs(1), third.read_to_end(&mut answer)).await;
    assert!(early.is_err() && answer.is_empty(), "a third connection was served past a cap of 2");
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(3), third.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "served once a connection closed: {answer}");
    server.stop().await;
}

// Item 8: the accept loop out of file descriptors, and command-line values.

#[tokio::test]
async fn running_out_of_file_descriptors_logs_a_few_lines_not_a_flood() {
    let port = free_port();
    let exporter = Exporter::start(
        &[
            "serve",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--database.url",
            NO_DATABASE,
            "--log.format",
            "json",
        ],
        Some(40),
    );
    wait_until("the exporter listens", port, async || {
        plain(port, &get("/-/healthy", "")).await.starts_with("HTTP/1.1 200")
    })
    .await;
    // Connections that send half a request and wait: more than the descriptors left.
    let mut held = Vec::new();
    for _ in 0..60 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _ = stream.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n").await;
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lines = exporter.lines_with("accepting a connection failed");
    assert!(lines >= 1, "the failure is logged:\n{}", exporter.log());
    assert!(lines <= 3, "{lines} lines in 3 s:\n{}", exporter.log());
    drop(held);
    wait_until("the exporter serves again", port, async || {
        plain(port, &get("/-/healthy", "")).await.starts_with("HTTP/1.1 200")
    })
    .await;
}

fn run(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("RUST_LOG");
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("KOJI_EXPORTER_")) {
        command.env_remove(key);
    }
    command.output().unwrap()
}

#[test]
fn telemetry_paths_axum_cannot_route_exit_2_in_check_config_and_serve() {
    for path in ["/:metrics", "/{", "/{*rest}", "/me}trics", "/a/*b", "/-/ready", "/-/healthy", "/"] {
        for command in [&["check-config"][..], &["serve", "--web.listen-address", "127.0.0.1:1"]] {
            let mut args = vec!["--web.telemetry-path", path, "--database.url", NO_DATABASE];
            args.extend_from_slice(command);
            let output = run(&args);
            let message = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
            assert_eq!(message.trim_end().lines().count(), 1, "{args:?}: {message}");
            assert!(message.contains("web.telemetry_path"), "{args:?}: {message}");
        }
    }
    let output = run(&["--web.telemetry-path", "/koji/metrics", "--database.url", NO_DATABASE, "check-config"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn listen_addresses_may_be_a_bare_port_or_a_host_name() {
    for address in [format!(":{}", free_port()), format!("localhost:{}", free_port())] {
        let port: u16 = address.rsplit_once(':').unwrap().1.parse().unwrap();
        let check = run(&["--web.listen-address", &address, "--database.url", NO_DATABASE, "check-config"]);
        assert!(check.status.success(), "{address}: {}", String::from_utf8_lossy(&check.stderr));
        let exporter =
            Exporter::start(&["serve", "--web.listen-address", &address, "--database.url", NO_DATABASE], None);
        wait_until(&format!("{address} serves"), port, async || {
            plain(port, &get("/-/healthy", "")).await.starts_with("HTTP/1.1 200")
        })
        .await;
        drop(exporter);
    }
    for address in ["nowhere", ":", ":99999", "localhost:", "bad host:1"] {
        let output = run(&["--web.listen-address", address, "--database.url", NO_DATABASE, "check-config"]);
        let message = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{address}: {message}");
        assert!(message.contains("web.listen_address"), "{address}: {message}");
    }
}
