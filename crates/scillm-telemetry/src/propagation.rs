//! W3C trace-context propagation (`traceparent`, `tracestate`): taken from inbound requests,
//! sent on upstream calls (SPEC §16). Without the `otel` feature both are no-ops.

use http::HeaderMap;

/// Make `span` a child of the trace context in `headers` (an inbound request's), so the
/// caller's trace id continues through scillm. No-op when there is no valid `traceparent`.
pub fn set_parent_from(span: &tracing::Span, headers: &HeaderMap) {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let cx = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&opentelemetry_http::HeaderExtractor(headers))
        });
        if cx.span().span_context().is_valid() {
            let _ = span.set_parent(cx);
        }
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, headers);
}

/// Write the current span's trace context into `headers` (an upstream request's) as
/// `traceparent` / `tracestate`. No-op when there is no sampled trace.
pub fn inject_current(headers: &mut HeaderMap) {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let span = tracing::Span::current();
        if span.is_none() {
            // Nothing traced (no subscriber, or the span is filtered out): skip the global
            // propagator's lock on this hot path.
            return;
        }
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return;
        }
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers))
        });
    }
    #[cfg(not(feature = "otel"))]
    let _ = headers;
}

/// The environment variable carrying an inbound W3C `traceparent` for a program that is
/// not called over HTTP (the convention OpenTelemetry uses for command-line tools and
/// CI jobs); `TRACESTATE` may accompany it.
pub const TRACEPARENT_ENV: &str = "TRACEPARENT";

/// Make `span` a child of the trace context `traceparent` (a W3C `traceparent` value,
/// `00-{trace id}-{parent id}-{flags}`), e.g. the [`TRACEPARENT_ENV`] variable a batch
/// was started with. No-op when the value is not a valid `traceparent`, or without the
/// `otel` feature.
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let mut headers = HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(traceparent.trim()) {
        headers.insert("traceparent", v);
        set_parent_from(span, &headers);
    }
}
