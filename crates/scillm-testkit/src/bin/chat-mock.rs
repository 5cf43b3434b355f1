//! The chat mock as a process, for tests written in another language (the Python package's
//! pytest suite). Prints `listening http://127.0.0.1:PORT` on standard output once bound and
//! serves until killed.
//!
//! Each reply echoes the last message's text as the assistant content; directives in that
//! text change it:
//! - `[delay_ms=N]`: answer after N ms;
//! - `[status=N]`: answer with HTTP status N and an OpenAI error body;
//! - `[require_auth=TOKEN]`: answer 401 unless the request carries `Authorization: Bearer TOKEN`.
//!
//! `GET /mock/stats` gives the request counters. Requests are not recorded (memory stays
//! flat however many are sent).

use std::io::Write;
use std::time::Duration;

use scillm_testkit::chat_mock::{ChatMock, MockReply, RecordedRequest};

/// The value of `[name=value]` in `text`.
fn directive<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("[{name}=");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(']')?;
    Some(&text[start..start + len])
}

fn reply(req: &RecordedRequest) -> MockReply {
    let text = req.last_text();
    if let Some(token) = directive(&text, "require_auth") {
        let expected = format!("Bearer {token}");
        if req.header("authorization") != Some(expected.as_str()) {
            return MockReply::status(401);
        }
    }
    let mut reply = match directive(&text, "status").and_then(|s| s.parse::<u16>().ok()) {
        Some(status) if status >= 400 => MockReply::status(status),
        _ => MockReply::ok(text.clone()),
    };
    if let Some(ms) = directive(&text, "delay_ms").and_then(|s| s.parse::<u64>().ok()) {
        reply = reply.with_delay(Duration::from_millis(ms));
    }
    reply
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mock = ChatMock::builder()
        .record(false)
        .respond_with(reply)
        .start()
        .await?;
    let mut out = std::io::stdout();
    writeln!(out, "listening {}", mock.base_url())?;
    out.flush()?;
    std::future::pending::<()>().await;
    drop(mock);
    Ok(())
}
