//! The HTTP surface: metrics, a landing page and the two health probes.
//!
//! [`app`] builds the router without binding a socket, so tests drive it with `oneshot`;
//! [`serve`] puts it behind the web configuration's authentication and `crate::web`'s listener.
//! The metrics handler answers 200 whatever the database does: a sick database shows as
//! `koji_up 0` and failed families in the body, which Prometheus can alert on, instead of a
//! failed scrape that looks the same as a dead exporter. The one 503 is for a scrape whose
//! deadline passed while it waited for another scrape's collection: the exporter, not the
//! database, could not answer in time, and an empty body would claim `koji_up 0`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;

use crate::collect::Collector;
use crate::exposition::{self, BuildInfo, InventoryData, Target};
use crate::web::{Limits, Security, guard};

/// Scrape deadline margin kept free below Prometheus' own timeout, for encoding and the network.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// Shortest deadline a scrape gets, however small the scraper's timeout header.
const MIN_DEADLINE: Duration = Duration::from_millis(100);

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub collector: Arc<Collector>,
    /// Requests served at once; more are refused with 503 rather than queued.
    pub max_requests: usize,
    pub telemetry_path: String,
    /// The inventory's path (per-tag and per-package series, a target of its own).
    pub inventory_path: String,
    pub scrape_timeout: Duration,
    pub build: BuildInfo,
    /// The last rendered answer, shared by the scrapes that share its collection.
    pub rendered: Arc<RenderedCache>,
}

/// One rendered body per collection, format and content coding: scrapes that share a collection
/// also share its body (a reference count, not a copy each), so clients that are slow to read
/// hold little of their own, and a gzip body is compressed once per collection and format, not
/// once per request. A body is encoded straight into its final buffer (the compressor, for
/// gzip), and a body of an older collection is let go as soon as a newer one is rendered.
/// Each target has a slot of its own, so that a scrape of one never evicts the other's body.
#[derive(Debug, Default)]
pub struct RenderedCache([tokio::sync::Mutex<Option<Rendered>>; 2]);

#[derive(Debug)]
struct Rendered {
    snapshot: Arc<crate::collect::Snapshot>,
    bodies: Vec<((exposition::Format, Encoding), Bytes)>,
}

impl RenderedCache {
    /// The body of `snapshot` in `format` and `encoding`, rendered by `render` unless a scrape of
    /// the same collection did it already. Scrapes that arrive while it renders wait for it.
    /// `prepare` reads what the body needs beyond the snapshot; it runs only when rendering.
    async fn get_or_render<P>(
        &self,
        target: Target,
        snapshot: &Arc<crate::collect::Snapshot>,
        (format, encoding): (exposition::Format, Encoding),
        prepare: impl Future<Output = P>,
        render: impl FnOnce(P, &mut dyn std::fmt::Write),
    ) -> Bytes {
        let mut slot = self.0[target as usize].lock().await;
        if let Some(rendered) = slot.as_ref()
            && Arc::ptr_eq(&rendered.snapshot, snapshot)
            && let Some((_, body)) = rendered.bodies.iter().find(|(key, _)| *key == (format, encoding))
        {
            return body.clone();
        }
        // The previous collection's body of the same kind says how large this one will be: the
        // buffer is sized once instead of doubling (a doubled buffer holds up to twice the body).
        // The older collection's bodies are let go before the new one is rendered, so that two
        // large bodies of one target are never held at once (answers still being sent keep
        // their own reference).
        let size_hint = slot
            .as_ref()
            .and_then(|rendered| rendered.bodies.iter().find(|(key, _)| *key == (format, encoding)))
            .map_or(0, |(_, body)| body.len() + body.len() / 16);
        if slot.as_ref().is_some_and(|rendered| !Arc::ptr_eq(&rendered.snapshot, snapshot)) {
            *slot = None;
        }
        let prepared = prepare.await;
        let body = encoding.encode(size_hint, |out| render(prepared, out));
        match slot.as_mut() {
            Some(rendered) if Arc::ptr_eq(&rendered.snapshot, snapshot) => {
                rendered.bodies.push(((format, encoding), body.clone()));
            }
            _ => {
                *slot =
                    Some(Rendered { snapshot: Arc::clone(snapshot), bodies: vec![((format, encoding), body.clone())] })
            }
        }
        body
    }
}

