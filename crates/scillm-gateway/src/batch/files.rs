//! The Files API's side of the Batch API: uploads (streamed to disk), retrieve, list,
//! content and delete (<https://platform.openai.com/docs/api-reference/files>).

use std::path::PathBuf;

use scillm_core::wire::unix_now;
use scillm_serve::ApiError;

use super::model::FileObject;
use super::store::new_id;
use super::{io_error, visible, BatchService};
use crate::keys::ClientKey;

/// An upload being written to disk; [`BatchService::commit_upload`] makes it a file.
#[derive(Debug)]
pub struct Staged {
    /// The new file's id.
    pub id: String,
    /// Where its content is being written.
    pub path: PathBuf,
}

impl BatchService {
    /// A place to stream a new upload's content to.
    pub async fn stage_upload(&self) -> Result<Staged, ApiError> {
        let store = self.store().await.map_err(io_error)?;
        let id = new_id("file-");
        let path = store.staging_path(&id);
        Ok(Staged { id, path })
    }

    /// Make a staged upload of `bytes` bytes a file of `purpose` `batch` (400 for any
    /// other purpose; the staged content is removed then).
    pub async fn commit_upload(
        &self,
        owner: Option<&ClientKey>,
        staged: Staged,
        filename: String,
        purpose: &str,
        bytes: u64,
    ) -> Result<FileObject, ApiError> {
        if purpose != "batch" {
            let _ = tokio::fs::remove_file(&staged.path).await;
            return Err(ApiError::bad_request(
                "invalid_purpose",
                format!("purpose `{purpose}` is not supported here: use \"batch\""),
            ));
        }
        let store = self.store().await.map_err(io_error)?;
        let file = FileObject {
            id: staged.id,
            object: "file".into(),
            bytes,
            created_at: unix_now(),
            filename,
            purpose: purpose.into(),
            status: "processed".into(),
            owner: owner.map(|k| k.name.clone()),
        };
        tokio::fs::rename(&staged.path, store.content_path(&file.id))
            .await
            .map_err(io_error)?;
        store.put_file_object(&file).await.map_err(io_error)?;
        Ok(file)
    }

    /// A file the caller may see (404 otherwise).
    pub async fn file(&self, owner: Option<&ClientKey>, id: &str) -> Result<FileObject, ApiError> {
        let store = self.store().await.map_err(io_error)?;
        match store.file(id).await.map_err(io_error)? {
            Some(f) if visible(f.owner.as_deref(), owner) => Ok(f),
            _ => Err(ApiError::not_found(
                "file_not_found",
                format!("no file `{id}`"),
            )),
        }
    }

    /// The path of a file's content (404 when the caller may not see it).
    pub async fn file_content(
        &self,
        owner: Option<&ClientKey>,
        id: &str,
    ) -> Result<PathBuf, ApiError> {
        let file = self.file(owner, id).await?;
        let store = self.store().await.map_err(io_error)?;
        Ok(store.content_path(&file.id))
    }

    /// The caller's files, newest first, of `purpose` when given.
    pub async fn files(
        &self,
        owner: Option<&ClientKey>,
        purpose: Option<&str>,
    ) -> Result<Vec<FileObject>, ApiError> {
        let store = self.store().await.map_err(io_error)?;
        let all = store.files().await.map_err(io_error)?;
        Ok(all
            .into_iter()
            .filter(|f| visible(f.owner.as_deref(), owner))
            .filter(|f| purpose.is_none_or(|p| f.purpose == p))
            .collect())
    }

    /// Delete a file (404 when the caller may not see it; 409 while it is the input of
    /// a batch that still runs: cancel the batch or wait for it).
    pub async fn delete_file(
        &self,
        owner: Option<&ClientKey>,
        id: &str,
    ) -> Result<FileObject, ApiError> {
        let file = self.file(owner, id).await?;
        if let Some(batch) = self.running_batch_of(&file.id) {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "invalid_request_error",
                "file_in_use",
                format!(
                    "file `{id}` is the input of batch `{batch}`, which is still running: cancel the batch or wait for it to end"
                ),
            ));
        }
        let store = self.store().await.map_err(io_error)?;
        store.delete_file(&file.id).await.map_err(io_error)?;
        Ok(file)
    }
}
