//! The chat request body: JSON checked by hand so every failure is an OpenAI error body
//! with a 4xx saying what is wrong (not a JSON object, not a chat request, …).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use scillm_core::wire::ChatRequest;
use scillm_serve::ApiError;
use serde_json::error::Category;

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

    /// The content type is checked and the body read within `CODEX_SIDECAR_MAX_BODY_BYTES`
    /// by the server foundation (a declared length over it is refused before reading).
    async fn from_request(req: Request, _state: &Sidecar) -> Result<Self, Self::Rejection> {
        scillm_serve::check_content_type(req.headers())?;
        let force_local = forced_local(req.headers());
        let bytes = scillm_serve::read_body(req).await?;
        let mut body = parse(bytes)?;
        body.force_local = force_local;
        Ok(body)
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
    request.validate().map_err(ApiError::from)?;
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
    use axum::http::StatusCode;

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