/// The content codings the metrics paths serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// Writes a body through `render` into a buffer of this coding.
    /// `size_hint` is the expected size of the result. The buffer becomes the body as it is
    /// (`Bytes::from` takes it over, no copy).
    fn encode(self, size_hint: usize, render: impl FnOnce(&mut dyn std::fmt::Write)) -> Bytes {
        match self {
            Encoding::Identity => {
                let mut text = String::with_capacity(size_hint);
                render(&mut text);
                Bytes::from(text)
            }
            Encoding::Gzip => {
                let buffer = Vec::with_capacity(size_hint);
                let mut writer = GzipWriter(flate2::write::GzEncoder::new(buffer, flate2::Compression::default()));
                render(&mut writer);
                // Finishing a compressor that writes into memory cannot fail.
                Bytes::from(writer.0.finish().unwrap_or_default())
            }
        }
    }
}

/// Text written straight into a gzip stream.
struct GzipWriter(flate2::write::GzEncoder<Vec<u8>>);

impl std::fmt::Write for GzipWriter {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        std::io::Write::write_all(&mut self.0, text.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

/// Picks the content coding from an `Accept-Encoding` header (RFC 9110): gzip when the client
/// ranks it (or `*`) above zero and at least as high as identity, identity otherwise, also when
/// the client refused identity too (a body it can read beats a 406). Prometheus asks for gzip.
pub fn negotiate_encoding(accept_encoding: Option<&str>) -> Encoding {
    let Some(header) = accept_encoding else { return Encoding::Identity };
    let (mut gzip, mut identity, mut any): (Option<f32>, Option<f32>, Option<f32>) = (None, None, None);
    for (coding, q) in exposition::weighted_items(header) {
        let q = q.filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0);
        let slot = match coding.as_str() {
            "gzip" | "x-gzip" => &mut gzip,
            "identity" => &mut identity,
            "*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |seen: f32| seen.max(q)));
    }
    let gzip = gzip.or(any).unwrap_or(0.0);
    // Identity is acceptable unless the client excludes it, by name or through `*`.
    let identity = identity.or(any).unwrap_or(1.0);
    if gzip > 0.0 && gzip >= identity { Encoding::Gzip } else { Encoding::Identity }
}

/// The routes with the request cap, without authentication (tests, and a file without users).
pub fn app(state: AppState) -> Router {
    routes(state)
}

/// The routes behind the web configuration's authentication. Authentication comes first, so
/// that clients without valid credentials never take one of the request cap's slots (password
/// checks are bounded on their own, in `web::auth`); `/-/healthy` is outside the cap, so that a
/// liveness probe answers however busy the scrapes are.
pub fn secured_app(state: AppState, security: Arc<Security>) -> Router {
    routes(state).layer(axum::middleware::from_fn_with_state(security, guard::require_credentials))
}

/// `/-/healthy` uncapped; everything else under the request cap.
fn routes(state: AppState) -> Router {
    let capped = Router::new()
        .route("/", get(landing_page))
        .route(&state.telemetry_path.clone(), get(metrics))
        .route(&state.inventory_path.clone(), get(inventory))
        .route("/-/ready", get(ready))
        .fallback(not_found)
        .with_state(state.clone());
    Router::new().route("/-/healthy", get(healthy)).merge(with_request_cap(capped, state.max_requests))
}

fn with_request_cap(router: Router, max_requests: usize) -> Router {
    let overload = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: BoxError| async {
            (StatusCode::SERVICE_UNAVAILABLE, "too many concurrent requests; try again\n")
        }))
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::new(max_requests.max(1)));
    router.layer(overload)
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    security: Arc<Security>,
    limits: Limits,
) -> std::io::Result<()> {
    let router = secured_app(state, Arc::clone(&security));
    crate::web::serve(listener, router, security, limits, shutdown_signal()).await
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(state, headers, Target::Operational).await
}

