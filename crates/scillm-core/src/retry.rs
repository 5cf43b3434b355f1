//! The one retry policy: backoff with jitter, wait hints, caps, deadline and [`RetryStats`].
//!
//! Sleep before retry `n` (1-based) is `min(base·2^(n-1), max) · (1.05 + 0.10·u)` with `u`
//! uniform in `[0,1)`, drawn from a seeded RNG when a seed is configured (SPEC §4). An
//! upstream wait hint ([`wait_hint`]: `retry-after-ms`, `x-ms-retry-after-ms`,
//! `Retry-After`, an exhausted 429's `x-ratelimit-reset-*`; SPEC §11) replaces the
//! backoff; a wait beyond `max_retry_after` or past the deadline ends retrying with a
//! `rate_limited` error.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, ProviderError};

/// Retry settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Extra attempts after the first (default 2).
    pub max_retries: u32,
    /// Backoff base (default 120 ms).
    pub base: Duration,
    /// Backoff ceiling before jitter (default 1500 ms).
    pub max_backoff: Duration,
    /// The longest wait hint honoured (default 60 s, `max_retry_after_s`).
    pub max_retry_after: Duration,
    /// Jitter seed; `None` draws from the OS RNG.
    pub seed: Option<u64>,
    /// Log one line per retry (`CODEX_AGENT_LOG_RETRIES=1`).
    pub log_retries: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base: Duration::from_millis(120),
            max_backoff: Duration::from_millis(1500),
            max_retry_after: Duration::from_secs(60),
            seed: None,
            log_retries: false,
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry `n` (1-based) for a jitter draw `u` in `[0,1)`.
    pub fn backoff(&self, n: u32, u: f64) -> Duration {
        let exp = n.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exp);
        let capped = raw.min(self.max_backoff);
        capped.mul_f64(1.05 + 0.10 * u.clamp(0.0, 1.0))
    }

    /// A jitter source: seeded when the policy has a seed.
    pub fn jitter(&self) -> Jitter {
        match self.seed {
            Some(seed) => Jitter::seeded(seed),
            None => Jitter::random(),
        }
    }
}

/// Draws the `u` of the backoff formula.
#[derive(Debug)]
pub struct Jitter(StdRng);

impl Jitter {
    /// A reproducible sequence.
    pub fn seeded(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }

    /// A sequence from the OS RNG.
    pub fn random() -> Self {
        Self(StdRng::from_os_rng())
    }

    /// The next `u` in `[0,1)`.
    pub fn next_unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }
}

/// Parse a `Retry-After` value: delta-seconds or an HTTP-date (a date in the past is zero).
/// Returns `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    if let Some(secs) = non_negative_f64(v) {
        return Some(Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parse a millisecond count (`retry-after-ms`, `x-ms-retry-after-ms`): an integer or a
/// decimal number of milliseconds.
pub fn parse_millis(value: &str) -> Option<Duration> {
    non_negative_f64(value.trim()).map(|ms| Duration::from_secs_f64(ms / 1000.0))
}

/// Parse an OpenAI rate-limit reset duration (`x-ratelimit-reset-requests` /
/// `-tokens`): a sequence of number + unit (`h`, `m`, `s`, `ms`, `us`/`µs`, `ns`) such as
/// `20ms`, `1s`, `6m0s`, `1h2m3.5s`, or a bare number of seconds.
pub fn parse_reset_duration(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Some(secs) = non_negative_f64(v) {
        return Some(Duration::from_secs_f64(secs));
    }
    let mut total = 0f64;
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total))
}

fn non_negative_f64(v: &str) -> Option<f64> {
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0 && !v.starts_with(['+', '-'])).then_some(secs)
}

