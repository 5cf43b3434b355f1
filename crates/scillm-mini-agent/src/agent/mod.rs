//! The agent loop: call the model with the tool definitions, run the tools it calls, feed
//! the results back, until it answers without a tool call (`success`), the turn limit
//! (`max_iterations`) or the time budget (`budget`); then, when asked, once more with an
//! escalation model (SPEC §15).

mod autorun;
mod history;
mod turn;
mod types;

use std::sync::Arc;
use std::time::Instant;

use scillm_core::wire::{ChatRequest, Content, Message, Role, ToolCall};
use scillm_core::{ErrorKind, ProviderError};
use serde_json::json;
use tokio::time::timeout_at;

pub use autorun::python_block;
pub use history::prune;
pub use turn::parse_arguments;
pub use types::{
    AgentEvent, AgentRequest, AgentRun, AgentSettings, EventSink, StopReason, ToolInvocation,
};

use crate::model::{is_stub_model, SharedModel, StubModel};
use crate::tools::{RunTools, Toolbox};
use types::{clip, RECORDED_OUTPUT_CHARS};

/// The system message added when the conversation has none.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a careful assistant that can use tools. Call a \
tool when it helps answer the task; read its result before you answer. When you have the \
answer, reply with it in plain text and no tool call.";

/// The agent: a model, tools and the loop's limits.
#[derive(Debug, Clone)]
pub struct Agent {
    model: SharedModel,
    toolbox: Toolbox,
    settings: AgentSettings,
}

impl Agent {
    /// An agent driving `model` with `toolbox`.
    pub fn new(model: SharedModel, toolbox: Toolbox, settings: AgentSettings) -> Self {
        Self {
            model,
            toolbox,
            settings,
        }
    }

    /// The loop's limits.
    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    /// The tools.
    pub fn toolbox(&self) -> &Toolbox {
        &self.toolbox
    }

    /// Run the loop (and, when asked and needed, the escalation run). Fails only when a
    /// model call fails (or no model is known); tool failures are reported to the model.
    pub async fn run(&self, req: AgentRequest) -> Result<AgentRun, ProviderError> {
        self.run_with_events(req, &EventSink::default()).await
    }

    /// [`Agent::run`], sending progress to `events` as it happens. Counted in
    /// `scillm_mini_agent_runs_total{stopped_reason}` (`error` for a failed run).
    pub async fn run_with_events(
        &self,
        req: AgentRequest,
        events: &EventSink,
    ) -> Result<AgentRun, ProviderError> {
        let result = self.run_escalating(req, events).await;
        let reason = match &result {
            Ok(run) => run.stopped_reason.as_str(),
            Err(_) => "error",
        };
        scillm_telemetry::record::mini_agent_run(reason);
        result
    }

