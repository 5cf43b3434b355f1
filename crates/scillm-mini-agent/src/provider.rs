//! The `mini-agent` provider (alias `mini_agent`, cargo feature `mini-agent`): a Router
//! deployment that runs the agent in-process.
//!
//! ```toml
//! [mini_agent]
//! model = "gpt-4o-mini"           # what the agent drives when the deployment names nothing
//!
//! [[model_list]]
//! model_name = "agent"
//! provider = "mini-agent"
//! model = "gpt-4o-mini"           # optional: the model the agent drives
//! ```
//!
//! The agent calls its model through a router built from the same config. A model that is
//! itself served by `mini-agent` is refused, so the agent never calls itself.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use scillm_core::registry::ProviderRegistration;
use scillm_core::wire::{ChatChunk, ChatRequest, ChatResponse, Delta, Role};
use scillm_core::{
    CallContext, ChunkStream, Config, ErrorKind, Provider, ProviderError, ProviderSettings,
    SharedProvider,
};
use tokio::sync::OnceCell;

use futures::StreamExt;

use crate::agent::{Agent, AgentRequest, EventSink};
use crate::shim::inner_model;

/// The registered name.
pub const NAME: &str = "mini-agent";

scillm_core::inventory::submit! {
    ProviderRegistration {
        name: NAME,
        aliases: &["mini_agent"],
        description: "The sandboxed tool-using mini-agent, in-process: drives mini_agent.model (or the deployment's model) with exec_python/exec_shell/echo tools",
        build,
    }
}

fn build(settings: &ProviderSettings) -> Result<SharedProvider, ProviderError> {
    Ok(Arc::new(MiniAgentProvider::new(settings)))
}

/// Runs the agent loop for each chat request; the answer is the agent's final answer.
#[derive(Debug)]
pub struct MiniAgentProvider {
    config: Arc<Config>,
    deployment_model: Option<String>,
    agent: OnceCell<Agent>,
}

impl MiniAgentProvider {
    /// A provider for `settings`; the agent (and its router) is built on first use.
    pub fn new(settings: &ProviderSettings) -> Self {
        Self {
            config: Arc::clone(&settings.config),
            deployment_model: settings.model.clone(),
            agent: OnceCell::new(),
        }
    }

    async fn agent(&self) -> Result<&Agent, ProviderError> {
        self.agent
            .get_or_try_init(|| async {
                let router = scillm_router::Router::new(Arc::clone(&self.config)).map_err(|e| {
                    ProviderError::new(ErrorKind::Internal, format!("mini-agent: {e}"))
                })?;
                Ok(crate::setup::agent_from_config(&self.config, Arc::new(router)).await)
            })
            .await
    }

    /// The model the agent drives for `request`: the deployment's model, else the
    /// request's, else `mini_agent.model` — skipping any served by `mini-agent` itself.
    fn inner_model(&self, request: &ChatRequest) -> Result<String, ProviderError> {
        let own: Vec<&str> = self
            .config
            .model_list
            .iter()
            .filter(|d| is_self(&d.provider))
            .map(|d| d.model_name.as_str())
            .collect();
        [
            self.deployment_model.as_deref(),
            Some(request.model.as_str()),
            self.config.mini_agent.model.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(inner_model)
        .find(|m| !own.contains(&m.as_str()))
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                "mini-agent has no model to drive (or only itself): set mini_agent.model \
                 (MINI_AGENT_MODEL) or the deployment's `model` to a model served by another \
                 provider",
            )
        })
    }
}

fn is_self(provider: &str) -> bool {
    let p = provider.trim().to_ascii_lowercase().replace('_', "-");
    p == NAME
}

#[async_trait]
impl Provider for MiniAgentProvider {
    fn name(&self) -> &str {
        NAME
    }

    async fn chat(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let (agent, req) = self.prepare(&request, ctx).await?;
        let run = agent.run(req).await?;
        let mut resp = ChatResponse::from_text(
            crate::shim::completion_id(),
            request.model,
            run.final_answer.clone(),
        );
        resp.extra.insert("mini_agent".into(), run.details());
        Ok(resp)
    }

    /// The run's progress as it happens (model calls, tool calls and results as chunks with
    /// an empty delta and the event under `mini_agent`), then the answer (SPEC §15).
    async fn chat_stream(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let (agent, req) = self.prepare(&request, ctx).await?;
        let id = crate::shim::completion_id();
        let model = request.model;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<ChatChunk, ProviderError>>();
        let first = Delta {
            role: Some(Role::Assistant),
            ..Delta::default()
        };
        let _ = tx.send(Ok(ChatChunk::delta(&id, &model, first, None)));
        // The run stops when the stream is dropped: every send then fails, and the task
        // is aborted by the guard the stream holds.
        let task = tokio::spawn(async move {
            let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
            let progress = tx.clone();
            let (pid, pmodel) = (id.clone(), model.clone());
            let pump = async move {
                while let Some(event) = events_rx.recv().await {
                    let mut chunk = ChatChunk::delta(&pid, &pmodel, Delta::default(), None);
                    chunk
                        .extra
                        .insert("mini_agent".into(), serde_json::json!({ "event": event }));
                    let _ = progress.send(Ok(chunk));
                }
            };
            let work = async move {
                let events = EventSink::new(events_tx);
                agent.run_with_events(req, &events).await
            };
            let (result, ()) = tokio::join!(work, pump);
            match result {
                Ok(run) => {
                    let _ = tx.send(Ok(ChatChunk::delta(
                        &id,
                        &model,
                        Delta::text(run.final_answer.clone()),
                        None,
                    )));
                    let mut last =
                        ChatChunk::delta(&id, &model, Delta::default(), Some("stop".into()));
                    last.extra.insert("mini_agent".into(), run.details());
                    let _ = tx.send(Ok(last));
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        let guard = tokio_util::task::AbortOnDropHandle::new(task);
        let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(move |item| {
            let _keep = &guard;
            item
        });
        Ok(Box::pin(stream))
    }
}

impl MiniAgentProvider {
    /// The agent and the request it runs for `request`.
    async fn prepare(
        &self,
        request: &ChatRequest,
        ctx: &CallContext,
    ) -> Result<(Agent, AgentRequest), ProviderError> {
        let model = self.inner_model(request)?;
        let agent = self.agent().await?.clone();
        let budget = ctx
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        Ok((
            agent,
            AgentRequest {
                messages: request.messages.clone(),
                model: Some(model),
                budget,
                ..AgentRequest::default()
            },
        ))
    }
}
