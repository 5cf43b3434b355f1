//! The environment layer: the runbook's variable names mapped to config keys.
//!
//! For a key whose runbook name is `X`, `SCILLM_X` wins over `LITELLM_X`, which wins over
//! `X` itself. Empty values count as unset.

use std::collections::BTreeMap;
use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// How a variable's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// `1/true/yes/on` or `0/false/no/off`.
    Bool,
    /// A non-negative whole number.
    Uint,
    /// A number.
    Float,
    /// Text as is.
    Str,
    /// Comma-separated list.
    List,
}

/// `(config key, runbook names in priority order, kind)`.
pub const ENV_TABLE: &[(&str, &[&str], EnvKind)] = &[
    ("enable_codex_agent", &["ENABLE_CODEX_AGENT"], EnvKind::Bool),
    (
        "codex_agent.api_base",
        &["CODEX_AGENT_API_BASE"],
        EnvKind::Str,
    ),
    (
        "codex_agent.api_key",
        &["CODEX_AGENT_API_KEY"],
        EnvKind::Str,
    ),
    (
        "codex_agent.max_retries",
        &["CODEX_AGENT_MAX_RETRIES"],
        EnvKind::Uint,
    ),
    (
        "codex_agent.retry_base_ms",
        &["CODEX_AGENT_RETRY_BASE_MS"],
        EnvKind::Uint,
    ),
    (
        "codex_agent.max_backoff_ms",
        &["CODEX_AGENT_MAX_BACKOFF_MS"],
        EnvKind::Uint,
    ),
    (
        "codex_agent.max_retry_after_s",
        &["CODEX_AGENT_MAX_RETRY_AFTER_S"],
        EnvKind::Uint,
    ),
    (
        "codex_agent.timeout_s",
        &["CODEX_AGENT_TIMEOUT_S"],
        EnvKind::Float,
    ),
    (
        "codex_agent.deadline_s",
        &["CODEX_AGENT_DEADLINE_S"],
        EnvKind::Float,
    ),
    (
        "codex_agent.deterministic_seed",
        &["DETERMINISTIC_SEED", "CODEX_AGENT_DETERMINISTIC_SEED"],
        EnvKind::Uint,
    ),
    (
        "codex_agent.enable_metrics",
        &["CODEX_AGENT_ENABLE_METRICS"],
        EnvKind::Bool,
    ),
    (
        "codex_agent.log_retries",
        &["CODEX_AGENT_LOG_RETRIES"],
        EnvKind::Bool,
    ),
    ("router.retry_meta", &["RETRY_META"], EnvKind::Bool),
    ("router.seed", &["DETERMINISTIC_SEED"], EnvKind::Uint),
    ("router.num_retries", &["NUM_RETRIES"], EnvKind::Uint),
    (
        "router.max_retry_after_s",
        &["MAX_RETRY_AFTER_S"],
        EnvKind::Uint,
    ),
    ("router.debug_parallel", &["DEBUG_PARALLEL"], EnvKind::Bool),
    (
        "router.concurrency",
        &["PARALLEL_CONCURRENCY"],
        EnvKind::Uint,
    ),
    ("router.timeout_s", &["PARALLEL_TIMEOUT_S"], EnvKind::Float),
    ("router.cooldown_s", &["COOLDOWN_S"], EnvKind::Float),
    (
        "sidecar.echo",
        &["CODEX_SIDECAR_ECHO", "CODEX_ECHO_MODE"],
        EnvKind::Bool,
    ),
    (
        "sidecar.echo_reply",
        &["CODEX_SIDECAR_ECHO_REPLY"],
        EnvKind::Str,
    ),
    ("sidecar.host", &["CODEX_SIDECAR_HOST"], EnvKind::Str),
    ("sidecar.port", &["CODEX_SIDECAR_PORT"], EnvKind::Uint),
    ("sidecar.api_key", &["CODEX_SIDECAR_API_KEY"], EnvKind::Str),
    (
        "sidecar.allow_insecure_bind",
        &["CODEX_SIDECAR_ALLOW_INSECURE_BIND"],
        EnvKind::Bool,
    ),
    ("sidecar.auth_path", &["CODEX_AUTH_PATH"], EnvKind::Str),
    ("sidecar.cmd", &["CODEX_CMD"], EnvKind::Str),
    ("sidecar.backend", &["CODEX_BACKEND"], EnvKind::Str),
    ("sidecar.sandbox", &["CODEX_SANDBOX"], EnvKind::Str),
    (
        "sidecar.env_passthrough",
        &["CODEX_ENV_PASSTHROUGH"],
        EnvKind::List,
    ),
    ("sidecar.input_mode", &["CODEX_INPUT_MODE"], EnvKind::Str),
    ("sidecar.prompt_flag", &["CODEX_PROMPT_FLAG"], EnvKind::Str),
    (
        "sidecar.max_concurrency",
        &["MAX_CONCURRENCY"],
        EnvKind::Uint,
    ),
    (
        "sidecar.queue_size",
        &["CODEX_SIDECAR_QUEUE_SIZE"],
        EnvKind::Uint,
    ),
    ("sidecar.abs_timeout_s", &["ABS_TIMEOUT_S"], EnvKind::Float),
    (
        "sidecar.idle_timeout_s",
        &["IDLE_TIMEOUT_S"],
        EnvKind::Float,
    ),
    ("sidecar.retries", &["RETRIES"], EnvKind::Uint),
    (
        "sidecar.forward_base",
        &["CODEX_FORWARD_BASE"],
        EnvKind::Str,
    ),
    (
        "sidecar.forward_token",
        &["CODEX_FORWARD_TOKEN"],
        EnvKind::Str,
    ),
    (
        "sidecar.max_body_bytes",
        &["CODEX_SIDECAR_MAX_BODY_BYTES"],
        EnvKind::Uint,
    ),
    ("sidecar.models", &["CODEX_SIDECAR_MODELS"], EnvKind::List),
    ("mini_agent.host", &["MINI_AGENT_API_HOST"], EnvKind::Str),
    ("mini_agent.port", &["MINI_AGENT_API_PORT"], EnvKind::Uint),
    ("mini_agent.api_key", &["MINI_AGENT_API_KEY"], EnvKind::Str),
    (
        "mini_agent.allow_insecure_bind",
        &["MINI_AGENT_ALLOW_INSECURE_BIND"],
        EnvKind::Bool,
    ),
    (
        "mini_agent.shim_mode",
        &["MINI_AGENT_OPENAI_SHIM_MODE"],
        EnvKind::Str,
    ),
    (
        "mini_agent.store_traces",
        &["MINI_AGENT_STORE_TRACES"],
        EnvKind::Bool,
    ),
    (
        "mini_agent.store_path",
        &["MINI_AGENT_STORE_PATH"],
        EnvKind::Str,
    ),
    ("mini_agent.model", &["MINI_AGENT_MODEL"], EnvKind::Str),
    ("state.redis_url", &["REDIS_URL"], EnvKind::Str),
    (
        "mini_agent.max_iterations",
        &["MINI_AGENT_MAX_ITERATIONS"],
        EnvKind::Uint,
    ),
    (
        "mini_agent.tools_base",
        &["MINI_AGENT_TOOLS_BASE"],
        EnvKind::Str,
    ),
    (
        "mini_agent.allow_unsandboxed",
        &["MINI_AGENT_ALLOW_UNSANDBOXED"],
        EnvKind::Bool,
    ),
    (
        "mini_agent.max_concurrency",
        &["MINI_AGENT_MAX_CONCURRENCY"],
        EnvKind::Uint,
    ),
    (
        "mini_agent.max_queue",
        &["MINI_AGENT_MAX_QUEUE"],
        EnvKind::Uint,
    ),
    (
        "mini_agent.shim_reply",
        &["MINI_AGENT_OPENAI_SHIM_REPLY"],
        EnvKind::Str,
    ),
];

