//! The configuration structs. Every struct denies unknown keys, so a typo in `scillm.toml`
//! is an error naming the key.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

use crate::base::ApiBase;
use crate::retry::RetryPolicy;

use super::router::{Deployment, RouterConfig};
use super::shared::{CacheConfig, StateConfig};

/// The whole configuration, read once when a router or server is built.
///
/// A changed environment needs a new `Config` (and so a new router or server): nothing
/// re-reads the environment behind the caller's back.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Accepted for compatibility (`LITELLM_ENABLE_CODEX_AGENT`); the cargo feature
    /// `codex-agent` is what compiles the provider in.
    pub enable_codex_agent: bool,
    /// The codex-agent provider.
    pub codex_agent: CodexAgentConfig,
    /// The codex sidecar server.
    pub sidecar: SidecarConfig,
    /// The router and parallel calls.
    pub router: RouterConfig,
    /// The mini-agent and its shim.
    pub mini_agent: MiniAgentConfig,
    /// Deployments: model names mapped to providers.
    pub model_list: Vec<Deployment>,
    /// The `scillm serve` gateway.
    pub gateway: super::gateway::GatewayConfig,
    /// State shared between processes through Redis (SPEC §18).
    pub state: StateConfig,
    /// The response cache (SPEC §18).
    pub cache: CacheConfig,
}

/// Serialise a secret as `[REDACTED]` (or nothing when unset).
pub(crate) fn redact<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("[REDACTED]"),
        None => s.serialize_none(),
    }
}

/// The codex-agent HTTP provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodexAgentConfig {
    /// Base of the sidecar or gateway, without `/v1`; unset starts the embedded sidecar.
    pub api_base: Option<ApiBase>,
    /// Bearer key, only when the gateway enforces one.
    #[serde(serialize_with = "redact")]
    pub api_key: Option<SecretString>,
    /// Extra attempts after the first.
    pub max_retries: u32,
    /// Backoff base in ms.
    pub retry_base_ms: u64,
    /// Backoff ceiling in ms.
    pub max_backoff_ms: u64,
    /// Longest `Retry-After` honoured, in seconds.
    pub max_retry_after_s: u64,
    /// Per-attempt timeout in seconds.
    pub timeout_s: f64,
    /// Overall deadline across retries, in seconds.
    pub deadline_s: f64,
    /// Jitter seed for reproducible backoff.
    pub deterministic_seed: Option<u64>,
    /// Expose the full retry stats.
    pub enable_metrics: bool,
    /// Log one line per retry.
    pub log_retries: bool,
}

impl Default for CodexAgentConfig {
    fn default() -> Self {
        Self {
            api_base: None,
            api_key: None,
            max_retries: 2,
            retry_base_ms: 120,
            max_backoff_ms: 1500,
            max_retry_after_s: 60,
            timeout_s: 30.0,
            deadline_s: 120.0,
            deterministic_seed: None,
            enable_metrics: false,
            log_retries: false,
        }
    }
}

impl CodexAgentConfig {
    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base: Duration::from_millis(self.retry_base_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            max_retry_after: Duration::from_secs(self.max_retry_after_s),
            seed: self.deterministic_seed,
            log_retries: self.log_retries,
        }
    }

    /// The per-attempt timeout.
    pub fn attempt_timeout(&self) -> Duration {
        secs(self.timeout_s)
    }

    /// The overall deadline across retries.
    pub fn deadline(&self) -> Duration {
        secs(self.deadline_s)
    }
}

/// A duration from (possibly fractional, possibly bogus) seconds.
pub fn secs(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::from_secs_f64(s.min(1.0e9))
    } else {
        Duration::ZERO
    }
}

/// How the sidecar hands the prompt to the Codex CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMode {
    /// The prompt on stdin.
    #[default]
    Prompt,
    /// The prompt as the value of a flag (`prompt_flag`).
    Flag,
    /// `{"prompt":…}` JSON on stdin.
    Json,
}

/// How the sidecar runs Codex (SPEC §12, `CODEX_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodexBackend {
    /// One long-lived `codex app-server` child speaking JSON-RPC over stdio; a request is
    /// an ephemeral thread and one turn.
    #[default]
    AppServer,
    /// One `codex exec --json` process per request.
    Exec,
}

impl CodexBackend {
    /// The name used in configuration and `/healthz` (`app-server` or `exec`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AppServer => "app-server",
            Self::Exec => "exec",
        }
    }
}

