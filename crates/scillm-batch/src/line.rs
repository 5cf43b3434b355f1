//! One input line to a request, one result to its output line, and what a written line
//! says about itself when a batch is resumed.

use scillm_core::ErrorKind;
use scillm_router::{ErrorType, RequestItem, RouterResult};
use serde::Deserialize;
use serde_json::Value;

use crate::options::Resume;
use crate::summary::Tokens;

/// Values filled into lines that do not set them (`--provider`, `--api-base`).
#[derive(Debug, Clone, Default)]
pub struct LineDefaults {
    /// `custom_llm_provider`.
    pub provider: Option<String>,
    /// `api_base`.
    pub api_base: Option<String>,
}

/// The request of one input line (without its newline). A blank line, a line that is not
/// UTF-8 or not JSON becomes an invalid item, so that it still gets its result line.
pub fn parse_line(line: &[u8], defaults: &LineDefaults) -> RequestItem {
    let Ok(text) = std::str::from_utf8(line) else {
        return RequestItem::Invalid("line is not UTF-8 text: expected one JSON request".into());
    };
    if text.trim().is_empty() {
        return RequestItem::Invalid("line is empty: expected one JSON request".into());
    }
    match RequestItem::from_json_line(text) {
        RequestItem::Raw(Value::Object(mut m)) => {
            if let Some(p) = &defaults.provider {
                m.entry("custom_llm_provider")
                    .or_insert_with(|| Value::from(p.as_str()));
            }
            if let Some(b) = &defaults.api_base {
                m.entry("api_base")
                    .or_insert_with(|| Value::from(b.as_str()));
            }
            RequestItem::Raw(Value::Object(m))
        }
        other => other,
    }
}

/// The exact output line `scillm batch` writes for `result`: the result's JSON (OpenAI
/// response object plus `scillm_router`, SPEC §6) and a newline.
pub fn result_line(result: &RouterResult) -> Vec<u8> {
    let mut line = serde_json::to_vec(result).unwrap_or_else(|e| {
        // Not reachable with serde_json's own maps; kept so a line is always written.
        serde_json::to_vec(&serde_json::json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}}],
            "scillm_router": {"index": result.meta.index, "error_type": "provider_error",
                "error_kind": "internal", "exception": format!("result not serialisable: {e}")}
        }))
        .unwrap_or_default()
    });
    line.push(b'\n');
    line
}

/// What the summary needs from one result.
#[derive(Debug, Clone, Copy)]
pub struct ItemStats {
    /// The outcome class.
    pub error_type: ErrorType,
    /// `timing_ms`.
    pub timing_ms: u64,
    /// Its token usage.
    pub tokens: Tokens,
}

impl ItemStats {
    /// The stats of `result`.
    pub fn of(result: &RouterResult) -> Self {
        Self {
            error_type: result.meta.error_type,
            timing_ms: result.meta.timing_ms,
            tokens: Tokens::of(&result.response),
        }
    }
}

/// The fields of a written line that resuming reads.
#[derive(Debug, Deserialize)]
struct Peek {
    scillm_router: PeekMeta,
}

#[derive(Debug, Deserialize)]
struct PeekMeta {
    index: usize,
    error_type: ErrorType,
    #[serde(default)]
    error_kind: Option<ErrorKind>,
}

/// A written result line as resuming sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenLine {
    /// `scillm_router.index`.
    pub index: usize,
    /// Its `error_type`.
    pub error_type: ErrorType,
    /// Whether the line's result stands under `mode` (else the line runs again).
    pub keep: bool,
}

impl WrittenLine {
    /// Read a written line (with or without its newline); `None` when it is not a result.
    pub fn parse(line: &[u8], mode: Resume) -> Option<Self> {
        let peek: Peek = serde_json::from_slice(line).ok()?;
        let m = peek.scillm_router;
        Some(Self {
            index: m.index,
            error_type: m.error_type,
            keep: !reruns(m.error_type, m.error_kind, mode),
        })
    }
}

/// Whether a line that ended with `error_type` / `error_kind` runs again under `mode`
/// (SPEC §14): `cancelled`, `timeout` and `rate_limited` always; every error with
/// [`Resume::Errors`]; only `cancelled` with [`Resume::Unfinished`].
pub fn reruns(error_type: ErrorType, error_kind: Option<ErrorKind>, mode: Resume) -> bool {
    if error_type == ErrorType::Ok {
        return false;
    }
    if mode == Resume::Unfinished {
        return error_kind == Some(ErrorKind::Cancelled);
    }
    mode == Resume::Errors
        || error_type == ErrorType::Timeout
        || matches!(
            error_kind,
            Some(ErrorKind::Cancelled | ErrorKind::Timeout | ErrorKind::RateLimited)
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use scillm_core::ProviderError;

    #[test]
    fn a_result_line_reads_back_with_its_disposition() {
        let cancelled = RouterResult::failed(
            4,
            Some("m"),
            ProviderError::new(ErrorKind::Cancelled, "stop"),
        );
        let line = result_line(&cancelled);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let w = WrittenLine::parse(&line, Resume::Missing).unwrap();
        assert_eq!((w.index, w.keep), (4, false));
        let bad = RouterResult::failed(5, None, ProviderError::from_status(400, "no"));
        let line = result_line(&bad);
        assert!(WrittenLine::parse(&line, Resume::Missing).unwrap().keep);
        assert!(!WrittenLine::parse(&line, Resume::Errors).unwrap().keep);
        assert!(WrittenLine::parse(b"{\"partial", Resume::Missing).is_none());
        let timeout = RouterResult::failed(6, None, ProviderError::new(ErrorKind::Timeout, "t"));
        let line = result_line(&timeout);
        assert!(!WrittenLine::parse(&line, Resume::Missing).unwrap().keep);
        assert!(WrittenLine::parse(&line, Resume::Unfinished).unwrap().keep);
        let line = result_line(&cancelled);
        assert!(!WrittenLine::parse(&line, Resume::Unfinished).unwrap().keep);
    }

    #[test]
    fn lines_get_defaults_and_bad_lines_stay_items() {
        let d = LineDefaults {
            provider: Some("openai".into()),
            api_base: Some("http://127.0.0.1:9".into()),
        };
        let RequestItem::Raw(v) = parse_line(br#"{"model":"m","messages":[]}"#, &d) else {
            panic!("not raw")
        };
        assert_eq!(v["custom_llm_provider"], "openai");
        assert!(matches!(parse_line(b"  ", &d), RequestItem::Invalid(_)));
        assert!(matches!(
            parse_line(&[0xff, 0xfe], &d),
            RequestItem::Invalid(_)
        ));
    }
}
