//! Chat messages and their content: a string, `null`, or a list of parts.

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The author of a message.
///
/// Unknown roles are rejected when parsing, so a server answers them with a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System instructions.
    System,
    /// Developer instructions (newer OpenAI models).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// A legacy function result.
    Function,
}

impl Role {
    /// The wire name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }
}

/// One chat message. An explicit `null` on `name`, `tool_calls`, `tool_call_id` or
/// `reasoning_content` is kept in `extra` so it round-trips (SPEC §11).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(remote = "Self")]
pub struct Message {
    /// Who wrote the message.
    pub role: Role,
    /// The content; `None` when the field was absent, `Some(Content::Null)` when it was `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub content: Option<Content>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Reasoning text kept apart from the answer (never mixed into `content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Any other field, carried through unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a message is read into: explicit `null`s told apart from absent fields.
#[derive(Deserialize)]
struct MessageIn {
    role: Role,
    #[serde(default, deserialize_with = "present")]
    content: Option<Content>,
    #[serde(default, with = "super::double_option")]
    name: Option<Option<String>>,
    #[serde(default, with = "super::double_option")]
    tool_calls: Option<Option<Vec<ToolCall>>>,
    #[serde(default, with = "super::double_option")]
    tool_call_id: Option<Option<String>>,
    #[serde(default, with = "super::double_option")]
    reasoning_content: Option<Option<String>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = MessageIn::deserialize(d)?;
        let mut extra = m.extra;
        let mut keep = super::nulls::Keeper::new(&mut extra);
        let name = keep.take("name", m.name);
        let tool_calls = keep.take("tool_calls", m.tool_calls);
        let tool_call_id = keep.take("tool_call_id", m.tool_call_id);
        let reasoning_content = keep.take("reasoning_content", m.reasoning_content);
        Ok(Self {
            role: m.role,
            content: m.content,
            name,
            tool_calls,
            tool_call_id,
            reasoning_content,
            extra,
        })
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set = |k: &str| match k {
            "name" => self.name.is_some(),
            "tool_calls" => self.tool_calls.is_some(),
            "tool_call_id" => self.tool_call_id.is_some(),
            "reasoning_content" => self.reasoning_content.is_some(),
            _ => false,
        };
        if !super::nulls::shadowed(&self.extra, set) {
            return Message::serialize(self, s);
        }
        let mut clean = self.clone();
        super::nulls::unshadow(&mut clean.extra, set);
        Message::serialize(&clean, s)
    }
}

impl Message {
    /// A message with plain text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            reasoning_content: None,
            extra: Map::new(),
        }
    }

    /// A `user` message with plain text content.
    pub fn user(text: impl Into<String>) -> Self {
        Self::text(Role::User, text)
    }

    /// A `system` message with plain text content.
    pub fn system(text: impl Into<String>) -> Self {
        Self::text(Role::System, text)
    }

    /// An `assistant` message with plain text content.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text(Role::Assistant, text)
    }

    /// A `tool` message answering the call `tool_call_id`.
    pub fn tool_reply(tool_call_id: impl Into<String>, text: impl Into<String>) -> Self {
        let mut m = Self::text(Role::Tool, text);
        m.tool_call_id = Some(tool_call_id.into());
        m
    }

    /// The text of the content: the string itself, or the text parts joined by newlines.
    /// Non-text parts are skipped; this is for display and prompts, never for re-sending.
    pub fn text_content(&self) -> String {
        self.content
            .as_ref()
            .map(Content::joined_text)
            .unwrap_or_default()
    }
}

/// Deserialize a field that is present (even as `null`) into `Some`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Message content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// A plain string.
    Text(String),
    /// A list of parts (vision and other multi-part messages). Never turned into a string.
    Parts(Vec<ContentPart>),
    /// An explicit `null` (assistant messages that only carry tool calls).
    Null,
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Null => Ok(Content::Null),
            Value::String(s) => Ok(Content::Text(s)),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    ContentPart::deserialize(v)
                        .map_err(|e| D::Error::custom(format!("content part {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Content::Parts),
            other => Err(D::Error::custom(format!(
                "message content must be a string, null or a list of parts, not {}",
                json_type(&other)
            ))),
        }
    }
}

