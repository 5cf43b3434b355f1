//! `cargo xtask bench state`: what sharing rate limits through Redis (SPEC §18) costs a
//! gateway. One `scillm serve` with an `rpm`/`tpm`-limited deployment kept in the process,
//! one with the same deployment's limits shared through a local `redis-server`, and one
//! without limits, each in front of the zero-latency mock upstream, side by side in one
//! run: closed-loop throughput at 64 connections and p50/p99.
//!
//! The limits are set far above what the machine can send, so every request is admitted
//! and what is measured is the cost of checking and charging them (one Lua script call per
//! request when shared), not waiting.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bench::{free_port, mock, oha, oha_run, Guard, Report};
use crate::bench_gateway::{ok_share, wait_ready};
use crate::externals;

/// Limits no run reaches: the checks run, nothing waits.
const LIMITS: &str = "rpm = 1000000000\ntpm = 4000000000";

/// A throw-away `redis-server` on a free loopback port, without persistence.
fn redis() -> anyhow::Result<(Guard, u16)> {
    let bin = externals::redis_server()?;
    let port = free_port()?;
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let guard = Guard(child);
    let started = Instant::now();
    loop {
        let pong = TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = [0u8; 7];
            s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
        });
        if pong {
            return Ok((guard, port));
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not answer PING"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `scillm serve` with `config` (TOML), ready on its `/healthz`.
fn serve(bin: &Path, dir: &Path, name: &str, config: &str) -> anyhow::Result<(Guard, u16)> {
    let port = free_port()?;
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "{config}\n[gateway]\ndata_dir = \"{}\"\n",
            dir.join(name).display()
        ),
    )?;
    let child = Command::new(bin.join("scillm"))
        .args(["serve", "--port", &port.to_string()])
        .env("SCILLM_CONFIG", &path)
        .env("SCILLM_LOG", "error")
        .env_remove("SCILLM_REDIS_URL")
        .env_remove("LITELLM_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let guard = Guard(child);
    wait_ready(port, "/healthz", "scillm serve", Duration::from_secs(20))?;
    Ok((guard, port))
}

/// 3 s warm-up, then 10 s closed loop at 64 connections.
fn measure(oha: &Path, port: u16) -> anyhow::Result<Value> {
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    oha_run(oha, &url, &["-c", "64", "-z", "3s"])?;
    oha_run(oha, &url, &["-c", "64", "-z", "10s"])
}

/// Run the shared-state benchmark into `report`.
pub fn run(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let oha = oha()?;
    let dir = std::env::temp_dir().join(format!("scillm-bench-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (_mock, base) = mock(bin, &["--threads", "1"])?;
    let (_redis, redis_port) = redis()?;
    let deployment = |limits: &str| {
        format!(
            "[[model_list]]\nmodel_name = \"gpt-5\"\nprovider = \"openai\"\napi_base = \"{base}\"\napi_key = \"sk-bench\"\n{limits}\n"
        )
    };
    let variants = [
        ("no limits", deployment("")),
        ("local limits", deployment(LIMITS)),
        (
            "Redis-shared limits",
            format!(
                "[state]\nredis_url = \"redis://127.0.0.1:{redis_port}\"\n\n{}",
                deployment(LIMITS)
            ),
        ),
    ];
    let mut rows = Vec::new();
    for (i, (name, config)) in variants.iter().enumerate() {
        // One gateway at a time, so each has the machine to itself.
        let (_gw, port) = serve(bin, &dir, &format!("v{i}"), config)?;
        let v = measure(&oha, port)?;
        eprintln!("xtask: {name} statuses: {}", v["statusCodeDistribution"]);
        rows.push((*name, v));
    }
    let rps = |v: &Value| v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0);
    let pct = |v: &Value, p: &str| v["latencyPercentiles"][p].as_f64().unwrap_or(0.0) * 1000.0;
    let ok = ok_share;
    let table: Vec<String> = rows
        .iter()
        .map(|(name, v)| {
            format!(
                "| {name} | {:.0} | {:.1} | {:.3} | {:.3} |",
                rps(v),
                ok(v),
                pct(v, "p50"),
                pct(v, "p99")
            )
        })
        .collect();
    let local = rps(&rows[1].1);
    let shared = rps(&rows[2].1);
    let cost = if local > 0.0 {
        (1.0 - shared / local) * 100.0
    } else {
        0.0
    };
    report.add(
        "Gateway: Redis-shared vs local rate limits",
        format!(
            "Method: `scillm serve` (release) in front of the zero-latency mock upstream (`mock-upstream --threads 1`), one deployment with `rpm`/`tpm` set far above what is sent (every request is admitted; the checks and charges still run), limits kept in the process vs shared through a local `redis-server` (`[state] redis_url`: one Lua script call, cooldown check included, per group of requests arriving together), and without limits as the reference; `oha` at 64 connections, 3 s warm-up then 10 s closed loop per variant, one gateway at a time, all on the same cores.\n\n| variant | req/s (64 conn) | 2xx % | p50 ms | p99 ms |\n|---|---|---|---|---|\n{}\n\nGoal: shared limits cost ≤ 15 % of the throughput with local limits. Measured: **{cost:.1} %** (shared / local = {:.2}).\n",
            table.join("\n"),
            shared / local.max(1.0),
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
