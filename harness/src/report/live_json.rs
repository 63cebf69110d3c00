//! The `--json` report of a run still going, rewritten as cases finish.
//!
//! Rewriting means re-serializing: done naively, every finished case serializes all the
//! cases before it again, transcripts included, which made the report a fifth of the
//! harness's CPU over the whole suite. Here each case is serialized once, as it
//! finishes, and every rewrite joins the kept text; the file is still replaced whole and
//! atomically, byte for byte what [`write_json`](super::write_json) writes.
//!
//! Against a fast server cases finish hundreds a second, and writing the file itself then
//! costs more than running them, so rewrites come at most every `REWRITE_EVERY`; the
//! last state of a run is always written by its caller (at the end, or on Ctrl-C), and a
//! `--jsonl` stream keeps every case the moment it finishes.

use crate::runner::RunReport;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The shortest time between two rewrites of the file while a run goes on.
const REWRITE_EVERY: Duration = Duration::from_millis(250);

/// Indentation of a case inside the pretty report (`{ "cases": [ <here> ] }`).
const CASE_INDENT: &str = "    ";

/// A JSON report file kept up to date with a run as cases finish.
#[derive(Debug)]
pub struct LiveJsonReport {
    path: PathBuf,
    /// The cases written so far, pretty-printed, indented and comma-joined.
    cases: String,
    written: usize,
    last_rewrite: Option<Instant>,
    rewrite_every: Duration,
}

impl LiveJsonReport {
    /// A report to be written at `path` (nothing is written before the first update).
    pub fn new(path: &Path) -> LiveJsonReport {
        LiveJsonReport {
            path: path.to_owned(),
            cases: String::new(),
            written: 0,
            last_rewrite: None,
            rewrite_every: REWRITE_EVERY,
        }
    }

    /// Takes in `report`, a later state of the same run (cases are only ever appended,
    /// so only those not seen before are serialized), and rewrites the file with it
    /// unless the last rewrite was less than a quarter of a second ago and the run is
    /// not complete.
    pub fn update(&mut self, report: &RunReport) -> io::Result<()> {
        self.take_in(report)?;
        if !report.complete && self.last_rewrite.is_some_and(|at| at.elapsed() < self.rewrite_every) {
            return Ok(());
        }
        self.last_rewrite = Some(Instant::now());
        super::write_atomic(&self.path, &self.render(report)?)
    }

    fn take_in(&mut self, report: &RunReport) -> io::Result<()> {
        if report.cases.len() < self.written {
            // Not the same run: start over.
            *self = LiveJsonReport { rewrite_every: self.rewrite_every, ..LiveJsonReport::new(&self.path) };
        }
        for case in &report.cases[self.written..] {
            let text = serde_json::to_string_pretty(case).map_err(io::Error::other)?;
            self.cases.push_str(if self.written == 0 { "\n" } else { ",\n" });
            for (i, line) in text.lines().enumerate() {
                if i > 0 {
                    self.cases.push('\n');
                }
                self.cases.push_str(CASE_INDENT);
                self.cases.push_str(line);
            }
            self.written += 1;
        }
        Ok(())
    }

    /// The whole report: everything but the cases serialized now (it is small and
    /// changes with every case), the kept cases spliced into its empty list.
    fn render(&self, report: &RunReport) -> io::Result<Vec<u8>> {
        let mut text = serde_json::to_vec_pretty(&report.head()).map_err(io::Error::other)?;
        if self.written == 0 {
            return Ok(text);
        }
        // `cases` is the last field, so the text ends with its empty list.
        const EMPTY_CASES: &[u8] = b"[]\n}";
        if !text.ends_with(EMPTY_CASES) {
            return Err(io::Error::other("the run report no longer ends with its cases"));
        }
        text.truncate(text.len() - EMPTY_CASES.len());
        text.push(b'[');
        text.extend_from_slice(self.cases.as_bytes());
        text.extend_from_slice(b"\n  ]\n}");
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::LiveJsonReport;
    use crate::runner::{CaseResult, RunReport, Verdict};
    use std::time::Duration;

    #[test]
    fn every_rewrite_is_byte_for_byte_the_whole_report() {
        let dir = tempfile::tempdir().unwrap();
        let live_path = dir.path().join("live.json");
        let whole_path = dir.path().join("whole.json");
        let mut nested = CaseResult::bare("rfc8555/7.2/b", Verdict::Fail, Some("a \"quoted\"\nobservation"));
        nested.requirements = vec!["R8555-7.2-01".into(), "R8555-7.2-02".into()];
        let cases = vec![
            CaseResult::bare("rfc8555/7.1/a", Verdict::Pass, None),
            nested,
            CaseResult::bare("rfc8555/7.3/c", Verdict::Error, Some("no answer")),
        ];
        let full = RunReport::of_cases(cases, true);
        let mut live = LiveJsonReport { rewrite_every: Duration::from_secs(3600), ..LiveJsonReport::new(&live_path) };
        for finished in 0..=full.cases.len() {
            live.last_rewrite = None;
            let mut partial = full.clone();
            partial.cases.truncate(finished);
            partial.complete = finished == full.cases.len();
            partial.summary = crate::runner::Summary::of(&partial.cases);
            live.update(&partial).unwrap();
            super::super::write_json(&whole_path, &partial).unwrap();
            assert_eq!(
                std::fs::read_to_string(&live_path).unwrap(),
                std::fs::read_to_string(&whole_path).unwrap(),
                "after {finished} case(s)"
            );
        }
        // Within REWRITE_EVERY of the last rewrite, only a complete run is written.
        let mut partial = full.clone();
        partial.cases.truncate(1);
        partial.complete = false;
        live.update(&partial).unwrap();
        let read: RunReport = serde_json::from_slice(&std::fs::read(&live_path).unwrap()).unwrap();
        assert_eq!(read.cases.len(), 1, "a new run rewrites at once");
        partial.cases = full.cases[..2].to_vec();
        live.update(&partial).unwrap();
        let read: RunReport = serde_json::from_slice(&std::fs::read(&live_path).unwrap()).unwrap();
        assert_eq!(read.cases.len(), 1, "a rewrite right after the last waits");
        live.update(&full).unwrap();
        let read: RunReport = serde_json::from_slice(&std::fs::read(&live_path).unwrap()).unwrap();
        assert!(read.complete && read.cases.len() == 3, "a complete run is written at once");
        live.last_rewrite = None;
        // A different, shorter run starts the file over.
        let other = RunReport::of_cases(vec![CaseResult::bare("rfc8555/8.3/d", Verdict::Pass, None)], false);
        live.update(&other).unwrap();
        let read: RunReport = serde_json::from_slice(&std::fs::read(&live_path).unwrap()).unwrap();
        assert_eq!(read.cases.len(), 1);
        assert_eq!(read.cases[0].id, "rfc8555/8.3/d");
    }
}
