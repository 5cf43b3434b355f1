//! [`Router`]: built once from a [`Config`]; single calls, parallel calls and streams.

use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use scillm_cache::{CacheDirectives, CachePlan};
use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_core::{ChunkStream, Config, ErrorKind, ProviderError};

use crate::cache::CacheSlot;
use crate::cache_stream;
use crate::deployments::DeploymentTable;
use crate::error::RouterError;
use crate::failover::Policy;
use crate::options::ParallelOptions;
use crate::parallel;
use crate::request::{RequestItem, RouterRequest};
use crate::resolve::Resolver;
use crate::result::RouterResult;
use crate::run::{run_item, RunSettings};
use crate::shared_state::SharedRouterState;
use crate::state::{LocalState, RouterState};
use crate::strategy::Picker;
use crate::stream::{self, RoutedStream};

/// What clones of a router share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: Arc<Config>,
    pub(crate) resolver: Resolver,
    pub(crate) policy: Policy,
    pub(crate) cache: CacheSlot,
}

/// Routes chat requests to providers: resolution, failover, JSON checks and bounded
/// parallel calls, every result with its `scillm_router` metadata.
///
/// The config is read once, when the router is built: a changed environment or config
/// file means building a new `Router` (load a new [`Config`] and call [`Router::new`]).
/// Cloning is cheap and clones share deployments, cooldowns and provider instances.
#[derive(Debug, Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

impl Router {
    /// Build a router from `config`: one provider instance per `model_list` deployment.
    /// A deployment whose provider is not compiled in (or cannot be built) is an error
    /// naming the deployment and the cargo feature that is missing.
    ///
    /// Rate-limit use, cooldowns and rotation are shared through Redis when `[state]
    /// redis_url` (or `SCILLM_REDIS_URL`) is set ([`SharedRouterState`], SPEC §18), else
    /// kept in this process ([`LocalState`]). A Redis URL that does not parse is an error;
    /// a Redis that is down is not (limits stay per process until it answers).
    pub fn new(config: Arc<Config>) -> Result<Self, RouterError> {
        let state: Arc<dyn RouterState> = match &config.state.redis_url {
            Some(url) => Arc::new(
                SharedRouterState::new(url.clone())
                    .map_err(|e| RouterError::State(e.to_string()))?,
            ),
            None => Arc::new(LocalState::new()),
        };
        Self::with_state(config, state)
    }

