//! TLS to PostgreSQL. The local server of the development and CI machines runs with Debian's
//! default `ssl = on` and its self-signed "snakeoil" certificate for `localhost`, which serves
//! as its own root for `verify-full`.
//!
//! The driver adds `sslrootcert` to the system's trust store instead of replacing it (libpq
//! replaces it); README.md says so. Certificate chains are therefore not tested against an
//! unrelated root here, only that verification happens at all (a wrong host name fails).

use std::path::Path;

use koji_exporter::config::SslMode;

use crate::support::{Level, TestDb, scrape, state_for};

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

async fn server_has_tls(db: &TestDb) -> bool {
    let ssl: String = sqlx::query_scalar("show ssl").fetch_one(&db.writer).await.unwrap();
    ssl == "on"
}

#[tokio::test]
async fn sessions_use_tls_when_asked_and_verify_the_server() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    if !server_has_tls(&db).await || !Path::new(SNAKEOIL).exists() {
        eprintln!("the test server has no TLS (ssl = off or no snakeoil certificate); nothing to check here");
        return;
    }

    let mut config = db.config();
    config.database.sslmode = Some(SslMode::Require);
    let state = state_for(&config);
    assert_eq!(scrape(&state).await.value("koji_up"), 1.0);
    let database = koji_exporter::db::Database::connect_lazy(&config.database).unwrap();
    let encrypted: bool = sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    assert!(encrypted, "sslmode=require must give an encrypted session");

    let mut verified = db.config();
    verified.database.host = Some("localhost".into());
    verified.database.sslmode = Some(SslMode::VerifyFull);
    verified.database.sslrootcert = Some(SNAKEOIL.into());
    assert_eq!(scrape(&state_for(&verified)).await.value("koji_up"), 1.0, "verify-full with the right root");

    let mut wrong_name = verified.clone();
    wrong_name.database.host = Some("127.0.0.1".into());
    assert_eq!(scrape(&state_for(&wrong_name)).await.value("koji_up"), 0.0, "the certificate names localhost only");
}
