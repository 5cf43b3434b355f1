//! [`ApiBase`]: an upstream base URL that follows the no-`/v1` rule.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An absolute http(s) base URL without a trailing `/v1`: providers append
/// `/v1/chat/completions` themselves. A trailing `/` is trimmed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiBase(String);

/// Why a string is not a valid [`ApiBase`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API base `{value}` {reason}{}", fix.as_ref().map(|f| format!("; use `{f}`")).unwrap_or_default())]
pub struct BaseError {
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
    /// The corrected value, when there is an obvious one.
    pub fix: Option<String>,
}

impl ApiBase {
    /// Check `raw` against the base rule.
    pub fn parse(raw: &str) -> Result<Self, BaseError> {
        let value = raw.trim();
        let err = |reason: &str, fix: Option<String>| BaseError {
            value: raw.to_string(),
            reason: reason.to_string(),
            fix,
        };
        let trimmed = value.trim_end_matches('/');
        let url = match url::Url::parse(trimmed) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
            _ => {
                let fix = (!value.contains("://") && !value.is_empty())
                    .then(|| format!("http://{}", trimmed));
                return Err(err(
                    "is not an absolute http(s) URL (like http://127.0.0.1:8077)",
                    fix,
                ));
            }
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(err("must not carry a query or fragment", None));
        }
        if let Some(fix) = pasted_endpoint_base(trimmed) {
            return Err(err(
                "ends in /chat/completions (a pasted endpoint): give the base, the provider appends /v1/chat/completions itself",
                Some(fix),
            ));
        }
        if trimmed.ends_with("/v1") {
            let fix = trimmed.trim_end_matches("/v1").to_string();
            return Err(err(
                "must not end in /v1: the provider appends /v1/chat/completions itself",
                Some(fix),
            ));
        }
        Ok(ApiBase(trimmed.to_string()))
    }

    /// The base as a string, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{base}/v1/{path}`.
    pub fn v1(&self, path: &str) -> String {
        format!("{}/v1/{}", self.0, path.trim_start_matches('/'))
    }

    /// `{base}/v1/chat/completions`.
    pub fn chat_completions_url(&self) -> String {
        self.v1("chat/completions")
    }

    /// `{base}/{path}` (for routes outside `/v1`, such as `/healthz`).
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.0, path.trim_start_matches('/'))
    }
}

/// The base a pasted endpoint URL stands for: `…/v1/chat/completions` → `…`,
/// `…/chat/completions` → `…` (SPEC §11). `None` when `url` is no such endpoint.
fn pasted_endpoint_base(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let cut = lower.strip_suffix("/chat/completions")?.len();
    let base = &url[..cut];
    let base = base
        .strip_suffix("/v1")
        .or_else(|| base.strip_suffix("/V1"))
        .unwrap_or(base);
    Some(base.to_string())
}

impl fmt::Display for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiBase({:?})", self.0)
    }
}

impl std::str::FromStr for ApiBase {
    type Err = BaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ApiBase {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ApiBase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ApiBase::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_trims() {
        let b = ApiBase::parse("http://127.0.0.1:8077/").unwrap();
        assert_eq!(b.as_str(), "http://127.0.0.1:8077");
        assert_eq!(
            b.chat_completions_url(),
            "http://127.0.0.1:8077/v1/chat/completions"
        );
        assert!(ApiBase::parse("https://gw.example.com/proxy").is_ok());
        assert!(ApiBase::parse("https://gw.example.com/v1beta").is_ok());
    }

    #[test]
    fn rejects_v1_with_the_fix() {
        for raw in ["http://127.0.0.1:8077/v1", "http://127.0.0.1:8077/v1/"] {
            let e = ApiBase::parse(raw).unwrap_err();
            assert_eq!(e.fix.as_deref(), Some("http://127.0.0.1:8077"));
            let msg = e.to_string();
            assert!(msg.contains(raw) && msg.contains("/v1"), "{msg}");
        }
    }

    #[test]
    fn rejects_a_pasted_chat_completions_endpoint_with_the_fix() {
        for (raw, fix) in [
            (
                "http://127.0.0.1:8077/v1/chat/completions",
                "http://127.0.0.1:8077",
            ),
            (
                "https://gw.example.com/openai/chat/completions/",
                "https://gw.example.com/openai",
            ),
        ] {
            let e = ApiBase::parse(raw).unwrap_err();
            assert_eq!(e.fix.as_deref(), Some(fix), "{raw}");
            assert!(e.to_string().contains("/chat/completions"), "{e}");
            assert!(ApiBase::parse(fix).is_ok());
        }
    }

    #[test]
    fn rejects_non_urls() {
        for raw in ["127.0.0.1:8077", "ftp://x", "", "not a url", "/relative"] {
            assert!(ApiBase::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(
            ApiBase::parse("localhost:8077").unwrap_err().fix.as_deref(),
            Some("http://localhost:8077")
        );
    }
}
