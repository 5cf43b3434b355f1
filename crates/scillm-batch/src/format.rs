//! [`LineFormat`]: how a batch turns an input line into a request and a result into an
//! output line. [`JsonlFormat`] is `scillm batch`'s (one chat request per line, the
//! router's result per line); other programs (the gateway's OpenAI Batch API) bring their
//! own envelope and keep the runner's streaming, journal, resume, order and cancellation.

use std::future::Future;

use scillm_core::ProviderError;
use scillm_router::{RequestItem, RouterResult};
use tokio_util::sync::CancellationToken;

use crate::line::{parse_line, result_line, LineDefaults};

/// One input line, read.
#[derive(Debug)]
pub struct ParsedLine<C> {
    /// The request to run (a bad line is [`RequestItem::Invalid`], so that it still gets
    /// its result line).
    pub item: RequestItem,
    /// What the output line needs from the input line besides the result (e.g. an
    /// OpenAI Batch API `custom_id`).
    pub context: C,
}

/// The shape of a batch's input and output lines.
///
/// Contract with the journal: every output line is one JSON object, ends with `\n` and
/// has a top-level `scillm_router` record carrying at least `index`, `error_type` and
/// `error_kind` (as [`result_line`] writes it), so that [`crate::Resume`] can read it
/// back after a crash.
pub trait LineFormat: Send + Sync + 'static {
    /// What [`LineFormat::output`] needs from the input line.
    type Context: Send + Sync + 'static;

    /// Read input line `index` (without its newline).
    fn parse(&self, index: usize, line: &[u8]) -> ParsedLine<Self::Context>;

    /// Wait until the line may start (e.g. for a client key's rate limit), or refuse it:
    /// the error becomes the line's result without any call. Called on the line's own
    /// task; must end soon after `cancel` fires. The default starts at once.
    fn admit(
        &self,
        _item: &RequestItem,
        _context: &Self::Context,
        _cancel: &CancellationToken,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send {
        std::future::ready(Ok(()))
    }

    /// The output line of `result` (ending with `\n`; see the trait's contract).
    fn output(&self, context: &Self::Context, result: &RouterResult) -> Vec<u8>;
}

/// `scillm batch`'s lines: each input line is one chat request (router keys allowed),
/// each output line the router's result ([`result_line`]).
#[derive(Debug, Clone, Default)]
pub struct JsonlFormat {
    /// Values for lines that do not set them.
    pub defaults: LineDefaults,
}

impl LineFormat for JsonlFormat {
    type Context = ();

    fn parse(&self, _index: usize, line: &[u8]) -> ParsedLine<()> {
        ParsedLine {
            item: parse_line(line, &self.defaults),
            context: (),
        }
    }

    fn output(&self, _context: &(), result: &RouterResult) -> Vec<u8> {
        result_line(result)
    }
}
