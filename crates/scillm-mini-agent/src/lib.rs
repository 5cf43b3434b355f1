//! The mini-agent: a sandboxed tool-using agent loop and its OpenAI-compatible shim.
//!
//! The [`Agent`] calls a model through any [`ModelClient`] (normally the scillm router, so
//! the model is any configured deployment) with tool definitions, runs the tools the model
//! calls in a [`Sandbox`], and feeds the results back until the model answers (`success`),
//! `max_iterations` is reached or the time budget runs out (`budget`).
//!
//! - [`agent`]: the loop, history pruning, repair observations, auto-run of code blocks.
//! - [`tools`]: `exec_python`, `exec_shell` (allowlisted program, no shell), `echo`, and an
//!   optional HTTP tool server (`GET {base}/tools`, `POST {base}/invoke`).
//! - [`sandbox`]: fails closed (SPEC §15): bubblewrap with new network, PID and IPC
//!   namespaces, an allowlisted read-only filesystem, a private `/tmp` and working
//!   directory and a process-count limit; without it exec tools are refused unless
//!   `MINI_AGENT_ALLOW_UNSANDBOXED=1`. Always: cleared environment, rlimits, capped output,
//!   the process group killed at the timeout.
//! - [`shim`]: `GET /ready`, `GET /healthz`, `GET /v1/models`, `POST /v1/chat/completions`
//!   (streamed progress with `stream: true`), `POST /agent/run` (the Python original's
//!   fields too) on `127.0.0.1:8788` by default, with admission control.
//! - `provider` (cargo feature `mini-agent`): the agent as a router provider.
//!
//! ```no_run
//! use std::sync::Arc;
//! use scillm_core::config::ConfigLoader;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // MINI_AGENT_MODEL names the model_list deployment the agent drives.
//! let config = Arc::new(ConfigLoader::new().set("mini_agent.port", 0).load()?);
//! let shim = scillm_mini_agent::spawn(config).await?;
//! let health: serde_json::Value =
//!     reqwest::get(format!("{}/healthz", shim.base())).await?.json().await?;
//! assert_eq!(health["ok"], true);
//! shim.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The checks done at the boundary are cheap to see in isolation:
//!
//! ```
//! use scillm_core::config::ConfigLoader;
//! use scillm_mini_agent::shim::bind_addr;
//!
//! let open = ConfigLoader::new().no_file().env_from([("MINI_AGENT_API_HOST", "0.0.0.0")]).load().unwrap();
//! assert!(bind_addr(&open.mini_agent).is_err(), "a non-loopback bind needs an API key");
//! assert_eq!(
//!     scillm_mini_agent::agent::python_block("```python\nprint(1)\n```").as_deref(),
//!     Some("print(1)\n"),
//! );
//! ```

pub mod agent;
pub mod model;
#[cfg(feature = "mini-agent")]
pub mod provider;
pub mod sandbox;
pub mod setup;
pub mod shim;
pub mod tools;

pub use agent::{
    Agent, AgentEvent, AgentRequest, AgentRun, AgentSettings, EventSink, StopReason, ToolInvocation,
};
pub use model::{is_stub_model, ModelClient, ProviderModel, SharedModel, StubModel};
pub use sandbox::{
    ExecOutcome, ExecRequest, Isolation, IsolationPolicy, Protections, Rlimits, Sandbox,
    SandboxSettings,
};
pub use setup::agent_from_config;
pub use shim::{serve, serve_with, spawn, spawn_with, RunningShim, ShimError};
pub use tools::{RunTools, ToolBackend, ToolOutput, Toolbox};
