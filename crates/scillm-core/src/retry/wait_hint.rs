//! Upstream wait hints (SPEC §11): `retry-after-ms`, `x-ms-retry-after-ms`,
//! `Retry-After` and an exhausted 429's `x-ratelimit-reset-*`, strongest first.

use std::time::{Duration, SystemTime};

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
/// `max_retry_after` and the deadline check are [`run_with_retry`](super::run_with_retry)'s job. `status` is
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
