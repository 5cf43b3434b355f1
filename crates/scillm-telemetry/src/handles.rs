//! Metric handles registered once and kept, for hot paths (SPEC §16).
//!
//! The [`crate::record`] helpers build each metric's key (and allocate its label values)
//! on every call. A router item records half a dozen metrics, so the router keeps these
//! handles instead: one [`TargetMetrics`] per deployment (its labels fixed when it is
//! built), one [`RouterMetrics`] per process. A handle costs an atomic add to use.
//!
//! Handles are only handed out once the process's recorder is installed
//! ([`crate::prometheus::installed`]): before that every getter returns `None` and the
//! caller records nothing, so a program without `/metrics` pays one atomic load per
//! item. A handle registered with no recorder would stay a no-op for ever; this way none
//! is made too early.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use crate::names::*;
use crate::prometheus::installed;
use crate::record::Target;

/// The router's `error_type` values (the closed set of SPEC §9 / §16), in the order of
/// [`TargetMetrics`]'s slots.
pub const ERROR_TYPES: [&str; 5] = [
    "ok",
    "invalid_json",
    "empty_content",
    "provider_error",
    "timeout",
];

/// The label value used for items that reached no provider (an invalid line, an unknown
/// model, a cache hit): `provider`, `deployment` and `gen_ai_request_model` are `none`.
pub const NO_TARGET: &str = "none";

/// The `gen_ai_request_model` value of ad-hoc targets past [`MAX_ADHOC_TARGETS`].
pub const OTHER_MODEL: &str = "other";

/// The most distinct ad-hoc targets (per-request providers and the `codex-agent/` fast
/// path, whose model names come from requests) given labels of their own; later ones
/// share the model label [`OTHER_MODEL`], so the number of series stays bounded.
pub const MAX_ADHOC_TARGETS: usize = 256;

/// The handles of one target (provider, model, deployment), each registered on first
/// use: `scillm_requests_total` and `gen_ai_client_operation_duration_seconds` by
/// `error_type`, `gen_ai_client_token_usage` (input, output), `scillm_retries_total`,
/// `scillm_deployment_cooldowns_total`, `scillm_deployment_failures_total`,
/// `scillm_rate_limit_wait_seconds`.
#[derive(Debug)]
pub struct TargetMetrics {
    provider: String,
    model: String,
    deployment: String,
    requests: [OnceLock<Counter>; 5],
    duration: [OnceLock<Histogram>; 5],
    input_tokens: OnceLock<Histogram>,
    output_tokens: OnceLock<Histogram>,
    retries: OnceLock<Counter>,
    cooldowns: OnceLock<Counter>,
    rate_limit_wait: OnceLock<Histogram>,
}

impl TargetMetrics {
    /// Handles for `target`, or `None` while no recorder is installed. Every field of
    /// `target` must come from a bounded set (configuration, registry names).
    pub fn new(target: &Target<'_>) -> Option<Self> {
        installed().then(|| {
            Self::labelled(
                target.provider.to_owned(),
                target.model.to_owned(),
                target.deployment.to_owned(),
            )
        })
    }

    fn labelled(provider: String, model: String, deployment: String) -> Self {
        Self {
            provider,
            model,
            deployment,
            requests: Default::default(),
            duration: Default::default(),
            input_tokens: OnceLock::new(),
            output_tokens: OnceLock::new(),
            retries: OnceLock::new(),
            cooldowns: OnceLock::new(),
            rate_limit_wait: OnceLock::new(),
        }
    }

    /// One finished item that ended `error_type` after `duration` in the call (queueing
    /// excluded): `scillm_requests_total` + 1 and one
    /// `gen_ai_client_operation_duration_seconds` sample (operation `chat`).
    pub fn request(&self, error_type: &'static str, duration: Duration) {
        self.count(error_type);
        let secs = duration.as_secs_f64();
        match slot(error_type) {
            Some(i) => self.duration[i]
                .get_or_init(|| self.duration_handle(error_type))
                .record(secs),
            None => self.duration_handle(error_type).record(secs),
        }
    }

    /// `scillm_requests_total` + 1 only (items that reached no provider).
    pub fn count(&self, error_type: &'static str) {
        match slot(error_type) {
            Some(i) => self.requests[i]
                .get_or_init(|| self.requests_handle(error_type))
                .increment(1),
            None => self.requests_handle(error_type).increment(1),
        }
    }

    /// The tokens of one operation: `gen_ai_client_token_usage` with
    /// `gen_ai_token_type` `input` and `output`.
    pub fn tokens(&self, input: u64, output: u64) {
        self.input_tokens
            .get_or_init(|| self.tokens_handle("input"))
            .record(input as f64);
        self.output_tokens
            .get_or_init(|| self.tokens_handle("output"))
            .record(output as f64);
    }

    /// `n` retries made for one item (attempts after the first): `scillm_retries_total`.
    /// Zero adds nothing (and makes no series).
    pub fn retries(&self, n: u64) {
        if n > 0 {
            self.retries
                .get_or_init(|| {
                    counter!(RETRIES_TOTAL,
                        "provider" => self.provider.clone(),
                        "deployment" => self.deployment.clone())
                })
                .increment(n);
        }
    }

    /// The deployment was put into cooldown: `scillm_deployment_cooldowns_total`.
    pub fn cooldown(&self) {
        self.cooldowns
            .get_or_init(
                || counter!(DEPLOYMENT_COOLDOWNS_TOTAL, "deployment" => self.deployment.clone()),
            )
            .increment(1);
    }

