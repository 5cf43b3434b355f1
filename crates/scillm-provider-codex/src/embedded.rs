//! The embedded sidecar the codex-agent provider falls back to when no base is configured:
//! one in-process sidecar per process, on an ephemeral loopback port, started on first use.
//!
//! It runs in echo mode unless the Codex credentials file and the Codex CLI are both
//! present (so a fresh machine gets `"shim ok"` rather than a 401). It lives on its own
//! thread and runtime, so it outlives the runtime of whichever caller started it.

use std::sync::Arc;
use std::time::Duration;

use scillm_core::{ApiBase, Config, ErrorKind, ProviderError};
use tokio::sync::{oneshot, OnceCell};

use crate::sidecar::Sidecar;

/// How long the embedded sidecar gets to answer `/healthz`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

static EMBEDDED: OnceCell<ApiBase> = OnceCell::const_new();

/// The base of the process-wide embedded sidecar, started on first use with `config`
/// (later calls reuse it whatever config they pass). A failed start is not remembered:
/// the next call tries again.
pub async fn ensure_embedded_sidecar(config: &Config) -> Result<ApiBase, ProviderError> {
    EMBEDDED
        .get_or_try_init(|| start(config.clone()))
        .await
        .cloned()
}

fn start_error(reason: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::Internal,
        format!(
            "cannot start the embedded codex sidecar: {reason}; run one (`scillm sidecar`) and set CODEX_AGENT_API_BASE=http://127.0.0.1:8077"
        ),
    )
}

/// The embedded sidecar's config: loopback, no inbound key, echo unless Codex can run.
fn embedded_config(mut config: Config) -> Result<Config, ProviderError> {
    config.sidecar.host = "127.0.0.1".into();
    config.sidecar.port = 0;
    config.sidecar.api_key = None;
    if !config.sidecar.echo {
        let probe = Sidecar::new(Arc::new(config.clone())).map_err(start_error)?;
        let why_not = if !probe.auth_present() {
            Some("no Codex credentials file")
        } else if !probe.cli_available() {
            Some("the Codex CLI (CODEX_CMD) is not installed")
        } else {
            None
        };
        if let Some(why) = why_not {
            tracing::info!(reason = why, "embedded codex sidecar runs in echo mode");
            config.sidecar.echo = true;
        }
    }
    Ok(config)
}

async fn start(config: Config) -> Result<ApiBase, ProviderError> {
    let config = embedded_config(config)?;
    let sidecar = Sidecar::new(Arc::new(config)).map_err(start_error)?;
    let (tx, rx) = oneshot::channel::<Result<ApiBase, String>>();
    std::thread::Builder::new()
        .name("scillm-embedded-sidecar".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("scillm-embedded-sidecar")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(format!("no runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                match sidecar.spawn().await {
                    Ok(running) => {
                        let _ = tx.send(Ok(running.base()));
                        // Serve for the rest of the process.
                        std::future::pending::<()>().await;
                        drop(running);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        })
        .map_err(start_error)?;
    let base = rx
        .await
        .map_err(|_| start_error("its thread ended before binding"))?
        .map_err(start_error)?;
    wait_healthy(&base).await?;
    tracing::info!(base = %base, "embedded codex sidecar ready");
    Ok(base)
}

/// Poll `/healthz` until it answers `{"ok":true}`.
async fn wait_healthy(base: &ApiBase) -> Result<(), ProviderError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(start_error)?;
    let url = base.join("healthz");
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let mut last = String::from("no answer yet");
    while tokio::time::Instant::now() < deadline {
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => {
                let ok = r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v.get("ok").and_then(serde_json::Value::as_bool));
                if ok == Some(true) {
                    return Ok(());
                }
                last = "healthz did not say ok".into();
            }
            Ok(r) => last = format!("healthz answered HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(start_error(format!(
        "{url} was not healthy within {}s ({last})",
        STARTUP_TIMEOUT.as_secs()
    )))
}
