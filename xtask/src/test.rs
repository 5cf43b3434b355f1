//! `cargo xtask test`: the full check that CI runs.

use std::process::Command;

use crate::{externals, python, root, run_cmd};

/// Format check, clippy, docs, externals, every Rust test with every feature, then the
/// Python package's tests (its wheel built and installed into the venv).
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let quick = args.iter().any(|a| a == "--no-lint");
    if !quick {
        run_cmd(Command::new("cargo").args(["fmt", "--all", "--", "--check"]))?;
        run_cmd(Command::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))?;
        run_cmd(
            Command::new("cargo")
                .args(["doc", "--workspace", "--no-deps", "--all-features"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
    }
    // The examples are part of the contract: a library consumer and a third-party provider.
    for example in ["library-consumer", "third-party-provider"] {
        run_cmd(Command::new("cargo").args(["run", "--quiet", "-p", example]))?;
    }
    // Doc tests are not run by nextest. Both run before it so that its summary closes the run.
    run_cmd(Command::new("cargo").args(["test", "--workspace", "--all-features", "--doc"]))?;
    let ext = externals::install(&root())?;
    // The mini-agent's sandbox tests need bubblewrap and fail without it (SPEC §15); say
    // so before running them.
    anyhow::ensure!(
        Command::new("bwrap")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "bubblewrap (`bwrap`) is required by the mini-agent sandbox tests: install it \
         (Debian/Ubuntu: apt-get install bubblewrap)"
    );
    run_cmd(
        Command::new("cargo")
            .args([
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--no-fail-fast",
            ])
            .env("SCILLM_TEST_PYTHON", &ext.python)
            .env("SCILLM_TEST_CODEX", &ext.codex)
            .env("SCILLM_TEST_REDIS", &ext.redis)
            .env("SCILLM_REQUIRE_EXTERNAL", "1"),
    )?;
    python::test(&ext)?;
    Ok(())
}
