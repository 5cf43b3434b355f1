//! The zero-latency Responses API mock of `scillm-testkit` as its own process, for driving
//! the real Codex CLI in `cargo xtask bench codex`. Prints `listening http://127.0.0.1:PORT`
//! on standard error once bound, then serves until killed.

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(async {
            let mock = scillm_testkit::responses_mock::ResponsesMock::start("ok").await?;
            eprintln!("listening {}", mock.base_url());
            std::future::pending::<()>().await;
            drop(mock);
            Ok(())
        })
}
