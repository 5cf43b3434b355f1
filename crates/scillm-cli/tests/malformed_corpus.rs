//! The malformed-input corpus: hundreds of bad requests against the codex sidecar (echo
//! mode; echo off with credentials and a failing CLI; echo off without credentials) and
//! the mini-agent shim (echo mode) and the `scillm serve` gateway, each started in-process on an ephemeral loopback
//! port. Every case must get a 4xx with an OpenAI error body (or, for a few malformed
//! HTTP messages hyper answers itself, the bare status listed with its reason in
//! `protocol_cases::PROTOCOL_ALLOWLIST`), never a 5xx or a hang, and `GET /healthz`
//! must still answer 200 after it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "malformed_corpus/case.rs"]
mod case;
#[path = "malformed_corpus/check.rs"]
mod check;
#[path = "malformed_corpus/cli_path_cases.rs"]
mod cli_path_cases;
#[path = "malformed_corpus/http_cases.rs"]
mod http_cases;
#[path = "malformed_corpus/json_cases.rs"]
mod json_cases;
#[path = "malformed_corpus/protocol_cases.rs"]
mod protocol_cases;
#[path = "malformed_corpus/raw_http.rs"]
mod raw_http;
#[path = "malformed_corpus/targets.rs"]
mod targets;
#[path = "malformed_corpus/wrong_values.rs"]
mod wrong_values;

use std::collections::BTreeSet;

use case::Case;
use targets::{Kind, Target};

/// Every case for `t`, names unique.
fn corpus(t: &Target) -> Vec<Case> {
    let mut cases = json_cases::cases(t);
    cases.extend(http_cases::cases(t));
    cases.extend(protocol_cases::cases(t));
    if t.kind == Kind::SidecarCli {
        cases.extend(cli_path_cases::cases(t));
    }
    let mut seen = BTreeSet::new();
    for c in &cases {
        assert!(
            seen.insert(c.name.clone()),
            "duplicate case name {}",
            c.name
        );
    }
    cases
}

async fn run_corpus(kind: Kind, min_cases: usize) {
    let target = Target::start(kind).await;
    let http = check::client();
    check::healthz(&target, &http).await.unwrap();
    let cases = corpus(&target);
    assert!(
        cases.len() >= min_cases,
        "{kind:?}: only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = check::run(&target, &http, case).await {
            failures.push(format!("{}: {why}", case.name));
            if check::healthz(&target, &http).await.is_err() {
                break;
            }
        }
    }
    eprintln!("{kind:?}: {} cases, {} failed", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{kind:?}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Every allowlisted protocol case is in the corpus (the list cannot go stale).
    for (name, _, _) in protocol_cases::PROTOCOL_ALLOWLIST {
        assert!(
            cases.iter().any(|c| c.name == *name),
            "allowlist names unknown case {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_echo_mode() {
    run_corpus(Kind::SidecarEcho, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_cli_path() {
    run_corpus(Kind::SidecarCli, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_without_credentials() {
    run_corpus(Kind::SidecarNoCredentials, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_agent_echo_mode() {
    run_corpus(Kind::MiniAgentEcho, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway() {
    run_corpus(Kind::Gateway, 200).await;
}
