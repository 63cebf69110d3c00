//! Results as JSON Lines, appended as cases finish.
//!
//! The JSON report is rewritten whole as cases finish; a JSON Lines file is only ever
//! appended to, so a run killed mid-write (Ctrl-C, a dead server, a crashed client, the
//! machine going down) loses at most the line being written and everything before it
//! stays readable. The first line describes the run, one line per finished case
//! follows, and a last `end` line marks the run complete: a file without it is an
//! incomplete run, which [`read_results`] still turns into a report.

use crate::runner::{CaseResult, RunReport, Summary};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::Path;

/// One line of a results stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StreamLine {
    /// The run: what was tested, by which acmespec, since when.
    Run {
        /// Always `acmespec`.
        tool: String,
        /// acmespec's version.
        version: String,
        /// The directory URL tested.
        directory_url: String,
        /// The server's `Server` header on the directory, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_header: Option<String>,
        /// RFC 3339 start time.
        started_at: String,
        /// Which path answered each challenge type, when an external solver answered
        /// any (see [`RunReport::validation_paths`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        validation_paths: Vec<String>,
    },
    /// One finished case.
    Case(Box<CaseResult>),
    /// The run finished: every case that was going to run did.
    End {
        /// RFC 3339 end time.
        finished_at: String,
    },
}

/// Appends a run's results to a JSON Lines file as they arrive.
#[derive(Debug)]
pub struct ResultStream {
    file: File,
    written: usize,
    started: bool,
}

impl ResultStream {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> io::Result<ResultStream> {
        Ok(ResultStream { file: File::create(path)?, written: 0, started: false })
    }

    /// Appends what `report` has that is not written yet: the run line first, then
    /// each new case, then the end line once the report is complete. Each line is
    /// flushed to the operating system before the call returns.
    pub fn update(&mut self, report: &RunReport) -> io::Result<()> {
        if !self.started {
            self.write(&StreamLine::Run {
                tool: report.tool.clone(),
                version: report.version.clone(),
                directory_url: report.directory_url.clone(),
                server_header: report.server_header.clone(),
                started_at: report.started_at.clone(),
                validation_paths: report.validation_paths.clone(),
            })?;
            self.started = true;
        }
        for case in &report.cases[self.written.min(report.cases.len())..] {
            self.write(&StreamLine::Case(Box::new(case.clone())))?;
        }
        self.written = report.cases.len();
        if report.complete {
            self.write(&StreamLine::End { finished_at: report.finished_at.clone().unwrap_or_default() })?;
        }
        Ok(())
    }

    fn write(&mut self, line: &StreamLine) -> io::Result<()> {
        let mut text = serde_json::to_vec(line).map_err(io::Error::other)?;
        text.push(b'\n');
        self.file.write_all(&text)?;
        self.file.flush()
    }
}

