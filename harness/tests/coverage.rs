//! Coverage must not drop: every requirement the committed `reports/coverage.md`
//! counts as covered must still have an expectation resting on it.

use acmespec::coverage::Coverage;
use acmespec::scenario::embedded_catalogue;
use std::collections::BTreeSet;

fn committed_uncovered(md: &str) -> BTreeSet<String> {
    md.split("## Not covered")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn coverage_does_not_drop_below_the_committed_report() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/coverage.md")).unwrap();
    let allowed = committed_uncovered(&committed);
    assert!(!allowed.is_empty() || committed.contains("## Not covered"), "cannot read reports/coverage.md");
    let catalogue = embedded_catalogue().unwrap();
    let current = Coverage::of(&catalogue);
    let lost: Vec<&str> = current.uncovered.iter().map(|r| r.id.as_str()).filter(|id| !allowed.contains(*id)).collect();
    assert!(lost.is_empty(), "requirements no expectation rests on any more: {lost:?}");
    let stale = current.to_markdown(&catalogue) != committed;
    assert!(!stale, "reports/coverage.md is stale: regenerate with `acmespec coverage --format md > reports/coverage.md`");
}

#[test]
fn every_uncovered_requirement_says_why() {
    let catalogue = embedded_catalogue().unwrap();
    let problems = Coverage::of(&catalogue).gap_problems(&catalogue);
    assert!(problems.is_empty(), "fix the `gap` notes in scenarios/requirements/:\n{}", problems.join("\n"));
}
