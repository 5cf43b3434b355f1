//! `cargo xtask verify`: the 30-second checklist, run through `scillm doctor` so the two
//! can never disagree.

use std::process::Command;

use crate::root;

/// Build and run `scillm doctor`, passing `--json` through; fails when a blocking check fails.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "scillm-cli",
        "--bin",
        "scillm",
        "--",
        "doctor",
    ]);
    if args.iter().any(|a| a == "--json") {
        cmd.arg("--json");
    }
    let status = cmd.current_dir(root()).status()?;
    anyhow::ensure!(
        status.success(),
        "verification failed (see the FAIL lines above)"
    );
    Ok(())
}
