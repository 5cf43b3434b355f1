//! The client span of one upstream chat call (SPEC §16, OpenTelemetry GenAI conventions):
//! named `chat {model}`, kind client, with `gen_ai.operation.name`, `gen_ai.provider.name`,
//! `gen_ai.request.model`, and once the answer is in `gen_ai.response.model`,
//! `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` or `error.type`. The W3C
//! `traceparent` of this span goes out on every attempt ([`super::HttpChatClient`]).
//!
//! Building the span costs nothing unless a subscriber wants it: its name is formatted
//! only then.

use scillm_core::wire::ChatResponse;
use scillm_core::ProviderError;
use tracing::field::Empty;
use tracing::Span;

/// The span of one chat call by `provider` (its registered name) for the upstream model
/// id `model`. Instrument the call with it, then give its outcome to [`record_answer`] or
/// [`record_error`].
pub fn chat_span(provider: &'static str, model: &str) -> Span {
    tracing::info_span!(
        target: "scillm_provider",
        "chat",
        otel.name = format!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = provider,
        gen_ai.request.model = model,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
    )
}

/// Record a complete call's outcome on `span`: the response model and token usage, or
/// the error.
pub fn record_answer(span: &Span, answer: &Result<ChatResponse, ProviderError>) {
    if span.is_disabled() {
        return;
    }
    match answer {
        Ok(r) => {
            span.record("gen_ai.response.model", r.model.as_str());
            if let Some(u) = &r.usage {
                // As i64: OpenTelemetry has no unsigned integers (a u64 would be a string).
                let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                span.record("gen_ai.usage.input_tokens", int(u.prompt_tokens));
                span.record("gen_ai.usage.output_tokens", int(u.completion_tokens));
            }
        }
        Err(e) => record_error(span, e),
    }
}

/// Record a failed call on `span`: `error.type` is the error's kind (`rate_limited`,
/// `timeout`, `server_error`, …, a closed set), and the span's status is error.
pub fn record_error(span: &Span, error: &ProviderError) {
    span.record("error.type", error.kind.as_str());
    span.record("otel.status_code", "ERROR");
}
