//! Finding a fenced Python block in an answer, for auto-run.

/// The code of the first fenced block tagged `python`, `python3` or `py` in `text`.
pub fn python_block(text: &str) -> Option<String> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(tag) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let tag = tag.trim().to_ascii_lowercase();
        let is_python = matches!(tag.as_str(), "python" | "python3" | "py");
        let mut code = Vec::new();
        let mut closed = false;
        for body in lines.by_ref() {
            if body.trim_start().starts_with("```") {
                closed = true;
                break;
            }
            code.push(body);
        }
        if is_python && closed && !code.is_empty() {
            return Some(code.join("\n") + "\n");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_python_block() {
        let text = "Here:\n```bash\nls\n```\n```python\nprint(1)\n```\n```py\nprint(2)\n```";
        assert_eq!(python_block(text).as_deref(), Some("print(1)\n"));
        assert_eq!(python_block("no code"), None);
        assert_eq!(python_block("```python\nunclosed"), None);
    }
}
