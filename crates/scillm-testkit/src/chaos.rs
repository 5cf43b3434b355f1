//! A chaos upstream: an OpenAI chat-completions server on raw TCP that answers each request
//! with a configurable mix of faults — 500s, 429s with `Retry-After`, connection resets,
//! answers slower than the client's timeout, truncated bodies and non-JSON bodies.
//!
//! Raw TCP because a reset or a body cut short cannot be produced through a normal HTTP
//! server. The fault for a request is drawn from a seeded sequence, so a run is repeatable
//! in what it sends, whatever order the requests arrive in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One way of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// 200 with a valid completion.
    Ok,
    /// 500 with an OpenAI error body.
    ServerError,
    /// 429 with `Retry-After: {retry_after_s}`.
    RateLimited,
    /// The connection is reset (RST) without an answer.
    Reset,
    /// The answer comes after `slow` (longer than the client's timeout).
    Slow,
    /// A 200 whose body stops half-way through its `Content-Length`.
    Truncated,
    /// A 200 whose body is not JSON.
    NotJson,
}

/// The mix: weights per fault (they need not add up to anything in particular).
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// `(fault, weight)`.
    pub weights: Vec<(Fault, u32)>,
    /// `Retry-After` seconds sent with 429s.
    pub retry_after_s: u64,
    /// How long a `Slow` answer takes.
    pub slow: Duration,
    /// Seed of the fault sequence.
    pub seed: u64,
    /// A delay before every answer (to keep requests in flight).
    pub delay: Duration,
}

impl ChaosConfig {
    /// Only valid answers, each after `delay`: a plain, slow-enough upstream.
    pub fn healthy(delay: Duration) -> Self {
        Self {
            weights: vec![(Fault::Ok, 1)],
            delay,
            ..Self::default()
        }
    }
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            weights: vec![
                (Fault::Ok, 60),
                (Fault::ServerError, 10),
                (Fault::RateLimited, 5),
                (Fault::Reset, 8),
                (Fault::Slow, 5),
                (Fault::Truncated, 6),
                (Fault::NotJson, 6),
            ],
            retry_after_s: 1,
            slow: Duration::from_secs(3),
            seed: 7,
            delay: Duration::ZERO,
        }
    }
}

/// Counters of what the server did.
#[derive(Debug, Default)]
pub struct ChaosStats {
    /// Requests read.
    pub requests: AtomicU64,
    /// Answers per fault, in [`Fault`] order.
    pub by_fault: [AtomicU64; 7],
}

impl ChaosStats {
    /// How many times `fault` was served.
    pub fn served(&self, fault: Fault) -> u64 {
        self.by_fault[fault as usize].load(Ordering::Relaxed)
    }
}

/// A running chaos upstream.
#[derive(Debug)]
pub struct ChaosServer {
    addr: std::net::SocketAddr,
    /// What it did.
    pub stats: Arc<ChaosStats>,
    task: tokio::task::JoinHandle<()>,
}

impl ChaosServer {
    /// Bind 127.0.0.1:0 and serve until dropped.
    pub async fn start(config: ChaosConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(ChaosStats::default());
        let config = Arc::new(config);
        let st = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve_conn(sock, config.clone(), st.clone()));
            }
        });
        Ok(Self { addr, stats, task })
    }

    /// The base URL (no `/v1`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ChaosServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A small deterministic generator (splitmix64).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pick(config: &ChaosConfig, n: u64) -> Fault {
    let total: u64 = config.weights.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return Fault::Ok;
    }
    let mut r = mix(config.seed ^ mix(n)) % total;
    for (f, w) in &config.weights {
        let w = u64::from(*w);
        if r < w {
            return *f;
        }
        r -= w;
    }
    Fault::Ok
}

async fn serve_conn(mut sock: TcpStream, config: Arc<ChaosConfig>, stats: Arc<ChaosStats>) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let Some(body) = read_request(&mut sock, &mut buf).await else {
            return;
        };
        let n = stats.requests.fetch_add(1, Ordering::Relaxed);
        let fault = pick(&config, n);
        stats.by_fault[fault as usize].fetch_add(1, Ordering::Relaxed);
        if !config.delay.is_zero() {
            tokio::time::sleep(config.delay).await;
        }
        let model = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_default();
        let keep = match fault {
            Fault::Ok => respond(&mut sock, 200, &[], &completion(n, &model)).await,
            Fault::ServerError => {
                respond(&mut sock, 500, &[], r#"{"error":{"message":"chaos: internal error","type":"server_error","code":null}}"#).await
            }
            Fault::RateLimited => {
                let ra = config.retry_after_s.to_string();
                respond(&mut sock, 429, &[("Retry-After", &ra)], r#"{"error":{"message":"chaos: slow down","type":"rate_limit_error","code":null}}"#).await
            }
            Fault::Reset => {
                let _ = sock.set_zero_linger();
                return;
            }
            Fault::Slow => {
                tokio::time::sleep(config.slow).await;
                respond(&mut sock, 200, &[], &completion(n, &model)).await
            }
            Fault::Truncated => {
                let body = completion(n, &model);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body.as_bytes()[..body.len() / 2]).await;
                let _ = sock.flush().await;
                return;
            }
            Fault::NotJson => respond(&mut sock, 200, &[], "<html>chaos: not json</html>").await,
        };
        if !keep {
            return;
        }
    }
}

fn completion(n: u64, model: &str) -> String {
    serde_json::json!({
        "id": format!("chaos-{n}"),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("ok {n}")}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
    .to_string()
}

async fn respond(sock: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &str) -> bool {
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).await.is_ok()
        && sock.write_all(body.as_bytes()).await.is_ok()
        && sock.flush().await.is_ok()
}

/// Read one request (headers, then a `Content-Length` body); `None` at end of stream.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[header_end..header_end + len].to_vec();
    buf.drain(..header_end + len);
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_follows_the_weights() {
        let c = ChaosConfig::default();
        let mut counts = std::collections::HashMap::new();
        for n in 0..10_000 {
            *counts.entry(pick(&c, n)).or_insert(0u32) += 1;
        }
        let ok = counts[&Fault::Ok];
        assert!((5_500..6_500).contains(&ok), "{counts:?}");
        assert!(counts.len() == 7, "every fault appears: {counts:?}");
    }
}
