//! The three places entries live: this process's memory (`moka`), Redis (shared by every
//! process using it) and a directory on disk (`cacache`, for `scillm batch` reruns).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scillm_state::RedisLink;

/// A backend failure (logged and counted by the caller; never a failed request).
pub(crate) type StoreError = String;

/// Where entries live.
pub(crate) enum Store {
    /// In memory, bounded by entry count, each entry expiring `ttl` after it was written.
    Local(moka::future::Cache<String, Arc<[u8]>>),
    /// In Redis under the key itself (prefixed `scillm:`), with `SET … PX ttl`.
    Redis {
        /// The connection.
        link: RedisLink,
        /// Entry lifetime.
        ttl: Duration,
    },
    /// In a `cacache` directory; an entry older than `ttl` is removed when read.
    Disk {
        /// The directory.
        dir: PathBuf,
        /// Entry lifetime.
        ttl: Duration,
    },
}

impl Store {
    /// An in-memory store.
    pub(crate) fn local(ttl: Duration, max_entries: u64) -> Self {
        Store::Local(
            moka::future::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        )
    }

    /// The backend's name (the `backend` metric label).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Store::Local(_) => "local",
            Store::Redis { .. } => "redis",
            Store::Disk { .. } => "disk",
        }
    }

    /// The entry under `key`, if any and not expired.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Arc<[u8]>>, StoreError> {
        match self {
            Store::Local(cache) => Ok(cache.get(key).await),
            Store::Redis { link, .. } => {
                let key = key.to_owned();
                link.call("cache_get", |mut conn| async move {
                    redis::cmd("GET")
                        .arg(&key)
                        .query_async::<Option<Vec<u8>>>(&mut conn)
                        .await
                })
                .await
                .map(|v| v.map(Arc::from))
                .ok_or_else(|| "Redis unreachable".to_owned())
            }
            Store::Disk { dir, ttl } => {
                let meta = cacache::metadata(dir, key)
                    .await
                    .map_err(|e| format!("reading the cache index: {e}"))?;
                let Some(meta) = meta else {
                    return Ok(None);
                };
                let age_ms = now_ms().saturating_sub(meta.time);
                if age_ms > ttl.as_millis() {
                    // Expired: forget it (a failed removal only costs a later miss again).
                    let _ = cacache::remove(dir, key).await;
                    return Ok(None);
                }
                let bytes = cacache::read_hash(dir, &meta.integrity)
                    .await
                    .map_err(|e| format!("reading a cache entry: {e}"))?;
                Ok(Some(Arc::from(bytes)))
            }
        }
    }

    /// Store `value` under `key`.
    pub(crate) async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        match self {
            Store::Local(cache) => {
                cache.insert(key.to_owned(), Arc::from(value)).await;
                Ok(())
            }
            Store::Redis { link, ttl } => {
                let key = key.to_owned();
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                link.call("cache_put", |mut conn| async move {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(value)
                        .arg("PX")
                        .arg(ms)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await
                .ok_or_else(|| "Redis unreachable".to_owned())
            }
            Store::Disk { dir, .. } => cacache::write(dir, key, value)
                .await
                .map(|_| ())
                .map_err(|e| format!("writing a cache entry under {}: {e}", dir.display())),
        }
    }
}

/// Milliseconds since the Unix epoch (cacache's entry time unit).
fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
