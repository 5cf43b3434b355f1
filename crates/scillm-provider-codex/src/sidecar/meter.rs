//! Counting Codex turns (SPEC §16): `scillm_codex_turns_total{backend,outcome}`, one
//! count per turn a backend ran or refused, whatever way it ended.

use scillm_core::config::CodexBackend;
use scillm_serve::ApiError;
use scillm_telemetry::record;

use super::turn::End;

/// The outcome label of a failed turn: `timeout` (504: `ABS_TIMEOUT_S`/`IDLE_TIMEOUT_S`),
/// `rate_limited` (429: the account's window is used up), `failed` (Codex reported
/// `turn.failed`), else `error` (the child exited, output not understood, no answer, …).
pub fn outcome_of(e: &ApiError) -> &'static str {
    match e.status.as_u16() {
        504 => "timeout",
        429 => "rate_limited",
        _ if e.body.error.code.as_ref().and_then(|c| c.as_str()) == Some("codex_failed") => {
            "failed"
        }
        _ => "error",
    }
}

/// Counts one turn of a backend: once with how it ended ([`TurnMeter::ended`]), or as
/// `interrupted` when dropped before that (the client went away and the turn was stopped).
#[derive(Debug)]
pub struct TurnMeter {
    backend: &'static str,
    counted: bool,
}

impl TurnMeter {
    /// A turn of `backend` has started.
    pub fn new(backend: CodexBackend) -> Self {
        Self {
            backend: backend.as_str(),
            counted: false,
        }
    }

    /// The turn ended with `end` (counted once; later calls do nothing).
    pub fn ended(&mut self, end: &End) {
        if self.counted {
            return;
        }
        self.counted = true;
        let outcome = match end {
            End::Done(_) => "completed",
            End::Failed(e) => outcome_of(e),
        };
        record::codex_turn(self.backend, outcome);
    }

    /// A turn `backend` refused to start (quota used up, app-server not starting).
    pub fn refused(backend: CodexBackend, e: &ApiError) {
        record::codex_turn(backend.as_str(), outcome_of(e));
    }
}

impl Drop for TurnMeter {
    fn drop(&mut self) {
        if !self.counted {
            record::codex_turn(self.backend, "interrupted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_bounded_outcomes() {
        assert_eq!(outcome_of(&ApiError::timeout("t", "slow")), "timeout");
        assert_eq!(
            outcome_of(&ApiError::upstream("codex_failed", "no")),
            "failed"
        );
        assert_eq!(
            outcome_of(&ApiError::upstream("codex_app_server_exited", "gone")),
            "error"
        );
        let quota = ApiError::rate_limited("q", "used up", std::time::Duration::from_secs(3));
        assert_eq!(outcome_of(&quota), "rate_limited");
    }
}
