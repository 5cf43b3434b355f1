//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans reach an OTLP/HTTP receiver on loopback
//! (decoded with the official `opentelemetry-proto` definitions): a client span `chat MODEL`
//! with GenAI attributes, in the trace of the inbound `traceparent`, and the same trace goes
//! out on the upstream request's headers.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use scillm_telemetry::{logging, propagation};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
fn spans_are_exported_with_genai_attributes_and_the_inbound_trace() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let receiver = rt
        .block_on(scillm_testkit::otlp::OtlpReceiver::start())
        .unwrap();
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint());
    std::env::set_var("OTEL_SERVICE_NAME", "scillm-test");
    let guard = logging::init(logging::LogFormat::Text).unwrap();
    assert!(guard.exporting());

    let mut inbound = HeaderMap::new();
    inbound.insert(
        "traceparent",
        HeaderValue::from_str(&format!("00-{TRACE_ID}-00f067aa0ba902b7-01")).unwrap(),
    );
    let request = tracing::info_span!(target: "scillm_gateway", "POST /v1/chat/completions", otel.kind = "server");
    propagation::set_parent_from(&request, &inbound);
    let mut outbound = HeaderMap::new();
    request.in_scope(|| {
        let chat = tracing::info_span!(
            target: "scillm_provider",
            "chat",
            otel.name = "chat gpt-4o-mini",
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o-mini",
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
        );
        chat.in_scope(|| propagation::inject_current(&mut outbound));
        chat.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
        chat.record("gen_ai.usage.input_tokens", 12_i64);
        chat.record("gen_ai.usage.output_tokens", 3_i64);
    });
    drop(request);
    drop(guard); // flushes the batch exporter

    let traceparent = outbound
        .get("traceparent")
        .expect("traceparent sent upstream");
    assert!(
        traceparent
            .to_str()
            .unwrap()
            .starts_with(&format!("00-{TRACE_ID}-")),
        "{traceparent:?}"
    );

    let span = rt
        .block_on(receiver.wait_for(Duration::from_secs(10), |s| s.name == "chat gpt-4o-mini"))
        .unwrap_or_else(|| panic!("no chat span; got {:?}", receiver.spans()));
    assert_eq!(span.kind, 3, "client span");
    assert_eq!(span.trace_id, TRACE_ID);
    assert_eq!(span.service_name.as_deref(), Some("scillm-test"));
    let attr = |k: &str| span.attributes.get(k).cloned();
    assert_eq!(attr("gen_ai.operation.name"), Some("chat".into()));
    assert_eq!(attr("gen_ai.provider.name"), Some("openai".into()));
    assert_eq!(attr("gen_ai.request.model"), Some("gpt-4o-mini".into()));
    assert_eq!(
        attr("gen_ai.response.model"),
        Some("gpt-4o-mini-2024-07-18".into())
    );
    assert_eq!(attr("gen_ai.usage.input_tokens"), Some(12.into()));
    assert_eq!(attr("gen_ai.usage.output_tokens"), Some(3.into()));
    let server = receiver
        .spans()
        .into_iter()
        .find(|s| s.name == "POST /v1/chat/completions")
        .expect("server span exported");
    assert_eq!(server.kind, 2);
    assert_eq!(server.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(span.parent_span_id, server.span_id);
}
