//! One Codex turn as both backends report it, and the answer it adds up to (SPEC §12
//! "Outcome"): the turn's end decides success; an `error` before a completed turn is only
//! a warning; commentary agent messages are never content; the content is the final agent
//! message (`phase: final_answer` where the CLI marks phases, else the last agent message).
//!
//! [`Fold`] turns [`TurnEvent`]s into the pieces a client sees ([`Piece`]); the streamed
//! answer sends the pieces as they come and the complete answer concatenates them, so the
//! two always carry the same content and the same error.

use std::collections::HashMap;

use scillm_core::wire::Usage;

use scillm_serve::ApiError;

/// Where an agent message stands in its turn (`MessagePhase` of the app-server protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Mid-turn narration: never content.
    Commentary,
    /// The declared answer.
    FinalAnswer,
    /// Not marked (older models, `codex exec`): the last such message is the answer.
    Unknown,
}

impl Phase {
    /// From the protocol's `phase` string (`commentary`, `final_answer`, `partial_answer`).
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("commentary") => Self::Commentary,
            Some("final_answer") => Self::FinalAnswer,
            _ => Self::Unknown,
        }
    }
}

/// What a backend reports during one turn.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// An agent message began.
    MessageStarted {
        /// Its item id.
        id: String,
        /// Its phase.
        phase: Phase,
    },
    /// Text added to an agent message.
    MessageDelta {
        /// Its item id.
        id: String,
        /// The text.
        delta: String,
    },
    /// An agent message is complete.
    MessageCompleted {
        /// Its item id.
        id: String,
        /// Its phase.
        phase: Phase,
        /// The whole text.
        text: String,
    },
    /// Reasoning text added to a reasoning item.
    ReasoningDelta {
        /// Its item id.
        id: String,
        /// The text.
        delta: String,
    },
    /// A reasoning item is complete.
    ReasoningCompleted {
        /// Its item id.
        id: String,
        /// Its text.
        text: String,
    },
    /// Token usage so far.
    Usage(Usage),
    /// A non-fatal problem (an `error` event the turn may recover from, an error item).
    Warning(String),
    /// Output that is not an event (exec only): the answer when no event came at all.
    Plain(String),
    /// The turn completed.
    Completed,
    /// The turn failed, with the CLI's message.
    Failed(String),
    /// The run ended without the turn ending (timeout, child gone, output not understood).
    Fatal(ApiError),
}

/// What the client is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Answer text.
    Content(String),
    /// Reasoning text (`reasoning_content`).
    Reasoning(String),
}

/// How a turn ended, once it has.
#[derive(Debug, Clone)]
pub enum End {
    /// Success, with the usage last reported.
    Done(Option<Usage>),
    /// Failure.
    Failed(ApiError),
}

#[derive(Debug, Default)]
struct MessageState {
    phase: Option<Phase>,
    streamed: String,
}

/// Folds a turn's events into pieces and its end.
#[derive(Debug, Default)]
pub struct Fold {
    messages: HashMap<String, MessageState>,
    finals: usize,
    last_unknown: Option<String>,
    reasoning_streamed: HashMap<String, bool>,
    reasoning_any: bool,
    reasoning_last: String,
    usage: Option<Usage>,
    warnings: Vec<String>,
    plain: Vec<String>,
    saw_event: bool,
    end: Option<End>,
}

