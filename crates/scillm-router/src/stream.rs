//! [`crate::Router::chat_stream`]: a streamed call through the same failover loop as
//! every other call (slots, admission, cooldowns, retries, timeout), with its metadata.

use std::time::Instant;

use futures::StreamExt;
use scillm_core::config::secs;
use scillm_core::{ChunkStream, ErrorKind, ProviderError};

use crate::execute::{ExecEnv, Progress};
use crate::failover::{call_with_failover, Answer, Mode};
use crate::request::RouterRequest;
use crate::result::{RouterMeta, RouterResult};
use crate::router::Inner;

/// An open routed stream and the record of the call that opened it.
pub struct RoutedStream {
    /// `scillm_router` of the call: deployment, provider, model, `queue_ms`, `timing_ms`
    /// (until the stream was open) and, when asked for, `retries`.
    pub meta: RouterMeta,
    /// Upstream calls made to open it, over every target (the gateway's
    /// `x-scillm-attempts`).
    pub attempts: u32,
    /// The chunks; the deployment's slot is held until the stream is dropped.
    pub stream: ChunkStream,
}

impl std::fmt::Debug for RoutedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedStream")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// Open `item` as a stream.
pub async fn open(inner: &Inner, item: RouterRequest) -> Result<RoutedStream, Box<RouterResult>> {
    let config = &inner.config;
    let started = Instant::now();
    let timeout = item.timeout.or_else(|| config.router.timeout_s.map(secs));
    let env = ExecEnv {
        resolver: &inner.resolver,
        policy: &inner.policy,
        deadline: timeout.map(|t| started + t),
    };
    let mut progress = Progress::default();
    let call = call_with_failover(env, &item, &item.request, &mut progress, Mode::Stream);
    let outcome = match timeout {
        Some(t) => tokio::time::timeout(t, call).await.unwrap_or_else(|_| {
            Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("the stream did not open within {:.3} s", t.as_secs_f64()),
            ))
        }),
        None => call.await,
    };
    let meta = progress.meta(0, started.elapsed(), &item.request.model, config);
    let attempts = progress.attempts();
    match outcome {
        Ok((Answer::Stream(stream), held)) => {
            // The slot and the in-flight count stay taken while chunks flow.
            let stream: ChunkStream = Box::pin(stream.map(move |chunk| {
                let _held = &held;
                chunk
            }));
            Ok(RoutedStream {
                meta,
                attempts,
                stream,
            })
        }
        Ok((Answer::Chat(_), _)) => Err(failed(
            meta,
            attempts,
            &item,
            ProviderError::new(ErrorKind::Internal, "a complete answer came for a stream"),
        )),
        Err(e) => Err(failed(meta, attempts, &item, e)),
    }
}

fn failed(
    mut meta: RouterMeta,
    attempts: u32,
    item: &RouterRequest,
    e: ProviderError,
) -> Box<RouterResult> {
    meta.set_error(&e);
    let mut r = RouterResult::failed(0, Some(&item.request.model), e);
    r.meta = meta;
    r.attempts = attempts;
    Box::new(r)
}
