//! `[gateway]`: the `scillm serve` gateway (SPEC §17).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The gateway server: bind address, client keys, limits and the Batch API's state.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Bind address (loopback by default; another address needs `keys` or
    /// `allow_insecure_bind`).
    pub host: String,
    /// Port (default 4000).
    pub port: u16,
    /// Allow a non-loopback bind without keys (a trusted network only).
    pub allow_insecure_bind: bool,
    /// Client keys; none means no auth (and loopback only).
    pub keys: Vec<GatewayKey>,
    /// Where the Batch API keeps files, batches and their journals (default
    /// `./scillm-gateway-data`).
    pub data_dir: PathBuf,
    /// Largest request body in bytes (chat and file uploads).
    pub max_body_bytes: usize,
    /// Longest time, in seconds, to produce a response head (504 beyond); unset: none
    /// beyond the router's own timeouts.
    pub request_timeout_s: Option<f64>,
    /// Requests of one batch in flight at once (default `router.concurrency`).
    pub batch_concurrency: Option<usize>,
    /// Length in seconds of the Batch API's one `completion_window`, `"24h"` (default
    /// 86,400, OpenAI's). A batch not done within it ends `expired`. Shorter values let
    /// an operator (or a test) bound batches more tightly; clients still send `"24h"`.
    pub batch_completion_window_s: Option<f64>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 4000,
            allow_insecure_bind: false,
            keys: Vec::new(),
            data_dir: PathBuf::from("scillm-gateway-data"),
            max_body_bytes: 64 * 1024 * 1024,
            request_timeout_s: None,
            batch_concurrency: None,
            batch_completion_window_s: None,
        }
    }
}

/// One client key of `[gateway] keys`.
///
/// The key itself never sits in the file: `key` is an environment reference
/// (`os.environ/NAME`, LiteLLM's form, or `env:NAME`), or `key_sha256` is the hex SHA-256
/// of the key (`printf %s "$KEY" | sha256sum`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayKey {
    /// A name for logs and metrics (never the key).
    pub name: String,
    /// The environment variable holding the key: `os.environ/NAME` or `env:NAME`.
    #[serde(default)]
    pub key: Option<String>,
    /// The hex SHA-256 digest of the key.
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// Model names this key may use; `"*"` for all.
    #[serde(default = "all_models")]
    pub models: Vec<String>,
    /// Requests per minute for this key (smoothed: bursts of at most `rpm/60`, ≥ 1).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute for this key, charged with an estimate (prompt characters / 4 +
    /// `max_tokens`).
    #[serde(default)]
    pub tpm: Option<u32>,
}

fn all_models() -> Vec<String> {
    vec!["*".into()]
}
