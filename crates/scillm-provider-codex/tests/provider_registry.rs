//! Both providers register themselves: found by name and alias, listed as available.
#![cfg(all(feature = "codex-agent", feature = "openai"))]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Linking the crate is all it takes: nothing here names its items.
use scillm_provider_codex as _;

use scillm_core::registry::{self, ProviderSettings};

#[test]
fn codex_agent_resolves_by_name_and_alias() {
    for name in [
        "codex-agent",
        "codex_cli_agent",
        "CODEX-AGENT",
        "codex_agent",
    ] {
        let reg = registry::find(name).unwrap();
        assert_eq!(reg.name, "codex-agent", "{name}");
    }
    assert_eq!(
        registry::find("codex-agent").unwrap().aliases,
        &["codex_cli_agent"]
    );
}

#[test]
fn openai_resolves_by_name() {
    assert_eq!(registry::find("openai").unwrap().name, "openai");
    assert_eq!(registry::find("openai_compatible").unwrap().name, "openai");
}

#[test]
fn available_lists_both() {
    let names = registry::available();
    assert!(names.contains(&"codex-agent"), "{names:?}");
    assert!(names.contains(&"openai"), "{names:?}");
}

#[test]
fn both_build_from_default_settings() {
    let settings = ProviderSettings::default();
    let codex = registry::build("codex_cli_agent", &settings).unwrap();
    assert_eq!(codex.name(), "codex-agent");
    let openai = registry::build("openai", &settings).unwrap();
    assert_eq!(openai.name(), "openai");
}
