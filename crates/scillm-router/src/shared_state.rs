//! [`SharedRouterState`]: the router's [`RouterState`] shared through Redis (SPEC §18),
//! used by [`crate::Router::new`] when `[state] redis_url` (or `SCILLM_REDIS_URL`) is set.
//!
//! - **Admission** (the one async method) runs one `scillm-state` Lua script in Redis: it
//!   checks the deployment's shared cooldown and charges the rpm/tpm allowance (GCRA,
//!   burst one second's allowance, SPEC §13) in one round trip, so every process using
//!   that Redis draws on one allowance. Requests arriving together are admitted by one
//!   call for the group (see `admission_batch`). A deployment cooled down by another
//!   process is refused there ([`AdmitError`] with `limit = "cooldown"`), and the router
//!   moves on to its next target.
//! - **Cooldowns** are written to Redis (`SET … PX`, keeping the longer) and kept here;
//!   cooldowns started elsewhere are read every [`MIRROR_PERIOD`] (one pipelined `PTTL`)
//!   and whenever admission meets one, so target choice skips them without I/O.
//! - **Token corrections** (an answer's real usage minus its tpm charge) are summed per
//!   deployment and sent by one background task at a time: answers finishing together
//!   cost one Redis call per deployment, not one each.
//! - **Rotation** follows the shared counter (`INCR`), read in the background.
//! - Failures in a row (`allowed_fails`) and the use counted for `usage-based` routing
//!   stay per process.
//!
//! While Redis is unreachable everything is answered by this process's [`LocalState`]
//! (local limits): one warning per outage, `scillm_state_backend_errors_total` and
//! `scillm_state_fallback_total`, and no request fails because of it. After a short
//! back-off the next call tries Redis again; the connection manager reconnects.
//!
//! The Redis connection needs a tokio runtime, which [`crate::Router::new`] may not have:
//! it is made on first use inside one (until then, and outside any runtime, state is
//! per process).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use scillm_state::{Gate, RateLimit, RedisLink, RedisStateOptions, RedisStore, StateError};
use secrecy::{ExposeSecret, SecretString};

use crate::admission_batch::Batcher;
use crate::state::{counter_of, AdmitError, Limits, LocalState, RouterState, Usage};

/// How often cooldowns started by other processes are read from Redis.
pub const MIRROR_PERIOD: Duration = Duration::from_millis(200);

/// What the background tasks share with the state.
#[derive(Debug, Default)]
struct Shared {
    /// Registered deployments and their limits.
    limits: RwLock<HashMap<String, Limits>>,
    /// Cooldowns seen in Redis: deployment → end.
    cooldowns: RwLock<HashMap<String, Instant>>,
    /// Rotation counters, kept at or past the shared counter.
    rotations: RwLock<HashMap<String, Arc<AtomicU64>>>,
    /// Use admitted through Redis in the current minute: deployment → (minute, requests,
    /// tokens).
    usage: Mutex<HashMap<String, (u64, u64, u64)>>,
    /// Token corrections (real usage minus the charge) not sent yet: deployment → (tpm,
    /// summed difference). Sent by one background task at a time, so answers finishing
    /// together cost one Redis call per deployment instead of one each.
    corrections: Mutex<HashMap<String, (u32, i64)>>,
    /// Whether that task is running.
    flushing: std::sync::atomic::AtomicBool,
}

/// Send the pending token corrections until none is left, then stop.
async fn flush_corrections(store: Arc<RedisStore>, shared: Arc<Shared>) {
    loop {
        let pending = shared
            .corrections
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        if pending.is_empty() {
            shared.flushing.store(false, Ordering::Release);
            // A correction added between the take and the store would wait for the next
            // settle; take it now unless another task has started meanwhile.
            let more = shared.corrections.lock().is_ok_and(|m| !m.is_empty());
            if more && !shared.flushing.swap(true, Ordering::AcqRel) {
                continue;
            }
            return;
        }
        for (deployment, (tpm, delta)) in pending {
            if delta != 0 {
                let _ = store.correct_tokens(&deployment, tpm, delta).await;
            }
        }
    }
}

/// Router state shared through Redis, with this process's [`LocalState`] as the fallback.
pub struct SharedRouterState {
    url: SecretString,
    options: RedisStateOptions,
    /// Made on first use inside a runtime (`None`: could not be made; state stays local).
    store: OnceLock<Option<Arc<RedisStore>>>,
    local: LocalState,
    shared: Arc<Shared>,
    batcher: Batcher,
    epoch: Instant,
}

