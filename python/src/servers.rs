//! `start_sidecar` / `start_mini_agent`: the two OpenAI-compatible servers (SPEC §5, §7)
//! served in this process on the shared Tokio runtime, with a handle (`Server`) giving
//! `.base` and `.close()`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use scillm_core::config::ConfigLoader;
use scillm_core::Config;
use scillm_mini_agent::RunningShim;
use scillm_provider_codex::sidecar::{bind_policy, Sidecar};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::runtime;

/// The configuration from `SCILLM_CONFIG` / `./scillm.toml` and the process environment,
/// with `env` (variable names, as in the runbook: `CODEX_SIDECAR_ECHO`,
/// `CODEX_SIDECAR_PORT`, `MINI_AGENT_API_PORT`, …) set over the environment.
fn load(env: HashMap<String, String>) -> PyResult<Arc<Config>> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.extend(env);
    ConfigLoader::new()
        .env_from(vars)
        .load()
        .map(Arc::new)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A server running in the background.
enum Running {
    Sidecar {
        stop: oneshot::Sender<()>,
        task: JoinHandle<Result<(), String>>,
    },
    MiniAgent(RunningShim),
}

/// A running server: `.base` (`http://127.0.0.1:PORT`, no `/v1`) and `.close()`.
/// Dropping the handle asks the server to stop.
#[pyclass(module = "scillm._scillm", name = "Server", frozen)]
pub struct PyServer {
    base: String,
    running: Mutex<Option<Running>>,
}

#[pymethods]
impl PyServer {
    /// The server's base URL, without `/v1`.
    #[getter]
    fn base(&self) -> String {
        self.base.clone()
    }

    /// Stop accepting, let requests in flight finish, and wait (without the GIL) for the
    /// server to end. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let running = self.running.lock().ok().and_then(|mut r| r.take());
        let Some(running) = running else {
            return Ok(());
        };
        py.detach(|| {
            runtime().block_on(async move {
                match running {
                    Running::Sidecar { stop, task } => {
                        let _ = stop.send(());
                        match task.await {
                            Ok(result) => result,
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Running::MiniAgent(shim) => shim.shutdown().await.map_err(|e| e.to_string()),
                }
            })
        })
        .map_err(PyOSError::new_err)
    }
}

/// Serve the codex sidecar on `sidecar.host:sidecar.port` (`CODEX_SIDECAR_HOST` /
/// `CODEX_SIDECAR_PORT`; port 0 picks a free one). A non-loopback host without an API key
/// is refused, as `scillm sidecar` refuses it.
#[pyfunction]
pub fn start_sidecar(py: Python<'_>, env: HashMap<String, String>) -> PyResult<PyServer> {
    let config = load(env)?;
    let policy = bind_policy(&config);
    policy
        .check()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let sidecar =
        Sidecar::new(Arc::clone(&config)).map_err(|e| PyValueError::new_err(e.to_string()))?;
    py.detach(|| {
        runtime().block_on(async move {
            let listener = policy
                .bind()
                .await
                .map_err(|e| PyOSError::new_err(e.to_string()))?;
            let addr = listener
                .local_addr()
                .map_err(|e| PyOSError::new_err(e.to_string()))?;
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                sidecar
                    .serve_on(listener, async move {
                        let _ = stopped.await;
                    })
                    .await
                    .map_err(|e| e.to_string())
            });
            Ok(PyServer {
                base: format!("http://{addr}"),
                running: Mutex::new(Some(Running::Sidecar { stop, task })),
            })
        })
    })
}

/// Serve the mini-agent shim on `mini_agent.host:mini_agent.port` (`MINI_AGENT_API_HOST` /
/// `MINI_AGENT_API_PORT`; port 0 picks a free one); the agent calls models through a
/// router built from the same configuration (`MINI_AGENT_MODEL`).
#[pyfunction]
pub fn start_mini_agent(py: Python<'_>, env: HashMap<String, String>) -> PyResult<PyServer> {
    let config = load(env)?;
    py.detach(|| {
        runtime().block_on(async move {
            let shim = scillm_mini_agent::spawn(config)
                .await
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok(PyServer {
                base: shim.base(),
                running: Mutex::new(Some(Running::MiniAgent(shim))),
            })
        })
    })
}
