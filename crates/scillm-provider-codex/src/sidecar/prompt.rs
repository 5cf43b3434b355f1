//! The chat messages flattened into one Codex prompt, and the model id the CLI gets.

use scillm_core::wire::{Message, Role};

use scillm_serve::ApiError;

/// Provider prefixes stripped from the request model before it reaches `--model`.
pub const MODEL_PREFIXES: &[&str] = &["codex-agent/", "codex/"];

/// The model the CLI is asked for: the request model without a provider prefix.
pub fn cli_model(model: &str) -> &str {
    let m = model.trim();
    MODEL_PREFIXES
        .iter()
        .find_map(|p| m.strip_prefix(p))
        .unwrap_or(m)
}

/// System, developer and user content as is; an assistant turn as `Assistant: …` and each
/// of its tool calls as `Assistant called NAME(ARGS)`; a tool message as `Tool result for
/// NAME (ID): …` (NAME from the message, else from the assistant call with that id);
/// blocks separated by blank lines (SPEC §12 "Prompt"). Image parts are not text: they
/// reach Codex as image files. An empty prompt is a 400.
pub fn flatten(messages: &[Message]) -> Result<String, ApiError> {
    let mut blocks = Vec::new();
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    for m in messages {
        let text = m.text_content();
        let text = text.trim();
        match m.role {
            Role::Assistant => {
                if !text.is_empty() {
                    blocks.push(format!("Assistant: {text}"));
                }
                for call in m.tool_calls.iter().flatten() {
                    call_names.push((call.id.as_str(), call.function.name.as_str()));
                    blocks.push(format!(
                        "Assistant called {}({})",
                        call.function.name, call.function.arguments
                    ));
                }
            }
            Role::Tool | Role::Function => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = m
                    .name
                    .as_deref()
                    .or_else(|| {
                        call_names
                            .iter()
                            .rev()
                            .find(|(call_id, _)| *call_id == id)
                            .map(|(_, name)| *name)
                    })
                    .unwrap_or("tool");
                blocks.push(format!("Tool result for {name} ({id}): {text}"));
            }
            Role::System | Role::Developer | Role::User => {
                if !text.is_empty() {
                    blocks.push(text.to_string());
                }
            }
        }
    }
    if blocks.is_empty() {
        return Err(ApiError::bad_request(
            "empty_prompt",
            "the messages carry no text: send at least one message with text content",
        ));
    }
    Ok(blocks.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::wire::{Content, ContentPart};

    #[test]
    fn flattens_roles_and_parts() {
        let mut vision = Message::user("");
        vision.content = Some(Content::Parts(vec![
            ContentPart::text("what is this?"),
            ContentPart::image_url("data:image/png;base64,AAAA"),
        ]));
        let p = flatten(&[
            Message::system("be brief"),
            Message::user("hi"),
            Message::assistant("hello"),
            vision,
        ])
        .unwrap();
        assert_eq!(p, "be brief\n\nhi\n\nAssistant: hello\n\nwhat is this?");
        assert_eq!(flatten(&[Message::user("  ")]).unwrap_err().status, 400);
        assert_eq!(cli_model("codex-agent/gpt-5"), "gpt-5");
        assert_eq!(cli_model("codex/o3"), "o3");
        assert_eq!(cli_model("gpt-5"), "gpt-5");
    }

    #[test]
    fn keeps_tool_calls_and_results() {
        let assistant: Message = serde_json::from_value(serde_json::json!({
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
        }))
        .unwrap();
        let tool: Message = serde_json::from_value(serde_json::json!({
            "role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"
        }))
        .unwrap();
        let p = flatten(&[Message::user("weather?"), assistant, tool]).unwrap();
        assert_eq!(
            p,
            "weather?\n\nAssistant called get_weather({\"city\":\"Paris\"})\n\nTool result for get_weather (call_1): 18C, sunny"
        );
    }
}
