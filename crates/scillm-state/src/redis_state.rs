//! [`RedisState`]: [`RedisStore`] with a [`LocalState`] answering while Redis is
//! unreachable.

use std::time::Duration;

use async_trait::async_trait;

use crate::link::{RedisStateOptions, StateError};
use crate::redis_store::RedisStore;
use crate::{Admission, LocalState, RateLimit, SharedState};

/// State shared through Redis (SPEC §18), per process while Redis is down.
#[derive(Debug)]
pub struct RedisState {
    store: RedisStore,
    local: LocalState,
}

impl RedisState {
    /// State in the Redis at `url`, with the default timing. Connects lazily: a Redis that
    /// is down now is not an error (calls fall back until it answers). Needs a tokio
    /// runtime.
    pub fn new(url: &str) -> Result<Self, StateError> {
        Self::with_options(url, RedisStateOptions::default())
    }

    /// As [`RedisState::new`], with explicit timing.
    pub fn with_options(url: &str, options: RedisStateOptions) -> Result<Self, StateError> {
        Ok(Self {
            store: RedisStore::new(url, options)?,
            local: LocalState::new(),
        })
    }

    /// Whether the last call reached Redis (false during an outage's back-off).
    pub fn is_shared(&self) -> bool {
        self.store.is_up()
    }
}

#[async_trait]
impl SharedState for RedisState {
    async fn try_acquire(&self, deployment: &str, limit: RateLimit, tokens: u64) -> Admission {
        if limit.is_unlimited() {
            return Admission::Granted;
        }
        match self.store.try_acquire(deployment, limit, tokens).await {
            Some(answer) => answer,
            None => self.local.try_acquire(deployment, limit, tokens).await,
        }
    }

    async fn correct_tokens(&self, deployment: &str, limit: RateLimit, delta: i64) {
        let Some(tpm) = limit.tpm.filter(|t| *t > 0) else {
            return;
        };
        if delta == 0 {
            return;
        }
        if self
            .store
            .correct_tokens(deployment, tpm, delta)
            .await
            .is_none()
        {
            self.local.correct_tokens(deployment, limit, delta).await;
        }
    }

    async fn start_cooldown(&self, deployment: &str, duration: Duration) {
        // Also kept locally, so a cooldown started during an outage is still honoured here.
        self.local.start_cooldown(deployment, duration).await;
        let _ = self.store.start_cooldown(deployment, duration).await;
    }

    async fn cooldowns(&self, deployments: &[&str]) -> Vec<Option<Duration>> {
        let local = self.local.cooldowns(deployments).await;
        match self.store.cooldowns(deployments).await {
            Some(shared) => local
                .into_iter()
                .zip(shared)
                .map(|(l, s)| l.max(s))
                .collect(),
            None => local,
        }
    }

    async fn next_rotation(&self, model_name: &str) -> u64 {
        match self.store.next_rotation(model_name).await {
            Some(n) => n,
            None => self.local.next_rotation(model_name).await,
        }
    }
}
