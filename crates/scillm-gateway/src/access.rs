//! Who may ask for what: the model names served ([`Catalog`]) and the checks every chat
//! request runs before the Router — online or as a batch line (SPEC §17).

use std::collections::HashSet;

use scillm_serve::ApiError;
use serde_json::Value;

use crate::keys::ClientKey;

/// Request keys a client may not send through the gateway: they would point the
/// gateway's calls at another server or key.
const CLIENT_FORBIDDEN: &[&str] = &["api_base", "api_key", "custom_llm_provider", "base_url"];

/// The model names the gateway serves (those of `model_list`).
#[derive(Debug)]
pub struct Catalog {
    models: Vec<String>,
    served: HashSet<String>,
}

impl Catalog {
    /// The catalog of `models` (sorted as given).
    pub fn new(models: Vec<String>) -> Self {
        let served = models.iter().cloned().collect();
        Self { models, served }
    }

    /// Whether `model` is served.
    pub fn serves(&self, model: &str) -> bool {
        self.served.contains(model)
    }

    /// The model names `key` may use (all without keys).
    pub fn visible(&self, key: Option<&ClientKey>) -> Vec<String> {
        match key {
            Some(k) => k.visible(&self.models).into_iter().cloned().collect(),
            None => self.models.clone(),
        }
    }

    /// Check a chat request body for `key`: a JSON object (400), no client-set
    /// deployment keys (400), a `model` string (400) that is served (404 listing the
    /// names) and that the key may use (403 listing its models). Returns the model.
    pub fn check(&self, key: Option<&ClientKey>, body: &Value) -> Result<String, ApiError> {
        let Value::Object(map) = body else {
            return Err(ApiError::bad_request(
                "invalid_request",
                "the request body must be a JSON object",
            ));
        };
        let kwargs = map.get("kwargs").and_then(Value::as_object);
        for k in CLIENT_FORBIDDEN {
            if map.contains_key(*k) || kwargs.is_some_and(|kw| kw.contains_key(*k)) {
                return Err(ApiError::bad_request(
                    "unsupported_parameter",
                    format!("`{k}` is not accepted by the gateway: deployments are configured in its model_list"),
                ));
            }
        }
        let model = match map.get("model") {
            Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
            Some(Value::String(_)) | None => {
                return Err(ApiError::bad_request(
                    "missing_model",
                    "`model` is required: one of the names GET /v1/models lists",
                ))
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_model",
                    "`model` must be a string: one of the names GET /v1/models lists",
                ))
            }
        };
        if !self.serves(&model) {
            return Err(ApiError::not_found(
                "model_not_found",
                format!(
                    "model `{model}` is not served here; models: {}",
                    self.visible(key).join(", ")
                ),
            ));
        }
        if let Some(k) = key {
            if !k.allows(&model) {
                return Err(ApiError::forbidden(
                    "model_not_allowed",
                    format!(
                        "key `{}` may not use model `{model}`; its models: {}",
                        k.name,
                        self.visible(Some(k)).join(", ")
                    ),
                ));
            }
        }
        Ok(model)
    }
}
