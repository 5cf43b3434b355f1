//! `cargo xtask bench gateway`: `scillm serve` in front of the zero-latency mock upstream,
//! LiteLLM's proxy (`litellm[proxy]` from PyPI) in front of the same mock, and the mock
//! called directly, side by side in one run: closed-loop throughput at 64 connections and
//! p50/p99 at a fixed 1,000 requests/s, from which the latency each gateway adds is read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bench::{free_port, mock, oha, oha_run, Guard, Report};
use crate::{externals, root};

/// LiteLLM's proxy workers: one Uvicorn worker per core, as its server-tuning guide
/// packs several workers into one machine (this bench machine has 2 cores).
const LITELLM_WORKERS: &str = "2";

/// The client key both gateways check (LiteLLM's proxy refuses to start without a master
/// key; `scillm serve` gets the same as a `[gateway] keys` entry, so both do the work).
const KEY: &str = "sk-bench-5f0c2d9e7a41b3c86d1e0f2a9b7c4e35";

/// Whether `GET path` on loopback `port` answers 200.
fn answers_200(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

pub(crate) fn wait_ready(port: u16, path: &str, what: &str, limit: Duration) -> anyhow::Result<()> {
    let t = Instant::now();
    while !answers_200(port, path) {
        anyhow::ensure!(t.elapsed() < limit, "{what} did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn scillm_serve(bin: &Path, mock_base: &str, dir: &Path) -> anyhow::Result<(Guard, u16)> {
    let port = free_port()?;
    let config = dir.join("scillm.toml");
    std::fs::write(
        &config,
        format!(
            "[[model_list]]\nmodel_name = \"gpt-5\"\nprovider = \"openai\"\napi_base = \"{mock_base}\"\napi_key = \"sk-bench\"\n\n[gateway]\ndata_dir = \"{}\"\n\n[[gateway.keys]]\nname = \"bench\"\nkey = \"os.environ/SCILLM_BENCH_KEY\"\n",
            dir.join("data").display()
        ),
    )?;
    let child = Command::new(bin.join("scillm"))
        .args(["serve", "--port", &port.to_string()])
        .env("SCILLM_CONFIG", &config)
        .env("SCILLM_BENCH_KEY", KEY)
        .env("SCILLM_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let guard = Guard(child);
    wait_ready(port, "/healthz", "scillm serve", Duration::from_secs(20))?;
    Ok((guard, port))
}

fn litellm_proxy(mock_base: &str, dir: &Path) -> anyhow::Result<(Guard, u16)> {
    let litellm = externals::install_litellm_proxy(&root())?;
    let port = free_port()?;
    let config = dir.join("litellm.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: gpt-5\n    litellm_params:\n      model: openai/gpt-5\n      api_base: {mock_base}/v1\n      api_key: sk-bench\nlitellm_settings:\n  set_verbose: false\n"
        ),
    )?;
    let child = Command::new(litellm)
        .args(["--config"])
        .arg(&config)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--num_workers",
            LITELLM_WORKERS,
        ])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_MASTER_KEY", KEY)
        .env("LITELLM_LOG", "ERROR")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let guard = Guard(child);
    wait_ready(
        port,
        "/health/liveliness",
        "the LiteLLM proxy",
        Duration::from_secs(120),
    )?;
    Ok((guard, port))
}

/// One chat request to `port`: the answer's status line and body, for the report's log.
fn probe(port: u16) -> String {
    let body = r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return "cannot connect".into();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(req.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Closed loop at 64 connections, then a fixed 1,000 req/s (latency-corrected), each
/// after a warm-up.
fn measure(oha: &Path, url: &str) -> anyhow::Result<(Value, Value)> {
    let auth = format!("authorization: Bearer {KEY}");
    let run = |extra: &[&str]| {
        let mut args = vec!["-H", auth.as_str()];
        args.extend_from_slice(extra);
        oha_run(oha, url, &args)
    };
    run(&["-c", "64", "-z", "3s"])?;
    let closed = run(&["-c", "64", "-z", "10s"])?;
    let fixed = run(&[
        "-c",
        "64",
        "-q",
        "1000",
        "--latency-correction",
        "-z",
        "10s",
    ])?;
    Ok((closed, fixed))
}

/// Run the gateway benchmark into `report`.
pub fn run(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let oha = oha()?;
    let dir = tempfile_dir()?;
    let (_mock, mock_base) = mock(bin, &["--threads", "1"])?;
    let (_scillm, scillm_port) = scillm_serve(bin, &mock_base, &dir)?;
    let (_litellm, litellm_port) = litellm_proxy(&mock_base, &dir)?;
    eprintln!("xtask: scillm serve answers:\n{}", probe(scillm_port));
    eprintln!("xtask: LiteLLM proxy answers:\n{}", probe(litellm_port));
    let direct = measure(&oha, &format!("{mock_base}/v1/chat/completions"))?;
    let scillm = measure(
        &oha,
        &format!("http://127.0.0.1:{scillm_port}/v1/chat/completions"),
    )?;
    let litellm = measure(
        &oha,
        &format!("http://127.0.0.1:{litellm_port}/v1/chat/completions"),
    )?;
    let pct = |v: &Value, p: &str| v["latencyPercentiles"][p].as_f64().unwrap_or(0.0) * 1000.0;
    let rps = |v: &Value| v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0);
    let ok = ok_share;
    let row = |name: &str, (closed, fixed): &(Value, Value)| {
        format!(
            "| {name} | {:.0} | {:.1} | {:.3} | {:.3} | {:+.3} | {:+.3} | {:.1} |",
            rps(closed),
            ok(closed),
            pct(fixed, "p50"),
            pct(fixed, "p99"),
            pct(fixed, "p50") - pct(&direct.1, "p50"),
            pct(fixed, "p99") - pct(&direct.1, "p99"),
            ok(fixed),
        )
    };
    for (name, (closed, fixed)) in [
        ("direct", &direct),
        ("scillm", &scillm),
        ("litellm", &litellm),
    ] {
        eprintln!(
            "xtask: {name} statuses: closed {} fixed {}",
            closed["statusCodeDistribution"], fixed["statusCodeDistribution"]
        );
    }
    let ratio = rps(&scillm.0) / rps(&litellm.0).max(1.0);
    report.add(
        "Gateway: scillm serve vs LiteLLM proxy",
        format!(
            "Method: the zero-latency mock upstream (`mock-upstream --threads 1`) behind `scillm serve` (release) and behind LiteLLM's proxy (`litellm[proxy]` from PyPI, `--num_workers {LITELLM_WORKERS}`: one Uvicorn worker per core, no database; both check the same bearer key), and called directly; `oha` as the load generator, all on the same 2 cores. Each target: 3 s warm-up, 10 s closed loop at 64 connections, 10 s at a fixed 1,000 requests/s (`--latency-correction`). Added latency = the target's percentile minus the direct mock's at 1,000 req/s.\n\n| target | req/s (64 conn) | 2xx % | p50 ms @1k | p99 ms @1k | added p50 ms | added p99 ms | 2xx % @1k |\n|---|---|---|---|---|---|---|---|\n{}\n{}\n{}\n\nGoals: ≥ 30× LiteLLM proxy's throughput; added p99 ≤ 1 ms at 1,000 req/s. Measured: scillm serve / LiteLLM proxy throughput **{ratio:.1}×**.\n",
            row("mock, direct", &direct),
            row("scillm serve", &scillm),
            row("LiteLLM proxy", &litellm),
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A fresh directory for the configs and the gateway's data.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("scillm-bench-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The share of an `oha` run's answers that were 2xx, in % (oha's own success rate counts
/// any status).
pub(crate) fn ok_share(v: &Value) -> f64 {
    let dist = v["statusCodeDistribution"].as_object();
    let count = |pred: &dyn Fn(&str) -> bool| -> f64 {
        dist.map_or(0.0, |d| {
            d.iter()
                .filter(|(k, _)| pred(k))
                .map(|(_, n)| n.as_f64().unwrap_or(0.0))
                .sum()
        })
    };
    let all = count(&|_| true);
    if all == 0.0 {
        0.0
    } else {
        (count(&|k| k.starts_with('2')) / all * 100.0).max(0.0)
    }
}
