//! One item from input to [`RouterResult`]: parsing, preparation, the call under its
//! timeout and cancellation with panics caught, classification and metadata.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::FutureExt;
use scillm_cache::{CacheDirectives, CachePlan};
use scillm_core::config::secs;
use scillm_core::{ErrorKind, ProviderError};
use scillm_telemetry::handles::{self, RouterMetrics, TargetMetrics};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::execute::{execute, ExecEnv, Outcome, Progress};
use crate::json_check::{set_schema_format, JsonExpectation};
use crate::options::make_deterministic;
use crate::request::{RequestItem, ResponseMode};
use crate::result::{empty_response, ErrorType, RouterMeta, RouterResult};
use crate::router::Inner;

/// What every item of one run shares (given to [`crate::Router::run_item`] by callers that
/// schedule items themselves).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Per-request timeout unless the item sets its own.
    pub timeout: Option<Duration>,
    /// Pin sampling parameters.
    pub deterministic: bool,
    /// Cancels the item.
    pub cancel: CancellationToken,
    /// Why the token was cancelled, set by whoever cancelled it (unset: the caller).
    pub reason: Arc<OnceLock<String>>,
}

impl RunSettings {
    /// Settings for a single call: no cancellation, the config's timeout.
    pub fn single() -> Self {
        Self {
            timeout: None,
            deterministic: false,
            cancel: CancellationToken::new(),
            reason: Arc::new(OnceLock::new()),
        }
    }

    fn cancel_message(&self) -> String {
        self.reason
            .get()
            .cloned()
            .unwrap_or_else(|| "cancelled by the caller".to_string())
    }
}

/// Run item `index`, queued since `queued_at`, under a span of its own (`router item`,
/// with where it went and how it ended), counted in the router's metrics (SPEC §16).
/// Always returns its result.
pub async fn run_item(
    inner: &Inner,
    index: usize,
    item: RequestItem,
    queued_at: Instant,
    settings: &RunSettings,
) -> RouterResult {
    let span = tracing::info_span!(
        target: "scillm_router",
        "router_item",
        otel.name = "router item",
        index,
        provider = tracing::field::Empty,
        deployment = tracing::field::Empty,
        error_type = tracing::field::Empty,
        queue_ms = tracing::field::Empty,
        attempts = tracing::field::Empty,
    );
    let metrics = handles::router();
    let _in_flight = metrics.map(|m| m.in_flight());
    let mut done = Done::default();
    let result = run(inner, index, item, queued_at, settings, &mut done)
        .instrument(span.clone())
        .await;
    if let Some(m) = metrics {
        done.record(m, &result);
    }
    if !span.is_disabled() {
        let meta = &result.meta;
        span.record("error_type", meta.error_type.as_str());
        span.record("queue_ms", meta.queue_ms);
        span.record("attempts", result.attempts);
        if let Some(p) = &meta.provider {
            span.record("provider", p.as_str());
        }
        if let Some(d) = &meta.deployment {
            span.record("deployment", d.as_str());
        }
    }
    result
}

/// What the metrics need to know about an item beyond its result.
#[derive(Default)]
struct Done {
    /// The handles of the target that ended the item (none: it reached no provider).
    target: Option<Arc<TargetMetrics>>,
    /// Retries made.
    retries: u32,
}

impl Done {
    /// `scillm_requests_total`, the operation duration, token usage, retries and queue
    /// time of one finished item.
    fn record(self, router: &RouterMetrics, result: &RouterResult) {
        let meta = &result.meta;
        let error_type = meta.error_type.as_str();
        router.queue(Duration::from_millis(meta.queue_ms));
        match self.target {
            Some(t) => {
                t.request(error_type, result.elapsed);
                if let (None, Some(u)) = (&result.error, &result.response.usage) {
                    t.tokens(u.prompt_tokens, u.completion_tokens);
                }
                t.retries(u64::from(self.retries));
            }
            None => {
                if let Some(t) = handles::no_target() {
                    t.count(error_type);
                }
            }
        }
    }
}

