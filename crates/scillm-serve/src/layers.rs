//! [`ServerLayers`]: the tower-http layers every server wraps its routes in — request ids,
//! a trace span per request (child of the caller's W3C `traceparent`), one log line per
//! answer, request counts for `/metrics`, the body limit, a request timeout, and OpenAI
//! bodies for the answers layers and axum produce on their own (405, 408, 413, 504).

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use scillm_telemetry::record;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::json::{BodyLimit, DEFAULT_MAX_BODY_BYTES};

/// The request-id header (SPEC §16): the client's value is kept, else a UUID v4 is
/// generated; it is on every response and in the request's trace span (so in every log
/// line written while the request is handled).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of a request (set by [`ServerLayers`]), for logs.
pub fn request_id(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// When the server started on a request (before its body was read): a request extension
/// set by [`ServerLayers`], so a handler can fit its own deadline inside the layers'
/// request timeout.
#[derive(Debug, Clone, Copy)]
pub struct RequestStart(pub Instant);

/// The layers of a server.
#[derive(Debug, Clone)]
pub struct ServerLayers {
    /// The server's name in metrics and logs (`sidecar`, `mini_agent`, `gateway`): the
    /// `component` label of `scillm_http_requests_total` and `scillm_in_flight`.
    pub component: &'static str,
    /// Largest request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Longest time to produce a response head; `None` for no limit (a server whose
    /// handlers enforce their own deadlines). Past it the request gets 504.
    pub request_timeout: Option<Duration>,
}

impl ServerLayers {
    /// The layers of `component` with the default body limit and no request timeout.
    pub fn new(component: &'static str) -> Self {
        Self {
            component,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: None,
        }
    }

    /// Wrap `router` (outermost first): [`RequestStart`], request id set, request id copied
    /// to the response, trace span (parent: the inbound `traceparent`) with one log line per
    /// answer, request counting, body limit, OpenAI bodies for bodiless errors, timeout.
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
            .layer(axum::middleware::from_fn_with_state(
                Component(self.component),
                count_requests,
            ))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(log_answer)
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(axum::middleware::map_request(mark_start))
    }
}

/// Note when the request arrived ([`RequestStart`]).
async fn mark_start(mut req: Request) -> Request {
    req.extensions_mut().insert(RequestStart(Instant::now()));
    req
}

/// The span of one inbound request: method, path and request id; its parent is the trace
/// of the request's W3C `traceparent` when there is one (SPEC §16).
fn request_span(req: &Request) -> tracing::Span {
    let span = tracing::info_span!(
        "http_request",
        otel.name = format!("{} {}", req.method(), req.uri().path()),
        otel.kind = "server",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = request_id(req.headers()),
    );
    scillm_telemetry::propagation::set_parent_from(&span, req.headers());
    span
}

/// One log line per answer, inside the request's span (so it carries the request id):
/// the status and the time to the response head.
fn log_answer(resp: &Response, latency: Duration, _span: &tracing::Span) {
    tracing::info!(
        status = resp.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request answered"
    );
}

#[derive(Debug, Clone, Copy)]
struct Component(&'static str);

/// Count the request in `scillm_in_flight{component}` until its response head is ready,
/// then in `scillm_http_requests_total{component,status}`.
async fn count_requests(State(c): State<Component>, req: Request, next: Next) -> Response {
    let _in_flight = record::InFlight::start(c.0);
    let resp = next.run(req).await;
    record::http_request(c.0, resp.status().as_u16());
    resp
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
