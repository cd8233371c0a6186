//! The listener: accepts TCP connections, speaks TLS when configured, and serves the router
//! over HTTP/1.1 with limits that a hostile client cannot get around.
//!
//! axum's own `serve` sets no header read timeout, so a client that sends its headers one
//! byte at a time (slowloris) could hold a connection forever. Here hyper closes a connection
//! whose request headers (or TLS handshake) are not complete within `header_read_timeout`,
//! which also ends idle keep-alive connections after that time; request headers larger than
//! [`MAX_HEADER_BYTES`] or more than [`MAX_HEADERS`] of them get 431. A client that stops
//! reading its answer is disconnected once a write has made no progress for `write_timeout`
//! (the answer would otherwise stay in memory for as long as the client likes), and at most
//! `max_connections` connections are open at once: further ones wait in the kernel's listen
//! backlog until one closes, as Go's `netutil.LimitListener` does. When accepting fails (out of
//! file descriptors), the loop backs off up to [`ACCEPT_BACKOFF_MAX`] and logs one line per
//! [`LOG_EVERY`] with the number of failures it did not log. Shutdown stops accepting, lets
//! requests in flight finish for up to [`SHUTDOWN_GRACE`], then returns.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;

use super::security::Security;

/// Largest request head accepted (request line and headers); beyond it the answer is 431.
/// Prometheus sends well under 1 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields accepted in one request; beyond it the answer is 431.
pub const MAX_HEADERS: usize = 64;
/// How long requests in flight may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Longest pause between two attempts to accept after accepting failed.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A repeated failure of the accept loop is logged at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to complete its TLS handshake, and then each request's headers.
    pub header_read_timeout: Duration,
    /// A connection whose writes make no progress for this long is closed.
    pub write_timeout: Duration,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
}

/// One log line per [`LOG_EVERY`] for a repeated event, counting the ones not logged.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// Some(number not logged since the last line) when this occurrence should be logged.
    fn hit(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < LOG_EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    security: Arc<Security>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (mut accept_failures, mut at_cap) = (Throttle::default(), Throttle::default());
    let mut backoff = Duration::ZERO;
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Some(suppressed) = at_cap.hit() {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        suppressed,
                        "connection cap reached; new connections wait until one closes"
                    );
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => {
                backoff = Duration::ZERO;
                accepted
            }
            Err(error) => {
                // Out of file descriptors and the like: back off rather than spin, and log a
                // line now and then rather than one per attempt.
                if let Some(suppressed) = accept_failures.hit() {
                    tracing::warn!(%error, suppressed, "accepting a connection failed");
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(10), ACCEPT_BACKOFF_MAX);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {},
                    () = &mut shutdown => break,
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        let stream = Box::pin(stream);
        let tls = security.current().tls.clone();
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await;
                    let Ok(Ok(stream)) = handshake else {
                        tracing::debug!("TLS handshake failed or timed out");
                        return;
                    };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after the shutdown grace period were cut");
    }
    Ok(())
}
