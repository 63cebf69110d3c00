//! The mock CA is the reference implementation: clean, it passes every case; with
//! each defect switched on, exactly the cases that defect declares fail; and every
//! case is failed by at least one defect (a check that cannot fail is a defect).

use acmespec::defect_matrix::DefectMatrix;
use acmespec::runner::Verdict;
use acmespec::scenario::embedded_catalogue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_passes_clean_and_fails_under_its_defects() {
    let catalogue = embedded_catalogue().unwrap();
    let matrix = DefectMatrix::run(&catalogue, 4).await.unwrap();

    let not_passing: Vec<String> = matrix
        .clean
        .cases
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{} ({}): expected {:?}, observed {:?}", c.id, c.verdict.name(), c.expected, c.observed))
        .collect();
    assert!(not_passing.is_empty(), "the clean mock CA must pass every case:\n{}", not_passing.join("\n"));
    assert_eq!(matrix.clean.cases.len(), catalogue.cases.len());

    let uncovered = matrix.uncovered(&catalogue);
    assert!(uncovered.is_empty(), "no defect makes these cases fail (they cannot fail):\n{}", uncovered.join("\n"));

    let mismatches = matrix.declaration_mismatches();
    assert!(mismatches.is_empty(), "defects do not fail exactly what they declare:\n{}", mismatches.join("\n"));

    let blocked = matrix.blocked_mismatches();
    assert!(blocked.is_empty(), "a defect blocks cases without failing their judge:\n{}", blocked.join("\n"));

    for (defect, failing) in &matrix.broken {
        let errors: Vec<&String> = failing.iter().filter(|(_, n)| n.verdict == Verdict::Error).map(|(id, _)| id).collect();
        assert!(errors.is_empty(), "defect {} makes the harness error on {errors:?}", defect.name());
    }

    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/defect-matrix.md")).unwrap();
    assert!(
        committed == matrix.to_markdown(&catalogue),
        "reports/defect-matrix.md is stale: regenerate it with `acmespec defect-matrix --md reports/defect-matrix.md`"
    );
}

/// One root cause, one failure: a mock CA that marks challenges valid without
/// validating breaks the step every issuing case uses to set itself up. Exactly the
/// cases that judge solving fail (one per challenge type, and one per challenge type and
/// address family for ip identifiers, RFC 8738); every other case that solves is
/// blocked, naming one of them; none fails for it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_setup_step_fails_its_judge_and_blocks_the_cases_that_use_it() {
    use acmespec::mockca::Defect;
    let catalogue = embedded_catalogue().unwrap();
    let report = acmespec::defect_matrix::run_against_mock_ca(&catalogue, &[Defect::from_name("va-always-valid").unwrap()]).await.unwrap();
    let judges = [
        "rfc8555/8.3/http-01-issuance",
        "rfc8555/8.4/dns-01-issuance",
        "rfc8737/3/tls-alpn-01-issuance",
        "rfc8738/5/http-01-ipv4",
        "rfc8738/5/http-01-ipv6",
        "rfc8738/6/tls-alpn-01-ipv4",
        "rfc8738/6/tls-alpn-01-ipv6",
    ];
    let failed: Vec<&str> = report.cases.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.id.as_str()).collect();
    assert_eq!(failed, judges, "exactly the solve judges fail");
    let blocked: Vec<_> = report.cases.iter().filter(|c| c.verdict == Verdict::Blocked).collect();
    assert!(blocked.len() > 20, "the issuing cases are blocked, not passed: {} blocked", blocked.len());
    for c in &blocked {
        let by = c.blocked_by.as_deref().unwrap_or("none");
        assert!(judges.contains(&by), "{} is blocked by {by}", c.id);
        assert!(c.observed.as_deref().unwrap_or_default().contains("no validation request"), "{}: {:?}", c.id, c.observed);
    }
    // A case waiting for a failed validation sees none: the behaviour it needs is not shown.
    let others: Vec<_> =
        report.cases.iter().filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Fail | Verdict::Blocked | Verdict::Unsupported)).collect();
    assert!(others.is_empty(), "no other verdict: {:?}", others.iter().map(|c| (&c.id, c.verdict)).collect::<Vec<_>>());
}
