//! OpenAI Chat Completions wire types that round-trip the JSON they were parsed from.

mod aggregate;
mod error_body;
mod message;
mod request;
mod response;
mod validate;

pub use aggregate::Aggregator;
pub use error_body::{ErrorBody, ErrorDetail};
pub use message::{Content, ContentPart, FunctionCall, ImageUrl, Message, Role, ToolCall};
pub use request::ChatRequest;
pub use response::{unix_now, ChatChunk, ChatResponse, Choice, ChunkChoice, Delta, Usage};
pub use validate::InvalidRequest;

/// Explicit `null`s of typed optional fields (SPEC §11: exact round trip). A typed
/// `Option` field reads `null` as `None`, which would serialise as an absent field; so
/// the `null` is kept in the struct's `extra` map under the field's name instead, and
/// dropped there again if the typed field is later set.
pub(crate) mod nulls {
    use serde_json::{Map, Value};

    /// Moves explicit `null`s (`Some(None)`) of typed fields into `extra`.
    pub struct Keeper<'a>(&'a mut Map<String, Value>);

    impl<'a> Keeper<'a> {
        /// A keeper writing into `extra`.
        pub fn new(extra: &'a mut Map<String, Value>) -> Self {
            Self(extra)
        }

        /// The typed value of field `key`; an explicit `null` is kept in `extra`.
        pub fn take<T>(&mut self, key: &str, v: Option<Option<T>>) -> Option<T> {
            match v {
                Some(Some(x)) => Some(x),
                Some(None) => {
                    self.0.insert(key.to_string(), Value::Null);
                    None
                }
                None => None,
            }
        }
    }

    /// Whether `extra` holds a kept `null` for a key whose typed field is now set.
    pub fn shadowed(extra: &Map<String, Value>, is_set: impl Fn(&str) -> bool) -> bool {
        extra.iter().any(|(k, v)| v.is_null() && is_set(k))
    }

    /// Drop the kept `null`s whose typed field is now set.
    pub fn unshadow(extra: &mut Map<String, Value>, is_set: impl Fn(&str) -> bool) {
        extra.retain(|k, v| !(v.is_null() && is_set(k)));
    }
}

/// Serde helper telling an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
