//! The provider registry: providers register themselves with `inventory`; lookups go by
//! name or alias at run time, with no central list.

use std::sync::Arc;

use secrecy::SecretString;

use crate::base::ApiBase;
use crate::config::Config;
use crate::error::ProviderError;
use crate::provider::SharedProvider;

/// Everything a provider constructor gets: the loaded config and the deployment's values.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    /// The whole configuration, read once.
    pub config: Arc<Config>,
    /// The deployment's base, overriding the provider's configured one.
    pub api_base: Option<ApiBase>,
    /// The deployment's key.
    pub api_key: Option<SecretString>,
    /// The upstream model id of the deployment.
    pub model: Option<String>,
    /// The deployment's `num_retries`: the provider's own retries when it is the only
    /// target left (overrides the provider's configured default).
    pub num_retries: Option<u32>,
    /// The deployment's `timeout_s`: the per-attempt timeout of its calls.
    pub timeout: Option<std::time::Duration>,
}

/// A constructor from settings.
pub type ProviderFactory = fn(&ProviderSettings) -> Result<SharedProvider, ProviderError>;

/// One registered provider.
#[derive(Debug)]
pub struct ProviderRegistration {
    /// The canonical name.
    pub name: &'static str,
    /// Other names that select it.
    pub aliases: &'static [&'static str],
    /// One line for `scillm providers`.
    pub description: &'static str,
    /// Builds an instance.
    pub build: ProviderFactory,
}

inventory::collect!(ProviderRegistration);

/// Names of providers this workspace ships, with the cargo feature that compiles each in.
pub const KNOWN_FEATURES: &[(&str, &str, &str)] = &[
    ("codex-agent", "codex-agent", "scillm-provider-codex"),
    ("codex_cli_agent", "codex-agent", "scillm-provider-codex"),
    ("openai", "openai", "scillm-provider-codex"),
    ("mini-agent", "mini-agent", "scillm-mini-agent"),
    ("mini_agent", "mini-agent", "scillm-mini-agent"),
];

/// A provider lookup that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// A provider this workspace ships, but not compiled into this program.
    #[error("provider `{name}` is not compiled in: enable the cargo feature `{feature}` of `{krate}`; available providers: {available}")]
    NotCompiledIn {
        /// The requested name.
        name: String,
        /// The feature that compiles it in.
        feature: &'static str,
        /// The crate that has the feature.
        krate: &'static str,
        /// The providers that are available.
        available: String,
    },
    /// A name no provider registers.
    #[error("unknown provider `{name}`; available providers: {available}")]
    Unknown {
        /// The requested name.
        name: String,
        /// The providers that are available.
        available: String,
    },
}

impl From<RegistryError> for ProviderError {
    fn from(e: RegistryError) -> Self {
        ProviderError::new(crate::error::ErrorKind::Unsupported, e.to_string())
    }
}

/// Every registration compiled into this program, sorted by name.
pub fn registrations() -> Vec<&'static ProviderRegistration> {
    let mut all: Vec<_> = inventory::iter::<ProviderRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|r| r.name);
    all
}

/// The names of the providers compiled in.
pub fn available() -> Vec<&'static str> {
    registrations().into_iter().map(|r| r.name).collect()
}

/// The registration whose name or alias is `name` (case-insensitive, `_` and `-` alike).
pub fn find(name: &str) -> Result<&'static ProviderRegistration, RegistryError> {
    let wanted = normalize(name);
    if let Some(r) = registrations()
        .into_iter()
        .find(|r| normalize(r.name) == wanted || r.aliases.iter().any(|a| normalize(a) == wanted))
    {
        return Ok(r);
    }
    let list = available();
    let available = if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    };
    match KNOWN_FEATURES
        .iter()
        .find(|(n, _, _)| normalize(n) == wanted)
    {
        Some((_, feature, krate)) => Err(RegistryError::NotCompiledIn {
            name: name.to_string(),
            feature,
            krate,
            available,
        }),
        None => Err(RegistryError::Unknown {
            name: name.to_string(),
            available,
        }),
    }
}

/// Build the provider registered as `name` with `settings`.
pub fn build(name: &str, settings: &ProviderSettings) -> Result<SharedProvider, ProviderError> {
    let reg = find(name)?;
    (reg.build)(settings)
}

fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_provider_not_compiled_in_names_its_feature() {
        // The core crate alone links no provider, so codex-agent is absent here.
        let err = find("codex-agent")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("cargo feature `codex-agent`"), "{err}");
        assert!(err.contains("available providers"), "{err}");
        let err = find("codex_cli_agent")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`codex-agent`"), "{err}");
        let err = find("mini-agent")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("cargo feature `mini-agent`"), "{err}");
    }

    #[test]
    fn an_unknown_provider_lists_what_is_available() {
        let err = find("nope")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("unknown provider `nope`"), "{err}");
    }
}
