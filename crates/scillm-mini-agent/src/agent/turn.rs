//! Running the tool calls of one model turn: every call gets exactly one reply, in call
//! order, whatever happens to it.

use std::time::Instant;

use futures::StreamExt;
use scillm_core::wire::{Message, ToolCall};
use serde_json::{Map, Value};

use super::types::{clip, AgentEvent, EventSink, ToolInvocation, RECORDED_OUTPUT_CHARS};
use crate::tools::{RunTools, ToolOutput, Toolbox};

/// How much of a failed tool's reply a repair observation quotes.
const REPAIR_QUOTE_CHARS: usize = 600;

/// The replies and records of one turn.
#[derive(Debug, Default)]
pub struct TurnOutcome {
    /// One `tool` message per call, in call order.
    pub replies: Vec<Message>,
    /// One record per call, in call order.
    pub invocations: Vec<ToolInvocation>,
    /// A repair observation when a tool that ran failed (and repair is on).
    pub repair: Option<Message>,
}

/// What the loop tells [`run_turn`].
#[derive(Debug, Clone, Copy)]
pub struct TurnLimits {
    /// The 1-based model turn.
    pub iteration: u32,
    /// Calls run at most; the rest get an error reply.
    pub max_tools: usize,
    /// Calls run at once.
    pub concurrency: usize,
    /// Add a repair observation when a tool fails.
    pub repair: bool,
}

/// Run the first `max_tools` of `calls` (at most `concurrency` at once) and answer the
/// others with an error reply. Each call is announced on `events` before it runs and its
/// result as soon as it finishes.
pub async fn run_turn(
    toolbox: &Toolbox,
    tools: &RunTools,
    calls: &[ToolCall],
    limits: TurnLimits,
    events: &EventSink,
) -> TurnOutcome {
    let run_count = calls.len().min(limits.max_tools);
    for call in calls {
        events.emit(AgentEvent::ToolCall {
            iteration: limits.iteration,
            id: call.id.clone(),
            name: call.function.name.clone(),
            arguments: call.function.arguments.clone(),
        });
    }
    // Collected first: a lazy `map` closure here trips the higher-ranked lifetime check
    // once the future is required to be `Send` (axum handlers).
    let pending: Vec<_> = calls[..run_count]
        .iter()
        .map(|call| Box::pin(run_one(toolbox, tools, call, limits.iteration, events)))
        .collect();
    let ran: Vec<Ran> = futures::stream::iter(pending)
        .buffered(limits.concurrency.max(1))
        .collect()
        .await;

    let mut out = TurnOutcome::default();
    let mut failed = Vec::new();
    for (call, Ran { output, args, ms }) in calls.iter().zip(ran) {
        if !output.ok {
            failed.push((call, output.content.clone()));
        }
        out.replies
            .push(Message::tool_reply(&call.id, &output.content));
        out.invocations
            .push(record(call, args, &output, limits.iteration, ms, false));
    }
    for call in &calls[run_count..] {
        let output = ToolOutput::error(format!(
            "not run: at most {} tool calls are run per turn; call it again in a later turn \
             if you still need it",
            limits.max_tools
        ));
        out.replies
            .push(Message::tool_reply(&call.id, &output.content));
        let args = parse_arguments(&call.function.arguments).ok();
        events.emit(result_event(call, &output, limits.iteration));
        out.invocations
            .push(record(call, args, &output, limits.iteration, 0, true));
    }
    if limits.repair {
        out.repair = repair_observation(&failed);
    }
    out
}

/// One call that ran: its output, its arguments when they parsed, its duration.
struct Ran {
    output: ToolOutput,
    args: Option<Map<String, Value>>,
    ms: u64,
}

fn result_event(call: &ToolCall, output: &ToolOutput, iteration: u32) -> AgentEvent {
    AgentEvent::ToolResult {
        iteration,
        id: call.id.clone(),
        name: call.function.name.clone(),
        ok: output.ok,
        output: clip(&output.content, RECORDED_OUTPUT_CHARS),
    }
}

async fn run_one(
    toolbox: &Toolbox,
    tools: &RunTools,
    call: &ToolCall,
    iteration: u32,
    events: &EventSink,
) -> Ran {
    let started = Instant::now();
    let (output, args) = match parse_arguments(&call.function.arguments) {
        Ok(args) => (
            toolbox.call(&call.function.name, &args, tools).await,
            Some(args),
        ),
        Err(why) => (
            ToolOutput::error(format!(
                "the arguments of `{}` are not a JSON object ({why}); nothing was run. You sent: \
                 {}. Call the tool again with a JSON object of arguments.",
                call.function.name,
                clip(&call.function.arguments, 500)
            )),
            None,
        ),
    };
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    events.emit(result_event(call, &output, iteration));
    Ran { output, args, ms }
}

/// The arguments of a call as a JSON object; empty arguments mean `{}`.
pub fn parse_arguments(raw: &str) -> Result<Map<String, Value>, String> {
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("got a JSON {}", kind(&other))),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn record(
    call: &ToolCall,
    args: Option<Map<String, Value>>,
    output: &ToolOutput,
    iteration: u32,
    duration_ms: u64,
    dropped: bool,
) -> ToolInvocation {
    let arguments_raw = args.is_none().then(|| call.function.arguments.clone());
    ToolInvocation {
        iteration,
        id: call.id.clone(),
        name: call.function.name.clone(),
        arguments: args.map(Value::Object).unwrap_or(Value::Null),
        arguments_raw,
        ok: output.ok,
        output: clip(&output.content, RECORDED_OUTPUT_CHARS),
        dropped,
        auto: false,
        duration_ms,
    }
}

/// A user message telling the model which tools failed and asking it to repair.
fn repair_observation(failed: &[(&ToolCall, String)]) -> Option<Message> {
    if failed.is_empty() {
        return None;
    }
    let lines: Vec<String> = failed
        .iter()
        .map(|(call, reply)| {
            format!(
                "- {} (call {}): {}",
                call.function.name,
                call.id,
                clip(reply, REPAIR_QUOTE_CHARS)
            )
        })
        .collect();
    Some(Message::user(format!(
        "Observation: {} tool call(s) failed:\n{}\nFind the cause, fix it and call the tool \
         again, or answer without the tool if it cannot work.",
        failed.len(),
        lines.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_a_json_object() {
        assert!(parse_arguments("").unwrap().is_empty());
        assert!(parse_arguments(r#"{"a":1}"#).is_ok());
        assert!(parse_arguments("{BAD JSON]")
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(parse_arguments("[1]").unwrap_err().contains("array"));
    }
}
