//! Deployments built from `model_list`: one provider instance each, with its own keys
//! (SPEC §13: `rpm`, `tpm`, `max_parallel_requests`, `timeout_s`, `num_retries`,
//! `cooldown_s`, `weight`, `order`, each defaulting to `[router]`), and what this process
//! measures about it (calls in flight, latency). Shared state (limits, cooldowns,
//! rotation) lives behind [`crate::state::RouterState`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use scillm_core::config::{secs, Deployment};
use scillm_core::registry::{self, ProviderSettings};
use scillm_core::{Config, ErrorKind, ProviderError, SharedProvider};
use scillm_telemetry::handles::TargetMetrics;
use scillm_telemetry::record;
use tokio::sync::Semaphore;

use crate::error::RouterError;
use crate::state::{Limits, RouterState};

/// One configured deployment, ready to call.
#[derive(Debug)]
pub struct DeploymentState {
    /// `{model_name}#{n}`, n counting the deployments of that name from 0.
    pub id: Arc<str>,
    /// The model name it serves.
    pub model_name: String,
    /// The canonical provider name.
    pub provider_name: Arc<str>,
    /// The provider instance (built with the deployment's base, key, model, retries and
    /// timeout).
    pub provider: SharedProvider,
    /// The upstream model id sent to the provider.
    pub model: Arc<str>,
    /// `max_parallel_requests`, when set.
    pub slots: Option<Arc<Semaphore>>,
    /// `rpm` / `tpm`.
    pub limits: Limits,
    /// How long it cools down after a 429/5xx without a wait hint.
    pub cooldown: Duration,
    /// The provider's own retries when it is the only target left.
    pub num_retries: u32,
    /// `simple-shuffle` weight (> 0).
    pub weight: f64,
    /// Priority; lower first, unset last.
    pub order: u32,
    in_flight: AtomicUsize,
    /// Moving average of successful latency in µs (0: no sample yet).
    latency_us: AtomicU64,
    /// Its metric handles, registered on first use once a recorder is installed.
    metrics: OnceLock<Arc<TargetMetrics>>,
}

impl DeploymentState {
    fn build(config: &Arc<Config>, dep: &Deployment, n: usize) -> Result<Self, RouterError> {
        let id = format!("{}#{n}", dep.model_name);
        let err = |message: String| RouterError::Deployment {
            deployment: id.clone(),
            message,
        };
        let reg = registry::find(&dep.provider).map_err(|e| err(e.to_string()))?;
        let model = dep.model.clone().unwrap_or_else(|| dep.model_name.clone());
        let router = &config.router;
        let weight = dep.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            return Err(err(format!(
                "weight must be a positive number, not {weight}"
            )));
        }
        let settings = ProviderSettings {
            config: Arc::clone(config),
            api_base: dep.api_base.clone(),
            api_key: dep.api_key.clone(),
            model: Some(model.clone()),
            num_retries: dep.num_retries,
            timeout: dep.timeout_s.map(secs),
        };
        let provider = (reg.build)(&settings).map_err(|e| err(e.to_string()))?;
        let slots = dep.max_parallel_requests.or(router.max_parallel_requests);
        Ok(Self {
            model_name: dep.model_name.clone(),
            provider_name: Arc::from(reg.name),
            provider,
            model: Arc::from(model),
            slots: slots.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            limits: Limits {
                rpm: dep.rpm.or(router.rpm),
                tpm: dep.tpm.or(router.tpm),
            },
            cooldown: secs(dep.cooldown_s.unwrap_or(router.cooldown_s)),
            num_retries: dep.num_retries.unwrap_or(router.num_retries),
            weight,
            order: dep.order.unwrap_or(u32::MAX),
            in_flight: AtomicUsize::new(0),
            latency_us: AtomicU64::new(0),
            metrics: OnceLock::new(),
            id: Arc::from(id),
        })
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The moving average of successful latency (`None` before the first success).
    pub fn latency(&self) -> Option<Duration> {
        match self.latency_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Fold a successful call's latency into the average (EWMA, α = 0.3).
    pub fn observe_latency(&self, d: Duration) {
        let sample = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .latency_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    ((old as f64) * 0.7 + (sample as f64) * 0.3).max(1.0) as u64
                })
            });
    }

    /// Its metric handles (labels: provider, upstream model, deployment id), or `None`
    /// while the process records no metrics.
    pub fn metrics(&self) -> Option<Arc<TargetMetrics>> {
        if let Some(m) = self.metrics.get() {
            return Some(Arc::clone(m));
        }
        let m = TargetMetrics::new(&record::Target {
            provider: &self.provider_name,
            model: &self.model,
            deployment: &self.id,
        })?;
        Some(Arc::clone(self.metrics.get_or_init(|| Arc::new(m))))
    }

    /// Count a call in flight until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// A call in flight to a deployment (for `least-busy`); dropping it ends the count.
