//! [`Background`]: a server running in a background task (tests, embedded servers, the
//! Python package), stopped by [`Background::shutdown`] or by being dropped.

use std::future::Future;
use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server serving in a background task until asked to stop. Dropping it asks the server
/// to stop (without waiting).
#[derive(Debug)]
pub struct Background<E> {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), E>>>,
}

impl<E: Send + 'static> Background<E> {
    /// Spawn `run(shutdown)` on the current Tokio runtime for a server bound at `addr`;
    /// `shutdown` resolves when [`Background::shutdown`] is called or the handle is dropped.
    pub fn spawn<F, Fut>(addr: SocketAddr, run: F) -> Self
    where
        F: FnOnce(Box<dyn Future<Output = ()> + Send + Unpin>) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(run(Box::new(shutdown)));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ask the server to stop and wait for it to end: its own result, or the task's
    /// failure (a panic) as an I/O error turned into `E` by `lost`.
    pub async fn shutdown(mut self, lost: impl FnOnce(std::io::Error) -> E) -> Result<(), E> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| lost(std::io::Error::other(e.to_string())))?,
            None => Ok(()),
        }
    }
}

impl<E> Drop for Background<E> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
