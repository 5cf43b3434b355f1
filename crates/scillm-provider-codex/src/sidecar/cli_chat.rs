//! A chat answered by the Codex CLI: credentials preflight, prompt, images, a CLI slot,
//! then runs with retries on exit codes 70/75.

use axum::response::{IntoResponse, Response};
use axum::Json;
use scillm_core::wire::{ChatRequest, ChatResponse};
use tempfile::TempDir;

use super::cli::jsonl::Transcript;
use super::cli::process::{self, Invocation, RunError};
use super::cli::{exit_message, is_retryable, retry_pause, CliRequest};
use super::error::ApiError;
use super::limits::Slot;
use super::state::Sidecar;
use super::{images, new_id, preflight, prompt};

/// A request ready to run: its command, its temp dir (images, cwd) and a held CLI slot.
#[derive(Debug)]
pub struct Prepared {
    /// The command line.
    pub invocation: Invocation,
    /// Removed when the request is done.
    pub _dir: TempDir,
    /// Freed when the request is done.
    pub _slot: Slot,
}

/// Everything that can fail before the CLI starts fails here, with a status.
pub async fn prepare(sidecar: &Sidecar, req: &ChatRequest) -> Result<Prepared, ApiError> {
    preflight::check(sidecar)?;
    let cli = &sidecar.inner.cli;
    let program = cli.resolve()?;
    let prompt = prompt::flatten(&req.messages)?;
    let dir = tempfile::Builder::new()
        .prefix("scillm-codex-")
        .tempdir()
        .map_err(|e| {
            ApiError::internal("tempdir_failed", format!("cannot create a temp dir: {e}"))
        })?;
    let images = images::write_images(
        &req.messages,
        dir.path(),
        sidecar.config().sidecar.max_image_bytes,
    )?;
    let invocation = cli.invocation(
        program,
        &CliRequest {
            prompt: &prompt,
            model: prompt::cli_model(&req.model),
            images: &images,
            cwd: dir.path(),
        },
    );
    let slot = sidecar.inner.limiter.acquire().await?;
    Ok(Prepared {
        invocation,
        _dir: dir,
        _slot: slot,
    })
}

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

/// The complete (non-streamed) answer.
pub async fn complete(sidecar: &Sidecar, req: &ChatRequest) -> Result<Response, ApiError> {
    let prepared = prepare(sidecar, req).await?;
    let cli = &sidecar.inner.cli;
    let mut attempt = 0;
    loop {
        let mut transcript = Transcript::default();
        let run = process::run(
            &prepared.invocation,
            cli.timeouts(),
            &sidecar.inner.shutdown,
            |line| {
                transcript.push(&line);
                std::ops::ControlFlow::Continue(())
            },
        )
        .await
        .map_err(|e| run_error(sidecar, e))?;
        if run.code == Some(0) {
            let answer = transcript.finish()?;
            let mut resp = ChatResponse::from_text(new_id(), &req.model, answer.content);
            if let Some(choice) = resp.choices.first_mut() {
                choice.message.reasoning_content = answer.reasoning;
            }
            resp.usage = answer.usage;
            return Ok(Json(resp).into_response());
        }
        if is_retryable(run.code) && attempt < cli.retries() {
            attempt += 1;
            tracing::info!(code = ?run.code, attempt, "Codex CLI asked for a retry");
            tokio::time::sleep(retry_pause(attempt)).await;
            continue;
        }
        return Err(ApiError::upstream(
            "codex_exit",
            exit_message(run.code, &run.stderr_tail, transcript.failure()),
        ));
    }
}
