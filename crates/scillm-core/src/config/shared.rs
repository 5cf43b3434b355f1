//! `[state]` and `[cache]`: state shared between processes through Redis and the response
//! cache (SPEC §18).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::model::{redact, secs};

/// `[state]`: where rate-limit use, cooldowns and rotation live (SPEC §18).
///
/// Without `redis_url` every process keeps its own state. With it, every process using that
/// Redis shares one rpm/tpm allowance per deployment, one cooldown list and one rotation.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `redis://[user:password@]host:port[/db]` (also `rediss://`); env `SCILLM_REDIS_URL`.
    /// Secret: the URL may carry a password, so it is redacted wherever it is shown.
    #[serde(serialize_with = "redact")]
    pub redis_url: Option<SecretString>,
}

impl StateConfig {
    /// The Redis of `redis_url` as it may be shown (a start-up line, a status page):
    /// scheme, host, port and a numeric database (a Unix socket: its path), never the user,
    /// password, query, or any other path (a password with an unencoded `/` would land
    /// there). `None` without `redis_url`; a URL that does not parse shows as
    /// `"(an unparsable Redis URL)"`.
    pub fn redis_display(&self) -> Option<String> {
        let raw = self.redis_url.as_ref()?;
        let Ok(u) = url::Url::parse(raw.expose_secret()) else {
            return Some("(an unparsable Redis URL)".to_string());
        };
        let scheme = u.scheme();
        Some(match u.host_str() {
            None => format!("{scheme}://{}", u.path()),
            Some(host) => {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                let db = u.path().trim_start_matches('/');
                let db = if !db.is_empty() && db.bytes().all(|b| b.is_ascii_digit()) {
                    format!("/{db}")
                } else {
                    String::new()
                };
                format!("{scheme}://{host}{port}{db}")
            }
        })
    }
}

/// `[cache] mode`: where cached responses live (SPEC §18).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// No response cache (the default).
    #[default]
    Off,
    /// In this process's memory.
    Local,
    /// In the Redis of `[state] redis_url`, shared by every process using it.
    Redis,
    /// In a directory on disk (`[cache] path`), so a rerun of `scillm batch` finds it.
    Disk,
}

impl CacheMode {
    /// The name as written in `[cache] mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Local => "local",
            Self::Redis => "redis",
            Self::Disk => "disk",
        }
    }
}

/// `[cache]`: the response cache (SPEC §18).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// `off` | `local` | `redis` | `disk`.
    pub mode: CacheMode,
    /// How long an entry is served, in seconds (default one day).
    pub ttl_s: f64,
    /// Also answer streamed requests from the cache (replayed as one chunk).
    pub cache_stream: bool,
    /// Also cache requests sent with `temperature > 0`.
    pub cache_nondeterministic: bool,
    /// Most entries kept by `mode = "local"`.
    pub max_entries: u64,
    /// Directory of `mode = "disk"` (default `.scillm-cache` in the working directory).
    pub path: PathBuf,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            mode: CacheMode::Off,
            ttl_s: 86_400.0,
            cache_stream: false,
            cache_nondeterministic: false,
            max_entries: 10_000,
            path: PathBuf::from(".scillm-cache"),
        }
    }
}

impl CacheConfig {
    /// The entry lifetime.
    pub fn ttl(&self) -> Duration {
        secs(self.ttl_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(url: &str) -> Option<String> {
        StateConfig {
            redis_url: Some(SecretString::from(url.to_string())),
        }
        .redis_display()
    }

    #[test]
    fn the_shown_redis_address_never_carries_credentials() {
        assert_eq!(
            shown("redis://user:s3cret@10.0.0.5:6380/2").as_deref(),
            Some("redis://10.0.0.5:6380/2")
        );
        assert_eq!(
            shown("rediss://:s3cret@cache.internal:6379/0?protocol=resp3").as_deref(),
            Some("rediss://cache.internal:6379/0")
        );
        assert_eq!(
            shown("redis+unix:///run/redis.sock?db=1&pass=s3cret").as_deref(),
            Some("redis+unix:///run/redis.sock")
        );
        // An unencoded `/` in the password puts its end in the path: never shown.
        assert_eq!(
            shown("redis://default:12/cd@cache.internal:6379").as_deref(),
            Some("redis://default:12")
        );
        assert_eq!(
            shown("not a url s3cret").as_deref(),
            Some("(an unparsable Redis URL)")
        );
        assert_eq!(StateConfig::default().redis_display(), None);
    }
}
