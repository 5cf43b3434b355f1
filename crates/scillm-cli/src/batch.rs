//! `scillm batch`: map the arguments onto [`scillm_batch`], show progress, turn signals
//! into cancellation, print the summary and choose the exit code (SPEC §14).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scillm_batch::{
    BatchError, BatchOptions, BatchRunner, MetricsServer, Order, Output, Progress, Resume, Summary,
};
use scillm_router::Router;
use tokio_util::sync::CancellationToken;

use crate::args::{BatchArgs, OrderArg};

/// Every line ended `ok`.
pub const EXIT_OK: u8 = 0;
/// A usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Some lines ended in error (every line was written).
pub const EXIT_SOME_FAILED: u8 = 3;
/// Interrupted by SIGINT (Ctrl-C).
pub const EXIT_SIGINT: u8 = 130;
/// Interrupted by SIGTERM.
pub const EXIT_SIGTERM: u8 = 143;

/// The runner options the arguments ask for.
pub fn options(a: &BatchArgs) -> BatchOptions {
    BatchOptions {
        concurrency: a.concurrency,
        timeout: a.timeout.map(Duration::from_secs_f64),
        fail_fast: a.fail_fast,
        deterministic: false,
        order: match a.order {
            OrderArg::Input => Order::Input,
            OrderArg::Completed => Order::Completed,
        },
        resume: if a.retry_errors {
            Resume::Errors
        } else if a.resume {
            Resume::Missing
        } else {
            Resume::Off
        },
        reorder_window: a.reorder_window,
        default_provider: a.target.provider.clone(),
        default_api_base: a.target.api_base.clone(),
        traceparent: std::env::var(scillm_telemetry::propagation::TRACEPARENT_ENV).ok(),
    }
}

/// The exit code of a finished run: 130 / 143 when a signal stopped it, 3 when any line
/// of the output ended in error, else 0.
pub fn exit_code(summary: &Summary, signal: u8) -> u8 {
    if summary.interrupted && signal != 0 {
        signal
    } else if summary.output_errors() > 0 || summary.missing().unwrap_or(0) > 0 {
        EXIT_SOME_FAILED
    } else {
        EXIT_OK
    }
}

/// Run the batch `a` asks for and print its summary; returns the exit code.
pub async fn run(router: Router, a: &BatchArgs) -> anyhow::Result<u8> {
    let metrics = match &a.metrics_addr {
        None => None,
        Some(addr) => match MetricsServer::start(addr).await {
            Ok(m) => {
                eprintln!("metrics: http://{}/metrics", m.local_addr());
                Some(m)
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_USAGE);
            }
        },
    };
    let cancel = CancellationToken::new();
    let signal = cancel_on_signals(cancel.clone());
    let view = Arc::new(ProgressView::new(!a.no_progress));
    let v = Arc::clone(&view);
    let runner = BatchRunner::new(router, options(a)).on_progress(move |p| v.update(p));
    let output = match &a.output {
        Some(p) => Output::File(p.clone()),
        None => Output::Writer(Box::new(std::io::stdout())),
    };
    let result = runner.run_file(&a.input, output, cancel).await;
    view.finish();
    if let Some(m) = metrics {
        m.stop().await;
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(match e {
                BatchError::Output { .. } => 1,
                e if e.is_usage() => EXIT_USAGE,
                _ => 1,
            });
        }
    };
    let signal = signal.load(Ordering::SeqCst);
    if summary.interrupted {
        scillm_provider_codex::embedded::shutdown_all();
        eprintln!("interrupted: finished results are written; run again with --resume to complete");
    }
    eprintln!("{}", summary.table());
    if let Some(path) = &a.summary_json {
        let text = serde_json::to_string_pretty(&summary.to_json())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write the summary to {}: {e}", path.display()))?;
    }
    Ok(exit_code(&summary, signal))
}

/// Cancel `cancel` on the first SIGINT or SIGTERM and remember which (130 / 143); a
/// second signal exits at once.
fn cancel_on_signals(cancel: CancellationToken) -> Arc<AtomicU8> {
    use tokio::signal::unix::{signal, SignalKind};
    let got = Arc::new(AtomicU8::new(0));
    let seen = Arc::clone(&got);
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return got;
    };
    tokio::spawn(async move {
        loop {
            let code = tokio::select! {
                Some(()) = int.recv() => EXIT_SIGINT,
                Some(()) = term.recv() => EXIT_SIGTERM,
                else => return,
            };
            if seen.swap(code, Ordering::SeqCst) != 0 {
                eprintln!("interrupted again: exiting now");
                scillm_provider_codex::embedded::shutdown_all();
                std::process::exit(i32::from(code));
            }
            eprintln!("interrupted: no new lines start, lines in flight are cancelled (press Ctrl-C again to exit at once)");
            cancel.cancel();
            // The embedded sidecars' Codex children die now, not when the process exits
            // (SPEC §12 "No orphans"): their turns are cancelled anyway.
            scillm_provider_codex::embedded::shutdown_all();
        }
    });
    got
}

/// Progress: an indicatif bar on a terminal, else a plain line every 10% or 5 s.
struct ProgressView {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    last: Mutex<(Instant, u64)>,
}

impl ProgressView {
    fn new(wanted: bool) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {per_sec} ETA {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            plain: wanted && bar.is_none(),
            bar,
            last: Mutex::new((Instant::now(), 0)),
        }
    }

    fn update(&self, p: &Progress) {
        if let Some(bar) = &self.bar {
            if let Some(t) = p.total {
                bar.set_length(t);
            }
            bar.set_position(p.done);
            bar.set_message(format!("ok {} errors {}", p.ok, p.errors));
            return;
        }
        if !self.plain {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let step = p.total.map_or(u64::MAX, |t| (t / 10).max(1));
        let done_all = p.total == Some(p.done);
        if p.done.saturating_sub(last.1) < step
            && last.0.elapsed() < Duration::from_secs(5)
            && !done_all
        {
            return;
        }
        if p.done == last.1 && last.1 != 0 {
            return;
        }
        *last = (Instant::now(), p.done);
        let rate = p.done as f64 / p.elapsed.as_secs_f64().max(1e-9);
        let total = p.total.map_or_else(|| "?".to_string(), |t| t.to_string());
        let eta = p
            .total
            .filter(|_| rate > 0.0)
            .map(|t| format!(", ETA {:.0} s", t.saturating_sub(p.done) as f64 / rate))
            .unwrap_or_default();
        eprintln!(
            "batch: {}/{total} done (ok {}, errors {}), {rate:.1} req/s{eta}",
            p.done, p.ok, p.errors
        );
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
