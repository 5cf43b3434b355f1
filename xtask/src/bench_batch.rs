//! `cargo xtask bench batch`: `scillm batch` over 100,000 and 1,000,000 lines against the
//! zero-latency mock at concurrency 256 (throughput, CPU and peak RSS side by side), and
//! the router's `parallel` on the same mock for the per-core comparison.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::bench::{mock, Report};
use crate::root;

/// What one measured process used.
struct Usage {
    wall_s: f64,
    cpu_s: f64,
    peak_rss_kib: u64,
}

/// Run `cmd` to the end, sampling its CPU time and peak RSS from /proc every 10 ms (the
/// last sample before it exits is kept; both only grow).
fn measure(cmd: &mut Command) -> anyhow::Result<(Usage, std::process::Output)> {
    let tick = clock_ticks();
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let pid = child.id();
    let (mut cpu_s, mut peak) = (0.0, 0);
    // Drain the pipes on threads so a chatty child never blocks.
    let mut out = child.stdout.take().context("stdout")?;
    let mut err = child.stderr.take().context("stderr")?;
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) {
                let f: Vec<&str> = rest.split(' ').collect();
                // utime and stime are fields 14 and 15; `rest` starts at field 3.
                let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
                    + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                cpu_s = ticks / tick;
            }
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(v) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                peak = v
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(peak);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall_s = started.elapsed().as_secs_f64();
    let output = std::process::Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    };
    Ok((
        Usage {
            wall_s,
            cpu_s,
            peak_rss_kib: peak,
        },
        output,
    ))
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn write_input(path: &Path, n: usize) -> anyhow::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        writeln!(
            w,
            r#"{{"model":"bench-model","messages":[{{"role":"user","content":"request {i}"}}],"temperature":0}}"#
        )?;
    }
    w.flush()?;
    Ok(())
}

/// The batch benchmark section.
pub fn batch(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let (_mock, base) = mock(bin, &["--threads", "1"])?;
    let dir = root().join("target/bench-batch");
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("scillm.toml");
    std::fs::write(
        &config,
        format!("[router]\nconcurrency = 256\n[codex_agent]\nmax_retries = 0\n[[model_list]]\nmodel_name = \"bench-model\"\nprovider = \"openai\"\napi_base = \"{base}\"\n"),
    )?;
    let mut rows = Vec::new();
    let mut per_core = Vec::new();
    let mut peaks = Vec::new();
    for n in [100_000usize, 1_000_000] {
        let input = dir.join(format!("in-{n}.jsonl"));
        let output = dir.join(format!("out-{n}.jsonl"));
        write_input(&input, n)?;
        let (u, out) = measure(
            Command::new(bin.join("scillm"))
                .arg("--config")
                .arg(&config)
                .arg("batch")
                .arg(&input)
                .arg("-o")
                .arg(&output)
                .args(["--concurrency", "256", "--no-progress"])
                .env("SCILLM_LOG", "error"),
        )?;
        anyhow::ensure!(
            out.status.code() == Some(0),
            "scillm batch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = std::fs::read(&output)?
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        anyhow::ensure!(lines == n, "{lines} output lines for {n} input lines");
        let _ = std::fs::remove_file(&output);
        let _ = std::fs::remove_file(&input);
        let rps = n as f64 / u.wall_s;
        per_core.push(n as f64 / u.cpu_s.max(1e-9));
        peaks.push(u.peak_rss_kib as f64);
        rows.push(format!(
            "| `scillm batch` | {n} | {:.1} | {rps:.0} | {:.1} | {:.0} | {:.1} |",
            u.wall_s,
            u.cpu_s,
            n as f64 / u.cpu_s.max(1e-9),
            u.peak_rss_kib as f64 / 1024.0
        ));
    }
    let n = 100_000usize;
    let (u, out) = measure(Command::new(bin.join("bench-router")).args([
        "router",
        "--base",
        &base,
        "--n",
        &n.to_string(),
        "--concurrency",
        "256",
    ]))?;
    anyhow::ensure!(
        out.status.success(),
        "bench-router failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let router_per_core = n as f64 / u.cpu_s.max(1e-9);
    rows.push(format!(
        "| `Router::parallel` (bench-router) | {n} | {:.1} | {:.0} | {:.1} | {router_per_core:.0} | {:.1} |",
        u.wall_s,
        n as f64 / u.wall_s,
        u.cpu_s,
        u.peak_rss_kib as f64 / 1024.0
    ));
    let rss_ratio = peaks[1] / peaks[0].max(1.0);
    let core_ratio = |i: usize| per_core[i] / router_per_core.max(1e-9);
    report.add(
        "Batch at scale",
        format!(
            "Method: `scillm batch IN -o OUT --concurrency 256` (release) over 100,000 and 1,000,000 lines against the zero-latency mock upstream (`mock-upstream`, a separate process, 1 worker thread), through a `model_list` deployment on the `openai` provider (retries off), input order, journal on. Then, for the per-core comparison, `Router::parallel` over 100,000 of the same requests (`bench-router router`, the 100,000 results held in memory). CPU time (user + system) and peak RSS (`VmHWM`) are sampled from /proc every 10 ms; requests per CPU-second is the per-core throughput. The machine is shared with other builds, so absolute figures move from run to run; the ratios come from this one run.\n\n| program | lines | wall s | req/s | CPU s | req per CPU-s | peak RSS MiB |\n|---|---|---|---|---|---|---|\n{}\n\nPeak RSS at 1,000,000 / 100,000 lines: **{rss_ratio:.2}** (goal ≤ 1.2). Per-core throughput of `scillm batch` / `Router::parallel`: **{:.2}** at 100,000 lines, {:.2} at 1,000,000 (goal ≥ 0.9).\n",
            rows.join("\n"),
            core_ratio(0),
            core_ratio(1),
        ),
    );
    Ok(())
}
