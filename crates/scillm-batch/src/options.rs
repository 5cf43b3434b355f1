//! [`BatchOptions`]: how a batch runs, and where its results go.

use std::path::PathBuf;
use std::time::Duration;

/// Default for [`BatchOptions::reorder_window`].
pub const DEFAULT_REORDER_WINDOW: usize = 1024;

/// The order of the output lines (SPEC §14, `--order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Line `i` of the output is the result of input line `i` (the default).
    #[default]
    Input,
    /// Results are written as they finish; each carries `scillm_router.index`.
    Completed,
}

impl std::str::FromStr for Order {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "input" => Ok(Order::Input),
            "completed" => Ok(Order::Completed),
            other => Err(format!("unknown order {other:?}: use input or completed")),
        }
    }
}

/// What an existing output is worth (SPEC §14, `--resume`, `--retry-errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resume {
    /// Start afresh: an existing output (and journal) is replaced.
    #[default]
    Off,
    /// Keep every finished result except those that ended `cancelled`, `timeout` or
    /// `rate_limited`; run those and the lines without a result.
    Missing,
    /// As [`Resume::Missing`], and run every line whose `error_type` is not `ok` again.
    Errors,
    /// Keep every finished result except those cancelled (by an interruption or
    /// fail-fast); run those and the lines without a result. A line that timed out or
    /// was rate-limited keeps its answer: the OpenAI Batch API's rule after a restart,
    /// where each `custom_id` is answered exactly once.
    Unfinished,
}

/// Where results go.
pub enum Output {
    /// A file: durable (a journal next to it while the batch runs in input order) and
    /// resumable.
    File(PathBuf),
    /// A writer such as standard output: neither journaled nor resumable; in input order
    /// the batch stops starting lines while the reorder window is full.
    Writer(Box<dyn std::io::Write + Send>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::File(p) => f.debug_tuple("File").field(p).finish(),
            Output::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// How a batch runs. Unset values come from the router's config.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Lines in flight at once (default `router.concurrency`, itself 16 by default).
    pub concurrency: Option<usize>,
    /// Per-request timeout (default `router.timeout_s`).
    pub timeout: Option<Duration>,
    /// Stop at the first line whose `error_type` is not `ok`: lines in flight are
    /// cancelled and every later line gets a `cancelled` result (re-run by `--resume`).
    pub fail_fast: bool,
    /// Temperature 0, top_p 1, penalties 0 and one line at a time.
    pub deterministic: bool,
    /// Output order.
    pub order: Order,
    /// What to do with an existing output.
    pub resume: Resume,
    /// Most finished results held in memory waiting for a slower earlier line (input
    /// order). Past it, results are read back from the journal when their turn comes.
    pub reorder_window: usize,
    /// `custom_llm_provider` for lines that name none.
    pub default_provider: Option<String>,
    /// `api_base` for lines that name none.
    pub default_api_base: Option<String>,
    /// The W3C `traceparent` the batch's spans continue (SPEC §16), e.g. the
    /// `TRACEPARENT` environment variable `scillm batch` was started with; ignored when
    /// not a valid `traceparent`.
    pub traceparent: Option<String>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            concurrency: None,
            timeout: None,
            fail_fast: false,
            deterministic: false,
            order: Order::Input,
            resume: Resume::Off,
            reorder_window: DEFAULT_REORDER_WINDOW,
            default_provider: None,
            default_api_base: None,
            traceparent: None,
        }
    }
}
