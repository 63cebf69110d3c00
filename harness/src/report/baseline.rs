//! Pinned verdicts: the files under `reports/baselines/` that list, for one peer, every
//! case it does not pass and why. A test compares a fresh run with them, so a change in
//! the peer, a case or the harness is noticed and the file updated on purpose. The same
//! files are the expectations of `acmespec run --expect` (see [`super::expect`]).

use crate::runner::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One pinned non-pass verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinnedVerdict {
    /// The case or scenario id.
    pub id: String,
    /// `fail`, `blocked`, `non-strict` or `unsupported`.
    pub verdict: Verdict,
    /// Why, with the RFC section.
    pub reason: String,
    /// Where the problem is tracked (a bug tracker URL), if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The 1-based line of the entry's `id` in its file (0 when not read from a file),
    /// so a complaint about the entry can point at it.
    #[serde(skip)]
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPinnedVerdict {
    id: toml::Spanned<String>,
    verdict: Verdict,
    reason: String,
    link: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    #[serde(default)]
    expect: Vec<RawPinnedVerdict>,
}

/// The body of a baseline file listing `entries` (`[[expect]]` tables), readable by
/// [`read_baseline`]; the caller puts its own comment lines above it.
pub(super) fn baseline_text(entries: &[PinnedVerdict]) -> Result<String, String> {
    #[derive(Serialize)]
    struct Out<'a> {
        expect: &'a [PinnedVerdict],
    }
    toml::to_string(&Out { expect: entries }).map_err(|e| e.to_string())
}

/// Reads a baseline file (`[[expect]]` tables of id, verdict, reason and an optional
/// link), keyed by id. Refuses what would make the comparison meaningless: a pinned
/// `pass` (unlisted cases must pass anyway) or `error` (never an accepted outcome), an
/// empty reason, a link that is not a URL, an id listed twice. Errors name the file and
/// the line.
pub fn read_baseline(path: &Path) -> Result<BTreeMap<String, PinnedVerdict>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let line_of = |offset: usize| {
        text.get(..offset)
            .map_or(1, |before| before.matches('\n').count() + 1)
    };
    let file: BaselineFile = toml::from_str(&text).map_err(|e| match e.span() {
        Some(span) => format!(
            "{}:{}: {}",
            path.display(),
            line_of(span.start),
            e.message().trim_end()
        ),
        None => format!("{}: {}", path.display(), e.message().trim_end()),
    })?;
    let mut pinned: BTreeMap<String, PinnedVerdict> = BTreeMap::new();
    for raw in file.expect {
        let line = line_of(raw.id.span().start);
        let at = format!("{}:{line}", path.display());
        let id = raw.id.into_inner();
        if matches!(raw.verdict, Verdict::Pass | Verdict::Error) {
            return Err(format!(
                "{at}: pins {id} as {}; list only fail, blocked, non-strict or unsupported",
                raw.verdict.name()
            ));
        }
        if raw.reason.trim().is_empty() {
            return Err(format!("{at}: {id} has no reason"));
        }
        if let Some(link) = &raw.link
            && url::Url::parse(link).is_err()
        {
            return Err(format!("{at}: the link of {id}, {link:?}, is not a URL"));
        }
        if let Some(first) = pinned.get(&id) {
            return Err(format!(
                "{at}: {id} is listed twice (first on line {})",
                first.line
            ));
        }
        let entry = PinnedVerdict {
            id: id.clone(),
            verdict: raw.verdict,
            reason: raw.reason,
            link: raw.link,
            line,
        };
        pinned.insert(id, entry);
    }
    Ok(pinned)
}

/// Every case of `report` whose verdict is not the one `baseline` pins (`pass` for a case
/// it does not list), and every `error`, one line each with what was expected and seen.
pub fn off_baseline(report: &crate::runner::RunReport, baseline: &BTreeMap<String, PinnedVerdict>) -> Vec<String> {
    report
        .cases
        .iter()
        .filter_map(|case| {
            let want = baseline.get(&case.id).map_or(Verdict::Pass, |e| e.verdict);
            (case.verdict != want || case.verdict == Verdict::Error).then(|| {
                let reason = baseline.get(&case.id).map(|e| format!(" [baseline: {}]", e.reason)).unwrap_or_default();
                format!(
                    "{}: got {} (expected {}): expected {:?}, observed {:?}{reason}",
                    case.id,
                    case.verdict.name(),
                    want.name(),
                    case.expected,
                    case.observed
                )
            })
        })
        .collect()
}

