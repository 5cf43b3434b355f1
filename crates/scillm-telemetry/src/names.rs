//! Metric names and label keys (SPEC §16). The GenAI names are the OpenTelemetry GenAI
//! client metrics (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`) in
//! Prometheus form (dots become underscores, the unit is a suffix); the `scillm_*` names
//! are this project's. Every label value is from a bounded set: provider and deployment
//! names come from the configuration, `error_type` is a closed set — never ids or user text.

/// Histogram, seconds: one upstream chat operation from send to the last byte.
/// Labels: [`GEN_AI_OPERATION_NAME`], [`GEN_AI_PROVIDER_NAME`], [`GEN_AI_REQUEST_MODEL`],
/// [`ERROR_TYPE`].
pub const OPERATION_DURATION: &str = "gen_ai_client_operation_duration_seconds";
/// Histogram, tokens: tokens used by one operation. Labels as [`OPERATION_DURATION`] minus
/// `error_type`, plus [`GEN_AI_TOKEN_TYPE`] (`input` | `output`).
pub const TOKEN_USAGE: &str = "gen_ai_client_token_usage";
/// Counter: finished router items. Labels `provider`, `deployment`, `error_type`.
pub const REQUESTS_TOTAL: &str = "scillm_requests_total";
/// Counter: retries made (attempts after the first). Labels `provider`, `deployment`.
pub const RETRIES_TOTAL: &str = "scillm_retries_total";
/// Histogram, seconds: time an item waited for a concurrency slot or rate-limit capacity.
pub const QUEUE_SECONDS: &str = "scillm_queue_seconds";
/// Gauge: requests in flight. Label `component` (`router`, `sidecar`, `mini_agent`,
/// `gateway`).
pub const IN_FLIGHT: &str = "scillm_in_flight";
/// Counter: a deployment was put into cooldown. Label `deployment`.
pub const DEPLOYMENT_COOLDOWNS_TOTAL: &str = "scillm_deployment_cooldowns_total";
/// Counter: calls to a deployment that failed, including those an item recovered from by
/// failing over (LiteLLM's `litellm_deployment_failure_responses`). Labels `deployment`,
/// `error_kind` (the closed set of SPEC §6).
pub const DEPLOYMENT_FAILURES_TOTAL: &str = "scillm_deployment_failures_total";
/// Histogram, seconds: time an item waited for rpm/tpm capacity. Label `deployment`.
pub const RATE_LIMIT_WAIT_SECONDS: &str = "scillm_rate_limit_wait_seconds";
/// Counter: Codex turns by backend (`app-server` | `exec`) and outcome (`completed`,
/// `failed`, `interrupted`, `timeout`, `rate_limited`, `error`).
pub const CODEX_TURNS_TOTAL: &str = "scillm_codex_turns_total";
/// Counter: restarts of the long-lived `codex app-server` child.
pub const CODEX_APP_SERVER_RESTARTS_TOTAL: &str = "scillm_codex_app_server_restarts_total";
/// Counter: HTTP requests answered by a scillm server. Labels `component`, `status` (the
/// status class, e.g. `2xx`).
pub const HTTP_REQUESTS_TOTAL: &str = "scillm_http_requests_total";
/// Counter: mini-agent runs by how they stopped. Label `stopped_reason` (`success`,
/// `max_iterations`, `budget`, or `error` when a model call failed).
pub const MINI_AGENT_RUNS_TOTAL: &str = "scillm_mini_agent_runs_total";
/// Counter: mini-agent tool calls run. Labels `tool` (a built-in tool's name, `http` for
/// any tool of an HTTP tool server, `unknown` for a name no tool has) and `outcome` (`ok` |
/// `error`).
pub const MINI_AGENT_TOOL_CALLS_TOTAL: &str = "scillm_mini_agent_tool_calls_total";

