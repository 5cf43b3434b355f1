//! The chat messages flattened into one Codex prompt, and the model id the CLI gets.

use scillm_core::wire::{Message, Role};

use super::error::ApiError;

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

/// System, developer and user content as is, assistant turns as `Assistant: …`, tool
/// results as `Tool result: …`, separated by blank lines. Image parts are not text: they
/// reach the CLI as `--image` files. An empty prompt is a 400.
pub fn flatten(messages: &[Message]) -> Result<String, ApiError> {
    let mut blocks = Vec::new();
    for m in messages {
        let text = m.text_content();
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        blocks.push(match m.role {
            Role::Assistant => format!("Assistant: {text}"),
            Role::Tool | Role::Function => format!("Tool result: {text}"),
            Role::System | Role::Developer | Role::User => text.to_string(),
        });
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
}
