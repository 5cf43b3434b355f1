//! The body of `POST /agent/run`: this crate's fields and the Python original's (SPEC §15).
//! Fields it does not know are ignored and named in `mini_agent.warnings`, not refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use scillm_core::config::secs;
use scillm_core::wire::Message;
use scillm_core::ApiBase;
use serde::Deserialize;
use serde_json::Value;

use super::handlers::inner_model;
use crate::agent::AgentRequest;
use crate::tools::{HttpTools, ToolBackend, Toolbox};
use scillm_serve::ApiError;

/// The body of `POST /agent/run`.
#[derive(Debug, Default, Deserialize)]
pub struct AgentRunBody {
    /// The conversation.
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    /// A task, as one user message (appended after `messages`).
    #[serde(default)]
    pub prompt: Option<String>,
    /// The model to drive (`mini-agent/<m>` or `<m>`; `dummy`/`noop` is the stub model).
    #[serde(default)]
    pub model: Option<String>,
    /// The model to drive, winning over `model` (the original's name for it).
    #[serde(default)]
    pub target_model: Option<String>,
    /// A lower turn limit.
    #[serde(default)]
    pub max_iterations: Option<u32>,
    /// A shorter budget, in seconds.
    #[serde(default)]
    pub budget_s: Option<f64>,
    /// The original's name for `budget_s` (the smaller wins when both are sent).
    #[serde(default)]
    pub max_total_seconds: Option<f64>,
    /// `local` (default), `http` or `echo`.
    #[serde(default)]
    pub tool_backend: Option<String>,
    /// The HTTP tool server for `tool_backend: "http"` (else the configured one).
    #[serde(default)]
    pub tool_http_base_url: Option<String>,
    /// Headers sent to the HTTP tool server (never logged or traced).
    #[serde(default)]
    pub tool_http_headers: Option<BTreeMap<String, String>>,
    /// Offer tools at all (default true).
    #[serde(default)]
    pub use_tools: Option<bool>,
    /// Repair observations after failed tools (default true).
    #[serde(default)]
    pub enable_repair: Option<bool>,
    /// Run once more with `escalate_model` when stopped by `max_iterations` or the budget.
    #[serde(default)]
    pub escalate_on_budget_exceeded: Option<bool>,
    /// The model of the escalation run.
    #[serde(default)]
    pub escalate_model: Option<String>,
    /// Every other field: ignored, and listed in the warnings.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

impl AgentRunBody {
    /// The conversation: `messages` then `prompt`; a 400 when both are empty.
    pub fn conversation(&mut self) -> Result<Vec<Message>, ApiError> {
        let mut messages = self.messages.take().unwrap_or_default();
        if let Some(p) = self.prompt.take().filter(|p| !p.trim().is_empty()) {
            messages.push(Message::user(p));
        }
        if messages.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_request",
                "send `messages` (a non-empty list) or a `prompt`",
            ));
        }
        Ok(messages)
    }

    /// One warning per unknown field, and for fields that have no effect as sent.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .unknown
            .keys()
            .map(|k| format!("unknown field `{k}` ignored"))
            .collect();
        let http = self.backend_name().as_deref() == Some("http");
        if !http && (self.tool_http_base_url.is_some() || self.tool_http_headers.is_some()) {
            out.push(
                "`tool_http_base_url`/`tool_http_headers` are used only with `tool_backend: \"http\"`; ignored"
                    .into(),
            );
        }
        if self.escalate_model.is_some() && self.escalate_on_budget_exceeded != Some(true) {
            out.push(
                "`escalate_model` is used only with `escalate_on_budget_exceeded: true`; ignored"
                    .into(),
            );
        }
        out
    }

    fn backend_name(&self) -> Option<String> {
        self.tool_backend
            .as_deref()
            .map(|b| b.trim().to_ascii_lowercase())
            .filter(|b| !b.is_empty())
    }

    /// The tool backend asked for; a 400 for an unknown name or an `http` backend with no
    /// server.
    pub fn backend(&self, toolbox: &Toolbox) -> Result<ToolBackend, ApiError> {
        match self.backend_name().as_deref() {
            None | Some("local") => Ok(ToolBackend::Local),
            Some("echo") => Ok(ToolBackend::Echo),
            Some("http") => {
                let headers: Vec<(String, String)> = self
                    .tool_http_headers
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                match self
                    .tool_http_base_url
                    .as_deref()
                    .filter(|u| !u.trim().is_empty())
                {
                    Some(url) => {
                        let base = ApiBase::parse(url).map_err(|e| {
                            ApiError::bad_request(
                                "invalid_tool_http_base_url",
                                format!("`tool_http_base_url` is not a usable base URL: {e}"),
                            )
                        })?;
                        Ok(ToolBackend::Http(Arc::new(HttpTools::new(base, headers))))
                    }
                    None => match toolbox.http() {
                        Some(h) if headers.is_empty() => Ok(ToolBackend::Http(Arc::clone(h))),
                        _ => Err(ApiError::bad_request(
                            "invalid_tool_backend",
                            "`tool_backend: \"http\"` needs `tool_http_base_url` (or a configured \
                             MINI_AGENT_TOOLS_BASE, without `tool_http_headers`)",
                        )),
                    },
                }
            }
            Some(other) => Err(ApiError::bad_request(
                "invalid_tool_backend",
                format!("`tool_backend` must be `local`, `http` or `echo`, not `{other}`"),
            )),
        }
    }

    /// The budget asked for (the smaller of `budget_s` and `max_total_seconds`).
    pub fn budget(&self) -> Option<Duration> {
        [self.budget_s, self.max_total_seconds]
            .into_iter()
            .flatten()
            .map(secs)
            .filter(|d| *d > Duration::ZERO)
            .min()
    }

    /// The model to drive: `target_model`, else what `model` names.
    pub fn driven_model(&self) -> Option<String> {
        self.target_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .or_else(|| self.model.as_deref().and_then(inner_model))
    }

    /// The agent request for `messages` with `backend`.
    pub fn agent_request(&self, messages: Vec<Message>, backend: ToolBackend) -> AgentRequest {
        AgentRequest {
            messages,
            model: self.driven_model(),
            max_iterations: self.max_iterations,
            budget: self.budget(),
            backend,
            use_tools: self.use_tools,
            enable_repair: self.enable_repair,
            escalate_on_budget_exceeded: self.escalate_on_budget_exceeded.unwrap_or(false),
            escalate_model: self.escalate_model.clone(),
        }
    }
}
