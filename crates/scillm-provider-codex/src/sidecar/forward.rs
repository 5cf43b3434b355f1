//! Forward mode (`CODEX_FORWARD_BASE` + `CODEX_FORWARD_TOKEN`): the request is proxied to
//! `{forward_base}/v1/chat/completions` unless it is forced local (`X-Codex-Force-Local`
//! or a `codex-agent/` model).
//!
//! The request body goes on as received. The answer is read with the same lenient client
//! as the providers (SPEC §11) and answered as a well-formed completion or stream, every
//! upstream field kept. Upstream failures are answered per §11: an upstream 401/403 is
//! 502 `upstream_error` (never this sidecar's own 401), 5xx → 502, 429 → 429 with the
//! upstream's wait hint as `Retry-After`; an error inside a 2xx is answered like the
//! status it names. Retries are left to this sidecar's caller.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use scillm_core::wire::ChatRequest;
use scillm_core::{ApiBase, CallContext, ErrorKind, ProviderError, RetryPolicy};
use tokio::sync::mpsc;

use super::sse;
use super::state::Sidecar;
use crate::client::{build_headers, chat_url, HttpChatClient, UpstreamCall};
use scillm_serve::ApiError;

/// The header that keeps a request on this sidecar's own CLI.
pub const FORCE_LOCAL_HEADER: &str = "x-codex-force-local";

/// Whether `X-Codex-Force-Local` is set to a true value (`1`, `true`, `yes`).
pub fn forced_local(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(FORCE_LOCAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .is_some_and(|v| {
            ["1", "true", "yes"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        })
}

/// The forward base, when forward mode applies to this request: configured, and the
/// request not forced local (`X-Codex-Force-Local`, or a `codex-agent/` model).
pub fn target(sidecar: &Sidecar, force_local: bool, req: &ChatRequest) -> Option<ApiBase> {
    let base = sidecar.config().sidecar.forward_base.clone()?;
    (!force_local && !req.model.starts_with("codex-agent/")).then_some(base)
}

/// The forward-mode client: no retries of its own, every attempt bounded by
/// `ABS_TIMEOUT_S` (the same bound as a local CLI run).
pub fn client(config: &scillm_core::Config) -> Result<HttpChatClient, ProviderError> {
    let bound = scillm_core::config::secs(config.sidecar.abs_timeout_s)
        .max(std::time::Duration::from_secs(1));
    let policy = RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::default()
    };
    HttpChatClient::with_policy("forward", policy, bound, bound)
}

/// Proxy `body` (the request as received; `stream` says which answer it asked for) to
/// `base`.
pub async fn forward(sidecar: &Sidecar, base: &ApiBase, body: &Bytes, stream: bool) -> Response {
    let call = match prepare(sidecar, base, body) {
        Ok(c) => c,
        Err(e) => return failure(base, e).into_response(),
    };
    let client = &sidecar.inner.forward;
    let ctx = CallContext::new();
    if !stream {
        return match client.chat(call, &ctx).await {
            Ok(resp) => (StatusCode::OK, Json(resp)).into_response(),
            Err(e) => failure(base, e).into_response(),
        };
    }
    let mut chunks = match client.chat_stream(call, &ctx).await {
        Ok(s) => s,
        Err(e) => return failure(base, e).into_response(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let base = base.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(item) = chunks.next().await {
            let event = match item {
                Ok(chunk) => sse::chunk_event(&chunk),
                Err(e) => {
                    let _ = tx.send(sse::error_event(&failure(&base, e)));
                    return;
                }
            };
            if tx.send(event).is_err() {
                return;
            }
        }
        let _ = tx.send(sse::done_event());
    });
    sse::from_channel(rx)
}

fn prepare(sidecar: &Sidecar, base: &ApiBase, body: &Bytes) -> Result<UpstreamCall, ProviderError> {
    let token = sidecar.config().sidecar.forward_token.as_ref();
    Ok(UpstreamCall {
        url: chat_url(base)?,
        headers: build_headers(&[], token, &[])?,
        body: body.clone(),
    })
}

/// The answer for a failed forward: §11's mapping, with the forward base named when it
/// could not be reached.
fn failure(base: &ApiBase, e: ProviderError) -> ApiError {
    match e.kind {
        ErrorKind::Timeout => ApiError::timeout(
            "forward_timeout",
            format!(
                "the forward base {base} did not answer in time: {}",
                e.message
            ),
        ),
        ErrorKind::Connect => ApiError::upstream(
            "forward_unreachable",
            format!(
                "cannot reach the forward base {base} (CODEX_FORWARD_BASE): {}",
                e.message
            ),
        ),
        _ => ApiError::from(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_local_takes_true_values_only() {
        for (value, forced) in [
            ("1", true),
            ("true", true),
            (" YES ", true),
            ("0", false),
            ("no", false),
            ("", false),
        ] {
            let mut h = axum::http::HeaderMap::new();
            h.insert(FORCE_LOCAL_HEADER, value.parse().unwrap());
            assert_eq!(forced_local(&h), forced, "{value:?}");
        }
        assert!(!forced_local(&axum::http::HeaderMap::new()));
    }
}
