//! [`Sidecar`]: the shared state behind every route.

use std::ffi::OsString;
use std::sync::Arc;

use scillm_core::Config;
use tokio_util::sync::CancellationToken;

use super::cli::CliBackend;
use super::error::SidecarError;
use super::limits::Limiter;

/// The sidecar: configuration, the CLI slot limiter, the Codex CLI backend and the
/// forward-mode client. Cheap to clone; every clone shares the same state.
///
/// ```no_run
/// # async fn demo() -> Result<(), scillm_provider_codex::sidecar::SidecarError> {
/// use std::sync::Arc;
/// use scillm_core::config::ConfigLoader;
/// use scillm_provider_codex::sidecar::Sidecar;
///
/// let config = ConfigLoader::new().no_file().set("sidecar.echo", true).load().unwrap();
/// let running = Sidecar::new(Arc::new(config))?.spawn().await?;
/// println!("sidecar at {}", running.base());
/// running.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Sidecar {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: Arc<Config>,
    pub(crate) limiter: Limiter,
    pub(crate) cli: CliBackend,
    /// The forward-mode client (lenient reading, no retries of its own).
    pub(crate) forward: crate::client::HttpChatClient,
    /// Cancelled when the server shuts down: every running CLI group is killed.
    pub(crate) shutdown: CancellationToken,
}

impl Sidecar {
    /// A sidecar for `config` (its `sidecar` section). Nothing is bound or spawned yet,
    /// and the Codex CLI is not looked up until a request needs it.
    pub fn new(config: Arc<Config>) -> Result<Self, SidecarError> {
        Self::with_cli_env(config, Vec::new())
    }

    /// Like [`Sidecar::new`], with extra environment variables for every Codex CLI process
    /// (e.g. `CODEX_HOME`), on top of the server's own environment.
    pub fn with_cli_env(
        config: Arc<Config>,
        cli_env: Vec<(OsString, OsString)>,
    ) -> Result<Self, SidecarError> {
        let sc = &config.sidecar;
        let limiter = Limiter::new(sc.max_concurrency.max(1), sc.queue_size);
        let cli = CliBackend::new(&config, cli_env);
        let forward =
            super::forward::client(&config).map_err(|e| SidecarError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                limiter,
                cli,
                forward,
                shutdown: CancellationToken::new(),
            }),
        })
    }

    /// The configuration the sidecar was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether the Codex CLI of `CODEX_CMD` can be found (looked up now, remembered once found).
    pub fn cli_available(&self) -> bool {
        self.inner.cli.is_available()
    }

    /// Whether the Codex credentials file is present and JSON.
    pub fn auth_present(&self) -> bool {
        super::preflight::auth_present(self)
    }

    /// Kill every running Codex CLI process group (in-flight CLI requests end with 503).
    pub fn kill_children(&self) {
        self.inner.shutdown.cancel();
    }
}
