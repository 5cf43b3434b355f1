//! A near-zero-latency OpenAI chat-completions upstream for benchmarks, run as its own
//! process. `--hold-ms N` holds every answer N ms (for the in-flight memory benchmark).
//! Prints `listening http://127.0.0.1:PORT` on standard error once bound.

use std::time::Duration;

use axum::routing::post;
use axum::Router;

/// The answer as OpenAI sends it (a real `created`, as every server sends).
const ANSWER: &str = r#"{"id":"bench-1","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

fn main() -> anyhow::Result<()> {
    let mut hold = Duration::ZERO;
    let mut port = 0u16;
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hold-ms" => hold = Duration::from_millis(args.next().unwrap_or_default().parse()?),
            "--port" => port = args.next().unwrap_or_default().parse()?,
            "--threads" => threads = args.next().unwrap_or_default().parse()?,
            other => {
                anyhow::bail!("unknown argument {other}: use --hold-ms N, --port P, --threads T")
            }
        }
    }
    scillm_bench::raise_nofile();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?
        .block_on(async move {
            let app = Router::new().route(
                "/v1/chat/completions",
                post(move || async move {
                    if !hold.is_zero() {
                        tokio::time::sleep(hold).await;
                    }
                    ([("content-type", "application/json")], ANSWER)
                }),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            eprintln!("listening http://{}", listener.local_addr()?);
            axum::serve(listener, app).await?;
            Ok(())
        })
}
