//! What changed between two saved runs, for a release note or a CI gate.
//!
//! Verdicts are ranked pass < non-strict = unsupported < fail = error: a case whose
//! rank rose is a regression. So every pass that no longer passes regresses, and so
//! does a SHOULD miss or an unoffered feature that turns into a MUST failure or an
//! error; fail → error (or back) is listed as a change but is not one, both being as bad
//! as a verdict gets. Cases only in the new run are new coverage, not regressions, and
//! cases gone from it are listed without judging them: a catalogue change or a filter
//! explains them, which a reader sees better than a rule.

use super::expect::first_line;
use crate::runner::{RunReport, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One of the two runs compared.
#[derive(Debug, Clone)]
pub struct RunSide {
    /// How the user named it (the file path).
    pub label: String,
    /// The directory URL tested (for a client run, `client NAME`).
    pub directory_url: String,
    /// acmespec's version.
    pub version: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// False when the run was cut short.
    pub complete: bool,
    /// The verdict counts, as printed.
    pub summary: String,
}

/// A case whose verdict differs between the runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    /// The case id.
    pub id: String,
    /// The verdict in the old run.
    pub old: Verdict,
    /// The verdict in the new run.
    pub new: Verdict,
    /// The first line of what the new run observed, for non-pass verdicts.
    pub observed: Option<String>,
}

impl VerdictChange {
    /// Whether the verdict got worse (see the module docs for the order).
    pub fn is_regression(&self) -> bool {
        rank(self.new) > rank(self.old)
    }
}

/// The differences between two runs, in the new run's case order (removed cases in the
/// old run's).
#[derive(Debug, Clone)]
pub struct RunDiff {
    /// The old run.
    pub old: RunSide,
    /// The new run.
    pub new: RunSide,
    /// Passed before, do not now.
    pub newly_failing: Vec<VerdictChange>,
    /// Did not pass before, do now.
    pub newly_passing: Vec<VerdictChange>,
    /// Other verdict changes (fail → error, non-strict → fail, ...).
    pub changed: Vec<VerdictChange>,
    /// Cases only in the new run, with their verdict.
    pub added: Vec<(String, Verdict)>,
    /// Cases only in the old run, with their verdict there.
    pub removed: Vec<(String, Verdict)>,
}

fn rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass => 0,
        Verdict::NonStrict | Verdict::Unsupported => 1,
        Verdict::Fail | Verdict::Blocked | Verdict::Error => 2,
    }
}

fn side(label: &str, report: &RunReport) -> RunSide {
    RunSide {
        label: label.to_owned(),
        directory_url: report.directory_url.clone(),
        version: report.version.clone(),
        started_at: report.started_at.clone(),
        complete: report.complete,
        summary: crate::runner::Summary::of(&report.cases).to_string(),
    }
}

impl RunDiff {
    /// Compares `old` (named `old_label`) with `new` (named `new_label`).
    pub fn of(old_label: &str, old: &RunReport, new_label: &str, new: &RunReport) -> RunDiff {
        let before: BTreeMap<&str, Verdict> = old
            .cases
            .iter()
            .map(|c| (c.id.as_str(), c.verdict))
            .collect();
        let after: BTreeMap<&str, Verdict> = new
            .cases
            .iter()
            .map(|c| (c.id.as_str(), c.verdict))
            .collect();
        let mut diff = RunDiff {
            old: side(old_label, old),
            new: side(new_label, new),
            newly_failing: Vec::new(),
            newly_passing: Vec::new(),
            changed: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
        };
        for case in &new.cases {
            let Some(&was) = before.get(case.id.as_str()) else {
                diff.added.push((case.id.clone(), case.verdict));
                continue;
            };
            if was == case.verdict {
                continue;
            }
            let change = VerdictChange {
                id: case.id.clone(),
                old: was,
                new: case.verdict,
                observed: case
                    .observed
                    .as_deref()
                    .filter(|_| case.verdict != Verdict::Pass)
                    .map(first_line),
            };
            match (was, case.verdict) {
                (Verdict::Pass, _) => diff.newly_failing.push(change),
                (_, Verdict::Pass) => diff.newly_passing.push(change),
                _ => diff.changed.push(change),
            }
        }
        diff.removed = old
            .cases
            .iter()
            .filter(|c| !after.contains_key(c.id.as_str()))
            .map(|c| (c.id.clone(), c.verdict))
            .collect();
        diff
    }

