//! Verdicts and per-case results: the vocabulary every report speaks.

use crate::protocol::http::Exchange;
use crate::scenario::Level;
use serde::{Deserialize, Serialize};

/// The outcome of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// A MUST-level expectation did not hold.
    Fail,
    /// Only SHOULD-level expectations did not hold.
    NonStrict,
    /// The server does not offer an optional feature the case needs.
    Unsupported,
    /// A step that only sets the case up broke; the case that judges that step (named
    /// in `blocked_by`) says whether the server is at fault. Counted as a failure of
    /// the run, never as a pass.
    Blocked,
    /// The harness could not run the case (transport failure, harness bug); never a pass.
    Error,
}

impl Verdict {
    /// The lowercase name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NonStrict => "non-strict",
            Verdict::Unsupported => "unsupported",
            Verdict::Blocked => "blocked",
            Verdict::Error => "error",
        }
    }

    /// Whether this verdict makes the run's exit status non-zero.
    pub fn is_failure(self, strict: bool) -> bool {
        matches!(self, Verdict::Fail | Verdict::Blocked | Verdict::Error) || (strict && self == Verdict::NonStrict)
    }
}

/// The result of one case, as it goes into every report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    /// The case id.
    pub id: String,
    /// The case title.
    pub title: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The level the case checks.
    pub level: Level,
    /// Requirement ids.
    pub requirements: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// Where the case is defined (`server/rfc8555/7.4.toml:12`).
    pub source: String,
    /// HTTP requests the case sent (0 where not counted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests: usize,
    /// For non-pass verdicts: what the RFC requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For non-pass verdicts: what the server did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// For non-pass verdicts: the 1-based step where it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// For `blocked`: the case that judges the setup step that broke (none when no case
    /// of the catalogue judges it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// For non-pass verdicts: every HTTP exchange of the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<Exchange>>,
}

/// Verdict counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Cases run.
    pub total: usize,
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Missed a SHOULD only.
    pub non_strict: usize,
    /// Feature not offered.
    pub unsupported: usize,
    /// A setup step broke; another case judges it.
    #[serde(default)]
    pub blocked: usize,
    /// Could not be run.
    pub error: usize,
}

impl Summary {
    /// Counts the verdicts of `results`.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Self {
        let mut s = Summary::default();
        for r in results {
            s.total += 1;
            match r.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::NonStrict => s.non_strict += 1,
                Verdict::Unsupported => s.unsupported += 1,
                Verdict::Blocked => s.blocked += 1,
                Verdict::Error => s.error += 1,
            }
        }
        s
    }
}

impl Summary {
    /// How many cases got `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        match verdict {
            Verdict::Pass => self.pass,
            Verdict::Fail => self.fail,
            Verdict::NonStrict => self.non_strict,
            Verdict::Unsupported => self.unsupported,
            Verdict::Blocked => self.blocked,
            Verdict::Error => self.error,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} blocked, {} non-strict, {} unsupported, {} errors",
            self.pass, self.fail, self.blocked, self.non_strict, self.unsupported, self.error
        )
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