/// The wait an upstream asked for before the next attempt (SPEC §11), or `None`.
///
/// Only a 429 or 503 carries a wait hint. Strongest first:
/// 1. `retry-after-ms`, then `x-ms-retry-after-ms` (milliseconds; OpenAI SDKs, Azure);
/// 2. `Retry-After` (delta-seconds or HTTP-date, RFC 9110 §10.2.3);
/// 3. on a 429 whose `x-ratelimit-remaining-requests` or `-tokens` is `0`, the matching
///    `x-ratelimit-reset-requests` / `-tokens` (OpenAI durations such as `6m0s`); when
///    both are exhausted, the longer of the two.
///
/// Values that do not parse are ignored (the next form is tried). Capping at
/// `max_retry_after` and the deadline check are [`run_with_retry`]'s job. `status` is
/// the status the failure stands for (the code of an error inside a 2xx body included).
pub fn wait_hint(status: u16, headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    if status != 429 && status != 503 {
        return None;
    }
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(d) = ["retry-after-ms", "x-ms-retry-after-ms"]
        .iter()
        .find_map(|n| get(n).and_then(parse_millis))
    {
        return Some(d);
    }
    if let Some(d) = get("retry-after").and_then(|v| parse_retry_after(v, now)) {
        return Some(d);
    }
    if status != 429 {
        return None;
    }
    ["requests", "tokens"]
        .iter()
        .filter(|what| {
            get(&format!("x-ratelimit-remaining-{what}")).and_then(|v| v.trim().parse::<f64>().ok())
                == Some(0.0)
        })
        .filter_map(|what| get(&format!("x-ratelimit-reset-{what}")).and_then(parse_reset_duration))
        .max()
}

/// What the retry loop did, reported for successes and failures alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryStats {
    /// Retries done (attempts after the first).
    pub attempts: u32,
    /// Attempts that failed.
    pub failures: u32,
    /// Total time slept between attempts.
    pub total_sleep_ms: u64,
    /// The last wait hint the upstream sent ([`wait_hint`]), in seconds (may be fractional).
    pub last_retry_after_s: Option<f64>,
    /// The status of the last attempt (when it had one).
    pub final_status: Option<u16>,
    /// The status of the first failed attempt.
    pub first_failure_status: Option<u16>,
    /// The sleep before each retry, in ms.
    pub retry_sequence: Vec<u64>,
    /// The status of each attempt that had one, in order.
    pub statuses: Vec<u16>,
}

/// A shared slot a provider writes its [`RetryStats`] into, so a caller sees them even
/// when the call fails.
#[derive(Debug, Clone, Default)]
pub struct RetryStatsSlot(Arc<Mutex<Option<RetryStats>>>);

impl RetryStatsSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Store the stats of a finished call.
    pub fn record(&self, stats: RetryStats) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(stats);
        }
    }

    /// The stats recorded so far.
    pub fn get(&self) -> Option<RetryStats> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

/// Whether an error of this kind is worth another attempt.
pub fn is_retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Server
            | ErrorKind::Connect
            | ErrorKind::Timeout
            | ErrorKind::InvalidResponse
            | ErrorKind::RateLimited
    )
}

/// Run `attempt` under `policy` until it succeeds, fails for good, or time runs out.
///
/// `attempt(n)` gets the 0-based attempt number and returns the value with the HTTP status
/// it came with. The stats are written to `slot` whatever the outcome.
pub async fn run_with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    slot: &RetryStatsSlot,
    label: &str,
    mut attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(T, Option<u16>), ProviderError>>,
{
    let mut stats = RetryStats::default();
    let mut jitter = policy.jitter();
    let mut n = 0u32;
    loop {
        let err = match attempt(n).await {
            Ok((value, status)) => {
                if let Some(s) = status {
                    stats.statuses.push(s);
                }
                stats.final_status = status;
                slot.record(stats);
                return Ok(value);
            }
            Err(e) => e,
        };
        stats.failures += 1;
        stats.final_status = err.status;
        if let Some(s) = err.status {
            stats.statuses.push(s);
            stats.first_failure_status.get_or_insert(s);
        }
        if let Some(ra) = err.retry_after {
            stats.last_retry_after_s = Some(ra.as_secs_f64());
        }
        if !is_retryable(err.kind) || n >= policy.max_retries {
            slot.record(stats);
            return Err(err);
        }
        let wait = match next_wait(policy, &err, deadline, &mut jitter, n + 1) {
            Ok(w) => w,
            Err(e) => {
                slot.record(stats);
                return Err(e);
            }
        };
        n += 1;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        stats.attempts = n;
        stats.retry_sequence.push(ms);
        stats.total_sleep_ms = stats.total_sleep_ms.saturating_add(ms);
        if policy.log_retries {
            tracing::warn!(
                target: "scillm::retry",
                "{label}: retry {n}/{} after {ms} ms ({})",
                policy.max_retries,
                err
            );
        }
        tokio::time::sleep(wait).await;
    }
}

