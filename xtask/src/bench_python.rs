//! `cargo xtask bench python`: the `scillm` Python package against LiteLLM's Router and the
//! OpenAI SDK's `AsyncOpenAI`, in one Python process, against the zero-latency mock
//! (`python/bench/compare_clients.py` does the measuring).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use serde_json::Value;

use crate::bench::{median, mock, Report};
use crate::{python, root, run_cmd};

/// The packages of the benchmark venv (`.venv-bench/`, apart from the test venv so that
/// LiteLLM's dependencies never change what the tests run with).
const PACKAGES: &[&str] = &["litellm", "openai", "maturin>=1.7,<2"];

fn venv() -> anyhow::Result<std::path::PathBuf> {
    let venv = root().join(".venv-bench");
    let python = venv.join("bin/python");
    if !python.is_file() {
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("creating .venv-bench (is python3-venv installed?)")?;
    }
    let ready = venv.join("bin/maturin").is_file()
        && Command::new(&python)
            .args(["-c", "import litellm, openai"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        run_cmd(
            Command::new(&python)
                .args(["-m", "pip", "install", "-q"])
                .args(PACKAGES),
        )
        .context("installing LiteLLM, the OpenAI SDK and maturin into .venv-bench")?;
    }
    Ok(venv)
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

/// Run the comparison and add its section to `report`.
pub fn run(bin: &Path, report: &mut Report) -> anyhow::Result<()> {
    let venv = venv()?;
    let python_bin = venv.join("bin/python");
    let wheel = python::build_wheel(&venv, true)?;
    python::install_wheel(&python_bin, &wheel)?;
    let (_mock, base) = mock(bin, &["--threads", "1"])?;
    let out = Command::new(&python_bin)
        .arg(root().join("python/bench/compare_clients.py"))
        .args(["--base", &base])
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "compare_clients.py failed");
    let v: Value = serde_json::from_slice(&out.stdout).context("compare_clients.py output")?;
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    let mut table = Vec::new();
    let per = |client: &str, key: &str| -> f64 {
        median(
            rows.iter()
                .filter(|r| r["client"] == client)
                .map(|r| num(r, key))
                .collect(),
        )
    };
    for r in &rows {
        table.push(format!(
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
            r["round"],
            r["client"].as_str().unwrap_or(""),
            r["n"],
            r["ok"],
            num(r, "rps"),
            num(r, "rss_before_mib"),
            num(r, "peak_rss_mib"),
            num(r, "peak_rss_mib") - num(r, "rss_before_mib"),
            num(r, "kib_per_request"),
        ));
    }
    let (s, l, o) = (
        per("scillm", "rps"),
        per("litellm", "rps"),
        per("openai", "rps"),
    );
    let growth = |c: &str| per(c, "kib_per_request");
    let versions = &v["versions"];
    report.add(
        "Python package: scillm versus LiteLLM Router versus AsyncOpenAI",
        format!(
            "Method: one Python {} process (`python/bench/compare_clients.py`, venv `.venv-bench`) runs three clients in turn against the zero-latency mock upstream (`mock-upstream`, a separate process, 1 worker thread), all at concurrency {}: `scillm` is `scillm.Router(model_list=[LiteLLM-style deployment]).parallel_acompletions(requests)` (release wheel, results as dicts); `litellm` is `litellm.Router(...).acompletion` under `asyncio.gather` with a semaphore (`num_retries=0`); `openai` is `AsyncOpenAI.chat.completions.create` under `asyncio.gather` with a semaphore (`max_retries=0`). Each client is warmed up with 200 requests, then three rounds, each round starting with another client; the request counts differ per client so that each run lasts seconds. Every client keeps all its responses until its run ends (scillm's list of dicts; gather's list of response objects). Before each run the process collects garbage and trims the heap (`malloc_trim`), then resets its peak RSS (`VmHWM`, via `/proc/self/clear_refs`); the growth is the peak minus the RSS before the run, also given per request. In one process, memory a run frees stays with Python's and the C library's allocators and is reused by the next run, so growth figures understate what a client needs on its own; scillm's peak holds its results twice (the Rust results with their JSON text, then that text with the dicts). Versions: scillm {}, litellm {}, openai {}.\n\n| round | client | requests | ok | req/s | RSS before MiB | peak RSS MiB | growth MiB | growth KiB per request |\n|---|---|---|---|---|---|---|---|---|\n{}\n\nMedian throughput: scillm **{s:.0} req/s**, LiteLLM Router {l:.0} req/s, AsyncOpenAI {o:.0} req/s. scillm / LiteLLM Router: **{:.1}×** (goal ≥ 50×); scillm / AsyncOpenAI: **{:.1}×** (goal ≥ 5×). Median RSS growth per request held: scillm {:.2} KiB, LiteLLM {:.2} KiB, AsyncOpenAI {:.2} KiB.\n",
            v["python"].as_str().unwrap_or("?"),
            v["concurrency"],
            versions["scillm"].as_str().unwrap_or("?"),
            versions["litellm"].as_str().unwrap_or("?"),
            versions["openai"].as_str().unwrap_or("?"),
            table.join("\n"),
            s / l.max(1e-9),
            s / o.max(1e-9),
            growth("scillm"),
            growth("litellm"),
            growth("openai"),
        ),
    );
    Ok(())
}
