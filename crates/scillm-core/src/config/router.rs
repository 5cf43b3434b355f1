//! `[router]` and `model_list`: the router's settings and its deployments (SPEC §6, §13).
//! Every struct denies unknown keys, so a typo is an error naming the key.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::base::ApiBase;
use crate::retry::RetryPolicy;

use super::model::redact;

/// The router and parallel calls, and the defaults of every deployment (SPEC §6, §13).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Parallel calls at once.
    pub concurrency: usize,
    /// Per-request timeout in seconds, retries and failover included (none when unset;
    /// LiteLLM's `router_settings.timeout`).
    pub timeout_s: Option<f64>,
    /// How long a deployment that answered 429/5xx is skipped when the answer carries no
    /// wait hint (LiteLLM's `cooldown_time`); a deployment's own `cooldown_s` wins.
    pub cooldown_s: f64,
    /// Failures (other than 429) a deployment may have in a row before it cools down
    /// (LiteLLM's `allowed_fails`; default 0: the first one cools it).
    pub allowed_fails: u32,
    /// Attempts per request across all targets are at most `num_retries + 1`; also the
    /// default of a deployment's own `num_retries` (LiteLLM's `num_retries`, default 2).
    pub num_retries: u32,
    /// The longest wait, in seconds, for a request with no deadline when every target
    /// cools down (longer: it ends `rate_limited` at once), and the longest wait hint
    /// (`Retry-After`) a provider that is not codex-agent honours in its own retry loop
    /// (default 60; SPEC §6, §13: `[router]` holds the defaults of every deployment,
    /// codex-agent's own loop reads `codex_agent.max_retry_after_s`).
    pub max_retry_after_s: u64,
    /// How a deployment is picked among the healthy ones of a model name.
    pub routing_strategy: RoutingStrategy,
    /// Seed of the routing RNG (`simple-shuffle`) and of the retry jitter of deployments
    /// that are not codex-agent (`SCILLM_DETERMINISTIC_SEED`); unset draws from the OS.
    pub seed: Option<u64>,
    /// Default requests per minute of each deployment (none: unlimited).
    pub rpm: Option<u32>,
    /// Default tokens per minute of each deployment (none: unlimited).
    pub tpm: Option<u64>,
    /// Default calls in flight to one deployment at once (none: unlimited).
    pub max_parallel_requests: Option<usize>,
    /// Attach `scillm_router.retries`.
    pub retry_meta: bool,
    /// Log each failed parallel item.
    pub debug_parallel: bool,
    /// Other model names to try when every deployment of a model fails.
    pub fallbacks: BTreeMap<String, Vec<String>>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            timeout_s: None,
            cooldown_s: 30.0,
            allowed_fails: 0,
            num_retries: 2,
            max_retry_after_s: 60,
            routing_strategy: RoutingStrategy::default(),
            seed: None,
            rpm: None,
            tpm: None,
            max_parallel_requests: None,
            retry_meta: false,
            debug_parallel: false,
            fallbacks: BTreeMap::new(),
        }
    }
}

impl RouterConfig {
    /// The retry policy of a deployment's provider that is not codex-agent (codex-agent
    /// reads `codex_agent.*`): `num_retries` (the deployment's, else `[router]`'s), the
    /// standard backoff, `max_retry_after_s`, and the router's seed.
    pub fn retry_policy(&self, num_retries: Option<u32>) -> RetryPolicy {
        RetryPolicy {
            max_retries: num_retries.unwrap_or(self.num_retries),
            max_retry_after: std::time::Duration::from_secs(self.max_retry_after_s),
            seed: self.seed,
            ..RetryPolicy::default()
        }
    }
}

/// How the router picks a deployment among the healthy ones of a model name; LiteLLM's
/// `routing_strategy` names (its `-routing` spellings are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingStrategy {
    /// Random, weighted by each deployment's `weight` (default).
    #[default]
    SimpleShuffle,
    /// The deployment with the fewest calls in flight.
    LeastBusy,
    /// The deployment with the lowest moving average (EWMA) of successful latency.
    #[serde(alias = "latency-based-routing")]
    LatencyBased,
    /// The deployment with the lowest share of its `rpm` / `tpm` used this minute.
    #[serde(alias = "usage-based-routing", alias = "usage-based-routing-v2")]
    UsageBased,
}

impl RoutingStrategy {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::SimpleShuffle => "simple-shuffle",
            RoutingStrategy::LeastBusy => "least-busy",
            RoutingStrategy::LatencyBased => "latency-based",
            RoutingStrategy::UsageBased => "usage-based",
        }
    }
}

/// One configured model entry. Every limit left unset takes the `[router]` default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// The name requests use.
    pub model_name: String,
    /// The registered provider (`codex-agent`, `openai`, …). Left out, it comes from a
    /// `codex-agent/`, `openai/` or `mini-agent/` prefix of `model` (else `model_name`)
    /// when the config loads.
    #[serde(alias = "custom_llm_provider", default)]
    pub provider: String,
    /// The upstream model id (defaults to `model_name`).
    #[serde(default)]
    pub model: Option<String>,
    /// The upstream base, without `/v1`.
    #[serde(default)]
    pub api_base: Option<ApiBase>,
    /// The upstream key.
    #[serde(default, serialize_with = "redact")]
    pub api_key: Option<SecretString>,
    /// Calls in flight to this deployment at once.
    #[serde(default)]
    pub max_parallel_requests: Option<usize>,
    /// Requests per minute admitted to this deployment (smoothed: burst `rpm/60`, ≥ 1).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute admitted (charged `prompt chars / 4 + max_tokens`, corrected
    /// with the answer's `usage`).
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Per-attempt timeout of calls to this deployment, in seconds.
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// The provider's own retries when this deployment is the only target left.
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// How long this deployment cools down after a 429/5xx without a wait hint.
    #[serde(default)]
    pub cooldown_s: Option<f64>,
    /// Share of `simple-shuffle` picks, relative to the other deployments (default 1).
    #[serde(default)]
    pub weight: Option<f64>,
    /// Priority (LiteLLM's `order`): only the healthy deployments with the lowest `order`
    /// are picked from; unset comes after every deployment that has one.
    #[serde(default)]
    pub order: Option<u32>,
}
