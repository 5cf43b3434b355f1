//! `POST /v1/chat/completions` (and `/chat/completions`), streamed or not, over the
//! Router (SPEC §17).
//!
//! Order of checks: the key (401), the body (400/413/415), the model (404 listing the
//! model names), the key's models (403), the key's rpm/tpm (429), then the Router
//! (routing, failover, cooldowns, JSON checks as SPEC §6 and §13). Upstream failures map
//! by SPEC §11 ([`ApiError::from_upstream`]); when every target is rate-limited the
//! Router's `rate_limited` error becomes 429 with `Retry-After`.
//!
//! Every answer carries `x-scillm-deployment` (the deployment that answered, or was tried
//! last), `x-scillm-attempts` (upstream calls made) and `x-scillm-overhead-ms` (time
//! spent in the gateway itself: for a non-stream answer the handler's time minus the
//! Router's upstream time and its waits for slots and rate-limit capacity (those are
//! `queue_ms`); for a stream the time before the first upstream call).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use futures::StreamExt;
use scillm_core::config::secs;
use scillm_router::RouterRequest;
use scillm_serve::{ApiError, ApiJson, RequestStart};
use serde_json::Value;

use crate::keys::{estimate_tokens, ClientKey};
use crate::routes::SharedKey;
use crate::state::Gateway;

/// `x-scillm-deployment`.
pub const DEPLOYMENT_HEADER: HeaderName = HeaderName::from_static("x-scillm-deployment");
/// `x-scillm-attempts`.
pub const ATTEMPTS_HEADER: HeaderName = HeaderName::from_static("x-scillm-attempts");
/// `x-scillm-overhead-ms`.
pub const OVERHEAD_HEADER: HeaderName = HeaderName::from_static("x-scillm-overhead-ms");

/// The routing facts every answer's headers carry.
#[derive(Debug, Default)]
struct Routing {
    deployment: Option<String>,
    attempts: u32,
    overhead_ms: f64,
}

impl Routing {
    fn apply(&self, resp: &mut Response) {
        let h = resp.headers_mut();
        let deployment = self.deployment.as_deref().unwrap_or("none");
        if let Ok(v) = HeaderValue::from_str(deployment) {
            h.insert(DEPLOYMENT_HEADER, v);
        }
        h.insert(ATTEMPTS_HEADER, HeaderValue::from(self.attempts));
        if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", self.overhead_ms)) {
            h.insert(OVERHEAD_HEADER, v);
        }
    }

    fn answer(&self, resp: impl IntoResponse) -> Response {
        let mut resp = resp.into_response();
        self.apply(&mut resp);
        resp
    }
}

/// Add the routing headers of an answer given before any routing (deployment `none`, 0
/// attempts) — e.g. the key check's 401 on a chat path.
pub fn add_unrouted_headers(resp: &mut Response, started: Instant) {
    Routing {
        deployment: None,
        attempts: 0,
        overhead_ms: ms(started),
    }
    .apply(resp);
}

/// Whether `path` is a chat-completions path.
pub fn is_chat_path(path: &str) -> bool {
    path == "/v1/chat/completions" || path == "/chat/completions"
}

/// The chat handler.
pub async fn chat_completions(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    arrived: Option<Extension<RequestStart>>,
    body: Result<ApiJson<Value>, ApiError>,
) -> Response {
    let started = Instant::now();
    let mut routing = Routing::default();
    let mut prepared = match body.and_then(|ApiJson(body)| prepare(&gw, key.as_deref(), body)) {
        Ok(p) => p,
        Err(e) => {
            routing.overhead_ms = ms(started);
            return routing.answer(e);
        }
    };
    if prepared.stream {
        return stream(gw, prepared.request, started).await;
    }
    let config = gw.config();
    if let (Some(limit), Some(Extension(RequestStart(at)))) =
        (config.gateway.request_timeout_s, arrived)
    {
        let own = prepared
            .request
            .timeout
            .or(config.router.timeout_s.map(secs));
        prepared.request.timeout = Some(fit_into_request_timeout(own, at, secs(limit)));
    }
    let result = gw.router().completion(prepared.request).await;
    routing.deployment = result.meta.deployment.clone();
    routing.attempts = result.attempts;
    routing.overhead_ms = started
        .elapsed()
        .saturating_sub(result.elapsed)
        .saturating_sub(result.queued)
        .as_secs_f64()
        * 1e3;
    match &result.error {
        Some(e) => routing.answer(ApiError::from_upstream(e)),
        None => routing.answer(Json(result.to_value())),
    }
}

