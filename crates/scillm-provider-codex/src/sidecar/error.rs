//! [`SidecarError`]: why the server could not be built or started. What a request gets
//! back when it fails is the foundation's [`scillm_serve::ApiError`].

/// Why the sidecar could not be built, bound or run.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The bind policy refused the address (a non-loopback host without
    /// `CODEX_SIDECAR_API_KEY`, a host that is not an IP address), or it could not be bound.
    #[error(transparent)]
    Bind(#[from] scillm_serve::BindError),
    /// The server stopped with an I/O error.
    #[error("sidecar server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The HTTP client for forward mode could not be built.
    #[error("cannot build the forward-mode HTTP client: {0}")]
    Client(String),
}