/// The JSON type name of `v`, for error messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Content {
    /// The text of the content, with text parts joined by newlines.
    pub fn joined_text(&self) -> String {
        match self {
            Content::Text(s) => s.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Content::Null => String::new(),
        }
    }

    /// Whether the content is `null`, an empty string or a list with no parts.
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(s) => s.is_empty(),
            Content::Parts(p) => p.is_empty(),
            Content::Null => true,
        }
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type":"text","text":…}`.
    Text {
        /// The text.
        text: String,
        /// Any other field of the part.
        extra: Map<String, Value>,
    },
    /// `{"type":"image_url","image_url":{"url":…,"detail"?}}`.
    ImageUrl {
        /// The image reference.
        image_url: ImageUrl,
        /// Any other field of the part.
        extra: Map<String, Value>,
    },
    /// Any other part type, kept verbatim.
    Other(Value),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text {
            text: text.into(),
            extra: Map::new(),
        }
    }

    /// An image part from a URL (`data:` or `https:`).
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
                extra: Map::new(),
                bare_string: false,
            },
            extra: Map::new(),
        }
    }
}

/// The `image_url` object of an image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// A `data:image/…;base64,…` URL or an `https://` URL.
    pub url: String,
    /// `auto`, `low` or `high`; an explicit `null` is kept in `extra`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The part gave `image_url` as a bare URL string (older clients); it is serialised
    /// back that way while it has no `detail` or other field (SPEC §11 round trip).
    #[serde(skip)]
    pub bare_string: bool,
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = match self {
            ContentPart::Other(v) => return v.serialize(s),
            ContentPart::Text { text, extra } => {
                let mut m = extra.clone();
                m.insert("type".into(), Value::from("text"));
                m.insert("text".into(), Value::from(text.as_str()));
                m
            }
            ContentPart::ImageUrl { image_url, extra } => {
                let mut m = extra.clone();
                m.insert("type".into(), Value::from("image_url"));
                let bare = image_url.bare_string
                    && image_url.detail.is_none()
                    && image_url.extra.is_empty();
                let iu = if bare {
                    Value::from(image_url.url.as_str())
                } else {
                    let mut iu = image_url.clone();
                    if iu.detail.is_some() {
                        iu.extra.remove("detail");
                    }
                    serde_json::to_value(iu).map_err(serde::ser::Error::custom)?
                };
                m.insert("image_url".into(), iu);
                m
            }
        };
        value.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(d)?;
        let Value::Object(mut map) = value else {
            return Err(D::Error::custom(
                "a content part must be an object with a \"type\" field",
            ));
        };
        match map.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = match map.remove("text") {
                    Some(Value::String(t)) => t,
                    _ => {
                        return Err(D::Error::custom(
                            "a text part needs a string \"text\" field",
                        ))
                    }
                };
                map.remove("type");
                Ok(ContentPart::Text { text, extra: map })
            }
            Some("image_url") => {
                let raw = map.remove("image_url").ok_or_else(|| {
                    D::Error::custom(
                        "an image_url part needs an \"image_url\" object with a \"url\"",
                    )
                })?;
                // Older clients send the URL as a bare string: kept as such.
                let image_url = match raw {
                    Value::String(url) => ImageUrl {
                        url,
                        detail: None,
                        extra: Map::new(),
                        bare_string: true,
                    },
                    Value::Object(mut o) => {
                        let detail_null = o.get("detail").is_some_and(Value::is_null);
                        if detail_null {
                            o.remove("detail");
                        }
                        let mut iu: ImageUrl = serde_json::from_value(Value::Object(o)).map_err(
                            |e| D::Error::custom(format!("invalid image_url part: {e}")),
                        )?;
                        if detail_null {
                            iu.extra.insert("detail".into(), Value::Null);
                        }
                        iu
                    }
                    other => {
                        return Err(D::Error::custom(format!(
                            "invalid image_url part: image_url must be an object or a URL string, not {}",
                            json_type(&other)
                        )))
                    }
                };
                map.remove("type");
                Ok(ContentPart::ImageUrl {
                    image_url,
                    extra: map,
                })
            }
            Some(_) => Ok(ContentPart::Other(Value::Object(map))),
            None => Err(D::Error::custom(
                "a content part must be an object with a string \"type\" field",
            )),
        }
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id, echoed back by the tool reply.
    pub id: String,
    /// `function` (the only type today). Empty when the JSON left `type` out: such a call
    /// is serialised without it, so a request round-trips exactly (SPEC §11); upstream
    /// answers get `function` filled in when they lack it.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The function and its raw JSON arguments.
    pub function: FunctionCall,
    /// Any other field (e.g. `index` in streamed calls).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The function of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function name.
    pub name: String,
    /// The arguments as the model wrote them: usually JSON, but never trusted to be.
    #[serde(default)]
    pub arguments: String,
}
