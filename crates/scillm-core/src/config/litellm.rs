//! Configuration files as LiteLLM writes them (SPEC §13): YAML, JSON or TOML whose
//! `model_list` entries are `{model_name, litellm_params{…}, model_info?}` and whose
//! `router_settings` / `litellm_settings` hold the router's settings. They are translated
//! to scillm's own keys before the usual checks run, so a LiteLLM `config.yaml` loads
//! unchanged.
//!
//! - `os.environ/NAME` anywhere in the file reads variable `NAME` (an unset variable is
//!   an error naming the key and the variable).
//! - The provider comes from the model prefix (`openai/gpt-4o` → provider `openai`, model
//!   `gpt-4o`); a bare model id is an OpenAI model, as in LiteLLM. An `openai` base
//!   ending in `/v1` (the OpenAI SDK form LiteLLM passes on) names the same endpoint as
//!   the base without it, and is taken that way.
//! - LiteLLM keys this project does not use are listed once per process in one warning.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use figment::providers::{Format, Json, Toml, Yaml};
use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider, Source};
use serde_json::{Map as JsonMap, Value};

use super::load::{json_to_figment, ConfigError};

/// LiteLLM top-level sections with nothing for this project (warned about, not errors).
const LITELLM_ONLY_SECTIONS: &[&str] = &[
    "general_settings",
    "environment_variables",
    "callback_settings",
    "guardrails",
    "credential_list",
    "files_settings",
    "finetune_settings",
    "assistant_settings",
    "include",
    "mcp_servers",
    "vector_store_registry",
    "model_group_alias",
];

/// The model prefixes that name a provider of this workspace.
pub const PROVIDER_PREFIXES: &[(&str, &str)] = &[
    ("codex-agent/", "codex-agent"),
    ("openai/", "openai"),
    ("mini-agent/", "mini-agent"),
];

/// A configuration file read and translated: one figment layer naming the file.
pub(crate) struct FileLayer {
    path: std::path::PathBuf,
    dict: Dict,
}

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("config file").source(Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Read `path` (format by extension: `.yaml`/`.yml`, `.json`, else TOML), resolve
/// `os.environ/` values with `lookup`, and translate a LiteLLM file to scillm's keys.
pub(crate) fn read_file(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<FileLayer, ConfigError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let data = match ext.as_str() {
        "yaml" | "yml" => Yaml::file_exact(path).data(),
        "json" => Json::file_exact(path).data(),
        _ => Toml::file_exact(path).data(),
    };
    let file = path.display().to_string();
    let invalid = |message: String| ConfigError::Invalid {
        source_desc: format!("config file {file}"),
        message,
    };
    let mut profiles = data.map_err(|e| invalid(e.to_string()))?;
    let dict = profiles.remove(&Profile::Default).unwrap_or_default();
    let root = match serde_json::to_value(&dict) {
        Ok(Value::Object(m)) => m,
        Ok(_) => JsonMap::new(),
        Err(e) => return Err(invalid(e.to_string())),
    };
    let (root, unused) = translate_litellm(root, lookup).map_err(|e| match e {
        ConfigError::Invalid {
            source_desc,
            message,
        } => ConfigError::Invalid {
            source_desc: format!("{file} {source_desc}"),
            message,
        },
        other => other,
    })?;
    warn_unused(&file, &unused.into_iter().collect());
    let dict = match json_to_figment(Value::Object(root)) {
        Some(figment::value::Value::Dict(_, d)) => d,
        _ => Dict::new(),
    };
    Ok(FileLayer {
        path: path.to_path_buf(),
        dict,
    })
}

/// A configuration object (the root of a `scillm.toml`, or of a LiteLLM `config.yaml`
/// read as JSON) made ready to load: every `os.environ/NAME` string read with `lookup`
/// (`[gateway]` excepted: the gateway reads its keys' variables itself), and a LiteLLM
/// object (`model_list` entries with `litellm_params`, or `router_settings` /
/// `litellm_settings` sections) translated to scillm's keys. Returns the object and the
/// LiteLLM keys it left unused (sorted; for the caller to warn about), e.g.
/// `router_settings.set_verbose` or `model_list[].litellm_params.input_cost_per_token`.
///
/// Errors: [`ConfigError::Invalid`] naming the key whose variable is not set.
pub fn translate_litellm(
    mut root: JsonMap<String, Value>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(JsonMap<String, Value>, Vec<String>), ConfigError> {
    for (k, v) in root.iter_mut() {
        if k == "gateway" {
            continue;
        }
        resolve_env(v, k, lookup).map_err(|(key, message)| ConfigError::Invalid {
            source_desc: format!("key {key}"),
            message,
        })?;
    }
    if !is_litellm(&root) {
        return Ok((root, Vec::new()));
    }
    let (translated, unused) = translate(root);
    Ok((translated, unused.into_iter().collect()))
}

/// Replace every `os.environ/NAME` string under `v` (at dotted `key`) with the variable.
fn resolve_env(
    v: &mut Value,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("os.environ/") {
                let name = name.trim();
                match lookup(name).filter(|x| !x.is_empty()) {
                    Some(val) => *s = val,
                    None => {
                        return Err((
                            key.to_string(),
                            format!(
                                "`os.environ/{name}` names a variable that is not set: set {name} or write the value"
                            ),
                        ))
                    }
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                resolve_env(x, &format!("{key}.{i}"), lookup)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                resolve_env(x, &format!("{key}.{k}"), lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether `root` is written the LiteLLM way.
fn is_litellm(root: &JsonMap<String, Value>) -> bool {
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
fn translate(root: JsonMap<String, Value>) -> (JsonMap<String, Value>, BTreeSet<String>) {
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

/// Keys already warned about in this process.
static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// One warning listing the LiteLLM keys of `file` this project does not use, each key
/// at most once per process.
fn warn_unused(file: &str, unused: &BTreeSet<String>) {
    let fresh = not_yet_warned(unused);
    if !fresh.is_empty() {
        tracing::warn!(
            target: "scillm::config",
            "{file}: LiteLLM keys not used by scillm (ignored): {}",
            fresh.join(", ")
        );
    }
}

/// The keys of `unused` not warned about before in this process (now marked warned).
fn not_yet_warned(unused: &BTreeSet<String>) -> Vec<String> {
    let Ok(mut warned) = WARNED.lock() else {
        return Vec::new();
    };
    unused
        .iter()
        .filter(|k| warned.insert((*k).clone()))
        .cloned()
        .collect()
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

    #[test]
    fn each_unused_key_is_warned_about_once() {
        let keys: BTreeSet<String> = ["test_only.a".to_string(), "test_only.b".to_string()].into();
        assert_eq!(not_yet_warned(&keys), vec!["test_only.a", "test_only.b"]);
        assert!(not_yet_warned(&keys).is_empty());
        let more: BTreeSet<String> = ["test_only.b".to_string(), "test_only.c".to_string()].into();
        assert_eq!(not_yet_warned(&more), vec!["test_only.c"]);
    }

    #[test]
    fn environment_references_are_resolved_or_named() {
        let lookup = |n: &str| (n == "KEY").then(|| "v".to_string());
        let mut v = json!({"a": ["os.environ/KEY"]});
        resolve_env(&mut v, "root", &lookup).unwrap();
        assert_eq!(v, json!({"a": ["v"]}));
        let mut v = json!({"b": "os.environ/MISSING"});
        let (key, msg) = resolve_env(&mut v, "root", &lookup).unwrap_err();
        assert_eq!(key, "root.b");
        assert!(msg.contains("MISSING"), "{msg}");
    }
}
