//! Running one parsed request: the failover loop (`crate::failover`), the schema-first
//! retry, and the bookkeeping (`Progress`) that survives a timeout or a cancellation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_core::{Config, ErrorKind, ProviderError, RetryStatsSlot};
use scillm_telemetry::handles::TargetMetrics;

use crate::failover::{self, Answer, Mode, Policy};
use crate::json_check::{set_json_object_format, JsonExpectation, JsonOutcome};
use crate::request::{ResponseMode, RouterRequest};
use crate::resolve::Resolver;
use crate::result::{RetriesMeta, RouterMeta};
use crate::run::ms;

/// What is known about a call so far; filled in as it goes, so it is there even when the
/// call is cut short.
#[derive(Debug, Default)]
pub struct Progress {
    /// The last provider called.
    pub provider: Option<Arc<str>>,
    /// The last model id sent.
    pub model: Option<Arc<str>>,
    /// The last deployment called.
    pub deployment: Option<Arc<str>>,
    /// Time spent waiting for deployment slots and rate-limit admission.
    pub slot_wait: Duration,
    /// Whether the schema-first retry ran.
    pub fallback_used: bool,
    /// The fallback model name that answered.
    pub model_fallback: Option<String>,
    /// One entry per provider call: its stats slot, the router's wait before it, and
    /// whether it was the first call for its request (not a retry: the first attempt, or
    /// the schema-first request).
    pub calls: Vec<(RetryStatsSlot, Duration, bool)>,
    /// The tpm charge of the last admission.
    pub charged: u64,
    /// The metric handles of the last target called (when metrics are recorded).
    pub metrics: Option<Arc<TargetMetrics>>,
}

impl Progress {
    /// The `scillm_router` record of item `index` so far: where it went, `queue_ms` (slot
    /// and admission waits), `timing_ms` (`elapsed` less those waits), the retries when
    /// `config` asks for them. `requested` is the model the item named.
    pub fn meta(
        &mut self,
        index: usize,
        elapsed: Duration,
        requested: &str,
        config: &Config,
    ) -> RouterMeta {
        let mut meta = RouterMeta::new(index);
        meta.queue_ms = ms(self.slot_wait);
        meta.timing_ms = ms(elapsed.saturating_sub(self.slot_wait));
        meta.provider = self.provider.as_deref().map(str::to_string);
        meta.model = Some(self.model.as_deref().unwrap_or(requested).to_string());
        meta.deployment = self.deployment.as_deref().map(str::to_string);
        meta.model_fallback = self.model_fallback.take();
        let full = config.codex_agent.enable_metrics;
        if config.router.retry_meta || full {
            meta.retries = Some(self.retries(full));
        }
        meta
    }

    /// The retry stats of every call made, added up: `attempts` counts every attempt
    /// after the first, the router's failovers included; with `full`, the whole record
    /// (SPEC §13).
    pub fn retries(&self, full: bool) -> RetriesMeta {
        let mut meta = RetriesMeta::default();
        let mut retries = 0u32;
        for (slot, waited, first) in &self.calls {
            let stats = slot.get();
            let made = stats.as_ref().map_or(1, |s| s.attempts + 1);
            retries = retries.saturating_add(made - u32::from(*first));
            let waited = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            meta.total_sleep_ms = meta.total_sleep_ms.saturating_add(waited);
            let mut sequence = Vec::new();
            if !first {
                sequence.push(waited);
            }
            if let Some(s) = &stats {
                meta.total_sleep_ms = meta.total_sleep_ms.saturating_add(s.total_sleep_ms);
                if s.last_retry_after_s.is_some() {
                    meta.last_retry_after_s = s.last_retry_after_s;
                }
                sequence.extend_from_slice(&s.retry_sequence);
            }
            if full {
                meta.add_full(stats.as_ref(), &sequence);
            }
        }
        meta.attempts = retries;
        meta
    }

    /// Upstream requests made, over every provider call and its own retries (the
    /// gateway's `x-scillm-attempts`).
    pub fn attempts(&self) -> u32 {
        self.calls.iter().fold(0u32, |n, (slot, _, _)| {
            n.saturating_add(slot.get().map_or(1, |s| s.attempts.saturating_add(1)))
        })
    }

    /// Retries made: [`Progress::attempts`] less the first attempt of each request (the
    /// schema-first retry is a request of its own, not a retry).
    pub fn retry_count(&self) -> u32 {
        let firsts = self.calls.iter().filter(|(_, _, first)| *first).count();
        self.attempts()
            .saturating_sub(u32::try_from(firsts).unwrap_or(u32::MAX))
    }
}

/// A finished call: the response or the error, and the JSON check when JSON was asked for.
#[derive(Debug)]
pub struct Outcome {
    /// The response, or why there is none.
    pub response: Result<ChatResponse, ProviderError>,
    /// The JSON check of the response's content.
    pub json: Option<JsonOutcome>,
}

/// The settings one execution needs.
#[derive(Debug, Clone, Copy)]
pub struct ExecEnv<'a> {
    /// Where targets come from.
    pub resolver: &'a Resolver,
    /// Retries, failover, limits and routing.
    pub policy: &'a Policy,
    /// When the call must be over.
    pub deadline: Option<Instant>,
}

/// Run `item` (its request already prepared): the first call, then in schema-first mode
/// one retry with `response_format: json_object` when the first did not pass.
pub async fn execute(
    env: ExecEnv<'_>,
    item: &RouterRequest,
    expectation: Option<&JsonExpectation>,
    progress: &mut Progress,
) -> Outcome {
    let first = call_with_failover(env, item, &item.request, progress).await;
    let first = check(first, expectation);
    let schema_first = item.response_mode == Some(ResponseMode::SchemaFirst);
    if !schema_first || !wants_retry(&first) {
        return first;
    }
    progress.fallback_used = true;
    let mut retry_request = item.request.clone();
    set_json_object_format(&mut retry_request);
    let second = check(
        call_with_failover(env, item, &retry_request, progress).await,
        expectation,
    );
    // A failed retry does not hide the first answer's content.
    match (&first.response, &second.response) {
        (Ok(_), Err(_)) => first,
        _ => second,
    }
}

/// Whether schema-first mode should retry: the JSON check failed, or the upstream refused
/// the `json_schema` format.
fn wants_retry(o: &Outcome) -> bool {
    match &o.response {
        Ok(_) => !o.json.as_ref().is_some_and(JsonOutcome::passed),
        Err(e) => matches!(
            e.kind,
            ErrorKind::BadRequest | ErrorKind::InvalidResponse | ErrorKind::Unsupported
        ),
    }
}

fn check(response: Result<ChatResponse, ProviderError>, exp: Option<&JsonExpectation>) -> Outcome {
    let json = match (&response, exp) {
        (Ok(r), Some(exp)) => Some(exp.check(&r.first_text())),
        _ => None,
    };
    Outcome { response, json }
}

/// One complete answer through the failover loop.
async fn call_with_failover(
    env: ExecEnv<'_>,
    item: &RouterRequest,
    request: &ChatRequest,
    progress: &mut Progress,
) -> Result<ChatResponse, ProviderError> {
    match failover::call_with_failover(env, item, request, progress, Mode::Chat).await? {
        (Answer::Chat(r), _held) => Ok(r),
        (Answer::Stream(_), _) => Err(ProviderError::new(
            ErrorKind::Internal,
            "a stream came back for a complete call",
        )),
    }
}
