//! External tools the test suite drives for real: the official OpenAI Python SDK (in a
//! venv) and the Codex CLI (npm package), installed under the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::run_cmd;

/// The pinned Codex CLI.
pub const CODEX_PACKAGE: &str = "@openai/codex@0.169.0";

/// The Python packages the tests drive: the official OpenAI SDK (a client of every
/// server) and the official Prometheus client (its text-format parser checks `/metrics`).
pub const PYTHON_PACKAGES: &[&str] = &["openai>=1.40", "prometheus_client>=0.20"];

const PIP_INSTALL: &[&str] = &["-m", "pip", "install", "-q"];

/// Paths of the installed tools.
pub struct Externals {
    /// A python with `openai` importable.
    pub python: PathBuf,
    /// The `codex` binary.
    pub codex: PathBuf,
}

/// Install what is missing and return the paths.
pub fn install(root: &Path) -> anyhow::Result<Externals> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let has_packages = python.is_file()
        && Command::new(&python)
            .args(["-c", "import openai, prometheus_client"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !has_packages {
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("creating the Python venv (is python3-venv installed?)")?;
        run_cmd(
            Command::new(&python)
                .args(PIP_INSTALL)
                .args(PYTHON_PACKAGES),
        )
        .context("installing the Python packages the tests drive")?;
    }
    let tools = root.join(".tools");
    let codex = tools.join("node_modules/.bin/codex");
    let has_codex = codex.is_file()
        && Command::new(&codex)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("0.169.0"))
            .unwrap_or(false);
    if !has_codex {
        std::fs::create_dir_all(&tools)?;
        run_cmd(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&tools)
                .arg(CODEX_PACKAGE),
        )
        .context("installing the Codex CLI from npm")?;
    }
    Ok(Externals { python, codex })
}
