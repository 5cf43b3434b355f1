//! Malformed HTTP written on a raw TCP stream: bad framing, duplicate and conflicting
//! headers, broken chunked bodies, oversized heads.
//!
//! Some of these never reach the app: hyper (under axum) rejects the message while
//! parsing it and answers itself, with a bare status and an empty body. No code in the
//! servers runs for them, so they cannot carry an OpenAI error body without replacing
//! hyper's HTTP/1 parser. They are listed, each with the reason, in [`PROTOCOL_ALLOWLIST`];
//! the corpus still checks that each gets exactly that 4xx status and that the server
//! stays healthy after it. Every other case must get an OpenAI body.

use super::case::Case;
use super::json_cases::base;
use super::raw_http::{chunked, head};
use super::targets::{Target, KEY};

/// Cases hyper answers itself, before any route, middleware or extractor runs:
/// (case name, the bare status hyper sends, why).
pub const PROTOCOL_ALLOWLIST: &[(&str, u16, &str)] = &[
    ("duplicate_content_length_differing", 400, "RFC 9112 §6.3: conflicting Content-Length values are a framing error; hyper's parser refuses the message"),
    ("content_length_not_a_number", 400, "an unparsable Content-Length is a framing error in hyper's parser"),
    ("content_length_negative", 400, "an unparsable Content-Length is a framing error in hyper's parser"),
    ("content_length_list_differing", 400, "a Content-Length list with differing values is a framing error in hyper's parser"),
    ("transfer_encoding_not_chunked", 400, "RFC 9112 §6.3: a request whose last transfer coding is not chunked has no determinable length; hyper refuses it"),
    ("request_line_garbage", 400, "not an HTTP request line: httparse fails before there is a request"),
    ("header_without_colon", 400, "httparse rejects a header line without a colon"),
    ("header_name_with_space", 400, "httparse rejects a space in a header name"),
    ("header_value_with_nul", 400, "httparse rejects a NUL byte in a header value"),
    ("header_value_one_megabyte", 431, "the head exceeds hyper's read buffer (~400 KiB): 431 before the head is parsed"),
    ("two_hundred_headers", 431, "more headers than hyper's limit (100): 431 before the head is parsed"),
    ("uri_seventy_kib", 414, "hyper refuses a request target longer than 65534 bytes with 414"),
];

fn valid() -> Vec<u8> {
    serde_json::to_vec(&base()).unwrap()
}

