//! Bodies that are not valid JSON, or not a valid chat request: generated from tables
//! of (field, bad values) over one valid request. Sent as well-formed HTTP.

use serde_json::{json, Value};

use super::case::Case;
use super::targets::Target;
use super::wrong_values::WRONG_VALUES;

/// The valid request every mutation starts from.
pub fn base() -> Value {
    json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
}

const SENTINEL: &str = "\u{1}SPLICE\u{1}";

/// `base()` with the value at `pointer` replaced by the raw JSON text `raw` (which may
/// itself be invalid JSON, e.g. `NaN`). Missing object keys on the way are created.
pub fn splice(pointer: &str, raw: &str) -> Vec<u8> {
    let mut v = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let slot = v.pointer_mut(parent).unwrap();
    match slot {
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = json!(SENTINEL),
        Value::Object(m) => {
            m.insert(key.to_string(), json!(SENTINEL));
        }
        _ => panic!("{pointer}: parent is not a container"),
    }
    let text = serde_json::to_string(&v).unwrap();
    let quoted = serde_json::to_string(SENTINEL).unwrap();
    text.replace(&quoted, raw).into_bytes()
}

/// `base()` without the field at `pointer`.
fn without(pointer: &str) -> Vec<u8> {
    let mut v = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match v.pointer_mut(parent).unwrap() {
        Value::Object(m) => {
            m.remove(key);
        }
        _ => panic!("{pointer}: parent is not an object"),
    }
    serde_json::to_vec(&v).unwrap()
}

