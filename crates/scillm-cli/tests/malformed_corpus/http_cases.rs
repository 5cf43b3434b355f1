//! Well-formed HTTP with the wrong content type, method, path, size or credentials.

use reqwest::Method;

use super::case::Case;
use super::json_cases::base;
use super::raw_http::head;
use super::targets::{Kind, Target, KEY};

fn valid() -> Vec<u8> {
    serde_json::to_vec(&base()).unwrap()
}

fn header(name: &str, value: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (name.to_string(), value.into())
}

/// Explicit non-JSON content types (valid JSON body: 415), and no content type with a
/// body that is not JSON (400). A missing type with a JSON body is accepted on purpose
/// (some clients omit it), so it is not in the corpus.
fn content_types() -> Vec<Case> {
    let mut out = Vec::new();
    let types: &[(&str, &[u8])] = &[
        ("text_plain", b"text/plain"),
        ("text_plain_utf8", b"text/plain; charset=utf-8"),
        ("multipart", b"multipart/form-data; boundary=XyZ"),
        ("form_urlencoded", b"application/x-www-form-urlencoded"),
        ("xml", b"application/xml"),
        ("html", b"text/html"),
        ("octet_stream", b"application/octet-stream"),
        ("image_png", b"image/png"),
        ("jsonp_lookalike", b"application/jsonp"),
        ("empty_value", b""),
        ("garbage_value", b"}{;;=="),
        ("non_utf8_value", b"application/\xFFjson"),
    ];
    for (name, ct) in types {
        let h = vec![header("content-type", *ct)];
        out.push(
            Case::http(
                format!("content_type_{name}"),
                Method::POST,
                "/v1/chat/completions",
                h,
                valid(),
            )
            .expect(415),
        );
    }
    let multipart =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-5\r\n--XyZ--\r\n"
            .to_vec();
    let bodies: &[(&str, Vec<u8>)] = &[
        ("multipart_body", multipart.clone()),
        ("form_body", b"model=gpt-5&messages=hi".to_vec()),
        ("empty_body", Vec::new()),
        ("text_body", b"hello".to_vec()),
    ];
    for (name, body) in bodies {
        out.push(
            Case::http(
                format!("no_content_type_{name}"),
                Method::POST,
                "/v1/chat/completions",
                vec![],
                body.clone(),
            )
            .expect(400),
        );
    }
    out.push(
        Case::http(
            "multipart_type_and_body",
            Method::POST,
            "/v1/chat/completions",
            vec![header("content-type", "multipart/form-data; boundary=XyZ")],
            multipart,
        )
        .expect(415),
    );
    out
}

/// Wrong methods on known routes (405) and unknown paths (404).
fn routes(t: &Target) -> Vec<Case> {
    let mut out = Vec::new();
    let json = || vec![header("content-type", "application/json")];
    let mut wrong: Vec<(&str, &str)> = Vec::new();
    for path in ["/v1/chat/completions", "/chat/completions"] {
        for m in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"] {
            wrong.push((m, path));
        }
    }
    wrong.extend([
        ("POST", "/healthz"),
        ("PUT", "/healthz"),
        ("DELETE", "/healthz"),
        ("POST", "/v1/models"),
        ("DELETE", "/v1/models"),
    ]);
    if t.kind == Kind::MiniAgentEcho {
        wrong.extend([("GET", "/agent/run"), ("POST", "/ready")]);
    }
    for (m, path) in wrong {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let name = format!("method_{m}_{}", path.replace('/', "_"));
        out.push(Case::http(name, method, path, json(), valid()).expect(405));
    }
    let long_path = format!("/v1/{}", "a".repeat(8 * 1024));
    let unknown = [
        "/",
        "/v1",
        "/v1/",
        "/v1/chat",
        "/v1/chat/completion",
        "/v1/chat/completions/",
        "/V1/chat/completions",
        "/v2/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/chat/completions/extra",
        "/v1//chat/completions",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/v1/chat/completions%00",
        "/v1/chat%2Fcompletions",
        long_path.as_str(),
    ];
    for (i, path) in unknown.iter().enumerate() {
        out.push(
            Case::http(
                format!("unknown_path_post_{i}"),
                Method::POST,
                path,
                json(),
                valid(),
            )
            .expect(404),
        );
    }
    // Every server serves `/metrics` (SPEC §16), so it is not among these.
    let get_unknown = [
        "/v1/models/gpt-5",
        "/favicon.ico",
        "/admin",
        "/healthz/x",
        "/metrics/x",
    ];
    for (i, path) in get_unknown.iter().enumerate() {
        out.push(
            Case::http(
                format!("unknown_path_get_{i}"),
                Method::GET,
                path,
                vec![],
                Vec::new(),
            )
            .expect(404),
        );
    }
    out
}

