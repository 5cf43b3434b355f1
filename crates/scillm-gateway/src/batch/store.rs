//! The Batch API's state on disk under `[gateway] data_dir`:
//!
//! ```text
//! files/{file_id}.json          file object
//! files/{file_id}.jsonl         file content
//! batches/{batch_id}.json       batch object (replaced atomically: write, fsync, rename)
//! batches/{batch_id}.results.jsonl          the batch runner's output (scillm-batch),
//! batches/{batch_id}.results.jsonl.journal  and its journal while the batch runs
//! ```
//!
//! A restart reads every batch object; active ones resume through the batch runner,
//! which runs exactly the input lines its journal has no result for. One gateway at a time
//! uses a directory: the store holds an exclusive lock on `.lock` in it (`flock`, released
//! when the process ends, however it ends), so a second gateway given the same directory
//! cannot resume, and so run again, the batches the first is running.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::model::{BatchObject, FileObject};

/// The directory layout, and the lock that makes this store its directory's only user.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Held (locked) while any clone of the store lives.
    _lock: Arc<std::fs::File>,
}

impl Store {
    /// Open (creating) `root/files` and `root/batches`, and take the exclusive lock on
    /// `root/.lock`.
    ///
    /// Errors: an I/O error wrapping [`DirInUse`] when another store (in this process or
    /// another) holds the lock ([`is_dir_in_use`]); any other I/O error as is. A
    /// filesystem without locks (some network filesystems) is used unlocked, with a
    /// warning.
    pub async fn open(root: &Path) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(root.join("files")).await?;
        tokio::fs::create_dir_all(root.join("batches")).await?;
        let path = root.join(".lock");
        let lock = tokio::task::spawn_blocking(move || lock_exclusive(&path))
            .await
            .map_err(std::io::Error::other)??;
        Ok(Self {
            root: root.to_path_buf(),
            _lock: Arc::new(lock),
        })
    }

    /// A file's content path.
    pub fn content_path(&self, file_id: &str) -> PathBuf {
        self.root.join("files").join(format!("{file_id}.jsonl"))
    }

    fn file_meta_path(&self, file_id: &str) -> PathBuf {
        self.root.join("files").join(format!("{file_id}.json"))
    }

    fn batch_path(&self, batch_id: &str) -> PathBuf {
        self.root.join("batches").join(format!("{batch_id}.json"))
    }

    /// Where the batch runner writes a batch's results (one line per input line).
    pub fn results_path(&self, batch_id: &str) -> PathBuf {
        self.root
            .join("batches")
            .join(format!("{batch_id}.results.jsonl"))
    }

    /// Where a new file's content goes before [`Store::put_file_object`] makes it visible.
    pub fn staging_path(&self, file_id: &str) -> PathBuf {
        self.root.join("files").join(format!("{file_id}.jsonl.tmp"))
    }

    /// Store a file object whose content is already at [`Store::content_path`].
    pub async fn put_file_object(&self, file: &FileObject) -> std::io::Result<()> {
        self.put_json(&self.file_meta_path(&file.id), file).await
    }

    /// Remove a file's object then its content (a missing part is not an error).
    pub async fn delete_file(&self, file_id: &str) -> std::io::Result<()> {
        for path in [self.file_meta_path(file_id), self.content_path(file_id)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every stored file object, newest first.
    pub async fn files(&self) -> std::io::Result<Vec<FileObject>> {
        let mut out: Vec<FileObject> = self.objects("files").await?;
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// A file's object, `None` when there is none.
    pub async fn file(&self, file_id: &str) -> std::io::Result<Option<FileObject>> {
        if !is_id(file_id) {
            return Ok(None);
        }
        read_json(&self.file_meta_path(file_id)).await
    }

    /// Store a batch object.
    pub async fn put_batch(&self, batch: &BatchObject) -> std::io::Result<()> {
        self.put_json(&self.batch_path(&batch.id), batch).await
    }

    /// A batch object, `None` when there is none.
    pub async fn batch(&self, batch_id: &str) -> std::io::Result<Option<BatchObject>> {
        if !is_id(batch_id) {
            return Ok(None);
        }
        read_json(&self.batch_path(batch_id)).await
    }

    /// Every stored batch object, newest first.
    pub async fn batches(&self) -> std::io::Result<Vec<BatchObject>> {
        let mut out: Vec<BatchObject> = self.objects("batches").await?;
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// The `*.json` objects of directory `dir`.
    async fn objects<T: DeserializeOwned>(&self, dir: &str) -> std::io::Result<Vec<T>> {
        let mut out = Vec::new();
        let mut entries = tokio::fs::read_dir(self.root.join(dir)).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Some(v) = read_json::<T>(&path).await? {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    async fn put_json<T: Serialize>(&self, path: &Path, value: &T) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes).await
    }
}

/// `path` opened (created when missing) and locked exclusively without waiting.
fn lock_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::other(DirInUse)),
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            tracing::warn!(
                path = %path.display(),
                "the filesystem of [gateway] data_dir has no file locks: nothing stops a \
                 second gateway from using it too"
            );
            Ok(file)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Another running gateway holds the data_dir's lock.
#[derive(Debug, thiserror::Error)]
#[error("another running gateway uses this data_dir (it holds the lock on .lock in it)")]
pub struct DirInUse;

/// Whether `e` is [`Store::open`]'s "another gateway holds the directory".
pub fn is_dir_in_use(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<DirInUse>())
}

/// Ids are generated here (`file-…`, `batch_…`): anything else (e.g. `../x`) names no
/// stored object.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new id with `prefix`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// The id of a batch's output (`kind` `output`) or error file: derived from the batch's
/// id, so that finishing a batch again after a crash names the same files.
pub fn result_file_id(batch_id: &str, kind: &str) -> String {
    let suffix = batch_id.strip_prefix("batch_").unwrap_or(batch_id);
    format!("file-{suffix}-{kind}")
}

/// Write `path` so a reader sees the old or the new content, never a mix: a temporary
/// file beside it, fsynced, then renamed over it.
async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = path.to_path_buf();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(std::io::Error::other)?
}

async fn read_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