impl Fold {
    /// Take one event; returns the pieces to send now.
    pub fn push(&mut self, event: TurnEvent) -> Vec<Piece> {
        if self.end.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !matches!(event, TurnEvent::Plain(_)) {
            self.saw_event = true;
        }
        match event {
            TurnEvent::MessageStarted { id, phase } => {
                self.messages.entry(id).or_default().phase = Some(phase);
            }
            TurnEvent::MessageDelta { id, delta } => {
                let m = self.messages.entry(id).or_default();
                if m.phase == Some(Phase::FinalAnswer) {
                    if m.streamed.is_empty() && self.finals > 0 {
                        out.push(Piece::Content("\n\n".into()));
                    }
                    if m.streamed.is_empty() {
                        self.finals += 1;
                    }
                    m.streamed.push_str(&delta);
                    out.push(Piece::Content(delta));
                }
            }
            TurnEvent::MessageCompleted { id, phase, text } => {
                let m = self.messages.entry(id).or_default();
                let phase = m.phase.filter(|p| *p != Phase::Unknown).unwrap_or(phase);
                match phase {
                    Phase::FinalAnswer => {
                        if m.streamed.is_empty() {
                            if self.finals > 0 {
                                out.push(Piece::Content("\n\n".into()));
                            }
                            self.finals += 1;
                            out.push(Piece::Content(text));
                        } else if let Some(rest) = text.strip_prefix(m.streamed.as_str()) {
                            if !rest.is_empty() {
                                out.push(Piece::Content(rest.to_string()));
                            }
                        }
                    }
                    Phase::Unknown => self.last_unknown = Some(text),
                    Phase::Commentary => {}
                }
            }
            TurnEvent::ReasoningDelta { id, delta } => {
                if !delta.is_empty() {
                    self.reasoning_streamed.insert(id.clone(), true);
                    out.extend(self.reasoning(id, delta));
                }
            }
            TurnEvent::ReasoningCompleted { id, text } => {
                if !self.reasoning_streamed.get(&id).copied().unwrap_or(false)
                    && !text.trim().is_empty()
                {
                    out.extend(self.reasoning(id, text));
                }
            }
            TurnEvent::Usage(u) => self.usage = Some(u),
            TurnEvent::Warning(w) => {
                tracing::warn!(message = %w, "Codex warning");
                self.warnings.push(w);
            }
            TurnEvent::Plain(line) => self.plain.push(line),
            TurnEvent::Completed => {
                if self.finals == 0 {
                    let answer = self.last_unknown.take().or_else(|| {
                        let plain = self.plain.join("\n").trim().to_string();
                        (!self.saw_event_besides_end() && !plain.is_empty()).then_some(plain)
                    });
                    match answer {
                        Some(a) => out.push(Piece::Content(a)),
                        None => {
                            self.end = Some(End::Failed(self.no_answer()));
                            return out;
                        }
                    }
                }
                self.end = Some(End::Done(self.usage.clone()));
            }
            TurnEvent::Failed(msg) => {
                self.end = Some(End::Failed(ApiError::upstream(
                    "codex_failed",
                    format!("the Codex turn failed: {msg}"),
                )));
            }
            TurnEvent::Fatal(e) => self.end = Some(End::Failed(e)),
        }
        out
    }

    fn reasoning(&mut self, id: String, text: String) -> Vec<Piece> {
        let mut out = Vec::new();
        if self.reasoning_any && self.reasoning_last != id {
            out.push(Piece::Reasoning("\n\n".into()));
        }
        self.reasoning_any = true;
        self.reasoning_last = id;
        out.push(Piece::Reasoning(text));
        out
    }

    /// Whether events other than the turn's end were seen (plain output then is not the answer).
    fn saw_event_besides_end(&self) -> bool {
        !self.messages.is_empty() || self.reasoning_any || self.usage.is_some()
    }

    fn no_answer(&self) -> ApiError {
        let detail = if self.warnings.is_empty() {
            "the turn completed without an agent message".to_string()
        } else {
            format!(
                "the turn completed without an agent message ({})",
                self.warnings.join("; ")
            )
        };
        ApiError::upstream("codex_no_answer", format!("Codex gave no answer: {detail}"))
    }

    /// How the turn ended, if it has.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// Whether any event (not plain output) was seen.
    pub fn saw_event(&self) -> bool {
        self.saw_event
    }

    /// The warnings so far, joined (for a failure message).
    pub fn warnings(&self) -> Option<String> {
        (!self.warnings.is_empty()).then(|| self.warnings.join("; "))
    }

