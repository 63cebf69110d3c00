//! A live campaign's results in the forms a vendor's CI keeps: JSON (the report with
//! every finding, and one replayable file per root cause), JUnit with one test case per
//! oracle, and Markdown for a pull-request comment. The human-facing forms list root
//! causes, not findings: a developer fixes causes, and one cause shows as dozens of
//! findings. Everything is rewritten as findings arrive, so an interrupted campaign
//! still leaves a readable directory.

use super::live::{Cluster, Finding, LiveReport, ORACLES};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// One cluster as saved under `findings/`: the root cause, its smallest reproducer and
/// the command that sends the reproducer again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedCluster {
    /// The command that replays the reproducer's minimal request.
    pub replay_command: String,
    /// The root cause (its `findings` are indices into `report.json`'s findings).
    pub cluster: Cluster,
    /// The finding whose minimal request reproduces it.
    pub reproducer: Finding,
}

/// The file cluster `index` is saved to, relative to the output directory. It names no
/// endpoint: a cluster spans several, and its reproducer may move to a smaller finding
/// on another while the campaign runs.
pub fn cluster_path(index: usize, cluster: &Cluster) -> PathBuf {
    PathBuf::from("findings").join(format!("{:03}-{}.json", index + 1, cluster.oracle))
}

/// `oracle cause`: the cluster's name in every report.
pub fn cluster_title(cluster: &Cluster) -> String {
    format!("{} {}", cluster.oracle, cluster.cause)
}

/// One line about a cluster: its name, how often and where it showed, and its reproducer.
pub fn describe(report: &LiveReport, cluster: &Cluster) -> String {
    let reproducer = &report.findings[cluster.reproducer];
    format!(
        "{}: {} requests, {} findings on {}, first request {}; reproducer {} [{}]: {}",
        cluster_title(cluster),
        cluster.occurrences,
        cluster.findings.len(),
        cluster.endpoints.join(", "),
        report.findings[cluster.findings[0]].first_request,
        reproducer.endpoint,
        reproducer.replay.mutations.join(", "),
        reproducer.broken.detail
    )
}

/// Writes `report.json` (every finding), `junit.xml`, `report.md`, `report.html` and
/// `findings/NNN-ORACLE.json` (one per cluster) under `dir`; `replay` gives the replay
/// command for a cluster file.
pub fn write_dir(dir: &Path, report: &LiveReport, replay: &dyn Fn(&Path) -> String) -> io::Result<()> {
    std::fs::create_dir_all(dir.join("findings"))?;
    for (i, cluster) in report.clusters.iter().enumerate() {
        let path = dir.join(cluster_path(i, cluster));
        let saved = SavedCluster { replay_command: replay(&path), cluster: cluster.clone(), reproducer: report.findings[cluster.reproducer].clone() };
        crate::report::write_json(&path, &saved)?;
    }
    crate::report::write_json(&dir.join("report.json"), report)?;
    std::fs::write(dir.join("junit.xml"), to_junit(report))?;
    let html = crate::report::to_html(&as_run_report(report), &Default::default(), &Default::default(), &crate::report::Redactor::default());
    crate::report::write_text(&dir.join("report.html"), &html)?;
    std::fs::write(dir.join("report.md"), to_markdown(report, &|i, c| replay(&dir.join(cluster_path(i, c)))))
}

/// The clusters of one oracle.
fn clusters_of<'a>(report: &'a LiveReport, oracle: &'a str) -> impl Iterator<Item = &'a Cluster> {
    report.clusters.iter().filter(move |c| c.oracle == oracle)
}

/// The campaign as a run report with one case per oracle (`fuzz/ORACLE`), failed when a
/// finding broke it, its clusters as the observation and their reproducers' exchanges
/// as the transcript: the form the HTML renderer shows a run in.
pub fn as_run_report(report: &LiveReport) -> crate::runner::RunReport {
    use crate::runner::{CaseResult, RunReport, Summary, Verdict};
    let cases: Vec<CaseResult> = ORACLES
        .iter()
        .map(|(oracle, rfc)| {
            let found: Vec<&Cluster> = clusters_of(report, oracle).collect();
            let observed = found.iter().map(|c| describe(report, c));
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
                transcript: (!found.is_empty()).then(|| found.iter().filter_map(|c| report.findings[c.reproducer].exchange.clone()).collect()),
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
        client: None,
        validation_paths: Vec::new(),
    }
}

/// JUnit XML: one test case per oracle, failed when any finding broke it, its clusters
/// as the failure.
pub fn to_junit(report: &LiveReport) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!("acmespec fuzz {}", report.directory_url));
    for (oracle, rfc) in ORACLES {
        let found: Vec<&Cluster> = clusters_of(report, oracle).collect();
        let status = if found.is_empty() {
            TestCaseStatus::success()
        } else {
            let findings: usize = found.iter().map(|c| c.findings.len()).sum();
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} root causes, {findings} distinct findings ({rfc})", found.len()));
            s.set_description(found.iter().map(|c| describe(report, c)).collect::<Vec<_>>().join("\n"));
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

/// Markdown: the campaign, the oracles, each root cause with where it showed and its
/// reproducer's replay command, and the status histogram.
pub fn to_markdown(report: &LiveReport, replay: &dyn Fn(usize, &Cluster) -> String) -> String {
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
    let _ = writeln!(md, "| oracle | property | root causes | distinct findings |\n|---|---|---|---|");
    for (oracle, rfc) in ORACLES {
        let found: Vec<&Cluster> = clusters_of(report, oracle).collect();
        let _ = writeln!(md, "| `{oracle}` | {rfc} | {} | {} |", found.len(), found.iter().map(|c| c.findings.len()).sum::<usize>());
    }
    if report.clusters.is_empty() {
        md.push_str("\nNo findings.\n");
    } else {
        md.push_str(
            "\n## Root causes\n\nEach groups the findings of one oracle that point at the same code (every finding is in `report.json`).\n\n\
             | # | oracle | cause | requests | findings | endpoints | reproducer | first request |\n|---|---|---|---|---|---|---|---|\n",
        );
        for (i, c) in report.clusters.iter().enumerate() {
            let reproducer = &report.findings[c.reproducer];
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} | {} | {} [{}] | {} |",
                i + 1,
                c.oracle,
                c.cause.replace('|', "\\|"),
                c.occurrences,
                c.findings.len(),
                c.endpoints.join(", "),
                reproducer.endpoint,
                reproducer.replay.mutations.join(", "),
                report.findings[c.findings[0]].first_request
            );
        }
        for (i, c) in report.clusters.iter().enumerate() {
            let reproducer = &report.findings[c.reproducer];
            let sets: Vec<String> = c.mutation_sets.iter().map(|m| format!("[{}]", m.join(", "))).collect();
            let _ = writeln!(
                md,
                "\n### {}. {}\n\n{} — {}\n\nSeen on {} with the minimal mutations {}.\n\n    {}",
                i + 1,
                cluster_title(c),
                reproducer.broken.rfc,
                reproducer.broken.detail,
                c.endpoints.join(", "),
                sets.join(", "),
                replay(i, c)
            );
        }
    }
    md.push_str("\n## Answers by status\n\n| status | requests |\n|---|---|\n");
    for (status, n) in &report.statuses {
        let status = if *status == 0 { "no answer".to_owned() } else { status.to_string() };
        let _ = writeln!(md, "| {status} | {n} |");
    }
    md
}
