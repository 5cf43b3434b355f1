//! [`Gateway`]: what every handler shares — the Router, the client keys, the model names,
//! the Batch API and the metrics handle.

use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderMap;
use scillm_core::Config;
use scillm_router::Router;
use scillm_serve::{ApiError, KeySet, PrometheusHandle};

use crate::access::Catalog;
use crate::batch::BatchService;
use crate::error::GatewayError;
use crate::keys::{self, ClientKey};

/// The gateway's shared state. Cloning is cheap.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    router: Router,
    keys: KeySet<Arc<ClientKey>>,
    catalog: Arc<Catalog>,
    batches: BatchService,
    metrics: PrometheusHandle,
    started: Instant,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("catalog", &self.inner.catalog)
            .field("keys", &!self.inner.keys.is_empty())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Build the gateway from `config`: the Router over its `model_list`, the keys of
    /// `[gateway] keys` (env references read from the process environment), and the Batch
    /// API over `[gateway] data_dir` (batches left running by a previous process resume).
    pub async fn new(config: Arc<Config>) -> Result<Self, GatewayError> {
        Self::with_env(config, &|name| std::env::var(name).ok()).await
    }

    /// [`Gateway::new`] reading key references from `env` instead of the process
    /// environment.
    pub async fn with_env(
        config: Arc<Config>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, GatewayError> {
        let keys = keys::build(&config.gateway.keys, env)?;
        let router =
            Router::new(Arc::clone(&config)).map_err(|e| GatewayError::Router(e.to_string()))?;
        let models = router.model_names();
        if models.is_empty() {
            return Err(GatewayError::Config(
                "model_list is empty: the gateway serves the model names of model_list; add at least one deployment".into(),
            ));
        }
        let catalog = Arc::new(Catalog::new(models));
        let batches =
            BatchService::open(&config, router.clone(), Arc::clone(&catalog), keys.by_name).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                router,
                keys: keys.set,
                catalog,
                batches,
                metrics: scillm_serve::recorder(),
                started: Instant::now(),
            }),
        })
    }

    /// The config the gateway was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The Router.
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// The Batch API.
    pub fn batches(&self) -> &BatchService {
        &self.inner.batches
    }

    /// The metrics handle `/metrics` renders.
    pub fn metrics(&self) -> PrometheusHandle {
        self.inner.metrics.clone()
    }

    /// Whether client keys are configured.
    pub fn has_keys(&self) -> bool {
        !self.inner.keys.is_empty()
    }

    /// Seconds since the gateway was built.
    pub fn uptime_s(&self) -> f64 {
        self.inner.started.elapsed().as_secs_f64()
    }

    /// The model names served and the checks of a chat request.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The model names `key` may use (all without keys), sorted.
    pub fn visible_models(&self, key: Option<&ClientKey>) -> Vec<String> {
        self.inner.catalog.visible(key)
    }

    /// The client key of a request: `None` when no keys are configured, else the key or
    /// the 401 to answer.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<ClientKey>>, ApiError> {
        if self.inner.keys.is_empty() {
            return Ok(None);
        }
        self.inner
            .keys
            .authenticate(headers, "a key of [gateway] keys")
            .map(|k| Some(Arc::clone(k)))
    }
}
