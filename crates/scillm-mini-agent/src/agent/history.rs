//! Pruning the history sent to the model to a character budget.
//!
//! Messages are grouped into units: an assistant message with tool calls together with
//! the tool replies that follow it (sending one without the other is invalid for strict
//! OpenAI backends), or any other single message. System messages, the first user message
//! (the task) and the last tool-call unit are always kept (SPEC §15); the remaining budget
//! goes to the newest other units, stopping at the first that does not fit so the kept
//! window has no holes.

use scillm_core::wire::{Message, Role};

/// The messages of `history` that fit `budget` characters (their JSON length), in order.
pub fn prune(history: &[Message], budget: usize) -> Vec<Message> {
    let units = units(history);
    let sizes: Vec<usize> = units
        .iter()
        .map(|u| history[u.clone()].iter().map(size).sum())
        .collect();
    let last_tool_unit = units.iter().rposition(|u| {
        history[u.start]
            .tool_calls
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    });
    let is_system =
        |i: usize| matches!(history[units[i].start].role, Role::System | Role::Developer);
    let task_unit = units
        .iter()
        .position(|u| history[u.start].role == Role::User);

    let mut keep = vec![false; units.len()];
    let mut used = 0usize;
    for i in 0..units.len() {
        if is_system(i) || Some(i) == last_tool_unit || Some(i) == task_unit {
            keep[i] = true;
            used += sizes[i];
        }
    }
    for i in (0..units.len()).rev() {
        if keep[i] {
            continue;
        }
        if used + sizes[i] > budget {
            break;
        }
        keep[i] = true;
        used += sizes[i];
    }
    units
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .flat_map(|(u, _)| history[u.clone()].iter().cloned())
        .collect()
}

/// The size of a message as sent.
fn size(m: &Message) -> usize {
    serde_json::to_string(m)
        .map(|s| s.chars().count())
        .unwrap_or(0)
}

/// Index ranges of the units of `history`.
fn units(history: &[Message]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < history.len() {
        let start = i;
        i += 1;
        if history[start].role == Role::Assistant
            && history[start]
                .tool_calls
                .as_ref()
                .is_some_and(|c| !c.is_empty())
        {
            while i < history.len() && history[i].role == Role::Tool {
                i += 1;
            }
        }
        out.push(start..i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::wire::{Content, FunctionCall, ToolCall};

    fn call(id: &str) -> Message {
        let mut m = Message::assistant("");
        m.content = Some(Content::Null);
        m.tool_calls = Some(vec![ToolCall {
            id: id.into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "echo".into(),
                arguments: "{}".into(),
            },
            extra: Default::default(),
        }]);
        m
    }

    #[test]
    fn keeps_everything_within_budget() {
        let h = vec![Message::system("s"), Message::user("u")];
        assert_eq!(prune(&h, 10_000), h);
    }

    #[test]
    fn keeps_system_and_last_tool_pair_when_over_budget() {
        let big = "x".repeat(5000);
        let h = vec![
            Message::system("rules"),
            Message::user(big.clone()),
            call("c1"),
            Message::tool_reply("c1", big.clone()),
            Message::user("observation"),
            call("c2"),
            Message::tool_reply("c2", "small"),
        ];
        let kept = prune(&h, 400);
        assert_eq!(kept[0], Message::system("rules"));
        let ids: Vec<_> = kept.iter().filter_map(|m| m.tool_call_id.clone()).collect();
        assert_eq!(ids, vec!["c2"]);
        assert!(kept
            .iter()
            .any(|m| m.tool_calls.as_ref().is_some_and(|c| c[0].id == "c2")));
        // The task is kept even though it is the biggest message; it used up the budget,
        // so the older observation goes.
        assert!(!kept.contains(&Message::user("observation")));
        assert_eq!(kept[1], Message::user(big.clone()));
        // A tool reply never survives without its call.
        assert!(!kept.iter().any(|m| m.tool_call_id.as_deref() == Some("c1")));
    }

    #[test]
    fn the_window_has_no_holes() {
        let h = vec![
            Message::user("task"),
            Message::user("old small"),
            Message::user("y".repeat(1000)),
            Message::user("new"),
        ];
        let kept = prune(&h, 200);
        assert_eq!(kept, vec![Message::user("task"), Message::user("new")]);
    }
}