/// Counter: calls to the shared-state backend (Redis, SPEC §18) that failed — unreachable,
/// timed out or answering an error. Label `operation` = `acquire` | `correct` |
/// `cooldown` | `cooldowns` | `rotation`.
pub const STATE_BACKEND_ERRORS_TOTAL: &str = "scillm_state_backend_errors_total";
/// Counter: shared-state calls answered from process-local state because the backend was
/// down (failed just now, or within its back-off after a failure). Label `operation` as
/// [`STATE_BACKEND_ERRORS_TOTAL`].
pub const STATE_FALLBACK_TOTAL: &str = "scillm_state_fallback_total";
/// Counter: response-cache lookups (SPEC §18). Labels `backend` = `local` | `redis` |
/// `disk` and `result` = `hit` | `miss` (a backend error counts as a miss).
pub const CACHE_REQUESTS_TOTAL: &str = "scillm_cache_requests_total";
/// Counter: requests that left the response cache alone. Label `reason` = `stream` |
/// `nondeterministic` | `directive`.
pub const CACHE_SKIPPED_TOTAL: &str = "scillm_cache_skipped_total";
/// Counter: answers stored in the response cache. Label `backend`.
pub const CACHE_WRITES_TOTAL: &str = "scillm_cache_writes_total";
/// Counter: response-cache backend failures (Redis unreachable, disk unreadable, a corrupt
/// entry); the request goes on as a miss. Labels `backend` and `operation` = `get` | `put`.
pub const CACHE_ERRORS_TOTAL: &str = "scillm_cache_errors_total";

/// Label: `gen_ai.operation.name` (`chat`).
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai_operation_name";
/// Label: `gen_ai.provider.name` (the scillm provider, e.g. `openai`, `codex-agent`).
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai_provider_name";
/// Label: `gen_ai.request.model`.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai_request_model";
/// Label: `gen_ai.token.type` (`input` | `output`).
pub const GEN_AI_TOKEN_TYPE: &str = "gen_ai_token_type";
/// Label: the scillm `error_type` (`ok`, `invalid_json`, `empty_content`, `provider_error`,
/// `timeout`).
pub const ERROR_TYPE: &str = "error_type";

/// Bucket bounds for second-valued histograms: the boundaries the OpenTelemetry GenAI
/// conventions advise for `gen_ai.client.operation.duration`.
pub const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Bucket bounds for token counts: the boundaries the OpenTelemetry GenAI conventions
/// advise for `gen_ai.client.token.usage`.
pub const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Register the help text and unit of every metric above with the installed recorder.
pub fn describe_all() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_state_and_cache();
    describe_histogram!(
        OPERATION_DURATION,
        Unit::Seconds,
        "GenAI operation duration (OpenTelemetry gen_ai.client.operation.duration)."
    );
    describe_histogram!(
        TOKEN_USAGE,
        Unit::Count,
        "Tokens used per operation (OpenTelemetry gen_ai.client.token.usage)."
    );
    describe_counter!(
        REQUESTS_TOTAL,
        "Finished requests by provider, deployment and error_type."
    );
    describe_counter!(RETRIES_TOTAL, "Retries made (attempts after the first).");
    describe_histogram!(
        QUEUE_SECONDS,
        Unit::Seconds,
        "Time waiting for a concurrency slot or rate-limit capacity."
    );
    describe_gauge!(IN_FLIGHT, "Requests in flight.");
    describe_counter!(
        DEPLOYMENT_COOLDOWNS_TOTAL,
        "Times a deployment was put into cooldown."
    );
    describe_counter!(
        DEPLOYMENT_FAILURES_TOTAL,
        "Failed calls to a deployment, also those an item recovered from by failing over."
    );
    describe_histogram!(
        RATE_LIMIT_WAIT_SECONDS,
        Unit::Seconds,
        "Time waiting for rpm/tpm capacity."
    );
    describe_counter!(CODEX_TURNS_TOTAL, "Codex turns by backend and outcome.");
    describe_counter!(
        CODEX_APP_SERVER_RESTARTS_TOTAL,
        "Restarts of the codex app-server child."
    );
    describe_counter!(MINI_AGENT_RUNS_TOTAL, "Mini-agent runs by stopped_reason.");
    describe_counter!(
        MINI_AGENT_TOOL_CALLS_TOTAL,
        "Mini-agent tool calls by tool and outcome."
    );
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by component and status class."
    );
}

/// Register the help text of the shared-state and response-cache metrics (SPEC §18).
fn describe_state_and_cache() {
    use metrics::describe_counter;
    describe_counter!(
        STATE_BACKEND_ERRORS_TOTAL,
        "Shared-state (Redis) calls that failed, by operation."
    );
    describe_counter!(
        STATE_FALLBACK_TOTAL,
        "Shared-state calls answered by this process because Redis was down, by operation."
    );
    describe_counter!(
        CACHE_REQUESTS_TOTAL,
        "Response-cache lookups by backend and result (hit or miss)."
    );
    describe_counter!(
        CACHE_SKIPPED_TOTAL,
        "Requests that left the response cache alone, by reason."
    );
    describe_counter!(CACHE_WRITES_TOTAL, "Answers stored in the response cache.");
    describe_counter!(
        CACHE_ERRORS_TOTAL,
        "Response-cache backend failures by backend and operation."
    );
}
