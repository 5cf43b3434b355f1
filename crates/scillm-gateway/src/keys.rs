//! Client keys of `[gateway] keys` (SPEC §17): who may call, which models, how fast.
//!
//! A key is an environment reference (`os.environ/NAME` or `env:NAME`) read once when the
//! gateway is built, or the hex SHA-256 of the key (`key_sha256`). Only digests are kept
//! and compared, in constant time ([`scillm_serve::KeySet`]).
//!
//! Per-key `rpm` and `tpm` are GCRA limits (the `governor` crate): `rpm` allows bursts of
//! one second's share (`rpm/60`, at least 1, as SPEC §13 smooths deployment limits);
//! `tpm` is charged with an estimate (prompt characters / 4 + `max_tokens`) and allows a
//! minute's tokens at once. A chat request over a key's limit is refused with 429 and
//! `Retry-After` (the time until it would be admitted); a batch line waits for the key's
//! capacity instead ([`ClientKey::wait`]), so batches and chat requests of one key share
//! one budget, as LiteLLM charges every request of a virtual key to its rpm/tpm.

use std::collections::HashMap;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use scillm_core::config::GatewayKey;
use scillm_serve::{ApiError, KeySet};
use secrecy::SecretString;
use serde_json::Value;

use crate::error::GatewayError;

/// One client key's name, models and limiters.
#[derive(Debug)]
pub struct ClientKey {
    /// The key's name (for logs; never the key).
    pub name: String,
    models: Option<HashSet<String>>,
    rpm: Option<DefaultDirectRateLimiter>,
    tpm: Option<(DefaultDirectRateLimiter, u32)>,
}

