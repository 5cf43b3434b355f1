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
//!
//! This module reads files and resolves `os.environ/`; `litellm_translate` maps the keys.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use figment::providers::{Format, Json, Toml, Yaml};
use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider, Source};
use serde_json::{Map as JsonMap, Value};

use super::litellm_translate::{is_litellm, translate};
use super::load::{json_to_figment, ConfigError};

/// LiteLLM top-level sections with nothing for this project (warned about, not errors).
pub(super) const LITELLM_ONLY_SECTIONS: &[&str] = &[
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
