//! Traces: one JSON line per run, appended to a file, with secrets redacted.

use std::path::{Path, PathBuf};

use scillm_core::Config;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::redact::redact;
use crate::agent::AgentRun;

/// Where traces go when `store_traces` is on and no path is set.
pub const DEFAULT_TRACE_FILE: &str = "mini_agent_traces.jsonl";

/// Appends one redacted JSON line per run.
#[derive(Debug)]
pub struct TraceWriter {
    path: PathBuf,
    secrets: Vec<String>,
    // One writer at a time, so lines never interleave.
    lock: Mutex<()>,
}

impl TraceWriter {
    /// The writer `config` asks for (`None` when traces are off).
    pub fn from_config(config: &Config) -> Option<Self> {
        let ma = &config.mini_agent;
        if !ma.store_traces {
            return None;
        }
        let path = ma
            .store_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TRACE_FILE));
        Some(Self {
            path,
            secrets: config_secrets(config),
            lock: Mutex::new(()),
        })
    }

    /// The trace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append the record of `run` (served on `endpoint` for `request_model`).
    pub async fn record(&self, endpoint: &str, request_model: &str, run: &AgentRun) {
        let mut line = json!({
            "ts": scillm_core::wire::unix_now(),
            "endpoint": endpoint,
            "request_model": request_model,
            "used_model": run.used_model,
            "stopped_reason": run.stopped_reason,
            "iterations": run.iterations,
            "ttotal_ms": run.total_ms,
            "repair_observations": run.repair_observations,
            "final_answer": run.final_answer,
            "messages": run.messages,
            "tool_invocations": run.tool_invocations,
        });
        self.write(&mut line).await;
    }

    async fn write(&self, record: &mut Value) {
        redact(record, &self.secrets);
        let mut text = record.to_string();
        text.push('\n');
        let _held = self.lock.lock().await;
        let result = async {
            let mut f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            f.write_all(text.as_bytes()).await?;
            f.flush().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the mini-agent trace");
        }
    }
}

/// Every secret value in `config`, to be replaced wherever it appears in a trace.
fn config_secrets(config: &Config) -> Vec<String> {
    let keys: [Option<&SecretString>; 4] = [
        config.mini_agent.api_key.as_ref(),
        config.codex_agent.api_key.as_ref(),
        config.sidecar.api_key.as_ref(),
        config.sidecar.forward_token.as_ref(),
    ];
    keys.into_iter()
        .flatten()
        .chain(config.model_list.iter().filter_map(|d| d.api_key.as_ref()))
        .map(|s| s.expose_secret().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
