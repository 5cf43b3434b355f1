//! Removing secrets from trace records: known secret values, secret-looking keys, bearer
//! tokens and `sk-…` keys.

use serde_json::Value;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest configured secret that is replaced by value (shorter ones would hit words).
const MIN_SECRET_LEN: usize = 6;

/// Redact `value` in place: values under secret-looking keys, every occurrence of a
/// string of `secrets`, `Bearer <token>` and `sk-…` keys.
pub fn redact(value: &mut Value, secrets: &[String]) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::from(REDACTED);
                } else {
                    redact(v, secrets);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, secrets)),
        Value::String(s) => *s = redact_text(s, secrets),
        _ => {}
    }
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    matches!(
        k.as_str(),
        "authorization" | "password" | "token" | "api_key" | "apikey"
    ) || k.ends_with("_token")
        || k.ends_with("_api_key")
        || k.ends_with("apikey")
        || k.ends_with("password")
        || k.contains("secret")
}

/// `text` with secrets replaced.
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    let out = replace_after(&out, "Bearer ", 1);
    replace_after(&out, "sk-", 16)
}

/// Replace the token after each `marker` (at least `min_len` token characters) with
/// [`REDACTED`], keeping the marker.
fn replace_after(text: &str, marker: &str, min_len: usize) -> String {
    let is_token =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        let after = &rest[pos + marker.len()..];
        let len: usize = after
            .chars()
            .take_while(|c| is_token(*c))
            .map(char::len_utf8)
            .sum();
        out.push_str(&rest[..pos + marker.len()]);
        if len >= min_len && !after[..len].starts_with(REDACTED) {
            out.push_str(REDACTED);
        } else {
            out.push_str(&after[..len]);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_keys_values_and_token_patterns() {
        let mut v = json!({
            "api_key": "abc",
            "headers": { "Authorization": "Bearer xyz" },
            "messages": [
                { "content": "my key is sk-abcdefghijklmnopqrstuvwxyz and hunter2-secret-value" },
                { "content": "auth: Bearer tok_123.456" }
            ],
            "usage": { "total_tokens": 5, "max_tokens": 10 }
        });
        redact(&mut v, &["hunter2-secret-value".into()]);
        let s = v.to_string();
        for leaked in ["abc\"", "xyz", "abcdefghijklmnop", "hunter2", "tok_123"] {
            assert!(!s.contains(leaked), "{leaked} leaked in {s}");
        }
        assert_eq!(v["usage"]["total_tokens"], 5);
        assert!(s.contains("sk-[REDACTED]"), "{s}");
    }
}
