//! [`crate::Router::chat_stream`]: a streamed call through the same failover loop as
//! every other call (slots, admission, cooldowns, retries, timeout), with its metadata.

use std::time::{Duration, Instant};

use futures::StreamExt;
use scillm_core::config::secs;
use scillm_core::{ChunkStream, ErrorKind, ProviderError};
use tracing::Instrument;

use crate::execute::{ExecEnv, Progress};
use crate::failover::{call_with_failover, Answer, Mode};
use crate::request::RouterRequest;
use crate::result::{ErrorType, RouterMeta, RouterResult};
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
    if let Err(e) = crate::request::validate(&item.request) {
        return Err(Box::new(RouterResult::failed(
            0,
            Some(&item.request.model),
            e,
        )));
    }
    let started = Instant::now();
    let timeout = item.timeout.or_else(|| config.router.timeout_s.map(secs));
    let env = ExecEnv {
        resolver: &inner.resolver,
        policy: &inner.policy,
        deadline: timeout.map(|t| started + t),
    };
    let mut progress = Progress::default();
    let span = tracing::info_span!(
        target: "scillm_router",
        "router_item",
        otel.name = "router item",
        stream = true,
        provider = tracing::field::Empty,
        deployment = tracing::field::Empty,
        error_type = tracing::field::Empty,
    );
    let call = call_with_failover(env, &item, &item.request, &mut progress, Mode::Stream)
        .instrument(span.clone());
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
    let error_type = match &outcome {
        Ok(_) => ErrorType::Ok,
        Err(e) => ErrorType::of_error(e),
    };
    if let Some(t) = &progress.metrics {
        // The stream is open: what is measured is the time to open it.
        let opened = Duration::from_millis(meta.timing_ms);
        t.request(error_type.as_str(), opened);
        t.retries(u64::from(progress.retry_count()));
    }
    if !span.is_disabled() {
        span.record("error_type", error_type.as_str());
        if let Some(p) = &meta.provider {
            span.record("provider", p.as_str());
        }
        if let Some(d) = &meta.deployment {
            span.record("deployment", d.as_str());
        }
    }
    match outcome {
        Ok((Answer::Stream(stream), held)) => {
            // The slot and the in-flight count stay taken while chunks flow; the token
            // use the chunks report is recorded when the stream ends.
            let mut tokens = TokensOnEnd {
                metrics: progress.metrics.take(),
                usage: None,
            };
            let stream: ChunkStream = Box::pin(stream.map(move |chunk| {
                let _held = &held;
                if let Ok(c) = &chunk {
                    if let Some(u) = &c.usage {
                        tokens.saw(u.prompt_tokens, u.completion_tokens);
                    }
                }
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

/// Records a stream's token use (`gen_ai_client_token_usage`, SPEC §16) from the last
/// usage its chunks reported (`stream_options.include_usage`), when the stream is dropped.
struct TokensOnEnd {
    metrics: Option<std::sync::Arc<scillm_telemetry::handles::TargetMetrics>>,
    usage: Option<(u64, u64)>,
}

impl TokensOnEnd {
    fn saw(&mut self, input: u64, output: u64) {
        self.usage = Some((input, output));
    }
}

impl Drop for TokensOnEnd {
    fn drop(&mut self) {
        if let (Some(m), Some((input, output))) = (&self.metrics, self.usage) {
            m.tokens(input, output);
        }
    }
}
