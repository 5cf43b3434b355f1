//! The router benchmark driver. Prints one JSON object with its figures.
//!
//! - `bench-router plain  --base URL --n N --concurrency C`: a plain reqwest loop.
//! - `bench-router router --base URL --n N --concurrency C`: the same requests through
//!   `Router::parallel` (a `model_list` deployment with the `openai` provider and an `rpm`
//!   limit that never binds).
//! - `bench-router router-metrics --base URL --n N --concurrency C`: `router` with the
//!   process's Prometheus recorder installed, so every item records its metrics (SPEC
//!   §16); reports the `scillm_requests_total` the scrape shows.
//! - `bench-router inflight --base URL --n N`: N requests in flight at once through the
//!   router against an upstream that holds each answer; reports peak RSS per in-flight
//!   request.
//! - `bench-router inflight-plain --base URL --n N`: the same with the plain reqwest loop,
//!   the floor the HTTP client itself sets.
//!
//! Both the plain loop and the router run with the binary's allocator (mimalloc, as the
//! `scillm` binary does).

/// The allocator of the binary: mimalloc, which halves the time the router's many small
/// allocations (request and answer JSON, metadata) spend in the allocator compared with
/// glibc's malloc (measured with `cargo xtask bench router`; BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use scillm_bench::{peak_rss_kib, percentile_ms, raise_nofile, request_body, rss_kib};
use scillm_core::config::ConfigLoader;
use scillm_router::{ParallelOptions, RequestItem, Router};
use serde_json::json;

use scillm_provider_codex as _;

#[derive(Clone)]
struct Args {
    mode: String,
    base: String,
    n: usize,
    concurrency: usize,
}

fn parse() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_default();
    let mut a = Args {
        mode,
        base: String::new(),
        n: 20_000,
        concurrency: 256,
    };
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--base" => a.base = v,
            "--n" => a.n = v.parse()?,
            "--concurrency" => a.concurrency = v.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(!a.base.is_empty(), "--base is required");
    Ok(a)
}

fn router_for(base: &str, concurrency: usize) -> anyhow::Result<Router> {
    let config = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set(
            "model_list",
            // An rpm limit high enough never to bind: admission is on the path, waiting is not.
            json!([{"model_name": "bench-model", "provider": "openai", "api_base": base,
                    "rpm": 100_000_000u64}]),
        )
        .set("router.concurrency", concurrency as u64)
        .set("router.num_retries", 0)
        .load()?;
    Ok(Router::new(Arc::new(config))?)
}

async fn plain(a: &Args) -> anyhow::Result<(Duration, Vec<Duration>, usize)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let url = format!("{}/v1/chat/completions", a.base);
    let started = Instant::now();
    let results: Vec<(Duration, bool)> = futures::stream::iter(0..a.n)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let t = Instant::now();
                let ok = match client.post(&url).json(&request_body(i)).send().await {
                    Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.is_ok(),
                    _ => false,
                };
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(a.concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    let ok = results.iter().filter(|r| r.1).count();
    Ok((wall, results.into_iter().map(|r| r.0).collect(), ok))
}

async fn routed(a: &Args) -> anyhow::Result<(Duration, Vec<Duration>, usize)> {
    let router = router_for(&a.base, a.concurrency)?;
    let items: Vec<RequestItem> = (0..a.n)
        .map(|i| RequestItem::Raw(request_body(i)))
        .collect();
    let started = Instant::now();
    let results = router
        .parallel(items, ParallelOptions::new().concurrency(a.concurrency))
        .await;
    let wall = started.elapsed();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let times = results
        .iter()
        .map(|r| Duration::from_millis(r.meta.timing_ms))
        .collect();
    Ok((wall, times, ok))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    raise_nofile();
    let a = parse()?;
    let base_rss = rss_kib();
    let a = match a.mode.as_str() {
        "inflight" | "inflight-plain" => Args {
            concurrency: a.n,
            ..a
        },
        _ => a,
    };
    let metrics = if a.mode == "router-metrics" {
        Some(scillm_telemetry::prometheus::handle().map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let (wall, mut times, ok) = match a.mode.as_str() {
        "plain" | "inflight-plain" => plain(&a).await?,
        "router" | "router-metrics" | "inflight" => routed(&a).await?,
        other => {
            anyhow::bail!(
                "unknown mode {other:?}: plain, router, router-metrics, inflight or inflight-plain"
            )
        }
    };
    // What a scrape at the end shows: every request counted.
    let scraped = metrics.map(|h| scraped_requests(&h.render()));
    let peak = peak_rss_kib();
    let out = json!({
        "mode": a.mode,
        "n": a.n,
        "concurrency": a.concurrency,
        "ok": ok,
        "wall_s": wall.as_secs_f64(),
        "throughput_rps": a.n as f64 / wall.as_secs_f64(),
        "p50_ms": percentile_ms(&mut times, 50.0),
        "p99_ms": percentile_ms(&mut times, 99.0),
        "base_rss_kib": base_rss,
        "peak_rss_kib": peak,
        "rss_per_request_kib": (peak.saturating_sub(base_rss)) as f64 / a.n as f64,
        "scraped_requests": scraped,
    });
    emit(&out.to_string());
    Ok(())
}

/// The sum of every `scillm_requests_total` sample of a Prometheus text scrape.
fn scraped_requests(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("scillm_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The figures go to standard output, one JSON line, for `cargo xtask bench` to read.
#[allow(clippy::print_stdout)]
fn emit(line: &str) {
    println!("{line}");
}
