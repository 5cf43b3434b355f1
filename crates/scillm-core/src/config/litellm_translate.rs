//! The translation of a LiteLLM configuration object to scillm's keys (SPEC §13):
//! `model_list` entries with `litellm_params` become deployments (provider from the model
//! prefix, a bare model id an OpenAI model, an `openai` base ending in `/v1` taken as the
//! base without it), `router_settings` / `litellm_settings` become `[router]` keys, and
//! every LiteLLM key with no scillm equivalent is collected for the caller's warning.

use std::collections::BTreeSet;

use serde_json::{Map as JsonMap, Value};

use super::litellm::{LITELLM_ONLY_SECTIONS, PROVIDER_PREFIXES};

/// Whether `root` is written the LiteLLM way.
pub(super) fn is_litellm(root: &JsonMap<String, Value>) -> bool {
    let entries_have_params = root
        .get("model_list")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|e| e.get("litellm_params").is_some()));
    entries_have_params
        || ["router_settings", "litellm_settings", "general_settings"]
            .iter()
            .any(|k| root.contains_key(*k))
}

/// scillm's keys for a LiteLLM file, and the LiteLLM keys left unused.
pub(super) fn translate(
    root: JsonMap<String, Value>,
) -> (JsonMap<String, Value>, BTreeSet<String>) {
    let mut out = JsonMap::new();
    let mut router = JsonMap::new();
    let mut unused = BTreeSet::new();
    // litellm_settings first: router_settings wins where both set a key.
    let mut sections: Vec<(String, Value)> = root.into_iter().collect();
    sections.sort_by_key(|(k, _)| match k.as_str() {
        "litellm_settings" => 0,
        "router_settings" => 1,
        _ => 2,
    });
    for (key, value) in sections {
        match key.as_str() {
            "model_list" => {
                let list = match value {
                    Value::Array(a) => {
                        Value::Array(a.into_iter().map(|e| deployment(e, &mut unused)).collect())
                    }
                    other => other,
                };
                out.insert(key, list);
            }
            "router_settings" | "litellm_settings" => {
                settings(&key, value, &mut router, &mut unused);
            }
            "router" => {
                if let Value::Object(m) = value {
                    router.extend(m);
                }
            }
            k if LITELLM_ONLY_SECTIONS.contains(&k) => {
                unused.insert(key);
            }
            _ => {
                // scillm's own sections, and anything unknown (left to fail as usual).
                out.insert(key, value);
            }
        }
    }
    if !router.is_empty() {
        out.insert("router".into(), Value::Object(router));
    }
    (out, unused)
}

/// The router keys of a `router_settings` / `litellm_settings` section.
fn settings(
    section: &str,
    value: Value,
    router: &mut JsonMap<String, Value>,
    unused: &mut BTreeSet<String>,
) {
    let Value::Object(m) = value else {
        unused.insert(section.to_string());
        return;
    };
    for (k, v) in m {
        let target = match (section, k.as_str()) {
            (_, "num_retries") => "num_retries",
            (_, "allowed_fails") => "allowed_fails",
            (_, "cooldown_time") => "cooldown_s",
            (_, "fallbacks") => "fallbacks",
            ("router_settings", "routing_strategy") => "routing_strategy",
            ("router_settings", "timeout") => "timeout_s",
            ("litellm_settings", "request_timeout") => "timeout_s",
            _ => {
                unused.insert(format!("{section}.{k}"));
                continue;
            }
        };
        let v = if target == "fallbacks" {
            fallbacks(v)
        } else {
            v
        };
        router.insert(target.to_string(), v);
    }
}

/// LiteLLM's `[{"a": ["b", "c"]}, …]` as scillm's `{"a": ["b", "c"], …}`.
fn fallbacks(v: Value) -> Value {
    match v {
        Value::Array(list) => {
            let mut map = JsonMap::new();
            for entry in list {
                if let Value::Object(m) = entry {
                    map.extend(m);
                }
            }
            Value::Object(map)
        }
        other => other,
    }
}

