//! The sidecar over real HTTP: echo mode, every error status with an OpenAI body, and
//! forward mode (inbound auth, the credentials preflight and bind checks: sidecar_access).
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use std::sync::Arc;

use scillm_provider_codex::sidecar;
use scillm_testkit::chat_mock::ChatMock;
use serde_json::{json, Value};
use sidecar_support::*;

#[tokio::test]
async fn echo_health_models_and_chat() {
    let sc = start(echo_config(), &[]).await;
    let base = sc.base().to_string();
    let client = reqwest::Client::new();

    let h: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["ok"], true);
    assert_eq!(h["echo"], true);
    assert_eq!(h["forward_mode"], false);
    assert_eq!(h["concurrency"], 4);
    assert!(h["auth_present"].is_boolean());

    let m: Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["object"], "list");
    assert_eq!(m["data"][0]["id"], "gpt-5");
    assert_eq!(m["data"][0]["capabilities"]["chat"], true);

    for path in ["/v1/chat/completions", "/chat/completions"] {
        let r = client
            .post(format!("{base}{path}"))
            .json(&json!({"model": "codex-agent/gpt-5", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "codex-agent/gpt-5");
        assert_eq!(v["choices"][0]["message"]["content"], "shim ok");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    // Vision content (a list of parts) is accepted, never a 422.
    let vision = chat_body(
        json!([{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": PNG_DATA_URL, "detail": "low"}}]),
        false,
    );
    let (status, _, body) = post_chat(&base, &vision).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["message"]["content"],
        "shim ok"
    );

    // Streaming assembles the echo reply and ends with [DONE].
    let (status, headers, body) = post_chat(&base, &chat_body(json!("hi"), true)).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(streamed_text(&body), "shim ok");
    assert_eq!(sse_data(&body).last().unwrap(), "[DONE]");
    sc.shutdown().await.unwrap();
}

#[tokio::test]
async fn echo_reply_is_configurable() {
    let cfg = config(&[
        ("sidecar.echo", json!(true)),
        ("sidecar.echo_reply", json!("custom pong")),
    ]);
    let sc = start(cfg, &[]).await;
    let (_, _, body) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["message"]["content"],
        "custom pong"
    );
}

#[tokio::test]
async fn bad_input_is_4xx_with_an_openai_body() {
    let cfg = config(&[
        ("sidecar.echo", json!(true)),
        ("sidecar.max_body_bytes", json!(4096)),
    ]);
    let sc = start(cfg, &[]).await;
    let base = sc.base().to_string();
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/chat/completions");
    let send = |body: &'static str, ct: Option<&'static str>| {
        let mut rb = client.post(&url).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        async move {
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let json_ct = Some("application/json");
    for (body, ct, want) in [
        ("{not json", json_ct, 400),
        ("", json_ct, 400),
        ("[]", json_ct, 400),
        (r#"{"model":"gpt-5"}"#, json_ct, 400),
        (r#"{"model":5,"messages":[]}"#, json_ct, 400),
        (
            r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
            json_ct,
            400,
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":{"a":1}}]}"#,
            json_ct,
            400,
        ),
        (r#"{"model":"m","messages":"hi"}"#, json_ct, 400),
        (r#"{"model":"m","messages":[]}"#, Some("text/plain"), 415),
        ("model=m", Some("application/x-www-form-urlencoded"), 415),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            None,
            200,
        ),
    ] {
        let (status, text) = send(body, ct).await;
        assert_eq!(status, want, "{body:?} {ct:?}: {text}");
        if want != 200 {
            let e = error_of(&text);
            assert_eq!(e["type"], "invalid_request_error", "{text}");
        }
    }

    // Oversized body: 413 with an OpenAI body, with and without a Content-Length.
    let big = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let (status, _, text) = post_chat(&base, &big).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(error_of(&text)["code"], "request_too_large");
    let chunks = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.to_string().into_bytes())]);
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    error_of(&r.text().await.unwrap());

    // Unknown route → 404, wrong method → 405, both with OpenAI bodies.
    let r = client.get(format!("{base}/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        error_of(&r.text().await.unwrap())["type"],
        "not_found_error"
    );
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    error_of(&r.text().await.unwrap());
    let r = client
        .delete(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    error_of(&r.text().await.unwrap());
}

#[tokio::test]
async fn serve_binds_the_configured_port_and_stops_on_shutdown() {
    // Find a free port, then let `serve` bind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&[("sidecar.echo", json!(true)), ("sidecar.port", json!(port))]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sidecar::serve(Arc::new(cfg), async move {
        let _ = stopped.await;
    }));
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut healthy = false;
    for _ in 0..400 {
        if let Ok(r) = reqwest::get(&url).await {
            healthy = r.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(healthy);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn forward_mode_proxies_unless_forced_local() {
    let upstream = ChatMock::builder()
        .content("from upstream")
        .start()
        .await
        .unwrap();
    let auth = tempfile::tempdir().unwrap(); // no auth.json: a local run would be a 401
    let cfg = config(&[
        ("sidecar.forward_base", json!(upstream.base_url())),
        ("sidecar.forward_token", json!("fwd-token")),
        (
            "sidecar.auth_path",
            json!(auth.path().join("auth.json").display().to_string()),
        ),
    ]);
    let sc = start(cfg, &[]).await;
    let base = sc.base().to_string();
    let h: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["forward_mode"], true);

    let (status, _, body) = post_chat(&base, &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["message"]["content"],
        "from upstream"
    );
    assert_eq!(upstream.request_count(), 1);
    let seen = upstream.requests();
    assert_eq!(seen[0].header("authorization"), Some("Bearer fwd-token"));

    // Forced local (header, or a codex-agent/ model) skips forwarding: the preflight answers.
    let client = reqwest::Client::new();
    for v in ["1", "true", "yes"] {
        let r = client
            .post(format!("{base}/v1/chat/completions"))
            .header("X-Codex-Force-Local", v)
            .json(&chat_body(json!("hi"), false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let local =
        json!({"model": "codex-agent/gpt-5", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, _) = post_chat(&base, &local).await;
    assert_eq!(status, 401);
    assert_eq!(upstream.request_count(), 1);

    // An unreachable forward base is a 502, not a hang or a 500.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&[(
        "sidecar.forward_base",
        json!(format!("http://127.0.0.1:{dead_port}")),
    )]);
    let sc2 = start(cfg, &[]).await;
    let (status, _, body) = post_chat(sc2.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 502, "{body}");
    assert!(error_of(&body)["message"]
        .as_str()
        .unwrap()
        .contains("CODEX_FORWARD_BASE"));
}

#[tokio::test]
async fn forward_mode_maps_upstream_failures_per_spec_11() {
    use scillm_testkit::chat_mock::MockReply;
    // Upstream 401 / 403 are never this sidecar's own 401; 5xx → 502; 429 → 429 with the
    // upstream's wait hint as Retry-After (1.5 s → 2); an error inside a 200 like its code.
    let cases: Vec<(MockReply, u16, &str, Option<&str>)> = vec![
        (MockReply::status(401), 502, "upstream_error", None),
        (MockReply::status(403), 502, "upstream_error", None),
        (MockReply::status(500), 502, "upstream_error", None),
        (MockReply::status(503), 502, "upstream_error", None),
        (
            MockReply::status(429).with_header("retry-after-ms", "1500"),
            429,
            "rate_limit_error",
            Some("2"),
        ),
        (
            MockReply::raw(200, r#"{"error":{"message":"quota","code":429}}"#)
                .with_header("content-type", "application/json")
                .with_header("retry-after", "7"),
            429,
            "rate_limit_error",
            Some("7"),
        ),
        (MockReply::status(400), 400, "invalid_request_error", None),
    ];
    for (reply, status, kind, retry_after) in cases {
        let upstream_status = reply.status;
        let upstream = ChatMock::builder()
            .respond_with(move |_| reply.clone())
            .start()
            .await
            .unwrap();
        let cfg = config(&[("sidecar.forward_base", json!(upstream.base_url()))]);
        let sc = start(cfg, &[]).await;
        for stream in [false, true] {
            let (got, headers, body) =
                post_chat(sc.base().as_str(), &chat_body(json!("hi"), stream)).await;
            let what = format!("upstream {upstream_status}, stream {stream}: {body}");
            assert_eq!(got, status, "{what}");
            let err = error_of(&body);
            assert_eq!(err["type"], kind, "{what}");
            if matches!(upstream_status, 401 | 403) {
                assert_eq!(err["code"], upstream_status, "{what}");
            }
            assert_eq!(
                headers.get("retry-after").and_then(|v| v.to_str().ok()),
                retry_after,
                "{what}"
            );
        }
    }
}
