//! The serving loop.
//!
//! `axum::serve` sets no timer on hyper's connection builder, so hyper's header-read
//! timeout never fires there: a client that opens a connection and sends half a request
//! head holds it for ever, and enough of them exhaust the server's file descriptors. This
//! loop serves HTTP/1.1 and HTTP/2 with that timeout armed, and shuts down gracefully:
//! on the shutdown signal it stops accepting, lets requests in flight finish, and closes
//! idle keep-alive connections.

use std::future::Future;
use std::io;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The most time a client has to send a complete request head (HTTP/1.1), counted
    /// from when the server starts waiting for it; the connection is closed after that.
    pub header_read_timeout: Duration,
    /// How long to wait before accepting again after `accept` failed for a reason other
    /// than the connection itself (e.g. out of file descriptors).
    pub accept_backoff: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            accept_backoff: Duration::from_millis(100),
        }
    }
}

impl ServeOptions {
    /// These options with `timeout` as the header-read timeout.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }
}

/// Serve `app` on `listener` until `shutdown` completes, then finish gracefully: no new
/// connections, requests in flight run to their end, idle connections are closed. Returns
/// once every connection is closed.
pub async fn serve<F>(
    listener: TcpListener,
    app: axum::Router,
    options: ServeOptions,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(options.accept_backoff).await;
                    continue;
                }
            },
        };
        // Answers are small and written whole: send them at once.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// An error of one incoming connection (not of the listener): skip it and go on.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
