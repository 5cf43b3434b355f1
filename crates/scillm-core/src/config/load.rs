//! Loading: defaults < `scillm.toml` < environment < explicit values, checked at load time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::env::{nest, EnvLayer};
use super::litellm::read_file;
use super::litellm_translate::split_provider;
use super::model::Config;

/// The file read when `SCILLM_CONFIG` is unset.
pub const DEFAULT_CONFIG_FILE: &str = "scillm.toml";

/// A configuration that cannot be loaded. The message names where the bad value came from.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// A value is invalid (a `/v1` base, an unknown key, a wrong type).
    #[error("{source_desc}: {message}")]
    Invalid {
        /// Where the value came from: `env CODEX_AGENT_API_BASE`, `scillm.toml key codex_agent.api_base`, ….
        source_desc: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An environment variable whose text does not fit.
    #[error("env {var}: expected {expected}")]
    BadEnv {
        /// The variable.
        var: String,
        /// What was expected.
        expected: &'static str,
    },
    /// `SCILLM_CONFIG` names a file that does not exist.
    #[error(
        "config file {0} (from SCILLM_CONFIG) does not exist: fix the path or unset SCILLM_CONFIG"
    )]
    MissingFile(PathBuf),
}

/// Where the file layer comes from.
#[derive(Debug, Clone)]
enum FileChoice {
    /// `SCILLM_CONFIG`, else `./scillm.toml` when present.
    Auto,
    /// This file (must exist).
    Path(PathBuf),
    /// No file layer.
    None,
}

/// Builds a [`Config`] from its layers.
#[derive(Clone)]
pub struct ConfigLoader {
    file: FileChoice,
    env: Option<HashMap<String, String>>,
    explicit: Dict,
}

impl std::fmt::Debug for ConfigLoader {
    // Explicit values and a test environment may hold secrets: show only their keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigLoader")
            .field("file", &self.file)
            .field(
                "env",
                &self.env.as_ref().map(|m| m.keys().collect::<Vec<_>>()),
            )
            .field("explicit", &self.explicit.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for ConfigLoader {
    fn default() -> Self {
        Self::new()
    }
}

/// A loaded config with the layers it came from, for `config show`.
#[derive(Clone)]
pub struct LoadedConfig {
    /// The effective configuration.
    pub config: Config,
    figment: Figment,
}

impl ConfigLoader {
    /// The standard layers: the file from `SCILLM_CONFIG` or `./scillm.toml`, the process
    /// environment, no explicit values.
    pub fn new() -> Self {
        Self {
            file: FileChoice::Auto,
            env: None,
            explicit: Dict::new(),
        }
    }

    /// Read this file instead of looking for one.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = FileChoice::Path(path.into());
        self
    }

    /// Read no file.
    pub fn no_file(mut self) -> Self {
        self.file = FileChoice::None;
        self
    }

    /// Use these variables instead of the process environment.
    pub fn env_from<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Set `key` (dotted, e.g. `codex_agent.api_base`) explicitly; explicit values win.
    pub fn set(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let Some(v) = json_to_figment(value.into()) {
            nest(&mut self.explicit, key, v);
        }
        self
    }

    fn lookup(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Load and check the configuration.
    pub fn load(self) -> Result<Config, ConfigError> {
        self.load_with_sources().map(|l| l.config)
    }

    /// Load and check the configuration, keeping its layers.
    pub fn load_with_sources(self) -> Result<LoadedConfig, ConfigError> {
        let env = EnvLayer::read(|n| self.lookup(n)).map_err(|e| ConfigError::BadEnv {
            var: e.var,
            expected: e.expected,
        })?;
        let mut figment = Figment::new();
        if let Some(path) = self.file_path()? {
            let lookup = |n: &str| self.lookup(n);
            figment = figment.merge(read_file(&path, &lookup)?);
        }
        figment = figment.merge(env).merge(Explicit(self.explicit));
        let mut config: Config = figment.extract().map_err(describe)?;
        infer_providers(&mut config)?;
        Ok(LoadedConfig { config, figment })
    }

    fn file_path(&self) -> Result<Option<PathBuf>, ConfigError> {
        match &self.file {
            FileChoice::None => Ok(None),
            FileChoice::Path(p) => exists(p),
            FileChoice::Auto => match self.lookup("SCILLM_CONFIG").filter(|s| !s.is_empty()) {
                Some(p) => exists(Path::new(&p)),
                None => {
                    let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                    Ok(p.is_file().then_some(p))
                }
            },
        }
    }
}

fn exists(p: &Path) -> Result<Option<PathBuf>, ConfigError> {
    if p.is_file() {
        Ok(Some(p.to_path_buf()))
    } else {
        Err(ConfigError::MissingFile(p.to_path_buf()))
    }
}

/// Give every deployment without `provider` the one its model prefix names
/// (`codex-agent/`, `openai/`, `mini-agent/`; `model`, else `model_name`), the prefix
/// taken off the upstream model id (SPEC §13). None to be found is an error naming the
/// deployment.
fn infer_providers(config: &mut Config) -> Result<(), ConfigError> {
    for (i, d) in config.model_list.iter_mut().enumerate() {
        if !d.provider.trim().is_empty() {
            continue;
        }
        let from = d.model.clone().unwrap_or_else(|| d.model_name.clone());
        match split_provider(&from) {
            Some((provider, rest)) => {
                d.provider = provider.to_string();
                d.model = Some(rest.to_string());
            }
            None => {
                return Err(ConfigError::Invalid {
                    source_desc: format!("model_list.{i} (model_name `{}`)", d.model_name),
                    message: "no provider: set `provider` (codex-agent, openai, mini-agent, …) \
                              or prefix `model` with `codex-agent/`, `openai/` or `mini-agent/`"
                        .into(),
                })
            }
        }
    }
    Ok(())
}

impl Config {
    /// Load from the standard layers (see [`ConfigLoader::new`]).
    pub fn load() -> Result<Config, ConfigError> {
        ConfigLoader::new().load()
    }
}

impl std::fmt::Debug for LoadedConfig {
    // The figment holds raw layer values, secrets included: show only the checked config.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedConfig")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LoadedConfig {
    /// Each effective value (secrets redacted) with where it came from: `default`,
    /// `env NAME`, `<file> key <key>` or `explicit`.
    pub fn describe(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let json = serde_json::to_value(&self.config).unwrap_or_default();
        walk(&json, String::new(), &mut |key, value| {
            let source = self.source_of(key);
            out.push((key.to_string(), value, source));
        });
        out
    }

    fn source_of(&self, key: &str) -> String {
        // `model_list.0.api_base` is found under `model_list`.
        let lookup = key
            .split('.')
            .take_while(|p| p.parse::<usize>().is_err())
            .collect::<Vec<_>>()
            .join(".");
        match self.figment.find_metadata(&lookup) {
            Some(md) => source_desc(md, &lookup.split('.').collect::<Vec<_>>()),
            None => "default".into(),
        }
    }
}

fn walk(v: &serde_json::Value, prefix: String, f: &mut dyn FnMut(&str, String)) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(v, key, f);
            }
        }
        serde_json::Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            for (i, v) in a.iter().enumerate() {
                walk(v, format!("{prefix}.{i}"), f);
            }
        }
        other => f(&prefix, other.to_string()),
    }
}

