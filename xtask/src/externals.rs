//! External tools the test suite drives for real: the official OpenAI Python SDK, pytest
//! and maturin (in a venv; maturin builds the `scillm` Python package), the Codex CLI (npm
//! package), installed under the workspace, and Debian's `redis-server` (tests start their
//! own throw-away servers from it).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::run_cmd;

/// The pinned Codex CLI: the one place in the repository that names its version (tests,
/// benchmarks and CI all install this).
pub const CODEX_PACKAGE: &str = "@openai/codex@0.171.0";

/// The version part of [`CODEX_PACKAGE`].
pub fn codex_version() -> &'static str {
    CODEX_PACKAGE
        .rsplit_once('@')
        .map(|(_, v)| v)
        .unwrap_or(CODEX_PACKAGE)
}

/// The Python packages of the test venv: the OpenAI SDK (a client of every server),
/// LiteLLM (a client of the gateway), the Prometheus client (its text-format parser checks
/// `/metrics`), pytest and maturin (the Python package's build and tests).
pub const PYTHON_PACKAGES: &[&str] = &[
    "openai>=1.40",
    "litellm",
    "prometheus_client>=0.20",
    "pytest>=8",
    "maturin>=1.7,<2",
];

/// Paths of the installed tools.
pub struct Externals {
    /// The venv (`.venv/`).
    pub venv: PathBuf,
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
pub(crate) fn redis_server() -> anyhow::Result<PathBuf> {
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
    if !venv.join("bin/maturin").is_file()
        || !python_imports(&python, "import openai, litellm, prometheus_client, pytest")
    {
        if !python.is_file() {
            run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))
                .context("creating the Python venv (is python3-venv installed?)")?;
        }
        run_cmd(
            Command::new(&python)
                .args(["-m", "pip", "install", "-q"])
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
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(codex_version()))
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
        venv,
        python,
        codex,
        redis,
    })
}

/// Whether `python` exists and runs `code` (an import line) successfully.
pub fn python_imports(python: &Path, code: &str) -> bool {
    python.is_file()
        && Command::new(python)
            .args(["-c", code])
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// Install LiteLLM's proxy server (`litellm[proxy]`) into the venv for the gateway
/// benchmark; returns the `litellm` command.
pub fn install_litellm_proxy(root: &Path) -> anyhow::Result<PathBuf> {
    let ext = install(root)?;
    let litellm = root.join(".venv/bin/litellm");
    if !litellm.is_file() || !python_imports(&ext.python, "import litellm.proxy.proxy_server") {
        run_cmd(Command::new(&ext.python).args(["-m", "pip", "install", "-q", "litellm[proxy]"]))
            .context("installing litellm[proxy]")?;
    }
    Ok(litellm)
}