    /// The changes that made a verdict worse.
    pub fn regressions(&self) -> impl Iterator<Item = &VerdictChange> {
        self.newly_failing
            .iter()
            .chain(&self.changed)
            .filter(|c| c.is_regression())
    }

    /// Whether any verdict got worse.
    pub fn regressed(&self) -> bool {
        self.regressions().next().is_some()
    }

    fn incomplete_notes(&self) -> Vec<String> {
        [("old", &self.old), ("new", &self.new)]
            .into_iter()
            .filter(|(_, s)| !s.complete)
            .map(|(which, s)| {
                format!(
                    "the {which} run ({}) is incomplete: cases it did not finish show up as {}",
                    s.label,
                    if which == "old" { "new" } else { "removed" }
                )
            })
            .collect()
    }

    /// The non-empty sections, each line split into the case id and what follows it.
    fn sections(&self) -> Vec<(&'static str, Vec<(&str, String)>)> {
        let sections = [
            (
                "Newly failing",
                self.newly_failing.iter().map(change_line).collect(),
            ),
            (
                "Newly passing",
                self.newly_passing.iter().map(change_line).collect(),
            ),
            (
                "Other verdict changes",
                self.changed.iter().map(change_line).collect(),
            ),
            ("New cases", listing_lines(&self.added, "")),
            ("Removed cases", listing_lines(&self.removed, "was ")),
        ];
        sections
            .into_iter()
            .filter(|(_, lines)| !lines.is_empty())
            .collect()
    }

    fn closing_line(&self) -> String {
        match self.regressions().count() {
            0 => "no regressions".to_owned(),
            n => format!("{n} regression(s)"),
        }
    }

    /// The plain-text summary `acmespec diff` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (which, s) in [("old", &self.old), ("new", &self.new)] {
            let _ = writeln!(
                out,
                "{which}: {} ({}, acmespec {}, {}): {}",
                s.label, s.directory_url, s.version, s.started_at, s.summary
            );
        }
        for note in self.incomplete_notes() {
            let _ = writeln!(out, "note: {note}");
        }
        for (title, lines) in self.sections() {
            let _ = writeln!(out, "{} ({}):", title.to_lowercase(), lines.len());
            for (id, rest) in lines {
                let _ = writeln!(out, "    {id}{rest}");
            }
        }
        let _ = writeln!(out, "{}", self.closing_line());
        out
    }

    /// The same as Markdown, for a release note.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("## Conformance changes\n\n| | Old | New |\n|---|---|---|\n");
        let row = |name: &str, f: &dyn Fn(&RunSide) -> String| {
            format!("| {name} | {} | {} |\n", f(&self.old), f(&self.new))
        };
        out.push_str(&row("Results", &|s| format!("`{}`", s.label)));
        out.push_str(&row("Tested", &|s| format!("`{}`", s.directory_url)));
        out.push_str(&row("acmespec", &|s| s.version.clone()));
        out.push_str(&row("Started", &|s| s.started_at.clone()));
        out.push_str(&row("Verdicts", &|s| {
            format!(
                "{}{}",
                s.summary,
                if s.complete { "" } else { " (incomplete)" }
            )
        }));
        for note in self.incomplete_notes() {
            let _ = write!(out, "\n> **Note:** {note}.\n");
        }
        for (title, lines) in self.sections() {
            let _ = write!(out, "\n### {title} ({})\n\n", lines.len());
            for (id, rest) in lines {
                let _ = writeln!(out, "- `{id}`{}", markdown_escape(&rest));
            }
        }
        let _ = write!(out, "\n**{}**\n", self.closing_line());
        out
    }
}

fn change_line(c: &VerdictChange) -> (&str, String) {
    let mut rest = format!(": {} → {}", c.old.name(), c.new.name());
    // Every newly failing case regresses; among the other changes it needs saying.
    if c.is_regression() && c.old != Verdict::Pass {
        rest.push_str(" (regression)");
    }
    if let Some(o) = &c.observed {
        let _ = write!(rest, " — observed: {o}");
    }
    (c.id.as_str(), rest)
}

fn listing_lines<'a>(cases: &'a [(String, Verdict)], prefix: &str) -> Vec<(&'a str, String)> {
    cases
        .iter()
        .map(|(id, v)| (id.as_str(), format!(" ({prefix}{})", v.name())))
        .collect()
}

