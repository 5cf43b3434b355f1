//! [`GatewayError`]: why the gateway could not be built or run (request errors are
//! [`scillm_serve::ApiError`]s).

/// Why the gateway could not be built, bound or run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A `[gateway] keys` entry is wrong.
    #[error("[gateway] keys: key `{name}`: {message}")]
    Key {
        /// The key's name (or `#index` without one).
        name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The router could not be built from the config.
    #[error("cannot build the router: {0}")]
    Router(String),
    /// The configuration is unusable for the gateway.
    #[error("[gateway] {0}")]
    Config(String),
    /// Binding failed or was refused by the bind policy.
    #[error(transparent)]
    Bind(#[from] scillm_serve::BindError),
    /// The Batch API's state directory could not be used.
    #[error("[gateway] data_dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another running gateway holds `[gateway] data_dir` (its `.lock`): two gateways on one
    /// directory would both resume, and so run twice, the same batches.
    #[error(
        "[gateway] data_dir {path} is in use by another running gateway: give each `scillm serve` \
         its own data_dir (--data-dir), or the two would run the same batches"
    )]
    DataDirInUse {
        /// The directory.
        path: String,
    },
    /// The server stopped with an I/O error.
    #[error("gateway server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl GatewayError {
    /// Whether the configuration is at fault (a key, the router's settings, the gateway's
    /// own settings, a data_dir that cannot be used or that another gateway uses, or an
    /// insecure bind refused by policy): the CLI's exit status 2, as
    /// for any configuration error.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Self::Key { .. }
                | Self::DataDirInUse { .. }
                | Self::DataDir { .. }
                | Self::Router(_)
                | Self::Config(_)
                | Self::Bind(scillm_serve::BindError::Insecure { .. })
        )
    }
}