impl std::fmt::Debug for SharedRouterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never shown.
        f.debug_struct("SharedRouterState")
            .field("options", &self.options)
            .field("connected", &self.store.get().is_some())
            .finish_non_exhaustive()
    }
}

impl SharedRouterState {
    /// State in the Redis at `url` (`redis://[user:password@]host:port[/db]` or
    /// `rediss://…`) with the default timing (250 ms timeout, 1 s back-off). Connects on
    /// first use; a Redis that is down then is not an error. Errors: the URL does not
    /// parse ([`StateError::InvalidUrl`], without repeating the URL).
    pub fn new(url: SecretString) -> Result<Self, StateError> {
        Self::with_options(url, RedisStateOptions::default())
    }

    /// As [`SharedRouterState::new`], with explicit timing.
    pub fn with_options(url: SecretString, options: RedisStateOptions) -> Result<Self, StateError> {
        RedisLink::check_url(url.expose_secret())?;
        Ok(Self {
            url,
            options,
            store: OnceLock::new(),
            local: LocalState::new(),
            shared: Arc::new(Shared::default()),
            batcher: Batcher::default(),
            epoch: Instant::now(),
        })
    }

    /// The Redis store, made on the first call inside a tokio runtime (which also starts
    /// the cooldown mirror on it). `None` outside a runtime.
    fn store(&self) -> Option<&Arc<RedisStore>> {
        if let Some(made) = self.store.get() {
            return made.as_ref();
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        self.store
            .get_or_init(|| {
                match RedisStore::new(self.url.expose_secret(), self.options) {
                    Ok(store) => {
                        let store = Arc::new(store);
                        handle.spawn(mirror_cooldowns(
                            Arc::clone(&store),
                            Arc::downgrade(&self.shared),
                        ));
                        Some(store)
                    }
                    Err(e) => {
                        // The URL was checked when the state was made; stay per process.
                        tracing::warn!(error = %e, "shared state unavailable; limits stay per process");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn limits(&self, deployment: &str) -> Limits {
        self.shared
            .limits
            .read()
            .ok()
            .and_then(|m| m.get(deployment).copied())
            .unwrap_or_default()
    }

    fn minute(&self) -> u64 {
        self.epoch.elapsed().as_secs() / 60
    }

    fn count_use(&self, deployment: &str, tokens: u64) {
        let minute = self.minute();
        if let Ok(mut m) = self.shared.usage.lock() {
            let e = m.entry(deployment.to_owned()).or_insert((minute, 0, 0));
            if e.0 != minute {
                *e = (minute, 0, 0);
            }
            e.1 += 1;
            e.2 = e.2.saturating_add(tokens);
        }
    }

    /// Note a cooldown met in Redis so target choice skips the deployment from now on.
    fn mirror(&self, deployment: &str, left: Duration) {
        if let Ok(mut m) = self.shared.cooldowns.write() {
            m.insert(deployment.to_owned(), Instant::now() + left);
        }
    }
}

/// Read the cooldowns of every registered deployment from Redis, until the state is gone.
async fn mirror_cooldowns(store: Arc<RedisStore>, shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(MIRROR_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let names: Vec<String> = match shared.limits.read() {
            Ok(m) => m.keys().cloned().collect(),
            Err(_) => return,
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        if let Some(left) = store.cooldowns(&refs).await {
            let now = Instant::now();
            if let Ok(mut m) = shared.cooldowns.write() {
                m.clear();
                for (name, left) in names.iter().zip(left) {
                    if let Some(left) = left {
                        m.insert(name.clone(), now + left);
                    }
                }
            }
        }
    }
}

/// Run `f` on the current runtime without waiting for it (no runtime: not run).
fn in_background(f: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(f);
    }
}

fn rate_limit(l: Limits) -> RateLimit {
    RateLimit {
        rpm: l.rpm,
        tpm: l.tpm.map(|t| u32::try_from(t).unwrap_or(u32::MAX)),
    }
}

#[async_trait]
impl RouterState for SharedRouterState {
    fn register(&self, deployment: &str, limits: Limits) {
        self.local.register(deployment, limits);
        if let Ok(mut m) = self.shared.limits.write() {
            m.insert(deployment.to_owned(), limits);
        }
    }

    async fn admit(
        &self,
        deployment: &str,
        tokens: u64,
        deadline: Option<Instant>,
    ) -> Result<(), AdmitError> {
        let Some(store) = self.store() else {
            return self.local.admit(deployment, tokens, deadline).await;
        };
        let limits = self.limits(deployment);
        let limit = rate_limit(limits);
        // First in a group with the requests arriving meanwhile; a group's refusal, and
        // every later try, asks for this request alone.
        let mut first = true;
        loop {
            let gate = if first {
                first = false;
                match self.batcher.admit(store, deployment, limit, tokens).await {
                    Some(g) if g.size > 1 && !matches!(g.gate, Some(Gate::Open)) => continue,
                    Some(g) => g.gate,
                    None => {
                        store
                            .acquire_unless_cooling(deployment, limit, tokens)
                            .await
                    }
                }
            } else {
                store
                    .acquire_unless_cooling(deployment, limit, tokens)
                    .await
            };
            match gate {
                Some(Gate::Open) => {
                    self.count_use(deployment, tokens);
                    return Ok(());
                }
                Some(Gate::Cooling(left)) => {
                    self.mirror(deployment, left);
                    return Err(AdmitError {
                        limit: "cooldown",
                        wait: left,
                    });
                }
                Some(Gate::Wait(wait)) => {
                    if deadline.is_some_and(|d| Instant::now() + wait > d) {
                        // The script charges both limits or neither; name the one set.
                        let which = if limits.rpm.is_some() { "rpm" } else { "tpm" };
                        return Err(AdmitError { limit: which, wait });
                    }
                    tokio::time::sleep(wait).await;
                }
                None => return self.local.admit(deployment, tokens, deadline).await,
            }
        }
    }

    fn settle(&self, deployment: &str, charged: u64, actual: u64) {
        let store = self.store().filter(|s| s.is_up());
        let Some(store) = store else {
            // Admitted by the local limits: correct those.
            self.local.settle(deployment, charged, actual);
            return;
        };
        let Some(tpm) = rate_limit(self.limits(deployment)).tpm else {
            return;
        };
        let delta = i64::try_from(actual)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(charged).unwrap_or(i64::MAX));
        if delta == 0 {
            return;
        }
        if let Ok(mut m) = self.shared.corrections.lock() {
            let e = m.entry(deployment.to_owned()).or_insert((tpm, 0));
            e.0 = tpm;
            e.1 = e.1.saturating_add(delta);
        }
        if !self.shared.flushing.swap(true, Ordering::AcqRel) {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(flush_corrections(
                        Arc::clone(store),
                        Arc::clone(&self.shared),
                    ));
                }
                Err(_) => self.shared.flushing.store(false, Ordering::Release),
            }
        }
    }

    fn cool_down(&self, deployment: &str, period: Duration) {
        self.local.cool_down(deployment, period);
        if let Some(store) = self.store() {
            let (store, name) = (Arc::clone(store), deployment.to_owned());
            in_background(async move {
                let _ = store.start_cooldown(&name, period).await;
            });
        }
    }

    fn cooldown_left(&self, deployment: &str) -> Option<Duration> {
        let local = self.local.cooldown_left(deployment);
        let now = Instant::now();
        let shared = self
            .shared
            .cooldowns
            .read()
            .ok()
            .and_then(|m| m.get(deployment).copied())
            .filter(|until| *until > now)
            .map(|until| until - now);
        local.max(shared)
    }

    fn record_failure(&self, deployment: &str) -> u32 {
        self.local.record_failure(deployment)
    }

    fn record_success(&self, deployment: &str) {
        self.local.record_success(deployment);
    }

    fn next_rotation(&self, model: &str) -> u64 {
        let Some(store) = self.store() else {
            return self.local.next_rotation(model);
        };
        let Some(counter) = counter_of(&self.shared.rotations, model) else {
            return self.local.next_rotation(model);
        };
        let value = counter.fetch_add(1, Ordering::Relaxed);
        // Move the shared counter too, and catch up with what other processes took.
        let (store, name) = (Arc::clone(store), model.to_owned());
        in_background(async move {
            if let Some(shared) = store.next_rotation(&name).await {
                counter.fetch_max(shared.saturating_add(1), Ordering::Relaxed);
            }
        });
        value
    }

    fn usage(&self, deployment: &str) -> Usage {
        let minute = self.minute();
        let mine = self
            .shared
            .usage
            .lock()
            .ok()
            .and_then(|m| m.get(deployment).copied())
            .filter(|e| e.0 == minute)
            .map(|e| Usage {
                requests: e.1,
                tokens: e.2,
            })
            .unwrap_or_default();
        let local = self.local.usage(deployment);
        Usage {
            requests: mine.requests.saturating_add(local.requests),
            tokens: mine.tokens.saturating_add(local.tokens),
        }
    }
}
