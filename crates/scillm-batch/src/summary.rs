//! [`Summary`]: what a batch did — counts and p50/p99 `timing_ms` by `error_type`, token
//! totals and requests per second (SPEC §14). Times go into a histogram per
//! `error_type`, so the summary's memory does not grow with the number of lines.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use scillm_core::wire::ChatResponse;
use scillm_router::ErrorType;
use serde::Serialize;
use serde_json::{json, Value};

use crate::line::ItemStats;

/// Token totals, from each answer's `usage` (OpenAI's field names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    /// `usage.prompt_tokens`.
    pub prompt: u64,
    /// `usage.completion_tokens`.
    pub completion: u64,
    /// `usage.prompt_tokens_details.cached_tokens`.
    pub cached: u64,
    /// `usage.completion_tokens_details.reasoning_tokens`.
    pub reasoning: u64,
}

impl Tokens {
    /// The usage of one answer (zero without `usage`).
    pub fn of(response: &ChatResponse) -> Self {
        let Some(u) = &response.usage else {
            return Self::default();
        };
        let detail = |outer: &str, inner: &str| {
            u.extra
                .get(outer)
                .and_then(|d| d.get(inner))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        Self {
            prompt: u.prompt_tokens,
            completion: u.completion_tokens,
            cached: detail("prompt_tokens_details", "cached_tokens"),
            reasoning: detail("completion_tokens_details", "reasoning_tokens"),
        }
    }

    fn add(&mut self, other: Tokens) {
        self.prompt += other.prompt;
        self.completion += other.completion;
        self.cached += other.cached;
        self.reasoning += other.reasoning;
    }
}

/// The results of one `error_type`.
#[derive(Debug, Clone)]
struct TypeStats {
    count: u64,
    times: Option<Histogram<u64>>,
}

impl TypeStats {
    fn new() -> Self {
        Self {
            count: 0,
            // Auto-resizing, 3 significant figures: a few KiB whatever the line count.
            times: Histogram::new(3).ok(),
        }
    }

    fn quantile(&self, q: f64) -> u64 {
        self.times.as_ref().map_or(0, |h| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        })
    }
}

/// What a batch did. Counts by `error_type` and times are for the results this run
/// wrote; lines kept from an earlier run are counted in `resumed` / `resumed_errors`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Input lines, when known before the run (a file is counted first).
    pub total_lines: Option<u64>,
    /// Lines whose earlier result was kept (`--resume`).
    pub resumed: u64,
    /// Of those, results whose `error_type` is not `ok`.
    pub resumed_errors: u64,
    /// Whether the run was cancelled from outside (Ctrl-C, SIGTERM, the caller's token):
    /// lines not started then have no result.
    pub interrupted: bool,
    /// Token totals of the results this run wrote.
    pub tokens: Tokens,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Most finished results held in memory at once waiting for an earlier line (input
    /// order); never more than the reorder window.
    pub reorder_peak: usize,
    /// Results dropped from memory past the reorder window and read back from the
    /// journal when their turn came.
    pub reorder_spilled: u64,
    by_type: BTreeMap<&'static str, TypeStats>,
}

impl Summary {
    /// Count one result written by this run.
    pub fn add(&mut self, s: &ItemStats) {
        let t = self
            .by_type
            .entry(s.error_type.as_str())
            .or_insert_with(TypeStats::new);
        t.count += 1;
        if let Some(h) = t.times.as_mut() {
            let _ = h.record(s.timing_ms);
        }
        self.tokens.add(s.tokens);
    }

    /// Results written by this run.
    pub fn written(&self) -> u64 {
        self.by_type.values().map(|t| t.count).sum()
    }

    /// Results of this run with `error_type` `ok`.
    pub fn ok(&self) -> u64 {
        self.of(ErrorType::Ok)
    }

    /// Results of this run with any other `error_type`.
    pub fn errors(&self) -> u64 {
        self.written() - self.ok()
    }

    /// Results of this run with `error_type`.
    pub fn of(&self, error_type: ErrorType) -> u64 {
        self.by_type.get(error_type.as_str()).map_or(0, |t| t.count)
    }

