//! `scillm providers`, `scillm models`, `scillm config show`.

use std::fmt::Write;

use scillm_core::config::LoadedConfig;
use scillm_core::registry;

/// One line per compiled-in provider: name, aliases, description.
pub fn providers() -> String {
    let mut out = String::new();
    for r in registry::registrations() {
        let aliases = if r.aliases.is_empty() {
            String::new()
        } else {
            format!(" (aliases: {})", r.aliases.join(", "))
        };
        let _ = writeln!(out, "{:<14} {}{}", r.name, r.description, aliases);
    }
    for (name, feature, krate) in registry::KNOWN_FEATURES {
        if registry::find(name).is_err() && !name.contains('_') {
            let _ = writeln!(
                out,
                "{name:<14} not compiled in (cargo feature `{feature}` of {krate})"
            );
        }
    }
    out
}

/// The model names this configuration routes, with where each goes.
pub fn models(loaded: &LoadedConfig) -> String {
    let c = &loaded.config;
    let mut out = String::new();
    for d in &c.model_list {
        let base = d
            .api_base
            .as_ref()
            .map(|b| b.to_string())
            .unwrap_or_else(|| "(provider default)".into());
        let _ = writeln!(
            out,
            "{:<24} -> {} {} model={}",
            d.model_name,
            d.provider,
            base,
            d.model.as_deref().unwrap_or(&d.model_name)
        );
    }
    let codex_base = c
        .codex_agent
        .api_base
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_else(|| {
            "embedded sidecar (echo unless credentials and the CLI are present)".into()
        });
    let _ = writeln!(
        out,
        "{:<24} -> codex-agent {}",
        "codex-agent/<model>", codex_base
    );
    for (from, to) in &c.router.fallbacks {
        let _ = writeln!(out, "fallbacks: {from} -> {}", to.join(", "));
    }
    out
}

/// Every effective value with its source; secrets show as `[REDACTED]`.
pub fn config_show(loaded: &LoadedConfig) -> String {
    let rows = loaded.describe();
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    let mut out = String::new();
    for (key, value, source) in rows {
        let _ = writeln!(out, "{key:<width$} = {value:<30} # {source}");
    }
    out
}
