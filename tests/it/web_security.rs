//! TLS and basic authentication on the exporter's own HTTP endpoint, served by the real
//! listener on a loopback port: certificates are made in the test with rcgen, requests are
//! written by hand so that nothing in a client library hides what the server does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use koji_exporter::http::AppState;
use koji_exporter::web::{Limits, Security};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::support::{config_for, state_for};

/// A temporary directory of its own for one test.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("koji-exporter-web-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        // Write then rename, as a certificate rotation does, so readers never see half a file.
        let partial = self.0.join(format!(".{name}.partial"));
        std::fs::write(&partial, content).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA that signs server and client certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "koji-exporter test CA");
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `localhost`, as (certificate PEM, key PEM, certificate DER).
    pub fn leaf(&self) -> (String, String, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        roots
    }
}

/// The exporter's listener on a free loopback port, against a database that is not there
/// (the metrics path still answers 200 with `koji_up 0`, which is all these tests need).
pub struct Server {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start(web_config: Option<&Path>, header_read_timeout: Duration) -> Server {
        let state = state_for(&config_for("postgres://postgres@127.0.0.1:1/koji"));
        Server::start_with(web_config, state, limits(header_read_timeout, None, None)).await
    }

    /// A server with its own state (database, request cap) and connection limits.
    pub async fn start_with(web_config: Option<&Path>, state: AppState, limits: Limits) -> Server {
        let security = Arc::new(Security::load(web_config).unwrap());
        let router = koji_exporter::http::secured_app(state, Arc::clone(&security));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(koji_exporter::web::serve(listener, router, security, limits, async {
            let _ = stopped.await;
        }));
        Server { port, stop: Some(stop), done: Some(done) }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap().unwrap();
    }
}

/// Connection limits: the header read timeout, and the write timeout and connection cap
/// (None: the defaults).
pub fn limits(
    header_read_timeout: Duration,
    write_timeout: Option<Duration>,
    max_connections: Option<usize>,
) -> Limits {
    let defaults = koji_exporter::config::WebConfig::default();
    Limits {
        header_read_timeout,
        write_timeout: write_timeout.unwrap_or(Duration::from_secs_f64(defaults.write_timeout_seconds)),
        max_connections: max_connections.unwrap_or(defaults.max_connections),
    }
}

/// One HTTP/1.1 request over plain TCP; the whole response as text (lossy), "" when the
/// connection was closed or reset without an answer.
pub async fn plain(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

pub fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra_headers}\r\n").into_bytes()
}

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub fn client_config(roots: RootCertStore, client_cert: Option<(String, String)>) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls::pki_types::pem::PemObject;
            let cert = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(vec![cert], key).unwrap()
        }
    };
    Arc::new(config)
}

/// One request over TLS: Ok(response text, the server's certificate) or the TLS error.
pub async fn tls(
    port: u16,
    config: Arc<rustls::ClientConfig>,
    request: &[u8],
) -> Result<(String, CertificateDer<'static>), String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut stream =
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.map_err(|error| error.to_string())?;
    let peer = stream.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned();
    stream.write_all(request).await.map_err(|error| error.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(|error| error.to_string())?;
    Ok((String::from_utf8_lossy(&response).into_owned(), peer))
}

pub fn status(response: &str) -> &str {
    response.split("\r\n").next().unwrap_or("")
}

pub fn hash(password: &str) -> String {
    // Cost 4 keeps the test fast; the exporter accepts any cost.
    bcrypt::hash(password, 4).unwrap()
}

#[tokio::test]
async fn tls_with_basic_auth_refuses_plain_http_and_wrong_passwords() {
    let dir = TempDir::new("tls-auth");
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf();
    dir.write("tls.crt", &cert);
    dir.write("tls.key", &key);
    let web = dir.write(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: '{}'\n",
            hash("right horse")
        ),
    );
    let server = Server::start(Some(&web), Duration::from_secs(5)).await;
    let config = client_config(ca.roots(), None);

    let (anonymous, _) = tls(server.port, config.clone(), &get("/metrics", "")).await.unwrap();
    assert_eq!(status(&anonymous), "HTTP/1.1 401 Unauthorized", "{anonymous}");
    assert!(anonymous.to_ascii_lowercase().contains("www-authenticate: basic realm=\"koji-exporter\""), "{anonymous}");
    assert!(!anonymous.contains("koji_up"), "{anonymous}");

    let (wrong, _) = tls(server.port, config.clone(), &get("/metrics", &basic("prometheus", "wrong"))).await.unwrap();
    assert_eq!(status(&wrong), "HTTP/1.1 401 Unauthorized", "{wrong}");
    let (nobody, _) =
        tls(server.port, config.clone(), &get("/metrics", &basic("nobody", "right horse"))).await.unwrap();
    assert_eq!(status(&nobody), "HTTP/1.1 401 Unauthorized", "{nobody}");
    for path in ["/", "/-/ready", "/no-such-page"] {
        let (response, _) = tls(server.port, config.clone(), &get(path, "")).await.unwrap();
        assert_eq!(status(&response), "HTTP/1.1 401 Unauthorized", "{path}: {response}");
    }

    for _ in 0..2 {
        // The second time comes from the verification cache.
        let (right, _) =
            tls(server.port, config.clone(), &get("/metrics", &basic("prometheus", "right horse"))).await.unwrap();
        assert_eq!(status(&right), "HTTP/1.1 200 OK", "{right}");
        assert!(right.contains("koji_up 0"), "{right}");
    }
    let (healthy, _) = tls(server.port, config.clone(), &get("/-/healthy", "")).await.unwrap();
    assert_eq!(status(&healthy), "HTTP/1.1 200 OK", "/-/healthy stays open: {healthy}");

    let plain_answer = plain(server.port, &get("/-/healthy", "")).await;
    assert!(!plain_answer.starts_with("HTTP/1.1 200"), "plain HTTP must not be served on the TLS port: {plain_answer}");
    let untrusted = client_config(Ca::new().roots(), None);
    assert!(tls(server.port, untrusted, &get("/-/healthy", "")).await.is_err(), "a client that does not trust the CA");
    server.stop().await;
}

