//! A raw HTTP/1.1 client over `tokio::net::TcpStream`, for requests reqwest will not send
//! (bad framing, duplicate headers, broken chunked bodies). The body is written from its
//! own task while the answer is read, so a server that answers early (413) is seen even
//! if it stops reading; write errors after that are expected and ignored.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a raw request sends.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// Request line and headers, ending with the blank line.
    pub head: Vec<u8>,
    /// The body bytes, written after the head.
    pub body: Vec<u8>,
    /// Shut the write half after the body (the client sends nothing more).
    pub half_close: bool,
}

/// An answer as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Send `req` to `addr` and read one answer; `Err` says why no answer came in `timeout`.
pub async fn send(
    addr: SocketAddr,
    req: &RawRequest,
    timeout: Duration,
) -> Result<RawResponse, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let (head, body, half_close) = (req.head.clone(), req.body.clone(), req.half_close);
    let writer = tokio::spawn(async move {
        // The server may answer and close before the body is through: not an error here.
        if wr.write_all(&head).await.is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if wr.write_all(chunk).await.is_err() {
                    return;
                }
            }
            if half_close {
                let _ = wr.shutdown().await;
            }
        }
        // Keep the write half open (no FIN) until the reader is done.
        std::future::pending::<()>().await;
    });
    let answer = tokio::time::timeout(timeout, read_response(&mut rd)).await;
    writer.abort();
    match answer {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn read_response(rd: &mut (impl AsyncReadExt + Unpin)) -> Result<RawResponse, String> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if read_more(rd, &mut buf).await? == 0 {
            return Err(format!(
                "connection closed before a full answer head ({} bytes: {:?})",
                buf.len(),
                String::from_utf8_lossy(&buf)
            ));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while rest.len() < len {
            if read_more(rd, &mut rest).await? == 0 {
                return Err(format!("body cut short: {} of {len} bytes", rest.len()));
            }
        }
        rest.truncate(len);
        rest
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rd, rest).await?
    } else {
        // Close-delimited: read what comes until EOF (or reset).
        while read_more(rd, &mut rest).await.unwrap_or(0) > 0 {}
        rest
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

async fn dechunk(
    rd: &mut (impl AsyncReadExt + Unpin),
    mut buf: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf, b"\r\n") {
                break i;
            }
            if read_more(rd, &mut buf).await? == 0 {
                return Err("chunked body cut short".into());
            }
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            return Ok(out);
        }
        while buf.len() < size + 2 {
            if read_more(rd, &mut buf).await? == 0 {
                return Err("chunk cut short".into());
            }
        }
        out.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

async fn read_more(
    rd: &mut (impl AsyncReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> Result<usize, String> {
    let mut chunk = [0u8; 16 * 1024];
    let n = rd
        .read(&mut chunk)
        .await
        .map_err(|e| format!("read: {e}"))?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request head: `method path HTTP/1.1`, `Host`, `Connection: close`, then `headers`
/// (raw bytes, written as given), then the blank line.
pub fn head(method: &str, path: &str, addr: SocketAddr, headers: &[Vec<u8>]) -> Vec<u8> {
    let mut h =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    for line in headers {
        h.extend_from_slice(line);
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// `body` as one chunk of a chunked body, with the terminating chunk.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / chunk.max(1) * 8 + 8);
    for part in body.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
