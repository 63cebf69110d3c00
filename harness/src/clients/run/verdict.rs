//! A scenario's verdict from the client's outcome, the commands' exits and the checks:
//! what is the client's deviation, what is `unsupported`, and what is an `error` and
//! whose (the client's, the harness's, the adapter's, or a situation never reached).

use super::*;

pub(super) fn journal_lines(entries: &[Entry]) -> Vec<String> {
    const MAX: usize = 300;
    let mut lines: Vec<String> = entries
        .iter()
        .take(MAX)
        .map(|e| {
            let mut line = format!("#{} +{}ms {} {} -> {}", e.seq, e.at.as_millis(), e.method, e.path, e.status);
            if let Some(p) = &e.problem {
                line.push_str(&format!(" {}", p.rsplit(':').next().unwrap_or(p)));
            }
            if let Some(s) = &e.resource_status {
                line.push_str(&format!(" status={s}"));
            }
            if let Some(r) = e.retry_after {
                line.push_str(&format!(" retry-after={r}"));
            }
            if let Some(f) = &e.fault {
                line.push_str(&format!(" [fault {f}]"));
            }
            line
        })
        .collect();
    if entries.len() > MAX {
        lines.push(format!("... {} more requests", entries.len() - MAX));
    }
    lines
}

pub(super) fn level_of(check: &str) -> Option<Level> {
    all_checks().iter().find(|c| c.id == check).map(|c| c.level)
}

pub(super) fn level_name(l: Option<Level>) -> &'static str {
    match l {
        Some(Level::Must) => "MUST",
        Some(Level::Should) => "SHOULD",
        Some(Level::May) => "MAY",
        None => "unknown level",
    }
}

/// Everything a verdict is decided from.
pub(super) struct Judged {
    pub(super) verdict: Verdict,
    pub(super) cause: Option<ErrorCause>,
    pub(super) expected: Option<String>,
    pub(super) observed: Option<String>,
    pub(super) step: Option<usize>,
}

impl CommandRun {
    /// How it ended, in one line: why it could not start, or its exit status and last
    /// lines of output.
    pub(crate) fn summary(&self) -> String {
        match &self.spawn_error {
            Some(why) => why.clone(),
            None => format!("`{}` exited {}: {}", self.operation, self.exit_code.unwrap_or(-1), last_line(self)),
        }
    }
}

/// The last three non-empty lines of the command's stderr (or stdout), joined.
pub(super) fn last_line(run: &CommandRun) -> String {
    let pick = |s: &str| {
        let mut lines: Vec<&str> = s.lines().rev().map(str::trim).filter(|l| !l.is_empty()).take(3).collect();
        lines.reverse();
        (!lines.is_empty()).then(|| lines.join(" | "))
    };
    pick(&run.stderr_tail).or_else(|| pick(&run.stdout_tail)).unwrap_or_else(|| "(no output)".into())
}

