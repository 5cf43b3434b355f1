//! Ids the servers mint for their answers.

/// A fresh chat completion id, `chatcmpl-<32 hex digits>` (a UUID v4 without dashes), the
/// shape OpenAI's own ids have.
pub fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    #[test]
    fn completion_ids_are_unique_and_openai_shaped() {
        let a = super::completion_id();
        let b = super::completion_id();
        assert_ne!(a, b);
        assert!(a.starts_with("chatcmpl-") && a.len() == 9 + 32, "{a}");
    }
}
