//! Inbound bearer auth: `Authorization: Bearer <key>` checked against a set of keys in
//! constant time (SPEC §5, §17).
//!
//! Every key is kept only as its SHA-256 digest; a presented token is hashed and compared
//! with every digest using `subtle`'s constant-time equality, without stopping at the
//! first match, so neither the time nor the order of the keys tells which bytes matched.
//! A key given as `key_sha256` in a config therefore works the same as a plain key.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::error::ApiError;

/// A SHA-256 digest of a key.
pub type KeyDigest = [u8; 32];

/// The SHA-256 digest of `key`.
pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// Parse a hex SHA-256 digest (64 hex digits, either case), as `key_sha256` values are
/// written (`printf %s "$KEY" | sha256sum`).
pub fn parse_digest(hex_digest: &str) -> Option<KeyDigest> {
    let bytes = hex::decode(hex_digest.trim()).ok()?;
    bytes.try_into().ok()
}

/// The bearer token of `headers` (`Authorization: Bearer <token>`, scheme in any case),
/// trimmed; `None` when there is no such header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A set of keys, each with a payload `T` (e.g. the key's name and permissions).
#[derive(Debug)]
pub struct KeySet<T> {
    keys: Vec<(KeyDigest, T)>,
}

impl<T> Default for KeySet<T> {
    fn default() -> Self {
        Self { keys: Vec::new() }
    }
}

impl<T> KeySet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key by its digest.
    pub fn insert_digest(&mut self, digest: KeyDigest, payload: T) {
        self.keys.push((digest, payload));
    }

    /// Add a plain key (only its digest is kept).
    pub fn insert(&mut self, key: &SecretString, payload: T) {
        self.insert_digest(digest(key.expose_secret()), payload);
    }

    /// Whether there are no keys (then a server has no auth and binds loopback only).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The payload of the key equal to `token`, compared in constant time against every
    /// key.
    pub fn find(&self, token: &str) -> Option<&T> {
        let given = digest(token);
        let mut found: Option<&T> = None;
        for (d, payload) in &self.keys {
            let hit: Choice = d.ct_eq(&given);
            if bool::from(hit) && found.is_none() {
                found = Some(payload);
            }
        }
        found
    }

    /// Check `headers`: the payload of the presented key, or the 401 to answer —
    /// `missing_api_key` without a bearer token, `invalid_api_key` with a wrong one. `hint`
    /// names where the key is configured (e.g. `CODEX_SIDECAR_API_KEY`).
    pub fn authenticate(&self, headers: &HeaderMap, hint: &str) -> Result<&T, ApiError> {
        match bearer_token(headers) {
            None => Err(ApiError::unauthorized(
                "missing_api_key",
                format!("this server requires an API key: send Authorization: Bearer <{hint}>"),
            )),
            Some(token) => self.find(token).ok_or_else(|| {
                ApiError::unauthorized(
                    "invalid_api_key",
                    format!("the API key is not valid for this server ({hint})"),
                )
            }),
        }
    }
}

/// One optional key guarding a server: the sidecar's and the mini-agent's rule. Without a
/// key every request passes; with one, every path except `open_paths` needs it.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    keys: Arc<KeySet<()>>,
    hint: &'static str,
    open_paths: &'static [&'static str],
}

impl BearerAuth {
    /// Guard with `key` (none: no auth). `hint` is where the key is set, for messages;
    /// `open_paths` stay reachable without it (health checks).
    pub fn new(
        key: Option<&SecretString>,
        hint: &'static str,
        open_paths: &'static [&'static str],
    ) -> Self {
        let mut keys = KeySet::new();
        if let Some(k) = key {
            keys.insert(k, ());
        }
        Self {
            keys: Arc::new(keys),
            hint,
            open_paths,
        }
    }

    /// Whether a key is configured.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Add this check to `router` as a middleware (nothing when no key is set).
    pub fn layer<S: Clone + Send + Sync + 'static>(
        self,
        router: axum::Router<S>,
    ) -> axum::Router<S> {
        if !self.enabled() {
            return router;
        }
        router.layer(axum::middleware::from_fn_with_state(self, require_bearer))
    }
}

/// Middleware: reject requests without the configured key (see [`BearerAuth`]).
pub async fn require_bearer(State(auth): State<BearerAuth>, req: Request, next: Next) -> Response {
    if auth.keys.is_empty() || auth.open_paths.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match auth.keys.authenticate(req.headers(), auth.hint) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn keys_match_by_digest_and_plain() {
        let mut set = KeySet::new();
        set.insert(&SecretString::from("sk-one"), "one");
        let d = parse_digest(&hex::encode(digest("sk-two")));
        assert!(d.is_some());
        set.insert_digest(d.unwrap_or_default(), "two");
        assert_eq!(set.find("sk-one"), Some(&"one"));
        assert_eq!(set.find("sk-two"), Some(&"two"));
        assert_eq!(set.find("sk-three"), None);
        assert_eq!(
            set.authenticate(&headers("bearer sk-two"), "K").ok(),
            Some(&"two")
        );
        let e = set.authenticate(&headers("Bearer nope"), "K").err();
        assert_eq!(
            e.map(|e| e.body.error.code),
            Some(Some("invalid_api_key".into()))
        );
        let e = set.authenticate(&HeaderMap::new(), "K").err();
        assert_eq!(
            e.map(|e| e.body.error.code),
            Some(Some("missing_api_key".into()))
        );
        assert!(parse_digest("abc").is_none());
    }
}
