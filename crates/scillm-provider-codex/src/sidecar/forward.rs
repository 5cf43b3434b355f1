//! Forward mode (`CODEX_FORWARD_BASE` + `CODEX_FORWARD_TOKEN`): the request is proxied to
//! `{forward_base}/v1/chat/completions` unless it is forced local (`X-Codex-Force-Local`
//! or a `codex-agent/` model). Status, body and streams are passed back as they come.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures::TryStreamExt;
use scillm_core::wire::ChatRequest;
use scillm_core::ApiBase;
use secrecy::ExposeSecret;

use super::error::ApiError;
use super::state::Sidecar;

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

/// Proxy `body` to `base`.
pub async fn forward(sidecar: &Sidecar, base: &ApiBase, body: &Bytes) -> Response {
    let mut rb = sidecar
        .inner
        .http
        .post(base.chat_completions_url())
        // The same bound as a local CLI run: a forward target is another sidecar.
        .timeout(
            scillm_core::config::secs(sidecar.config().sidecar.abs_timeout_s)
                .max(std::time::Duration::from_secs(1)),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.clone());
    if let Some(token) = &sidecar.config().sidecar.forward_token {
        rb = rb.bearer_auth(token.expose_secret());
    }
    let upstream = match rb.send().await {
        Ok(r) => r,
        Err(e) => return failure(base, &e),
    };
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = upstream
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let retry_after = upstream
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let stream = upstream.bytes_stream().map_err(std::io::Error::other);
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    if let Some(ra) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, ra);
    }
    resp
}

fn failure(base: &ApiBase, e: &reqwest::Error) -> Response {
    use axum::response::IntoResponse;
    let err = if e.is_timeout() {
        ApiError::timeout(
            "forward_timeout",
            format!("the forward base {base} did not answer in time"),
        )
    } else {
        ApiError::upstream(
            "forward_unreachable",
            format!("cannot reach the forward base {base} (CODEX_FORWARD_BASE): {e}"),
        )
    };
    err.into_response()
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
