//! The `scillm` binary: parse arguments, call the library, print.

/// The allocator of the binary: mimalloc, which halves the time the router's many small
/// allocations (request and answer JSON, metadata) spend in the allocator compared with
/// glibc's malloc (measured with `cargo xtask bench router`; BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use scillm_cli::args::{
    AuthCommand, ChatArgs, Cli, Command, ConfigCommand, MiniAgentArgs, ServeArgs, SidecarArgs,
};
use scillm_cli::{auth, batch, chat, doctor, inspect};
use scillm_core::config::ConfigLoader;
use scillm_router::Router;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the runtime starts: the OTLP exporter's client runs on its own thread.
    let _telemetry = match scillm_telemetry::logging::LogFormat::from_env()
        .and_then(scillm_telemetry::logging::init)
    {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let config_error = e.is::<scillm_core::config::ConfigError>()
                || e.downcast_ref::<scillm_gateway::GatewayError>()
                    .is_some_and(scillm_gateway::GatewayError::is_config);
            ExitCode::from(if config_error { 2 } else { 1 })
        }
    }
}

fn loader(config: Option<&Path>) -> ConfigLoader {
    match config {
        Some(p) => ConfigLoader::new().file(p),
        None => ConfigLoader::new(),
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let base = loader(cli.config.as_deref());
    match cli.command {
        Command::Sidecar(a) => serve_sidecar(base, a).await,
        Command::MiniAgent(a) => serve_mini_agent(base, a).await,
        Command::Serve(a) => serve_gateway(base, a).await,
        Command::Chat(a) => kill_codex_children_on_signal(run_chat(base, a)).await,
        Command::Batch(a) => {
            let config = Arc::new(base.load()?);
            let router = match Router::new(config) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot build the router: {e}");
                    return Ok(ExitCode::from(batch::EXIT_USAGE));
                }
            };
            Ok(ExitCode::from(batch::run(router, &a).await?))
        }
        Command::Models => {
            let loaded = base.load_with_sources()?;
            out(&inspect::models(&loaded));
            Ok(ExitCode::SUCCESS)
        }
        Command::Providers => {
            out(&inspect::providers());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            let loaded = base.load_with_sources()?;
            out(&inspect::config_show(&loaded));
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth {
            command: AuthCommand::Check { path },
        } => {
            let configured = base.load().ok().and_then(|c| c.sidecar.auth_path);
            let path = auth::auth_path(path.as_deref().or(configured.as_deref()));
            let status = auth::check_auth_file(&path);
            out(&format!("{}\n", status.describe(&path)));
            Ok(ExitCode::from(status.exit_code()))
        }
        Command::Doctor(a) => {
            let report = doctor::run(base).await;
            if a.json {
                out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
            } else {
                out(&report.render());
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Print to standard output (the binary's one place that does).
#[allow(clippy::print_stdout)]
fn out(s: &str) {
    print!("{s}");
}

/// Run `work`; on SIGINT/SIGTERM kill the Codex children of this process's embedded
/// sidecars first (SPEC §12 "No orphans"), then exit with status 130. What a batch had
/// finished is already written (output lines are flushed as they complete).
async fn kill_codex_children_on_signal(
    work: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let signal = scillm_serve::shutdown_signal();
    tokio::select! {
        r = work => r,
        _ = signal => {
            let n = scillm_provider_codex::embedded::shutdown_all();
            eprintln!("interrupted: stopped the Codex children of {n} embedded sidecar(s)");
            std::process::exit(130);
        }
    }
}

async fn run_chat(base: ConfigLoader, a: ChatArgs) -> anyhow::Result<ExitCode> {
    let config = Arc::new(base.load()?);
    let router = Router::new(config).context("cannot build the router")?;
    let opts = chat::ChatOptions {
        model: a.model,
        images: a.image,
        json_schema: a.json_schema,
        stream: a.stream,
        provider: a.target.provider,
        api_base: a.target.api_base,
        headers: a.header,
    };
    let request = chat::build_request(&a.prompt, &opts)?;
    if opts.stream {
        chat::stream(&router, request, &mut |piece| {
            out(piece);
            let _ = std::io::Write::flush(&mut std::io::stdout());
        })
        .await?;
        out("\n");
        return Ok(ExitCode::SUCCESS);
    }
    let result = router.completion(request).await;
    if a.json {
        out(&format!("{}\n", serde_json::to_string_pretty(&result)?));
    } else {
        out(&format!("{}\n", result.content()));
    }
    if result.is_ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {} {}",
            result.meta.error_type.as_str(),
            result.meta.exception.as_deref().unwrap_or("")
        );
        Ok(ExitCode::FAILURE)
    }
}

async fn serve_gateway(base: ConfigLoader, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut l = base;
    if let Some(h) = a.host {
        l = l.set("gateway.host", h);
    }
    if let Some(p) = a.port {
        l = l.set("gateway.port", p);
    }
    if let Some(d) = a.data_dir {
        l = l.set("gateway.data_dir", d.display().to_string());
    }
    if a.allow_insecure_bind {
        l = l.set("gateway.allow_insecure_bind", true);
    }
    let config = Arc::new(l.load()?);
    let keys = match config.gateway.keys.len() {
        0 => "no keys".to_string(),
        n => format!("{n} keys"),
    };
    let state = match config.state.redis_display() {
        Some(redis) => format!("limits and cooldowns shared through the Redis at {redis}"),
        None => "limits and cooldowns in this process".to_string(),
    };
    let cache = config.cache.mode.as_str();
    let data_dir = config.gateway.data_dir.display().to_string();
    scillm_gateway::serve_then(config, std::future::pending(), |addr, models| {
        eprintln!(
            "scillm serve: listening on http://{addr} ({} models: {}; {keys}; {state}; \
             cache {cache}; batches in {data_dir})",
            models.len(),
            models.join(", ")
        );
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn serve_sidecar(base: ConfigLoader, a: SidecarArgs) -> anyhow::Result<ExitCode> {
    let mut l = base;
    if let Some(h) = a.host {
        l = l.set("sidecar.host", h);
    }
    if let Some(p) = a.port {
        l = l.set("sidecar.port", p);
    }
    if a.echo {
        l = l.set("sidecar.echo", true);
    }
    if let Some(r) = a.echo_reply {
        l = l.set("sidecar.echo_reply", r);
    }
    if let Some(p) = a.auth_path {
        l = l.set("sidecar.auth_path", p.display().to_string());
    }
    if let Some(c) = a.cmd {
        l = l.set("sidecar.cmd", c);
    }
    if let Some(n) = a.max_concurrency {
        l = l.set("sidecar.max_concurrency", n);
    }
    if let Some(b) = a.forward_base {
        l = l.set("sidecar.forward_base", b);
    }
    if a.allow_insecure_bind {
        l = l.set("sidecar.allow_insecure_bind", true);
    }
    let config = Arc::new(l.load()?);
    let sc = &config.sidecar;
    eprintln!(
        "scillm sidecar: listening on http://{}:{} (echo {})",
        sc.host,
        sc.port,
        if sc.echo { "on" } else { "off" }
    );
    scillm_provider_codex::sidecar::serve(config.clone(), std::future::pending()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn serve_mini_agent(base: ConfigLoader, a: MiniAgentArgs) -> anyhow::Result<ExitCode> {
    let mut l = base;
    if let Some(h) = a.host {
        l = l.set("mini_agent.host", h);
    }
    if let Some(p) = a.port {
        l = l.set("mini_agent.port", p);
    }
    if a.echo {
        l = l.set("mini_agent.shim_mode", "echo");
    }
    if let Some(m) = a.model {
        l = l.set("mini_agent.model", m);
    }
    if a.allow_insecure_bind {
        l = l.set("mini_agent.allow_insecure_bind", true);
    }
    let config = Arc::new(l.load()?);
    let ma = &config.mini_agent;
    eprintln!(
        "scillm mini-agent: listening on http://{}:{} (mode {})",
        ma.host, ma.port, ma.shim_mode
    );
    scillm_mini_agent::serve(config.clone(), scillm_serve::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
