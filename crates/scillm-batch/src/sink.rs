//! Where finished results go: the output in input or completion order, through the
//! journal, with a bounded reorder window (SPEC §14).
//!
//! Input order with a file: every result is appended to the journal first; a result
//! whose turn has not come stays in memory while fewer than `window` results are held,
//! else only its journal offset is kept and it is read back when its turn comes. The
//! journal is removed once every line is in the output. Completion order: the output is
//! itself the journal.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use scillm_router::ErrorType;

use crate::error::BatchError;
use crate::journal::{journal_path, scan, Found, Journal};
use crate::options::{Order, Output, Resume};

/// A result waiting for its turn.
enum Held {
    Memory(Vec<u8>),
    Journal { offset: u64, len: u32 },
}

/// Results kept from an earlier run: `error_type` by index.
pub type Kept = HashMap<usize, ErrorType>;

/// The output side of a batch.
pub struct Sink {
    order: Order,
    out: BufWriter<Box<dyn Write + Send>>,
    out_path: Option<PathBuf>,
    journal: Option<Journal>,
    held: BTreeMap<usize, Held>,
    next: usize,
    in_memory: usize,
    window: usize,
    /// Most results held in memory at once.
    pub peak: usize,
    /// Results held by journal offset only.
    pub spilled: u64,
}

impl Sink {
    /// Open `output` for a run in `order`: start afresh or pick up an earlier run's
    /// results under `resume`. Returns the sink and the kept results.
    pub fn open(
        output: Output,
        order: Order,
        resume: Resume,
        window: usize,
    ) -> Result<(Self, Kept), BatchError> {
        let (out, out_path, journal, found) = match output {
            Output::Writer(w) => {
                if resume != Resume::Off {
                    return Err(BatchError::ResumeNeedsFile);
                }
                (w, None, None, HashMap::new())
            }
            Output::File(path) => {
                let (file, journal, found) = open_file(&path, order, resume)?;
                (
                    Box::new(file) as Box<dyn Write + Send>,
                    Some(path),
                    journal,
                    found,
                )
            }
        };
        let mut sink = Self {
            order,
            out: BufWriter::with_capacity(256 * 1024, out),
            out_path,
            journal,
            held: BTreeMap::new(),
            next: 0,
            in_memory: 0,
            window: window.max(1),
            peak: 0,
            spilled: 0,
        };
        let mut kept = Kept::new();
        for (index, f) in found.into_iter().filter(|(_, f)| f.line.keep) {
            kept.insert(index, f.line.error_type);
            if order == Order::Input {
                let held = Held::Journal {
                    offset: f.offset,
                    len: f.len,
                };
                sink.held.insert(index, held);
            }
        }
        Ok((sink, kept))
    }

    /// Whether the reorder window is full and cannot spill (no journal): the runner
    /// starts no new line until it drains.
    pub fn full(&self) -> bool {
        self.journal.is_none() && self.order == Order::Input && self.in_memory >= self.window
    }

    /// Take a finished result line of input line `index`.
    pub fn accept(&mut self, index: usize, line: Vec<u8>) -> Result<(), BatchError> {
        if self.order == Order::Completed {
            return self.out.write_all(&line).map_err(|e| self.out_error(e));
        }
        let held = match self.journal.as_mut() {
            Some(j) => {
                let (offset, len) = j.append(&line).map_err(|e| journal_error(j.path(), e))?;
                if self.in_memory >= self.window {
                    self.spilled += 1;
                    Held::Journal { offset, len }
                } else {
                    Held::Memory(line)
                }
            }
            None => Held::Memory(line),
        };
        if matches!(held, Held::Memory(_)) {
            self.in_memory += 1;
            self.peak = self.peak.max(self.in_memory);
        }
        self.held.insert(index, held);
        Ok(())
    }

