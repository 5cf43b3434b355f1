//! HTTP client code shared by the codex-agent and openai providers.
//!
//! A provider turns a [`ChatRequest`] into an [`UpstreamCall`] (URL, headers, JSON body);
//! [`HttpChatClient`] sends it under the one retry loop of `scillm_core::retry`, with a
//! per-attempt timeout and an overall deadline, and turns the answer into a
//! [`ChatResponse`] or a [`ChunkStream`].

mod classify;
mod headers;
mod span;
mod sse;

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use scillm_core::config::CodexAgentConfig;
use scillm_core::retry::run_with_retry;
use scillm_core::wire::{Aggregator, ChatRequest, ChatResponse};
use scillm_core::{
    ApiBase, CallContext, ChunkStream, ErrorKind, ProviderError, RetryPolicy, RetryStats,
};

pub use classify::{parse_completion, reqwest_error, status_error, with_wait_hint};
pub use headers::{build_headers, HOP_BY_HOP};
pub use span::{chat_span, record_answer, record_error};

/// One prepared upstream call: where it goes, with which headers and body.
#[derive(Clone)]
pub struct UpstreamCall {
    /// The full URL (`{base}/v1/chat/completions`).
    pub url: reqwest::Url,
    /// The headers to send (already filtered; may hold a sensitive `Authorization`).
    pub headers: reqwest::header::HeaderMap,
    /// The serialised JSON body (shared by every attempt).
    pub body: Bytes,
}

impl UpstreamCall {
    /// A call to `url` with `headers`, its body `body` serialised once, here.
    pub fn new(
        url: reqwest::Url,
        headers: reqwest::header::HeaderMap,
        body: &impl serde::Serialize,
    ) -> Result<Self, ProviderError> {
        let body = serde_json::to_vec(body).map(Bytes::from).map_err(|e| {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                format!("could not serialise the request: {e}"),
            )
        })?;
        Ok(Self { url, headers, body })
    }
}

/// The parsed `{base}/v1/chat/completions` URL of `base`.
pub fn chat_url(base: &ApiBase) -> Result<reqwest::Url, ProviderError> {
    reqwest::Url::parse(&base.chat_completions_url()).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!("the api_base does not give a valid chat-completions URL: {e}"),
        )
    })
}

impl std::fmt::Debug for UpstreamCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be secrets: show names only.
        f.debug_struct("UpstreamCall")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A pooled HTTP client with the retry policy and timeouts of one provider instance.
#[derive(Debug, Clone)]
pub struct HttpChatClient {
    label: &'static str,
    http: reqwest::Client,
    policy: RetryPolicy,
    attempt_timeout: Option<Duration>,
    call_deadline: Option<Duration>,
}

impl HttpChatClient {
    /// A client named `label` (used in logs and errors) with the retry policy and timeouts
    /// of `config`. Builds the one connection pool this provider instance uses.
    pub fn new(label: &'static str, config: &CodexAgentConfig) -> Result<Self, ProviderError> {
        Self::with_policy(
            label,
            config.retry_policy(),
            config.attempt_timeout(),
            config.deadline(),
        )
    }

