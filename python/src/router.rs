//! `scillm._scillm.Router` and `ResultStream`: the scillm router with JSON text at the
//! boundary. Requests come in as one JSON array (made by `json.dumps` in the Python layer)
//! and results go out as the exact JSON lines `scillm batch` writes, so a result dict is that
//! line after `json.loads`. Parsing, routing and serialising run on the Tokio runtime,
//! without the GIL.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use scillm_core::config::{translate_litellm, ConfigLoader};
use scillm_router::{ErrorType, ParallelOptions, RequestItem, Router, RouterResult};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::runtime;

/// A router built once from a configuration object (`{"model_list": [...], "router": {...},
/// ...}`, the `scillm.toml` keys, or LiteLLM's `litellm_params` / `router_settings` form)
/// layered over `SCILLM_CONFIG` / `./scillm.toml` and the environment, as `scillm` itself
/// loads it.
#[pyclass(module = "scillm._scillm", name = "Router", frozen)]
pub struct PyRouter {
    router: Router,
    unused: Vec<String>,
}

/// One result as the JSON line `scillm batch` writes ([`scillm_batch::result_line`]),
/// without its newline.
pub fn result_line(result: &RouterResult) -> PyResult<String> {
    let mut line = scillm_batch::result_line(result);
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    String::from_utf8(line)
        .map_err(|e| PyValueError::new_err(format!("a result line is not UTF-8: {e}")))
}

/// Whether `result` is a failed call (`provider_error` or `timeout`), the results that
/// `return_exceptions=False` raises. `invalid_json` and `empty_content` are answers.
fn is_failure(result: &RouterResult) -> bool {
    matches!(
        result.meta.error_type,
        ErrorType::ProviderError | ErrorType::Timeout
    )
}

/// A JSON array of result lines.
fn json_array(results: &[RouterResult]) -> PyResult<String> {
    let mut out = String::with_capacity(results.len() * 512 + 2);
    out.push('[');
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&result_line(r)?);
    }
    out.push(']');
    Ok(out)
}

/// The items of a JSON array of requests; anything that is not an object becomes an
/// `invalid_request` result in its slot (the router's rule for a malformed item).
fn parse_items(requests_json: &str) -> PyResult<Vec<RequestItem>> {
    let values: Vec<Value> = serde_json::from_str(requests_json)
        .map_err(|e| PyValueError::new_err(format!("requests must be a JSON array: {e}")))?;
    Ok(values.into_iter().map(RequestItem::from).collect())
}

fn options(
    concurrency: Option<usize>,
    timeout: Option<f64>,
    fail_fast: bool,
    cancel: Option<CancellationToken>,
) -> PyResult<ParallelOptions> {
    let timeout = match timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            return Err(PyValueError::new_err(format!(
                "timeout must be a positive number of seconds or None, not {t}"
            )))
        }
    };
    if concurrency == Some(0) {
        return Err(PyValueError::new_err("concurrency must be at least 1"));
    }
    Ok(ParallelOptions {
        concurrency,
        fail_fast,
        timeout,
        cancel,
        ..ParallelOptions::default()
    })
}

/// What `parallel` hands back: `(None, "[...]")`, the JSON array of every result, or
/// `(line, None)`, the line of the first failed call when the caller asked to stop on one.
type ParallelOutcome = (Option<String>, Option<String>);

async fn run_parallel(
    router: Router,
    items: Vec<RequestItem>,
    opts: ParallelOptions,
    preserve_order: bool,
    stop_on_error: bool,
) -> PyResult<ParallelOutcome> {
    if preserve_order && !stop_on_error {
        let results = router.parallel(items, opts).await;
        return Ok((None, Some(json_array(&results)?)));
    }
    let n = items.len();
    let mut stream = std::pin::pin!(router.parallel_stream(items, opts));
    let mut slots: Vec<Option<RouterResult>> = (0..n).map(|_| None).collect();
    let mut done: Vec<RouterResult> = Vec::with_capacity(n);
    while let Some((index, result)) = stream.next().await {
        if stop_on_error && is_failure(&result) {
            // Returning drops the stream, which cancels the items still running.
            return Ok((Some(result_line(&result)?), None));
        }
        match slots.get_mut(index) {
            Some(slot) if preserve_order => *slot = Some(result),
            _ => done.push(result),
        }
    }
    if preserve_order {
        done = slots.into_iter().flatten().collect();
    }
    Ok((None, Some(json_array(&done)?)))
}

