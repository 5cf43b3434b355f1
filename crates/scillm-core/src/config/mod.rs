//! Layered configuration with figment: defaults < `scillm.toml` (`SCILLM_CONFIG`) <
//! environment < explicit values. Bases are checked against the no-`/v1` rule at load time.
//! The file may be TOML, YAML or JSON, in scillm's own form or LiteLLM's (`litellm_params`,
//! `router_settings`, `os.environ/NAME`; see SPEC §13).

mod env;
mod gateway;
mod litellm;
mod litellm_translate;
mod load;
mod model;
mod router;
mod shared;

pub use env::{names_for, parse_bool, EnvKind, ENV_TABLE};
pub use gateway::{GatewayConfig, GatewayKey};
pub use litellm::{translate_litellm, PROVIDER_PREFIXES};
pub use litellm_translate::split_provider;
pub use load::{ConfigError, ConfigLoader, LoadedConfig, DEFAULT_CONFIG_FILE};
pub use model::{
    secs, CodexAgentConfig, CodexBackend, Config, InputMode, MiniAgentConfig, SidecarConfig,
};
pub use router::{Deployment, RouterConfig, RoutingStrategy};
pub use shared::{CacheConfig, CacheMode, StateConfig};
