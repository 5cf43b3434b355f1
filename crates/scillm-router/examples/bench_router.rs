//! Benchmark driver for `cargo xtask bench router`: N requests at concurrency C through
//! `Router::parallel` and through a plain reqwest loop, against the same zero-latency mock
//! upstream running as a separate process. Prints one JSON object with both throughputs,
//! their ratio, p50/p99 per-request time and the peak RSS of each run; a third run
//! calls the openai provider directly (no router) to tell router cost from provider cost.
//!
//! ```text
//! cargo build --release -p scillm-bench --bin mock-upstream
//! cargo run --release -p scillm-router --example bench_router -- [--requests 20000]
//!     [--concurrency 256] [--base http://127.0.0.1:PORT | --mock-bin PATH]
//! ```
//! Each run happens in a child process of its own (`--phase plain|router|provider`), so the peak
//! RSS of one does not hide the other's.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scillm_core::config::ConfigLoader;
use scillm_core::registry::ProviderSettings;
use scillm_core::wire::ChatRequest;
use scillm_core::{ApiBase, CallContext};
use scillm_router::{ParallelOptions, Router};
// Links the openai provider (it registers through inventory).
use scillm_provider_codex as _;
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    requests: usize,
    concurrency: usize,
    base: Option<String>,
    mock_bin: Option<String>,
    phase: Option<String>,
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        requests: 20_000,
        concurrency: 256,
        base: None,
        mock_bin: None,
        phase: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--requests" => a.requests = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--base" => a.base = Some(value()?),
            "--mock-bin" => a.mock_bin = Some(value()?),
            "--phase" => a.phase = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

fn body(i: usize) -> Value {
    json!({"model": "bench", "messages": [{"role": "user", "content": format!("request {i}")}]})
}

/// Throughput and latency figures of one run.
fn figures(name: &str, elapsed: Duration, mut times: Vec<Duration>, errors: usize) -> Value {
    times.sort_unstable();
    let pct = |p: f64| {
        let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len().max(1)) - 1;
        times.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    json!({
        "name": name,
        "requests": times.len(),
        "errors": errors,
        "elapsed_s": elapsed.as_secs_f64(),
        "throughput_rps": times.len() as f64 / elapsed.as_secs_f64(),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "peak_rss_kb": peak_rss_kb(),
    })
}

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn plain(a: &Args, base: &str) -> Result<Value, Error> {
    let client = reqwest::Client::builder().build()?;
    let url = format!("{base}/v1/chat/completions");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.concurrency {
        let (client, url, next, n) = (client.clone(), url.clone(), Arc::clone(&next), a.requests);
        tasks.spawn(async move {
            let mut times = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (times, errors);
                }
                let t = Instant::now();
                let ok = match client.post(&url).json(&body(i)).send().await {
                    Ok(r) if r.status().is_success() => r.json::<Value>().await.is_ok(),
                    _ => false,
                };
                times.push(t.elapsed());
                errors += usize::from(!ok);
            }
        });
    }
    let (mut times, mut errors) = (Vec::with_capacity(a.requests), 0);
    while let Some(done) = tasks.join_next().await {
        let (t, e) = done?;
        times.extend(t);
        errors += e;
    }
    Ok(figures("plain_reqwest", started.elapsed(), times, errors))
}

/// The provider alone (no router): the same loop as `plain`, calling the openai provider.
async fn provider_only(a: &Args, base: &str) -> Result<Value, Error> {
    let config = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set("codex_agent.max_retries", 0)
        .load()?;
    let settings = ProviderSettings {
        config: Arc::new(config),
        api_base: Some(ApiBase::parse(base)?),
        ..ProviderSettings::default()
    };
    let provider = scillm_core::registry::build("openai", &settings)?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.concurrency {
        let (provider, next, n) = (Arc::clone(&provider), Arc::clone(&next), a.requests);
        tasks.spawn(async move {
            let mut times = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (times, errors);
                }
                let t = Instant::now();
                let ok = match serde_json::from_value::<ChatRequest>(body(i)) {
                    Ok(req) => provider.chat(req, &CallContext::new()).await.is_ok(),
                    Err(_) => false,
                };
                times.push(t.elapsed());
                errors += usize::from(!ok);
            }
        });
    }
    let (mut times, mut errors) = (Vec::with_capacity(a.requests), 0);
    while let Some(done) = tasks.join_next().await {
        let (t, e) = done?;
        times.extend(t);
        errors += e;
    }
    Ok(figures("provider_only", started.elapsed(), times, errors))
}

