//! The embedded sidecar the codex-agent provider falls back to when no base is configured:
//! one in-process sidecar per distinct sidecar configuration in a process, on an ephemeral
//! loopback port, started on first use, reached with a random bearer key that only the
//! provider knows (SPEC §12 "Embedded sidecar").
//!
//! It runs in echo mode unless the Codex credentials file and the Codex CLI are both
//! present (so a fresh machine gets `"shim ok"` rather than a 401). It lives on its own
//! thread and runtime, so it outlives the runtime of whichever caller started it.
//! [`shutdown_all`] kills the Codex children of every embedded sidecar: a process hosting
//! them calls it on SIGINT/SIGTERM (SPEC §12 "No orphans").

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scillm_core::secrecy::{ExposeSecret, SecretString};
use scillm_core::{ApiBase, Config, ErrorKind, ProviderError};
use tokio::sync::{oneshot, OnceCell};

use crate::sidecar::Sidecar;

/// How long the embedded sidecar gets to answer `/healthz`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running embedded sidecar: where it is and the key it wants.
#[derive(Clone)]
pub struct EmbeddedSidecar {
    /// `http://127.0.0.1:<port>`.
    pub base: ApiBase,
    /// Its inbound bearer key (random, 256 bits, per instance).
    pub api_key: SecretString,
    sidecar: Sidecar,
}

impl std::fmt::Debug for EmbeddedSidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedSidecar")
            .field("base", &self.base)
            .field("api_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl EmbeddedSidecar {
    /// The served sidecar (its state, children, configuration).
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }
}

type Slot = Arc<OnceCell<EmbeddedSidecar>>;

/// Instances by the identity of their configuration.
static EMBEDDED: Mutex<Option<HashMap<String, Slot>>> = Mutex::new(None);

/// The identity of a sidecar configuration: every setting, secrets included (kept in
/// memory only, never shown).
fn identity(config: &Config) -> String {
    let sc = &config.sidecar;
    let mut id = serde_json::to_string(sc).unwrap_or_default();
    let secret = |s: &Option<SecretString>| {
        s.as_ref()
            .map(|s| s.expose_secret().to_string())
            .unwrap_or_default()
    };
    let _ = write!(id, "\u{0}{}", secret(&sc.forward_token));
    id
}

/// The embedded sidecar for `config`'s sidecar settings, started on first use (one per
/// distinct configuration). A failed start is not remembered: the next call tries again.
pub async fn ensure_embedded_sidecar(config: &Config) -> Result<EmbeddedSidecar, ProviderError> {
    let slot: Slot = {
        let mut map = EMBEDDED
            .lock()
            .map_err(|_| start_error("the instance registry is poisoned"))?;
        Arc::clone(
            map.get_or_insert_with(HashMap::new)
                .entry(identity(config))
                .or_default(),
        )
    };
    slot.get_or_try_init(|| start(config.clone()))
        .await
        .cloned()
}

/// Kill the Codex children of every embedded sidecar of this process now (SIGKILL to each
/// process group before this returns) and keep them from starting new ones. Meant for the
/// SIGINT/SIGTERM handler of a process that hosts embedded sidecars; returns how many
/// sidecars were stopped.
pub fn shutdown_all() -> usize {
    let slots: Vec<Slot> = EMBEDDED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().map(|m| m.values().cloned().collect()))
        .unwrap_or_default();
    let mut n = 0;
    for slot in slots {
        if let Some(e) = slot.get() {
            e.sidecar.kill_children();
            n += 1;
        }
    }
    n
}

/// The process ids of the Codex children of every embedded sidecar, running now.
pub fn child_pids() -> Vec<i32> {
    let slots: Vec<Slot> = EMBEDDED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().map(|m| m.values().cloned().collect()))
        .unwrap_or_default();
    slots
        .iter()
        .filter_map(|s| s.get())
        .flat_map(|e| e.sidecar.child_pids())
        .collect()
}

fn start_error(reason: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::Internal,
        format!(
            "cannot start the embedded codex sidecar: {reason}; run one (`scillm sidecar`) and set CODEX_AGENT_API_BASE=http://127.0.0.1:8077"
        ),
    )
}

/// 32 random bytes as hex.
fn random_key() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    let mut key = String::with_capacity(64);
    for b in bytes {
        let _ = write!(key, "{b:02x}");
    }
    SecretString::from(key)
}

/// The embedded sidecar's config: loopback, a random inbound key, echo unless Codex can run.
fn embedded_config(mut config: Config, key: &SecretString) -> Result<Config, ProviderError> {
    config.sidecar.host = "127.0.0.1".into();
    config.sidecar.port = 0;
    config.sidecar.api_key = Some(key.clone());
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

async fn start(config: Config) -> Result<EmbeddedSidecar, ProviderError> {
    let key = random_key();
    let config = embedded_config(config, &key)?;
    let sidecar = Sidecar::new(Arc::new(config)).map_err(start_error)?;
    let (tx, rx) = oneshot::channel::<Result<ApiBase, String>>();
    let served = sidecar.clone();
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
                match served.spawn().await {
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
    Ok(EmbeddedSidecar {
        base,
        api_key: key,
        sidecar,
    })
}

/// Poll `/healthz` (open without a key) until it answers `{"ok":true}`.
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
