//! [`RouterResult`]: the OpenAI response object plus the `scillm_router` metadata, exactly
//! as the batch output writes it.

use std::time::Duration;

use scillm_core::wire::{unix_now, ChatResponse, Choice, Message};
use scillm_core::{ErrorKind, ProviderError, RetryStats};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest `exception` text, in characters.
pub const EXCEPTION_MAX_CHARS: usize = 200;

/// The outcome class of one result: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// An answer that passed every check that applied.
    Ok,
    /// JSON was asked for and the content does not parse or fails the schema.
    InvalidJson,
    /// No JSON was asked for and the content is empty or whitespace.
    EmptyContent,
    /// The call failed (details in `error_kind`, `status`, `exception`).
    ProviderError,
    /// The request timed out.
    Timeout,
}

impl ErrorType {
    /// The class of a failed call: `timeout` for a timeout, else `provider_error`.
    pub fn of_error(err: &ProviderError) -> Self {
        if err.kind == ErrorKind::Timeout {
            ErrorType::Timeout
        } else {
            ErrorType::ProviderError
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Ok => "ok",
            ErrorType::InvalidJson => "invalid_json",
            ErrorType::EmptyContent => "empty_content",
            ErrorType::ProviderError => "provider_error",
            ErrorType::Timeout => "timeout",
        }
    }
}

/// `scillm_router.retries` (with `SCILLM_RETRY_META=1` or `CODEX_AGENT_ENABLE_METRICS=1`):
/// what the router and the providers retried for the item, recorded after every attempt
/// so a timed-out or cancelled item reports it too. The fields after `last_retry_after_s`
/// are there only with `CODEX_AGENT_ENABLE_METRICS=1` (SPEC §4, §13).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetriesMeta {
    /// Retries done: attempts after the first, over every target and provider call.
    pub attempts: u32,
    /// Time slept between attempts (wait hints, backoff, waiting for a cooling
    /// deployment), in ms.
    pub total_sleep_ms: u64,
    /// The last wait hint an upstream sent, in seconds.
    pub last_retry_after_s: Option<f64>,
    /// Attempts that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// The status of the last attempt (when it had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_status: Option<u16>,
    /// The status of the first failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure_status: Option<u16>,
    /// The wait before each retry, in ms (0 for an immediate failover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_sequence: Option<Vec<u64>>,
    /// Each status seen, once, in first-seen order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<u16>>,
}

impl RetriesMeta {
    /// Add the stats of one more provider call (the short record).
    pub fn add(&mut self, stats: &RetryStats) {
        self.attempts += stats.attempts;
        self.total_sleep_ms += stats.total_sleep_ms;
        if stats.last_retry_after_s.is_some() {
            self.last_retry_after_s = stats.last_retry_after_s;
        }
    }

    /// Add one call to the full record: its stats (none when it was cut short before
    /// its first attempt ended) and the waits before each of its attempts.
    pub fn add_full(&mut self, stats: Option<&RetryStats>, sequence: &[u64]) {
        self.retry_sequence
            .get_or_insert_with(Vec::new)
            .extend_from_slice(sequence);
        let statuses = self.statuses.get_or_insert_with(Vec::new);
        let failures = self.failures.get_or_insert(0);
        let Some(s) = stats else {
            return;
        };
        *failures += s.failures;
        for st in &s.statuses {
            if !statuses.contains(st) {
                statuses.push(*st);
            }
        }
        if self.first_failure_status.is_none() {
            self.first_failure_status = s.first_failure_status;
        }
        self.final_status = s.final_status;
    }
}

/// The `scillm_router` object attached to every result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterMeta {
    /// The outcome class.
    pub error_type: ErrorType,
    /// The cause of a failed call (`provider_error`, `timeout`).
    pub error_kind: Option<ErrorKind>,
    /// The upstream HTTP status of a failed call, when there was one.
    pub status: Option<u16>,
    /// What went wrong, at most [`EXCEPTION_MAX_CHARS`] characters.
    pub exception: Option<String>,
    /// The provider that was called (last one, when several were tried).
    pub provider: Option<String>,
    /// The model id sent to the provider.
    pub model: Option<String>,
    /// The deployment that answered (`{model_name}#{n}`, `codex-agent` for the fast path,
    /// `direct:{provider}` for per-request providers).
    pub deployment: Option<String>,
    /// The item's position in the input.
    pub index: usize,
    /// Time in the call, retries and fallbacks included, queueing excluded (ms).
    pub timing_ms: u64,
    /// Time waiting for a parallel slot and a deployment slot (ms).
    pub queue_ms: u64,
    /// `schema_first`, `json_schema` or `json_object` when JSON was asked for, else null.
    pub schema_mode: Option<String>,
    /// Whether the content parses as JSON (null when JSON was not asked for).
    pub json_valid: Option<bool>,
    /// Whether the content satisfies the schema (null when there was no schema to check).
    pub schema_valid: Option<bool>,
    /// Schema violations, `"{path}: {message}"` each.
    pub schema_errors: Vec<String>,
    /// Whether schema-first mode retried with `response_format: json_object`.
    pub fallback_used: bool,
    /// The model name of `router.fallbacks` that answered, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_fallback: Option<String>,
    /// Retry stats, only when `router.retry_meta` (`SCILLM_RETRY_META=1`) is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetriesMeta>,
    /// Whether the answer came from the response cache (SPEC §18); absent when `[cache]`
    /// is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hit: Option<bool>,
}

