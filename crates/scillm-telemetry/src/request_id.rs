//! Request ids (SPEC §16): every server response carries `x-request-id` — the client's when
//! it sent a usable one, else a new one.

use http::{HeaderMap, HeaderValue};

/// The header name.
pub const HEADER: &str = "x-request-id";

/// Longest client-supplied id kept, in bytes; a longer one is replaced, so that ids stay
/// fit for log lines.
pub const MAX_LEN: usize = 128;

/// The request id for a request with `headers`: the client's `x-request-id` when it is
/// 1–[`MAX_LEN`] visible ASCII characters, else a new one (`req_` + a UUIDv4 in simple form).
pub fn from_headers(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(HEADER)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= MAX_LEN && b.iter().all(|c| c.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(new)
}

/// A new id: `req_` followed by 32 hex digits of a random UUIDv4.
pub fn new() -> HeaderValue {
    let id = format!("req_{}", uuid::Uuid::new_v4().simple());
    // Only ASCII letters, digits and `_`: always a valid header value.
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("req_unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_usable_client_id_and_replaces_others() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("abc"));
        assert_eq!(from_headers(&h), "abc");
        h.insert(HEADER, HeaderValue::from_static("has space"));
        assert!(from_headers(&h).to_str().unwrap().starts_with("req_"));
        h.insert(
            HEADER,
            HeaderValue::from_str(&"x".repeat(MAX_LEN + 1)).unwrap(),
        );
        assert!(from_headers(&h).to_str().unwrap().starts_with("req_"));
        let a = new();
        assert_ne!(a, new());
        assert_eq!(a.len(), 4 + 32);
    }
}
