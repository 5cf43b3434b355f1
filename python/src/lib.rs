//! The native half of the `scillm` Python package (SPEC §19), imported as `scillm._scillm`.
//!
//! The Python layer (`python/scillm/`) turns LiteLLM-style arguments into a scillm
//! configuration and requests into JSON, and results back into dicts and exceptions; this
//! module runs everything else on one Tokio runtime shared by the process
//! (`pyo3-async-runtimes`), with the GIL released while Rust works:
//!
//! - `Router` (`router.rs`): `parallel` (an awaitable), `stream`, `acompletion` (an
//!   awaitable), `completion` (blocking);
//! - `start_sidecar`, `start_mini_agent` (`servers.rs`): servers with a handle.
//!
//! Cancelling the asyncio task that awaits one of the awaitables drops the Rust future,
//! which cancels the batch: items not started never start and HTTP calls in flight are
//! dropped (their connections closed).

mod router;
mod servers;

use pyo3::prelude::*;

/// The runtime every call runs on (created on first use, multi-threaded).
fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Log to standard error with the `SCILLM_LOG` filter (default `warn`), as the `scillm`
/// binary does; a subscriber the host process already installed is kept.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCILLM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The `scillm._scillm` module.
#[pymodule]
fn _scillm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    init_logging();
    m.add_class::<router::PyRouter>()?;
    m.add_class::<router::PyStream>()?;
    m.add_class::<servers::PyServer>()?;
    m.add_function(wrap_pyfunction!(servers::start_sidecar, m)?)?;
    m.add_function(wrap_pyfunction!(servers::start_mini_agent, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
