//! The Prometheus text of a known mix of events parses with the official Python parser and
//! counts exactly what was recorded, by label.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use scillm_telemetry::names::*;
use scillm_telemetry::record::{self, Target};

#[test]
fn a_known_mix_of_events_scrapes_as_recorded() {
    let Some(python) =
        scillm_testkit::external("SCILLM_TEST_PYTHON", "a python with `prometheus_client`")
    else {
        return;
    };
    let handle = scillm_telemetry::prometheus::handle().unwrap();
    let a = Target {
        provider: "openai",
        model: "gpt-4o-mini",
        deployment: "fast#0",
    };
    let b = Target {
        provider: "codex-agent",
        model: "gpt-5",
        deployment: "codex#1",
    };
    for _ in 0..7 {
        record::request(&a, "ok", Duration::from_millis(30));
    }
    for _ in 0..2 {
        record::request(&a, "provider_error", Duration::from_millis(900));
    }
    record::request(&b, "timeout", Duration::from_secs(3));
    record::tokens(&a, 120, 30);
    record::retries(&a, 3);
    record::retries(&b, 0);
    record::queue(Duration::from_millis(250));
    record::cooldown("fast#0");
    record::rate_limit_wait("fast#0", Duration::from_millis(500));
    record::codex_turn("app-server", "completed");
    record::codex_turn("app-server", "completed");
    record::codex_turn("exec", "failed");
    record::app_server_restart();
    record::http_request("gateway", 200);
    record::http_request("gateway", 429);
    let in_flight = record::InFlight::start("router");
    let _second = record::InFlight::start("router");
    drop(in_flight);

    let text = handle.render();
    let s = scillm_testkit::prometheus::parse(&python, &text);
    let v =
        |name: &str, labels: &[(&str, &str)]| scillm_testkit::prometheus::value(&s, name, labels);

    let ok = [
        ("provider", "openai"),
        ("deployment", "fast#0"),
        ("error_type", "ok"),
    ];
    assert_eq!(v(REQUESTS_TOTAL, &ok), Some(7.0));
    assert_eq!(
        v(REQUESTS_TOTAL, &[("error_type", "provider_error")]),
        Some(2.0)
    );
    assert_eq!(
        v(
            REQUESTS_TOTAL,
            &[("provider", "codex-agent"), ("error_type", "timeout")]
        ),
        Some(1.0)
    );
    let dur_count = format!("{OPERATION_DURATION}_count");
    let labels = [
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_provider_name", "openai"),
        ("gen_ai_request_model", "gpt-4o-mini"),
        ("error_type", "ok"),
    ];
    assert_eq!(v(&dur_count, &labels), Some(7.0));
    // 30 ms falls in the 0.04 s bucket and above, not in 0.02.
    let bucket = format!("{OPERATION_DURATION}_bucket");
    assert_eq!(
        v(
            &bucket,
            &[labels[0], labels[1], labels[2], labels[3], ("le", "0.02")]
        ),
        Some(0.0)
    );
    assert_eq!(
        v(
            &bucket,
            &[labels[0], labels[1], labels[2], labels[3], ("le", "0.04")]
        ),
        Some(7.0)
    );
    let tok = format!("{TOKEN_USAGE}_sum");
    assert_eq!(v(&tok, &[("gen_ai_token_type", "input")]), Some(120.0));
    assert_eq!(v(&tok, &[("gen_ai_token_type", "output")]), Some(30.0));
    assert_eq!(v(RETRIES_TOTAL, &[("deployment", "fast#0")]), Some(3.0));
    assert_eq!(
        v(RETRIES_TOTAL, &[("deployment", "codex#1")]),
        None,
        "zero retries add no series"
    );
    assert_eq!(v(&format!("{QUEUE_SECONDS}_count"), &[]), Some(1.0));
    assert_eq!(
        v(DEPLOYMENT_COOLDOWNS_TOTAL, &[("deployment", "fast#0")]),
        Some(1.0)
    );
    assert_eq!(v(&format!("{RATE_LIMIT_WAIT_SECONDS}_sum"), &[]), Some(0.5));
    assert_eq!(
        v(
            CODEX_TURNS_TOTAL,
            &[("backend", "app-server"), ("outcome", "completed")]
        ),
        Some(2.0)
    );
    assert_eq!(
        v(
            CODEX_TURNS_TOTAL,
            &[("backend", "exec"), ("outcome", "failed")]
        ),
        Some(1.0)
    );
    assert_eq!(v(CODEX_APP_SERVER_RESTARTS_TOTAL, &[]), Some(1.0));
    assert_eq!(v(HTTP_REQUESTS_TOTAL, &[("status", "4xx")]), Some(1.0));
    assert_eq!(v(IN_FLIGHT, &[("component", "router")]), Some(1.0));
    assert!(
        text.contains(&format!("# TYPE {OPERATION_DURATION} histogram")),
        "{text}"
    );
    assert!(
        text.contains(&format!("# HELP {REQUESTS_TOTAL} ")),
        "{text}"
    );
}