#[pymethods]
impl PyRouter {
    /// Build a router from `config_json`, a JSON object of `scillm.toml` keys or in
    /// LiteLLM's form (translated by [`translate_litellm`]; `os.environ/NAME` values read
    /// from the environment). Explicit values win over the file and the environment.
    /// Raises `ValueError` naming the bad key, variable or deployment.
    #[new]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config: Value = serde_json::from_str(config_json)
            .map_err(|e| PyValueError::new_err(format!("configuration is not JSON: {e}")))?;
        let Value::Object(map) = config else {
            return Err(PyValueError::new_err("configuration must be a JSON object"));
        };
        let (map, unused) = translate_litellm(map, &|name| std::env::var(name).ok())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut loader = ConfigLoader::new();
        for (key, value) in map {
            loader = loader.set(&key, value);
        }
        py.detach(|| {
            let config = loader
                .load()
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            let _rt = runtime().enter();
            let router =
                Router::new(Arc::new(config)).map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok(Self { router, unused })
        })
    }

    /// The LiteLLM keys of the configuration that scillm does not use, sorted (for the
    /// caller's one warning).
    fn unused_settings(&self) -> Vec<String> {
        self.unused.clone()
    }

    /// The model names of `model_list`, sorted.
    fn model_names(&self) -> Vec<String> {
        self.router.model_names()
    }

    /// Run the JSON array `requests_json` and resolve to `(None, "[...]")`, the results as a
    /// JSON array (input order when `preserve_order`, else completion order), or, with
    /// `stop_on_error`, to `(line, None)` at the first failed call (the rest is cancelled).
    /// Cancelling the awaiting task cancels the batch.
    // The arguments are the Python keyword arguments, one each.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (requests_json, concurrency=None, timeout=None, fail_fast=false, preserve_order=true, stop_on_error=false))]
    fn parallel<'py>(
        &self,
        py: Python<'py>,
        requests_json: String,
        concurrency: Option<usize>,
        timeout: Option<f64>,
        fail_fast: bool,
        preserve_order: bool,
        stop_on_error: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let router = self.router.clone();
        let opts = options(concurrency, timeout, fail_fast, None)?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let items = parse_items(&requests_json)?;
            run_parallel(router, items, opts, preserve_order, stop_on_error).await
        })
    }

    /// Start the JSON array `requests_json` and return a [`PyStream`] of `(index, line)` as
    /// items finish.
    #[pyo3(signature = (requests_json, concurrency=None, timeout=None, fail_fast=false))]
    fn stream(
        &self,
        requests_json: &str,
        concurrency: Option<usize>,
        timeout: Option<f64>,
        fail_fast: bool,
    ) -> PyResult<PyStream> {
        let cancel = CancellationToken::new();
        let opts = options(concurrency, timeout, fail_fast, Some(cancel.clone()))?;
        let items = parse_items(requests_json)?;
        let stream = self.router.parallel_stream(items, opts).boxed();
        Ok(PyStream {
            inner: Arc::new(Mutex::new(Some(stream))),
            cancel,
        })
    }

    /// One request (a JSON object) resolving to its result line. Cancelling the awaiting
    /// task cancels the call.
    fn acompletion<'py>(
        &self,
        py: Python<'py>,
        request_json: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let router = self.router.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let item = RequestItem::from_json_line(&request_json);
            result_line(&router.completion(item).await)
        })
    }

    /// One request (a JSON object), blocking without the GIL until its result line is ready.
    fn completion(&self, py: Python<'_>, request_json: String) -> PyResult<String> {
        let router = self.router.clone();
        py.detach(move || {
            let item = RequestItem::from_json_line(&request_json);
            let result = runtime().block_on(router.completion(item));
            result_line(&result)
        })
    }
}

/// A running batch's results, taken by one `next()` at a time.
type SharedStream = Arc<Mutex<Option<BoxStream<'static, (usize, RouterResult)>>>>;

/// Results of a running batch as they finish. Dropping or closing it cancels what is
/// still running.
#[pyclass(module = "scillm._scillm", name = "ResultStream", frozen)]
pub struct PyStream {
    inner: SharedStream,
    cancel: CancellationToken,
}

#[pymethods]
impl PyStream {
    /// Resolve to the next `(index, line)`, or `None` when every item has its result.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = inner.lock().await;
            let Some(stream) = guard.as_mut() else {
                return Ok(None);
            };
            match stream.next().await {
                Some((index, result)) => Ok(Some((index, result_line(&result)?))),
                None => {
                    *guard = None;
                    Ok(None)
                }
            }
        })
    }

    /// Cancel the items still running or waiting, and drop the batch when no `next()` is
    /// pending (a pending one sees `cancelled` results, then the end).
    fn close(&self) {
        self.cancel.cancel();
        if let Ok(mut guard) = self.inner.try_lock() {
            *guard = None;
        }
    }
}
