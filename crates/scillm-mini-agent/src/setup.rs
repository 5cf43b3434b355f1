//! Building an [`Agent`] from the configuration.

use std::sync::Arc;

use scillm_core::config::{secs, MiniAgentConfig};
use scillm_core::Config;

use crate::agent::{Agent, AgentSettings};
use crate::model::SharedModel;
use crate::sandbox::{Rlimits, Sandbox, DEFAULT_OUTPUT_CAP};
use crate::tools::{HttpTools, Toolbox};

/// Address space a sandboxed tool may map.
pub const TOOL_MEMORY_BYTES: u64 = 1024 * 1024 * 1024;
/// Largest file a sandboxed tool may write.
pub const TOOL_FILE_SIZE_BYTES: u64 = 16 * 1024 * 1024;

/// The rlimits for tools under `cfg`: CPU time just above the wall-clock timeout.
pub fn tool_limits(cfg: &MiniAgentConfig) -> Rlimits {
    let timeout = secs(cfg.tool_timeout_s).as_secs_f64();
    // Truncation is intended: whole seconds, at least 1, well inside u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let cpu = (timeout.ceil() as u64).max(1) + 1;
    Rlimits {
        cpu_s: Some(cpu),
        memory_bytes: Some(TOOL_MEMORY_BYTES),
        file_size_bytes: Some(TOOL_FILE_SIZE_BYTES),
        nproc: None,
    }
}

/// The sandbox for `config`, detecting bubblewrap once.
pub async fn sandbox_for(config: &Config) -> Sandbox {
    Sandbox::detect(tool_limits(&config.mini_agent), DEFAULT_OUTPUT_CAP).await
}

/// The agent `config` describes, driving `model`, with tools in `sandbox`.
pub fn agent_with(config: &Config, model: SharedModel, sandbox: Arc<Sandbox>) -> Agent {
    let ma = &config.mini_agent;
    let mut toolbox = Toolbox::new(sandbox, ma.exec_allowlist.clone(), secs(ma.tool_timeout_s));
    if let Some(base) = &ma.tools_base {
        toolbox = toolbox.with_http(Arc::new(HttpTools::new(base.clone())));
    }
    Agent::new(model, toolbox, AgentSettings::from_config(ma))
}

/// The agent `config` describes, driving `model` (detects bubblewrap).
pub async fn agent_from_config(config: &Config, model: SharedModel) -> Agent {
    let sandbox = Arc::new(sandbox_for(config).await);
    agent_with(config, model, sandbox)
}
