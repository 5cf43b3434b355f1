//! `[state]` and `[cache]`: state shared between processes through Redis and the response
//! cache (SPEC §18).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
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