/// One `model_list` entry: `{model_name, litellm_params{…}, model_info?}` to scillm's
/// deployment keys. An entry without `litellm_params` is already in scillm's form.
fn deployment(entry: Value, unused: &mut BTreeSet<String>) -> Value {
    let Value::Object(mut e) = entry else {
        return entry;
    };
    let Some(params) = e.remove("litellm_params") else {
        return Value::Object(e);
    };
    let mut out = JsonMap::new();
    if let Some(name) = e.remove("model_name") {
        out.insert("model_name".into(), name);
    }
    let mut params = match params {
        Value::Object(p) => p,
        _ => JsonMap::new(),
    };
    // `rpm`/`tpm` beside `litellm_params` (an older LiteLLM form) count too.
    for k in ["rpm", "tpm"] {
        if let Some(v) = e.remove(k) {
            params.entry(k.to_string()).or_insert(v);
        }
    }
    for k in e.keys() {
        unused.insert(format!("model_list[].{k}"));
    }
    let explicit_provider = params
        .remove("custom_llm_provider")
        .and_then(|v| v.as_str().map(str::to_string));
    let model = params
        .remove("model")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let (provider, upstream) = match split_provider(&model) {
        Some((p, rest)) => (p.to_string(), rest.to_string()),
        None => match model.split_once('/') {
            // Another LiteLLM provider (`anthropic/…`): named, so the router's error
            // lists the providers that are available.
            Some((p, rest)) if explicit_provider.is_none() => (p.to_string(), rest.to_string()),
            _ => ("openai".to_string(), model.clone()),
        },
    };
    let provider = explicit_provider.unwrap_or(provider);
    out.insert("provider".into(), Value::String(provider.clone()));
    if !upstream.is_empty() {
        out.insert("model".into(), Value::String(upstream));
    }
    for (k, v) in params {
        let target = match k.as_str() {
            "api_base" | "base_url" => {
                let v = match (&v, provider.as_str()) {
                    (Value::String(s), "openai") => Value::String(strip_v1(s)),
                    _ => v,
                };
                out.insert("api_base".into(), v);
                continue;
            }
            "api_key" => "api_key",
            "rpm" => "rpm",
            "tpm" => "tpm",
            "timeout" => "timeout_s",
            "max_parallel_requests" => "max_parallel_requests",
            "num_retries" | "max_retries" => "num_retries",
            "cooldown_time" => "cooldown_s",
            "weight" => "weight",
            "order" => "order",
            _ => {
                unused.insert(format!("model_list[].litellm_params.{k}"));
                continue;
            }
        };
        out.insert(target.into(), v);
    }
    Value::Object(out)
}

/// `(provider, rest)` when `model` starts with a prefix of [`PROVIDER_PREFIXES`].
pub fn split_provider(model: &str) -> Option<(&'static str, &str)> {
    PROVIDER_PREFIXES
        .iter()
        .find_map(|(prefix, provider)| model.strip_prefix(prefix).map(|rest| (*provider, rest)))
}

/// An OpenAI-SDK base (`…/v1`) as the base this project's providers append `/v1` to.
fn strip_v1(base: &str) -> String {
    let t = base.trim_end_matches('/');
    t.strip_suffix("/v1").unwrap_or(t).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_litellm_model_list_entry_becomes_a_deployment() {
        let mut unused = BTreeSet::new();
        let d = deployment(
            json!({"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o",
                "api_base": "http://127.0.0.1:8000/v1/", "api_key": "k", "rpm": 60,
                "timeout": 5, "api_version": "x"}, "model_info": {"id": "1"}}),
            &mut unused,
        );
        assert_eq!(
            d,
            json!({"model_name": "gpt", "provider": "openai", "model": "gpt-4o",
                "api_base": "http://127.0.0.1:8000", "api_key": "k", "rpm": 60, "timeout_s": 5})
        );
        assert!(unused.contains("model_list[].model_info"));
        assert!(unused.contains("model_list[].litellm_params.api_version"));
        let bare = deployment(
            json!({"model_name": "m", "litellm_params": {"model": "gpt-4o-mini"}}),
            &mut unused,
        );
        assert_eq!(bare["provider"], "openai");
        let codex = deployment(
            json!({"model_name": "c", "litellm_params": {"model": "codex-agent/gpt-5"}}),
            &mut unused,
        );
        assert_eq!(
            (&codex["provider"], &codex["model"]),
            (&json!("codex-agent"), &json!("gpt-5"))
        );
    }

    #[test]
    fn router_settings_win_over_litellm_settings_and_fallbacks_become_a_map() {
        let root = json!({
            "litellm_settings": {"num_retries": 5, "drop_params": true},
            "router_settings": {"num_retries": 1, "routing_strategy": "least-busy",
                "fallbacks": [{"a": ["b"]}, {"c": ["d", "e"]}], "redis_host": "x"},
        });
        let root = root.as_object().cloned().unwrap_or_default();
        let (out, unused) = translate(root);
        assert_eq!(
            out["router"],
            json!({"num_retries": 1, "routing_strategy": "least-busy",
                "fallbacks": {"a": ["b"], "c": ["d", "e"]}})
        );
        assert!(unused.contains("litellm_settings.drop_params"));
        assert!(unused.contains("router_settings.redis_host"));
    }
}
