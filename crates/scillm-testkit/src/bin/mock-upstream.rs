//! A zero-latency OpenAI chat-completions upstream for benchmarks, as its own process.
//!
//! `mock-upstream [PORT]` binds `127.0.0.1:PORT` (ephemeral when omitted or 0), prints its
//! base URL (`http://127.0.0.1:NNNN`) as the first line of stdout, and serves until its
//! stdin closes or it gets Ctrl-C, so a parent that dies takes it along.
#![allow(clippy::print_stdout)]

use std::io::Write;

use scillm_testkit::chat_mock::ChatMock;
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(p) => p.parse::<u16>().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("PORT: {e}"))
        })?,
        None => 0,
    };
    let mock = ChatMock::builder()
        .record(false)
        .content("ok")
        .port(port)
        .start()
        .await?;
    println!("{}", mock.base_url());
    std::io::stdout().flush()?;
    let stdin_closed = async {
        let mut buf = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        () = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(mock);
    Ok(())
}
