//! What goes into a run and what comes out of it.

use std::time::Duration;

use scillm_core::config::{secs, MiniAgentConfig};
use scillm_core::wire::Message;
use serde::Serialize;
use serde_json::{json, Value};

use crate::tools::ToolBackend;

/// How much of a tool's output a [`ToolInvocation`] record keeps.
pub const RECORDED_OUTPUT_CHARS: usize = 4000;

/// Limits and switches of the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// The model used when a request names none.
    pub default_model: Option<String>,
    /// Model turns at most.
    pub max_iterations: u32,
    /// Tool calls run per turn at most; the others get an error reply.
    pub max_tools_per_iter: usize,
    /// Tool calls run at once.
    pub tool_concurrency: usize,
    /// Wall-clock budget of a run.
    pub budget: Duration,
    /// Characters of history sent to the model.
    pub history_char_budget: usize,
    /// Run a fenced Python block when the model answers with one and no tool call.
    pub auto_run_code: bool,
}

impl AgentSettings {
    /// The settings of `cfg`.
    pub fn from_config(cfg: &MiniAgentConfig) -> Self {
        Self {
            default_model: cfg.model.clone().filter(|m| !m.trim().is_empty()),
            max_iterations: cfg.max_iterations.max(1),
            max_tools_per_iter: cfg.max_tools_per_iter.max(1),
            tool_concurrency: cfg.tool_concurrency.max(1),
            budget: secs(cfg.budget_s),
            history_char_budget: cfg.history_char_budget,
            auto_run_code: cfg.auto_run_code,
        }
    }
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self::from_config(&MiniAgentConfig::default())
    }
}

/// One run's input (the Python original's `/agent/run` fields, SPEC §15).
#[derive(Debug, Clone, Default)]
pub struct AgentRequest {
    /// The conversation so far (at least the task as a user message).
    pub messages: Vec<Message>,
    /// The model to drive; the configured one when `None`. `dummy`/`noop` is the built-in
    /// stub model.
    pub model: Option<String>,
    /// A lower turn limit for this run.
    pub max_iterations: Option<u32>,
    /// A shorter budget for this run (`max_total_seconds`).
    pub budget: Option<Duration>,
    /// Where tool calls go (`tool_backend`).
    pub backend: ToolBackend,
    /// Offer tools at all (`use_tools`, default true).
    pub use_tools: Option<bool>,
    /// Add repair observations after failed tools (`enable_repair`, default true).
    pub enable_repair: Option<bool>,
    /// Run once more with `escalate_model` when stopped by `max_iterations` or the budget
    /// (`escalate_on_budget_exceeded`).
    pub escalate_on_budget_exceeded: bool,
    /// The model of the second run (`escalate_model`).
    pub escalate_model: Option<String>,
}

/// Progress of a run, sent as it happens (streamed by the shim, SPEC §15).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A model call starts.
    ModelCall {
        /// The 1-based model turn.
        iteration: u32,
        /// The model called.
        model: String,
    },
    /// The model called a tool; it runs now.
    ToolCall {
        /// The model turn.
        iteration: u32,
        /// The tool call id.
        id: String,
        /// The tool name.
        name: String,
        /// The arguments as the model wrote them.
        arguments: String,
    },
    /// A tool finished.
    ToolResult {
        /// The model turn.
        iteration: u32,
        /// The tool call id.
        id: String,
        /// The tool name.
        name: String,
        /// Whether it succeeded.
        ok: bool,
        /// Its reply to the model (cut at 4000 characters).
        output: String,
    },
    /// The run stopped without an answer and is run again with the escalation model.
    Escalation {
        /// Why the first run stopped.
        after: StopReason,
        /// The model of the second run.
        model: String,
    },
}

/// Where a run's [`AgentEvent`]s go (nowhere by default).
#[derive(Debug, Clone, Default)]
pub struct EventSink(Option<tokio::sync::mpsc::UnboundedSender<AgentEvent>>);

impl EventSink {
    /// Events sent to `tx`.
    pub fn new(tx: tokio::sync::mpsc::UnboundedSender<AgentEvent>) -> Self {
        Self(Some(tx))
    }

    /// Send `event` (dropped when nobody listens any more).
    pub fn emit(&self, event: AgentEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model answered without calling a tool.
    Success,
    /// The turn limit was reached.
    MaxIterations,
    /// The time budget ran out.
    Budget,
}

impl StopReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Success => "success",
            StopReason::MaxIterations => "max_iterations",
            StopReason::Budget => "budget",
        }
    }
}

/// One tool call the model made (or one auto-run code block).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolInvocation {
    /// The model turn it belongs to (1-based).
    pub iteration: u32,
    /// The tool call id.
    pub id: String,
    /// The tool name.
    pub name: String,
    /// The parsed arguments (`null` when they were not a JSON object).
    pub arguments: Value,
    /// The arguments as the model wrote them, kept when they were not a JSON object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments_raw: Option<String>,
    /// Whether the tool succeeded.
    pub ok: bool,
    /// The reply the model got (cut at 4000 characters).
    pub output: String,
    /// Not run because of `max_tools_per_iter` (answered with an error reply).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
    /// Run automatically from a fenced code block, not called by the model.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auto: bool,
    /// Wall-clock time taken.
    pub duration_ms: u64,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct AgentRun {
    /// `stopped_reason == success`.
    pub ok: bool,
    /// The model's last answer text.
    pub final_answer: String,
    /// Why the run stopped.
    pub stopped_reason: StopReason,
    /// The whole conversation, tool calls and replies included (not pruned).
    pub messages: Vec<Message>,
    /// Model turns made.
    pub iterations: u32,
    /// Every tool call, in order.
    pub tool_invocations: Vec<ToolInvocation>,
    /// Repair observations added after failed tools.
    pub repair_observations: u32,
    /// The model that was driven.
    pub used_model: String,
    /// Wall-clock time of the run (both runs when escalated).
    pub total_ms: u64,
    /// Whether this is the escalation run (SPEC §15).
    pub escalated: bool,
    /// The first run's model and why it stopped, when escalated.
    pub first_attempt: Option<(String, StopReason)>,
    /// Things the request asked for that were ignored (unknown fields), in words.
    pub warnings: Vec<String>,
}

impl AgentRun {
    /// The `/agent/run` envelope:
    /// `{ok, final_answer, stopped_reason, messages, metrics{iterations, ttotal_ms, escalated, used_model}}`.
    pub fn envelope(&self) -> Value {
        json!({
            "ok": self.ok,
            "final_answer": self.final_answer,
            "stopped_reason": self.stopped_reason,
            "messages": self.messages,
            "metrics": {
                "iterations": self.iterations,
                "ttotal_ms": self.total_ms,
                "escalated": self.escalated,
                "used_model": self.used_model,
                "repair_observations": self.repair_observations,
            },
            "tool_invocations": self.tool_invocations,
            "mini_agent": self.details(),
        })
    }

    /// The `mini_agent` object added to a chat completion.
    pub fn details(&self) -> Value {
        json!({
            "iterations": self.iterations,
            "stopped_reason": self.stopped_reason,
            "tool_invocations": self.tool_invocations,
            "repair_observations": self.repair_observations,
            "used_model": self.used_model,
            "ttotal_ms": self.total_ms,
            "escalated": self.escalated,
            "first_attempt": self.first_attempt.as_ref().map(|(model, stopped)| json!({
                "model": model,
                "stopped_reason": stopped,
            })),
            "warnings": self.warnings,
        })
    }
}

/// `text` cut to `max` characters, with a marker when cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}… [truncated]", &text[..end]),
        None => text.to_string(),
    }
}
