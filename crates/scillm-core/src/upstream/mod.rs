//! Reading upstream answers as real OpenAI-compatible servers send them (SPEC §11).
//!
//! vLLM, Ollama, llama.cpp, LM Studio, OpenRouter, Groq, Fireworks, SambaNova, TGI,
//! OpenVINO, Azure and LiteLLM leave out or retype metadata. An answer is judged by whether
//! its content can be found: [`completion_from_slice`] and [`chunk_from_str`] fill in the
//! defaults of §11 ([`normalise`]) and keep every other field as sent, and an error carried
//! inside a 2xx ([`in_band`]) becomes a [`ProviderError`] typed like the status it names.
//!
//! ```
//! use scillm_core::upstream::{completion_from_slice, chunk_from_str, StreamIds};
//!
//! let r = completion_from_slice(200, br#"{"choices":[{"message":{"content":"ok"}}]}"#).unwrap();
//! assert_eq!(r.first_text(), "ok");
//! let mut ids = StreamIds::default();
//! let c = chunk_from_str(r#"{"choices":[{"delta":{"content":"hello "}}]}"#, &mut ids).unwrap();
//! assert_eq!(c.choices[0].delta.text_str(), "hello ");
//! let e = completion_from_slice(200, br#"{"error":{"message":"slow down","code":429}}"#).unwrap_err();
//! assert_eq!(e.kind, scillm_core::ErrorKind::RateLimited);
//! ```

pub mod in_band;
pub mod normalise;

use serde_json::Value;

use crate::error::{ErrorKind, ProviderError};
use crate::wire::{ChatChunk, ChatResponse};

pub use in_band::{error_from_event, in_band_error, status_for_names};
pub use normalise::{new_completion_id, normalise_chunk, normalise_completion};

/// The id and creation time shared by the chunks of one stream: taken from the first
/// chunk that has them, generated otherwise, and given to chunks that lack them.
#[derive(Debug, Clone, Default)]
pub struct StreamIds {
    /// The stream's id, once known.
    pub id: Option<String>,
    /// The stream's `created`, once known.
    pub created: Option<u64>,
}

/// Parse a 2xx body as a chat completion, leniently (SPEC §11).
///
/// Errors: a body that is not JSON, or JSON without `choices[0].message` /
/// `choices[0].text`, is [`ErrorKind::InvalidResponse`] (status and a body excerpt
/// kept); a body carrying an error ([`in_band_error`]) is that error.
pub fn completion_from_slice(status: u16, body: &[u8]) -> Result<ChatResponse, ProviderError> {
    if let Some(canonical) = canonical_completion(body) {
        return Ok(canonical);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        invalid(
            status,
            format!("upstream answered HTTP {status} with a body that is not JSON ({e})"),
            body,
        )
    })?;
    completion_from_value(status, value, body)
}

/// The fast path of [`completion_from_slice`]: the body read straight into a
/// [`ChatResponse`], kept only when it already is what §11's defaults would make of it
/// (a non-empty `id`, a non-zero `created`, at least one choice, each at its own
/// `index`, a known role, no `finish_reason: "error"`, no top-level `error` or
/// non-object `usage`, no explicit `null` among the optional message fields, every tool
/// call typed). `None` means the body needs the lenient reading (or is no completion);
/// the two readings give equal results whenever this one answers (tested over the
/// upstream corpus and generated answers).
pub fn canonical_completion(body: &[u8]) -> Option<ChatResponse> {
    let r: ChatResponse = serde_json::from_slice(body).ok()?;
    let canonical = !r.id.is_empty()
        && r.created != 0
        && !r.choices.is_empty()
        && !r.extra.contains_key("error")
        && !r.extra.contains_key("usage")
        && r.choices.iter().enumerate().all(|(pos, c)| {
            let m = &c.message;
            c.index as usize == pos
                && c.finish_reason.as_deref() != Some("error")
                && !["name", "tool_calls", "tool_call_id", "reasoning_content"]
                    .iter()
                    .any(|k| m.extra.contains_key(*k))
                && m.tool_calls
                    .as_ref()
                    .is_none_or(|calls| calls.iter().all(|t| !t.kind.is_empty()))
        });
    canonical.then_some(r)
}

/// [`completion_from_slice`] for a body already parsed as JSON (`raw` is the body, for the
/// excerpt).
pub fn completion_from_value(
    status: u16,
    mut value: Value,
    raw: &[u8],
) -> Result<ChatResponse, ProviderError> {
    if let Some(err) = in_band_error(&value) {
        return Err(err.with_body(&String::from_utf8_lossy(raw)));
    }
    if !normalise_completion(&mut value) {
        return Err(invalid(
            status,
            format!(
                "upstream answered HTTP {status} with JSON that is not a chat completion (no choices[0].message)"
            ),
            raw,
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        invalid(
            status,
            format!(
                "upstream answered HTTP {status} with a chat completion that cannot be read ({e})"
            ),
            raw,
        )
    })
}

/// Parse the data of one stream event as a chunk, leniently (SPEC §11). `ids` carries the
/// stream's id and `created` from chunk to chunk.
///
/// Errors: data that is not a JSON object is [`ErrorKind::InvalidResponse`]; an event
/// carrying an error ([`in_band_error`]) is that error.
pub fn chunk_from_str(data: &str, ids: &mut StreamIds) -> Result<ChatChunk, ProviderError> {
    let mut value: Value = serde_json::from_str(data).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidResponse,
            format!("an upstream stream event is not JSON ({e})"),
        )
        .with_body(data)
    })?;
    if let Some(err) = in_band_error(&value) {
        return Err(err.with_body(data));
    }
    if !normalise_chunk(&mut value, ids) {
        return Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            "an upstream stream event is not a JSON object",
        )
        .with_body(data));
    }
    serde_json::from_value(value).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidResponse,
            format!("an upstream stream event cannot be read as a chat chunk ({e})"),
        )
        .with_body(data)
    })
}

fn invalid(status: u16, message: String, body: &[u8]) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidResponse, message)
        .with_status(status)
        .with_body(&String::from_utf8_lossy(body))
}
