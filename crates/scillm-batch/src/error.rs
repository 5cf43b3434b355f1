//! [`BatchError`]: why a batch could not run or finish. Results of single lines are never
//! errors here: every line gets its result line.

use std::path::PathBuf;

/// A batch that could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The input could not be opened or read.
    #[error("cannot read the input {path}: {source}")]
    Input {
        /// The input file (`-` for a stream).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The output or its journal could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The `/metrics` endpoint could not start.
    #[error("--metrics-addr {addr}: {message}")]
    Metrics {
        /// The address asked for.
        addr: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// Resuming needs results on disk.
    #[error("--resume and --retry-errors need an output file: add -o OUT.jsonl")]
    ResumeNeedsFile,
}

impl BatchError {
    /// Whether the caller asked for something impossible (a usage error, exit 2) rather
    /// than the run failing.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            BatchError::ResumeNeedsFile | BatchError::Input { .. } | BatchError::Metrics { .. }
        )
    }
}
