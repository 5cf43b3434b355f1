//! OpenAI error bodies for every failure the shim answers, and a JSON extractor whose
//! rejections are such bodies (400 malformed, 413 too large) instead of axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use scillm_core::wire::{ErrorBody, InvalidRequest};
use scillm_core::ProviderError;
use serde::de::DeserializeOwned;

/// An error answer: a status and `{"error":{"message","type","code"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body (boxed: results carrying an `ApiError` stay small).
    pub body: Box<ErrorBody>,
    /// Seconds for `Retry-After`, on 429/503.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with `status`, OpenAI `type` and `code`.
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

    /// 404 for an unknown route.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "not_found",
            message,
        )
    }

    /// 401 for a missing or wrong API key.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            "missing or invalid API key: send `Authorization: Bearer <MINI_AGENT_API_KEY>`",
        )
    }
}

impl From<InvalidRequest> for ApiError {
    fn from(e: InvalidRequest) -> Self {
        let mut err = Self::bad_request("invalid_request", e.message);
        err.body.error.param = Some(Some(e.param.to_string()));
        err
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        Self {
            status,
            body: Box::new(e.to_error_body()),
            retry_after_s: e.retry_after_header_secs(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(*self.body)).into_response();
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// The 413 answer for a body over [`super::MAX_BODY_BYTES`].
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        "request_too_large",
        format!(
            "request body too large (limit: {} bytes)",
            super::MAX_BODY_BYTES
        ),
    )
}

/// Give the body-limit layer's early 413 (sent on a `Content-Length` over the limit,
/// before the body is read) an OpenAI body like every other answer.
pub async fn openai_too_large(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return too_large().into_response();
    }
    resp
}

/// A JSON body; malformed JSON or a wrong shape is a 400, a body over the limit a 413, an
/// explicit non-JSON `Content-Type` a 415, all with an OpenAI error body. A missing
/// `Content-Type` is tolerated (some clients omit it); the body must still be JSON.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(e) = content_type_error(&req) {
            return Err(e);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(
                    "invalid_body",
                    format!("cannot read the request body: {rejection}"),
                )
            }
        })?;
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

/// `application/json` and `*/*+json` pass, a missing type passes, anything else is a 415.
fn content_type_error(req: &Request) -> Option<ApiError> {
    let ct = req.headers().get(header::CONTENT_TYPE)?;
    let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence == "application/json" || essence.ends_with("+json") {
        return None;
    }
    Some(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request_error",
        "unsupported_media_type",
        format!("Content-Type `{essence}` is not supported: send application/json"),
    ))
}