impl RouterMeta {
    /// Empty metadata for item `index` (an `ok` with nothing filled in yet).
    pub fn new(index: usize) -> Self {
        Self {
            error_type: ErrorType::Ok,
            error_kind: None,
            status: None,
            exception: None,
            provider: None,
            model: None,
            deployment: None,
            index,
            timing_ms: 0,
            queue_ms: 0,
            schema_mode: None,
            json_valid: None,
            schema_valid: None,
            schema_errors: Vec::new(),
            fallback_used: false,
            model_fallback: None,
            retries: None,
            cache_hit: None,
        }
    }

    /// Record a failed call: `timeout` for timeouts, `provider_error` otherwise.
    pub fn set_error(&mut self, err: &ProviderError) {
        self.error_type = ErrorType::of_error(err);
        self.error_kind = Some(err.kind);
        self.status = err.status;
        self.exception = Some(truncate_chars(&err.to_string(), EXCEPTION_MAX_CHARS));
    }
}

/// One result: the OpenAI response object (upstream fields kept; on error a synthetic one
/// whose `choices[0].message.content` is `""`) plus `scillm_router`.
///
/// Serialising it gives exactly the JSON line the batch output writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouterResult {
    /// The response object.
    #[serde(flatten)]
    pub response: ChatResponse,
    /// The metadata.
    #[serde(rename = "scillm_router")]
    pub meta: RouterMeta,
    /// The error of a failed call, kept for [`crate::Router::chat`]; not serialised.
    #[serde(skip)]
    pub error: Option<ProviderError>,
    /// `timing_ms` at full precision (zero for items that never ran); not serialised.
    #[serde(skip)]
    pub elapsed: Duration,
    /// `queue_ms` at full precision: time waiting for a parallel slot, a deployment slot
    /// and rate-limit capacity; not serialised (the gateway leaves it out of
    /// `x-scillm-overhead-ms`).
    #[serde(skip)]
    pub queued: Duration,
    /// Upstream calls made for the item, over every target and retry (0 when none was
    /// made); not serialised (the gateway's `x-scillm-attempts`).
    #[serde(skip)]
    pub attempts: u32,
}

impl RouterResult {
    /// A failed result for item `index` that asked for `model`.
    pub fn failed(index: usize, model: Option<&str>, err: ProviderError) -> Self {
        let mut meta = RouterMeta::new(index);
        meta.set_error(&err);
        meta.model = model.map(str::to_string);
        Self {
            response: empty_response(index, model.unwrap_or_default()),
            meta,
            error: Some(err),
            elapsed: Duration::ZERO,
            queued: Duration::ZERO,
            attempts: 0,
        }
    }

    /// Whether `error_type` is `ok`.
    pub fn is_ok(&self) -> bool {
        self.meta.error_type == ErrorType::Ok
    }

    /// The first choice's text (`""` on error).
    pub fn content(&self) -> String {
        self.response.first_text()
    }

    /// The result as a JSON object.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The synthetic response of a failed item: one assistant choice with `""` content.
pub fn empty_response(index: usize, model: &str) -> ChatResponse {
    ChatResponse {
        id: format!("scillm-error-{index}"),
        object: "chat.completion".into(),
        created: unix_now(),
        model: model.to_string(),
        choices: vec![Choice {
            index: 0,
            message: Message::assistant(""),
            finish_reason: None,
            extra: Map::new(),
        }],
        usage: None,
        extra: Map::new(),
    }
}

/// `s` cut to at most `max` characters (with `…` when cut).
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_result_serialises_with_empty_content_and_every_field() {
        let long = "y".repeat(500);
        let err = ProviderError::from_status(503, &long);
        let r = RouterResult::failed(7, Some("m"), err);
        let v = r.to_value();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "");
        let m = &v["scillm_router"];
        assert_eq!(m["error_type"], "provider_error");
        assert_eq!(m["error_kind"], "server");
        assert_eq!(m["status"], 503);
        assert_eq!(m["index"], 7);
        assert!(m["exception"].as_str().unwrap().chars().count() <= EXCEPTION_MAX_CHARS);
        for key in [
            "provider",
            "model",
            "deployment",
            "timing_ms",
            "queue_ms",
            "schema_mode",
            "json_valid",
            "schema_valid",
            "schema_errors",
            "fallback_used",
        ] {
            assert!(m.get(key).is_some(), "missing {key}");
        }
        assert!(m.get("retries").is_none());
        let back: RouterResult = serde_json::from_value(v).unwrap();
        assert_eq!(back.meta, r.meta);
    }

    #[test]
    fn a_timeout_is_its_own_error_type() {
        let r = RouterResult::failed(0, None, ProviderError::new(ErrorKind::Timeout, "late"));
        assert_eq!(r.meta.error_type, ErrorType::Timeout);
        assert_eq!(r.to_value()["scillm_router"]["error_type"], "timeout");
    }
}