    async fn run_escalating(
        &self,
        req: AgentRequest,
        events: &EventSink,
    ) -> Result<AgentRun, ProviderError> {
        let started = Instant::now();
        let model = req
            .model
            .clone()
            .filter(|m| !m.trim().is_empty())
            .or_else(|| self.settings.default_model.clone())
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::InvalidRequest,
                    "no model for the mini-agent: pass `model` or set MINI_AGENT_MODEL \
                     (config key mini_agent.model)",
                )
            })?;
        if req.messages.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::InvalidRequest,
                "`messages` is empty",
            ));
        }
        let first = self.run_once(&req, model, events).await?;
        let escalate_to = req
            .escalate_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let stopped_short = matches!(
            first.stopped_reason,
            StopReason::MaxIterations | StopReason::Budget
        );
        let Some(escalate_to) =
            escalate_to.filter(|_| req.escalate_on_budget_exceeded && stopped_short)
        else {
            return Ok(first);
        };
        events.emit(AgentEvent::Escalation {
            after: first.stopped_reason,
            model: escalate_to.to_string(),
        });
        let mut second = self.run_once(&req, escalate_to.to_string(), events).await?;
        second.escalated = true;
        second.first_attempt = Some((first.used_model, first.stopped_reason));
        second.total_ms = elapsed_ms(started);
        Ok(second)
    }

    /// One pass of the loop with `model`.
    async fn run_once(
        &self,
        req: &AgentRequest,
        model: String,
        events: &EventSink,
    ) -> Result<AgentRun, ProviderError> {
        let started = Instant::now();
        let budget = req
            .budget
            .map_or(self.settings.budget, |b| b.min(self.settings.budget));
        let deadline = tokio::time::Instant::now() + budget;
        let max_iterations = req
            .max_iterations
            .map_or(self.settings.max_iterations, |m| {
                m.clamp(1, self.settings.max_iterations)
            });
        let client: SharedModel = if is_stub_model(&model) {
            Arc::new(StubModel)
        } else {
            Arc::clone(&self.model)
        };
        let use_tools = req.use_tools.unwrap_or(true);
        let run_tools = if use_tools {
            self.toolbox.for_run(&req.backend).await
        } else {
            RunTools::default()
        };
        let tools = self.toolbox.definitions(run_tools.http_defs());
        let mut messages = req.messages.clone();
        if !messages
            .iter()
            .any(|m| matches!(m.role, Role::System | Role::Developer))
        {
            messages.insert(0, Message::system(DEFAULT_SYSTEM_PROMPT));
        }
        let mut run = RunState::default();

        let stopped = loop {
            if run.iterations >= max_iterations {
                break StopReason::MaxIterations;
            }
            let mut call = ChatRequest::new(
                model.clone(),
                prune(&messages, self.settings.history_char_budget),
            );
            if use_tools && !is_stub_model(&model) {
                call.tools = Some(tools.clone());
                call.tool_choice = Some(json!("auto"));
            }
            events.emit(AgentEvent::ModelCall {
                iteration: run.iterations + 1,
                model: model.clone(),
            });
            let answer = match timeout_at(deadline, client.chat(call)).await {
                Ok(answer) => answer?,
                Err(_) => break StopReason::Budget,
            };
            run.iterations += 1;
            let msg = answer
                .choices
                .into_iter()
                .next()
                .map(|c| c.message)
                .ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::InvalidResponse,
                        "the model answered with no choices",
                    )
                })?;
            let calls = normalize_calls(msg.tool_calls.clone().unwrap_or_default(), run.iterations);
            let text = msg.text_content();

            if calls.is_empty() {
                messages.push(Message::assistant(text.clone()));
                run.last_text = text.clone();
                match python_block(&text).filter(|_| self.settings.auto_run_code && use_tools) {
                    Some(code) => {
                        match timeout_at(deadline, self.auto_run(&code, &mut run)).await {
                            Ok(observation) => messages.push(observation),
                            Err(_) => break StopReason::Budget,
                        }
                    }
                    None => break StopReason::Success,
                }
                continue;
            }

            if !text.trim().is_empty() {
                run.last_text = text.clone();
            }
            messages.push(assistant_with_calls(text, calls.clone()));
            let limits = turn::TurnLimits {
                iteration: run.iterations,
                max_tools: self.settings.max_tools_per_iter,
                concurrency: self.settings.tool_concurrency,
                repair: req.enable_repair.unwrap_or(true),
            };
            match timeout_at(
                deadline,
                turn::run_turn(&self.toolbox, &run_tools, &calls, limits, events),
            )
            .await
            {
                Ok(outcome) => {
                    messages.extend(outcome.replies);
                    run.invocations.extend(outcome.invocations);
                    if let Some(obs) = outcome.repair {
                        messages.push(obs);
                        run.repairs += 1;
                    }
                }
                Err(_) => {
                    // Keep the transcript valid: every call still gets a reply.
                    for c in &calls {
                        messages.push(Message::tool_reply(
                            &c.id,
                            "error: not finished: the agent's time budget ran out",
                        ));
                    }
                    break StopReason::Budget;
                }
            }
        };

        Ok(AgentRun {
            ok: stopped == StopReason::Success,
            final_answer: run.last_text,
            stopped_reason: stopped,
            messages,
            iterations: run.iterations,
            tool_invocations: run.invocations,
            repair_observations: run.repairs,
            used_model: model,
            total_ms: elapsed_ms(started),
            escalated: false,
            first_attempt: None,
            warnings: Vec::new(),
        })
    }

    /// Run a fenced Python block from the model's answer and describe the result.
    async fn auto_run(&self, code: &str, run: &mut RunState) -> Message {
        let started = Instant::now();
        let output = crate::tools::exec::run_python(
            self.toolbox.sandbox(),
            code,
            None,
            self.toolbox.timeout(),
        )
        .await;
        run.invocations.push(ToolInvocation {
            iteration: run.iterations,
            id: format!("auto_run_{}", run.iterations),
            name: "exec_python".into(),
            arguments: json!({ "code": code }),
            arguments_raw: None,
            ok: output.ok,
            output: clip(&output.content, RECORDED_OUTPUT_CHARS),
            dropped: false,
            auto: true,
            duration_ms: elapsed_ms(started),
        });
        let next = if output.ok {
            "If this answers the task, reply with the final answer in plain text, without a code block."
        } else {
            run.repairs += 1;
            "It failed: find the cause and fix it, or answer without running code."
        };
        Message::user(format!(
            "Observation: the Python block in your answer was run automatically. Result: {}\n{next}",
            output.content
        ))
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Counters of a run in progress.
#[derive(Debug, Default)]
struct RunState {
    iterations: u32,
    invocations: Vec<ToolInvocation>,
    repairs: u32,
    last_text: String,
}

/// Give every call an id (some backends omit it) and the `function` type.
fn normalize_calls(calls: Vec<ToolCall>, iteration: u32) -> Vec<ToolCall> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            if c.id.trim().is_empty() {
                c.id = format!("call_{iteration}_{i}");
            }
            c.kind = "function".into();
            c.extra.clear();
            c
        })
        .collect()
}

/// The assistant message that carries `calls` (content `null` when there is no text).
fn assistant_with_calls(text: String, calls: Vec<ToolCall>) -> Message {
    let mut m = Message::assistant(text.clone());
    if text.is_empty() {
        m.content = Some(Content::Null);
    }
    m.tool_calls = Some(calls);
    m
}

/// The text of the last user message (what echo mode answers with).
pub fn last_user_text(messages: &[Message]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(Message::text_content)
        .unwrap_or_default()
}
