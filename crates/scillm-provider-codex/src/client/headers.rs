//! Upstream request headers: the caller's kept, hop-by-hop dropped, a bearer key added.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use scillm_core::secrecy::{ExposeSecret, SecretString};
use scillm_core::{ErrorKind, ProviderError};

/// Headers that only concern one connection and are never forwarded (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "keep-alive",
];

/// Headers the HTTP client sets itself from the request it sends.
const CLIENT_OWNED: &[&str] = &["host", "content-length"];

/// The headers for one upstream call.
///
/// `caller` headers are kept except hop-by-hop ones (and any the caller's `Connection`
/// header names); `Authorization: Bearer <key>` is added when `key` is set and the caller
/// gave no `Authorization`; `fixed` headers are set last and win. The key is marked
/// sensitive so it never shows in Debug output. A header that is not valid HTTP is an
/// [`ErrorKind::InvalidRequest`] error naming the header (never its value).
pub fn build_headers(
    caller: &[(String, String)],
    key: Option<&SecretString>,
    fixed: &[(&'static str, &'static str)],
) -> Result<HeaderMap, ProviderError> {
    let named_by_connection: Vec<String> = caller
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .filter(|t| !t.is_empty())
        .collect();
    let mut map = HeaderMap::new();
    for (name, value) in caller {
        let lower = name.trim().to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str())
            || CLIENT_OWNED.contains(&lower.as_str())
            || named_by_connection.contains(&lower)
        {
            continue;
        }
        let header = HeaderName::from_bytes(lower.as_bytes()).map_err(|_| invalid(name))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| invalid(name))?;
        if header == AUTHORIZATION {
            value.set_sensitive(true);
        }
        map.append(header, value);
    }
    if let Some(key) = key {
        if !map.contains_key(AUTHORIZATION) {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                .map_err(|_| {
                    ProviderError::new(
                        ErrorKind::InvalidRequest,
                        "the API key holds characters not allowed in an HTTP header",
                    )
                })?;
            value.set_sensitive(true);
            map.insert(AUTHORIZATION, value);
        }
    }
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in fixed {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(map)
}

fn invalid(name: &str) -> ProviderError {
    let shown: String = name.chars().take(64).collect();
    ProviderError::new(
        ErrorKind::InvalidRequest,
        format!("header `{shown}` is not a valid HTTP header name or value"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keeps_caller_headers_and_drops_hop_by_hop() {
        let caller = pairs(&[
            ("X-Test", "1"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "drop me"),
            ("Transfer-Encoding", "chunked"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic abc"),
            ("Host", "evil"),
        ]);
        let map = build_headers(&caller, None, &[("x-codex-force-local", "1")]).unwrap();
        assert_eq!(map.get("x-test").unwrap(), "1");
        assert_eq!(map.get("x-codex-force-local").unwrap(), "1");
        for gone in [
            "connection",
            "x-private",
            "transfer-encoding",
            "te",
            "upgrade",
            "proxy-authorization",
            "host",
        ] {
            assert!(map.get(gone).is_none(), "{gone} kept");
        }
    }

    #[test]
    fn bearer_key_added_only_without_a_caller_authorization() {
        let key = SecretString::from("token-123");
        let map = build_headers(&[], Some(&key), &[]).unwrap();
        let auth = map.get(AUTHORIZATION).unwrap();
        assert_eq!(auth, "Bearer token-123");
        assert!(auth.is_sensitive());
        assert!(!format!("{map:?}").contains("token-123"));
        let caller = pairs(&[("authorization", "Bearer mine")]);
        let map = build_headers(&caller, Some(&key), &[]).unwrap();
        assert_eq!(map.get(AUTHORIZATION).unwrap(), "Bearer mine");
        assert_eq!(map.get_all(AUTHORIZATION).iter().count(), 1);
    }

    #[test]
    fn an_invalid_header_names_the_header_not_the_value() {
        let caller = pairs(&[("X-Bad", "secret\nvalue")]);
        let err = build_headers(&caller, None, &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(err.message.contains("X-Bad"));
        assert!(!err.message.contains("secret"));
    }
}
