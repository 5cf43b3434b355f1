//! Building an [`Agent`] from the configuration.

use std::path::PathBuf;
use std::sync::Arc;

use scillm_core::config::{secs, MiniAgentConfig};
use scillm_core::Config;

use crate::agent::{Agent, AgentSettings};
use crate::model::SharedModel;
use crate::sandbox::{
    bwrap, IsolationPolicy, Rlimits, Sandbox, SandboxSettings, DEFAULT_OUTPUT_CAP,
};
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

/// The sandbox settings for `config`: its limits, and the server's working directory, home,
/// config file (`SCILLM_CONFIG`) and credentials file (`sidecar.auth_path`) masked.
pub fn sandbox_settings(config: &Config) -> SandboxSettings {
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(std::env::var_os("SCILLM_CONFIG").map(PathBuf::from));
    files.extend(config.sidecar.auth_path.clone());
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter_map(|p| std::path::absolute(p).ok())
        .collect();
    SandboxSettings {
        limits: tool_limits(&config.mini_agent),
        output_cap: DEFAULT_OUTPUT_CAP,
        max_processes: config.mini_agent.tool_max_processes.max(1),
        masked: bwrap::server_paths(&files),
    }
}

/// The sandbox for `config`, probing bubblewrap once on the server's `PATH`.
pub async fn sandbox_for(config: &Config) -> Sandbox {
    let policy = IsolationPolicy::from_env(config.mini_agent.allow_unsandboxed);
    Sandbox::detect(sandbox_settings(config), &policy).await
}

/// The agent `config` describes, driving `model`, with tools in `sandbox`.
pub fn agent_with(config: &Config, model: SharedModel, sandbox: Arc<Sandbox>) -> Agent {
    let ma = &config.mini_agent;
    let mut toolbox = Toolbox::new(sandbox, ma.exec_allowlist.clone(), secs(ma.tool_timeout_s));
    if let Some(base) = &ma.tools_base {
        toolbox = toolbox.with_http(Arc::new(HttpTools::new(base.clone(), Vec::new())));
    }
    Agent::new(model, toolbox, AgentSettings::from_config(ma))
}

/// The agent `config` describes, driving `model` (probes bubblewrap).
pub async fn agent_from_config(config: &Config, model: SharedModel) -> Agent {
    let sandbox = Arc::new(sandbox_for(config).await);
    agent_with(config, model, sandbox)
}
