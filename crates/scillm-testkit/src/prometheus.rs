//! Reading a `/metrics` scrape the way Prometheus does: the text is parsed by the official
//! Python `prometheus_client` parser (run by the python of `SCILLM_TEST_PYTHON`), so a
//! scrape that a real scraper would reject fails the test.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// One parsed sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Sample name (for histograms with `_bucket`, `_sum`, `_count`).
    pub name: String,
    /// Labels.
    pub labels: serde_json::Map<String, Value>,
    /// Value.
    pub value: f64,
}

/// Parse `text` with `prometheus_client` run by `python`.
///
/// Errors: the parser refused the text (its message, with the text), or `python` could not
/// be run.
pub fn parse(python: &Path, text: &str) -> Result<Vec<Sample>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/parse_metrics.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to the parser: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the parser did not finish: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "prometheus_client could not parse the scrape: {}\n--- text ---\n{text}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).map_err(|e| format!("{e}: {l}"))?;
            Ok(Sample {
                name: v["name"].as_str().unwrap_or_default().to_string(),
                labels: v["labels"].as_object().cloned().unwrap_or_default(),
                value: v["value"].as_f64().unwrap_or(f64::NAN),
            })
        })
        .collect()
}

/// The samples named `name` whose labels include every pair of `labels`.
pub fn matching<'a>(
    samples: &'a [Sample],
    name: &'a str,
    labels: &'a [(&str, &str)],
) -> impl Iterator<Item = &'a Sample> + 'a {
    samples.iter().filter(move |s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v))
    })
}

/// The sum of the values of every sample named `name` whose labels include every pair
/// of `labels` (e.g. a counter over all its label sets); 0 when there is none.
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    matching(samples, name, labels).map(|s| s.value).sum()
}

/// The value of the first sample named `name` whose labels include every pair of
/// `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    matching(samples, name, labels).next().map(|s| s.value)
}

/// Fetch `{base}/metrics` and parse it; also checks the Prometheus text content type.
///
/// Errors: the request failed, the content type is not `text/plain`, or the text does not
/// parse.
pub async fn scrape(python: &Path, base: &str) -> Result<(String, Vec<Sample>), String> {
    let resp = reqwest::get(format!("{base}/metrics"))
        .await
        .map_err(|e| format!("GET {base}/metrics: {e}"))?;
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !ct.starts_with("text/plain") {
        return Err(format!("/metrics content type is `{ct}`, not text/plain"));
    }
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let samples = parse(python, &text)?;
    Ok((text, samples))
}
