//! Project automation, as plain Rust: `cargo xtask test`, `cargo xtask verify`, `cargo xtask bench`.

mod bench;
mod bench_batch;
mod bench_codex;
mod bench_gateway;
mod bench_python;
mod bench_sidecar;
mod bench_state;
mod externals;
mod python;
mod test;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: cargo xtask <command>\n\n\
     commands:\n  \
     test      format check, clippy, docs, the whole test suite with every feature, and the\n            \
     Python package's pytest suite (installs the Python venv and the Codex CLI it needs\n            \
     under .venv/ and .tools/)\n  \
     verify    the 30-second checklist (`scillm doctor`; --json for machine output)\n  \
     bench     benchmarks (router, memory, startup, load, batch, codex, gateway, state, python;\n            \
     all by default) into BENCHMARKS.md\n  \
     test-python  only the Python package's tests (wheel built and installed into .venv/)\n  \
     setup     only install the external test tools\n"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("verify") => verify::run(&args[1..]),
        Some("setup") => externals::install(&root()).map(|_| ()),
        Some("test-python") => externals::install(&root()).and_then(|ext| python::test(&ext)),
        _ => {
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Run a command in the workspace root, failing with its name when it fails.
pub fn run_cmd(cmd: &mut std::process::Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: $ {shown}");
    let status = cmd.current_dir(root()).status()?;
    anyhow::ensure!(status.success(), "`{shown}` failed with {status}");
    Ok(())
}
