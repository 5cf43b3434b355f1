//! Router-level retries and failover (SPEC §13).
//!
//! Each attempt picks a target: a healthy one not tried yet for this request (the model
//! name's deployments before its fallbacks, lowest `order` first, then by the routing
//! strategy), else a healthy one tried before. A retryable failure moves to the next
//! target at once, and the failed deployment cools down for its wait hint or
//! `cooldown_s`. The provider's own retry loop (and its waits on hints) runs only when a
//! target is the last healthy one. Attempts over all targets are at most
//! `num_retries + 1`. When every target cools down, the request waits for the first to
//! recover if that is within its deadline, else ends `rate_limited`. Before each call,
//! the deployment's slots and `rpm`/`tpm` admission are waited for (counted in
//! `queue_ms`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use scillm_core::retry::is_retryable;
use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_core::{CallContext, ChunkStream, ErrorKind, ProviderError, RetryStatsSlot};
use tokio::sync::OwnedSemaphorePermit;

use crate::aggregate;
use crate::deployments::{cools_down, fails_over, InFlight};
use crate::execute::{ExecEnv, Progress};
use crate::request::RouterRequest;
use crate::resolve::Target;
use crate::settle::settle_on_usage;
use crate::state::RouterState;
use crate::strategy::Picker;

/// The router's policy settings and shared state.
#[derive(Debug)]
pub struct Policy {
    /// Limits, cooldowns and rotation.
    pub state: Arc<dyn RouterState>,
    /// The routing strategy.
    pub picker: Picker,
    /// Attempts per request over all targets are at most this + 1.
    pub num_retries: u32,
    /// Non-429 failures in a row a deployment may have before it cools down.
    pub allowed_fails: u32,
    /// The longest wait for a cooling deployment when the request has no deadline.
    pub max_wait: Duration,
}

/// How the answer is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One complete response (a `stream: true` request is aggregated).
    Chat,
    /// The chunk stream as it comes.
    Stream,
}

/// A provider's answer.
pub enum Answer {
    /// A complete response.
    Chat(ChatResponse),
    /// A chunk stream.
    Stream(ChunkStream),
}

/// What a successful call holds until its answer is consumed: the deployment slot and
/// the in-flight count.
#[derive(Debug, Default)]
pub struct Held {
    _permit: Option<OwnedSemaphorePermit>,
    _in_flight: Option<InFlight>,
}

