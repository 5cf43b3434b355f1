//! Parse Prometheus text with the official Python `prometheus_client` parser (run by the
//! python that `SCILLM_TEST_PYTHON` names), for scrape tests of every crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The Python program: Prometheus text on stdin, one JSON line per sample on stdout.
const PARSE_SCRIPT: &str = include_str!("prometheus/parse_metrics.py");

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

/// Parse `text` with `prometheus_client` run by `python`; panics when it does not parse.
pub fn parse(python: &std::path::Path, text: &str) -> Vec<Sample> {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(PARSE_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse the scrape: {}\n--- text ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Sample {
                name: v["name"].as_str().unwrap().to_string(),
                labels: v["labels"].as_object().unwrap().clone(),
                value: v["value"].as_f64().unwrap(),
            }
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