#[derive(Debug)]
pub struct InFlight(Arc<DeploymentState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How close to the request's deadline a timeout counts as the deadline's doing (timers
/// fire a little late or early, by at most a few milliseconds).
const DEADLINE_SLACK: Duration = Duration::from_millis(10);

/// Whether a failure cools its deployment down: the retryable failures of SPEC §13 — 429,
/// 5xx (and local overload), a connection that failed, a call that timed out, an answer
/// that is not a chat completion — as LiteLLM cools a deployment down on any of them
/// (after `allowed_fails`). A timeout that the request's own `deadline` caused (a caller's
/// short `timeout`) says nothing about the deployment and does not cool it.
pub fn cools_down(err: &ProviderError, deadline: Option<Instant>) -> bool {
    if err.kind == ErrorKind::Timeout
        && deadline.is_some_and(|d| Instant::now() + DEADLINE_SLACK >= d)
    {
        return false;
    }
    matches!(
        err.kind,
        ErrorKind::RateLimited
            | ErrorKind::Server
            | ErrorKind::Overloaded
            | ErrorKind::Connect
            | ErrorKind::Timeout
            | ErrorKind::InvalidResponse
    ) || err
        .status
        .is_some_and(|s| s == 429 || (500..600).contains(&s))
}

/// Whether a failure is worth trying the next deployment or a fallback model for. A
/// request the upstream rejected as malformed, or a cancelled one, is not.
pub fn fails_over(err: &ProviderError) -> bool {
    !matches!(
        err.kind,
        ErrorKind::BadRequest | ErrorKind::InvalidRequest | ErrorKind::Cancelled
    )
}

/// Every model name of `model_list` with its deployments.
#[derive(Debug, Default)]
pub struct DeploymentTable {
    pools: BTreeMap<String, Vec<Arc<DeploymentState>>>,
}

impl DeploymentTable {
    /// Build every deployment of `config.model_list` and register it with `state`; a
    /// provider that is not compiled in or cannot be built is an error naming the
    /// deployment.
    pub fn build(config: &Arc<Config>, state: &dyn RouterState) -> Result<Self, RouterError> {
        let mut pools: BTreeMap<String, Vec<Arc<DeploymentState>>> = BTreeMap::new();
        for dep in &config.model_list {
            let list = pools.entry(dep.model_name.clone()).or_default();
            let d = DeploymentState::build(config, dep, list.len())?;
            state.register(&d.id, d.limits);
            list.push(Arc::new(d));
        }
        Ok(Self { pools })
    }

    /// The deployments of `model_name`, in config order.
    pub fn pool(&self, model_name: &str) -> Option<&[Arc<DeploymentState>]> {
        self.pools.get(model_name).map(Vec::as_slice)
    }

    /// The configured model names, sorted.
    pub fn model_names(&self) -> Vec<String> {
        self.pools.keys().cloned().collect()
    }
}
