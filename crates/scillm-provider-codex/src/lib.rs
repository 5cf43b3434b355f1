//! The `codex-agent` and `openai` HTTP providers and the codex sidecar server.
//!
//! Everything here is behind cargo features: `codex-agent` (the provider, alias
//! `codex_cli_agent`, with the embedded sidecar default), `openai` (any OpenAI-compatible
//! endpoint) and `sidecar` (the OpenAI-compatible server in front of the Codex CLI).

#[cfg(feature = "http-client")]
pub mod client;
#[cfg(feature = "codex-agent")]
pub mod codex_agent;
#[cfg(feature = "sidecar")]
pub mod embedded;
#[cfg(feature = "openai")]
pub mod openai;
#[cfg(feature = "sidecar")]
pub mod sidecar;

/// The oldest Codex CLI whose output this crate understands (the app-server protocol with
/// `agentMessage.phase` and `thread.cliVersion`; the `codex exec --json` event format).
/// Output of an older CLI is answered 502 `codex_output_unrecognised` naming this version.
pub const MIN_CODEX_CLI_VERSION: &str = "0.171.0";
