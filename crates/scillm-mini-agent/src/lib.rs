//! The mini-agent: a sandboxed tool-using agent loop and its OpenAI-compatible shim.
//!
//! The [`Agent`] calls a model (through any [`ModelClient`], normally the scillm router)
//! with tool definitions, runs the tools the model calls in a [`Sandbox`], and feeds the
//! results back until the model answers. The [`shim`] serves it on `127.0.0.1:8788` as an
//! OpenAI-compatible API.

pub mod agent;
pub mod model;
#[cfg(feature = "mini-agent")]
pub mod provider;
pub mod sandbox;
pub mod setup;
pub mod shim;
pub mod tools;

pub use agent::{Agent, AgentRequest, AgentRun, AgentSettings, StopReason, ToolInvocation};
pub use model::{ModelClient, ProviderModel, SharedModel};
pub use sandbox::{ExecOutcome, ExecRequest, Protections, Rlimits, Sandbox};
pub use setup::agent_from_config;
pub use shim::{serve, serve_with, spawn, spawn_with, RunningShim, ShimError};
pub use tools::{ToolOutput, Toolbox};
