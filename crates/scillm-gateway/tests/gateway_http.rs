//! The gateway over real loopback HTTP: routing headers and the `scillm_router` record,
//! model fallback, streaming, keys (401/403), unknown models (404 with the names), key
//! limits and rate-limited targets (429 + Retry-After), the request timeout (504 naming the
//! slow deployment), request ids, /metrics, and the bind policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use scillm_gateway::{bind_policy, spawn, Gateway};
use scillm_testkit::chat_mock::ChatMock;
use serde_json::{json, Value};
use support::*;

async fn post(base: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn chat_answers_carry_the_record_and_routing_headers() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = spawn(config(&up, dir.path(), &[])).await.unwrap();
    let base = gw.base_url();

    let resp = post(&base, None, &chat_body("alpha")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-scillm-deployment"), "alpha#0");
    assert_eq!(header(&resp, "x-scillm-attempts"), "1");
    let overhead: f64 = header(&resp, "x-scillm-overhead-ms").parse().unwrap();
    assert!(overhead >= 0.0);
    assert!(!header(&resp, "x-request-id").is_empty());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "from alpha");
    assert_eq!(body["scillm_router"]["error_type"], "ok");
    assert_eq!(body["scillm_router"]["deployment"], "alpha#0");

    // The client's request id is kept.
    let resp = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .header("x-request-id", "req-123")
        .json(&chat_body("alpha"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-request-id"), "req-123");

    // `broken` answers 500; with its fallback to go to, the router fails over at once
    // (SPEC §13) instead of retrying the same deployment.
    let resp = post(&base, None, &chat_body("broken")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-scillm-deployment"), "alpha#0");
    assert_eq!(header(&resp, "x-scillm-attempts"), "2");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scillm_router"]["model_fallback"], "alpha");
    assert_eq!(up.broken.request_count(), 1);

    // Stream.
    let resp = post(
        &base,
        None,
        &json!({"model": "alpha", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-scillm-deployment"), "alpha#0");
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "from alpha", "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Models and health.
    let models: Value = reqwest::get(format!("{base}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "alpha-2", "broken", "limited"]);
    let health: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ok"], true);
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(header(&metrics, "content-type").starts_with("text/plain; version=0.0.4"));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_have_openai_bodies_and_the_right_status() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = spawn(config(&up, dir.path(), &[])).await.unwrap();
    let base = gw.base_url();

    let resp = post(&base, None, &chat_body("nope")).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("alpha, alpha-2, broken, limited"), "{msg}");

    // Every target rate-limited: 429 with the upstream's wait.
    let resp = post(&base, None, &chat_body("limited")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), "7");
    assert_eq!(header(&resp, "x-scillm-deployment"), "limited#0");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");

    // A client may not point the gateway elsewhere.
    let mut b = chat_body("alpha");
    b["api_base"] = json!("http://127.0.0.1:9");
    let resp = post(&base, None, &b).await;
    assert_eq!(resp.status(), 400);

    // Malformed JSON, a wrong route, a wrong method.
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );
    let resp = reqwest::get(format!("{base}/v2/nothing")).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.json::<Value>().await.unwrap()["error"]["message"].is_string());
    let resp = reqwest::get(format!("{base}/v1/chat/completions"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn upstream_auth_failures_are_502_not_our_401() {
    let bad = scillm_testkit::chat_mock::ChatMock::builder()
        .respond_with(|_| scillm_testkit::chat_mock::MockReply::status(401))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let up = upstreams().await;
    let config = config(
        &up,
        dir.path(),
        &[(
            "model_list",
            json!([{"model_name": "m", "provider": "openai", "api_base": bad.base_url(), "api_key": "sk-x"}]),
        )],
    );
    let gw = spawn(config).await.unwrap();
    let resp = post(&gw.base_url(), None, &chat_body("m")).await;
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "upstream_error");
    assert_eq!(body["error"]["code"], 401);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn keys_models_and_limits() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let narrow_sha: String = scillm_serve::digest("sk-narrow")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = config(
        &up,
        dir.path(),
        &[(
            "gateway.keys",
            json!([
                {"name": "full", "key": "os.environ/GW_FULL_KEY", "models": ["*"]},
                {"name": "narrow", "key_sha256": narrow_sha, "models": ["alpha"], "rpm": 1},
                {"name": "tiny", "key": "os.environ/GW_TINY_KEY", "models": ["*"], "tpm": 100},
            ]),
        )],
    );
    let env = |n: &str| match n {
        "GW_FULL_KEY" => Some("sk-full".to_string()),
        "GW_TINY_KEY" => Some("sk-tiny".to_string()),
        _ => None,
    };
    let gw = Gateway::with_env(Arc::clone(&config), &env).await.unwrap();
    let running = scillm_gateway::spawn_gateway(gw).await.unwrap();
    let base = running.base_url();

    let resp = post(&base, None, &chat_body("alpha")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "missing_api_key"
    );
    let resp = post(&base, Some("sk-wrong"), &chat_body("alpha")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(header(&resp, "x-scillm-deployment"), "none");
    assert_eq!(header(&resp, "x-scillm-attempts"), "0");
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );
    assert_eq!(
        post(&base, Some("sk-full"), &chat_body("broken"))
            .await
            .status(),
        200
    );

    let resp = post(&base, Some("sk-narrow"), &chat_body("broken")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "model_not_allowed"
    );
    // The narrow key sees only its model.
    let models: Value = reqwest::Client::new()
        .get(format!("{base}/v1/models"))
        .bearer_auth("sk-narrow")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    // rpm 1: the first passes, the second waits about a minute.
    assert_eq!(
        post(&base, Some("sk-narrow"), &chat_body("alpha"))
            .await
            .status(),
        200
    );
    let resp = post(&base, Some("sk-narrow"), &chat_body("alpha")).await;
    assert_eq!(resp.status(), 429);
    let wait: u64 = header(&resp, "retry-after").parse().unwrap();
    assert!((50..=60).contains(&wait), "{wait}");
    // tpm 100: a request estimated above the whole allowance can never be admitted, so it
    // is a 400 (not a 429 to retry), and takes nothing from the key.
    let mut big = chat_body("alpha");
    big["max_tokens"] = json!(500);
    let resp = post(&base, Some("sk-tiny"), &big).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "tokens_exceed_key_tpm", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{body}"
    );
    let mut fits = chat_body("alpha");
    fits["max_tokens"] = json!(90);
    assert_eq!(post(&base, Some("sk-tiny"), &fits).await.status(), 200);
    // Health needs no key.
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_non_loopback_bind_needs_keys_or_the_override() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let open = config(&up, dir.path(), &[("gateway.host", json!("0.0.0.0"))]);
    let err = bind_policy(&open).check().unwrap_err().to_string();
    assert!(err.contains("[gateway] keys"), "{err}");
    let err = scillm_gateway::serve(open, std::future::ready(()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing to bind"), "{err}");
    let keyed = config(
        &up,
        dir.path(),
        &[
            ("gateway.host", json!("0.0.0.0")),
            (
                "gateway.keys",
                json!([{"name": "k", "key_sha256": "00".repeat(32)}]),
            ),
        ],
    );
    assert!(bind_policy(&keyed).check().is_ok());
}

/// A gateway serving one model `name` on the alpha mock with `rpm`, after one request that
/// took the deployment's one-request burst (SPEC §13); `extra` dotted keys on top.
async fn gateway_at_its_rpm_limit(
    up: &Upstreams,
    dir: &std::path::Path,
    name: &str,
    rpm: u32,
    extra: &[(&str, Value)],
) -> scillm_gateway::RunningGateway {
    let deployment = json!({"model_name": name, "provider": "openai",
                            "api_base": up.alpha.base_url(), "api_key": "sk-upstream", "rpm": rpm});
    let mut keys = vec![
        ("model_list", json!([deployment])),
        ("router.fallbacks", json!({})),
    ];
    keys.extend(extra.iter().cloned());
    let gw = spawn(config(up, dir, &keys)).await.unwrap();
    assert_eq!(
        post(&gw.base_url(), None, &chat_body(name)).await.status(),
        200
    );
    gw
}

#[tokio::test]
async fn a_model_at_its_rpm_limit_answers_429_with_the_wait_for_capacity() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    // rpm = 6: the next request's capacity comes 10 s later, past its 0.5 s deadline.
    let gw = gateway_at_its_rpm_limit(
        &up,
        dir.path(),
        "metered",
        6,
        &[("router.timeout_s", json!(0.5))],
    )
    .await;
    let resp = post(&gw.base_url(), None, &chat_body("metered")).await;
    assert_eq!(resp.status(), 429);
    let wait: u64 = header(&resp, "retry-after").parse().unwrap();
    assert!(
        (5..=10).contains(&wait),
        "Retry-After {wait}: the time until the deployment has capacity again"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn time_waiting_for_rate_limit_capacity_is_queue_time_not_gateway_overhead() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    // rpm = 60: the next request waits about a second for capacity, then is sent.
    let gw = gateway_at_its_rpm_limit(&up, dir.path(), "paced", 60, &[]).await;
    let resp = post(&gw.base_url(), None, &chat_body("paced")).await;
    assert_eq!(resp.status(), 200);
    let overhead: f64 = header(&resp, "x-scillm-overhead-ms").parse().unwrap();
    let body: Value = resp.json().await.unwrap();
    let queue_ms = body["scillm_router"]["queue_ms"].as_u64().unwrap();
    assert!(queue_ms >= 500, "waited for capacity: queue_ms {queue_ms}");
    assert!(
        overhead < queue_ms as f64 / 2.0,
        "x-scillm-overhead-ms {overhead} counts the {queue_ms} ms spent waiting for capacity"
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn past_the_request_timeout_the_504_names_the_deployment_that_was_too_slow() {
    let up = upstreams().await;
    let hung = ChatMock::builder()
        .latency(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deployment = json!({"model_name": "slow", "provider": "openai",
                            "api_base": hung.base_url(), "api_key": "sk-upstream"});
    let gw = spawn(config(
        &up,
        dir.path(),
        &[
            ("model_list", json!([deployment])),
            ("router.fallbacks", json!({})),
            ("gateway.request_timeout_s", json!(0.5)),
        ],
    ))
    .await
    .unwrap();
    let started = Instant::now();
    let resp = post(&gw.base_url(), None, &chat_body("slow")).await;
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(10));
    // The Router's deadline fell inside the gateway's: its answer says who was slow.
    assert_eq!(header(&resp, "x-scillm-deployment"), "slow#0");
    assert_eq!(header(&resp, "x-scillm-attempts"), "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "timeout_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer within"),
        "{body}"
    );
    gw.shutdown().await.unwrap();
}
