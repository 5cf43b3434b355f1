//! Running one parsed request: failover across its targets, the schema-first retry, and
//! the bookkeeping (`Progress`) that survives a timeout or a cancellation.

use std::time::{Duration, Instant};

use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_core::{CallContext, ErrorKind, ProviderError, RetryStatsSlot};

use crate::aggregate;
use crate::deployments::{cools_down, fails_over};
use crate::json_check::{set_json_object_format, JsonExpectation, JsonOutcome};
use crate::request::{ResponseMode, RouterRequest};
use crate::resolve::{Resolver, Target};
use crate::result::RetriesMeta;

/// What is known about a call so far; filled in as it goes, so it is there even when the
/// call is cut short.
#[derive(Debug, Default)]
pub struct Progress {
    /// The last provider called.
    pub provider: Option<String>,
    /// The last model id sent.
    pub model: Option<String>,
    /// The last deployment called.
    pub deployment: Option<String>,
    /// Time spent waiting for deployment slots.
    pub slot_wait: Duration,
    /// Whether the schema-first retry ran.
    pub fallback_used: bool,
    /// The fallback model name that answered.
    pub model_fallback: Option<String>,
    /// One stats slot per provider call.
    pub stats: Vec<RetryStatsSlot>,
}

impl Progress {
    /// The retry stats of every call made, added up.
    pub fn retries(&self) -> RetriesMeta {
        let mut meta = RetriesMeta::default();
        for slot in &self.stats {
            if let Some(s) = slot.get() {
                meta.add(&s);
            }
        }
        meta
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
    /// `router.cooldown_s`.
    pub cooldown: Duration,
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

/// Call the targets in order until one answers or a failure is not worth failing over.
async fn call_with_failover(
    env: ExecEnv<'_>,
    item: &RouterRequest,
    request: &ChatRequest,
    progress: &mut Progress,
) -> Result<ChatResponse, ProviderError> {
    let targets = env.resolver.resolve(item)?;
    let mut last = ProviderError::new(ErrorKind::NotFound, "no deployment to call");
    for target in targets {
        let permit = match &target.state.as_ref().and_then(|s| s.slots.clone()) {
            Some(sem) => {
                let waited = Instant::now();
                let p = sem.clone().acquire_owned().await.map_err(|_| {
                    ProviderError::new(ErrorKind::Internal, "deployment slots closed")
                })?;
                progress.slot_wait += waited.elapsed();
                Some(p)
            }
            None => None,
        };
        progress.provider = Some(target.provider_name.clone());
        progress.model = Some(target.model.clone());
        progress.deployment = Some(target.deployment.clone());
        let slot = RetryStatsSlot::new();
        progress.stats.push(slot.clone());
        let result = call_target(&target, request.clone(), item, env.deadline, slot).await;
        drop(permit);
        match result {
            Ok(response) => {
                if let Some(state) = &target.state {
                    state.mark_healthy();
                }
                progress.model_fallback = target.fallback_of.clone();
                return Ok(response);
            }
            Err(e) => {
                if let Some(state) = &target.state {
                    if cools_down(&e) {
                        state.cool_down(env.cooldown);
                    }
                }
                if !fails_over(&e) {
                    return Err(e);
                }
                last = e;
            }
        }
    }
    Err(last)
}

/// One provider call; `stream: true` requests are aggregated into one message.
async fn call_target(
    target: &Target,
    mut request: ChatRequest,
    item: &RouterRequest,
    deadline: Option<Instant>,
    stats: RetryStatsSlot,
) -> Result<ChatResponse, ProviderError> {
    request.model = target.model.clone();
    let ctx = CallContext {
        deadline,
        headers: item.headers.0.clone(),
        api_base: item.api_base.clone(),
        api_key: item.api_key.clone(),
        stats,
    };
    if request.is_stream() {
        let stream = target.provider.chat_stream(request, &ctx).await?;
        aggregate::collect(stream, &target.model).await
    } else {
        target.provider.chat(request, &ctx).await
    }
}