fn line(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

/// Every raw-HTTP case for `t`.
pub fn cases(t: &Target) -> Vec<Case> {
    let body = valid();
    let auth = line(format!("Authorization: Bearer {KEY}"));
    let json = line("Content-Type: application/json");
    let post = |extra: Vec<Vec<u8>>| {
        let mut h = vec![auth.clone(), json.clone()];
        h.extend(extra);
        head("POST", "/v1/chat/completions", t.addr, &h)
    };
    let cl = |n: usize| line(format!("Content-Length: {n}"));
    let te = line("Transfer-Encoding: chunked");
    let n = body.len();
    let over = vec![b'a'; t.max_body + 1024];
    let over_json = {
        let text = "y".repeat(t.max_body + 1);
        serde_json::to_vec(
            &serde_json::json!({"model": "gpt-5", "messages": [{"role": "user", "content": text}]}),
        )
        .unwrap()
    };
    let mut out = vec![
        // Oversized bodies without a Content-Length: chunked.
        Case::raw(
            "over_limit_chunked",
            post(vec![te.clone()]),
            chunked(&over_json, 64 * 1024),
            false,
        )
        .expect(413),
        Case::raw(
            "over_limit_chunked_not_json",
            post(vec![te.clone()]),
            chunked(&over, 8 * 1024),
            false,
        )
        .expect(413),
        Case::raw(
            "over_limit_content_length_then_silence",
            post(vec![cl(t.max_body + 1)]),
            body.clone(),
            false,
        )
        .expect(413),
        // Content-Length that does not match the body.
        Case::raw(
            "content_length_shorter_than_body",
            post(vec![cl(n / 2)]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "content_length_zero_with_body",
            post(vec![cl(0)]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "content_length_longer_then_half_close",
            post(vec![cl(n + 100)]),
            body.clone(),
            true,
        )
        .expect(400),
        Case::raw(
            "duplicate_content_length_differing",
            post(vec![cl(n), cl(n + 1)]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "content_length_list_differing",
            post(vec![line(format!("Content-Length: {n}, {}", n + 1))]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "content_length_not_a_number",
            post(vec![line("Content-Length: abc")]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "content_length_negative",
            post(vec![line("Content-Length: -1")]),
            body.clone(),
            false,
        )
        .expect(400),
        // Broken chunked bodies.
        Case::raw(
            "chunk_size_not_hex",
            post(vec![te.clone()]),
            [&b"zz\r\n"[..], &body, b"\r\n0\r\n\r\n"].concat(),
            false,
        )
        .expect(400),
        Case::raw(
            "chunk_shorter_than_size_then_half_close",
            post(vec![te.clone()]),
            [format!("{:x}\r\n", n + 50).as_bytes(), &body].concat(),
            true,
        )
        .expect(400),
        Case::raw(
            "chunked_no_terminator_then_half_close",
            post(vec![te.clone()]),
            [format!("{n:x}\r\n").as_bytes(), &body, b"\r\n"].concat(),
            true,
        )
        .expect(400),
        Case::raw(
            "chunked_garbage_json",
            post(vec![te.clone()]),
            chunked(b"{\"model\":", 3),
            false,
        )
        .expect(400),
        Case::raw(
            "transfer_encoding_not_chunked",
            post(vec![line("Transfer-Encoding: gzip")]),
            body.clone(),
            false,
        )
        .expect(400),
        // Heads hyper refuses.
        Case::raw(
            "request_line_garbage",
            b"HELLO THERE\r\n\r\n".to_vec(),
            Vec::new(),
            false,
        )
        .expect(400),
        Case::raw(
            "header_without_colon",
            post(vec![cl(n), line("NoColonHere")]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "header_name_with_space",
            post(vec![cl(n), line("Bad Name: x")]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "header_value_with_nul",
            post(vec![cl(n), line(b"X-Nul: a\0b")]),
            body.clone(),
            false,
        )
        .expect(400),
        Case::raw(
            "header_value_one_megabyte",
            post(vec![cl(n), line(format!("X-Big: {}", "v".repeat(1 << 20)))]),
            body.clone(),
            false,
        )
        .expect(431),
        Case::raw(
            "two_hundred_headers",
            post(
                (0..200)
                    .map(|i| line(format!("X-H{i}: v")))
                    .chain([cl(n)])
                    .collect(),
            ),
            body.clone(),
            false,
        )
        .expect(431),
        Case::raw(
            "uri_seventy_kib",
            head("GET", &format!("/{}", "u".repeat(70 * 1024)), t.addr, &[]),
            Vec::new(),
            false,
        )
        .expect(414),
        // Heads the app sees: its own answers.
        Case::raw(
            "header_value_64_kib_bad_auth",
            head(
                "POST",
                "/v1/chat/completions",
                t.addr,
                &[
                    json.clone(),
                    cl(n),
                    line(format!("Authorization: Bearer {}", "k".repeat(64 * 1024))),
                ],
            ),
            body.clone(),
            false,
        )
        .expect(401),
        Case::raw(
            "duplicate_authorization_wrong_first",
            head(
                "POST",
                "/v1/chat/completions",
                t.addr,
                &[
                    json.clone(),
                    cl(n),
                    line("Authorization: Bearer wrong"),
                    auth.clone(),
                ],
            ),
            body.clone(),
            false,
        )
        .expect(401),
        Case::raw(
            "unknown_path_raw_dotdot",
            head(
                "GET",
                "/../../etc/passwd",
                t.addr,
                std::slice::from_ref(&auth),
            ),
            Vec::new(),
            false,
        )
        .expect(404),
        Case::raw(
            "absolute_form_other_host",
            head(
                "GET",
                "http://example.com/v1/nothing",
                t.addr,
                std::slice::from_ref(&auth),
            ),
            Vec::new(),
            false,
        )
        .expect(404),
        Case::raw(
            "get_chat_with_body",
            head(
                "GET",
                "/v1/chat/completions",
                t.addr,
                &[auth.clone(), json.clone(), cl(n)],
            ),
            body.clone(),
            false,
        )
        .expect(405),
    ];
    let http10 = format!("POST /v1/chat/completions HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n", t.addr);
    out.push(
        Case::raw(
            "http10_truncated_json",
            http10.into_bytes(),
            body[..10].to_vec(),
            false,
        )
        .expect(400),
    );
    out
}
