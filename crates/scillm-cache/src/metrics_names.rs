//! Metric names of the response cache (Prometheus form, SPEC §16).

/// Counter: lookups, labels `backend` = `local` | `redis` | `disk` and `result` = `hit` |
/// `miss` (a backend error counts as a miss).
pub const CACHE_REQUESTS_TOTAL: &str = "scillm_cache_requests_total";

/// Counter: requests that left the cache alone, label `reason` = `stream` |
/// `nondeterministic` | `directive`.
pub const CACHE_SKIPPED_TOTAL: &str = "scillm_cache_skipped_total";

/// Counter: answers stored, label `backend`.
pub const CACHE_WRITES_TOTAL: &str = "scillm_cache_writes_total";

/// Counter: backend failures (Redis unreachable, disk unreadable, a corrupt entry), labels
/// `backend` and `operation` = `get` | `put`. The request goes on as a miss.
pub const CACHE_ERRORS_TOTAL: &str = "scillm_cache_errors_total";
