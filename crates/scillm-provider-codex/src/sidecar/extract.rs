//! The chat request body: JSON checked by hand so every failure is an OpenAI error body
//! with a 4xx (axum's own `Json` would answer 415/422 with plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use scillm_core::wire::ChatRequest;
use serde_json::error::Category;

use super::error::ApiError;
use super::forward::forced_local;
use super::state::Sidecar;

/// A parsed chat completion request with the bytes it came from.
#[derive(Debug, Clone)]
pub struct ChatBody {
    /// The typed request.
    pub request: ChatRequest,
    /// The body as sent (forward mode passes it on unchanged).
    pub raw: Bytes,
    /// Whether the caller sent `X-Codex-Force-Local` with a true value (read here so the
    /// handler needs no copy of the headers).
    pub force_local: bool,
}

impl FromRequest<Sidecar> for ChatBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Sidecar) -> Result<Self, Self::Rejection> {
        check_content_type(&req)?;
        // A declared length over the limit is refused before any of the body is read; a
        // body without one is cut off by the `DefaultBodyLimit` of the routes.
        let limit = state.config().sidecar.max_body_bytes.max(1);
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let force_local = forced_local(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(
                    "invalid_body",
                    format!("cannot read the body: {}", e.body_text()),
                )
            }
        })?;
        let mut body = parse(bytes)?;
        body.force_local = force_local;
        Ok(body)
    }
}

/// The 413 answer for a body over `CODEX_SIDECAR_MAX_BODY_BYTES`.
pub fn too_large() -> ApiError {
    ApiError::for_status(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is too large (limit: CODEX_SIDECAR_MAX_BODY_BYTES)",
    )
}

/// A missing `Content-Type` is tolerated (the body must still be JSON); anything but
/// JSON is a 415.
fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let Some(ct) = req.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let json = essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::for_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type `{essence}` is not supported: send application/json"),
        ))
    }
}

/// Parse a body in one pass: not JSON, not an object, not a chat request, or one that
/// fails [`ChatRequest::validate`] (e.g. no messages) → 400 saying why.
pub fn parse(bytes: Bytes) -> Result<ChatBody, ApiError> {
    let request: ChatRequest = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        Category::Io | Category::Syntax | Category::Eof => ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        ),
        Category::Data if !starts_object(&bytes) => {
            ApiError::bad_request("invalid_request", "the request body must be a JSON object")
        }
        Category::Data => ApiError::bad_request(
            "invalid_request",
            format!("the request is not a valid chat completion request: {e}"),
        ),
    })?;
    request.validate().map_err(|e| {
        let mut err = ApiError::bad_request("invalid_request", e.message);
        err.body.error.param = Some(Some(e.param.to_string()));
        err
    })?;
    Ok(ChatBody {
        request,
        raw: bytes,
        force_local: false,
    })
}

/// Whether the JSON text opens an object.
fn starts_object(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bodies_are_400() {
        for body in [
            &b"{not json"[..],
            b"[1,2]",
            br#"{"model":"gpt-5"}"#,
            br#"{"model":1,"messages":[]}"#,
            br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":7}]}"#,
            br#"{"model":"m","messages":[]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":"json"}"#,
        ] {
            let e = parse(Bytes::from_static(body)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{e:?}");
            assert_eq!(e.body.error.kind, "invalid_request_error");
        }
        let ok = parse(Bytes::from_static(br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"x_vendor":1}"#)).unwrap();
        assert_eq!(ok.request.extra["x_vendor"], 1);
        let e = parse(Bytes::from_static(b"[1,2]")).unwrap_err();
        assert!(
            e.body.error.message.contains("must be a JSON object"),
            "{e:?}"
        );
        let e = parse(Bytes::from_static(b"{\"model\": ")).unwrap_err();
        assert!(e.body.error.message.contains("not valid JSON"), "{e:?}");
    }
}