/// The wait before retry `n`, or the error that ends retrying.
fn next_wait(
    policy: &RetryPolicy,
    err: &ProviderError,
    deadline: Option<Instant>,
    jitter: &mut Jitter,
    n: u32,
) -> Result<Duration, ProviderError> {
    let wait = match err.retry_after {
        Some(ra) if ra > policy.max_retry_after => {
            return Err(rate_limited(err, format!(
                "upstream asked to wait {:.1} s (its wait hint), beyond the {:.0} s this client waits (max_retry_after_s); last upstream error: {}",
                ra.as_secs_f64(),
                policy.max_retry_after.as_secs_f64(),
                err.message
            )));
        }
        Some(ra) => ra,
        None => policy.backoff(n, jitter.next_unit()),
    };
    if let Some(d) = deadline {
        if Instant::now() + wait >= d {
            if err.retry_after.is_some() {
                return Err(rate_limited(
                    err,
                    format!(
                        "upstream asked to wait {:.1} s (its wait hint), past the call's deadline; last upstream error: {}",
                        wait.as_secs_f64(),
                        err.message
                    ),
                ));
            }
            let mut e = err.clone();
            e.message = format!("{} (no time left for another attempt)", e.message);
            return Err(e);
        }
    }
    Ok(wait)
}

fn rate_limited(err: &ProviderError, message: String) -> ProviderError {
    ProviderError {
        kind: ErrorKind::RateLimited,
        status: err.status,
        message,
        body_excerpt: err.body_excerpt.clone(),
        retry_after: err.retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_for_a_fixed_seed_is_reproducible_and_follows_the_formula() {
        let p = RetryPolicy {
            seed: Some(42),
            ..RetryPolicy::default()
        };
        let mut a = p.jitter();
        let mut b = p.jitter();
        let seq_a: Vec<_> = (1..=5).map(|n| p.backoff(n, a.next_unit())).collect();
        let seq_b: Vec<_> = (1..=5).map(|n| p.backoff(n, b.next_unit())).collect();
        assert_eq!(seq_a, seq_b);
        let mut j = Jitter::seeded(42);
        for (i, d) in seq_a.iter().enumerate() {
            let n = i as u32 + 1;
            let u = j.next_unit();
            let expect = (120.0 * 2f64.powi(n as i32 - 1)).min(1500.0) * (1.05 + 0.10 * u);
            assert!(
                (d.as_secs_f64() * 1000.0 - expect).abs() < 0.01,
                "{d:?} vs {expect}"
            );
        }
    }

    #[test]
    fn backoff_bounds_without_a_seed() {
        let p = RetryPolicy::default();
        let mut j = p.jitter();
        for n in 1..=10 {
            let d = p.backoff(n, j.next_unit()).as_secs_f64() * 1000.0;
            let raw = (120.0 * 2f64.powi(n as i32 - 1)).min(1500.0);
            assert!(
                d >= raw * 1.05 - 1e-6 && d < raw * 1.15 + 1e-6,
                "n={n} d={d}"
            );
        }
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(126));
        assert_eq!(p.backoff(20, 0.0), Duration::from_millis(1575));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let future = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&future, now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reset_durations_in_openai_form() {
        assert_eq!(
            parse_reset_duration("20ms"),
            Some(Duration::from_millis(20))
        );
        assert_eq!(parse_reset_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_reset_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(
            parse_reset_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(
            parse_reset_duration("2.5"),
            Some(Duration::from_millis(2500))
        );
        for bad in ["", "soon", "5x", "-1s", "s"] {
            assert_eq!(parse_reset_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn wait_hints_strongest_first() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let all = headers(&[
            ("retry-after-ms", "250"),
            ("x-ms-retry-after-ms", "900"),
            ("retry-after", "7"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "6m0s"),
        ]);
        assert_eq!(wait_hint(429, &all, now), Some(Duration::from_millis(250)));
        assert_eq!(wait_hint(503, &all, now), Some(Duration::from_millis(250)));
        assert_eq!(wait_hint(500, &all, now), None);
        assert_eq!(wait_hint(200, &all, now), None);
        let azure = headers(&[("x-ms-retry-after-ms", "1500.5"), ("retry-after", "7")]);
        assert_eq!(
            wait_hint(429, &azure, now),
            Some(Duration::from_secs_f64(1.5005))
        );
        let ra = headers(&[("retry-after-ms", "later"), ("retry-after", "7")]);
        assert_eq!(wait_hint(429, &ra, now), Some(Duration::from_secs(7)));
        let tokens = headers(&[
            ("x-ratelimit-remaining-requests", "12"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "20ms"),
        ]);
        assert_eq!(
            wait_hint(429, &tokens, now),
            Some(Duration::from_millis(20))
        );
        assert_eq!(wait_hint(503, &tokens, now), None);
        let both = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "20ms"),
        ]);
        assert_eq!(wait_hint(429, &both, now), Some(Duration::from_secs(1)));
        let not_exhausted = headers(&[
            ("x-ratelimit-remaining-requests", "3"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        assert_eq!(wait_hint(429, &not_exhausted, now), None);
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            seed: Some(1),
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn stats_after_two_failures_then_success() {
        let slot = RetryStatsSlot::new();
        let calls = AtomicU32::new(0);
        let out = run_with_retry(&fast(), None, &slot, "t", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(ProviderError::from_status(502, "bad gateway"))
                } else {
                    Ok(("ok", Some(200)))
                }
            }
        })
        .await;
        assert_eq!(out.ok(), Some("ok"));
        let s = slot.get().unwrap_or_default();
        assert_eq!(s.failures, 2);
        assert_eq!(s.attempts, 2);
        assert_eq!(s.final_status, Some(200));
        assert_eq!(s.first_failure_status, Some(502));
        assert_eq!(s.retry_sequence.len(), 2);
        assert_eq!(s.statuses, vec![502, 502, 200]);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_but_stats_are_kept() {
        let slot = RetryStatsSlot::new();
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = run_with_retry(&fast(), None, &slot, "t", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(ProviderError::from_status(401, "no")) }
        })
        .await;
        assert_eq!(out.err().map(|e| e.kind), Some(ErrorKind::Auth));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let s = slot.get().unwrap_or_default();
        assert_eq!((s.failures, s.attempts, s.final_status), (1, 0, Some(401)));
    }

    #[tokio::test]
    async fn retry_after_beyond_cap_gives_up_at_once() {
        let slot = RetryStatsSlot::new();
        let started = Instant::now();
        let out: Result<(), _> = run_with_retry(&fast(), None, &slot, "t", |_| async {
            Err(ProviderError::from_status(429, "slow down")
                .with_retry_after(Some(Duration::from_secs(3600))))
        })
        .await;
        let err = out.err().map(|e| e.kind);
        assert_eq!(err, Some(ErrorKind::RateLimited));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(slot.get().and_then(|s| s.last_retry_after_s), Some(3600.0));
    }

    #[tokio::test]
    async fn retry_after_past_the_deadline_gives_up_as_rate_limited() {
        let slot = RetryStatsSlot::new();
        let deadline = Instant::now() + Duration::from_millis(200);
        let out: Result<(), _> = run_with_retry(&fast(), Some(deadline), &slot, "t", |_| async {
            Err(ProviderError::from_status(429, "").with_retry_after(Some(Duration::from_secs(5))))
        })
        .await;
        assert_eq!(out.err().map(|e| e.kind), Some(ErrorKind::RateLimited));
    }
}