    /// Make what was accepted durable (journal first), then write every result whose
    /// turn has come and flush the output.
    pub fn flush(&mut self) -> Result<(), BatchError> {
        if let Some(j) = self.journal.as_mut() {
            j.flush().map_err(|e| journal_error(j.path(), e))?;
        }
        while let Some(held) = self.held.remove(&self.next) {
            let line = match held {
                Held::Memory(line) => {
                    self.in_memory -= 1;
                    line
                }
                Held::Journal { offset, len } => match self.journal.as_ref() {
                    Some(j) => j
                        .read(offset, len)
                        .map_err(|e| journal_error(j.path(), e))?,
                    None => Vec::new(),
                },
            };
            self.out.write_all(&line).map_err(|e| self.out_error(e))?;
            self.next += 1;
        }
        self.out.flush().map_err(|e| self.out_error(e))
    }

    /// End the run: flush, and when all `lines` input lines are in the output, remove the
    /// journal.
    pub fn finish(mut self, lines: usize) -> Result<(), BatchError> {
        self.flush()?;
        if self.order == Order::Input && self.next >= lines {
            if let Some(j) = self.journal.take() {
                let path = j.path().to_path_buf();
                drop(j);
                std::fs::remove_file(&path).map_err(|e| journal_error(&path, e))?;
            }
        }
        Ok(())
    }

    fn out_error(&self, e: std::io::Error) -> BatchError {
        BatchError::Output {
            path: self
                .out_path
                .clone()
                .unwrap_or_else(|| "standard output".into()),
            source: e,
        }
    }
}

fn journal_error(path: &Path, e: std::io::Error) -> BatchError {
    BatchError::Output {
        path: path.to_path_buf(),
        source: e,
    }
}

type Opened = (File, Option<Journal>, HashMap<usize, Found>);

/// Open the output file (and the journal in input order), reading an earlier run's
/// results when resuming.
fn open_file(path: &Path, order: Order, resume: Resume) -> Result<Opened, BatchError> {
    let jpath = journal_path(path);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| BatchError::Output { path: p, source: e }
    };
    let create = |p: &Path| File::create(p).map_err(io(p));
    if resume == Resume::Off {
        return match order {
            Order::Input => Ok((
                create(path)?,
                Some(Journal::open(&jpath, true).map_err(io(&jpath))?),
                HashMap::new(),
            )),
            Order::Completed => {
                let _ = std::fs::remove_file(&jpath);
                Ok((create(path)?, None, HashMap::new()))
            }
        };
    }
    // The journal, when there is one, holds every finished result (the output is made
    // from it); else the output itself is the record of the earlier run.
    if !jpath.exists() && path.exists() {
        std::fs::rename(path, &jpath).map_err(io(path))?;
    }
    let found = scan(&jpath, resume).map_err(io(&jpath))?;
    match order {
        Order::Input => Ok((
            create(path)?,
            Some(Journal::open(&jpath, false).map_err(io(&jpath))?),
            found,
        )),
        Order::Completed => {
            // The output becomes the kept lines (in the order they were written); the
            // lines to run again are appended to it.
            let journal = Journal::open(&jpath, false).map_err(io(&jpath))?;
            let tmp = path.with_extension("resume.tmp");
            let mut w = BufWriter::new(create(&tmp)?);
            let mut kept: Vec<&Found> = found.values().filter(|f| f.line.keep).collect();
            kept.sort_by_key(|f| f.offset);
            for f in kept {
                let line = journal.read(f.offset, f.len).map_err(io(&jpath))?;
                w.write_all(&line).map_err(io(&tmp))?;
            }
            w.flush().map_err(io(&tmp))?;
            w.get_ref().sync_all().map_err(io(&tmp))?;
            drop(w);
            std::fs::rename(&tmp, path).map_err(io(path))?;
            drop(journal);
            std::fs::remove_file(&jpath).map_err(io(&jpath))?;
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(io(path))?;
            Ok((file, None, found))
        }
    }
}