/// Not JSON at all, or JSON that is not a request object.
fn invalid_json() -> Vec<(String, Vec<u8>)> {
    let valid = serde_json::to_vec(&base()).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    // Truncated at twelve points spread over the body.
    for i in 0..12 {
        let cut = valid.len() * i / 12;
        out.push((format!("truncated_at_{cut}"), valid[..cut].to_vec()));
    }
    for (name, tail) in [
        ("x", &b" x"[..]),
        ("brace", b"}"),
        ("comma", b","),
        ("second_object", b"{}"),
        ("nul", b"\0"),
        ("array", b"[1]"),
        ("newline_text", b"\nmore"),
    ] {
        let mut body = valid.clone();
        body.extend_from_slice(tail);
        out.push((format!("trailing_garbage_{name}"), body));
    }
    let text = String::from_utf8(valid.clone()).unwrap();
    let raw: &[(&str, Vec<u8>)] = &[
        ("empty_body", Vec::new()),
        ("whitespace_body", b" \n\t ".to_vec()),
        ("single_quotes", text.replace('"', "'").into_bytes()),
        ("bom_prefix", [&b"\xEF\xBB\xBF"[..], &valid].concat()),
        (
            "utf16_body",
            text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        ("comment", [&b"// hi\n"[..], &valid].concat()),
        (
            "trailing_comma",
            text.replacen(r#""hi""#, r#""hi","#, 1).into_bytes(),
        ),
        (
            "unquoted_keys",
            br#"{model:"gpt-5",messages:[{role:"user",content:"hi"}]}"#.to_vec(),
        ),
        (
            "raw_tab_in_string",
            b"{\"model\":\"gpt\t5\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
                .to_vec(),
        ),
        (
            "raw_newline_in_string",
            b"{\"model\":\"gpt-5\",\"messages\":[{\"role\":\"user\",\"content\":\"h\ni\"}]}"
                .to_vec(),
        ),
        ("bad_escape", splice("/messages/0/content", r#""\x41""#)),
        (
            "short_unicode_escape",
            splice("/messages/0/content", r#""\u12""#),
        ),
        (
            "lone_surrogate",
            splice("/messages/0/content", r#""\ud800""#),
        ),
        ("json_null", b"null".to_vec()),
        ("json_array", b"[]".to_vec()),
        ("json_string", br#""hello""#.to_vec()),
        ("json_number", b"42".to_vec()),
        ("json_true", b"true".to_vec()),
        ("array_of_requests", [&b"["[..], &valid, b"]"].concat()),
        (
            "form_encoded_with_json_type",
            b"model=gpt-5&messages=hi".to_vec(),
        ),
    ];
    out.extend(raw.iter().map(|(n, b)| (n.to_string(), b.clone())));
    for (name, raw) in [
        ("nan", "NaN"),
        ("infinity", "Infinity"),
        ("neg_infinity", "-Infinity"),
        ("hex", "0x10"),
        ("plus", "+1"),
        ("leading_dot", ".5"),
        ("leading_zero", "01"),
        ("huge_exponent", "1e999"),
    ] {
        out.push((format!("temperature_{name}"), splice("/temperature", raw)));
    }
    out
}

/// Missing required fields.
fn missing() -> Vec<(String, Vec<u8>)> {
    vec![
        ("missing_model".into(), without("/model")),
        ("missing_messages".into(), without("/messages")),
        ("missing_role".into(), without("/messages/0/role")),
        ("empty_object".into(), b"{}".to_vec()),
        ("only_vendor_fields".into(), br#"{"x_vendor":1}"#.to_vec()),
    ]
}

/// Invalid UTF-8 inside otherwise well-formed JSON.
fn invalid_utf8() -> Vec<(String, Vec<u8>)> {
    let bytes: &[(&str, &[u8])] = &[
        ("ff", b"\xFF"),
        ("c3_28", b"\xC3\x28"),
        ("overlong_slash", b"\xC0\xAF"),
        ("utf8_surrogate", b"\xED\xA0\x80"),
        ("cut_multibyte", b"\xE2\x82"),
        ("latin1_e_acute", b"caf\xE9"),
        ("continuation_only", b"\x80\x80"),
        ("five_byte_form", b"\xF8\x88\x80\x80\x80"),
    ];
    let mut out = Vec::new();
    for (name, bad) in bytes {
        for (field, ptr) in [
            ("content", "/messages/0/content"),
            ("model", "/model"),
            ("vendor", "/x_vendor"),
        ] {
            let body = splice(ptr, "\"\u{2}\"");
            let body = replace(&body, "\u{2}".as_bytes(), bad);
            out.push((format!("invalid_utf8_{name}_in_{field}"), body));
        }
    }
    out
}

fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = hay.windows(needle.len()).position(|w| w == needle).unwrap();
    [&hay[..at], with, &hay[at + needle.len()..]].concat()
}

/// 10k-level (and deeper) nesting, in a vendor field and in typed fields.
fn deep_nesting() -> Vec<(String, Vec<u8>)> {
    let arrays = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    let mixed = |n: usize| format!("{}0{}", r#"[{"a":"#.repeat(n), "}]".repeat(n));
    vec![
        (
            "deep_arrays_in_vendor_field".into(),
            splice("/x_vendor", &arrays(10_000)),
        ),
        (
            "deep_objects_in_vendor_field".into(),
            splice("/x_vendor", &objects(10_000)),
        ),
        (
            "deep_mixed_in_vendor_field".into(),
            splice("/x_vendor", &mixed(10_000)),
        ),
        (
            "deep_arrays_100k_in_vendor_field".into(),
            splice("/x_vendor", &arrays(100_000)),
        ),
        (
            "deep_unclosed_arrays".into(),
            splice("/x_vendor", &"[".repeat(10_000)),
        ),
        (
            "deep_objects_in_response_format".into(),
            splice("/response_format", &objects(10_000)),
        ),
        (
            "deep_arrays_in_content".into(),
            splice("/messages/0/content", &arrays(10_000)),
        ),
        (
            "deep_objects_in_message_extra".into(),
            splice("/messages/0/x_meta", &objects(10_000)),
        ),
        ("deep_arrays_as_body".into(), arrays(10_000).into_bytes()),
    ]
}

/// Multi-MB strings in bodies that are still under the limit but malformed.
fn huge_strings(t: &Target) -> Vec<(String, Vec<u8>)> {
    let big = "x".repeat(t.max_body * 3 / 4);
    let quoted = format!("\"{big}\"");
    vec![
        (
            "huge_content_unterminated".into(),
            splice("/messages/0/content", &format!("\"{big}")),
        ),
        ("huge_content_unknown_role".into(), {
            let b = splice("/messages/0/content", &quoted);
            String::from_utf8(b)
                .unwrap()
                .replace("\"user\"", "\"wizard\"")
                .into_bytes()
        }),
        (
            "huge_string_as_temperature".into(),
            splice("/temperature", &quoted),
        ),
        (
            "huge_string_as_messages".into(),
            splice("/messages", &quoted),
        ),
        (
            "huge_content_bad_utf8_at_end".into(),
            replace(
                &splice("/messages/0/content", &format!("\"{big}\u{2}\"")),
                "\u{2}".as_bytes(),
                b"\xFF",
            ),
        ),
        (
            "huge_content_missing_model".into(),
            serde_json::to_vec(&json!({"messages": [{"role": "user", "content": big}]})).unwrap(),
        ),
    ]
}

/// Every JSON-body case for `t`.
pub fn cases(t: &Target) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for (row, (ptr, values)) in WRONG_VALUES.iter().enumerate() {
        for (i, v) in values.iter().enumerate() {
            let name = format!("wrong{}_{row}_{i}", ptr.replace('/', "_"));
            out.push(Case::json(name, splice(ptr, v)).expect(400));
        }
    }
    let groups = [
        invalid_json(),
        missing(),
        invalid_utf8(),
        deep_nesting(),
        huge_strings(t),
    ];
    for (name, body) in groups.into_iter().flatten() {
        out.push(Case::json(name, body).expect(400));
    }
    out
}