/// Call `item`'s targets per the policy until one answers, a failure is final, the
/// attempts are used up, or time runs out.
pub async fn call_with_failover(
    env: ExecEnv<'_>,
    item: &RouterRequest,
    request: &ChatRequest,
    progress: &mut Progress,
    mode: Mode,
) -> Result<(Answer, Held), ProviderError> {
    let mut targets = env.resolver.resolve(item)?;
    // Target sets are 64-bit masks; no model name has more targets than that in practice.
    targets.truncate(Set::CAPACITY);
    let policy = env.policy;
    let state = policy.state.as_ref();
    let max_attempts = policy.num_retries.saturating_add(1);
    let mut attempts = 0u32;
    let mut tried = Set::default();
    let mut estimate: Option<u64> = None;
    let mut last: Option<ProviderError> = None;
    // The soonest any rpm/tpm-limited target has capacity again: the `Retry-After` of a
    // `rate_limited` end when every target was at its limit (SPEC §17).
    let mut soonest_capacity: Option<Duration> = None;
    let mut sleep_before = Duration::ZERO;
    loop {
        let healthy = Set::from_fn(targets.len(), |i| {
            cooling_left(&targets[i], state).is_none()
        });
        if healthy.is_empty() {
            let wait = targets
                .iter()
                .filter_map(|t| cooling_left(t, state))
                .min()
                .unwrap_or_default();
            let fits = match env.deadline {
                Some(d) => Instant::now() + wait < d,
                None => wait <= policy.max_wait,
            };
            if !fits {
                return Err(all_cooling(&item.request.model, wait, last));
            }
            tokio::time::sleep(wait).await;
            sleep_before += wait;
            continue;
        }
        let untried = !healthy.minus(tried).is_empty();
        if !untried && last.as_ref().is_some_and(|e| !is_retryable(e.kind)) {
            // Every target refused in a way a retry would not change (auth, not found).
            return Err(last.unwrap_or_else(no_target));
        }
        let Some(i) = choose(&targets, healthy, tried, policy) else {
            return Err(last.unwrap_or_else(no_target));
        };
        let target = &targets[i];
        let alone = healthy.len() == 1;
        tried.insert(i);
        let mut held = Held::default();
        if let Some(d) = &target.state {
            let waited = Instant::now();
            if let Some(sem) = &d.slots {
                let permit = match env.deadline {
                    Some(dl) => tokio::time::timeout_at(dl.into(), Arc::clone(sem).acquire_owned())
                        .await
                        .map_err(|_| {
                            ProviderError::new(
                                ErrorKind::Timeout,
                                format!("no slot of deployment {} before the deadline", d.id),
                            )
                        })?,
                    None => Arc::clone(sem).acquire_owned().await,
                };
                held._permit = Some(permit.map_err(|_| {
                    ProviderError::new(ErrorKind::Internal, "deployment slots closed")
                })?);
            }
            let tokens = if d.limits.tpm.is_some() {
                *estimate.get_or_insert_with(|| estimate_tokens(request))
            } else {
                0
            };
            let limited = d.limits.rpm.is_some() || d.limits.tpm.is_some();
            let admitting = Instant::now();
            let admitted = state.admit(&d.id, tokens, env.deadline).await;
            if let Some(m) = target.metrics.as_ref().filter(|_| limited) {
                m.rate_limit_wait(admitting.elapsed());
            }
            progress.slot_wait += waited.elapsed();
            if let Err(e) = admitted {
                soonest_capacity = Some(soonest_capacity.map_or(e.wait, |s| s.min(e.wait)));
                let err = ProviderError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "deployment {} is at its {} limit; capacity comes back in {:.1} s, past the request's deadline",
                        d.id,
                        e.limit,
                        e.wait.as_secs_f64()
                    ),
                )
                .with_retry_after(soonest_capacity);
                let others = !healthy.minus(tried).is_empty();
                last = Some(err);
                if others {
                    continue;
                }
                return Err(last.unwrap_or_else(no_target));
            }
            held._in_flight = Some(d.enter());
            progress.charged = tokens;
        }
        progress.provider = Some(Arc::clone(&target.provider_name));
        progress.model = Some(Arc::clone(&target.model));
        progress.deployment = Some(Arc::clone(&target.deployment));
        progress.metrics.clone_from(&target.metrics);
        let slot = RetryStatsSlot::new();
        progress
            .calls
            .push((slot.clone(), sleep_before, attempts == 0));
        sleep_before = Duration::ZERO;
        let remaining = max_attempts.saturating_sub(attempts).saturating_sub(1);
        let cap = match (&target.state, alone) {
            (Some(d), true) => Some(remaining.min(d.num_retries)),
            (None, true) => None,
            (_, false) => Some(0),
        };
        let ctx = CallContext {
            deadline: env.deadline,
            headers: item.headers.0.clone(),
            api_base: item.api_base.clone(),
            api_key: item.api_key.clone(),
            stats: slot.clone(),
            max_retries: cap,
        };
        let started = Instant::now();
        let result = call_target(target, request.clone(), &ctx, mode).await;
        attempts = attempts.saturating_add(slot.attempts().map_or(1, |n| n + 1));
        match result {
            Ok(answer) => {
                if let Some(d) = &target.state {
                    state.record_success(&d.id);
                    d.observe_latency(started.elapsed());
                    if let Answer::Chat(r) = &answer {
                        if let Some(u) = &r.usage {
                            state.settle(&d.id, progress.charged, u.total_tokens);
                        }
                    }
                }
                let answer = match (answer, &target.state) {
                    (Answer::Stream(s), Some(d)) if progress.charged > 0 => {
                        Answer::Stream(settle_on_usage(
                            s,
                            Arc::clone(&policy.state),
                            Arc::clone(&d.id),
                            progress.charged,
                        ))
                    }
                    (answer, _) => answer,
                };
                progress.model_fallback = target.fallback_of.clone();
                return Ok((answer, held));
            }
            Err(e) => {
                drop(held);
                if let Some(m) = &target.metrics {
                    m.call_failed(e.kind.as_str());
                }
                // A lone target is never cooled down: there is nowhere else to go, and
                // its own retries already honoured the hint (LiteLLM does the same).
                if let Some(d) = target.state.as_ref().filter(|_| targets.len() > 1) {
                    if cools_down(&e, env.deadline) {
                        let fails = state.record_failure(&d.id);
                        if e.kind == ErrorKind::RateLimited
                            || e.status == Some(429)
                            || fails > policy.allowed_fails
                        {
                            state.cool_down(&d.id, e.retry_after.unwrap_or(d.cooldown));
                            if let Some(m) = &target.metrics {
                                m.cooldown();
                            }
                        }
                    }
                }
                let stop = !fails_over(&e)
                    || attempts >= max_attempts
                    || env.deadline.is_some_and(|d| Instant::now() >= d);
                last = Some(e);
                if stop {
                    return Err(last.unwrap_or_else(no_target));
                }
            }
        }
    }
}

