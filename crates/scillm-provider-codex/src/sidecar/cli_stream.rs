//! A chat streamed from the Codex CLI: a chunk for each item as the CLI prints it, then
//! `[DONE]`. Failures after the stream started are sent as an error event that ends it.
//! A client that goes away kills the run.

use std::ops::ControlFlow;

use axum::response::sse::Event;
use axum::response::Response;
use scillm_core::wire::{ChatChunk, ChatRequest, Delta, Role, Usage};
use tokio::sync::mpsc;

use super::cli::jsonl::{Event as CliEvent, Transcript};
use super::cli::process;
use super::cli::{exit_message, is_retryable, retry_pause};
use super::cli_chat::{prepare, run_error, Prepared};
use super::error::ApiError;
use super::state::Sidecar;
use super::{new_id, sse};

/// Start the run and answer with its event stream (errors before the start keep their status).
pub async fn stream(sidecar: &Sidecar, req: &ChatRequest) -> Result<Response, ApiError> {
    let prepared = prepare(sidecar, req).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_stream(sidecar.clone(), prepared, req.model.clone(), tx));
    Ok(sse::from_channel(rx))
}

/// Turns CLI events into chunks on the channel.
struct Emitter {
    tx: mpsc::UnboundedSender<Event>,
    id: String,
    model: String,
    started: bool,
    answers: usize,
    usage: Option<Usage>,
    failed: bool,
}

impl Emitter {
    fn send(&mut self, delta: Delta, finish: Option<String>) -> ControlFlow<()> {
        let mut delta = delta;
        if !self.started {
            delta.role = Some(Role::Assistant);
            self.started = true;
        }
        let mut chunk = ChatChunk::delta(&self.id, &self.model, delta, finish);
        if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
            chunk.usage = self.usage.take();
        }
        match self.tx.send(sse::chunk_event(&chunk)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    fn on_event(&mut self, event: CliEvent) -> ControlFlow<()> {
        match event {
            CliEvent::Answer(text) => {
                // Each agent message is its own item; later ones start a new paragraph.
                let text = if self.answers > 0 {
                    format!("\n\n{text}")
                } else {
                    text
                };
                self.answers += 1;
                self.send(Delta::text(text), None)
            }
            CliEvent::Reasoning(text) if !text.is_empty() => {
                let delta = Delta {
                    reasoning_content: Some(text),
                    ..Delta::default()
                };
                self.send(delta, None)
            }
            CliEvent::Usage(u) => {
                self.usage = Some(u);
                ControlFlow::Continue(())
            }
            CliEvent::Failure(msg) => {
                self.fail(&ApiError::upstream(
                    "codex_failed",
                    format!("the Codex CLI reported a failure: {msg}"),
                ));
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn fail(&mut self, err: &ApiError) {
        self.failed = true;
        let _ = self.tx.send(sse::error_event(err));
    }

    fn finish(&mut self, plain: String) {
        if self.answers == 0 {
            if plain.is_empty() {
                self.fail(&ApiError::upstream(
                    "codex_no_answer",
                    "the Codex CLI gave no answer: it printed no agent message",
                ));
                return;
            }
            if self.send(Delta::text(plain), None).is_break() {
                return;
            }
        }
        if self
            .send(Delta::default(), Some("stop".into()))
            .is_continue()
        {
            let _ = self.tx.send(sse::done_event());
        }
    }
}

async fn run_stream(
    sidecar: Sidecar,
    prepared: Prepared,
    model: String,
    tx: mpsc::UnboundedSender<Event>,
) {
    let cancel = sidecar.inner.shutdown.child_token();
    let watcher = {
        let (tx, cancel) = (tx.clone(), cancel.clone());
        tokio::spawn(async move {
            tx.closed().await;
            cancel.cancel();
        })
    };
    let cli = &sidecar.inner.cli;
    let mut em = Emitter {
        tx,
        id: new_id(),
        model,
        started: false,
        answers: 0,
        usage: None,
        failed: false,
    };
    let mut attempt = 0;
    loop {
        let mut transcript = Transcript::default();
        let run = process::run(&prepared.invocation, cli.timeouts(), &cancel, |line| {
            let event = transcript.push(&line);
            em.on_event(event)
        })
        .await;
        if em.failed {
            break;
        }
        match run {
            Ok(exit) if exit.code == Some(0) => {
                em.finish(transcript.plain_text());
                break;
            }
            Ok(exit) if is_retryable(exit.code) && attempt < cli.retries() && !em.started => {
                attempt += 1;
                tokio::time::sleep(retry_pause(attempt)).await;
            }
            Ok(exit) => {
                em.fail(&ApiError::upstream(
                    "codex_exit",
                    exit_message(exit.code, &exit.stderr_tail, transcript.failure()),
                ));
                break;
            }
            Err(e) => {
                em.fail(&run_error(&sidecar, e));
                break;
            }
        }
    }
    watcher.abort();
    drop(prepared);
}
