//! Deployments built from `model_list`: one provider instance each, a slot limit
//! (`max_parallel_requests`), a cooldown after 429/5xx, and rotation within a model name.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scillm_core::config::Deployment;
use scillm_core::registry::{self, ProviderSettings};
use scillm_core::{Config, ErrorKind, ProviderError, SharedProvider};
use tokio::sync::Semaphore;

use crate::error::RouterError;

/// One configured deployment, ready to call.
#[derive(Debug)]
pub struct DeploymentState {
    /// `{model_name}#{n}`, n counting the deployments of that name from 0.
    pub id: String,
    /// The canonical provider name.
    pub provider_name: String,
    /// The provider instance (built with the deployment's base, key and model).
    pub provider: SharedProvider,
    /// The upstream model id sent to the provider.
    pub model: String,
    /// `max_parallel_requests`, when set.
    pub slots: Option<Arc<Semaphore>>,
    cooldown_until: Mutex<Option<Instant>>,
}

impl DeploymentState {
    fn build(config: &Arc<Config>, dep: &Deployment, n: usize) -> Result<Self, RouterError> {
        let id = format!("{}#{n}", dep.model_name);
        let reg = registry::find(&dep.provider).map_err(|e| RouterError::Deployment {
            deployment: id.clone(),
            message: e.to_string(),
        })?;
        let model = dep.model.clone().unwrap_or_else(|| dep.model_name.clone());
        let settings = ProviderSettings {
            config: Arc::clone(config),
            api_base: dep.api_base.clone(),
            api_key: dep.api_key.clone(),
            model: Some(model.clone()),
        };
        let provider = (reg.build)(&settings).map_err(|e| RouterError::Deployment {
            deployment: id.clone(),
            message: e.to_string(),
        })?;
        Ok(Self {
            id,
            provider_name: reg.name.to_string(),
            provider,
            model,
            slots: dep
                .max_parallel_requests
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            cooldown_until: Mutex::new(None),
        })
    }

    /// When the cooldown ends, if the deployment is cooling down at `now`.
    pub fn cooling_until(&self, now: Instant) -> Option<Instant> {
        let until = (*self.cooldown_until.lock().ok()?)?;
        (until > now).then_some(until)
    }

    /// Skip this deployment for `period`.
    pub fn cool_down(&self, period: Duration) {
        if period.is_zero() {
            return;
        }
        if let Ok(mut g) = self.cooldown_until.lock() {
            *g = Some(Instant::now() + period);
        }
    }

    /// Clear the cooldown after a success.
    pub fn mark_healthy(&self) {
        if let Ok(mut g) = self.cooldown_until.lock() {
            *g = None;
        }
    }
}

/// Whether a failure cools its deployment down: 429 and 5xx (and local overload).
pub fn cools_down(err: &ProviderError) -> bool {
    matches!(
        err.kind,
        ErrorKind::RateLimited | ErrorKind::Server | ErrorKind::Overloaded
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

/// The deployments of one model name, rotated.
#[derive(Debug)]
pub struct ModelPool {
    deployments: Vec<Arc<DeploymentState>>,
    next: AtomicUsize,
}

impl ModelPool {
    /// The deployments in the order to try them now: healthy ones in rotation order, then
    /// those cooling down, soonest back first (better a cooling deployment than none).
    pub fn candidates(&self) -> Vec<Arc<DeploymentState>> {
        let n = self.deployments.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let mut healthy = Vec::with_capacity(n);
        let mut cooling = Vec::new();
        for i in 0..n {
            let d = &self.deployments[(start + i) % n];
            match d.cooling_until(now) {
                Some(until) => cooling.push((until, Arc::clone(d))),
                None => healthy.push(Arc::clone(d)),
            }
        }
        cooling.sort_by_key(|(until, _)| *until);
        healthy.extend(cooling.into_iter().map(|(_, d)| d));
        healthy
    }
}

/// Every model name of `model_list` with its pool.
#[derive(Debug, Default)]
pub struct DeploymentTable {
    pools: BTreeMap<String, ModelPool>,
}

impl DeploymentTable {
    /// Build every deployment of `config.model_list`; a provider that is not compiled in or
    /// cannot be built is an error naming the deployment.
    pub fn build(config: &Arc<Config>) -> Result<Self, RouterError> {
        let mut grouped: BTreeMap<String, Vec<Arc<DeploymentState>>> = BTreeMap::new();
        for dep in &config.model_list {
            let list = grouped.entry(dep.model_name.clone()).or_default();
            let state = DeploymentState::build(config, dep, list.len())?;
            list.push(Arc::new(state));
        }
        let pools = grouped
            .into_iter()
            .map(|(name, deployments)| {
                let pool = ModelPool {
                    deployments,
                    next: AtomicUsize::new(0),
                };
                (name, pool)
            })
            .collect();
        Ok(Self { pools })
    }

    /// The pool of `model_name`.
    pub fn pool(&self, model_name: &str) -> Option<&ModelPool> {
        self.pools.get(model_name)
    }

    /// The configured model names, sorted.
    pub fn model_names(&self) -> Vec<String> {
        self.pools.keys().cloned().collect()
    }
}
