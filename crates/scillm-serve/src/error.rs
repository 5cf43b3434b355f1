//! [`ApiError`]: what a request gets back when it fails — an OpenAI error body
//! `{"error":{"message","type","code"}}` with the right HTTP status (SPEC §1), and
//! `Retry-After` on 429/503.
//!
//! Upstream failures are mapped by SPEC §11: an upstream 401/403 is never answered as our
//! own 401 but as 502 `upstream_error` whose `code` is the upstream status; an upstream
//! 5xx is 502; an upstream 429 stays 429 with the upstream's wait hint as `Retry-After`.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use scillm_core::wire::ErrorBody;
use scillm_core::{ErrorKind, ProviderError};
use serde_json::Value;

/// An error answered to a client as `{"error":{"message","type","code"}}`.
///
/// Build one with a constructor ([`ApiError::bad_request`], [`ApiError::not_found`], …)
/// or from a [`ProviderError`] with [`ApiError::from_upstream`]; answer it by returning
/// it from a handler (it implements [`IntoResponse`]).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The OpenAI error body (boxed: errors travel in `Result`s on every path).
    pub body: Box<ErrorBody>,
    /// Whole seconds for a `Retry-After` header (429/503 answers).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status, OpenAI `type` and `code`.
    pub fn new(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody::new(message, kind, code)),
            retry_after_s: None,
        }
    }

    /// 400 `invalid_request_error`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    /// 401 `authentication_error` (our own key check, never an upstream's).
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            code,
            message,
        )
    }

    /// 403 `permission_error`: the key is valid but not allowed this resource (OpenAI's
    /// `PermissionDeniedError`).
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_error", code, message)
    }

    /// 404 `not_found_error`.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", code, message)
    }

    /// 413 `request_too_large`, naming the limit in bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("request body too large (limit: {limit} bytes): send a smaller body"),
        )
    }

    /// 429 `rate_limit_error` with `Retry-After` (at least 1 s).
    pub fn rate_limited(code: &str, message: impl Into<String>, retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            code,
            message,
        );
        e.retry_after_s = Some(ceil_secs(retry_after));
        e
    }

    /// 503 with `Retry-After`: no room to take the request now.
    pub fn overloaded(message: impl Into<String>, retry_after_s: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "rate_limit_error",
            "overloaded",
            message,
        );
        e.retry_after_s = Some(retry_after_s.max(1));
        e
    }

    /// 500 `server_error` (a misconfigured server, never bad input).
    pub fn internal(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            code,
            message,
        )
    }

    /// 502 `upstream_error`.
    pub fn upstream(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_error", code, message)
    }

    /// 504 `timeout_error`.
    pub fn timeout(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout_error", code, message)
    }

    /// An error for `status` whose type and code follow from it (fallback routes, layers
    /// whose own answers have no body).
    pub fn for_status(status: StatusCode, message: impl Into<String>) -> Self {
        let (kind, code) = match status.as_u16() {
            401 => ("authentication_error", "unauthorized"),
            403 => ("permission_error", "forbidden"),
            404 => ("not_found_error", "not_found"),
            405 => ("invalid_request_error", "method_not_allowed"),
            408 => ("timeout_error", "request_timeout"),
            413 => ("invalid_request_error", "request_too_large"),
            415 => ("invalid_request_error", "unsupported_media_type"),
            429 | 503 => ("rate_limit_error", "overloaded"),
            504 => ("timeout_error", "timeout"),
            400..=499 => ("invalid_request_error", "invalid_request"),
            _ => ("server_error", "server_error"),
        };
        Self::new(status, kind, code, message)
    }

    /// The answer for a failed upstream call, by SPEC §11:
    ///
    /// | upstream | answer |
    /// |---|---|
    /// | 401 / 403 (`auth`) | 502 `upstream_error`, `code` = the upstream status |
    /// | 5xx, connect, invalid response | 502 `upstream_error` |
    /// | 429 (`rate_limited`) | 429 `rate_limit_error`, `Retry-After` = the upstream hint |
    /// | timeout | 504 `timeout_error` |
    /// | other 4xx | the same status, `invalid_request_error` |
    ///
    /// The message is the upstream's own (already free of secrets).
    pub fn from_upstream(e: &ProviderError) -> Self {
        let message = e.message.clone();
        let mut out = match e.kind {
            ErrorKind::Auth => {
                let mut out = Self::upstream("upstream_auth", upstream_auth_message(e));
                if let Some(s) = e.status {
                    out.body.error.code = Some(Value::from(s));
                }
                out
            }
            ErrorKind::Server | ErrorKind::Connect | ErrorKind::InvalidResponse => {
                let mut out = Self::upstream(e.kind.as_str(), message);
                if let Some(s) = e.status {
                    out.body.error.code = Some(Value::from(s));
                }
                out
            }
            ErrorKind::RateLimited => Self::rate_limited(
                "rate_limited",
                message,
                e.retry_after.unwrap_or(Duration::from_secs(1)),
            ),
            ErrorKind::Overloaded => Self::overloaded(message, e.retry_after.map_or(1, ceil_secs)),
            _ => {
                let status =
                    StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
                Self {
                    status,
                    body: Box::new(e.to_error_body()),
                    retry_after_s: None,
                }
            }
        };
        if out.body.error.message.is_empty() {
            out.body.error.message = format!("upstream failed: {}", e.kind);
        }
        out
    }

    /// The message of the body.
    pub fn message(&self) -> &str {
        &self.body.error.message
    }
}

fn upstream_auth_message(e: &ProviderError) -> String {
    let status = e.status.map(|s| format!(" {s}")).unwrap_or_default();
    format!(
        "the upstream refused this server's credentials (HTTP{status}): {} — check the deployment's api_key",
        e.message
    )
}

/// Whole seconds, rounded up, at least 1.
pub fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        Self::from_upstream(&e)
    }
}

impl From<scillm_core::wire::InvalidRequest> for ApiError {
    fn from(e: scillm_core::wire::InvalidRequest) -> Self {
        let mut err = Self::bad_request("invalid_request", e.message);
        err.body.error.param = Some(Some(e.param.to_string()));
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(*self.body)).into_response();
        if let Some(secs) = self.retry_after_s {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_auth_is_502_with_the_upstream_status_as_code() {
        let e = ProviderError::from_status(401, r#"{"error":{"message":"bad key"}}"#);
        let api = ApiError::from_upstream(&e);
        assert_eq!(api.status, StatusCode::BAD_GATEWAY);
        assert_eq!(api.body.error.kind, "upstream_error");
        assert_eq!(api.body.error.code, Some(Value::from(401)));
        assert!(api.message().contains("bad key"), "{}", api.message());
    }

    #[test]
    fn upstream_5xx_is_502_and_429_keeps_its_hint() {
        let e = ProviderError::from_status(503, "down");
        assert_eq!(ApiError::from_upstream(&e).status, StatusCode::BAD_GATEWAY);
        let e = ProviderError::from_status(429, "slow down")
            .with_retry_after(Some(Duration::from_millis(2500)));
        let api = ApiError::from_upstream(&e);
        assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(api.retry_after_s, Some(3));
        let resp = api.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn upstream_bad_request_keeps_its_status() {
        let e = ProviderError::from_status(422, "no");
        assert_eq!(ApiError::from_upstream(&e).status.as_u16(), 422);
        let e = ProviderError::new(ErrorKind::Timeout, "slow");
        assert_eq!(
            ApiError::from_upstream(&e).status,
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
