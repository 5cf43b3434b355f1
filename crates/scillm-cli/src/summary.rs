//! The end-of-batch summary: counts and p50/p99 time by `error_type`.

use std::collections::BTreeMap;
use std::fmt::Write;

use scillm_router::RouterResult;

/// Results by `error_type`, with each result's `timing_ms`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    by_type: BTreeMap<&'static str, Vec<u64>>,
}

impl Summary {
    /// Count one result.
    pub fn add(&mut self, r: &RouterResult) {
        self.by_type
            .entry(r.meta.error_type.as_str())
            .or_default()
            .push(r.meta.timing_ms);
    }

    /// Results counted.
    pub fn count(&self) -> usize {
        self.by_type.values().map(Vec::len).sum()
    }

    /// Results with `error_type: ok`.
    pub fn ok(&self) -> usize {
        self.by_type.get("ok").map_or(0, Vec::len)
    }

    /// Results with any other `error_type`.
    pub fn errors(&self) -> usize {
        self.count() - self.ok()
    }

    /// Count of one `error_type`.
    pub fn of(&self, error_type: &str) -> usize {
        self.by_type.get(error_type).map_or(0, Vec::len)
    }

    /// The table printed after a batch.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>10} {:>10}",
            "error_type", "count", "p50_ms", "p99_ms"
        );
        for (kind, times) in &self.by_type {
            let mut t = times.clone();
            t.sort_unstable();
            let _ = writeln!(
                out,
                "{:<16} {:>8} {:>10} {:>10}",
                kind,
                t.len(),
                percentile(&t, 50.0),
                percentile(&t, 99.0)
            );
        }
        let _ = write!(out, "{:<16} {:>8}", "total", self.count());
        out
    }
}

/// The `p`th percentile of sorted values (nearest rank); 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
