//! Writing run results: JSON for machines and regression diffs, JUnit XML for CI,
//! Markdown and self-contained HTML for the people reviewing a run.
//!
//! The JSON report is rewritten atomically as cases finish, so an interrupted run
//! still leaves a valid, parseable file marked `complete: false`.

pub mod cli;
mod baseline;
mod diff;
mod expect;
mod html;
mod layout;
mod live_json;
mod markdown;
mod redact;
mod stream;
mod terminal;
mod view;

pub use baseline::{PinnedVerdict, off_baseline, read_baseline};
pub use diff::{RunDiff, RunSide, VerdictChange};
pub use expect::{Expectations, Judgement, Mismatch, starting_expectations};
pub use html::to_html;
pub use live_json::LiveJsonReport;
pub use markdown::to_markdown;
pub use redact::{REDACTED, Redactor};
pub use stream::{ResultStream, StreamLine, read_results};
pub use terminal::Progress;

use crate::runner::{RunReport, Verdict};
use std::io;
use std::path::Path;

/// Writes `report` (a [`RunReport`], or any report of the same family such as the
/// client report) as pretty JSON to `path` via a temporary file and a rename.
pub fn write_json<T: serde::Serialize>(path: &Path, report: &T) -> io::Result<()> {
    let text = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
    write_atomic(path, &text)
}

/// Writes `report` as JUnit XML to `path` via a temporary file and a rename.
pub fn write_junit(path: &Path, report: &RunReport) -> io::Result<()> {
    write_atomic(path, to_junit(report).as_bytes())
}

/// Writes a rendered report ([`to_markdown`], [`to_html`]) to `path` via a temporary
/// file and a rename.
pub fn write_text(path: &Path, text: &str) -> io::Result<()> {
    write_atomic(path, text.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Renders JUnit XML: one test suite, one test case per case, classname = RFC section.
pub fn to_junit(report: &RunReport) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!("acmespec {}", report.directory_url));
    for c in &report.cases {
        let details = || {
            format!(
                "expected: {}\nobserved: {}\nrequirements: {}\nsource: {}",
                c.expected.as_deref().unwrap_or("-"),
                c.observed.as_deref().unwrap_or("-"),
                c.requirements.join(", "),
                c.source
            )
        };
        let status = match c.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::NonStrict => TestCaseStatus::success(),
            Verdict::Fail | Verdict::Error => {
                let kind = if c.verdict == Verdict::Fail { NonSuccessKind::Failure } else { NonSuccessKind::Error };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(c.observed.clone().unwrap_or_default());
                s.set_description(details());
                s
            }
            Verdict::Unsupported => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(c.observed.clone().unwrap_or_default());
                s
            }
            // Not this case's failure: the case named in the message judges the step
            // that broke, so a CI dashboard shows the deviation once.
            Verdict::Blocked => {
                let mut s = TestCaseStatus::skipped();
                let by = c.blocked_by.as_deref().unwrap_or("no case of this catalogue");
                s.set_message(format!("blocked by {by}: {}", c.observed.as_deref().unwrap_or_default()));
                s.set_description(details());
                s
            }
        };
        let mut case = TestCase::new(c.id.clone(), status);
        let section = c.id.rsplit_once('/').map(|(s, _)| s).unwrap_or(&c.id);
        case.set_classname(section.to_owned());
        case.set_time(std::time::Duration::from_millis(c.duration_ms));
        if c.verdict == Verdict::NonStrict {
            case.set_system_out(format!("non-strict (SHOULD missed)\n{}", details()));
        }
        suite.add_test_case(case);
    }
    let mut junit = Report::new("acmespec");
    junit.add_test_suite(suite);
    junit.to_string().unwrap_or_default()
}