async fn routed(a: &Args, base: &str) -> Result<Value, Error> {
    let config = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set(
            "model_list",
            json!([{"model_name": "bench", "provider": "openai", "api_base": base}]),
        )
        .set("codex_agent.max_retries", 0)
        .load()?;
    let router = Router::new(Arc::new(config))?;
    let items: Vec<Value> = (0..a.requests).map(body).collect();
    let opts = ParallelOptions::new().concurrency(a.concurrency);
    let started = Instant::now();
    let results = router.parallel(items, opts).await;
    let elapsed = started.elapsed();
    let errors = results.iter().filter(|r| !r.is_ok()).count();
    let times = results.iter().map(|r| r.elapsed).collect();
    Ok(figures("router_parallel", elapsed, times, errors))
}

/// Run this program again as `--phase name` and read the JSON it prints.
fn child(a: &Args, phase: &str, base: &str) -> Result<Value, Error> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--phase", phase, "--base", base])
        .args([
            "--requests",
            &a.requests.to_string(),
            "--concurrency",
            &a.concurrency.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("phase {phase} failed: {}", out.status).into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Start the benchmark mock upstream (`scillm-bench`'s `mock-upstream`), which prints
/// `listening http://127.0.0.1:PORT` on stderr once bound.
fn start_mock(a: &Args) -> Result<(std::process::Child, String), Error> {
    let bin = match &a.mock_bin {
        Some(p) => p.into(),
        // target/<profile>/examples/bench_router → target/<profile>/mock-upstream
        None => std::env::current_exe()?
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("mock-upstream"))
            .ok_or("cannot locate mock-upstream; pass --mock-bin")?,
    };
    let mut proc = Command::new(&bin)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e} (build it: cargo build --release -p scillm-bench --bin mock-upstream)", bin.display()))?;
    let stderr = proc.stderr.take().ok_or("mock-upstream has no stderr")?;
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line)?;
    let base = line
        .trim()
        .trim_start_matches("listening")
        .trim()
        .to_string();
    if !base.starts_with("http://") {
        let _ = proc.kill();
        return Err(format!("mock-upstream said {line:?}, not its address").into());
    }
    Ok((proc, base))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let a = args()?;
    if let Some(phase) = a.phase.as_deref() {
        let base = a.base.clone().ok_or("--phase needs --base")?;
        let v = match phase {
            "plain" => plain(&a, &base).await?,
            "router" => routed(&a, &base).await?,
            "provider" => provider_only(&a, &base).await?,
            other => return Err(format!("unknown phase {other}").into()),
        };
        println!("{v}");
        return Ok(());
    }
    let (mut mock, base) = match &a.base {
        Some(b) => (None, b.clone()),
        None => {
            let (p, b) = start_mock(&a)?;
            (Some(p), b)
        }
    };
    let plain = child(&a, "plain", &base);
    let router = child(&a, "router", &base);
    let provider = child(&a, "provider", &base);
    if let Some(m) = mock.as_mut() {
        let _ = m.kill();
        let _ = m.wait();
    }
    let (plain, router, provider) = (plain?, router?, provider?);
    let ratio = router["throughput_rps"].as_f64().unwrap_or(0.0)
        / plain["throughput_rps"].as_f64().unwrap_or(f64::INFINITY);
    let report = json!({
        "benchmark": "router",
        "requests": a.requests,
        "concurrency": a.concurrency,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "plain": plain,
        "router": router,
        "provider_only": provider,
        "throughput_ratio": ratio,
        "goal_ratio": 0.8,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
