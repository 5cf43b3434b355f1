//! `cargo xtask bench`: runs every benchmark side by side on this machine and writes
//! `BENCHMARKS.md`. Figures are reported, never asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::{root, run_cmd};

/// Run the benchmarks named in `args` (`router`, `memory`, `startup`, `load`, `batch`,
/// `codex`, `gateway`, `state`, `python`; all when none). Sections of `BENCHMARKS.md` that were not
/// run this time are kept.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    run_cmd(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "scillm-bench",
        "-p",
        "scillm-cli",
    ]))?;
    let bin = root().join("target/release");
    let mut report = Report::default();
    if want("router") {
        router(&bin, &mut report)?;
    }
    if want("memory") {
        memory(&bin, &mut report)?;
    }
    if want("startup") {
        crate::bench_sidecar::startup(&bin, &mut report)?;
    }
    if want("load") {
        crate::bench_sidecar::load(&bin, &mut report)?;
    }
    if want("batch") {
        crate::bench_batch::batch(&bin, &mut report)?;
    }
    if want("codex") {
        crate::bench_codex::codex(&bin, &mut report)?;
    }
    if want("gateway") {
        crate::bench_gateway::run(&bin, &mut report)?;
    }
    if want("state") {
        crate::bench_state::run(&bin, &mut report)?;
    }
    if want("python") {
        crate::bench_python::run(&bin, &mut report)?;
    }
    let path = root().join("BENCHMARKS.md");
    let earlier = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, report.render(&earlier))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// The sections of one bench run.
#[derive(Default)]
pub(crate) struct Report {
    sections: Vec<(String, String)>,
}

impl Report {
    /// Add a section (also printed as it comes).
    pub(crate) fn add(&mut self, title: &str, body: String) {
        eprintln!("== {title}\n{body}");
        self.sections.push((title.to_string(), body));
    }

    /// The file: the machine, the sections of `earlier` not run this time, this run's
    /// sections, the notes.
    fn render(&self, earlier: &str) -> String {
        let mut out = String::from("# Benchmarks\n\nWritten by `cargo xtask bench`; every figure below comes from one run on the machine described, with the compared programs measured side by side in that run. Targets are goals, reported here and never asserted in tests.\n\n");
        out.push_str(&machine());
        for (t, b) in earlier_sections(earlier) {
            if !self.sections.iter().any(|(title, _)| *title == t) {
                out.push_str(&format!("\n## {t}\n\n{}\n", b.trim()));
            }
        }
        for (t, b) in &self.sections {
            out.push_str(&format!("\n## {t}\n\n{b}\n"));
        }
        out.push('\n');
        out.push_str(include_str!("bench_notes.md"));
        out
    }
}

/// The `## ` sections of an earlier BENCHMARKS.md, without the machine and the notes
/// (both written anew).
fn earlier_sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            out.push((title.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.retain(|(t, _)| t != "Machine" && !t.starts_with("Analysis"));
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
                    / 1024
                    / 1024
            })
        })
        .unwrap_or(0);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("## Machine\n\n- CPU: {cpu}, {cores} cores\n- memory: {mem} GiB\n- {rustc}, release profile\n- shared machine: figures vary from run to run; ratios are measured within one run\n")
}

/// A child process killed when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the mock upstream and read the base it prints.
pub(crate) fn mock(bin: &Path, extra: &[&str]) -> anyhow::Result<(Guard, String)> {
    mock_process(bin, "mock-upstream", extra)
}

/// Start mock program `name` and read the base it prints (`listening http://…`).
pub(crate) fn mock_process(
    bin: &Path,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<(Guard, String)> {
    let mut child = Command::new(bin.join(name))
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stderr.take().context("mock stderr")?).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("listening ")
        .context("mock did not start")?
        .to_string();
    Ok((Guard(child), base))
}

