//! The Batch API's HTTP routes.

use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use scillm_serve::{ApiError, ApiJson};
use serde_json::{json, Value};

use super::CreateBatch;
use crate::routes::SharedKey;
use crate::state::Gateway;

/// `/v1/files…` and `/v1/batches…`.
pub fn routes() -> axum::Router<Gateway> {
    axum::Router::new()
        .route("/v1/files", post(upload))
        .route("/v1/files/{id}", get(file))
        .route("/v1/files/{id}/content", get(file_content))
        .route("/v1/batches", post(create).get(list))
        .route("/v1/batches/{id}", get(batch))
        .route("/v1/batches/{id}/cancel", post(cancel))
}

/// `POST /v1/files`: multipart with `purpose` and `file`.
async fn upload(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(
            "invalid_upload",
            format!("send multipart/form-data with `purpose` and `file`: {e}"),
        )
    })?;
    let mut purpose = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("purpose") => purpose = Some(field.text().await.map_err(multipart_error)?),
            Some("file") => {
                let name = field.file_name().unwrap_or("input.jsonl").to_string();
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    let purpose = purpose.ok_or_else(|| {
        ApiError::bad_request(
            "missing_purpose",
            "the form needs a `purpose` field (\"batch\")",
        )
    })?;
    let (name, bytes) =
        file.ok_or_else(|| ApiError::bad_request("missing_file", "the form needs a `file` field"))?;
    let object = gw
        .batches()
        .upload(key.as_deref(), name, purpose.trim(), &bytes)
        .await?;
    Ok(Json(to_json(&object)))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("the upload is too large ([gateway] max_body_bytes): {e}"),
        );
    }
    ApiError::bad_request("invalid_upload", format!("cannot read the upload: {e}"))
}

async fn file(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = gw.batches().file(key.as_deref(), &id).await?;
    Ok(Json(to_json(&f)))
}

async fn file_content(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = gw.batches().file_content(key.as_deref(), &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], bytes).into_response())
}

async fn create(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    body: Result<ApiJson<CreateBatch>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let ApiJson(request) = body?;
    let allowed = |model: &str| -> Result<(), ApiError> {
        if !gw.serves(model) {
            return Err(ApiError::not_found(
                "model_not_found",
                format!(
                    "model `{model}` is not served here; models: {}",
                    gw.visible_models(key.as_deref()).join(", ")
                ),
            ));
        }
        if let Some(k) = key.as_deref() {
            if !k.allows(model) {
                return Err(ApiError::forbidden(
                    "model_not_allowed",
                    format!("key `{}` may not use model `{model}`", k.name),
                ));
            }
        }
        Ok(())
    };
    let batch = gw
        .batches()
        .create(key.as_deref(), &allowed, request)
        .await?;
    Ok(Json(to_json(&batch)))
}

async fn batch(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let b = gw.batches().get(key.as_deref(), &id).await?;
    Ok(Json(to_json(&b)))
}

async fn list(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
) -> Result<Json<Value>, ApiError> {
    let all = gw.batches().list(key.as_deref()).await?;
    let data: Vec<Value> = all.iter().map(to_json).collect();
    let first = data.first().and_then(|b| b.get("id")).cloned();
    let last = data.last().and_then(|b| b.get("id")).cloned();
    Ok(Json(json!({
        "object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false
    })))
}

async fn cancel(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let b = gw.batches().cancel(key.as_deref(), &id).await?;
    Ok(Json(to_json(&b)))
}

/// The object as OpenAI shows it (without the owner).
fn to_json<T: serde::Serialize>(v: &T) -> Value {
    let mut value = serde_json::to_value(v).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.remove("owner");
    }
    value
}
