//! The request guard: basic authentication in front of every route but `/-/healthy`.
//!
//! `/-/healthy` stays open so that a process supervisor or load balancer can probe liveness
//! without credentials; it says nothing but "OK". Everything else, the landing page and
//! `/-/ready` (which names the schema level) included, needs a configured user's password once
//! the web configuration file lists users. Unknown paths answer 401 too, so that an anonymous
//! client learns nothing about which paths exist.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::security::Security;

/// The challenge sent with a 401.
pub const CHALLENGE: &str = "Basic realm=\"koji-exporter\", charset=\"UTF-8\"";

/// Paths served without credentials.
const OPEN_PATHS: [&str; 1] = ["/-/healthy"];

pub async fn require_credentials(State(security): State<Arc<Security>>, request: Request, next: Next) -> Response {
    let active = security.current();
    let Some(users) = active.users.as_ref().filter(|users| !users.is_empty()) else {
        return next.run(request).await;
    };
    if OPEN_PATHS.contains(&request.uri().path()) || users.allows(request.headers()).await {
        return next.run(request).await;
    }
    tracing::debug!(path = %request.uri().path(), "request without valid credentials refused");
    let mut response =
        (StatusCode::UNAUTHORIZED, "unauthorized: this exporter needs a user name and password\n").into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
    response
}