    /// Build a router whose rate-limit use, cooldowns and rotation live in `state` (e.g.
    /// a store shared by several processes, SPEC §18).
    pub fn with_state(
        config: Arc<Config>,
        state: Arc<dyn RouterState>,
    ) -> Result<Self, RouterError> {
        let table = DeploymentTable::build(&config, state.as_ref())?;
        let cache = CacheSlot::new(&config)?;
        let resolver = Resolver::new(Arc::clone(&config), table);
        let router = &config.router;
        let policy = Policy {
            picker: Picker::new(router.routing_strategy, router.seed),
            num_retries: router.num_retries,
            allowed_fails: router.allowed_fails,
            max_wait: std::time::Duration::from_secs(router.max_retry_after_s),
            state,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                resolver,
                policy,
                cache,
            }),
        })
    }

    /// The config this router was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The model names of `model_list`, sorted.
    pub fn model_names(&self) -> Vec<String> {
        self.inner.resolver.model_names()
    }

    /// One call with full metadata (index 0). Never fails: errors are in the result.
    /// The per-request timeout is the item's own, else `router.timeout_s`.
    pub async fn completion(&self, item: impl Into<RequestItem>) -> RouterResult {
        run_item(
            &self.inner,
            0,
            item.into(),
            Instant::now(),
            &RunSettings::single(),
        )
        .await
    }

    /// Item `index` of a batch the caller schedules itself (e.g. `scillm-batch`, which runs
    /// each item as its own task so that items use every core): the same path as one slot
    /// of [`Router::parallel`] — `queued_at` is when the item was queued (for `queue_ms`),
    /// `settings` carry the timeout, deterministic mode and the cancellation token (a
    /// cancelled token ends the item `cancelled` with the reason set in
    /// `settings.reason`). Never fails: errors are in the result.
    pub async fn run_item(
        &self,
        index: usize,
        item: RequestItem,
        queued_at: Instant,
        settings: &RunSettings,
    ) -> RouterResult {
        run_item(&self.inner, index, item, queued_at, settings).await
    }

    /// One call, returning the response as is (JSON checks do not turn it into an error)
    /// or the provider's error.
    pub async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let result = self.completion(RouterRequest::new(request)).await;
        match result.error {
            Some(e) => Err(e),
            None => Ok(result.response),
        }
    }

    /// A streamed call (a [`ChatRequest`] or a [`RouterRequest`] with routing keys),
    /// routed like every other call: deployment slots, rate-limit admission, cooldowns,
    /// failover and retries until the stream is open, the request's timeout. Failover
    /// only happens before the first chunk; no JSON checks run.
    pub async fn chat_stream(
        &self,
        request: impl Into<RouterRequest>,
    ) -> Result<ChunkStream, ProviderError> {
        match self.stream_completion(request).await {
            Ok(s) => Ok(s.stream),
            Err(r) => Err(r.error.unwrap_or_else(|| {
                ProviderError::new(ErrorKind::Internal, "the stream failed without an error")
            })),
        }
    }

    /// Like [`Router::chat_stream`], with the `scillm_router` record of the call that
    /// opened the stream (deployment, provider, attempts, `queue_ms`, `timing_ms` to the
    /// open stream). A failure is the item's error result.
    pub async fn stream_completion(
        &self,
        request: impl Into<RouterRequest>,
    ) -> Result<RoutedStream, Box<crate::RouterResult>> {
        let mut item: RouterRequest = request.into();
        // The directives are for this router; an upstream would refuse the unknown field.
        let directives = CacheDirectives::take(&mut item.request);
        let mut store_key = None;
        let cache = self.inner.cache.get().await;
        if let Some(cache) = cache {
            if let CachePlan::Use { key, read, write } = cache.plan(&item.request, directives) {
                if read {
                    if let Some(hit) = cache.get(&key).await {
                        let mut meta = crate::RouterMeta::new(0);
                        meta.model = Some(item.request.model.clone());
                        meta.cache_hit = Some(true);
                        return Ok(RoutedStream {
                            meta,
                            attempts: 0,
                            stream: cache_stream::replay(hit),
                        });
                    }
                }
                store_key = write.then_some(key);
            }
        }
        let mut routed = stream::open(&self.inner, item).await?;
        routed.meta.cache_hit = cache.map(|_| false);
        if let Some(key) = store_key {
            let model = routed.meta.model.clone().unwrap_or_default();
            routed.stream =
                cache_stream::store_when_done(routed.stream, Arc::clone(&self.inner), key, model);
        }
        Ok(routed)
    }

    /// Run `items` with bounded concurrency and return exactly one result per item, in
    /// input order. Invalid items, timeouts, panics and cancellations give error results
    /// in their slots.
    pub async fn parallel<I>(&self, items: Vec<I>, opts: ParallelOptions) -> Vec<RouterResult>
    where
        I: Into<RequestItem>,
    {
        let n = items.len();
        let items: Vec<RequestItem> = items.into_iter().map(Into::into).collect();
        let stream = parallel::in_place(Arc::clone(&self.inner), items, opts);
        // Run and collect on one runtime worker task: the items are polled in place there,
        // so a finished request wakes that task and no other thread.
        let collector = AbortOnDrop(tokio::spawn(async move {
            let mut slots: Vec<Option<RouterResult>> = (0..n).map(|_| None).collect();
            let mut stream = std::pin::pin!(stream);
            while let Some((index, result)) = stream.next().await {
                if let Some(slot) = slots.get_mut(index) {
                    *slot = Some(result);
                }
            }
            slots
        }));
        let slots = match collector.await {
            Ok(slots) => slots,
            Err(_) => (0..n).map(|_| None).collect(),
        };
        slots
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    let e = ProviderError::new(ErrorKind::Internal, "the item produced no result");
                    RouterResult::failed(i, None, e)
                })
            })
            .collect()
    }

    /// Like [`Router::parallel`], but yields `(index, result)` as items finish. Dropping
    /// the stream aborts the items still running.
    pub fn parallel_stream<I>(
        &self,
        items: Vec<I>,
        opts: ParallelOptions,
    ) -> impl Stream<Item = (usize, RouterResult)> + Send + 'static
    where
        I: Into<RequestItem>,
    {
        let items: Vec<RequestItem> = items.into_iter().map(Into::into).collect();
        parallel::stream(Arc::clone(&self.inner), items, opts)
    }
}

/// Aborts the spawned task when the future awaiting it is dropped, so dropping
/// [`Router::parallel`] stops the batch.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