async fn run(
    inner: &Inner,
    index: usize,
    item: RequestItem,
    queued_at: Instant,
    settings: &RunSettings,
    done: &mut Done,
) -> RouterResult {
    let config = &inner.config;
    let model_hint = item.model_hint();
    let started = Instant::now();
    let queued = started.duration_since(queued_at);
    let queue_ms = ms(queued);
    let mut item = match item.into_request() {
        Ok(r) => r,
        Err(e) => {
            let mut r = RouterResult::failed(index, model_hint.as_deref(), e);
            r.meta.queue_ms = queue_ms;
            r.queued = queued;
            return r;
        }
    };
    if settings.deterministic {
        make_deterministic(&mut item.request);
    }
    let expectation = match JsonExpectation::for_item(&item) {
        Ok(e) => e,
        Err(e) => {
            let mut r = RouterResult::failed(index, model_hint.as_deref(), e);
            r.meta.queue_ms = queue_ms;
            r.queued = queued;
            return r;
        }
    };
    if item.response_mode == Some(ResponseMode::SchemaFirst) {
        if let Some(schema) = &item.json_schema {
            set_schema_format(&mut item.request, schema);
        }
    }
    if let Err(e) = crate::request::validate(&item.request) {
        let mut r = RouterResult::failed(index, model_hint.as_deref(), e);
        r.meta.queue_ms = queue_ms;
        r.queued = queued;
        return r;
    }
    // The directives are for this router; an upstream would refuse the unknown field.
    let directives = CacheDirectives::take(&mut item.request);
    let cache = inner.cache.get().await;
    let plan = cache.map(|c| c.plan(&item.request, directives));
    if let (
        Some(c),
        Some(CachePlan::Use {
            key, read: true, ..
        }),
    ) = (cache, &plan)
    {
        if let Some(hit) = c.get(key).await {
            let mut meta = RouterMeta::new(index);
            meta.queue_ms = queue_ms;
            meta.model = Some(item.request.model.clone());
            meta.schema_mode = expectation.as_ref().map(|e| e.mode.to_string());
            meta.cache_hit = Some(true);
            let json = expectation.as_ref().map(|e| e.check(&hit.first_text()));
            let outcome = Outcome {
                response: Ok(hit),
                json,
            };
            let mut result = classify(meta, outcome, expectation.is_some(), &item.request.model);
            result.elapsed = started.elapsed();
            result.queued = queued;
            result.meta.timing_ms = ms(result.elapsed);
            return result;
        }
    }
    let timeout = item
        .timeout
        .or(settings.timeout)
        .or_else(|| config.router.timeout_s.map(secs));
    let env = ExecEnv {
        resolver: &inner.resolver,
        policy: &inner.policy,
        deadline: timeout.map(|t| started + t),
    };
    let mut progress = Progress::default();
    // The futures are built inside `select!` (not bound to locals first) so the item's
    // state machine does not reserve room for both the local and the moved copy.
    let outcome = tokio::select! {
        biased;
        () = settings.cancel.cancelled() => failed(ErrorKind::Cancelled, settings.cancel_message()),
        r = AssertUnwindSafe(execute(env, &item, expectation.as_ref(), &mut progress)).catch_unwind() => {
            r.unwrap_or_else(|panic| failed(ErrorKind::Internal, format!(
                "the provider panicked: {}", panic_message(&panic))))
        }
        () = sleep_or_never(timeout) => failed(ErrorKind::Timeout, format!(
            "the request timed out after {:.3} s", timeout.unwrap_or_default().as_secs_f64())),
    };
    let elapsed = started.elapsed();
    let mut meta = progress.meta(index, elapsed, &item.request.model, config);
    meta.queue_ms += queue_ms;
    meta.schema_mode = expectation.as_ref().map(|e| e.mode.to_string());
    meta.fallback_used = progress.fallback_used;
    meta.cache_hit = cache.map(|_| false);
    let mut result = classify(meta, outcome, expectation.is_some(), &item.request.model);
    result.elapsed = elapsed.saturating_sub(progress.slot_wait);
    result.queued = queued + progress.slot_wait;
    result.attempts = progress.attempts();
    if progress.metrics.is_some() {
        done.retries = progress.retry_count();
        done.target = progress.metrics.take();
    }
    if let (
        Some(c),
        Some(CachePlan::Use {
            key, write: true, ..
        }),
    ) = (cache, &plan)
    {
        // Only answers that passed every check are worth serving again.
        if result.error.is_none() && result.meta.error_type == ErrorType::Ok {
            c.put(key, &result.response).await;
        }
    }
    result
}

/// Fill `error_type` and the JSON fields from the outcome.
fn classify(mut meta: RouterMeta, outcome: Outcome, json_asked: bool, model: &str) -> RouterResult {
    match outcome.response {
        Err(e) => {
            meta.set_error(&e);
            RouterResult {
                response: empty_response(meta.index, model),
                meta,
                error: Some(e),
                elapsed: Duration::ZERO,
                queued: Duration::ZERO,
                attempts: 0,
            }
        }
        Ok(response) => {
            if let Some(json) = outcome.json {
                meta.json_valid = Some(json.json_valid);
                meta.schema_valid = json.schema_valid;
                meta.error_type = if json.passed() {
                    ErrorType::Ok
                } else {
                    ErrorType::InvalidJson
                };
                meta.schema_errors = json.schema_errors;
            } else if !json_asked
                && response.first_text().trim().is_empty()
                && response.first_tool_calls().is_empty()
            {
                meta.error_type = ErrorType::EmptyContent;
            }
            RouterResult {
                response,
                meta,
                error: None,
                elapsed: Duration::ZERO,
                queued: Duration::ZERO,
                attempts: 0,
            }
        }
    }
}

/// Sleep for `limit`, or forever without one.
async fn sleep_or_never(limit: Option<Duration>) {
    match limit {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

fn failed(kind: ErrorKind, message: String) -> Outcome {
    Outcome {
        response: Err(ProviderError::new(kind, message)),
        json: None,
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Whole milliseconds.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
