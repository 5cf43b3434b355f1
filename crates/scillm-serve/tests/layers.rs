//! The shared layers on a real loopback server: `x-request-id` kept or generated on every
//! answer, the body limit (declared and streamed) as a 413 OpenAI error, the request
//! timeout as a 504 OpenAI error, a 405 with an OpenAI body, bearer auth with open paths,
//! and `/metrics` in the Prometheus text format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::routing::{get, post};
use scillm_serve::{serve, ApiJson, BearerAuth, ServeOptions, ServerLayers};
use serde_json::Value;
use tokio::net::TcpListener;

async fn start(app: axum::Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, ServeOptions::default(), async move {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

fn app() -> axum::Router {
    let routes = axum::Router::new()
        .route(
            "/echo",
            post(|ApiJson(v): ApiJson<Value>| async move { axum::Json(v) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            scillm_serve::metrics_route(scillm_serve::recorder()),
        );
    let key = secrecy::SecretString::from("sk-layer");
    let routes = BearerAuth::new(Some(&key), "TEST_KEY", &["/healthz", "/metrics"]).layer(routes);
    ServerLayers {
        component: "test",
        max_body_bytes: 1024,
        request_timeout: Some(Duration::from_millis(200)),
    }
    .apply(routes)
}

#[tokio::test]
async fn layers_answer_like_openai() {
    let (base, _stop) = start(app()).await;
    let http = reqwest::Client::new();

    // Request ids: generated, or the client's kept.
    let resp = http.get(format!("{base}/healthz")).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "{id}");
    let resp = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "abc-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-1");

    // Auth: missing and wrong keys are 401 with OpenAI bodies; open paths need none.
    let resp = http
        .post(format!("{base}/echo"))
        .json(&1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "missing_api_key");
    let resp = http
        .post(format!("{base}/echo"))
        .bearer_auth("sk-nope")
        .json(&1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .post(format!("{base}/echo"))
        .bearer_auth("sk-layer")
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Body limit: a declared length over it, and a chunked body over it.
    let resp = http
        .post(format!("{base}/echo"))
        .bearer_auth("sk-layer")
        .header("content-type", "application/json")
        .body(format!("\"{}\"", "x".repeat(2000)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "request_too_large"
    );
    let chunks = futures_chunks(format!("\"{}\"", "y".repeat(4000)));
    let resp = http
        .post(format!("{base}/echo"))
        .bearer_auth("sk-layer")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    // Timeout: 504 with an OpenAI body.
    let resp = http
        .get(format!("{base}/slow"))
        .bearer_auth("sk-layer")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["type"],
        "timeout_error"
    );

    // A wrong method: 405 with an OpenAI body and the Allow header.
    let resp = http
        .get(format!("{base}/echo"))
        .bearer_auth("sk-layer")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert!(resp.headers().contains_key("allow"));
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );

    // Metrics: the text format, reachable without a key.
    let resp = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
}

/// A body sent in chunks without a `Content-Length`.
fn futures_chunks(
    text: String,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let parts: Vec<Result<Vec<u8>, std::io::Error>> = text
        .into_bytes()
        .chunks(512)
        .map(|c| Ok(c.to_vec()))
        .collect();
    futures::stream::iter(parts)
}