/// The target to call next among the `healthy` positions: one not tried yet if any
/// (the first group of targets — the model name's, then each fallback's — that has one),
/// else any healthy one; within the group, the routing strategy's pick.
fn choose(targets: &[Target], healthy: Set, tried: Set, policy: &Policy) -> Option<usize> {
    if healthy.len() == 1 {
        return healthy.first();
    }
    let fresh = healthy.minus(tried);
    let pool = if fresh.is_empty() { healthy } else { fresh };
    let first = pool.first()?;
    let group = &targets[first].fallback_of;
    let same: Vec<usize> = pool
        .iter()
        .filter(|&i| &targets[i].fallback_of == group)
        .collect();
    let deployed: Vec<&crate::deployments::DeploymentState> = same
        .iter()
        .filter_map(|&i| targets[i].state.as_deref())
        .collect();
    if deployed.len() != same.len() || deployed.len() <= 1 {
        return Some(first);
    }
    let model = &deployed[0].model_name;
    let k = policy.picker.pick(model, &deployed, policy.state.as_ref());
    same.get(k).copied()
}

/// A set of target positions (below [`Set::CAPACITY`]) as a bit mask: no allocation per
/// request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Set(u64);

impl Set {
    const CAPACITY: usize = 64;

    fn from_fn(n: usize, f: impl Fn(usize) -> bool) -> Self {
        let mut s = Set::default();
        for i in 0..n.min(Self::CAPACITY) {
            if f(i) {
                s.insert(i);
            }
        }
        s
    }

    fn insert(&mut self, i: usize) {
        if i < Self::CAPACITY {
            self.0 |= 1 << i;
        }
    }

    fn minus(self, other: Set) -> Set {
        Set(self.0 & !other.0)
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn len(self) -> u32 {
        self.0.count_ones()
    }

    fn first(self) -> Option<usize> {
        (!self.is_empty()).then(|| self.0.trailing_zeros() as usize)
    }

    fn iter(self) -> impl Iterator<Item = usize> {
        (0..Self::CAPACITY).filter(move |i| self.0 & (1 << i) != 0)
    }
}

/// How long `target` still cools down (never for targets without a deployment).
fn cooling_left(target: &Target, state: &dyn RouterState) -> Option<Duration> {
    target
        .state
        .as_ref()
        .and_then(|d| state.cooldown_left(&d.id))
}

/// One provider call in `mode`.
async fn call_target(
    target: &Target,
    mut request: ChatRequest,
    ctx: &CallContext,
    mode: Mode,
) -> Result<Answer, ProviderError> {
    request.model.clear();
    request.model.push_str(&target.model);
    match mode {
        Mode::Stream => {
            request.stream = Some(true);
            target
                .provider
                .chat_stream(request, ctx)
                .await
                .map(Answer::Stream)
        }
        Mode::Chat if request.is_stream() => {
            let stream = target.provider.chat_stream(request, ctx).await?;
            aggregate::collect(stream, &target.model)
                .await
                .map(Answer::Chat)
        }
        Mode::Chat => target.provider.chat(request, ctx).await.map(Answer::Chat),
    }
}

/// The tpm charge of a request before its answer: prompt characters / 4 plus
/// `max_tokens` (or `max_completion_tokens`).
pub fn estimate_tokens(request: &ChatRequest) -> u64 {
    let chars: usize = request
        .messages
        .iter()
        .map(|m| m.text_content().chars().count())
        .sum();
    let out = request
        .max_tokens
        .or(request.max_completion_tokens)
        .unwrap_or(0);
    (chars as u64).div_ceil(4).saturating_add(out)
}

fn all_cooling(model: &str, wait: Duration, last: Option<ProviderError>) -> ProviderError {
    let mut e = ProviderError::new(
        ErrorKind::RateLimited,
        format!(
            "every deployment of `{model}` is cooling down; the first recovers in {:.1} s, past the request's deadline",
            wait.as_secs_f64()
        ),
    );
    if let Some(last) = last {
        e.status = last.status;
        e.retry_after = last.retry_after;
        e.body_excerpt = last.body_excerpt;
    }
    e.retry_after = Some(wait);
    e
}

fn no_target() -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, "no deployment to call")
}
