//! External tools the suite drives for real (a python with packages, the Codex CLI), named
//! by environment variables that `cargo xtask test` sets.

use std::path::PathBuf;

/// The external tool named by env `var` (an absolute path to a file). When unset: a failure
/// under `SCILLM_REQUIRE_EXTERNAL=1` (what CI sets, so a missing tool fails the suite),
/// else `None` after printing that the test is skipped and why.
///
/// Panics (a test failure) when the variable names no file, or is unset while required.
#[allow(clippy::panic)]
pub fn external(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                panic!("{var}={} is not a file", p.display());
            }
            Some(p)
        }
        None => {
            if std::env::var("SCILLM_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1") {
                panic!("{var} is not set but SCILLM_REQUIRE_EXTERNAL=1: it must name {what}");
            }
            eprintln!("SKIPPED: {var} is not set (it names {what}); set it to run this test");
            None
        }
    }
}
