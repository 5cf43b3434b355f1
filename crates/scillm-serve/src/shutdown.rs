//! The shutdown signal every server stops on.

use std::future::Future;

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called (inside a Tokio runtime), not when the future is first polled, so no
/// signal slips through.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async fn wait(s: Option<Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    async move {
        tokio::select! {
            _ = wait(term) => {},
            _ = wait(int) => {},
        }
    }
}