    /// A call to the deployment failed with `error_kind` (a SPEC §6 kind), whether or not
    /// the item then failed over: `scillm_deployment_failures_total`. Failures are rare
    /// next to answers, so the handle is looked up each time.
    pub fn call_failed(&self, error_kind: &'static str) {
        counter!(DEPLOYMENT_FAILURES_TOTAL,
            "deployment" => self.deployment.clone(),
            "error_kind" => error_kind)
        .increment(1);
    }

    /// Time an item waited for the deployment's rpm/tpm capacity:
    /// `scillm_rate_limit_wait_seconds`.
    pub fn rate_limit_wait(&self, wait: Duration) {
        self.rate_limit_wait
            .get_or_init(
                || histogram!(RATE_LIMIT_WAIT_SECONDS, "deployment" => self.deployment.clone()),
            )
            .record(wait.as_secs_f64());
    }

    fn requests_handle(&self, error_type: &'static str) -> Counter {
        counter!(REQUESTS_TOTAL,
            "provider" => self.provider.clone(),
            "deployment" => self.deployment.clone(),
            ERROR_TYPE => error_type)
    }

    fn duration_handle(&self, error_type: &'static str) -> Histogram {
        histogram!(OPERATION_DURATION,
            GEN_AI_OPERATION_NAME => "chat",
            GEN_AI_PROVIDER_NAME => self.provider.clone(),
            GEN_AI_REQUEST_MODEL => self.model.clone(),
            ERROR_TYPE => error_type)
    }

    fn tokens_handle(&self, kind: &'static str) -> Histogram {
        histogram!(TOKEN_USAGE,
            GEN_AI_OPERATION_NAME => "chat",
            GEN_AI_PROVIDER_NAME => self.provider.clone(),
            GEN_AI_REQUEST_MODEL => self.model.clone(),
            GEN_AI_TOKEN_TYPE => kind)
    }
}

fn slot(error_type: &str) -> Option<usize> {
    ERROR_TYPES.iter().position(|t| *t == error_type)
}

/// The handles of the target `none` (items that reached no provider), or `None` while no
/// recorder is installed.
pub fn no_target() -> Option<&'static TargetMetrics> {
    static NONE: OnceLock<Option<TargetMetrics>> = OnceLock::new();
    if !installed() {
        return None;
    }
    NONE.get_or_init(|| {
        TargetMetrics::new(&Target {
            provider: NO_TARGET,
            model: NO_TARGET,
            deployment: NO_TARGET,
        })
    })
    .as_ref()
}

type AdhocKey = (&'static str, String, String);

/// The shared handles of an ad-hoc target (no configured deployment: a per-request
/// provider or the `codex-agent/` fast path), or `None` while no recorder is installed.
/// Past [`MAX_ADHOC_TARGETS`] distinct targets the model label is [`OTHER_MODEL`].
pub fn adhoc(provider: &'static str, deployment: &str, model: &str) -> Option<Arc<TargetMetrics>> {
    static TARGETS: OnceLock<Mutex<HashMap<AdhocKey, Arc<TargetMetrics>>>> = OnceLock::new();
    if !installed() {
        return None;
    }
    let mut map = TARGETS.get_or_init(Default::default).lock().ok()?;
    let key = (provider, deployment.to_owned(), model.to_owned());
    if let Some(m) = map.get(&key) {
        return Some(Arc::clone(m));
    }
    let key = if map.len() < MAX_ADHOC_TARGETS {
        key
    } else {
        (provider, deployment.to_owned(), OTHER_MODEL.to_owned())
    };
    let m = map.entry(key).or_insert_with_key(|(p, d, m)| {
        Arc::new(TargetMetrics::labelled(
            (*p).to_owned(),
            m.clone(),
            d.clone(),
        ))
    });
    Some(Arc::clone(m))
}

/// The router's process-wide handles: `scillm_queue_seconds` and
/// `scillm_in_flight{component="router"}`.
#[derive(Debug)]
pub struct RouterMetrics {
    queue: Histogram,
    in_flight: Gauge,
}

impl RouterMetrics {
    /// Time an item waited before its call (a parallel slot, a deployment slot, rpm/tpm
    /// capacity): `scillm_queue_seconds`.
    pub fn queue(&self, wait: Duration) {
        self.queue.record(wait.as_secs_f64());
    }

    /// Count one item in `scillm_in_flight{component="router"}` while the guard lives.
    pub fn in_flight(&'static self) -> InFlightGuard {
        self.in_flight.increment(1.0);
        InFlightGuard(&self.in_flight)
    }
}

/// The router's handles, or `None` while no recorder is installed.
pub fn router() -> Option<&'static RouterMetrics> {
    static ROUTER: OnceLock<RouterMetrics> = OnceLock::new();
    if !installed() {
        return None;
    }
    Some(ROUTER.get_or_init(|| RouterMetrics {
        queue: histogram!(QUEUE_SECONDS),
        in_flight: gauge!(IN_FLIGHT, "component" => "router"),
    }))
}

/// One request counted in a `scillm_in_flight` gauge until dropped.
#[derive(Debug)]
#[must_use = "the request counts as in flight only while the guard lives"]
pub struct InFlightGuard(&'static Gauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}
