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
    use serde::de::{Deserializer, Error as _};
    use serde::Deserialize;
    use serde_json::{Map, Value};

    /// Read `D` as a JSON object, move the `null`s of `keys` aside, parse the rest with
    /// `parse`, and put the `null`s into the result's `extra` (via `extra_of`).
    pub fn deserialize<'de, D, T>(
        d: D,
        keys: &[&str],
        parse: impl FnOnce(Value) -> Result<T, serde_json::Error>,
        extra_of: impl FnOnce(&mut T) -> &mut Map<String, Value>,
    ) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
    {
        let value = Value::deserialize(d)?;
        let Value::Object(mut map) = value else {
            return parse(value).map_err(D::Error::custom);
        };
        let taken: Vec<String> = keys
            .iter()
            .filter(|k| map.get(**k).is_some_and(Value::is_null))
            .map(|k| (*k).to_string())
            .collect();
        for k in &taken {
            map.remove(k);
        }
        let mut out = parse(Value::Object(map)).map_err(D::Error::custom)?;
        let extra = extra_of(&mut out);
        for k in taken {
            extra.insert(k, Value::Null);
        }
        Ok(out)
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
