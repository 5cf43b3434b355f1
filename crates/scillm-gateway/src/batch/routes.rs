//! The Batch API's HTTP routes, with OpenAI's list pagination (`after`, `limit`).

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use scillm_serve::{ApiError, ApiJson};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{CreateBatch, Staged};
use crate::routes::SharedKey;
use crate::state::Gateway;

/// `/v1/files…` and `/v1/batches…`.
pub fn routes() -> axum::Router<Gateway> {
    axum::Router::new()
        .route("/v1/files", post(upload).get(list_files))
        .route("/v1/files/{id}", get(file).delete(delete_file))
        .route("/v1/files/{id}/content", get(file_content))
        .route("/v1/batches", post(create).get(list))
        .route("/v1/batches/{id}", get(batch))
        .route("/v1/batches/{id}/cancel", post(cancel))
}

/// `POST /v1/files`: multipart with `purpose` and `file`; the file is streamed to disk.
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
    let service = gw.batches();
    let mut purpose = None;
    let mut file: Option<(Staged, String, u64)> = None;
    let read = async {
        while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
            match field.name() {
                Some("purpose") => purpose = Some(field.text().await.map_err(multipart_error)?),
                Some("file") if file.is_none() => {
                    let name = field.file_name().unwrap_or("input.jsonl").to_string();
                    let staged = service.stage_upload().await?;
                    let mut out = tokio::fs::File::create(&staged.path)
                        .await
                        .map_err(storage)?;
                    let mut bytes = 0u64;
                    // Recorded first, so a failed upload's staged content is removed.
                    file = Some((staged, name, 0));
                    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                        out.write_all(&chunk).await.map_err(storage)?;
                        bytes += chunk.len() as u64;
                    }
                    out.sync_all().await.map_err(storage)?;
                    if let Some(f) = file.as_mut() {
                        f.2 = bytes;
                    }
                }
                _ => {}
            }
        }
        Ok::<(), ApiError>(())
    };
    let read = read.await;
    let (staged, name, bytes) = match (read, file) {
        (Ok(()), Some(f)) => f,
        (result, staged) => {
            if let Some((s, _, _)) = staged {
                let _ = tokio::fs::remove_file(&s.path).await;
            }
            result?;
            return Err(ApiError::bad_request(
                "missing_file",
                "the form needs a `file` field",
            ));
        }
    };
    let Some(purpose) = purpose else {
        let _ = tokio::fs::remove_file(&staged.path).await;
        return Err(ApiError::bad_request(
            "missing_purpose",
            "the form needs a `purpose` field (\"batch\")",
        ));
    };
    let object = service
        .commit_upload(key.as_deref(), staged, name, purpose.trim(), bytes)
        .await?;
    Ok(Json(to_json(&object)))
}

fn storage(e: std::io::Error) -> ApiError {
    ApiError::internal("storage_error", format!("cannot store the upload: {e}"))
}

/// `after`, `limit` and (files) `purpose`, `order` of a list request.
#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
    purpose: Option<String>,
    order: Option<String>,
}

/// One page of `items` (newest first) after the item with id `after`, as OpenAI's list
/// object; `limit` defaults to `default_limit` and is at most 10,000.
fn page(items: Vec<Value>, q: &ListQuery, default_limit: usize) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(default_limit);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and 10000 (got {limit})"),
        ));
    }
    let mut items = items;
    if q.order.as_deref() == Some("asc") {
        items.reverse();
    } else if q.order.as_deref().is_some_and(|o| o != "desc") {
        return Err(ApiError::bad_request(
            "invalid_order",
            "order must be \"asc\" or \"desc\"",
        ));
    }
    let start = match &q.after {
        None => 0,
        Some(after) => match items.iter().position(|v| v["id"] == after.as_str()) {
            Some(i) => i + 1,
            None => {
                return Err(ApiError::bad_request(
                    "invalid_after",
                    format!("`after` {after} names no object of this list: pass the last id of the previous page"),
                ))
            }
        },
    };
    let rest = items.len().saturating_sub(start);
    let data: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let first = data.first().map(|b| b["id"].clone());
    let last = data.last().map(|b| b["id"].clone());
    Ok(Json(json!({
        "object": "list", "data": data, "first_id": first, "last_id": last, "has_more": rest > limit
    })))
}

/// `GET /v1/files`: the caller's files, newest first (`purpose`, `order`, `after`,
/// `limit` up to 10,000, the default).
async fn list_files(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let files = gw
        .batches()
        .files(key.as_deref(), q.purpose.as_deref())
        .await?;
    page(files.iter().map(to_json).collect(), &q, 10_000)
}

/// `DELETE /v1/files/{id}`: `{"id", "object": "file", "deleted": true}`.
async fn delete_file(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = gw.batches().delete_file(key.as_deref(), &id).await?;
    Ok(Json(json!({"id": f.id, "object": "file", "deleted": true})))
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
    let path = gw.batches().file_content(key.as_deref(), &id).await?;
    let file = tokio::fs::File::open(&path).await.map_err(storage)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], body).into_response())
}

async fn create(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    body: Result<ApiJson<CreateBatch>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let ApiJson(request) = body?;
    let batch = gw.batches().create(key.as_deref(), request).await?;
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

/// `GET /v1/batches`: the caller's batches, newest first (`after`, `limit` default 20).
async fn list(
    State(gw): State<Gateway>,
    Extension(key): Extension<SharedKey>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let all = gw.batches().list(key.as_deref()).await?;
    page(all.iter().map(to_json).collect(), &q, 20)
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
