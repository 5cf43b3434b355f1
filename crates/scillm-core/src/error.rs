//! Errors typed by cause, and their mapping to an HTTP status and an OpenAI error body.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::ErrorBody;

/// How many bytes of an upstream body an error keeps.
pub const BODY_EXCERPT_BYTES: usize = 400;

/// The cause of a failed call. The names are the `error_kind` values of `scillm_router`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 401 or 403 from upstream, or missing credentials.
    Auth,
    /// 404 from upstream, or an unknown model/route.
    NotFound,
    /// 429 from upstream, or a `Retry-After` beyond what we wait.
    RateLimited,
    /// Any other 4xx from upstream.
    BadRequest,
    /// 5xx from upstream.
    Server,
    /// An attempt or the overall deadline ran out.
    Timeout,
    /// The connection could not be made or was reset.
    Connect,
    /// A 2xx whose body is not the expected JSON, or a broken stream.
    InvalidResponse,
    /// The request itself is malformed (caught before any call).
    InvalidRequest,
    /// The provider is not compiled in, or the operation is not supported.
    Unsupported,
    /// The call was cancelled (e.g. `fail_fast`).
    Cancelled,
    /// A bug or an unexpected condition (a panic inside a provider, a closed channel).
    Internal,
    /// Too many requests queued locally.
    Overloaded,
}

impl ErrorKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Server => "server",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
            ErrorKind::Overloaded => "overloaded",
        }
    }

    /// The kind an upstream HTTP status maps to (`None` for 1xx–3xx).
    pub fn from_status(status: u16) -> Option<Self> {
        match status {
            401 | 403 => Some(ErrorKind::Auth),
            404 => Some(ErrorKind::NotFound),
            429 => Some(ErrorKind::RateLimited),
            400..=499 => Some(ErrorKind::BadRequest),
            500..=599 => Some(ErrorKind::Server),
            _ => None,
        }
    }

    /// The HTTP status a server answers with for this kind when it has no upstream status.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Auth => 401,
            ErrorKind::NotFound => 404,
            ErrorKind::RateLimited => 429,
            ErrorKind::BadRequest | ErrorKind::InvalidRequest => 400,
            ErrorKind::Unsupported => 422,
            ErrorKind::Server | ErrorKind::Connect | ErrorKind::InvalidResponse => 502,
            ErrorKind::Timeout => 504,
            ErrorKind::Cancelled => 499,
            ErrorKind::Internal => 500,
            ErrorKind::Overloaded => 503,
        }
    }

    /// The OpenAI error `type` for this kind.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::Auth => "authentication_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimited | ErrorKind::Overloaded => "rate_limit_error",
            ErrorKind::BadRequest | ErrorKind::InvalidRequest | ErrorKind::Unsupported => {
                "invalid_request_error"
            }
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Server | ErrorKind::Connect | ErrorKind::InvalidResponse => "upstream_error",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "server_error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed provider call: its cause, the upstream status and a body excerpt when there was one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct ProviderError {
    /// The cause.
    pub kind: ErrorKind,
    /// The upstream HTTP status, when the failure came from one.
    pub status: Option<u16>,
    /// What went wrong, and what to do about it when we know.
    pub message: String,
    /// The first [`BODY_EXCERPT_BYTES`] bytes of the upstream body.
    pub body_excerpt: Option<String>,
    /// The wait the upstream asked for, when it sent `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            body_excerpt: None,
            retry_after: None,
        }
    }

    /// An error for an upstream HTTP `status` with its `body`.
    pub fn from_status(status: u16, body: &str) -> Self {
        let kind = ErrorKind::from_status(status).unwrap_or(ErrorKind::InvalidResponse);
        let excerpt = excerpt(body);
        let message = upstream_message(body).unwrap_or_else(|| {
            if excerpt.is_empty() {
                format!("upstream answered HTTP {status}")
            } else {
                format!("upstream answered HTTP {status}: {excerpt}")
            }
        });
        Self {
            kind,
            status: Some(status),
            message,
            body_excerpt: Some(excerpt),
            retry_after: None,
        }
    }

    /// Attach the upstream status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Attach a body excerpt.
    pub fn with_body(mut self, body: &str) -> Self {
        self.body_excerpt = Some(excerpt(body));
        self
    }

    /// Attach the upstream's `Retry-After`.
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// The HTTP status a server should answer with (SPEC §1, §11).
    ///
    /// An upstream's 401/403 is never passed on as this server's own 401: it is 502
    /// (the caller's credentials for *this* server were fine). Upstream 5xx → 502,
    /// upstream 429 → 429, other upstream 4xx are passed on as they are.
    pub fn http_status(&self) -> u16 {
        match (self.kind, self.status) {
            (ErrorKind::Auth, Some(_)) => 502,
            (ErrorKind::NotFound | ErrorKind::RateLimited | ErrorKind::BadRequest, Some(s))
                if (400..500).contains(&s) =>
            {
                s
            }
            (kind, _) => kind.http_status(),
        }
    }

    /// The whole seconds a server's `Retry-After` should give for this error's wait hint:
    /// rounded up (a 1.5 s hint is `2`, never earlier than the upstream asked), at least 1.
    /// `None` when the upstream gave no hint.
    pub fn retry_after_header_secs(&self) -> Option<u64> {
        self.retry_after
            .map(|d| (d.as_secs_f64().ceil() as u64).max(1))
    }

    /// Whether this is an upstream's refusal of our credentials (401/403 from upstream).
    pub fn is_upstream_auth(&self) -> bool {
        self.kind == ErrorKind::Auth && self.status.is_some()
    }

    /// The OpenAI error body a server should answer with. An upstream 401/403 is
    /// `type: "upstream_error"` with the upstream status as `code` (SPEC §11).
    pub fn to_error_body(&self) -> ErrorBody {
        if let (true, Some(status)) = (self.is_upstream_auth(), self.status) {
            let mut body = ErrorBody::new(
                format!(
                    "upstream refused the credentials (HTTP {status}): {}",
                    self.message
                ),
                "upstream_error",
                "",
            );
            body.error.code = Some(serde_json::Value::from(status));
            return body;
        }
        ErrorBody::new(
            self.message.clone(),
            self.kind.openai_type(),
            self.kind.as_str(),
        )
    }
}

