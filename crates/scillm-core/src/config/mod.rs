//! Layered configuration with figment: defaults < `scillm.toml` (`SCILLM_CONFIG`) <
//! environment < explicit values. Bases are checked against the no-`/v1` rule at load time.

mod env;
mod load;
mod model;
mod shared;

pub use env::{names_for, parse_bool, EnvKind, ENV_TABLE};
pub use load::{ConfigError, ConfigLoader, LoadedConfig, DEFAULT_CONFIG_FILE};
pub use model::{
    secs, CodexAgentConfig, Config, Deployment, InputMode, MiniAgentConfig, RouterConfig,
    SidecarConfig,
};
pub use shared::{CacheConfig, CacheMode, StateConfig};
