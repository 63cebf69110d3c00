//! A live campaign's results in the forms a vendor's CI keeps: JSON (the report and
//! one replayable file per finding), JUnit with one test case per oracle, and Markdown
//! for a pull-request comment. Everything is rewritten as findings arrive, so an
//! interrupted campaign still leaves a readable directory.

use super::live::{Finding, LiveReport, ORACLES};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// One finding as saved under `findings/`: what broke and the command that sends it again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedFinding {
    /// The command that replays the finding's minimal request.
    pub replay_command: String,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
}

/// The file a finding is saved to, relative to the output directory.
pub fn finding_path(index: usize, finding: &Finding) -> PathBuf {
    PathBuf::from("findings").join(format!("{:03}-{}-{}.json", index + 1, finding.broken.oracle, finding.endpoint))
}

/// Writes `report.json`, `junit.xml`, `report.md`, `report.html` and
/// `findings/NNN-ORACLE-ENDPOINT.json` under `dir`; `replay` gives the replay command for a
/// finding file.
pub fn write_dir(dir: &Path, report: &LiveReport, replay: &dyn Fn(&Path) -> String) -> io::Result<()> {
    std::fs::create_dir_all(dir.join("findings"))?;
    for (i, finding) in report.findings.iter().enumerate() {
        let path = dir.join(finding_path(i, finding));
        let saved = SavedFinding { replay_command: replay(&path), finding: finding.clone() };
        crate::report::write_json(&path, &saved)?;
    }
    crate::report::write_json(&dir.join("report.json"), report)?;
    std::fs::write(dir.join("junit.xml"), to_junit(report))?;
    let html = crate::report::to_html(&as_run_report(report), &Default::default(), &Default::default(), &crate::report::Redactor::default());
    crate::report::write_text(&dir.join("report.html"), &html)?;
    std::fs::write(dir.join("report.md"), to_markdown(report, &|i, f| replay(&dir.join(finding_path(i, f)))))
}

/// The campaign as a run report with one case per oracle (`fuzz/ORACLE`), failed when a
/// finding broke it, its findings as the observation and their minimal exchanges as the
/// transcript: the form the HTML renderer shows a run in.
pub fn as_run_report(report: &LiveReport) -> crate::runner::RunReport {
    use crate::runner::{CaseResult, RunReport, Summary, Verdict};
    let cases: Vec<CaseResult> = ORACLES
        .iter()
        .map(|(oracle, rfc)| {
            let found: Vec<&Finding> = report.findings.iter().filter(|f| f.broken.oracle == *oracle).collect();
            let observed = found.iter().map(|f| format!("{} ({}×, first request {}): {}", f.key, f.occurrences, f.first_request, f.broken.detail));
            CaseResult {
                blocked_by: None,
                id: format!("fuzz/{oracle}"),
                title: (*rfc).to_owned(),
                verdict: if found.is_empty() { Verdict::Pass } else { Verdict::Fail },
                level: crate::scenario::Level::Must,
                requirements: Vec::new(),
                duration_ms: 0,
                source: "harness/src/fuzzing/live.rs".into(),
                requests: 0,
                expected: (!found.is_empty()).then(|| (*rfc).to_owned()),
                observed: (!found.is_empty()).then(|| observed.collect::<Vec<_>>().join("\n")),
                step: None,
                transcript: (!found.is_empty()).then(|| found.iter().filter_map(|f| f.exchange.clone()).collect()),
            }
        })
        .collect();
    RunReport {
        tool: report.tool.clone(),
        version: report.version.clone(),
        directory_url: format!("{} (fuzzed, seed {}, {} requests)", report.directory_url, report.seed, report.requests),
        server_header: report.server.clone(),
        started_at: report.started_at.clone(),
        finished_at: report.finished_at.clone(),
        complete: report.complete,
        summary: Summary::of(&cases),
        cases,
    }
}

/// JUnit XML: one test case per oracle, failed when any finding broke it.
pub fn to_junit(report: &LiveReport) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!("acmespec fuzz {}", report.directory_url));
    for (oracle, rfc) in ORACLES {
        let found: Vec<&Finding> = report.findings.iter().filter(|f| f.broken.oracle == oracle).collect();
        let status = if found.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} distinct findings ({rfc})", found.len()));
            s.set_description(found.iter().map(|f| format!("{}: {}", f.key, f.broken.detail)).collect::<Vec<_>>().join("\n"));
            s
        };
        let mut case = TestCase::new(oracle, status);
        case.set_classname("fuzz");
        suite.add_test_case(case);
    }
    let mut junit = Report::new("acmespec");
    junit.add_test_suite(suite);
    junit.to_string().unwrap_or_default()
}

/// Markdown: the campaign, the oracles, each distinct finding with its replay command,
/// and the status histogram.
pub fn to_markdown(report: &LiveReport, replay: &dyn Fn(usize, &Finding) -> String) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Live fuzzing: {}\n", report.directory_url);
    let _ = writeln!(
        md,
        "acmespec {}, seed {}, {} requests ({} minimising findings) in {:.1} s; server `{}`; {}.\n",
        report.version,
        report.seed,
        report.requests,
        report.minimisation_requests,
        report.duration_ms as f64 / 1000.0,
        report.server.as_deref().unwrap_or("-"),
        match &report.stopped {
            Some(why) => format!("**incomplete**: {why}"),
            None if report.complete => "complete".to_owned(),
            None => "**incomplete** (still running or interrupted)".to_owned(),
        }
    );
    let _ = writeln!(md, "| oracle | property | distinct findings |\n|---|---|---|");
    for (oracle, rfc) in ORACLES {
        let n = report.findings.iter().filter(|f| f.broken.oracle == oracle).count();
        let _ = writeln!(md, "| `{oracle}` | {rfc} | {n} |");
    }
    if report.findings.is_empty() {
        md.push_str("\nNo findings.\n");
    } else {
        md.push_str("\n## Findings\n\n| # | oracle | endpoint | minimal mutations | answer | seen | first request |\n|---|---|---|---|---|---|---|\n");
        for (i, f) in report.findings.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} | {} | {} |",
                i + 1,
                f.broken.oracle,
                f.endpoint,
                f.replay.mutations.join(", "),
                f.response_class,
                f.occurrences,
                f.first_request
            );
        }
        for (i, f) in report.findings.iter().enumerate() {
            let _ = writeln!(md, "\n### {}. {}\n\n{} — {}\n\n    {}", i + 1, f.key, f.broken.rfc, f.broken.detail, replay(i, f));
        }
    }
    md.push_str("\n## Answers by status\n\n| status | requests |\n|---|---|\n");
    for (status, n) in &report.statuses {
        let status = if *status == 0 { "no answer".to_owned() } else { status.to_string() };
        let _ = writeln!(md, "| {status} | {n} |");
    }
    md
}
