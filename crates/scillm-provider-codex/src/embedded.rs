//! The embedded sidecar the codex-agent provider falls back to when no base is configured.

use scillm_core::{ApiBase, Config, ErrorKind, ProviderError};

/// The base of the process-wide embedded sidecar, started on first use.
pub async fn ensure_embedded_sidecar(_config: &Config) -> Result<ApiBase, ProviderError> {
    Err(ProviderError::new(
        ErrorKind::Unsupported,
        "the embedded sidecar is not available yet: set CODEX_AGENT_API_BASE",
    ))
}
