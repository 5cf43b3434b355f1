//! [`ApiJson`]: a JSON body extractor whose rejections are OpenAI error bodies (400
//! malformed, 413 too large, 415 wrong type) instead of axum's plain text, and
//! [`BodyLimit`], the limit it enforces.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Default body limit: 16 MiB (room for a few base64 images).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The largest request body a server reads, in bytes. [`crate::ServerLayers`] puts it in
/// every request's extensions; [`ApiJson`] and [`read_body`] enforce it (without it,
/// [`DEFAULT_MAX_BODY_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// A JSON body; malformed JSON or a wrong shape is a 400, a body over the [`BodyLimit`] a
/// 413 (a declared `Content-Length` over it is refused before reading), an explicit
/// non-JSON `Content-Type` a 415, all with an OpenAI error body. A missing
/// `Content-Type` is tolerated (some clients omit it); the body must still be JSON.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers())?;
        let bytes = read_body(req).await?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            let code = if e.is_data() {
                "invalid_request"
            } else {
                "invalid_json"
            };
            ApiError::bad_request(code, format!("invalid request body: {e}"))
        })
    }
}

/// Read the whole body within the request's [`BodyLimit`]: 413 when the declared
/// `Content-Length` or the bytes read exceed it, 400 when the body cannot be read.
pub async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(DEFAULT_MAX_BODY_BYTES, |l| l.0);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let limited = Limited::new(req.into_body(), limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::too_large(limit)),
        Err(e) => Err(ApiError::bad_request(
            "invalid_body",
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// Check a JSON request's `Content-Type`: `application/json` and `*/*+json` (any case,
/// any parameters) pass, a missing type passes (some clients omit it; the body must still
/// be JSON), anything else is a 415 `unsupported_media_type` naming the type it got.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request_error",
        "unsupported_media_type",
        format!("Content-Type `{essence}` is not supported: send application/json"),
    ))
}