/// The codex sidecar server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SidecarConfig {
    /// Bind address (loopback by default).
    pub host: String,
    /// Bind port.
    pub port: u16,
    /// Inbound bearer key; needed for a non-loopback bind.
    #[serde(serialize_with = "redact")]
    pub api_key: Option<SecretString>,
    /// Allow a non-loopback bind without an API key.
    pub allow_insecure_bind: bool,
    /// Answer every chat with `echo_reply`, no credentials needed.
    pub echo: bool,
    /// The echo answer.
    pub echo_reply: String,
    /// Credentials file; unset means `$HOME/.codex/auth.json`.
    pub auth_path: Option<PathBuf>,
    /// The Codex CLI command line (`CODEX_CMD`, split with shell-words rules). The
    /// app-server backend runs its words before `exec` followed by `app-server`.
    pub cmd: String,
    /// Which backend runs Codex (`CODEX_BACKEND`: `app-server` or `exec`).
    pub backend: CodexBackend,
    /// The sandbox of app-server threads (`CODEX_SANDBOX`: `read-only`, `workspace-write`
    /// or `danger-full-access`).
    pub sandbox: String,
    /// Extra environment variable names passed to Codex children on top of the allowlist
    /// of SPEC §12 (`CODEX_ENV_PASSTHROUGH`, comma-separated).
    pub env_passthrough: Vec<String>,
    /// How the prompt reaches the CLI.
    pub input_mode: InputMode,
    /// The flag used in `flag` input mode.
    pub prompt_flag: String,
    /// CLI processes at once.
    pub max_concurrency: usize,
    /// Requests that may wait for a CLI slot; more get 503.
    pub queue_size: usize,
    /// Kill a CLI run after this many seconds.
    pub abs_timeout_s: f64,
    /// Kill a CLI run after this many seconds without output.
    pub idle_timeout_s: f64,
    /// Extra attempts after exit codes 70/75.
    pub retries: u32,
    /// Proxy to this base instead of running the CLI.
    pub forward_base: Option<ApiBase>,
    /// Bearer token for the forward base.
    #[serde(serialize_with = "redact")]
    pub forward_token: Option<SecretString>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest decoded `data:` image accepted, in bytes.
    pub max_image_bytes: usize,
    /// Model ids listed by `/v1/models`.
    pub models: Vec<String>,
}

impl Default for SidecarConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8077,
            api_key: None,
            allow_insecure_bind: false,
            echo: false,
            echo_reply: "shim ok".into(),
            auth_path: None,
            cmd: "codex exec --json --skip-git-repo-check --sandbox read-only".into(),
            backend: CodexBackend::AppServer,
            sandbox: "read-only".into(),
            env_passthrough: Vec::new(),
            input_mode: InputMode::Prompt,
            prompt_flag: "--prompt".into(),
            max_concurrency: 4,
            queue_size: 64,
            abs_timeout_s: 90.0,
            idle_timeout_s: 25.0,
            retries: 1,
            forward_base: None,
            forward_token: None,
            max_body_bytes: 16 * 1024 * 1024,
            max_image_bytes: 10 * 1024 * 1024,
            models: vec!["gpt-5".into()],
        }
    }
}

/// The mini-agent and its shim.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MiniAgentConfig {
    /// Bind address (loopback by default).
    pub host: String,
    /// Bind port.
    pub port: u16,
    /// Inbound bearer key; needed for a non-loopback bind.
    #[serde(serialize_with = "redact")]
    pub api_key: Option<SecretString>,
    /// Allow a non-loopback bind without an API key.
    pub allow_insecure_bind: bool,
    /// `agent` (default) or `echo`.
    pub shim_mode: String,
    /// Write one JSON trace line per run.
    pub store_traces: bool,
    /// Where traces go.
    pub store_path: Option<PathBuf>,
    /// The model the agent calls when the request names none.
    pub model: Option<String>,
    /// Model turns at most.
    pub max_iterations: u32,
    /// Tool calls run per turn at most.
    pub max_tools_per_iter: usize,
    /// Tool calls run at once.
    pub tool_concurrency: usize,
    /// Wall-clock budget for a run, in seconds.
    pub budget_s: f64,
    /// Per-tool timeout, in seconds.
    pub tool_timeout_s: f64,
    /// Characters of history kept.
    pub history_char_budget: usize,
    /// Run a fenced code block when the model answers with one and no tool call.
    pub auto_run_code: bool,
    /// Programs `exec_shell` may run, by exact name.
    pub exec_allowlist: Vec<String>,
    /// Base of an HTTP tool server (`GET /tools`, `POST /invoke`).
    pub tools_base: Option<ApiBase>,
    /// Run exec tools without bubblewrap when it is missing (SPEC §15: off, so exec tools
    /// are refused instead).
    pub allow_unsandboxed: bool,
    /// Agent runs at once (SPEC §15, default 4).
    pub max_concurrency: usize,
    /// Runs waiting for a slot at most; more are answered 503 with `Retry-After`.
    pub max_queue: usize,
    /// What echo mode answers (SPEC §15: `shim ok` when unset).
    pub shim_reply: Option<String>,
    /// Processes (and threads) one sandboxed tool may have at once (`RLIMIT_NPROC` inside
    /// its user namespace).
    pub tool_max_processes: u64,
}

impl Default for MiniAgentConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8788,
            api_key: None,
            allow_insecure_bind: false,
            shim_mode: "agent".into(),
            store_traces: false,
            store_path: None,
            model: None,
            max_iterations: 3,
            max_tools_per_iter: 4,
            tool_concurrency: 2,
            budget_s: 120.0,
            tool_timeout_s: 10.0,
            history_char_budget: 60_000,
            auto_run_code: false,
            exec_allowlist: ["ls", "cat", "echo", "wc", "head", "tail", "grep", "python3"]
                .map(String::from)
                .to_vec(),
            tools_base: None,
            allow_unsandboxed: false,
            max_concurrency: 4,
            max_queue: 16,
            shim_reply: None,
            tool_max_processes: 64,
        }
    }
}
