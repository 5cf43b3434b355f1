//! Requests that are valid JSON chat requests but that the sidecar's Codex CLI path must
//! refuse before running the CLI: no prompt text, and bad image parts (not base64, wrong
//! type, empty, remote, too large). Echo servers answer these without looking (they are
//! valid there), so they run only against `Kind::SidecarCli`.

use base64::Engine;
use serde_json::json;

use super::case::Case;
use super::json_cases::splice;
use super::targets::Target;

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn with_image(url: &str) -> Vec<u8> {
    let parts = json!([
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]);
    splice("/messages/0/content", &parts.to_string())
}

/// The CLI-path cases for `t`.
pub fn cases(t: &Target) -> Vec<Case> {
    let mut out = Vec::new();
    let no_text: &[(&str, &str)] = &[
        ("empty_string", r#""""#),
        ("whitespace", r#"" \n\t ""#),
        ("null", "null"),
        ("no_parts", "[]"),
        ("empty_text_part", r#"[{"type":"text","text":""}]"#),
        (
            "only_unknown_part",
            r#"[{"type":"input_audio","input_audio":{}}]"#,
        ),
    ];
    for (name, content) in no_text {
        out.push(
            Case::json(
                format!("empty_prompt_{name}"),
                splice("/messages/0/content", content),
            )
            .expect(400),
        );
    }
    out.push(
        Case::json(
            "empty_prompt_no_content_field",
            br#"{"model":"gpt-5","messages":[{"role":"user"}]}"#.to_vec(),
        )
        .expect(400),
    );
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let huge_png = [&b"\x89PNG\r\n\x1a\n"[..], &vec![0u8; t.max_image + 1]].concat();
    let images: Vec<(&str, String)> = vec![
        (
            "not_base64",
            "data:image/png;base64,!!!not base64!!!".into(),
        ),
        (
            "bad_base64_padding",
            "data:image/png;base64,iVBORw0KGgo=A".into(),
        ),
        (
            "wrong_mime_svg",
            "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=".into(),
        ),
        (
            "wrong_mime_text",
            format!("data:text/plain;base64,{}", b64(b"hello")),
        ),
        (
            "wrong_mime_pdf",
            format!("data:application/pdf;base64,{}", b64(b"%PDF-1.4")),
        ),
        (
            "mime_mismatch_jpeg_label_png_bytes",
            format!("data:image/jpeg;base64,{PNG_1X1}"),
        ),
        (
            "png_label_text_bytes",
            format!("data:image/png;base64,{}", b64(b"not an image at all")),
        ),
        ("empty_data", "data:image/png;base64,".into()),
        ("empty_url", String::new()),
        ("data_no_comma", "data:image/png;base64".into()),
        ("data_not_base64_encoded", "data:image/png,rawbytes".into()),
        ("data_no_mime", format!("data:;base64,{PNG_1X1}")),
        ("remote_https", "https://example.com/cat.png".into()),
        ("remote_http", "http://127.0.0.1:1/cat.png".into()),
        ("file_url", "file:///etc/passwd".into()),
        ("ftp_url", "ftp://example.com/cat.png".into()),
        ("relative_path", "cat.png".into()),
        (
            "huge_over_image_limit",
            format!("data:image/png;base64,{}", b64(&huge_png)),
        ),
    ];
    for (name, url) in images {
        out.push(Case::json(format!("bad_image_{name}"), with_image(&url)).expect(400));
    }
    out
}
