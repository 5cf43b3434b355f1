//! [`Progress`]: what a running batch reports after each group of results is on disk.

use std::sync::Arc;
use std::time::Duration;

/// A snapshot of a running batch, given to the progress callback once when the run
/// starts (with the kept results of an earlier run) and then each time finished results
/// have been made durable (at most once per group of results that finished together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Lines this run has to do (input lines minus kept ones), when the line count is
    /// known before the run.
    pub total: Option<u64>,
    /// Results this run has written.
    pub done: u64,
    /// Of those, `error_type` `ok`.
    pub ok: u64,
    /// Of those, any other `error_type`.
    pub errors: u64,
    /// Lines kept from an earlier run so far.
    pub resumed: u64,
    /// Results kept from an earlier run in all (known when the run starts: the first
    /// report, made before any line starts, already has it).
    pub kept: u64,
    /// Of those, any `error_type` other than `ok`.
    pub kept_errors: u64,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// The progress callback: called on the batch's writer task, so it should be quick
/// (e.g. update a progress bar).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;
