//! The Batch API's lines in the batch runner ([`scillm_batch::LineFormat`]): an input
//! line `{"custom_id", "method", "url", "body"}` becomes the chat request `body`, checked
//! like an online request for the batch's key ([`Catalog::check`]) and charged to the
//! key's rpm/tpm ([`ClientKey::wait`]: the line waits for capacity, it is not refused);
//! a result becomes OpenAI's output line
//! `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}` with
//! the `scillm_router` record (SPEC §6) beside `response` (the batch runner reads it back
//! when a batch resumes).
//!
//! When a batch ends before every line ran (cancelled, or past its completion window),
//! the remaining lines are answered by [`Ending`]: `"response": null` and an `error`
//! with code `batch_cancelled` / `batch_expired`, as OpenAI writes unfinished requests
//! of an expired batch into the error file.

use std::sync::Arc;

use scillm_batch::{LineFormat, ParsedLine};
use scillm_core::{ErrorKind, ProviderError};
use scillm_router::{RequestItem, RouterResult};
use scillm_serve::ApiError;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::model::InputLine;
use super::store::new_id;
use crate::access::Catalog;
use crate::keys::{estimate_tokens, ClientKey};

/// Why a batch stopped before every line ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `POST /v1/batches/{id}/cancel`.
    Cancelled,
    /// The completion window passed.
    Expired,
}

impl Ending {
    /// The `error.code` of an unfinished line.
    pub fn code(self) -> &'static str {
        match self {
            Ending::Cancelled => "batch_cancelled",
            Ending::Expired => "batch_expired",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Ending::Cancelled => "This request was not executed: the batch was cancelled.",
            Ending::Expired => {
                "This request could not be executed before the completion window expired."
            }
        }
    }
}

/// Whose batch it is.
#[derive(Debug, Clone)]
pub enum Owner {
    /// The gateway has no keys: everyone's.
    Open,
    /// The key that created it.
    Key(Arc<ClientKey>),
    /// Created by a key the configuration no longer has: every line is refused (401).
    Gone(String),
}

/// One batch's lines.
#[derive(Debug)]
pub struct BatchLines {
    /// The model names served.
    pub catalog: Arc<Catalog>,
    /// The batch's key.
    pub owner: Owner,
    /// `Some` when the batch is ending: every line run now is answered by it.
    pub ending: Option<Ending>,
}

/// What an output line needs from its input line.
#[derive(Debug)]
pub struct LineContext {
    custom_id: Value,
    /// The gateway's own answer for a line refused before any call.
    refusal: Option<ApiError>,
    tokens: u32,
}

impl LineFormat for BatchLines {
    type Context = LineContext;

    fn parse(&self, _index: usize, line: &[u8]) -> ParsedLine<LineContext> {
        let mut context = LineContext {
            custom_id: Value::Null,
            refusal: None,
            tokens: 0,
        };
        // Lines were checked when the batch was created; a line that reads differently
        // now (a file changed on disk) is still answered.
        let body = match serde_json::from_slice::<InputLine>(line) {
            Ok(l) => {
                context.custom_id = Value::from(l.custom_id);
                l.body
            }
            Err(e) => {
                let msg = format!("the input line is not a batch request: {e}");
                context.refusal = Some(ApiError::bad_request("invalid_input_line", &msg));
                return ParsedLine {
                    item: RequestItem::Invalid(msg),
                    context,
                };
            }
        };
        let key = match &self.owner {
            Owner::Open => None,
            Owner::Key(k) => Some(k.as_ref()),
            Owner::Gone(name) => {
                context.refusal = Some(ApiError::unauthorized(
                    "invalid_api_key",
                    format!("the batch's key `{name}` is no longer in [gateway] keys"),
                ));
                None
            }
        };
        if context.refusal.is_none() {
            context.refusal = self.catalog.check(key, &body).err();
        }
        context.tokens = estimate_tokens(&body);
        ParsedLine {
            item: RequestItem::Raw(body),
            context,
        }
    }

    async fn admit(
        &self,
        _item: &RequestItem,
        context: &LineContext,
        cancel: &CancellationToken,
    ) -> Result<(), ProviderError> {
        if let Some(ending) = self.ending {
            return Err(ProviderError::new(ErrorKind::Cancelled, ending.message()));
        }
        if let Some(refusal) = &context.refusal {
            let kind =
                ErrorKind::from_status(refusal.status.as_u16()).unwrap_or(ErrorKind::BadRequest);
            return Err(ProviderError::new(kind, refusal.message()));
        }
        let Owner::Key(key) = &self.owner else {
            return Ok(());
        };
        tokio::select! {
            waited = key.wait(context.tokens) => {
                waited.map_err(|m| ProviderError::new(ErrorKind::BadRequest, m))
            }
            () = cancel.cancelled() => Err(ProviderError::new(
                ErrorKind::Cancelled,
                "cancelled while waiting for the key's rate limit",
            )),
        }
    }

    fn output(&self, context: &LineContext, result: &RouterResult) -> Vec<u8> {
        let id = new_id("batch_req_");
        let (response, error) = match (self.ending, &context.refusal, &result.error) {
            (Some(ending), _, _) => (
                Value::Null,
                json!({"code": ending.code(), "message": ending.message()}),
            ),
            (None, Some(refusal), _) => (
                response(&id, refusal.status.as_u16(), error_body(refusal)),
                Value::Null,
            ),
            (None, None, Some(e)) => {
                let api = ApiError::from_upstream(e);
                (
                    response(&id, api.status.as_u16(), error_body(&api)),
                    Value::Null,
                )
            }
            (None, None, None) => {
                let mut body = result.to_value();
                if let Value::Object(map) = &mut body {
                    map.remove("scillm_router");
                }
                (response(&id, 200, body), Value::Null)
            }
        };
        let line = json!({
            "id": id,
            "custom_id": context.custom_id,
            "response": response,
            "error": error,
            "scillm_router": result.meta,
        });
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

fn response(request_id: &str, status: u16, body: Value) -> Value {
    json!({"status_code": status, "request_id": request_id, "body": body})
}

fn error_body(e: &ApiError) -> Value {
    serde_json::to_value(&*e.body).unwrap_or_default()
}

/// Whether an output line goes to the output file (a 2xx response) rather than the
/// error file.
pub fn is_success(line: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Peek {
        response: Option<PeekResponse>,
    }
    #[derive(serde::Deserialize)]
    struct PeekResponse {
        status_code: u16,
    }
    serde_json::from_slice::<Peek>(line)
        .ok()
        .and_then(|p| p.response)
        .is_some_and(|r| (200..300).contains(&r.status_code))
}
