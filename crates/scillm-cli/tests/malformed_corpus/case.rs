//! One corpus case: what is sent, how, and what must come back.

use reqwest::Method;

use super::raw_http::RawRequest;

/// How a case reaches the server.
#[derive(Debug, Clone)]
pub enum Wire {
    /// Well-formed HTTP, sent with reqwest. `headers` are sent as given (raw value bytes);
    /// the target's API key is added unless `headers` has an `authorization` entry or
    /// `no_auth` is set.
    Http {
        /// The method.
        method: Method,
        /// Path and query.
        path: String,
        /// Extra headers.
        headers: Vec<(String, Vec<u8>)>,
        /// The body.
        body: Vec<u8>,
        /// Send no `Authorization` at all.
        no_auth: bool,
    },
    /// Malformed HTTP, written as bytes on a TCP stream.
    Raw(RawRequest),
}

/// A named case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Unique within a target; allowlist entries refer to it.
    pub name: String,
    /// What is sent.
    pub wire: Wire,
    /// The exact 4xx expected, when the case pins one down (413, 415, 404, …).
    pub status: Option<u16>,
}

impl Case {
    /// A POST of `body` as `application/json` to `/v1/chat/completions`.
    pub fn json(name: impl Into<String>, body: impl Into<Vec<u8>>) -> Case {
        Case::http(
            name,
            Method::POST,
            "/v1/chat/completions",
            vec![("content-type".into(), b"application/json".to_vec())],
            body,
        )
    }

    /// A reqwest request.
    pub fn http(
        name: impl Into<String>,
        method: Method,
        path: &str,
        headers: Vec<(String, Vec<u8>)>,
        body: impl Into<Vec<u8>>,
    ) -> Case {
        Case {
            name: name.into(),
            wire: Wire::Http {
                method,
                path: path.to_string(),
                headers,
                body: body.into(),
                no_auth: false,
            },
            status: None,
        }
    }

    /// A raw TCP request.
    pub fn raw(name: impl Into<String>, head: Vec<u8>, body: Vec<u8>, half_close: bool) -> Case {
        Case {
            name: name.into(),
            wire: Wire::Raw(RawRequest {
                head,
                body,
                half_close,
            }),
            status: None,
        }
    }

    /// Expect exactly `status`.
    pub fn expect(mut self, status: u16) -> Case {
        self.status = Some(status);
        self
    }

    /// Send without any `Authorization` header.
    pub fn without_auth(mut self) -> Case {
        if let Wire::Http { no_auth, .. } = &mut self.wire {
            *no_auth = true;
        }
        self
    }
}