#[tokio::test]
async fn client_certificates_are_required_when_configured() {
    let dir = TempDir::new("mtls");
    let ca = Ca::new();
    let (cert, key, _) = ca.leaf();
    dir.write("tls.crt", &cert);
    dir.write("tls.key", &key);
    dir.write("ca.pem", &ca.pem());
    let web = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\n",
    );
    let server = Server::start(Some(&web), Duration::from_secs(5)).await;

    let (client_cert, client_key, _) = ca.leaf();
    let with_cert = client_config(ca.roots(), Some((client_cert, client_key)));
    let (answer, _) = tls(server.port, with_cert, &get("/metrics", "")).await.unwrap();
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");

    let stranger = Ca::new();
    let (other_cert, other_key, _) = stranger.leaf();
    for config in [client_config(ca.roots(), None), client_config(ca.roots(), Some((other_cert, other_key)))] {
        let refused = tls(server.port, config, &get("/metrics", "")).await;
        assert!(
            refused.as_ref().map_or(true, |(response, _)| response.is_empty()),
            "no certificate, or one from another CA, must not be served: {refused:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn certificates_and_users_are_re_read_when_their_files_change() {
    let dir = TempDir::new("reload");
    let ca = Ca::new();
    let (cert, key, first_der) = ca.leaf();
    dir.write("tls.crt", &cert);
    dir.write("tls.key", &key);
    let web_text = |password: &str| {
        format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: '{}'\n",
            hash(password)
        )
    };
    let web = dir.write("web.yml", &web_text("old"));
    let server = Server::start(Some(&web), Duration::from_secs(5)).await;
    let config = client_config(ca.roots(), None);
    let request = get("/metrics", &basic("prometheus", "new"));

    let (before, peer) = tls(server.port, config.clone(), &request).await.unwrap();
    assert_eq!(status(&before), "HTTP/1.1 401 Unauthorized");
    assert_eq!(peer, first_der);

    let (cert, key, second_der) = ca.leaf();
    dir.write("tls.key", &key);
    dir.write("tls.crt", &cert);
    dir.write("web.yml", &web_text("new"));
    let (after, peer) = tls(server.port, config.clone(), &request).await.unwrap();
    assert_eq!(status(&after), "HTTP/1.1 200 OK", "the new password is in force: {after}");
    assert_eq!(peer, second_der, "the rotated certificate is served without a restart");

    // A broken file keeps the last good configuration in force.
    dir.write("web.yml", "tls_server_config:\n  cert_file: tls.crt\n");
    let (kept, peer) = tls(server.port, config.clone(), &request).await.unwrap();
    assert_eq!(status(&kept), "HTTP/1.1 200 OK", "{kept}");
    assert_eq!(peer, second_der);
    server.stop().await;
}

#[tokio::test]
async fn without_a_web_config_file_everything_is_plain_and_open() {
    let server = Server::start(None, Duration::from_secs(5)).await;
    let response = plain(server.port, &get("/metrics", "")).await;
    assert_eq!(status(&response), "HTTP/1.1 200 OK", "{response}");
    server.stop().await;
}