/// Reads a saved run: a JSON report (`--json`) or a JSON Lines stream (`--jsonl`) of
/// `acmespec run`, the latter possibly cut short (then `complete` is false and a torn
/// last line is ignored), or the `--json` report of `acmespec clients`, as the run report
/// it converts to. Errors name the file and, for a stream, the line.
pub fn read_results(path: &Path) -> Result<RunReport, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &bytes[i..]).unwrap_or_default();
    // A stream's first line is a one-line object with a "type"; a report is an object
    // spanning the file. Trying the report first keeps the stream rules in one place.
    if let Ok(report) = serde_json::from_slice::<RunReport>(first) {
        return Ok(report);
    }
    if let Ok(clients) = serde_json::from_slice::<crate::clients::run::ClientsReport>(first) {
        return Ok(clients.to_run_report());
    }
    let mut report: Option<RunReport> = None;
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.iter().rposition(|l| !l.iter().all(u8::is_ascii_whitespace)).unwrap_or(0);
    for (n, line) in io::BufReader::new(&bytes[..]).split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: StreamLine = match serde_json::from_slice(&line) {
            Ok(p) => p,
            // Only the last line may be torn by an interrupted write.
            Err(_) if n == last && report.is_some() => break,
            Err(e) => return Err(format!("{}:{}: not an acmespec results line: {e}", path.display(), n + 1)),
        };
        match (parsed, report.as_mut()) {
            (StreamLine::Run { tool, version, directory_url, server_header, started_at, validation_paths }, None) => {
                report = Some(RunReport {
                    tool,
                    version,
                    directory_url,
                    server_header,
                    started_at,
                    finished_at: None,
                    complete: false,
                    summary: Summary::default(),
                    cases: Vec::new(),
                    client: None,
                    validation_paths,
                });
            }
            (StreamLine::Case(case), Some(r)) => r.cases.push(*case),
            (StreamLine::End { finished_at }, Some(r)) => {
                r.finished_at = Some(finished_at);
                r.complete = true;
            }
            (_, None) => return Err(format!("{}:{}: the stream does not start with a run line", path.display(), n + 1)),
            (StreamLine::Run { .. }, Some(_)) => return Err(format!("{}:{}: a second run line", path.display(), n + 1)),
        }
    }
    let mut report = report.ok_or_else(|| format!("{}: neither a JSON report nor a results stream", path.display()))?;
    report.summary = Summary::of(&report.cases);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Verdict;

    fn case(id: &str, verdict: Verdict) -> CaseResult {
        CaseResult::bare(id, verdict, None)
    }

    fn report(cases: Vec<CaseResult>, complete: bool) -> RunReport {
        RunReport::of_cases(cases, complete)
    }

    #[test]
    fn a_stream_reads_back_complete_and_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut stream = ResultStream::create(&path).unwrap();
        let a = case("rfc8555/6.5/a", Verdict::Pass);
        let b = case("rfc8555/6.5/b", Verdict::Fail);
        let paths = vec!["http-01: webroot /var/www/html".to_owned()];
        let with_paths = |cases: Vec<CaseResult>, complete| RunReport { validation_paths: paths.clone(), ..report(cases, complete) };
        stream.update(&with_paths(vec![a.clone()], false)).unwrap();
        stream.update(&with_paths(vec![a.clone(), b.clone()], false)).unwrap();
        let partial = read_results(&path).unwrap();
        assert!(!partial.complete);
        assert_eq!(partial.validation_paths, paths, "a cut-short run still says which path answered");
        assert_eq!(partial.cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["rfc8555/6.5/a", "rfc8555/6.5/b"]);
        assert_eq!((partial.summary.pass, partial.summary.fail), (1, 1));

        stream.update(&report(vec![a.clone(), b.clone()], true)).unwrap();
        let whole = read_results(&path).unwrap();
        assert!(whole.complete && whole.finished_at.is_some() && whole.cases.len() == 2);

        // A write torn by a kill: the last line is cut; everything before it stands.
        let text = std::fs::read_to_string(&path).unwrap();
        let torn = &text[..text.len() - 30];
        std::fs::write(&path, torn).unwrap();
        let cut = read_results(&path).unwrap();
        assert!(!cut.complete && cut.cases.len() == 2);
    }

    #[test]
    fn bad_files_are_named_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"type\":\"case\"}\n").unwrap();
        assert!(read_results(&path).unwrap_err().ends_with("r.jsonl:1: not an acmespec results line: missing field `id`"), "{}", read_results(&path).unwrap_err());
        let run = r#"{"type":"run","tool":"acmespec","version":"0","directory_url":"u","started_at":"s"}"#;
        std::fs::write(&path, format!("{run}\nnot json\n{run}\n")).unwrap();
        assert!(read_results(&path).unwrap_err().contains("r.jsonl:2: not an acmespec results line"));
        std::fs::write(&path, format!("{run}\n{run}\n")).unwrap();
        assert!(read_results(&path).unwrap_err().contains("r.jsonl:2: a second run line"));
        assert!(read_results(&dir.path().join("missing")).is_err());
    }
}
