//! Reading a child's output up to a cap.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Output read from one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first `cap` bytes, decoded lossily.
    pub text: String,
    /// Whether the stream had more than `cap` bytes.
    pub truncated: bool,
}

/// Read `reader` until EOF or `deadline`, keeping the first `cap` bytes. The rest is read
/// and dropped, so a chatty program is neither blocked on a full pipe nor killed by
/// `EPIPE`. The deadline matters when a process that escaped the kill still holds the
/// pipe open: reading stops there with what was read.
pub async fn read_capped<R: AsyncRead + Unpin>(
    mut reader: R,
    cap: usize,
    deadline: tokio::time::Instant,
) -> Captured {
    let mut buf = Vec::with_capacity(cap.min(64 * 1024));
    let mut chunk = [0u8; 8192];
    let mut truncated = false;
    loop {
        let read = tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await;
        match read {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                let room = cap.saturating_sub(buf.len());
                if n > room {
                    truncated = true;
                }
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    Captured {
        text: String::from_utf8_lossy(&buf).into_owned(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_and_flags_long_output() {
        let data = [b'a'; 100];
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let got = read_capped(&data[..], 10, far).await;
        assert_eq!(got.text, "a".repeat(10));
        assert!(got.truncated);
        let got = read_capped(&data[..], 100, far).await;
        assert_eq!(got.text.len(), 100);
        assert!(!got.truncated);
    }
}
