//! External tools the test suite drives for real: the official OpenAI Python SDK (in a
//! venv) and the Codex CLI (npm package), installed under the workspace, and Debian's
//! `redis-server` (tests start their own throw-away servers from it).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::run_cmd;

/// The pinned Codex CLI.
pub const CODEX_PACKAGE: &str = "@openai/codex@0.169.0";

/// Paths of the installed tools.
pub struct Externals {
    /// A python with `openai` importable.
    pub python: PathBuf,
    /// The `codex` binary.
    pub codex: PathBuf,
    /// The `redis-server` binary.
    pub redis: PathBuf,
}

/// Where Debian's `redis-server` package puts the binary.
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// `redis-server`, installed with apt when missing (CI runs as root; elsewhere the error
/// says what to install).
fn redis_server() -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(REDIS_SERVER);
    let works = |p: &Path| {
        Command::new(p)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !works(&path) {
        run_cmd(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "redis-server"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
        .context("installing redis-server (as root: apt-get install redis-server)")?;
    }
    anyhow::ensure!(
        works(&path),
        "{REDIS_SERVER} does not run; install Debian's redis-server package"
    );
    Ok(path)
}

/// Install what is missing and return the paths.
pub fn install(root: &Path) -> anyhow::Result<Externals> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let has_openai = python.is_file()
        && Command::new(&python)
            .args(["-c", "import openai"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !has_openai {
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("creating the Python venv (is python3-venv installed?)")?;
        run_cmd(Command::new(&python).args(["-m", "pip", "install", "-q", "openai>=1.40"]))
            .context("installing the OpenAI Python SDK")?;
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
    let redis = redis_server()?;
    Ok(Externals {
        python,
        codex,
        redis,
    })
}