    /// Take the end, deciding for a run that stopped without one: plain output only (an
    /// exec CLI that prints text) is the answer; anything else is a failure naming `why`.
    pub fn finish(&mut self, why: impl FnOnce(Option<String>) -> ApiError) -> (Vec<Piece>, End) {
        let mut out = Vec::new();
        if self.end.is_none() {
            if !self.saw_event && !self.plain.join("").trim().is_empty() {
                out = self.push(TurnEvent::Completed);
            } else {
                let e = why(self.warnings());
                self.end = Some(End::Failed(e));
            }
        }
        let end = self
            .end
            .take()
            .unwrap_or_else(|| End::Failed(ApiError::internal("no_end", "the turn has no end")));
        (out, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: Vec<TurnEvent>) -> (String, String, End) {
        let mut f = Fold::default();
        let mut content = String::new();
        let mut reasoning = String::new();
        let mut take = |pieces: Vec<Piece>| {
            for p in pieces {
                match p {
                    Piece::Content(t) => content.push_str(&t),
                    Piece::Reasoning(t) => reasoning.push_str(&t),
                }
            }
        };
        for e in events {
            take(f.push(e));
        }
        let (rest, end) = f.finish(|_| ApiError::upstream("x", "ended"));
        take(rest);
        (content, reasoning, end)
    }

    fn msg(id: &str, phase: Phase, text: &str) -> Vec<TurnEvent> {
        vec![
            TurnEvent::MessageStarted {
                id: id.into(),
                phase,
            },
            TurnEvent::MessageDelta {
                id: id.into(),
                delta: text.into(),
            },
            TurnEvent::MessageCompleted {
                id: id.into(),
                phase,
                text: text.into(),
            },
        ]
    }

    #[test]
    fn commentary_is_never_content() {
        let mut ev = msg("a", Phase::Commentary, "Let me look.");
        ev.extend(msg("b", Phase::FinalAnswer, "42"));
        ev.push(TurnEvent::Completed);
        let (c, _, end) = run(ev);
        assert_eq!(c, "42");
        assert!(matches!(end, End::Done(_)));
    }

    #[test]
    fn unmarked_messages_answer_with_the_last() {
        let mut ev = msg("a", Phase::Unknown, "draft");
        ev.extend(msg("b", Phase::Unknown, "final"));
        ev.push(TurnEvent::Completed);
        assert_eq!(run(ev).0, "final");
    }

    #[test]
    fn an_error_then_completion_is_a_warning() {
        let mut ev = vec![TurnEvent::Warning("Reconnecting... 1/5".into())];
        ev.extend(msg("a", Phase::Unknown, "ok"));
        ev.push(TurnEvent::Completed);
        let (c, _, end) = run(ev);
        assert_eq!(c, "ok");
        assert!(matches!(end, End::Done(_)));
    }

    #[test]
    fn no_end_is_a_failure_and_plain_text_is_an_answer() {
        let (_, _, end) = run(msg("a", Phase::Unknown, "half"));
        assert!(matches!(end, End::Failed(e) if e.message() == "ended"));
        let (c, _, end) = run(vec![TurnEvent::Plain("  hi  ".into())]);
        assert_eq!(c, "hi");
        assert!(matches!(end, End::Done(_)));
        let (_, _, end) = run(vec![TurnEvent::Failed("boom".into())]);
        assert!(matches!(end, End::Failed(e) if e.message().contains("boom")));
    }

    #[test]
    fn reasoning_deltas_or_whole_items() {
        let ev = vec![
            TurnEvent::ReasoningDelta {
                id: "r".into(),
                delta: "thin".into(),
            },
            TurnEvent::ReasoningDelta {
                id: "r".into(),
                delta: "king".into(),
            },
            TurnEvent::ReasoningCompleted {
                id: "r".into(),
                text: "thinking".into(),
            },
            TurnEvent::ReasoningCompleted {
                id: "s".into(),
                text: "more".into(),
            },
            TurnEvent::MessageCompleted {
                id: "m".into(),
                phase: Phase::FinalAnswer,
                text: "x".into(),
            },
            TurnEvent::Completed,
        ];
        let (c, r, _) = run(ev);
        assert_eq!((c.as_str(), r.as_str()), ("x", "thinking\n\nmore"));
    }
}