/// Explicit values, the top layer.
struct Explicit(Dict);

impl Provider for Explicit {
    fn metadata(&self) -> Metadata {
        Metadata::named("explicit value")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// A JSON value as a figment value (`null` dropped).
pub(crate) fn json_to_figment(v: serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => Value::from(b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (_, Some(i), _) => Value::from(i),
            (_, _, Some(f)) => Value::from(f),
            _ => return None,
        },
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(a) => Value::from(
            a.into_iter()
                .filter_map(json_to_figment)
                .collect::<Vec<_>>(),
        ),
        serde_json::Value::Object(o) => {
            let mut d = Dict::new();
            for (k, v) in o {
                if let Some(v) = json_to_figment(v) {
                    d.insert(k, v);
                }
            }
            Value::from(d)
        }
    })
}

/// `env NAME`, `<file> key a.b`, `explicit value a.b` or `default a.b`.
fn source_desc(md: &Metadata, path: &[&str]) -> String {
    let key = path.join(".");
    match &md.source {
        Some(Source::File(f)) => format!("{} key {key}", f.display()),
        _ if md.name == "environment" => format!("env {}", md.interpolate(&Profile::Default, path)),
        _ if md.name == "explicit value" => format!("explicit value {key}"),
        _ => format!("{} {key}", md.name),
    }
}

/// Turn a figment error into one that names the source of the bad value.
fn describe(err: figment::Error) -> ConfigError {
    let path: Vec<&str> = err.path.iter().map(String::as_str).collect();
    let key = path.join(".");
    let source_desc = match &err.metadata {
        Some(md) => source_desc(md, &path),
        None => format!("default {key}"),
    };
    let message = match &err.kind {
        figment::error::Kind::UnknownField(field, expected) => format!(
            "unknown key `{field}`{}; expected one of: {}",
            if key.is_empty() {
                String::new()
            } else {
                format!(" in `{key}`")
            },
            expected.join(", ")
        ),
        other => other.to_string(),
    };
    ConfigError::Invalid {
        source_desc,
        message,
    }
}
