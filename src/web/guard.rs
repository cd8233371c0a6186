//! The request guard: basic authentication in front of every route but `/-/healthy`.
//!
//! `/-/healthy` stays open so that a process supervisor or load balancer can probe liveness
//! without credentials; it says nothing but "OK". Everything else, the landing page and
//! `/-/ready` (which names the schema level) included, needs a configured user's password once
//! the web configuration file lists users. Unknown paths answer 401 too, so that an anonymous
//! client learns nothing about which paths exist. A refused request also closes its connection,
//! so that a client guessing passwords holds a connection only while one guess is checked;
//! when password checks are saturated (`auth::Verdict::Busy`) the answer is 503.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Verdict;
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
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let mut response = match users.check(request.headers()).await {
        Verdict::Allowed => return next.run(request).await,
        Verdict::Denied => {
            tracing::debug!(path = %request.uri().path(), "request without valid credentials refused");
            let mut response =
                (StatusCode::UNAUTHORIZED, "unauthorized: this exporter needs a user name and password\n")
                    .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
            response
        }
        Verdict::Busy => {
            tracing::debug!(path = %request.uri().path(), "password checks saturated; request refused");
            let mut response =
                (StatusCode::SERVICE_UNAVAILABLE, "password checks are busy; try again\n").into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    };
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