async fn inventory(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(state, headers, Target::Inventory).await
}

/// A target's answer. The inventory's per-tag task counts are copied from the engine only when
/// its body is rendered (once per collection); the operational answer never reads them.
async fn answer(state: AppState, headers: HeaderMap, target: Target) -> Response {
    let deadline = scrape_deadline(state.scrape_timeout, &headers);
    let format = exposition::negotiate(headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()));
    let encoding = negotiate_encoding(headers.get(header::ACCEPT_ENCODING).and_then(|value| value.to_str().ok()));
    let snapshot = match state.collector.scrape(deadline).await {
        Ok(snapshot) => snapshot,
        Err(busy) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{busy}; try again\n")).into_response(),
    };
    let collector = &state.collector;
    let body = state
        .rendered
        .get_or_render(
            target,
            &snapshot,
            (format, encoding),
            async {
                match target {
                    Target::Operational => InventoryData::default(),
                    Target::Inventory => InventoryData { tag_tasks: collector.tag_task_totals().await },
                }
            },
            |inventory, out| {
                exposition::render_into(target, &snapshot, &inventory, &state.build, format, &mut WriteRef(out));
            },
        )
        .await;
    let mut response =
        ([(header::CONTENT_TYPE, format.content_type()), (header::VARY, "Accept-Encoding")], body).into_response();
    if encoding == Encoding::Gzip {
        response.headers_mut().insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
    }
    response
}

/// A `dyn Write` as a sized writer, for the encoder's generic parameter.
struct WriteRef<'a>(&'a mut dyn std::fmt::Write);

impl std::fmt::Write for WriteRef<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.write_str(text)
    }
}

/// The configured timeout, lowered to Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` minus
/// a margin when the scraper sends one. A header that does not parse is ignored.
pub fn scrape_deadline(configured: Duration, headers: &HeaderMap) -> Duration {
    let from_header = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds < 86_400.0)
        .map(|seconds| Duration::from_secs_f64(seconds).saturating_sub(DEADLINE_MARGIN));
    from_header.map_or(configured, |limit| configured.min(limit)).max(MIN_DEADLINE)
}

async fn healthy() -> &'static str {
    "OK\n"
}

/// Ready when a connection answers and a Koji schema was detected on it.
async fn ready(State(state): State<AppState>) -> Response {
    let database = state.collector.database();
    let answered = database.acquire(Duration::from_secs(2)).await;
    match (answered, database.features()) {
        (Ok(_), Some(features)) if features.is_koji() => {
            (StatusCode::OK, format!("ready: Koji schema {}\n", features.level())).into_response()
        }
        (Ok(_), Some(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database holds no Koji schema (no host tables); point database.url at the Koji database\n",
        )
            .into_response(),
        (Ok(_), None) => (StatusCode::SERVICE_UNAVAILABLE, "not ready: schema not detected yet\n").into_response(),
        (Err(error), _) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: database unreachable: {error}\n")).into_response()
        }
    }
}

