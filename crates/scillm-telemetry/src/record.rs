//! Recording helpers: one function per event of SPEC §16, so that names and labels are
//! spelt in one place. Each is a no-op until a recorder is installed.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::names::*;

/// Where an upstream call went. Every field must come from a bounded set (configuration
/// or registry names), never from request text or ids.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The scillm provider name (`openai`, `codex-agent`, …).
    pub provider: &'a str,
    /// The model id sent upstream, as configured.
    pub model: &'a str,
    /// The deployment (`{model_name}#{n}`), or the provider name for direct calls.
    pub deployment: &'a str,
}

/// One finished item: `scillm_requests_total` and
/// `gen_ai_client_operation_duration_seconds` (operation `chat`).
pub fn request(target: &Target<'_>, error_type: &str, duration: Duration) {
    counter!(REQUESTS_TOTAL,
        "provider" => target.provider.to_owned(),
        "deployment" => target.deployment.to_owned(),
        ERROR_TYPE => error_type.to_owned())
    .increment(1);
    histogram!(OPERATION_DURATION,
        GEN_AI_OPERATION_NAME => "chat",
        GEN_AI_PROVIDER_NAME => target.provider.to_owned(),
        GEN_AI_REQUEST_MODEL => target.model.to_owned(),
        ERROR_TYPE => error_type.to_owned())
    .record(duration.as_secs_f64());
}

/// Token usage of one operation: `gen_ai_client_token_usage` with
/// `gen_ai_token_type` = `input` and `output`.
pub fn tokens(target: &Target<'_>, input: u64, output: u64) {
    for (kind, n) in [("input", input), ("output", output)] {
        histogram!(TOKEN_USAGE,
            GEN_AI_OPERATION_NAME => "chat",
            GEN_AI_PROVIDER_NAME => target.provider.to_owned(),
            GEN_AI_REQUEST_MODEL => target.model.to_owned(),
            GEN_AI_TOKEN_TYPE => kind)
        .record(n as f64);
    }
}

/// `n` retries made for one item (attempts after the first): `scillm_retries_total`.
pub fn retries(target: &Target<'_>, n: u64) {
    if n > 0 {
        counter!(RETRIES_TOTAL,
            "provider" => target.provider.to_owned(),
            "deployment" => target.deployment.to_owned())
        .increment(n);
    }
}

/// Time an item waited before it was sent: `scillm_queue_seconds`.
pub fn queue(wait: Duration) {
    histogram!(QUEUE_SECONDS).record(wait.as_secs_f64());
}

/// A deployment was put into cooldown: `scillm_deployment_cooldowns_total`.
pub fn cooldown(deployment: &str) {
    counter!(DEPLOYMENT_COOLDOWNS_TOTAL, "deployment" => deployment.to_owned()).increment(1);
}

/// Time an item waited for rpm/tpm capacity: `scillm_rate_limit_wait_seconds`.
pub fn rate_limit_wait(deployment: &str, wait: Duration) {
    histogram!(RATE_LIMIT_WAIT_SECONDS, "deployment" => deployment.to_owned())
        .record(wait.as_secs_f64());
}

/// One Codex turn ended: `scillm_codex_turns_total{backend,outcome}`.
pub fn codex_turn(backend: &'static str, outcome: &'static str) {
    counter!(CODEX_TURNS_TOTAL, "backend" => backend, "outcome" => outcome).increment(1);
}

/// The `codex app-server` child was restarted: `scillm_codex_app_server_restarts_total`.
pub fn app_server_restart() {
    counter!(CODEX_APP_SERVER_RESTARTS_TOTAL).increment(1);
}

/// One HTTP request answered by a server: `scillm_http_requests_total{component,status}`
/// with the status class (`2xx`, `4xx`, …).
pub fn http_request(component: &'static str, status: u16) {
    let class = match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    counter!(HTTP_REQUESTS_TOTAL, "component" => component, "status" => class).increment(1);
}

/// One mini-agent run ended: `scillm_mini_agent_runs_total{stopped_reason}` (`error` when
/// a model call failed).
pub fn mini_agent_run(stopped_reason: &'static str) {
    counter!(MINI_AGENT_RUNS_TOTAL, "stopped_reason" => stopped_reason).increment(1);
}

/// One mini-agent tool call ran: `scillm_mini_agent_tool_calls_total{tool,outcome}`; `tool`
/// is a built-in tool's name, `http` or `unknown` (never a name a model or tool server
/// made up).
pub fn mini_agent_tool_call(tool: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    counter!(MINI_AGENT_TOOL_CALLS_TOTAL, "tool" => tool, "outcome" => outcome).increment(1);
}

/// A shared-state call did not reach Redis (SPEC §18):
/// `scillm_state_backend_errors_total{operation}`.
pub fn state_backend_error(operation: &'static str) {
    counter!(STATE_BACKEND_ERRORS_TOTAL, "operation" => operation).increment(1);
}

/// A shared-state call was answered by this process instead of Redis:
/// `scillm_state_fallback_total{operation}`.
pub fn state_fallback(operation: &'static str) {
    counter!(STATE_FALLBACK_TOTAL, "operation" => operation).increment(1);
}

/// One response-cache lookup: `scillm_cache_requests_total{backend,result}`.
pub fn cache_lookup(backend: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    counter!(CACHE_REQUESTS_TOTAL, "backend" => backend, "result" => result).increment(1);
}

/// A request left the response cache alone: `scillm_cache_skipped_total{reason}`.
pub fn cache_skipped(reason: &'static str) {
    counter!(CACHE_SKIPPED_TOTAL, "reason" => reason).increment(1);
}

/// An answer was stored: `scillm_cache_writes_total{backend}`.
pub fn cache_write(backend: &'static str) {
    counter!(CACHE_WRITES_TOTAL, "backend" => backend).increment(1);
}

/// A response-cache backend failed: `scillm_cache_errors_total{backend,operation}`.
pub fn cache_error(backend: &'static str, operation: &'static str) {
    counter!(CACHE_ERRORS_TOTAL, "backend" => backend, "operation" => operation).increment(1);
}

/// Counts one request in `scillm_in_flight{component}` for as long as it lives.
#[derive(Debug)]
#[must_use = "the request counts as in flight only while the guard lives"]
pub struct InFlight {
    component: &'static str,
}

impl InFlight {
    /// Start counting one request of `component` (`router`, `sidecar`, `mini_agent`,
    /// `gateway`).
    pub fn start(component: &'static str) -> Self {
        gauge!(IN_FLIGHT, "component" => component).increment(1.0);
        Self { component }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(IN_FLIGHT, "component" => self.component).decrement(1.0);
    }
}
