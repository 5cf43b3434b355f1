//! [`ServerLayers`]: the tower-http layers every server wraps its routes in — request ids,
//! a trace span per request, the body limit, a request timeout, and OpenAI bodies for the
//! answers layers and axum produce on their own (405, 408, 413, 504).

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::json::{BodyLimit, DEFAULT_MAX_BODY_BYTES};

/// The request-id header (SPEC §16): the client's value is kept, else a UUID v4 is
/// generated; it is on every response and in the request's trace span.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of a request (set by [`ServerLayers`]), for logs.
pub fn request_id(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The layers of a server.
#[derive(Debug, Clone)]
pub struct ServerLayers {
    /// Largest request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Longest time to produce a response head; `None` for no limit (a server whose
    /// handlers enforce their own deadlines). Past it the request gets 504.
    pub request_timeout: Option<Duration>,
}

impl Default for ServerLayers {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: None,
        }
    }
}

impl ServerLayers {
    /// Wrap `router` (outermost first): request id set, request id copied to the
    /// response, trace span, body limit, OpenAI bodies for bodiless errors, timeout.
    pub fn apply<S: Clone + Send + Sync + 'static>(
        &self,
        router: axum::Router<S>,
    ) -> axum::Router<S> {
        let mut router = router;
        if let Some(t) = self.request_timeout {
            router = router.layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                t,
            ));
        }
        router
            .layer(axum::middleware::map_response(openai_error_bodies))
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
            .layer(Extension(BodyLimit(self.max_body_bytes)))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::info_span!(
                    "http_request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    request_id = request_id(req.headers()),
                )
            }))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
    }
}

/// An error answer without a JSON body (axum's 405 and 413, the timeout's 504) gets an
/// OpenAI error body; every other answer passes untouched.
async fn openai_error_bodies(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let message = match status.as_u16() {
        405 => "method not allowed on this path: see the Allow header".to_string(),
        413 => "request body too large: send a smaller body".to_string(),
        504 => "the request took too long to answer".to_string(),
        _ => format!("{status}"),
    };
    let allow: Option<HeaderValue> = resp.headers().get(header::ALLOW).cloned();
    let mut out = ApiError::for_status(status, message).into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}
