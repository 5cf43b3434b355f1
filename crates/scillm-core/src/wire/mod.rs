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
