//! The HTTP surface through the router: formats, probes, and requests it must refuse politely.

use axum::http::StatusCode;

use crate::support::{Level, OPENMETRICS_ACCEPT, Response, TestDb, config_for, request, request_on, state_for};

#[tokio::test]
async fn metrics_come_in_the_format_the_scraper_asks_for() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let state = state_for(&db.config());

    let openmetrics = request(&state, "GET", "/metrics", &[("accept", OPENMETRICS_ACCEPT)]).await;
    assert_eq!(openmetrics.status, StatusCode::OK);
    assert_eq!(openmetrics.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(openmetrics.body.ends_with("# EOF\n"));

    for accept in [None, Some("text/plain"), Some("*/*")] {
        let headers: Vec<(&str, &str)> = accept.map(|value| ("accept", value)).into_iter().collect();
        let text = request(&state, "GET", "/metrics", &headers).await;
        assert_eq!(text.status, StatusCode::OK);
        assert_eq!(text.content_type, "text/plain; version=0.0.4; charset=utf-8", "{accept:?}");
        assert!(!text.body.contains("# EOF"));
        assert!(text.body.contains("koji_up 1"), "{}", text.body);
    }
}

#[tokio::test]
async fn probes_landing_page_and_unknown_requests() {
    let db = TestDb::with_fixture(Level::V1_34, "hosts_edge_cases").await;
    let state = state_for(&db.config());

    let landing = request(&state, "GET", "/", &[]).await;
    assert_eq!(landing.status, StatusCode::OK);
    assert!(landing.content_type.starts_with("text/html"));
    assert!(landing.body.contains("href=\"/metrics\""), "{}", landing.body);

    assert_eq!(request(&state, "GET", "/-/healthy", &[]).await.status, StatusCode::OK);
    let ready = request(&state, "GET", "/-/ready", &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert!(ready.body.contains("1.34"), "{}", ready.body);

    assert_eq!(request(&state, "GET", "/nope", &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(request(&state, "POST", "/metrics", &[]).await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(request(&state, "DELETE", "/", &[]).await.status, StatusCode::METHOD_NOT_ALLOWED);
    let head = request(&state, "HEAD", "/-/healthy", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    let odd_accept =
        request(&state, "GET", "/metrics", &[("accept", ";;q=zz,application/openmetrics-text;q=NaN")]).await;
    assert_eq!(odd_accept.status, StatusCode::OK);
}

#[tokio::test]
async fn ready_fails_and_healthy_holds_while_the_database_is_unreachable() {
    // Port 1 on loopback: nothing listens there, so connecting is refused at once.
    let state = state_for(&config_for("postgres://postgres@127.0.0.1:1/koji"));
    assert_eq!(request(&state, "GET", "/-/healthy", &[]).await.status, StatusCode::OK);
    let ready = request(&state, "GET", "/-/ready", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.body.contains("unreachable"), "{}", ready.body);
}

#[tokio::test]
async fn a_custom_telemetry_path_moves_the_metrics() {
    let db = TestDb::new(Level::V1_35).await;
    let mut config = db.config();
    config.web.telemetry_path = "/koji/metrics".into();
    let state = state_for(&config);
    assert_eq!(request(&state, "GET", "/koji/metrics", &[]).await.status, StatusCode::OK);
    assert_eq!(request(&state, "GET", "/metrics", &[]).await.status, StatusCode::NOT_FOUND);
    assert!(request(&state, "GET", "/", &[]).await.body.contains("href=\"/koji/metrics\""));
}

#[tokio::test]
async fn the_inventory_is_a_target_of_its_own() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let state = state_for(&db.config());
    let inventory = request(&state, "GET", "/metrics/inventory", &[("accept", OPENMETRICS_ACCEPT)]).await;
    assert_eq!(inventory.status, StatusCode::OK);
    assert!(inventory.body.ends_with("# EOF\n"));
    for own in ["koji_up 1", "koji_exporter_build_info{", "koji_exporter_collector_success{collector=\"tasks\"} 1"] {
        assert!(inventory.body.contains(own), "{own} missing:\n{}", inventory.body);
    }
    assert!(!inventory.body.contains("koji_host_enabled"), "operational series stay off the inventory");
    assert!(request(&state, "GET", "/", &[]).await.body.contains("href=\"/metrics/inventory\""));

    let mut config = db.config();
    config.web.inventory_path = "/koji/inventory".into();
    let moved = state_for(&config);
    assert_eq!(request(&moved, "GET", "/koji/inventory", &[]).await.status, StatusCode::OK);
    assert_eq!(request(&moved, "GET", "/metrics/inventory", &[]).await.status, StatusCode::NOT_FOUND);
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text).expect("a gzip stream");
    text
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers.get(name).map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn gzip_is_served_to_clients_that_ask_and_decompresses_to_the_identity_body() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    let mut config = db.config();
    // Requests that wait for another's collection must not run out of time on a busy machine.
    config.web.scrape_timeout_seconds = 30.0;
    let state = state_for(&config);
    let router = koji_exporter::http::app(state.clone());
    for accept in [OPENMETRICS_ACCEPT, "text/plain"] {
        // Requests that arrive together share one collection, so their bodies are comparable.
        let asks_gzip = [("accept", accept), ("accept-encoding", "gzip")];
        let asks_nothing = [("accept", accept)];
        let refuses_gzip = [("accept", accept), ("accept-encoding", "gzip;q=0, identity")];
        let asks_others = [("accept", accept), ("accept-encoding", "br, zstd")];
        let (gzip, identity, refused, unknown) = tokio::join!(
            request_on(&router, "GET", "/metrics", &asks_gzip),
            request_on(&router, "GET", "/metrics", &asks_nothing),
            request_on(&router, "GET", "/metrics", &refuses_gzip),
            request_on(&router, "GET", "/metrics", &asks_others),
        );
        for answer in [&gzip, &identity, &refused, &unknown] {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        }
        assert_eq!(header(&gzip, "content-encoding"), Some("gzip"));
        assert_eq!(header(&gzip, "vary"), Some("Accept-Encoding"));
        assert_eq!(gzip.content_type, identity.content_type);
        assert!(identity.body.contains("koji_up 1"), "{}", identity.body);
        let unpacked = gunzip(&gzip.bytes);
        let differ: Vec<(&str, &str)> =
            unpacked.lines().zip(identity.body.lines()).filter(|(a, b)| a != b).take(5).collect();
        assert!(unpacked == identity.body, "{accept}: {differ:?}");
        assert!(
            gzip.bytes.len() * 3 < identity.bytes.len(),
            "compressed: {} of {}",
            gzip.bytes.len(),
            identity.bytes.len()
        );
        for plain in [&identity, &refused, &unknown] {
            assert_eq!(header(plain, "content-encoding"), None);
            assert_eq!(header(plain, "vary"), Some("Accept-Encoding"));
            assert_eq!(plain.body, identity.body);
        }
    }
    // HEAD answers with the headers of a GET and no body; the probes are not compressed.
    let head = request(&state, "HEAD", "/metrics", &[("accept-encoding", "gzip")]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    assert!(head.bytes.is_empty());
    for probe in ["/-/healthy", "/-/ready", "/"] {
        let answer = request(&state, "GET", probe, &[("accept-encoding", "gzip")]).await;
        assert_eq!(answer.status, StatusCode::OK, "{probe}");
        assert_eq!(header(&answer, "content-encoding"), None, "{probe}");
        assert!(answer.body.is_ascii() && !answer.body.is_empty(), "{probe}");
    }
}
