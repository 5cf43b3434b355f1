//! Errors: [`ApiError`] is what a request gets back (an OpenAI error body with the right
//! status); [`SidecarError`] is why the server could not be built or started.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use scillm_core::wire::ErrorBody;
use scillm_core::{ErrorKind, ProviderError};

/// An error answered to a client as `{"error":{"message","type","code"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The OpenAI error body (boxed: errors travel in `Result`s on every path).
    pub body: Box<ErrorBody>,
    /// Seconds for a `Retry-After` header (overload answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status, OpenAI `type` and `code`.
    pub fn new(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody::new(message, kind, code)),
            retry_after: None,
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

    /// 401 `authentication_error`.
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            code,
            message,
        )
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

    /// 502 `upstream_error`: the Codex CLI or the forward base failed.
    pub fn upstream(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_error", code, message)
    }

    /// 504 `timeout_error`.
    pub fn timeout(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout_error", code, message)
    }

    /// 503 with `Retry-After`: no room in the wait queue.
    pub fn overloaded(message: impl Into<String>, retry_after_s: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "rate_limit_error",
            "overloaded",
            message,
        );
        e.retry_after = Some(retry_after_s);
        e
    }

    /// An error for `status` whose type and code follow from it (fallback routes, layers).
    pub fn for_status(status: StatusCode, message: impl Into<String>) -> Self {
        let (kind, code) = match status.as_u16() {
            401 => ("authentication_error", "unauthorized"),
            404 => ("not_found_error", "not_found"),
            405 => ("invalid_request_error", "method_not_allowed"),
            413 => ("invalid_request_error", "request_too_large"),
            415 => ("invalid_request_error", "unsupported_media_type"),
            429 | 503 => ("rate_limit_error", "overloaded"),
            504 => ("timeout_error", "timeout"),
            400..=499 => ("invalid_request_error", "invalid_request"),
            _ => ("server_error", "server_error"),
        };
        Self::new(status, kind, code, message)
    }

    /// The message of the body.
    pub fn message(&self) -> &str {
        &self.body.error.message
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut out = Self {
            status,
            body: Box::new(e.to_error_body()),
            retry_after: None,
        };
        if e.kind == ErrorKind::Overloaded || e.kind == ErrorKind::RateLimited {
            out.retry_after = Some(e.retry_after_header_secs().unwrap_or(1));
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(*self.body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Why the sidecar could not be built, bound or run.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// A non-loopback bind without an inbound API key.
    #[error("refusing to bind {host}:{port} without an API key: set CODEX_SIDECAR_API_KEY, bind 127.0.0.1, or set CODEX_SIDECAR_ALLOW_INSECURE_BIND=1 to override")]
    InsecureBind {
        /// The configured host.
        host: String,
        /// The configured port.
        port: u16,
    },
    /// The host is not an IP address or resolvable name.
    #[error("cannot use CODEX_SIDECAR_HOST `{host}`: {reason}")]
    BadHost {
        /// The configured host.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// The address could not be bound.
    #[error(
        "cannot bind {addr}: {source} (is another sidecar already running? set CODEX_SIDECAR_PORT)"
    )]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("sidecar server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The HTTP client for forward mode could not be built.
    #[error("cannot build the forward-mode HTTP client: {0}")]
    Client(String),
}
