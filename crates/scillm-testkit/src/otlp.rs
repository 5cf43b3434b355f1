//! An OTLP/HTTP trace receiver on a loopback port: decodes the protobuf
//! `ExportTraceServiceRequest`s an exporter posts to `/v1/traces` with the official
//! `opentelemetry-proto` definitions and keeps the spans for assertions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::Value;

/// One span as received.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The span name.
    pub name: String,
    /// The OTLP span kind (2 = server, 3 = client).
    pub kind: i32,
    /// Trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// Span id, 16 hex digits.
    pub span_id: String,
    /// Parent span id, 16 hex digits, empty for a root span.
    pub parent_span_id: String,
    /// Attributes as JSON values (strings, integers, floats, booleans).
    pub attributes: BTreeMap<String, Value>,
    /// The `service.name` of the resource that sent it.
    pub service_name: Option<String>,
}

/// The receiver; stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Bind `127.0.0.1:0` and start serving.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, spans, task })
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Poll until a span matching `pred` has arrived, at most `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&ReceivedSpan) -> bool,
    ) -> Option<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.spans().into_iter().find(|s| pred(s)) {
                return Some(s);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(spans): State<Arc<Mutex<Vec<ReceivedSpan>>>>,
    body: Bytes,
) -> impl IntoResponse {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, "not an ExportTraceServiceRequest").into_response();
    };
    let mut got = Vec::new();
    for rs in req.resource_spans {
        let service_name = rs.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(AnyValue::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
        });
        for ss in rs.scope_spans {
            for s in ss.spans {
                let attributes = s
                    .attributes
                    .iter()
                    .filter_map(|kv| {
                        Some((kv.key.clone(), json_of(kv.value.as_ref()?.value.as_ref()?)))
                    })
                    .collect();
                got.push(ReceivedSpan {
                    name: s.name,
                    kind: s.kind,
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    attributes,
                    service_name: service_name.clone(),
                });
            }
        }
    }
    if let Ok(mut all) = spans.lock() {
        all.extend(got);
    }
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

fn json_of(v: &AnyValue) -> Value {
    match v {
        AnyValue::StringValue(s) => Value::from(s.clone()),
        AnyValue::IntValue(i) => Value::from(*i),
        AnyValue::DoubleValue(d) => Value::from(*d),
        AnyValue::BoolValue(b) => Value::from(*b),
        other => Value::from(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