/// The first [`BODY_EXCERPT_BYTES`] bytes of `body`, cut on a character boundary.
pub fn excerpt(body: &str) -> String {
    if body.len() <= BODY_EXCERPT_BYTES {
        return body.to_string();
    }
    let mut end = BODY_EXCERPT_BYTES;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_string()
}

/// The `error.message` of an OpenAI-style error body, when `body` is one.
fn upstream_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let msg = v.get("error")?;
    let text = msg
        .get("message")
        .and_then(|m| m.as_str())
        .or_else(|| msg.as_str())?;
    Some(excerpt(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_to_kind() {
        assert_eq!(ErrorKind::from_status(401), Some(ErrorKind::Auth));
        assert_eq!(ErrorKind::from_status(403), Some(ErrorKind::Auth));
        assert_eq!(ErrorKind::from_status(404), Some(ErrorKind::NotFound));
        assert_eq!(ErrorKind::from_status(429), Some(ErrorKind::RateLimited));
        assert_eq!(ErrorKind::from_status(422), Some(ErrorKind::BadRequest));
        assert_eq!(ErrorKind::from_status(503), Some(ErrorKind::Server));
        assert_eq!(ErrorKind::from_status(200), None);
    }

    #[test]
    fn upstream_error_keeps_status_excerpt_and_message() {
        let long = "x".repeat(1000);
        let e = ProviderError::from_status(502, &long);
        assert_eq!(e.kind, ErrorKind::Server);
        assert_eq!(e.status, Some(502));
        assert_eq!(e.body_excerpt.as_deref().map(str::len), Some(400));
        assert_eq!(e.http_status(), 502);
        let e = ProviderError::from_status(400, r#"{"error":{"message":"bad field"}}"#);
        assert_eq!(e.message, "bad field");
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.to_error_body().error.kind, "invalid_request_error");
    }

    #[test]
    fn upstream_auth_is_never_our_own_401() {
        for status in [401, 403] {
            let e = ProviderError::from_status(status, r#"{"error":{"message":"bad key"}}"#);
            assert_eq!(e.kind, ErrorKind::Auth);
            assert_eq!(e.http_status(), 502);
            let body = e.to_error_body();
            assert_eq!(body.error.kind, "upstream_error");
            assert_eq!(body.error.code, Some(serde_json::Value::from(status)));
            assert!(body.error.message.contains("bad key"));
        }
        assert_eq!(
            ProviderError::new(ErrorKind::Auth, "no key").http_status(),
            401
        );
        assert_eq!(ProviderError::from_status(429, "").http_status(), 429);
        assert_eq!(ProviderError::from_status(503, "").http_status(), 502);
        let hinted = |ms| {
            ProviderError::from_status(429, "")
                .with_retry_after(Some(Duration::from_millis(ms)))
                .retry_after_header_secs()
        };
        assert_eq!(
            (hinted(1500), hinted(2000), hinted(10)),
            (Some(2), Some(2), Some(1))
        );
        assert_eq!(
            ProviderError::from_status(429, "").retry_after_header_secs(),
            None
        );
    }

    #[test]
    fn excerpt_cuts_on_char_boundary() {
        let s = "é".repeat(300);
        let ex = excerpt(&s);
        assert!(ex.len() <= 400);
        assert!(s.starts_with(&ex));
    }
}
