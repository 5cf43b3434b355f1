//! `scillm batch` with `[cache] mode = "disk"`: a rerun makes no upstream call for the lines
//! that did not change (SPEC §18).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use scillm_testkit::chat_mock::ChatMock;
use serde_json::Value;

fn line(text: &str) -> String {
    serde_json::json!({"model": "m", "messages": [{"role": "user", "content": text}]}).to_string()
}

/// Run `scillm batch` with `config` on `lines`; the output's `scillm_router` records.
async fn batch(config: &Path, dir: &Path, lines: &[String]) -> Vec<Value> {
    let input = dir.join("in.jsonl");
    let output = dir.join("out.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scillm"));
    cmd.env_remove("CODEX_AGENT_API_BASE")
        .env("SCILLM_CONFIG", config)
        .current_dir(dir)
        .args(["batch"])
        .arg(&input)
        .arg("-o")
        .arg(&output);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["scillm_router"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_with_the_disk_cache_calls_upstream_only_for_changed_lines() {
    let up = ChatMock::builder().content("answer").start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scillm.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\nmode = \"disk\"\npath = \"{}\"\n\n[[model_list]]\nmodel_name = \"m\"\nprovider = \"openai\"\napi_base = \"{}\"\n",
            dir.path().join("cache").display(),
            up.base_url()
        ),
    )
    .unwrap();
    let mut lines: Vec<String> = (0..6).map(|i| line(&format!("line {i}"))).collect();
    let first = batch(&config, dir.path(), &lines).await;
    assert_eq!(first.len(), 6);
    assert!(first
        .iter()
        .all(|m| m["error_type"] == "ok" && m["cache_hit"] == false));
    assert_eq!(up.request_count(), 6);

    // The same file again: no upstream call at all.
    let again = batch(&config, dir.path(), &lines).await;
    assert!(again.iter().all(|m| m["cache_hit"] == true), "{again:?}");
    assert_eq!(up.request_count(), 6);

    // One prompt fixed: only that line goes upstream.
    lines[4] = line("line 4, fixed");
    let fixed = batch(&config, dir.path(), &lines).await;
    let hits: Vec<bool> = fixed.iter().map(|m| m["cache_hit"] == true).collect();
    assert_eq!(hits, vec![true, true, true, true, false, true]);
    assert_eq!(up.request_count(), 7);
}
