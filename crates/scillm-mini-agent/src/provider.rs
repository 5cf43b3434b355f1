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

use crate::agent::{Agent, AgentRequest};
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
        let model = self.inner_model(&request)?;
        let agent = self.agent().await?;
        let budget = ctx
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let run = agent
            .run(AgentRequest {
                messages: request.messages,
                model: Some(model),
                budget,
                ..AgentRequest::default()
            })
            .await?;
        let id = crate::shim::completion_id();
        let mut resp = ChatResponse::from_text(id, request.model, run.final_answer.clone());
        resp.extra.insert("mini_agent".into(), run.details());
        Ok(resp)
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let resp = self.chat(request, ctx).await?;
        let text = resp.first_text();
        let first = Delta {
            role: Some(Role::Assistant),
            ..Delta::text(text)
        };
        let chunks = vec![
            Ok(ChatChunk::delta(&resp.id, &resp.model, first, None)),
            Ok(ChatChunk::delta(
                &resp.id,
                &resp.model,
                Delta::default(),
                Some("stop".into()),
            )),
        ];
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
}
