//! The echo sidecar's benchmarks: start-up time, and throughput under load (with metrics
//! on versus off).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bench::{free_port, healthy, median, mock, oha, oha_run, Guard, Report};

fn sidecar(bin: &Path, port: u16) -> anyhow::Result<Guard> {
    sidecar_with(bin, port, true)
}

/// The echo sidecar on `port`, recording metrics or not (`SCILLM_METRICS`).
fn sidecar_with(bin: &Path, port: u16, metrics: bool) -> anyhow::Result<Guard> {
    Ok(Guard(
        Command::new(bin.join("scillm"))
            .args(["sidecar", "--echo", "--port", &port.to_string()])
            .env("SCILLM_LOG", "error")
            .env("SCILLM_METRICS", if metrics { "on" } else { "off" })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

pub(crate) fn startup(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let mut times = Vec::new();
    for _ in 0..10 {
        let port = free_port()?;
        let t = Instant::now();
        let _g = sidecar(bin, port)?;
        while !healthy(port) {
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(10),
                "sidecar did not become healthy"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let min = times.iter().copied().fold(f64::MAX, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    report.add(
        "Sidecar start-up",
        format!(
            "Method: spawn `scillm sidecar --echo` (release build) and poll `GET /healthz` every 0.5 ms until it answers `ok:true`; 10 runs.\n\n- **median {:.1} ms**, min {min:.1} ms, max {max:.1} ms (goal ≤ 100 ms)\n",
            median(times)
        ),
    );
    Ok(())
}

pub(crate) fn load(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let oha = oha()?;
    let port = free_port()?;
    let _g = sidecar(bin, port)?;
    let off_port = free_port()?;
    let _off = sidecar_with(bin, off_port, false)?;
    let t = Instant::now();
    while !healthy(port) || !healthy(off_port) {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(10),
            "sidecar did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // The reference: a constant answer from a bare axum server on the same runtime size,
    // under the same load generator: a practical ceiling for a server on this machine.
    let (_reference, reference_base) = mock(bin, &["--threads", "2"])?;
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let reference_url = format!("{reference_base}/v1/chat/completions");
    let _warm = oha_run(&oha, &url, &["-c", "64", "-z", "2s"])?;
    let _warm = oha_run(&oha, &reference_url, &["-c", "64", "-z", "2s"])?;
    let closed = oha_run(&oha, &url, &["-c", "64", "-z", "10s"])?;
    let reference = oha_run(&oha, &reference_url, &["-c", "64", "-z", "10s"])?;
    let fixed = oha_run(&oha, &url, &["-c", "64", "-q", "5000", "-z", "10s"])?;
    // Metrics on versus off (SPEC §16): the same closed loop against a second sidecar
    // with SCILLM_METRICS=off, alternating, three 5 s runs each.
    let off_url = format!("http://127.0.0.1:{off_port}/v1/chat/completions");
    let _warm = oha_run(&oha, &off_url, &["-c", "64", "-z", "2s"])?;
    let (mut on_runs, mut off_runs) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let pair = [(&url, true), (&off_url, false)];
        let order: Vec<_> = if round % 2 == 0 {
            pair.to_vec()
        } else {
            pair.iter().rev().copied().collect()
        };
        for (u, on) in order {
            let v = oha_run(&oha, u, &["-c", "64", "-z", "5s"])?;
            let r = v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0);
            if on {
                on_runs.push(r);
            } else {
                off_runs.push(r);
            }
        }
    }
    let pct = |v: &Value, p: &str| v["latencyPercentiles"][p].as_f64().unwrap_or(0.0) * 1000.0;
    let rps = |v: &Value| v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0);
    let ok = |v: &Value| v["summary"]["successRate"].as_f64().unwrap_or(0.0) * 100.0;
    let row = |name: &str, v: &Value| {
        format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
            rps(v),
            pct(v, "p50"),
            pct(v, "p90"),
            pct(v, "p99"),
            ok(v)
        )
    };
    report.add(
        "Echo sidecar under load",
        format!(
            "Method: `scillm sidecar --echo` (release) on loopback; `oha` (from crates.io, installed by the bench) as the load generator on the same 2 cores; a 2 s warm-up, then 10 s closed-loop at 64 connections, then 10 s at a fixed 5,000 requests/s. For reference, in the same run: the same closed loop against a bare axum server (`axum::serve`, `mock-upstream --threads 2`) answering a constant body: a practical ceiling for an HTTP server on this machine under this load generator.\n\n| run | req/s | p50 ms | p90 ms | p99 ms | success % |\n|---|---|---|---|---|---|\n{}\n{}\n{}\n\nGoals: ≥ 30,000 req/s at 64 connections with p99 < 5 ms. Sidecar / bare-server throughput ratio: **{:.2}**.\n\nMetrics on versus off: the same closed loop (64 connections, 5 s, three alternating rounds) against this sidecar and a second one started with `SCILLM_METRICS=off`: on {} req/s, off {} req/s; median on / median off **{:.3}** (goal ≥ 0.95: metrics cost at most 5 %).\n",
            row("sidecar, 64 connections, closed loop", &closed),
            row("bare axum reference, 64 connections, closed loop", &reference),
            row("sidecar, fixed 5,000 req/s", &fixed),
            rps(&closed) / rps(&reference).max(1.0),
            fmt_runs(&on_runs),
            fmt_runs(&off_runs),
            median(on_runs.clone()) / median(off_runs.clone()).max(1.0),
        ),
    );
    Ok(())
}

/// Throughputs as `a, b, c` (whole requests per second).
fn fmt_runs(runs: &[f64]) -> String {
    runs.iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
