//! Turning transport failures, error statuses and answer bodies into typed results.

use std::error::Error as _;
use std::time::SystemTime;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use scillm_core::retry::parse_retry_after;
use scillm_core::wire::ChatResponse;
use scillm_core::{ErrorKind, ProviderError};
use serde_json::error::Category;

/// A transport failure typed by cause: timeouts are [`ErrorKind::Timeout`], a body that
/// cannot be decoded is [`ErrorKind::InvalidResponse`], everything else on the wire
/// (refused, reset, closed early) is [`ErrorKind::Connect`].
///
/// The URL is left out of the message: a base may carry credentials in its userinfo.
pub fn reqwest_error(e: &reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_builder() {
        ErrorKind::InvalidRequest
    } else if e.is_decode() {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::Connect
    };
    let what = match kind {
        ErrorKind::Timeout => "upstream timed out",
        ErrorKind::InvalidRequest => "could not build the upstream request",
        ErrorKind::InvalidResponse => "could not decode the upstream answer",
        _ if e.is_connect() => {
            "could not connect to upstream (is the base right and the server up?)"
        }
        _ => "the connection to upstream failed",
    };
    let mut message = what.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let mut err = ProviderError::new(kind, message);
    err.status = e.status().map(|s| s.as_u16());
    err
}

/// The error for a non-2xx answer: typed by status, with the body excerpt and the
/// upstream's `Retry-After` (delta-seconds or HTTP-date).
pub fn status_error(status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    ProviderError::from_status(status, body).with_retry_after(retry_after)
}

/// Parse a 2xx body as a chat completion. A body that is not JSON, or JSON of another
/// shape, is an [`ErrorKind::InvalidResponse`] error carrying the status and an excerpt
/// (and is retried).
pub fn parse_completion(
    status: u16,
    body: impl AsRef<[u8]>,
) -> Result<ChatResponse, ProviderError> {
    let body = body.as_ref();
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            Category::Data => "JSON that is not a chat completion",
            Category::Io | Category::Syntax | Category::Eof => "a body that is not JSON",
        };
        ProviderError::new(
            ErrorKind::InvalidResponse,
            format!("upstream answered HTTP {status} with {what} ({e})"),
        )
        .with_status(status)
        .with_body(&String::from_utf8_lossy(body))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::Duration;

    #[test]
    fn status_error_carries_retry_after() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let e = status_error(429, &h, "slow down");
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.status, Some(429));
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.body_excerpt.as_deref(), Some("slow down"));
        let e = status_error(503, &HeaderMap::new(), "");
        assert_eq!((e.kind, e.retry_after), (ErrorKind::Server, None));
    }

    #[test]
    fn garbage_and_wrong_shapes_are_invalid_responses() {
        let e = parse_completion(200, "<html>oops</html>").unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::InvalidResponse, Some(200)));
        assert_eq!(e.body_excerpt.as_deref(), Some("<html>oops</html>"));
        let e = parse_completion(200, r#"{"hello":1}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidResponse);
        let ok = parse_completion(
            200,
            r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(ok.first_text(), "hi");
    }
}
