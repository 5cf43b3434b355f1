//! The Batch API's state on disk under `[gateway] data_dir`:
//!
//! ```text
//! files/{file_id}.json          file object
//! files/{file_id}.jsonl         file content
//! batches/{batch_id}.json       batch object (replaced atomically: write, fsync, rename)
//! batches/{batch_id}.journal    one line per finished request, appended and fsynced
//!                               before it counts: {"index": N, "ok": bool, "line": {…}}
//! ```
//!
//! A restart reads every batch object; active ones resume, re-running exactly the input
//! lines the journal does not have.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::model::{BatchObject, FileObject};

/// The directory layout.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (creating) `root/files` and `root/batches`.
    pub async fn open(root: &Path) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(root.join("files")).await?;
        tokio::fs::create_dir_all(root.join("batches")).await?;
        Ok(Self {
            root: root.to_path_buf(),
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

    /// A batch's journal path.
    pub fn journal_path(&self, batch_id: &str) -> PathBuf {
        self.root
            .join("batches")
            .join(format!("{batch_id}.journal"))
    }

    /// Store a file's content then its object.
    pub async fn put_file(&self, file: &FileObject, content: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.content_path(&file.id), content).await?;
        self.put_json(&self.file_meta_path(&file.id), file).await
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
        let mut out = Vec::new();
        let mut dir = tokio::fs::read_dir(self.root.join("batches")).await?;
        while let Some(entry) = dir.next_entry().await? {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Some(b) = read_json::<BatchObject>(&path).await? {
                    out.push(b);
                }
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    async fn put_json<T: Serialize>(&self, path: &Path, value: &T) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes).await
    }
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

/// An append-only journal: each line is written and fsynced before `append` returns.
#[derive(Debug)]
pub struct Journal {
    file: tokio::fs::File,
}

impl Journal {
    /// Open `path` for appending (creating it).
    /// A torn last line left by a crash is closed with a newline first, so the next
    /// entry starts on its own line.
    pub async fn open(path: &Path) -> std::io::Result<Self> {
        let torn = match tokio::fs::read(path).await {
            Ok(bytes) => bytes.last().is_some_and(|b| *b != b'\n'),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        if torn {
            file.write_all(b"\n").await?;
        }
        Ok(Self { file })
    }

    /// Append one JSON line and make it durable.
    pub async fn append(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line).await?;
        self.file.sync_data().await
    }
}

/// The journal's entries: `(index, ok, line)` for every complete line, the first entry
/// of an index winning. A torn last line (a crash mid-write) is skipped.
pub async fn read_journal(path: &Path) -> std::io::Result<Vec<(usize, bool, serde_json::Value)>> {
    let text = match tokio::fs::read_to_string(path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(index) = v.get("index").and_then(serde_json::Value::as_u64) else {
            continue;
        };
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        if !seen.insert(index) {
            continue;
        }
        let ok = v
            .get("ok")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        out.push((index, ok, v.get("line").cloned().unwrap_or_default()));
    }
    Ok(out)
}