/// The variable names that may set `key`, in priority order.
pub fn names_for(key: &str) -> Vec<String> {
    let Some((_, names, _)) = ENV_TABLE.iter().find(|(k, _, _)| *k == key) else {
        return Vec::new();
    };
    expand(names)
}

fn expand(names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["SCILLM_", "LITELLM_", ""] {
        for n in names {
            let n = n.strip_prefix("SCILLM_").unwrap_or(n);
            let name = format!("{prefix}{n}");
            // `DETERMINISTIC_SEED` and `RETRY_META` have no bare form in the runbook.
            if prefix.is_empty() && ENV_TABLE_PREFIX_ONLY.contains(&n) {
                continue;
            }
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Names that only exist with a prefix (a bare `RETRY_META` would be too generic).
const ENV_TABLE_PREFIX_ONLY: &[&str] = &[
    "ENABLE_CODEX_AGENT",
    "DETERMINISTIC_SEED",
    "RETRY_META",
    "DEBUG_PARALLEL",
    "PARALLEL_CONCURRENCY",
    "PARALLEL_TIMEOUT_S",
    "COOLDOWN_S",
    "NUM_RETRIES",
    "MAX_RETRY_AFTER_S",
    // A bare `REDIS_URL` often belongs to another program on the machine.
    "REDIS_URL",
];

/// A variable whose text does not fit its key.
#[derive(Debug, Clone)]
pub struct EnvValueError {
    /// The variable.
    pub var: String,
    /// What was expected.
    pub expected: &'static str,
}

/// The environment as a figment layer.
#[derive(Debug, Clone)]
pub struct EnvLayer {
    values: Vec<(&'static str, String, Value)>,
}

impl EnvLayer {
    /// Read the table's variables from `lookup` (the process environment, or a test map).
    pub fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvValueError> {
        let mut values = Vec::new();
        for (key, names, kind) in ENV_TABLE {
            let found = expand(names)
                .into_iter()
                .find_map(|n| lookup(&n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)));
            if let Some((var, raw)) = found {
                let value = parse(&raw, *kind).ok_or(EnvValueError {
                    var: var.clone(),
                    expected: kind_name(*kind),
                })?;
                values.push((*key, var, value));
            }
        }
        Ok(Self { values })
    }
}

fn kind_name(kind: EnvKind) -> &'static str {
    match kind {
        EnvKind::Bool => "1/0, true/false, yes/no or on/off",
        EnvKind::Uint => "a whole number",
        EnvKind::Float => "a number",
        EnvKind::Str | EnvKind::List => "text",
    }
}

/// Parse a boolean the way the runbook's variables are written.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse(raw: &str, kind: EnvKind) -> Option<Value> {
    let t = raw.trim();
    Some(match kind {
        EnvKind::Bool => Value::from(parse_bool(t)?),
        EnvKind::Uint => Value::from(t.parse::<u64>().ok()?),
        EnvKind::Float => {
            let f = t.parse::<f64>().ok()?;
            if !f.is_finite() {
                return None;
            }
            Value::from(f)
        }
        EnvKind::Str => Value::from(raw.to_string()),
        EnvKind::List => Value::from(
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::from(s.to_string()))
                .collect::<Vec<_>>(),
        ),
    })
}

/// Put `value` at the dotted `key` of `dict`.
pub(crate) fn nest(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                nest(inner, rest, value);
            }
        }
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        let by_key: Arc<BTreeMap<String, String>> = Arc::new(
            self.values
                .iter()
                .map(|(k, v, _)| (k.to_string(), v.clone()))
                .collect(),
        );
        Metadata::named("environment").interpolater(move |_: &Profile, keys: &[&str]| {
            let key = keys.join(".");
            by_key.get(&key).cloned().unwrap_or(key)
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (key, _, value) in &self.values {
            nest(&mut dict, key, value.clone());
        }
        Ok(Profile::Default.collect(dict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_prefix_wins() {
        assert_eq!(
            names_for("codex_agent.api_base"),
            vec![
                "SCILLM_CODEX_AGENT_API_BASE",
                "LITELLM_CODEX_AGENT_API_BASE",
                "CODEX_AGENT_API_BASE"
            ]
        );
        assert_eq!(
            names_for("router.retry_meta"),
            vec!["SCILLM_RETRY_META", "LITELLM_RETRY_META"]
        );
        assert!(names_for("codex_agent.deterministic_seed")
            .contains(&"CODEX_AGENT_DETERMINISTIC_SEED".to_string()));
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