async fn landing_page(State(state): State<AppState>) -> Html<String> {
    let path = html_escape(&state.telemetry_path);
    let inventory = html_escape(&state.inventory_path);
    let version = state.build.version;
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>koji-exporter</title></head><body>\n\
         <h1>koji-exporter {version}</h1>\n\
         <p>Prometheus exporter for the Koji build system, reading its database read-only.</p>\n\
         <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"{inventory}\">Inventory</a> (per tag and package)</li><li><a href=\"/-/healthy\">Healthy</a></li>\
         <li><a href=\"/-/ready\">Ready</a></li></ul>\n</body></html>\n"
    ))
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scrapes_of_one_collection_share_one_body() {
        use exposition::Format::{OpenMetrics, Text};
        let cache = RenderedCache::default();
        let snapshot = Arc::new(crate::collect::Snapshot::default());
        const OP: Target = Target::Operational;
        let body = |text: &'static str| move |(): (), out: &mut dyn std::fmt::Write| out.write_str(text).unwrap();
        let none = |_: (), _: &mut dyn std::fmt::Write| panic!("rendered twice");
        let first = cache.get_or_render(OP, &snapshot, (Text, Encoding::Identity), async {}, body("body")).await;
        let again = cache.get_or_render(OP, &snapshot, (Text, Encoding::Identity), async {}, none).await;
        assert_eq!(first.as_ptr(), again.as_ptr(), "the same bytes, not a copy");
        let other_format =
            cache.get_or_render(OP, &snapshot, (OpenMetrics, Encoding::Identity), async {}, body("om")).await;
        assert_eq!(&other_format[..], b"om");
        let gzip = cache.get_or_render(OP, &snapshot, (Text, Encoding::Gzip), async {}, body("body")).await;
        let gzip_again = cache.get_or_render(OP, &snapshot, (Text, Encoding::Gzip), async {}, none).await;
        assert_eq!(gzip.as_ptr(), gzip_again.as_ptr());
        let mut unpacked = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut unpacked).unwrap();
        assert_eq!(unpacked, "body");
        let inventory =
            cache.get_or_render(Target::Inventory, &snapshot, (Text, Encoding::Identity), async {}, body("inv")).await;
        assert_eq!(&inventory[..], b"inv", "each target has its own body");
        let next = Arc::new(crate::collect::Snapshot::default());
        let fresh = cache.get_or_render(OP, &next, (Text, Encoding::Identity), async {}, body("new")).await;
        assert_eq!(&fresh[..], b"new", "a new collection is rendered");
        let third = Arc::new(crate::collect::Snapshot::default());
        cache.get_or_render(OP, &third, (Text, Encoding::Identity), async {}, body("3")).await;
        assert_eq!(Arc::strong_count(&next), 1, "the older collection and its bodies are let go");
        let kept = cache.get_or_render(Target::Inventory, &snapshot, (Text, Encoding::Identity), async {}, none).await;
        assert_eq!(kept.as_ptr(), inventory.as_ptr(), "a scrape of the other target does not evict it");
    }

    #[test]
    fn gzip_is_chosen_by_q_values() {
        use Encoding::{Gzip, Identity};
        for (header, expected) in [
            (None, Identity),
            (Some(""), Identity),
            (Some("gzip"), Gzip),
            (Some("GZIP"), Gzip),
            (Some("x-gzip"), Gzip),
            (Some("deflate, gzip;q=1.0, *;q=0.5"), Gzip),
            (Some("gzip;q=0"), Identity),
            (Some("gzip;q=0.5, identity"), Identity),
            (Some("gzip;q=0.5, identity;q=0.5"), Gzip),
            (Some("identity;q=0"), Identity),
            (Some("identity;q=0, *"), Gzip),
            (Some("*"), Gzip),
            (Some("*;q=0"), Identity),
            (Some("br, zstd, deflate"), Identity),
            (Some("gzip;q=abc"), Identity),
            (Some("gzip;q=2"), Identity),
            (Some(";;,,gzip;;q=0.3"), Identity),
            (Some(";;,,gzip;;q=0.3, identity;q=0.1"), Gzip),
        ] {
            assert_eq!(negotiate_encoding(header), expected, "{header:?}");
        }
    }

    #[test]
    fn deadline_follows_the_scrapers_timeout() {
        let configured = Duration::from_secs(8);
        let mut headers = HeaderMap::new();
        assert_eq!(scrape_deadline(configured, &headers), configured);
        headers.insert("x-prometheus-scrape-timeout-seconds", "3".parse().unwrap());
        assert_eq!(scrape_deadline(configured, &headers), Duration::from_millis(2500));
        headers.insert("x-prometheus-scrape-timeout-seconds", "30".parse().unwrap());
        assert_eq!(scrape_deadline(configured, &headers), configured);
        headers.insert("x-prometheus-scrape-timeout-seconds", "0.2".parse().unwrap());
        assert_eq!(scrape_deadline(configured, &headers), MIN_DEADLINE);
        headers.insert("x-prometheus-scrape-timeout-seconds", "soon".parse().unwrap());
        assert_eq!(scrape_deadline(configured, &headers), configured);
    }
}