impl ClientKey {
    /// Whether this key may use `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|m| m.contains(model))
    }

    /// The models this key may use among `all`.
    pub fn visible<'a>(&self, all: &'a [String]) -> Vec<&'a String> {
        all.iter().filter(|m| self.allows(m)).collect()
    }

    /// Take one request of `tokens` estimated tokens from the key's limits, or the error
    /// to answer: 429 with `Retry-After` while the key is over its rpm/tpm, 400 when the
    /// estimate exceeds the key's whole tpm (no wait would ever admit it, so a client's
    /// retries on 429 would only delay the error). Nothing is taken when refused with 400.
    pub fn admit(&self, tokens: u32) -> Result<(), ApiError> {
        if let Some((_, limit)) = &self.tpm {
            if u64::from(tokens) > u64::from(*limit) {
                return Err(ApiError::bad_request(
                    "tokens_exceed_key_tpm",
                    format!(
                        "this request's estimated {tokens} tokens exceed key `{}`'s whole tpm of {limit}: lower max_tokens or raise the key's tpm",
                        self.name
                    ),
                ));
            }
        }
        let clock = DefaultClock::default();
        if let Some(rpm) = &self.rpm {
            if let Err(not_until) = rpm.check() {
                let wait = not_until.wait_time_from(clock.now());
                return Err(limited(&self.name, "requests per minute (rpm)", wait));
            }
        }
        if let Some((tpm, limit)) = &self.tpm {
            let n = NonZeroU32::new(tokens.max(1)).unwrap_or(NonZeroU32::MIN);
            match tpm.check_n(n) {
                Ok(Ok(())) => {}
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(clock.now());
                    return Err(limited(&self.name, "tokens per minute (tpm)", wait));
                }
                Err(_) => {
                    return Err(ApiError::bad_request(
                        "tokens_exceed_key_tpm",
                        format!(
                            "this request's estimated {tokens} tokens exceed key `{}`'s whole tpm of {limit}",
                            self.name
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Wait until the key's limits admit one request of `tokens` estimated tokens, then
    /// take it (a batch line: it waits for capacity instead of being refused, as a batch
    /// has its completion window to finish in). Cancel by dropping the future.
    ///
    /// Errors: the estimate exceeds the key's whole tpm, so the request could never be
    /// admitted (the message says to lower `max_tokens` or raise the key's tpm).
    pub async fn wait(&self, tokens: u32) -> Result<(), String> {
        if let Some(rpm) = &self.rpm {
            rpm.until_ready().await;
        }
        if let Some((tpm, limit)) = &self.tpm {
            let n = NonZeroU32::new(tokens.max(1)).unwrap_or(NonZeroU32::MIN);
            if tpm.until_n_ready(n).await.is_err() {
                return Err(format!(
                    "this request's estimated {tokens} tokens exceed key `{}`'s whole tpm of {limit}: lower max_tokens or raise the key's tpm",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

fn limited(name: &str, what: &str, wait: Duration) -> ApiError {
    ApiError::rate_limited(
        "key_rate_limited",
        format!("key `{name}` is over its {what}: retry after the Retry-After seconds"),
        wait,
    )
}

/// The client keys: by bearer digest (to authenticate) and by name (a batch's owner).
#[derive(Debug, Default)]
pub struct Keys {
    /// By digest, compared in constant time.
    pub set: KeySet<Arc<ClientKey>>,
    /// By `name`.
    pub by_name: HashMap<String, Arc<ClientKey>>,
}

/// Build the keys of `keys`, reading env references from `env`.
pub fn build(
    keys: &[GatewayKey],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Keys, GatewayError> {
    let mut set = KeySet::new();
    let mut by_name = HashMap::new();
    let mut names = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let bad = |message: String| GatewayError::Key {
            name: if k.name.is_empty() {
                format!("#{i}")
            } else {
                k.name.clone()
            },
            message,
        };
        if k.name.trim().is_empty() {
            return Err(bad("every key needs a `name`".into()));
        }
        if names.insert(k.name.clone(), i).is_some() {
            return Err(bad("two keys have this name: names must be unique".into()));
        }
        let client = Arc::new(ClientKey {
            name: k.name.clone(),
            models: models(&k.models).map_err(bad)?,
            rpm: k.rpm.map(rpm_limiter).transpose().map_err(bad)?,
            tpm: k
                .tpm
                .map(|t| tpm_limiter(t).map(|l| (l, t)))
                .transpose()
                .map_err(bad)?,
        });
        match (&k.key, &k.key_sha256) {
            (Some(reference), None) => {
                let var = env_reference(reference).ok_or_else(|| {
                    bad("`key` must name an environment variable as `os.environ/NAME` or `env:NAME` (got a value that is neither; never put the key itself in the file, or use key_sha256)".to_string())
                })?;
                let value = env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    bad(format!(
                        "environment variable {var} (from `key`) is not set"
                    ))
                })?;
                set.insert(&SecretString::from(value), Arc::clone(&client));
            }
            (None, Some(hex)) => {
                let digest = scillm_serve::parse_digest(hex).ok_or_else(|| {
                    bad(
                        "key_sha256 must be 64 hex digits (`printf %s \"$KEY\" | sha256sum`)"
                            .into(),
                    )
                })?;
                set.insert_digest(digest, Arc::clone(&client));
            }
            _ => {
                return Err(bad(
                    "give exactly one of `key` (an env reference) or `key_sha256`".into(),
                ))
            }
        }
        by_name.insert(k.name.clone(), client);
    }
    Ok(Keys { set, by_name })
}

/// The variable name of `os.environ/NAME` or `env:NAME`.
fn env_reference(reference: &str) -> Option<&str> {
    let r = reference.trim();
    r.strip_prefix("os.environ/")
        .or_else(|| r.strip_prefix("env:"))
        .filter(|n| !n.is_empty())
}

fn models(list: &[String]) -> Result<Option<HashSet<String>>, String> {
    if list.is_empty() {
        return Err("`models` is empty: list model names or \"*\"".into());
    }
    if list.iter().any(|m| m == "*") {
        return Ok(None);
    }
    Ok(Some(list.iter().cloned().collect()))
}

fn rpm_limiter(rpm: u32) -> Result<DefaultDirectRateLimiter, String> {
    let per_minute = NonZeroU32::new(rpm).ok_or("rpm must be at least 1")?;
    let burst = NonZeroU32::new((rpm / 60).max(1)).unwrap_or(NonZeroU32::MIN);
    Ok(RateLimiter::direct(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

fn tpm_limiter(tpm: u32) -> Result<DefaultDirectRateLimiter, String> {
    let per_minute = NonZeroU32::new(tpm).ok_or("tpm must be at least 1")?;
    Ok(RateLimiter::direct(Quota::per_minute(per_minute)))
}

/// The token estimate of a request body (SPEC §13): characters of message text / 4 +
/// `max_tokens` (or `max_completion_tokens`).
pub fn estimate_tokens(body: &Value) -> u32 {
    let mut chars = 0usize;
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            match m.get("content") {
                Some(Value::String(s)) => chars += s.chars().count(),
                Some(Value::Array(parts)) => {
                    for p in parts {
                        if let Some(t) = p.get("text").and_then(Value::as_str) {
                            chars += t.chars().count();
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let max_tokens = ["max_tokens", "max_completion_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .unwrap_or(0);
    let total = (chars / 4) as u64 + max_tokens;
    u32::try_from(total).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str, key: Option<&str>, sha: Option<&str>) -> GatewayKey {
        GatewayKey {
            name: name.into(),
            key: key.map(Into::into),
            key_sha256: sha.map(Into::into),
            models: vec!["*".into()],
            rpm: Some(1),
            tpm: None,
        }
    }

    #[test]
    fn env_references_and_digests_build_and_literals_are_refused() {
        let env = |n: &str| (n == "K1").then(|| "sk-1".to_string());
        let sha = hex_of("sk-2");
        let set = build(
            &[
                key("a", Some("os.environ/K1"), None),
                key("b", None, Some(&sha)),
            ],
            &env,
        );
        let keys = set.unwrap_or_default();
        assert!(keys.by_name.contains_key("a") && keys.by_name.contains_key("b"));
        let set = keys.set;
        assert_eq!(set.find("sk-1").map(|k| k.name.as_str()), Some("a"));
        assert_eq!(set.find("sk-2").map(|k| k.name.as_str()), Some("b"));
        let err = build(&[key("c", Some("sk-literal"), None)], &env).err();
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("os.environ/NAME"));
        let err = build(&[key("d", Some("env:MISSING"), None)], &env).err();
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("MISSING"));
    }

    #[test]
    fn rpm_refuses_the_second_request_with_a_wait() {
        let env = |_: &str| Some("k".to_string());
        let set = build(&[key("a", Some("env:X"), None)], &env)
            .unwrap_or_default()
            .set;
        let k = set.find("k");
        assert!(k.is_some_and(|k| k.admit(1).is_ok()));
        let e = k.and_then(|k| k.admit(1).err());
        assert_eq!(e.as_ref().map(|e| e.status.as_u16()), Some(429));
        assert!(e
            .and_then(|e| e.retry_after_s)
            .is_some_and(|s| (1..=60).contains(&s)));
    }

    #[test]
    fn token_estimate_counts_text_and_max_tokens() {
        let body = json!({"messages":[{"role":"user","content":"abcdefgh"},
            {"role":"user","content":[{"type":"text","text":"abcd"}]}], "max_tokens": 10});
        assert_eq!(estimate_tokens(&body), 13);
    }

    fn hex_of(s: &str) -> String {
        scillm_serve::digest(s)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
