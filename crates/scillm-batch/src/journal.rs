//! The journal: an append-only file of finished result lines next to the output
//! (`OUT.journal`), written before a result counts as done, so that a crash or a kill
//! loses no finished result (SPEC §14). Each line is the exact output line of one result,
//! which carries `scillm_router.index`; a later line for an index replaces an earlier one.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::line::WrittenLine;
use crate::options::Resume;

/// The journal of the output at `output`: the same path with `.journal` appended.
pub fn journal_path(output: &Path) -> PathBuf {
    let mut s = OsString::from(output.as_os_str());
    s.push(".journal");
    PathBuf::from(s)
}

/// A finished result found in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Byte offset of the line.
    pub offset: u64,
    /// Length of the line with its newline.
    pub len: u32,
    /// What the line says about itself.
    pub line: WrittenLine,
}

/// The result lines of `path` by index (the last line of each index wins). The file is
/// cut back after its last complete result line, so that a line half-written when the
/// process died is dropped and appending continues cleanly. A missing file has none.
pub fn scan(path: &Path, mode: Resume) -> std::io::Result<HashMap<usize, Found>> {
    let mut found = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut offset = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        let Some(line) = WrittenLine::parse(&buf, mode) else {
            break;
        };
        let len = u32::try_from(n).unwrap_or(u32::MAX);
        found.insert(line.index, Found { offset, len, line });
        offset += n as u64;
    }
    OpenOptions::new().write(true).open(path)?.set_len(offset)?;
    Ok(found)
}

/// An open journal: appends go through a buffer that [`Journal::flush`] writes out.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: BufWriter<File>,
    len: u64,
}

impl Journal {
    /// Open `path` for appending (created when missing; `fresh` empties it first).
    pub fn open(path: &Path, fresh: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        if fresh {
            file.set_len(0)?;
        }
        let len = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(256 * 1024, file),
            len,
        })
    }

    /// Append one line; returns where it lands (offset, length).
    pub fn append(&mut self, line: &[u8]) -> std::io::Result<(u64, u32)> {
        self.file.write_all(line)?;
        let at = self.len;
        self.len += line.len() as u64;
        Ok((at, u32::try_from(line.len()).unwrap_or(u32::MAX)))
    }

    /// Write what was appended to the file (the kernel's; it survives a kill of this
    /// process).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// The line at `offset` (flushed before).
    pub fn read(&self, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.file.get_ref().read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::line::result_line;
    use scillm_core::{ErrorKind, ProviderError};
    use scillm_router::RouterResult;

    #[test]
    fn scan_keeps_complete_lines_cuts_a_torn_tail_and_lets_the_last_line_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl.journal");
        let cancelled =
            |i| RouterResult::failed(i, None, ProviderError::new(ErrorKind::Cancelled, "x"));
        let mut j = Journal::open(&path, true).unwrap();
        let a = result_line(&cancelled(0));
        let b = result_line(&RouterResult::failed(
            1,
            None,
            ProviderError::from_status(400, "b"),
        ));
        j.append(&a).unwrap();
        j.append(&b).unwrap();
        let mut ok = cancelled(0);
        ok.meta = scillm_router::RouterMeta::new(0);
        let c = result_line(&ok);
        let (off, len) = j.append(&c).unwrap();
        j.flush().unwrap();
        assert_eq!(j.read(off, len).unwrap(), c);
        drop(j);
        let full = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"choices\":[],\"scillm_ro")
            .unwrap();
        let found = scan(&path, Resume::Missing).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
        assert_eq!(found.len(), 2);
        assert!(
            found[&0].line.keep,
            "the later ok line replaces the cancelled one"
        );
        assert_eq!(found[&0].offset, off);
        assert!(found[&1].line.keep);
        assert!(!scan(&path, Resume::Errors).unwrap()[&1].line.keep);
        assert_eq!(
            journal_path(Path::new("/x/out.jsonl")),
            Path::new("/x/out.jsonl.journal")
        );
    }
}
