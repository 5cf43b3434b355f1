//! `cargo xtask bench codex`: the two Codex backends of the sidecar side by side, each a
//! `scillm sidecar` running the pinned Codex CLI against the zero-latency Responses mock
//! (`responses-mock`): latency per request sequentially (p50) and throughput at
//! concurrency 8.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::bench::{free_port, healthy, median, mock_process, Guard, Report};
use crate::externals;
use crate::root;

/// Sequential requests per backend (after the warm-up).
const SEQUENTIAL: usize = 20;
/// Requests per backend in the concurrent run.
const CONCURRENT: usize = 48;
/// Connections in the concurrent run.
const CONCURRENCY: usize = 8;

const BACKENDS: [&str; 2] = ["app-server", "exec"];

/// One chat request over a fresh connection; the time to the full answer.
fn chat(port: u16) -> anyhow::Result<Duration> {
    let body = r#"{"model":"gpt-5","messages":[{"role":"user","content":"Say ok."}]}"#;
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    anyhow::ensure!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\"content\":\"ok\""),
        "the sidecar did not answer ok: {}",
        answer.chars().take(400).collect::<String>()
    );
    Ok(t.elapsed())
}

/// A `CODEX_HOME` selecting the mock, with the shell snapshot off.
fn codex_home(dir: &Path, mock_base: &str) -> anyhow::Result<()> {
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "model = \"gpt-5\"\nmodel_provider = \"mock\"\napproval_policy = \"never\"\n\n[features]\nshell_snapshot = false\n\n[model_providers.mock]\nname = \"Loopback mock\"\nbase_url = \"{mock_base}/v1\"\nwire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n"
        ),
    )?;
    std::fs::write(
        dir.join("auth.json"),
        r#"{"OPENAI_API_KEY":"sk-dummy-not-used"}"#,
    )?;
    Ok(())
}

fn sidecar(bin: &Path, codex: &Path, home: &Path, backend: &str) -> anyhow::Result<(Guard, u16)> {
    let port = free_port()?;
    let guard = Guard(
        Command::new(bin.join("scillm"))
            .args(["sidecar", "--port", &port.to_string()])
            .env("CODEX_BACKEND", backend)
            .env(
                "CODEX_CMD",
                format!(
                    "{} exec --json --skip-git-repo-check --sandbox read-only",
                    codex.display()
                ),
            )
            .env("CODEX_HOME", home)
            .env("MAX_CONCURRENCY", CONCURRENCY.to_string())
            .env("RETRIES", "0")
            .env("SCILLM_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let t = Instant::now();
    while !healthy(port) {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(10), "sidecar not healthy");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((guard, port))
}

/// `n` requests over `c` threads; requests per second.
fn throughput(port: u16, n: usize, c: usize) -> anyhow::Result<f64> {
    let t = Instant::now();
    let per = n / c;
    let workers: Vec<_> = (0..c)
        .map(|_| std::thread::spawn(move || (0..per).try_for_each(|_| chat(port).map(|_| ()))))
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
    }
    Ok((per * c) as f64 / t.elapsed().as_secs_f64())
}

/// Run the benchmark and add its section to `report`.
pub fn codex(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let codex = externals::install(&root())?.codex;
    let version = externals::codex_version();
    let (_mock, mock_base) = mock_process(bin, "responses-mock", &[])?;
    let home = std::env::temp_dir().join(format!("scillm-bench-codex-{}", std::process::id()));
    std::fs::create_dir_all(&home)?;
    codex_home(&home, &mock_base)?;
    let mut sidecars = Vec::new();
    for backend in BACKENDS {
        let (guard, port) = sidecar(bin, &codex, &home, backend)
            .with_context(|| format!("starting the {backend} sidecar"))?;
        // Warm-up: the app-server child starts on the first request.
        for _ in 0..3 {
            chat(port)?;
        }
        sidecars.push((backend, guard, port));
    }
    // Sequential, interleaved: each round sends one request to each backend.
    let mut seq: Vec<Vec<f64>> = vec![Vec::new(); BACKENDS.len()];
    for _ in 0..SEQUENTIAL {
        for (i, (_, _, port)) in sidecars.iter().enumerate() {
            seq[i].push(chat(*port)?.as_secs_f64() * 1000.0);
        }
    }
    let mut rps = Vec::new();
    for (_, _, port) in &sidecars {
        rps.push(throughput(*port, CONCURRENT, CONCURRENCY)?);
    }
    let _ = std::fs::remove_dir_all(&home);
    let p50: Vec<f64> = seq.iter().map(|v| median(v.clone())).collect();
    let rows: Vec<String> = BACKENDS
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let min = seq[i].iter().copied().fold(f64::MAX, f64::min);
            let max = seq[i].iter().copied().fold(0.0, f64::max);
            format!(
                "| {b} | **{:.1}** | {min:.1} | {max:.1} | {:.1} |",
                p50[i], rps[i]
            )
        })
        .collect();
    report.add(
        "Codex backends: app-server versus exec",
        format!(
            "Method: two `scillm sidecar` processes (release), one per `CODEX_BACKEND`, both running the pinned Codex CLI {version} (`@openai/codex`) against the zero-latency Responses API mock (`responses-mock`, a separate process) through one `CODEX_HOME` with `[features] shell_snapshot = false`; `MAX_CONCURRENCY={CONCURRENCY}`. After 3 warm-up requests each, {SEQUENTIAL} sequential rounds send one non-streamed chat to each backend in turn (a new connection per request; time to the full answer); then {CONCURRENT} requests over {CONCURRENCY} concurrent connections to each backend in turn.\n\n| backend | p50 ms (sequential) | min ms | max ms | req/s at concurrency {CONCURRENCY} |\n|---|---|---|---|---|\n{}\n\napp-server / exec per-request latency (p50): **{:.3}** (goal ≤ 0.2); throughput ratio app-server / exec: {:.1}×.\n",
            rows.join("\n"),
            p50[0] / p50[1].max(0.001),
            rps[0] / rps[1].max(0.001),
        ),
    );
    Ok(())
}