pub(super) fn judge(
    scenario: &ClientScenario,
    outcome: RunOutcome,
    runs: &[CommandRun],
    checks: &[CheckResult],
    timeout: Duration,
) -> Judged {
    let step = Some(runs.len().max(1));
    let last = runs.last();
    let describe_exit = || last.map(CommandRun::summary).unwrap_or_default();
    let error = |cause, expected: &str, observed: String| Judged {
        verdict: Verdict::Error,
        cause: Some(cause),
        expected: Some(expected.into()),
        observed: Some(observed),
        step,
    };
    match outcome {
        RunOutcome::Timeout => {
            let op = last.map(|r| r.operation.as_str()).unwrap_or("?");
            return error(
                ErrorCause::Client,
                "the client finishes within the time limit",
                format!("`{op}` did not finish within {}s; its process group was killed", timeout.as_secs()),
            );
        }
        RunOutcome::Crashed => {
            let sig = last.and_then(|r| r.signal).unwrap_or(0);
            return error(ErrorCause::Client, "the client exits with a status", format!("killed by signal {sig}: {}", describe_exit()));
        }
        RunOutcome::NotStarted => {
            let why = last.and_then(|r| r.spawn_error.clone()).unwrap_or_default();
            return error(ErrorCause::Harness, "the client command starts", why);
        }
        RunOutcome::Unsupported => {
            return Judged {
                verdict: Verdict::Unsupported,
                cause: None,
                expected: Some("the client supports the operation".into()),
                observed: Some(format!("{} (exit status 127)", describe_exit())),
                step,
            };
        }
        RunOutcome::Success | RunOutcome::Failure => {}
    }
    let verdict_of = |id: &str| checks.iter().find(|c| c.id == id).map(|c| c.verdict);
    let not_reached: Vec<&str> = scenario
        .def
        .checks
        .iter()
        .filter(|id| !matches!(verdict_of(id), Some(CheckVerdict::Pass | CheckVerdict::Fail)))
        .map(String::as_str)
        .collect();
    let reached_note = if not_reached.is_empty() {
        String::new()
    } else {
        format!("; not applicable: {}", not_reached.join(", "))
    };
    let expected_outcome = scenario.def.expect_outcome;
    let got = if outcome == RunOutcome::Success { ExpectedOutcome::Success } else { ExpectedOutcome::Failure };
    let failed = |level: Level| -> Vec<&CheckResult> {
        checks
            .iter()
            .filter(|c| c.verdict == CheckVerdict::Fail && level_of(&c.id).unwrap_or(Level::Must) == level)
            .collect()
    };
    let describe = |list: &[&CheckResult]| {
        list.iter()
            .map(|c| {
                let lvl = level_name(level_of(&c.id));
                match &c.observed {
                    Some(o) => format!("{} ({lvl}): {o}", c.id),
                    None => format!("{} ({lvl})", c.id),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let must = failed(Level::Must);
    if expected_outcome != ExpectedOutcome::Any && got != expected_outcome {
        let (expected, observed) = match expected_outcome {
            ExpectedOutcome::Success => ("every client command succeeds".to_owned(), describe_exit()),
            ExpectedOutcome::Failure | ExpectedOutcome::Any => (
                "the client reports failure (non-zero exit)".to_owned(),
                "every client command exited 0: the client claimed success".to_owned(),
            ),
        };
        let should_level = scenario.def.outcome_level == Some(Level::Should);
        let verdict = if should_level && must.is_empty() { Verdict::NonStrict } else { Verdict::Fail };
        let mut observed = format!("{observed}{reached_note}");
        if !must.is_empty() {
            observed.push_str(&format!("; failed: {}", describe(&must)));
        }
        let level = if should_level { "SHOULD" } else { "MUST" };
        return Judged { verdict, cause: None, expected: Some(format!("{expected} ({level})")), observed: Some(observed), step };
    }
    if !not_reached.is_empty() {
        return error(
            ErrorCause::NotReached,
            "the client reaches the situation the scenario is about",
            format!("focus check(s) not applicable: {}", not_reached.join(", ")),
        );
    }
    if !must.is_empty() {
        return Judged {
            verdict: Verdict::Fail,
            cause: None,
            expected: Some("every MUST-level client check passes".into()),
            observed: Some(describe(&must)),
            step: None,
        };
    }
    let should = failed(Level::Should);
    if !should.is_empty() {
        return Judged {
            verdict: Verdict::NonStrict,
            cause: None,
            expected: Some("every SHOULD-level client check passes".into()),
            observed: Some(describe(&should)),
            step: None,
        };
    }
    Judged { verdict: Verdict::Pass, cause: None, expected: None, observed: None, step: None }
}

pub(super) fn harness_error(scenario: &ClientScenario, seed: u64, identifiers: Vec<String>, started: Instant, why: String) -> ClientCaseResult {
    result(
        scenario,
        seed,
        identifiers,
        started,
        Judged {
            verdict: Verdict::Error,
            cause: Some(ErrorCause::Harness),
            expected: Some("the harness sets the scenario up".into()),
            observed: Some(why),
            step: None,
        },
    )
}

pub(super) fn result(scenario: &ClientScenario, seed: u64, identifiers: Vec<String>, started: Instant, j: Judged) -> ClientCaseResult {
    let level = scenario.def.checks.iter().filter_map(|c| level_of(c)).min().unwrap_or(Level::Must);
    ClientCaseResult {
        case: CaseResult {
            blocked_by: None,
            id: scenario.def.id.clone(),
            title: scenario.def.title.clone(),
            verdict: j.verdict,
            level,
            requirements: scenario.def.requirements.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
            source: scenario.source(),
            requests: 0,
            expected: j.expected,
            observed: j.observed,
            step: j.step,
            transcript: None,
        },
        seed,
        operation: scenario.def.operation,
        challenge: scenario.def.challenge,
        identifiers,
        expect_outcome: scenario.def.expect_outcome,
        outcome: None,
        error_cause: j.cause,
        focus_checks: scenario.def.checks.clone(),
        checks: Vec::new(),
        faults_fired: Vec::new(),
        commands: Vec::new(),
        journal: None,
    }
}

/// The endpoints a scenario's faults wait on, when the client talked to the CA but
/// requested none of them.
pub(super) fn fault_endpoints_unused(scenario: &ClientScenario, entries: &[Entry]) -> Option<String> {
    let rules = scenario.def.fault_rules();
    let unused = !rules.is_empty() && !entries.is_empty() && rules.iter().all(|r| !entries.iter().any(|e| e.endpoint == r.endpoint));
    unused.then(|| {
        let mut names: Vec<String> = rules.iter().map(|r| format!("{:?}", r.endpoint)).collect();
        names.dedup();
        names.join(", ")
    })
}

/// What the journal lacks for `operation` to have happened at the CA: a client can
/// exit 0 for an operation it only noted down (a revocation queued for later).
pub(super) fn operation_unseen(operation: Operation, entries: &[Entry]) -> Option<String> {
    let count = |endpoint: Endpoint| entries.iter().filter(|e| e.endpoint == endpoint).count();
    match operation {
        Operation::Issue => None,
        Operation::Renew if count(Endpoint::NewOrder) < 2 => Some("no second newOrder reached the mock CA".into()),
        Operation::Revoke if count(Endpoint::RevokeCert) == 0 => Some("no revokeCert request reached the mock CA".into()),
        Operation::KeyRollover if count(Endpoint::KeyChange) == 0 => Some("no keyChange request reached the mock CA".into()),
        Operation::Deactivate
            if !entries.iter().any(|e| e.endpoint == Endpoint::Account && e.resource_status.as_deref() == Some("deactivated")) =>
        {
            Some("no account was deactivated at the mock CA".into())
        }
        Operation::AriRenew if count(Endpoint::RenewalInfo) == 0 => Some("no renewalInfo request reached the mock CA".into()),
        _ => None,
    }
}
