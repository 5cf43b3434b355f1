//! The `exec` backend (`CODEX_BACKEND=exec`): one `codex exec --json` process per request,
//! its JSONL turned into [`TurnEvent`]s, exit codes 70/75 retried while nothing has been
//! sent yet. A client that goes away (the event receiver dropped) kills the run.

use tokio::sync::mpsc;

use super::answer::TurnHandle;
use super::cli::process::{self, Exit, RunError};
use super::cli::{exit_message, is_retryable, jsonl, retry_pause, CliRequest};
use super::meter::TurnMeter;
use super::request::Prepared;
use super::state::Sidecar;
use super::turn::TurnEvent;
use scillm_core::config::CodexBackend;
use scillm_serve::ApiError;

/// The error for a run that did not end on its own.
pub fn run_error(sidecar: &Sidecar, e: RunError) -> ApiError {
    match e {
        RunError::Spawn(err) => ApiError::internal(
            "codex_cli_spawn_failed",
            format!(
                "cannot start the Codex CLI (CODEX_CMD=`{}`): {err}",
                sidecar.config().sidecar.cmd
            ),
        ),
        RunError::AbsTimeout(d) => ApiError::timeout(
            "codex_timeout",
            format!(
                "the Codex CLI ran longer than ABS_TIMEOUT_S ({}s) and was killed",
                d.as_secs_f64()
            ),
        ),
        RunError::IdleTimeout(d) => ApiError::timeout(
            "codex_idle_timeout",
            format!(
                "the Codex CLI printed nothing for IDLE_TIMEOUT_S ({}s) and was killed",
                d.as_secs_f64()
            ),
        ),
        RunError::Cancelled => ApiError::for_status(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the sidecar is shutting down; the Codex CLI run was stopped",
        ),
    }
}

/// Start the run; its events arrive on the returned handle.
pub fn start(sidecar: &Sidecar, prepared: Prepared) -> TurnHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let schema_mode = prepared.schema.as_ref().map(|s| s.mode);
    tokio::spawn(run(sidecar.clone(), prepared, tx));
    TurnHandle {
        events: rx,
        schema_mode,
        meter: TurnMeter::new(CodexBackend::Exec),
    }
}

/// What one attempt ended with.
enum Attempt {
    /// The process exited; `sent` says whether any event reached the client side.
    Exited {
        exit: Exit,
        sent: bool,
        ended: bool,
        warning: Option<String>,
    },
    /// The run was stopped (the error is already sent, or nobody listens).
    Stopped,
}

async fn attempt(
    sidecar: &Sidecar,
    prepared: &Prepared,
    tx: &mpsc::UnboundedSender<TurnEvent>,
) -> Attempt {
    let cli = &sidecar.inner.cli;
    let invocation = cli.invocation(
        prepared.program.clone(),
        &CliRequest {
            prompt: &prepared.prompt,
            model: &prepared.model,
            images: &prepared.images,
            cwd: prepared.dir.path(),
            output_schema: prepared.schema_file.as_deref(),
            effort: prepared.effort.as_deref(),
        },
    );
    let cancel = sidecar.inner.shutdown.child_token();
    let watcher = {
        let (tx, cancel) = (tx.clone(), cancel.clone());
        tokio::spawn(async move {
            tx.closed().await;
            cancel.cancel();
        })
    };
    let (mut sent, mut ended) = (false, false);
    let mut warning = None;
    let run = process::run(
        &invocation,
        cli.timeouts(),
        &cancel,
        &sidecar.inner.children,
        |line| {
            for event in jsonl::events_of_line(&line) {
                let fatal = matches!(event, TurnEvent::Fatal(_));
                if let TurnEvent::Warning(w) = &event {
                    warning = Some(w.clone());
                }
                ended |= matches!(
                    event,
                    TurnEvent::Completed | TurnEvent::Failed(_) | TurnEvent::Fatal(_)
                );
                sent |= !matches!(event, TurnEvent::Plain(_));
                if tx.send(event).is_err() || fatal {
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        },
    )
    .await;
    watcher.abort();
    match run {
        Ok(exit) => Attempt::Exited {
            exit,
            sent,
            ended,
            warning,
        },
        Err(RunError::Cancelled) if tx.is_closed() || ended => Attempt::Stopped,
        Err(e) => {
            let _ = tx.send(TurnEvent::Fatal(run_error(sidecar, e)));
            Attempt::Stopped
        }
    }
}

async fn run(sidecar: Sidecar, prepared: Prepared, tx: mpsc::UnboundedSender<TurnEvent>) {
    let mut tries = 0;
    loop {
        let Attempt::Exited {
            exit,
            sent,
            ended,
            warning,
        } = attempt(&sidecar, &prepared, &tx).await
        else {
            break;
        };
        if ended {
            break;
        }
        if exit.code == Some(0) {
            // Exited cleanly without ending the turn: plain output is the answer, anything
            // else a failure (decided by the fold when the channel closes).
            break;
        }
        if is_retryable(exit.code) && tries < sidecar.inner.cli.retries() && !sent {
            tries += 1;
            tracing::info!(code = ?exit.code, attempt = tries, "Codex CLI asked for a retry");
            tokio::time::sleep(retry_pause(tries)).await;
            continue;
        }
        let _ = tx.send(TurnEvent::Fatal(ApiError::upstream(
            "codex_exit",
            exit_message(exit.code, &exit.stderr_tail, warning.as_deref()),
        )));
        break;
    }
    drop(prepared);
}
