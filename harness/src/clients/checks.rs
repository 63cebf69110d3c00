//! Client checks: the client-side requirements of RFC 8555 (and RFC 8737 / 9773),
//! judged from the mock CA's journal of what a client sent and how it reacted.
//!
//! (Being written: the API below is fixed, the check bodies are placeholders.)

use crate::mockca::Entry;
use crate::scenario::Level;
use serde::{Deserialize, Serialize};

/// The verdict of one check on one client run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckVerdict {
    /// The client met the requirement every time it applied.
    Pass,
    /// The client broke the requirement at least once.
    Fail,
    /// The run gave the check nothing to judge (e.g. no badNonce was ever sent).
    NotApplicable,
}

/// What a check is, independent of any run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    /// Stable id, `client/6.5/retries-bad-nonce`.
    pub id: &'static str,
    /// One line saying what the client must do.
    pub title: &'static str,
    /// The level of the requirement.
    pub level: Level,
    /// Requirement ids from the catalogue.
    pub requirements: &'static [&'static str],
}

/// One check's outcome on one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check id.
    pub id: String,
    /// The verdict.
    pub verdict: CheckVerdict,
    /// For failures: what the client did, naming the request(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// Journal positions of the requests that decided the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<usize>,
}

/// What a check needs besides the journal.
#[derive(Debug, Clone)]
pub struct GradeContext<'a> {
    /// Every request of the run, in order.
    pub entries: &'a [Entry],
    /// The mock CA's base URL (`https://127.0.0.1:PORT`), to rebuild request URLs.
    pub base_url: &'a str,
}

/// Every check, in a stable order.
pub fn all_checks() -> &'static [CheckInfo] {
    &[]
}

/// Grades one run with every check.
pub fn grade(_ctx: &GradeContext<'_>) -> Vec<CheckResult> {
    Vec::new()
}