/// Bodies over the limit, sent with a `Content-Length` (413). Well-formed HTTP, but sent
/// with the raw client: the servers answer 413 as soon as they see the length and close
/// without reading the body, and reqwest, still uploading, reports the reset instead of
/// the answer. The raw client reads while it writes, so it sees what the server sent.
fn oversized(t: &Target) -> Vec<Case> {
    let over = |extra: usize| {
        let text = "y".repeat(t.max_body + extra);
        let body =
            serde_json::json!({"model": "gpt-5", "messages": [{"role": "user", "content": text}]});
        serde_json::to_vec(&body).unwrap()
    };
    let send = |name: &str, body: Vec<u8>| {
        let h = [
            format!("Authorization: Bearer {KEY}").into_bytes(),
            b"Content-Type: application/json".to_vec(),
            format!("Content-Length: {}", body.len()).into_bytes(),
        ];
        Case::raw(
            name,
            head("POST", "/v1/chat/completions", t.addr, &h),
            body,
            false,
        )
        .expect(413)
    };
    vec![
        send("over_limit_by_a_little", over(1)),
        send("over_limit_twice", over(t.max_body)),
        send("over_limit_not_json", vec![b'z'; t.max_body + 1]),
    ]
}

/// Missing or wrong credentials (every target is started with an API key): 401.
fn auth() -> Vec<Case> {
    let json = || vec![header("content-type", "application/json")];
    let mut out = vec![Case::http(
        "auth_missing",
        Method::POST,
        "/v1/chat/completions",
        json(),
        valid(),
    )
    .without_auth()
    .expect(401)];
    let long = format!("Bearer {}", "k".repeat(64 * 1024));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("wrong_key", b"Bearer not-the-key".to_vec()),
        ("empty_bearer", b"Bearer".to_vec()),
        ("bearer_space", b"Bearer ".to_vec()),
        ("basic", b"Basic dXNlcjpwYXNz".to_vec()),
        ("token_scheme", format!("Token {KEY}").into_bytes()),
        ("key_without_scheme", KEY.as_bytes().to_vec()),
        (
            "key_prefix",
            format!("Bearer {}", &KEY[..KEY.len() - 1]).into_bytes(),
        ),
        ("key_longer", format!("Bearer {KEY}x").into_bytes()),
        ("non_utf8", b"Bearer \xFF\xFE".to_vec()),
        ("very_long", long.into_bytes()),
    ];
    for (name, value) in bad {
        let mut h = json();
        h.push(header("authorization", value));
        out.push(
            Case::http(
                format!("auth_{name}"),
                Method::POST,
                "/v1/chat/completions",
                h,
                valid(),
            )
            .expect(401),
        );
    }
    out.push(
        Case::http(
            "auth_in_query_only",
            Method::POST,
            &format!("/v1/chat/completions?api_key={KEY}"),
            json(),
            valid(),
        )
        .without_auth()
        .expect(401),
    );
    out.push(
        Case::http(
            "auth_missing_models",
            Method::GET,
            "/v1/models",
            vec![],
            Vec::new(),
        )
        .without_auth()
        .expect(401),
    );
    out
}

/// Every well-formed-HTTP case for `t`.
pub fn cases(t: &Target) -> Vec<Case> {
    [content_types(), routes(t), oversized(t), auth()]
        .into_iter()
        .flatten()
        .collect()
}