    /// A client named `label` with an explicit retry policy, per-attempt timeout and
    /// overall deadline (zero durations mean none), e.g. the sidecar's forward mode, which
    /// leaves retries to its own caller.
    pub fn with_policy(
        label: &'static str,
        policy: RetryPolicy,
        attempt_timeout: Duration,
        call_deadline: Duration,
    ) -> Result<Self, ProviderError> {
        let attempt_timeout = non_zero(attempt_timeout);
        let http = reqwest::Client::builder()
            .user_agent(concat!("scillm/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .connect_timeout(attempt_timeout.unwrap_or(Duration::from_secs(30)))
            .build()
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::Internal,
                    format!("{label}: could not build the HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            label,
            http,
            policy,
            attempt_timeout,
            call_deadline: non_zero(call_deadline),
        })
    }

    /// The retry policy in use.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// When a call starting now must be over: the earlier of the caller's deadline and
    /// the configured overall deadline.
    pub fn deadline_for(&self, ctx: &CallContext) -> Option<Instant> {
        let configured = self.call_deadline.map(|d| Instant::now() + d);
        match (ctx.deadline, configured) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Send `call` and return the complete answer, retrying per the policy.
    ///
    /// The body is read leniently (SPEC §11); an error inside a 2xx is retried like the
    /// status it names; an upstream that streams anyway has its events folded into one
    /// answer.
    pub async fn chat(
        &self,
        call: UpstreamCall,
        ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let deadline = self.deadline_for(ctx);
        let policy = self.policy.capped(ctx.max_retries);
        run_with_retry(&policy, deadline, &ctx.stats, self.label, |_| {
            let call = &call;
            async move {
                let budget = self.attempt_budget(deadline)?;
                with_budget(self.label, budget, async {
                    let resp = self.send(call).await?;
                    let status = resp.status().as_u16();
                    if !(200..300).contains(&status) {
                        return Err(error_answer(resp).await);
                    }
                    if sse::is_declared_event_stream(&resp) {
                        let stream = sse::chunk_stream(resp, self.attempt_timeout, deadline);
                        return fold(stream).await.map(|r| (r, Some(status)));
                    }
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(|e| reqwest_error(&e))?;
                    parse_completion(status, &headers, &body).map(|r| (r, Some(status)))
                })
                .await
            }
        })
        .await
    }

    /// Send `call` (its body must ask for `stream: true`) and return the chunk stream.
    ///
    /// Retries cover establishing the stream: an error status, or an error (or unreadable
    /// data) in the first event, before any chunk was handed on. Once chunks flow, a
    /// failure ends the stream with one error item. An upstream that answers with one JSON
    /// completion instead is given as a stream of that answer.
    pub async fn chat_stream(
        &self,
        call: UpstreamCall,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let deadline = self.deadline_for(ctx);
        let policy = self.policy.capped(ctx.max_retries);
        run_with_retry(&policy, deadline, &ctx.stats, self.label, |_| {
            let call = &call;
            async move {
                let budget = self.attempt_budget(deadline)?;
                with_budget(self.label, budget, async {
                    let resp = self.send(call).await?;
                    let status = resp.status().as_u16();
                    if !(200..300).contains(&status) {
                        return Err(error_answer(resp).await);
                    }
                    if sse::is_event_stream(&resp) {
                        let mut stream = sse::chunk_stream(resp, self.attempt_timeout, deadline);
                        let first = match stream.next().await {
                            Some(item) => item?,
                            None => return Ok((empty_stream(), Some(status))),
                        };
                        let rest = futures::stream::iter([Ok(first)]).chain(stream);
                        return Ok((Box::pin(rest) as ChunkStream, Some(status)));
                    }
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(|e| reqwest_error(&e))?;
                    let completion = parse_completion(status, &headers, &body)?;
                    Ok((sse::completion_as_stream(completion), Some(status)))
                })
                .await
            }
        })
        .await
    }

    /// One attempt, carrying the current span's W3C trace context (`traceparent`).
    async fn send(&self, call: &UpstreamCall) -> Result<reqwest::Response, ProviderError> {
        let mut headers = call.headers.clone();
        scillm_telemetry::propagation::inject_current(&mut headers);
        self.http
            .post(call.url.clone())
            .headers(headers)
            .body(call.body.clone())
            .send()
            .await
            .map_err(|e| reqwest_error(&e))
    }

    /// The time one attempt may take: the per-attempt timeout, cut to what is left of the
    /// deadline. An already-passed deadline is a timeout.
    fn attempt_budget(&self, deadline: Option<Instant>) -> Result<Option<Duration>, ProviderError> {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("{}: the call's deadline passed", self.label),
            ));
        }
        Ok(match (self.attempt_timeout, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}

/// The most of an error answer's body read: enough for any error message, bounded
/// against an upstream that answers an error with a huge body.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// The typed error for a non-2xx answer, from its status, `Retry-After` and body.
async fn error_answer(mut resp: reqwest::Response) -> ProviderError {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    // A body cut short by the connection still types the error by its status.
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_BODY_CAP {
            body.truncate(ERROR_BODY_CAP);
            break;
        }
    }
    status_error(status, &headers, &String::from_utf8_lossy(&body))
}

/// Fold a chunk stream into one answer; an error item ends it with that error.
async fn fold(mut stream: ChunkStream) -> Result<ChatResponse, ProviderError> {
    let mut agg = Aggregator::default();
    let mut model = String::new();
    while let Some(item) = stream.next().await {
        let chunk = item?;
        if model.is_empty() {
            model.clone_from(&chunk.model);
        }
        agg.push(chunk);
    }
    Ok(agg.finish(&model))
}

/// A stream that ended at once (`[DONE]` with no chunk before it).
fn empty_stream() -> ChunkStream {
    Box::pin(futures::stream::empty())
}

/// Set the request up for a complete answer (`stream` off) or a streamed one.
pub fn set_stream_mode(request: &mut ChatRequest, stream: bool) {
    if stream {
        request.stream = Some(true);
    } else {
        request.stream = None;
        request.extra.remove("stream_options");
    }
}

/// A call that failed before its first attempt (no base, a bad header) still reports
/// stats: one failure, no status.
pub fn record_failed_before_sending(ctx: &CallContext) {
    ctx.stats.record(RetryStats {
        failures: 1,
        ..RetryStats::default()
    });
}

/// Run `fut` within `budget`; running out is a [`ErrorKind::Timeout`] error naming the
/// setting behind the budget of provider `label`.
async fn with_budget<T, F>(
    label: &str,
    budget: Option<Duration>,
    fut: F,
) -> Result<T, ProviderError>
where
    F: std::future::Future<Output = Result<T, ProviderError>>,
{
    match budget {
        None => fut.await,
        Some(b) => tokio::time::timeout(b, fut).await.unwrap_or_else(|_| {
            Err(ProviderError::new(
                ErrorKind::Timeout,
                format!(
                    "upstream did not answer within {:.1} s ({} / the request's deadline)",
                    b.as_secs_f64(),
                    timeout_setting(label)
                ),
            ))
        }),
    }
}

/// The setting that bounds one attempt of provider `label`: codex-agent reads
/// `CODEX_AGENT_TIMEOUT_S`, every other provider its deployment's `timeout_s` (SPEC §13).
fn timeout_setting(label: &str) -> &'static str {
    if label == "codex-agent" {
        "CODEX_AGENT_TIMEOUT_S"
    } else {
        "the deployment's timeout_s"
    }
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}
