//! A streamed answer's tpm charge settled by its real usage when the stream ends (SPEC
//! §13: the estimate is corrected with the real usage, streams included).

use std::sync::Arc;

use scillm_core::ChunkStream;

use crate::state::RouterState;

/// `stream` with its deployment's token charge corrected, when the stream ends, by the
/// last usage its chunks reported (`stream_options.include_usage`; some servers repeat a
/// running total on every chunk), as a complete answer's is.
pub fn settle_on_usage(
    stream: ChunkStream,
    state: Arc<dyn RouterState>,
    deployment: Arc<str>,
    charged: u64,
) -> ChunkStream {
    use futures::StreamExt;
    let mut settle = SettleOnEnd {
        state,
        deployment,
        charged,
        total: None,
    };
    Box::pin(stream.map(move |chunk| {
        if let Ok(c) = &chunk {
            if let Some(u) = &c.usage {
                // A method call, so the closure owns all of `settle` (not just the
                // field), and the settling happens when the stream is dropped.
                settle.saw(u.total_tokens);
            }
        }
        chunk
    }))
}

/// Settles a stream's token charge with the last usage seen when the stream is dropped.
struct SettleOnEnd {
    state: Arc<dyn RouterState>,
    deployment: Arc<str>,
    charged: u64,
    total: Option<u64>,
}

impl SettleOnEnd {
    fn saw(&mut self, total: u64) {
        self.total = Some(total);
    }
}

impl Drop for SettleOnEnd {
    fn drop(&mut self) {
        if let Some(total) = self.total {
            self.state.settle(&self.deployment, self.charged, total);
        }
    }
}