fn bench_router(bin: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(bin.join("bench-router")).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "bench-router failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

/// The median (the upper one of an even count; 0 for none).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn router(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let (_mock, base) = mock(bin, &["--threads", "1"])?;
    let args = [
        "--base",
        base.as_str(),
        "--n",
        "20000",
        "--concurrency",
        "256",
    ];
    let mut rows = Vec::new();
    let (mut plain, mut routed, mut paired) = (Vec::new(), Vec::new(), Vec::new());
    let (mut with_metrics, mut metrics_paired) = (Vec::new(), Vec::new());
    let mut scraped = Vec::new();
    for round in 0..5 {
        let mut pair = [0.0f64; 3];
        // Metrics on and off swap places every round, so neither always runs last.
        let order = if round % 2 == 0 {
            [(0, "plain"), (1, "router"), (2, "router-metrics")]
        } else {
            [(0, "plain"), (2, "router-metrics"), (1, "router")]
        };
        for (slot, mode) in order {
            let mut a = vec![mode];
            a.extend(args);
            let v = bench_router(bin, &a)?;
            rows.push(format!(
                "| {round} | {mode} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
                f(&v, "throughput_rps"),
                f(&v, "p50_ms"),
                f(&v, "p99_ms"),
                f(&v, "peak_rss_kib") / 1024.0,
                v["ok"]
            ));
            pair[slot] = f(&v, "throughput_rps");
            if let Some(n) = v["scraped_requests"].as_f64() {
                scraped.push(format!("{n:.0}"));
            }
        }
        plain.push(pair[0]);
        routed.push(pair[1]);
        with_metrics.push(pair[2]);
        paired.push(pair[1] / pair[0].max(1.0));
        metrics_paired.push(pair[2] / pair[1].max(1.0));
    }
    let metrics_ratios = metrics_paired
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    let m = median(with_metrics);
    let ratios = paired
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (p, r) = (median(plain), median(routed));
    report.add(
        "Router versus the plain reqwest client",
        format!(
            "Method: 20,000 chat requests at concurrency 256 against the zero-latency mock upstream (`mock-upstream`, a separate process, 1 worker thread). `plain` is a reqwest loop (`buffer_unordered(256)`, JSON parsed); `router` is `Router::parallel` with a `model_list` deployment on the `openai` provider (retries off, metadata on, an `rpm` limit of 100,000,000 that never binds, so admission is on the path). Five rounds; in each, plain then router run back to back so the pair shares the machine's load of that moment. Per-request times are client-side for `plain` and `timing_ms` for `router`.\n\n| round | client | req/s | p50 ms | p99 ms | peak RSS MiB | ok |\n|---|---|---|---|---|---|---|\n{}\n\nRouter/plain per round: {ratios}; **median {:.2}** (goal ≥ 0.90). Ratio of the median throughputs (plain {p:.0} req/s, router {r:.0} req/s): {:.2}.\n\nMetrics on versus off (SPEC §16): `router-metrics` is `router` with the process's Prometheus recorder installed, so every item records `scillm_requests_total`, the GenAI duration and token histograms, queue time, rate-limit wait and in-flight; it runs right after `router` in even rounds and right before it in odd ones. Metrics-on/off per round: {metrics_ratios}; **median {:.2}** (goal ≥ 0.95, i.e. metrics cost at most 5 %). Median throughputs: off {r:.0} req/s, on {m:.0} req/s. Requests counted by the scrape at the end of each metrics run: {}.\n",
            rows.join("\n"),
            median(paired),
            r / p.max(1.0),
            median(metrics_paired),
            scraped.join(", ")
        ),
    );
    Ok(())
}

fn memory(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let (_mock, base) = mock(bin, &["--hold-ms", "1000", "--threads", "1"])?;
    let mut rows = Vec::new();
    let (mut routed, mut plain) = (Vec::new(), Vec::new());
    for round in 0..3 {
        for (mode, client) in [("inflight", "router"), ("inflight-plain", "plain")] {
            let v = bench_router(bin, &[mode, "--base", &base, "--n", "10000"])?;
            let per = f(&v, "rss_per_request_kib");
            rows.push(format!(
                "| {round} | {client} | {} | {:.2} | {:.1} | {:.1} | **{per:.1}** |",
                v["ok"],
                f(&v, "wall_s"),
                f(&v, "base_rss_kib") / 1024.0,
                f(&v, "peak_rss_kib") / 1024.0,
            ));
            if client == "router" {
                &mut routed
            } else {
                &mut plain
            }
            .push(per);
        }
    }
    let (r, p) = (median(routed), median(plain));
    report.add(
        "Memory with 10,000 requests in flight",
        format!(
            "Method: 10,000 requests at concurrency 10,000 against the mock holding every answer 1 s, so all are in flight together (10,000 open connections); peak RSS (`VmHWM`) minus RSS before the run, divided by 10,000. `router` is `Router::parallel` (the 10,000 inputs and results included); `plain` is the reqwest loop of the same size, measured in the same run, which is what the HTTP/1.1 client alone costs per open request.\n\n| round | client | ok | wall s | RSS before MiB | peak MiB | KiB per request |\n|---|---|---|---|---|---|---|\n{}\n\nMedians: router **{r:.1} KiB** per in-flight request (goal ≤ 20 KiB); plain client {p:.1} KiB; the router's own share is {:.1} KiB.\n",
            rows.join("\n"),
            r - p
        ),
    );
    Ok(())
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether a server on `port` answers `GET /healthz` with 200 and `"ok":true`.
pub(crate) fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200") && buf.contains("\"ok\":true")
}

/// The `oha` load generator: `SCILLM_BENCH_OHA` when set (an `oha` installed elsewhere),
/// else the one under `.tools/cargo`, installed there on first use.
pub(crate) fn oha() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("SCILLM_BENCH_OHA").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let local = root().join(".tools/cargo/bin/oha");
    if local.is_file() {
        return Ok(local);
    }
    run_cmd(
        Command::new("cargo")
            .args(["install", "oha", "--locked", "--root"])
            .arg(root().join(".tools/cargo")),
    )?;
    Ok(local)
}

pub(crate) fn oha_run(oha: &Path, url: &str, extra: &[&str]) -> anyhow::Result<Value> {
    let body = r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#;
    let out = Command::new(oha)
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "-m",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            body,
        ])
        .args(extra)
        .arg(url)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "oha failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
