//! Pinned verdicts: the files under `reports/baselines/` that list, for one peer, every
//! case it does not pass and why. A test compares a fresh run with them, so a change in
//! the peer, a case or the harness is noticed and the file updated on purpose.

use crate::runner::Verdict;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One pinned non-pass verdict.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedVerdict {
    /// The case or scenario id.
    pub id: String,
    /// `fail`, `non-strict` or `unsupported`.
    pub verdict: Verdict,
    /// Why, with the RFC section.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    #[serde(default)]
    expect: Vec<PinnedVerdict>,
}

/// Reads a baseline file (`[[expect]]` tables of id, verdict, reason), keyed by id.
/// Refuses what would make the comparison meaningless: a pinned `pass` (unlisted cases
/// must pass anyway) or `error` (never an accepted outcome), an empty reason, an id
/// listed twice.
pub fn read_baseline(path: &Path) -> Result<BTreeMap<String, PinnedVerdict>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: BaselineFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut pinned = BTreeMap::new();
    for e in file.expect {
        if matches!(e.verdict, Verdict::Pass | Verdict::Error) {
            return Err(format!("{}: pins {} as {}; list only fail, non-strict or unsupported", path.display(), e.id, e.verdict.name()));
        }
        if e.reason.trim().is_empty() {
            return Err(format!("{}: {} has no reason", path.display(), e.id));
        }
        let id = e.id.clone();
        if pinned.insert(id.clone(), e).is_some() {
            return Err(format!("{}: {id} is listed twice", path.display()));
        }
    }
    Ok(pinned)
}
