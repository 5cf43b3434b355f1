//! Command-line arguments. Flags mirror the environment names; a flag wins over the
//! environment, which wins over `scillm.toml`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// scillm: route OpenAI-compatible chat requests, run batches, serve the codex sidecar and
/// the mini-agent shim.
#[derive(Debug, Parser)]
#[command(name = "scillm", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: $SCILLM_CONFIG, else ./scillm.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the codex sidecar (OpenAI-compatible front of the Codex CLI, default 127.0.0.1:8077).
    Sidecar(SidecarArgs),
    /// Serve the mini-agent shim (default 127.0.0.1:8788).
    MiniAgent(MiniAgentArgs),
    /// Serve the Router as an OpenAI-compatible gateway with keys and a Batch API (default 127.0.0.1:4000).
    Serve(ServeArgs),
    /// Send one chat request and print the answer.
    Chat(ChatArgs),
    /// Run a JSONL file of requests in parallel; one output line per input line.
    /// Exit 0 every line ok, 3 some lines failed, 2 usage or config error, 130/143 interrupted.
    Batch(BatchArgs),
    /// List the model names this configuration can route.
    Models,
    /// List the providers compiled into this binary.
    Providers,
    /// Configuration commands.
    Config {
        /// What to do with the configuration.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Codex credentials commands.
    Auth {
        /// What to check.
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Run the verification checklist (the same checks as `cargo xtask verify`).
    Doctor(DoctorArgs),
}

/// `scillm config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every effective value with its source (secrets redacted).
    Show,
}

/// `scillm auth …`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Check the Codex credentials file: exit 0 found and valid, 1 missing, 2 not JSON.
    Check {
        /// The file (default: CODEX_AUTH_PATH, else ~/.codex/auth.json).
        #[arg(long)]
        path: Option<PathBuf>,
    },
}

/// `scillm sidecar`.
#[derive(Debug, Args)]
pub struct SidecarArgs {
    /// Bind address (CODEX_SIDECAR_HOST).
    #[arg(long)]
    pub host: Option<String>,
    /// Bind port (CODEX_SIDECAR_PORT).
    #[arg(long)]
    pub port: Option<u16>,
    /// Echo mode: answer "shim ok", no credentials needed (CODEX_SIDECAR_ECHO).
    #[arg(long)]
    pub echo: bool,
    /// The echo answer (CODEX_SIDECAR_ECHO_REPLY).
    #[arg(long)]
    pub echo_reply: Option<String>,
    /// Credentials file (CODEX_AUTH_PATH).
    #[arg(long)]
    pub auth_path: Option<PathBuf>,
    /// The Codex CLI command line (CODEX_CMD).
    #[arg(long)]
    pub cmd: Option<String>,
    /// CLI processes at once (MAX_CONCURRENCY).
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Proxy to this base instead of running the CLI (CODEX_FORWARD_BASE).
    #[arg(long)]
    pub forward_base: Option<String>,
    /// Allow a non-loopback bind without an API key.
    #[arg(long)]
    pub allow_insecure_bind: bool,
}

/// `scillm serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Bind address (`[gateway] host`).
    #[arg(long)]
    pub host: Option<String>,
    /// Bind port (`[gateway] port`).
    #[arg(long)]
    pub port: Option<u16>,
    /// Where batches and files are kept (`[gateway] data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Allow a non-loopback bind without keys (`[gateway] allow_insecure_bind`).
    #[arg(long)]
    pub allow_insecure_bind: bool,
}

/// `scillm mini-agent`.
#[derive(Debug, Args)]
pub struct MiniAgentArgs {
    /// Bind address (MINI_AGENT_API_HOST).
    #[arg(long)]
    pub host: Option<String>,
    /// Bind port (MINI_AGENT_API_PORT).
    #[arg(long)]
    pub port: Option<u16>,
    /// Echo mode (MINI_AGENT_OPENAI_SHIM_MODE=echo).
    #[arg(long)]
    pub echo: bool,
    /// The model the agent calls (MINI_AGENT_MODEL).
    #[arg(long)]
    pub model: Option<String>,
    /// Allow a non-loopback bind without an API key.
    #[arg(long)]
    pub allow_insecure_bind: bool,
}

/// Where a request goes, for `chat` and `batch`.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Provider for every request (e.g. codex-agent, openai).
    #[arg(long)]
    pub provider: Option<String>,
    /// Base URL without /v1 for every request.
    #[arg(long)]
    pub api_base: Option<String>,
}

/// `scillm chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The user message.
    pub prompt: String,
    /// The model id (a `codex-agent/` prefix selects the codex-agent provider).
    #[arg(long, default_value = "codex-agent/gpt-5")]
    pub model: String,
    /// Attach an image file (sent as a data: URL part).
    #[arg(long, value_name = "FILE")]
    pub image: Vec<PathBuf>,
    /// Ask for JSON matching this JSON Schema file (schema-first mode).
    #[arg(long, value_name = "FILE")]
    pub json_schema: Option<PathBuf>,
    /// Stream the answer as it arrives.
    #[arg(long)]
    pub stream: bool,
    /// Print the whole result JSON with `scillm_router` instead of the content.
    #[arg(long)]
    pub json: bool,
    /// Send a header upstream, as 'Name: value' (repeatable; hop-by-hop headers are dropped).
    #[arg(long = "header", short = 'H', value_name = "'NAME: VALUE'")]
    pub header: Vec<String>,
    /// Where to send it.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Output order of `scillm batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrderArg {
    /// Line i of the output is the result of input line i.
    Input,
    /// Results as they finish; each carries scillm_router.index.
    Completed,
}

/// `scillm batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Input JSONL: one request per line.
    pub input: PathBuf,
    /// Output JSONL (default: stdout). A file is durable: results are journaled to
    /// OUT.journal as they finish, so --resume loses none after a crash.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Requests in flight at once (default: router.concurrency, 16).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Per-request timeout in seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Stop at the first failure: lines in flight and later lines end `cancelled`.
    #[arg(long)]
    pub fail_fast: bool,
    /// Output order: input (default) or completed.
    #[arg(long, value_enum, default_value = "input")]
    pub order: OrderArg,
    /// Continue a batch whose output exists: keep finished results, run the lines without
    /// one and those that ended cancelled, timeout or rate_limited.
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Like --resume, and run every line that ended in error again.
    #[arg(long, requires = "output")]
    pub retry_errors: bool,
    /// Most finished results held in memory waiting for a slower earlier line (input order).
    #[arg(long, default_value_t = scillm_batch::DEFAULT_REORDER_WINDOW)]
    pub reorder_window: usize,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Never draw a progress bar or print progress lines.
    #[arg(long)]
    pub no_progress: bool,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics while the batch runs (port 0
    /// picks a free one; the address is printed).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// Where to send requests that name no provider.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `scillm doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}