/// `text` with the characters Markdown would read as markup backslash-escaped, so an
/// observed server message shows as written.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::CaseResult;

    fn report(cases: &[(&str, Verdict)], complete: bool) -> RunReport {
        let observed = |id: &str, verdict| (verdict != Verdict::Pass).then(|| format!("{id} observed | twice\nmore"));
        let cases = cases.iter().map(|&(id, verdict)| CaseResult::bare(id, verdict, observed(id, verdict).as_deref())).collect();
        RunReport::of_cases(cases, complete)
    }

    fn ids(changes: &[VerdictChange]) -> Vec<(&str, Verdict, Verdict)> {
        changes
            .iter()
            .map(|c| (c.id.as_str(), c.old, c.new))
            .collect()
    }

    /// A case that was blocked and passes now is newly passing; one that passed and is
    /// blocked now is a regression, like a new failure.
    #[test]
    fn blocked_ranks_with_failures() {
        use Verdict::*;
        let old = report(&[("a", Blocked), ("b", Pass), ("c", Fail)], true);
        let new = report(&[("a", Pass), ("b", Blocked), ("c", Blocked)], true);
        let diff = RunDiff::of("old.json", &old, "new.json", &new);
        assert_eq!(ids(&diff.newly_passing), [("a", Blocked, Pass)]);
        assert_eq!(ids(&diff.newly_failing), [("b", Pass, Blocked)]);
        assert_eq!(ids(&diff.changed), [("c", Fail, Blocked)]);
    }

    #[test]
    fn changes_are_sorted_and_ranked() {
        use Verdict::*;
        let old = report(
            &[
                ("a", Pass),
                ("b", Fail),
                ("c", Fail),
                ("d", NonStrict),
                ("e", Unsupported),
                ("f", Pass),
                ("gone", Fail),
                ("g", Error),
            ],
            true,
        );
        let new = report(
            &[
                ("a", Unsupported),
                ("b", Pass),
                ("c", Error),
                ("d", Fail),
                ("e", NonStrict),
                ("f", Pass),
                ("g", Fail),
                ("fresh", Fail),
            ],
            true,
        );
        let diff = RunDiff::of("old.json", &old, "new.json", &new);
        assert_eq!(ids(&diff.newly_failing), [("a", Pass, Unsupported)]);
        assert_eq!(ids(&diff.newly_passing), [("b", Fail, Pass)]);
        assert_eq!(
            ids(&diff.changed),
            [
                ("c", Fail, Error),
                ("d", NonStrict, Fail),
                ("e", Unsupported, NonStrict),
                ("g", Error, Fail)
            ]
        );
        assert_eq!(diff.added, [("fresh".to_owned(), Fail)]);
        assert_eq!(diff.removed, [("gone".to_owned(), Fail)]);
        assert_eq!(
            diff.regressions()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "d"]
        );
        let text = diff.to_text();
        assert!(
            text.contains(
                "newly failing (1):\n    a: pass → unsupported — observed: a observed | twice\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("    d: non-strict → fail (regression) — observed"),
            "{text}"
        );
        assert!(
            text.contains("    e: unsupported → non-strict — observed"),
            "{text}"
        );
        assert!(
            text.contains("removed cases (1):\n    gone (was fail)\n"),
            "{text}"
        );
        assert!(text.ends_with("2 regression(s)\n"), "{text}");
        let md = diff.to_markdown();
        assert!(md.contains("### Newly failing (1)\n\n- `a`: pass → unsupported — observed: a observed \\| twice\n"), "{md}");
        assert!(
            md.contains("### New cases (1)\n\n- `fresh` (fail)\n"),
            "{md}"
        );
        assert!(md.ends_with("**2 regression(s)**\n"), "{md}");
    }

    #[test]
    fn improvements_alone_are_not_regressions_and_incomplete_runs_are_marked() {
        use Verdict::*;
        let old = report(&[("a", Fail), ("b", Pass)], true);
        let new = report(&[("a", Pass)], false);
        let diff = RunDiff::of("old.json", &old, "new.jsonl", &new);
        assert!(!diff.regressed());
        assert_eq!(diff.removed, [("b".to_owned(), Pass)]);
        let text = diff.to_text();
        assert!(text.contains("note: the new run (new.jsonl) is incomplete: cases it did not finish show up as removed"), "{text}");
        assert!(text.ends_with("no regressions\n"), "{text}");
        assert!(diff.to_markdown().contains("(incomplete)"));
    }
}
