//! A run killed halfway still leaves its finished cases on disk: the JSON Lines stream
//! reads back as an incomplete report, and `acmespec report` renders it as one.

use acmespec::report::read_results;
use acmespec::runner::Verdict;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_killed_run_leaves_an_incomplete_report_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("run.jsonl");
    let acmespec = env!("CARGO_BIN_EXE_acmespec");
    let mut child = Command::new(acmespec)
        .args(["run", "--concurrency", "1", "--jsonl", stream.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let case_lines = || std::fs::read_to_string(&stream).map(|t| t.matches("\"type\":\"case\"").count()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while case_lines() < 5 {
        assert!(Instant::now() < deadline, "the run wrote fewer than 5 cases in 120 s");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let report = read_results(&stream).unwrap();
    assert!(!report.complete && report.finished_at.is_none());
    assert!(report.cases.len() >= 5 && report.cases.len() < 150, "{} cases", report.cases.len());
    assert!(report.cases.iter().all(|c| c.verdict == Verdict::Pass), "the clean mock CA passes every case");
    assert_eq!(report.summary.pass, report.cases.len());

    let rendered = Command::new(acmespec).args(["report", stream.to_str().unwrap(), "--format", "md"]).output().unwrap();
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let md = String::from_utf8_lossy(&rendered.stdout);
    assert!(md.contains("incomplete"), "{md}");
    assert!(md.contains(&format!("{} passed, 0 failed", report.cases.len())), "{md}");
}
