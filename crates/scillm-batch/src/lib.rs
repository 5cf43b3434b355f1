//! The scillm batch runner (SPEC §14): a JSONL file of chat requests through the
//! [`scillm_router::Router`], one result line per input line.
//!
//! - Input is streamed: memory depends on the concurrency, not on the number of lines.
//! - Each line runs as its own task, so parsing, JSON Schema checks (one compiled schema
//!   per distinct schema, in the router) and serialisation use every core.
//! - Durable: a finished result is in the journal (`OUT.journal`, or the output itself
//!   in completion order) before it counts as done; [`Resume`] picks a batch up after a
//!   crash or a kill without losing or re-running a finished line.
//! - [`Order::Input`] keeps input order with at most
//!   [`BatchOptions::reorder_window`] results in memory; [`Order::Completed`] writes
//!   results as they finish.
//! - Cancelling the token stops the batch cleanly and the [`Summary`] says so.
//! - Observability (SPEC §16): [`MetricsServer`] serves `GET /metrics` while a batch runs;
//!   the batch's items run under one `batch` span, a child of
//!   [`BatchOptions::traceparent`] when given (the `TRACEPARENT` variable of a CLI run).
//!
//! [`result_line`] is the exact line `scillm batch` writes for one result, for programs
//! that run requests themselves and want the same output.
//!
//! ```
//! use std::sync::Arc;
//! use scillm_batch::{BatchOptions, BatchRunner, Output};
//! use scillm_core::config::ConfigLoader;
//! use scillm_router::Router;
//! use tokio_util::sync::CancellationToken;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let config = ConfigLoader::new().no_file().env_from(Vec::<(String, String)>::new()).load().unwrap();
//! let router = Router::new(Arc::new(config)).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let out = dir.path().join("out.jsonl");
//! let input: &'static [u8] = b"{\"model\":\"not-configured\",\"messages\":[]}\nnot json\n";
//! let summary = BatchRunner::new(router, BatchOptions::default())
//!     .run(input, Output::File(out.clone()), CancellationToken::new())
//!     .await
//!     .unwrap();
//! assert_eq!(summary.written(), 2);
//! assert_eq!(summary.errors(), 2);
//! assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
//! # });
//! ```

mod error;
mod format;
mod input;
mod journal;
mod line;
mod metrics;
mod options;
mod progress;
mod runner;
mod sink;
mod summary;

pub use error::BatchError;
pub use format::{JsonlFormat, LineFormat, ParsedLine};
pub use input::count_lines;
pub use journal::journal_path;
pub use line::{parse_line, reruns, result_line, LineDefaults};
pub use metrics::MetricsServer;
pub use options::{BatchOptions, Order, Output, Resume, DEFAULT_REORDER_WINDOW};
pub use progress::{Progress, ProgressFn};
pub use runner::BatchRunner;
pub use summary::{Summary, Tokens};
