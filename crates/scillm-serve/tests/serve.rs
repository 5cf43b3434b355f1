//! The serving loop on a real loopback socket: requests are served, a half-sent request
//! head is cut off at the header-read timeout, and shutdown lets a request in flight finish.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use scillm_serve::{serve, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn app() -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow done"
            }),
        )
}

async fn start(
    options: ServeOptions,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app(), options, async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

async fn fetch(addr: SocketAddr, path: &str) -> String {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_are_served_over_http1() {
    let (addr, stop, task) = start(ServeOptions::default()).await;
    assert_eq!(fetch(addr, "/healthz").await, "ok");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_at_the_timeout() {
    let options = ServeOptions::default().header_read_timeout(Duration::from_millis(200));
    let (addr, _stop, _task) = start(options).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The head is never finished: the server must close the connection by itself. The
    // bound only tells "closed" from "held open for ever"; it is not a speed check.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut buf)).await;
    let read = read.expect("the server held a half-sent request open past its timeout");
    // Closed, possibly with a 408 answer first; either way no request was served.
    match read {
        Ok(_) => assert!(
            buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf)
        ),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
    // The server is still there for everyone else.
    assert_eq!(fetch(addr, "/healthz").await, "ok");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_refuses_new_ones() {
    let (addr, stop, task) = start(ServeOptions::default()).await;
    let in_flight = tokio::spawn(async move { fetch(addr, "/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    assert_eq!(in_flight.await.unwrap(), "slow done");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns once the request is done")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}
