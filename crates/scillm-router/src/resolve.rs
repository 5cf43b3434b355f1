//! Resolution of a request to the targets to try, in the order SPEC §6 gives:
//! per-request provider → `codex-agent/` fast path → `model_list` (then `fallbacks`) →
//! `unknown model`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use scillm_core::registry::{self, ProviderSettings};
use scillm_core::{Config, ErrorKind, ProviderError, SharedProvider};
use scillm_telemetry::handles::{self, TargetMetrics};

use crate::deployments::{DeploymentState, DeploymentTable};
use crate::request::RouterRequest;

/// The provider name the fast path selects.
pub const CODEX_AGENT: &str = "codex-agent";
/// The model prefix that selects the fast path.
pub const CODEX_AGENT_PREFIX: &str = "codex-agent/";

/// One thing to call.
#[derive(Debug, Clone)]
pub struct Target {
    /// The provider instance.
    pub provider: SharedProvider,
    /// Its canonical name.
    pub provider_name: Arc<str>,
    /// The model id to send.
    pub model: Arc<str>,
    /// The deployment label of `scillm_router.deployment`.
    pub deployment: Arc<str>,
    /// The configured deployment (for its slots and cooldown), when there is one.
    pub state: Option<Arc<DeploymentState>>,
    /// The `router.fallbacks` model name this target serves, when it is a fallback.
    pub fallback_of: Option<String>,
    /// Its metric handles, when the process records metrics (SPEC §16).
    pub metrics: Option<Arc<TargetMetrics>>,
}

/// Resolves requests; holds the deployments and the providers built on demand.
#[derive(Debug)]
pub struct Resolver {
    config: Arc<Config>,
    table: DeploymentTable,
    /// Providers used without a deployment (per-request and fast path), by canonical name.
    adhoc: Mutex<HashMap<&'static str, SharedProvider>>,
}

impl Resolver {
    /// A resolver over the deployments of `config`.
    pub fn new(config: Arc<Config>, table: DeploymentTable) -> Self {
        Self {
            config,
            table,
            adhoc: Mutex::new(HashMap::new()),
        }
    }

    /// The configured model names.
    pub fn model_names(&self) -> Vec<String> {
        self.table.model_names()
    }

    /// The targets of `item` (never empty on `Ok`): the model name's deployments in
    /// config order, then those of its `router.fallbacks`, in order. Which one is called
    /// when is the failover loop's choice (`crate::failover`).
    pub fn resolve(&self, item: &RouterRequest) -> Result<Vec<Target>, ProviderError> {
        let model = item.request.model.as_str();
        if let Some(name) = item.custom_llm_provider.as_deref() {
            let (canonical, provider) = self.adhoc_provider(name)?;
            let deployment = format!("direct:{canonical}");
            return Ok(vec![Target {
                provider,
                provider_name: Arc::from(canonical),
                model: Arc::from(model),
                metrics: handles::adhoc(canonical, &deployment, model),
                deployment: Arc::from(deployment),
                state: None,
                fallback_of: None,
            }]);
        }
        if let Some(t) = self.fast_path(model)? {
            return Ok(vec![t]);
        }
        let Some(pool) = self.table.pool(model) else {
            return Err(self.unknown_model(model));
        };
        let mut targets: Vec<Target> = pool.iter().map(|d| deployed(d, None)).collect();
        for name in self
            .config
            .router
            .fallbacks
            .get(model)
            .into_iter()
            .flatten()
        {
            if let Some(pool) = self.table.pool(name) {
                targets.extend(pool.iter().map(|d| deployed(d, Some(name))));
            } else if let Some(mut t) = self.fast_path(name)? {
                t.fallback_of = Some(name.clone());
                targets.push(t);
            }
        }
        Ok(targets)
    }

    /// The codex-agent target when `model` carries the `codex-agent/` prefix.
    fn fast_path(&self, model: &str) -> Result<Option<Target>, ProviderError> {
        if !model.starts_with(CODEX_AGENT_PREFIX) {
            return Ok(None);
        }
        let (canonical, provider) = self.adhoc_provider(CODEX_AGENT)?;
        Ok(Some(Target {
            provider,
            provider_name: Arc::from(canonical),
            model: Arc::from(model),
            deployment: Arc::from(CODEX_AGENT),
            state: None,
            fallback_of: None,
            metrics: handles::adhoc(canonical, CODEX_AGENT, model),
        }))
    }

    /// The shared instance of provider `name`, built with the config's own settings.
    fn adhoc_provider(&self, name: &str) -> Result<(&'static str, SharedProvider), ProviderError> {
        let reg = registry::find(name)?;
        let mut cache = self
            .adhoc
            .lock()
            .map_err(|_| ProviderError::new(ErrorKind::Internal, "provider cache lock poisoned"))?;
        if let Some(p) = cache.get(reg.name) {
            return Ok((reg.name, Arc::clone(p)));
        }
        let settings = ProviderSettings {
            config: Arc::clone(&self.config),
            ..ProviderSettings::default()
        };
        let provider = (reg.build)(&settings)?;
        cache.insert(reg.name, Arc::clone(&provider));
        Ok((reg.name, provider))
    }

    fn unknown_model(&self, model: &str) -> ProviderError {
        let names = self.table.model_names();
        let known = if names.is_empty() {
            "model_list is empty".to_string()
        } else {
            format!("model_list has: {}", names.join(", "))
        };
        ProviderError::new(
            ErrorKind::NotFound,
            format!(
                "unknown model `{model}` ({known}); add it to model_list, prefix it with \
                 `codex-agent/`, or set custom_llm_provider"
            ),
        )
    }
}

fn deployed(d: &Arc<DeploymentState>, fallback_of: Option<&String>) -> Target {
    Target {
        provider: Arc::clone(&d.provider),
        provider_name: Arc::clone(&d.provider_name),
        model: Arc::clone(&d.model),
        deployment: Arc::clone(&d.id),
        state: Some(Arc::clone(d)),
        fallback_of: fallback_of.cloned(),
        metrics: d.metrics(),
    }
}
