//! Reading the input: lines streamed to the runner with their index, and a line count
//! for progress totals.

use std::path::PathBuf;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

/// Send each line of `input` (newline and a trailing `\r` removed) with its index, until
/// the input ends or the receiver is gone.
pub(crate) async fn read_lines<R>(mut input: R, tx: mpsc::Sender<std::io::Result<(usize, Vec<u8>)>>)
where
    R: AsyncBufRead + Unpin,
{
    let mut index = 0usize;
    loop {
        let mut buf = Vec::new();
        match input.read_until(b'\n', &mut buf).await {
            Ok(0) => return,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                if tx.send(Ok((index, buf))).await.is_err() {
                    return;
                }
                index += 1;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// Lines in the file at `path` (a last line without a newline counts).
pub async fn count_lines(path: PathBuf) -> std::io::Result<u64> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?;
        let mut buf = vec![0u8; 256 * 1024];
        let (mut lines, mut last) = (0u64, b'\n');
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            last = chunk[n - 1];
        }
        Ok(lines + u64::from(last != b'\n'))
    })
    .await
    .map_err(std::io::Error::other)?
}
