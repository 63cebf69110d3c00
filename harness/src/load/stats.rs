//! Latency samples and failure counts, gathered while flows run and summarised once.
//!
//! Samples are kept whole (microseconds as `u32`, 36 MB at a million flows) rather
//! than bucketed, so the percentiles are exact.

use super::{HarnessUsage, LoadOptions, LoadReport, ServerUsage, Step};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latency of one step.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// The step (`newOrder`, ..., `flow`).
    pub step: &'static str,
    /// How many samples the figures are over.
    pub samples: usize,
    /// Median, in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, in milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// Slowest, in milliseconds.
    pub max_ms: f64,
}

/// How often one kind of failure ended a flow.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    /// The step it happened in (`flow` for a flow timeout).
    pub step: &'static str,
    /// The ACME error name, problem type or transport failure kind.
    pub kind: String,
    /// How many flows it ended.
    pub count: u64,
    /// The message of the first occurrence.
    pub example: String,
}

/// The running tallies of a load run.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    samples: BTreeMap<Step, Vec<u32>>,
    completed: u64,
    accounts: u64,
    errors: BTreeMap<(&'static str, String), (u64, String)>,
    pub(super) bad_nonce_retries: u64,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The nearest-rank percentile of sorted samples, in milliseconds.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

/// How the run as a whole went, besides what the flows recorded.
pub(super) struct RunEnd {
    pub(super) wall: Duration,
    /// The HTTP version the server answered over, as `HTTP/1.1` or `HTTP/2.0`.
    pub(super) http_version: String,
    pub(super) stopped_early: Option<String>,
    pub(super) notes: Vec<String>,
}

impl Recorder {
    pub(super) fn account_created(&mut self, took: Duration) {
        self.accounts += 1;
        self.samples
            .entry(Step::NewAccount)
            .or_default()
            .push(micros(took));
    }

    /// Flows completed so far.
    pub(super) fn completed_flows(&self) -> u64 {
        self.completed
    }

    pub(super) fn completed(&mut self, timings: &[(Step, Duration)]) {
        self.completed += 1;
        for (step, took) in timings {
            self.samples.entry(*step).or_default().push(micros(*took));
        }
    }

    pub(super) fn fail(&mut self, step: &'static str, kind: String, message: String) {
        self.errors.entry((step, kind)).or_insert((0, message)).0 += 1;
    }

    pub(super) fn into_report(
        self,
        options: &LoadOptions,
        run: RunEnd,
        server: Option<ServerUsage>,
        harness: Option<HarnessUsage>,
    ) -> LoadReport {
        let RunEnd { wall, http_version, stopped_early, notes } = run;
        let mut samples = self.samples;
        let latency = Step::ALL
            .iter()
            .filter_map(|step| {
                let sorted = samples.get_mut(step).filter(|s| !s.is_empty())?;
                sorted.sort_unstable();
                Some(Latency {
                    step: step.name(),
                    samples: sorted.len(),
                    p50_ms: percentile_ms(sorted, 0.50),
                    p90_ms: percentile_ms(sorted, 0.90),
                    p99_ms: percentile_ms(sorted, 0.99),
                    max_ms: percentile_ms(sorted, 1.0),
                })
            })
            .collect();
        let mut errors: Vec<ErrorCount> = self
            .errors
            .into_iter()
            .map(|((step, kind), (count, example))| ErrorCount {
                step,
                kind,
                count,
                example,
            })
            .collect();
        errors.sort_by_key(|e| std::cmp::Reverse(e.count));
        let flows_failed = errors.iter().map(|e| e.count).sum();
        LoadReport {
            directory_url: options.directory_url.clone(),
            flows_requested: options.flows,
            concurrency: options.concurrency,
            flows_completed: self.completed,
            flows_failed,
            accounts_created: self.accounts,
            bad_nonce_retries: self.bad_nonce_retries,
            wall_ms: wall.as_secs_f64() * 1000.0,
            flows_per_second: self.completed as f64 / wall.as_secs_f64().max(f64::EPSILON),
            http_version,
            stopped_early,
            latency,
            errors,
            server: server.map(|s| s.per_flow(self.completed)),
            harness: harness.map(|h| h.per_flow(self.completed)),
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile_ms;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&sorted, 0.50), 50.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&sorted, 1.0), 100.0);
        assert_eq!(percentile_ms(&[7000], 0.5), 7.0);
    }
}
