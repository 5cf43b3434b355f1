//! The Python package (`python/`): build its wheel with maturin, install it into the
//! workspace venv, run its pytest suite against the chat mock and the embedded sidecar.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::externals::Externals;
use crate::{root, run_cmd};

/// Where the wheels are written (emptied before each build, so it holds exactly one).
fn wheel_dir(release: bool) -> PathBuf {
    root().join(if release {
        "target/python-wheels/release"
    } else {
        "target/python-wheels/dev"
    })
}

/// Build the `scillm` wheel with the venv's maturin (`release`: optimised, else the dev
/// profile, which shares the workspace's debug build) and return its path.
pub fn build_wheel(venv: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let out = wheel_dir(release);
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    let mut cmd = Command::new(venv.join("bin/maturin"));
    cmd.args(["build", "--manifest-path", "python/Cargo.toml", "--out"])
        .arg(&out)
        .env("VIRTUAL_ENV", venv);
    if release {
        cmd.arg("--release");
    }
    run_cmd(&mut cmd).context("building the scillm wheel with maturin")?;
    let wheel = std::fs::read_dir(&out)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .with_context(|| format!("maturin wrote no wheel into {}", out.display()))?;
    Ok(wheel)
}

/// Install `wheel` into the venv whose interpreter is `python`, replacing any earlier build.
pub fn install_wheel(python: &Path, wheel: &Path) -> anyhow::Result<()> {
    run_cmd(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(wheel),
    )
    .context("installing the scillm wheel")
}

/// Build and install the wheel, then run `python/tests` with pytest; a failed or skipped
/// test fails the command.
pub fn test(ext: &Externals) -> anyhow::Result<()> {
    run_cmd(Command::new("cargo").args([
        "build",
        "-p",
        "scillm-testkit",
        "--bin",
        "chat-mock",
        "-p",
        "scillm-cli",
        "--bin",
        "scillm",
    ]))?;
    let wheel = build_wheel(&ext.venv, false)?;
    install_wheel(&ext.python, &wheel)?;
    let bins = root().join("target/debug");
    run_cmd(
        Command::new(&ext.python)
            .args([
                "-m",
                "pytest",
                "python/tests",
                "-p",
                "no:cacheprovider",
                "-rs",
            ])
            .env("SCILLM_TEST_CHAT_MOCK", bins.join("chat-mock"))
            .env("SCILLM_TEST_SCILLM", bins.join("scillm"))
            .env("SCILLM_REQUIRE_EXTERNAL", "1"),
    )
    .context("the Python package's tests failed")
}