    /// Lines of the output that ended in error: this run's and the kept ones.
    pub fn output_errors(&self) -> u64 {
        self.errors() + self.resumed_errors
    }

    /// Input lines with no result in the output (known when the line count is).
    pub fn missing(&self) -> Option<u64> {
        self.total_lines
            .map(|t| t.saturating_sub(self.resumed + self.written()))
    }

    /// Results written per second of wall time.
    pub fn requests_per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.written() as f64 / s
        } else {
            0.0
        }
    }

    /// The summary as JSON (what `--summary-json` writes): `total_lines`, `written`,
    /// `resumed`, `resumed_errors`, `missing`, `interrupted`, `ok`, `errors`,
    /// `by_error_type {type: {count, p50_ms, p99_ms}}`, `tokens {prompt, completion,
    /// cached, reasoning}`, `elapsed_s`, `requests_per_second`, `reorder_peak`,
    /// `reorder_spilled`.
    pub fn to_json(&self) -> Value {
        let by_type: serde_json::Map<String, Value> = self
            .by_type
            .iter()
            .map(|(k, t)| {
                (
                    (*k).to_string(),
                    json!({"count": t.count, "p50_ms": t.quantile(0.5), "p99_ms": t.quantile(0.99)}),
                )
            })
            .collect();
        json!({
            "total_lines": self.total_lines,
            "written": self.written(),
            "resumed": self.resumed,
            "resumed_errors": self.resumed_errors,
            "missing": self.missing(),
            "interrupted": self.interrupted,
            "ok": self.ok(),
            "errors": self.errors(),
            "by_error_type": by_type,
            "tokens": self.tokens,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests_per_second": self.requests_per_second(),
            "reorder_peak": self.reorder_peak,
            "reorder_spilled": self.reorder_spilled,
        })
    }

    /// The table printed after a batch: one row per `error_type` with count, p50 and p99
    /// `timing_ms`, then the totals, tokens and rate.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>10} {:>10}",
            "error_type", "count", "p50_ms", "p99_ms"
        );
        for (kind, t) in &self.by_type {
            let _ = writeln!(
                out,
                "{:<16} {:>8} {:>10} {:>10}",
                kind,
                t.count,
                t.quantile(0.5),
                t.quantile(0.99)
            );
        }
        let _ = writeln!(out, "{:<16} {:>8}", "total", self.written());
        if self.resumed > 0 {
            let _ = writeln!(
                out,
                "resumed: {} lines kept from the earlier run ({} errors)",
                self.resumed, self.resumed_errors
            );
        }
        if let Some(m) = self.missing().filter(|m| *m > 0) {
            let _ = writeln!(
                out,
                "missing: {m} lines have no result yet (run again with --resume)"
            );
        }
        let t = &self.tokens;
        let _ = writeln!(
            out,
            "tokens: prompt {} completion {} cached {} reasoning {}",
            t.prompt, t.completion, t.cached, t.reasoning
        );
        let _ = write!(
            out,
            "{:.1} requests/s over {:.2} s",
            self.requests_per_second(),
            self.elapsed.as_secs_f64()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(error_type: ErrorType, timing_ms: u64) -> ItemStats {
        ItemStats {
            error_type,
            timing_ms,
            tokens: Tokens {
                prompt: 3,
                completion: 2,
                cached: 1,
                reasoning: 0,
            },
        }
    }

    #[test]
    fn percentiles_counts_and_tokens() {
        let mut s = Summary::default();
        for ms in 1..=100 {
            s.add(&stats(ErrorType::Ok, ms));
        }
        s.add(&stats(ErrorType::Timeout, 1500));
        let v = s.to_json();
        assert_eq!(v["by_error_type"]["ok"]["count"], 100);
        assert_eq!(v["by_error_type"]["ok"]["p50_ms"], 50);
        assert_eq!(v["by_error_type"]["ok"]["p99_ms"], 99);
        assert_eq!(v["by_error_type"]["timeout"]["p99_ms"], 1500);
        assert_eq!(v["tokens"]["prompt"], 303);
        assert_eq!(v["tokens"]["cached"], 101);
        assert_eq!((s.ok(), s.errors()), (100, 1));
        assert!(s.table().contains("timeout"));
    }
}
