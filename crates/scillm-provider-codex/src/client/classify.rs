//! Turning transport failures, error statuses and answer bodies into typed results.

use std::error::Error as _;
use std::time::SystemTime;

use reqwest::header::HeaderMap;
use scillm_core::retry::wait_hint;
use scillm_core::wire::ChatResponse;
use scillm_core::{upstream, ErrorKind, ProviderError};

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
/// upstream's wait hint ([`wait_hint`]: `retry-after-ms`, `Retry-After`, …).
pub fn status_error(status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
    with_wait_hint(ProviderError::from_status(status, body), headers)
}

/// Attach the wait hint `headers` give for the status `err` stands for (an error inside
/// a 2xx stands for the status it names).
pub fn with_wait_hint(err: ProviderError, headers: &HeaderMap) -> ProviderError {
    let hint = err
        .status
        .and_then(|s| wait_hint(s, headers, SystemTime::now()));
    match hint {
        Some(h) => err.with_retry_after(Some(h)),
        None => err,
    }
}

/// Parse a 2xx body as a chat completion, leniently (SPEC §11, [`upstream`]). A body
/// that is not JSON or has no `choices[0].message` is an [`ErrorKind::InvalidResponse`]
/// error carrying the status and an excerpt (and is retried); an error inside the body
/// is typed by the status it names, with the wait hint of `headers`.
pub fn parse_completion(
    status: u16,
    headers: &HeaderMap,
    body: impl AsRef<[u8]>,
) -> Result<ChatResponse, ProviderError> {
    upstream::completion_from_slice(status, body.as_ref()).map_err(|e| with_wait_hint(e, headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};
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
    fn an_error_inside_a_200_gets_the_wait_hint_of_its_status() {
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        let e =
            parse_completion(200, &h, r#"{"error":{"message":"slow","code":429}}"#).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::RateLimited, Some(429)));
        assert_eq!(e.retry_after, Some(Duration::from_millis(1500)));
        assert!(e.message.ends_with("slow"));
    }

    #[test]
    fn garbage_and_wrong_shapes_are_invalid_responses() {
        let h = HeaderMap::new();
        let e = parse_completion(200, &h, "<html>oops</html>").unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::InvalidResponse, Some(200)));
        assert_eq!(e.body_excerpt.as_deref(), Some("<html>oops</html>"));
        let e = parse_completion(200, &h, r#"{"hello":1}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidResponse);
        let ok = parse_completion(
            200,
            &h,
            r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(ok.first_text(), "hi");
        let bare =
            parse_completion(200, &h, r#"{"choices":[{"message":{"content":"ok"}}]}"#).unwrap();
        assert_eq!(bare.first_text(), "ok");
    }
}
