//! Metric names of the shared state (Prometheus form, SPEC §16).

/// Counter: calls to the shared-state backend that failed (Redis unreachable, timed out or
/// answering an error); label `operation` = `acquire` | `correct` | `cooldown` |
/// `cooldowns` | `rotation`.
pub const STATE_BACKEND_ERRORS_TOTAL: &str = "scillm_state_backend_errors_total";

/// Counter: calls answered from process-local state because the shared backend was down
/// (failed just now, or within its back-off after a failure); label `operation` as above.
pub const STATE_FALLBACK_TOTAL: &str = "scillm_state_fallback_total";
