//! `scillm batch`: one output line per input line, in input order, flushed as it goes, with
//! `--resume` after a crash losing and duplicating nothing.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use scillm_router::{ParallelOptions, RequestItem, Router, RouterResult};
use serde_json::Value;

use crate::summary::Summary;

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    /// Requests in flight at once (`None`: the router's default).
    pub concurrency: Option<usize>,
    /// Per-request timeout.
    pub timeout: Option<Duration>,
    /// Stop at the first failure and cancel the rest (their slots still get a result).
    pub fail_fast: bool,
    /// Keep the complete lines of an existing output file and run only the rest.
    pub resume: bool,
    /// Output file (`None`: standard output).
    pub output: Option<PathBuf>,
    /// Draw a progress bar when standard error is a terminal.
    pub progress: bool,
    /// Provider for lines that name none.
    pub default_provider: Option<String>,
    /// Base for lines that name none.
    pub default_api_base: Option<String>,
}

/// What a batch did.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// Input lines.
    pub total: usize,
    /// Lines kept from an earlier run (`--resume`).
    pub resumed: usize,
    /// Results written by this run, by `error_type`, with their times.
    pub summary: Summary,
}

/// Read the input file: one item per line (a blank or non-JSON line becomes an invalid item,
/// so that every line still gets its output line).
pub fn read_items(input: &Path, opts: &BatchOptions) -> anyhow::Result<Vec<RequestItem>> {
    let mut text = String::new();
    File::open(input)
        .with_context(|| format!("cannot open the input file {}", input.display()))?
        .read_to_string(&mut text)
        .with_context(|| format!("{} is not UTF-8 text", input.display()))?;
    Ok(text
        .lines()
        .map(|line| {
            if line.trim().is_empty() {
                return RequestItem::Invalid("line is empty: expected one JSON request".into());
            }
            match RequestItem::from_json_line(line) {
                RequestItem::Raw(Value::Object(mut m)) => {
                    if let Some(p) = &opts.default_provider {
                        m.entry("custom_llm_provider")
                            .or_insert_with(|| Value::from(p.as_str()));
                    }
                    if let Some(b) = &opts.default_api_base {
                        m.entry("api_base")
                            .or_insert_with(|| Value::from(b.as_str()));
                    }
                    RequestItem::Raw(Value::Object(m))
                }
                other => other,
            }
        })
        .collect())
}

/// The indices already written to `path`; the file is cut back to its last complete,
/// parseable line so that appending continues it cleanly.
pub fn resume_point(path: &Path) -> anyhow::Result<HashSet<usize>> {
    let mut done = HashSet::new();
    let Ok(file) = File::open(path) else {
        return Ok(done);
    };
    let mut reader = BufReader::new(file);
    let mut keep = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        let index = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v.pointer("/scillm_router/index").and_then(Value::as_u64));
        match index {
            Some(i) if done.insert(i as usize) => keep += n as u64,
            _ => break,
        }
    }
    OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(keep)
        .with_context(|| format!("cannot trim {} for --resume", path.display()))?;
    Ok(done)
}

/// Run the batch and write every result line.
pub async fn run(
    router: &Router,
    input: &Path,
    opts: &BatchOptions,
) -> anyhow::Result<BatchReport> {
    let items = read_items(input, opts)?;
    let total = items.len();
    let done = match (&opts.output, opts.resume) {
        (Some(path), true) => resume_point(path)?,
        _ => HashSet::new(),
    };
    let mut out: Box<dyn Write> = match &opts.output {
        Some(path) => Box::new(
            OpenOptions::new()
                .create(true)
                .append(opts.resume)
                .write(true)
                .truncate(!opts.resume)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let (positions, todo): (Vec<usize>, Vec<RequestItem>) = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !done.contains(i))
        .unzip();
    let progress = Progress::new(todo.len(), opts.progress);
    let popts = ParallelOptions {
        concurrency: opts.concurrency,
        fail_fast: opts.fail_fast,
        timeout: opts.timeout,
        ..ParallelOptions::default()
    };
    let mut summary = Summary::default();
    let mut pending: BTreeMap<usize, RouterResult> = BTreeMap::new();
    let mut next = 0usize;
    let mut stream = std::pin::pin!(router.parallel_stream(todo, popts));
    while let Some((local, mut result)) = stream.next().await {
        let Some(&global) = positions.get(local) else {
            continue;
        };
        result.meta.index = global;
        summary.add(&result);
        progress.tick(&summary);
        pending.insert(local, result);
        while let Some(r) = pending.remove(&next) {
            let mut line = serde_json::to_vec(&r)?;
            line.push(b'\n');
            out.write_all(&line)?;
            out.flush()?;
            next += 1;
        }
    }
    progress.finish(&summary);
    anyhow::ensure!(
        next == positions.len(),
        "internal error: {} of {} results were written",
        next,
        positions.len()
    );
    Ok(BatchReport {
        total,
        resumed: done.len(),
        summary,
    })
}

/// A progress bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    step: usize,
}

impl Progress {
    fn new(total: usize, wanted: bool) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            total,
            step: (total / 10).max(1),
        }
    }

    fn tick(&self, s: &Summary) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(format!("ok {} errors {}", s.ok(), s.errors()));
            }
            None if s.count() % self.step == 0 || s.count() == self.total => {
                eprintln!(
                    "batch: {}/{} done (ok {}, errors {})",
                    s.count(),
                    self.total,
                    s.ok(),
                    s.errors()
                );
            }
            None => {}
        }
    }

    fn finish(&self, _s: &Summary) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
