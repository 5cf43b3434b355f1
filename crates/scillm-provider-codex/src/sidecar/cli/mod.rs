//! The Codex command from `CODEX_CMD`, found lazily (echo mode never needs it), shared by
//! both backends: how `codex exec` gets a request (`CODEX_INPUT_MODE`, `--model`,
//! `--image`, `--output-schema`, `-c model_reasoning_effort=…`), and which words start
//! `codex app-server`. Children see only the environment of [`child_env`].

pub mod command;
pub mod jsonl;
pub mod process;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use scillm_core::config::{secs, InputMode};
use scillm_core::Config;
use serde_json::json;

use super::child::child_env;
use process::{Invocation, Timeouts};
use scillm_serve::ApiError;

/// Exit codes that mean "temporary failure, try again" (`EX_SOFTWARE`, `EX_TEMPFAIL`).
pub const RETRYABLE_EXIT_CODES: &[i32] = &[70, 75];

/// The configured Codex CLI.
#[derive(Debug)]
pub struct CliBackend {
    raw_cmd: String,
    words: Result<Vec<String>, String>,
    program: OnceLock<PathBuf>,
    env: Vec<(OsString, OsString)>,
    input_mode: InputMode,
    prompt_flag: String,
    timeouts: Timeouts,
    retries: u32,
}

/// What a request asks the CLI for.
#[derive(Debug, Clone)]
pub struct CliRequest<'a> {
    /// The flattened prompt.
    pub prompt: &'a str,
    /// The model, prefix stripped; empty means the CLI's default.
    pub model: &'a str,
    /// Image files to attach.
    pub images: &'a [PathBuf],
    /// The per-request working directory.
    pub cwd: &'a Path,
    /// A JSON schema file for `--output-schema` (a strict schema, SPEC §12).
    pub output_schema: Option<&'a Path>,
    /// The reasoning effort (`-c model_reasoning_effort=…`), already checked to be a
    /// plain word (letters, digits, `-`, `_`).
    pub effort: Option<&'a str>,
}

impl CliBackend {
    /// The command of `config.sidecar`; children get [`child_env`] of the process
    /// environment with `extra` on top.
    pub fn new(config: &Config, extra: Vec<(OsString, OsString)>) -> Self {
        let sc = &config.sidecar;
        Self {
            raw_cmd: sc.cmd.clone(),
            words: command::split(&sc.cmd),
            program: OnceLock::new(),
            env: child_env(config, std::env::vars_os(), &extra),
            input_mode: sc.input_mode,
            prompt_flag: sc.prompt_flag.clone(),
            timeouts: Timeouts {
                abs: nonzero(secs(sc.abs_timeout_s), 90),
                idle: nonzero(secs(sc.idle_timeout_s), 25),
            },
            retries: sc.retries,
        }
    }

    /// The whole environment of Codex children.
    pub fn env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// An environment variable as Codex children see it.
    pub fn env_var(&self, name: &str) -> Option<OsString> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// `CODEX_CMD` as configured.
    pub fn raw(&self) -> &str {
        &self.raw_cmd
    }

    /// The arguments of `codex app-server`: the words of `CODEX_CMD` after the program and
    /// before `exec` (so `codex exec --json …` gives `app-server`, `npx codex exec` gives
    /// `codex app-server`), then `app-server`.
    pub fn app_server_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = self
            .words
            .as_ref()
            .map(|w| {
                w.iter()
                    .skip(1)
                    .take_while(|a| a.as_str() != "exec")
                    .map(OsString::from)
                    .collect()
            })
            .unwrap_or_default();
        args.push("app-server".into());
        args
    }

    /// The program, looked up on first use and remembered once found.
    pub fn resolve(&self) -> Result<PathBuf, ApiError> {
        if let Some(p) = self.program.get() {
            return Ok(p.clone());
        }
        let words = self.words.as_ref().map_err(|e| {
            ApiError::internal(
                "codex_cmd_invalid",
                format!("CODEX_CMD `{}` cannot be parsed: {e}", self.raw_cmd),
            )
        })?;
        let name = words.first().map(String::as_str).unwrap_or_default();
        let found = command::resolve(name, self.env_var("PATH").as_deref()).ok_or_else(|| {
            ApiError::internal(
                "codex_cli_not_found",
                format!(
                    "the Codex CLI `{name}` was not found (CODEX_CMD=`{}`): install it (npm install -g @openai/codex) or point CODEX_CMD at it; for stub testing set CODEX_SIDECAR_ECHO=1",
                    self.raw_cmd
                ),
            )
        })?;
        Ok(self.program.get_or_init(|| found).clone())
    }

    /// Whether the program can be found (without reporting why not).
    pub fn is_available(&self) -> bool {
        self.resolve().is_ok()
    }

    /// The time limits of one run.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Extra attempts after a retryable exit code.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The full command for one request.
    pub fn invocation(&self, program: PathBuf, req: &CliRequest<'_>) -> Invocation {
        let mut args: Vec<OsString> = self
            .words
            .as_ref()
            .map(|w| w.iter().skip(1).map(OsString::from).collect())
            .unwrap_or_default();
        if !req.model.is_empty() {
            args.push("--model".into());
            args.push(req.model.into());
        }
        for image in req.images {
            args.push("--image".into());
            args.push(image.clone().into_os_string());
        }
        if let Some(schema) = req.output_schema {
            args.push("--output-schema".into());
            args.push(schema.as_os_str().to_owned());
        }
        if let Some(effort) = req.effort {
            args.push("-c".into());
            args.push(format!("model_reasoning_effort=\"{effort}\"").into());
        }
        let stdin = match self.input_mode {
            InputMode::Prompt => Some(req.prompt.as_bytes().to_vec()),
            InputMode::Json => {
                let images: Vec<String> =
                    req.images.iter().map(|p| p.display().to_string()).collect();
                let body = json!({ "prompt": req.prompt, "model": req.model, "images": images });
                Some(body.to_string().into_bytes())
            }
            InputMode::Flag => {
                if !self.prompt_flag.is_empty() {
                    args.push(self.prompt_flag.clone().into());
                }
                args.push(req.prompt.into());
                None
            }
        };
        Invocation {
            program,
            args,
            stdin,
            cwd: req.cwd.to_path_buf(),
            env: self.env.clone(),
        }
    }
}

/// Whether a run that exited with `code` is worth another attempt.
pub fn is_retryable(code: Option<i32>) -> bool {
    code.is_some_and(|c| RETRYABLE_EXIT_CODES.contains(&c))
}

/// The short pause before retry `attempt` (1-based).
pub fn retry_pause(attempt: u32) -> Duration {
    Duration::from_millis(200 * u64::from(attempt.min(10)))
}

fn nonzero(d: Duration, default_s: u64) -> Duration {
    if d.is_zero() {
        Duration::from_secs(default_s)
    } else {
        d
    }
}

/// The message of a run that exited non-zero.
pub fn exit_message(code: Option<i32>, stderr_tail: &str, failure: Option<&str>) -> String {
    let how = match code {
        Some(c) => format!("exited with code {c}"),
        None => "was killed by a signal".to_string(),
    };
    let mut msg = format!("the Codex CLI {how}");
    if let Some(f) = failure {
        msg.push_str(&format!(": {f}"));
    }
    if !stderr_tail.is_empty() {
        msg.push_str(&format!("; stderr: {stderr_tail}"));
    }
    msg
}