/// How much sooner than `[gateway] request_timeout_s` the Router's own deadline falls, so
/// that it, not the server's timeout layer, ends a request that runs out of time: its 504
/// then names the deployment that was too slow and the attempts made, and the item is
/// recorded as a timeout.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// The Router timeout of a request whose own timeout (its `timeout`, else `[router]
/// timeout_s`) is `own`: inside the gateway's request timeout `limit` counted from
/// `arrived`, an earlier one of its own kept.
fn fit_into_request_timeout(own: Option<Duration>, arrived: Instant, limit: Duration) -> Duration {
    let left = (arrived + limit)
        .saturating_duration_since(Instant::now())
        .saturating_sub(DEADLINE_MARGIN);
    own.map_or(left, |own| own.min(left))
}

/// A checked request, ready for the Router.
struct Prepared {
    request: RouterRequest,
    stream: bool,
}

/// Check the body, the model, the key's models and limits.
fn prepare(gw: &Gateway, key: Option<&ClientKey>, body: Value) -> Result<Prepared, ApiError> {
    gw.catalog().check(key, &body)?;
    if let Some(k) = key {
        k.admit(estimate_tokens(&body))?;
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let request = RouterRequest::from_value(body).map_err(|e| ApiError::from_upstream(&e))?;
    if let Err(e) = request.request.validate() {
        return Err(e.into());
    }
    Ok(Prepared { request, stream })
}

/// Stream the answer as server-sent events ending with `data: [DONE]`; an error after
/// the first chunk is sent as an `{"error":…}` event before the end.
async fn stream(gw: Gateway, request: RouterRequest, started: Instant) -> Response {
    let overhead_ms = ms(started);
    let chunks = match gw.router().stream_completion(request).await {
        Ok(routed) => {
            let routing = Routing {
                deployment: routed.meta.deployment,
                attempts: routed.attempts,
                overhead_ms,
            };
            return routing.answer(Sse::new(sse_events(routed.stream)));
        }
        Err(failed) => failed,
    };
    let routing = Routing {
        deployment: chunks.meta.deployment.clone(),
        attempts: chunks.attempts,
        overhead_ms,
    };
    match &chunks.error {
        Some(e) => routing.answer(ApiError::from_upstream(e)),
        None => routing.answer(ApiError::internal(
            "stream",
            "the stream failed without an error".to_string(),
        )),
    }
}

/// The chunks as server-sent events ending with `data: [DONE]`; an error after the first
/// chunk is sent as an `{"error":…}` event before the end.
fn sse_events(
    chunks: scillm_core::ChunkStream,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    chunks
        .map(|item| match item {
            Ok(chunk) => match serde_json::to_string(&chunk) {
                Ok(json) => (Event::default().data(json), false),
                Err(e) => (
                    error_event(&ApiError::internal("serialise", e.to_string())),
                    true,
                ),
            },
            Err(e) => (error_event(&ApiError::from_upstream(&e)), true),
        })
        .scan(false, |ended, (event, is_error)| {
            if *ended {
                return futures::future::ready(None);
            }
            *ended = is_error;
            futures::future::ready(Some(event))
        })
        .chain(futures::stream::once(async {
            Event::default().data("[DONE]")
        }))
        .map(Ok::<_, Infallible>)
}

fn error_event(e: &ApiError) -> Event {
    let json = serde_json::to_string(&*e.body).unwrap_or_else(|_| "{}".into());
    Event::default().data(json)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
