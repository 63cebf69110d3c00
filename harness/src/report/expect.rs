//! Expected failures that expire.
//!
//! A CA or client vendor running acmespec in CI rarely passes everything on day one. An
//! expectation file (the baseline format of [`super::read_baseline`]) lists the cases
//! known not to pass, each with the verdict it gets, why, and where the bug is tracked,
//! so the run fails only on what is new. An expectation is not a waiver: one that stops
//! holding fails the run too, so a fix is noticed and the file shrinks with it, and
//! `error` (the harness could not judge) can never be expected.

use super::baseline::{PinnedVerdict, baseline_text, read_baseline};
use crate::runner::{RunReport, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The expectations of one file.
#[derive(Debug, Clone)]
pub struct Expectations {
    path: PathBuf,
    pinned: BTreeMap<String, PinnedVerdict>,
}

/// A listed case whose verdict was neither the listed one nor a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The case id.
    pub id: String,
    /// The verdict the file lists.
    pub listed: Verdict,
    /// The verdict the run gave.
    pub got: Verdict,
}

/// How a run's verdicts compare with an expectation file.
#[derive(Debug, Clone)]
pub struct Judgement {
    path: PathBuf,
    /// Listed cases that got their listed verdict.
    pub expected: Vec<PinnedVerdict>,
    /// Listed cases that now pass: the expectation is stale.
    pub stale: Vec<String>,
    /// Listed cases that got another non-pass verdict.
    pub mismatched: Vec<Mismatch>,
    /// Unlisted cases whose verdict fails a run (fail, error; non-strict when strict).
    pub unexpected: Vec<(String, Verdict)>,
    /// Listed cases the run did not run (filtered out).
    pub not_run: Vec<String>,
}

impl Expectations {
    /// Reads an expectation file (see [`read_baseline`] for what it refuses).
    pub fn load(path: &Path) -> Result<Expectations, String> {
        Ok(Expectations {
            path: path.to_owned(),
            pinned: read_baseline(path)?,
        })
    }

    /// The listed cases by id.
    pub fn listed(&self) -> &BTreeMap<String, PinnedVerdict> {
        &self.pinned
    }

    /// Refuses ids that are not in the catalogue (`known`): a typo or a renamed case
    /// would otherwise be silently ignored as "not run". The error names every unknown
    /// id with its file and line.
    pub fn check_known<'a>(&self, known: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
        let known: BTreeSet<&str> = known.into_iter().collect();
        let mut unknown: Vec<&PinnedVerdict> = self
            .pinned
            .values()
            .filter(|e| !known.contains(e.id.as_str()))
            .collect();
        unknown.sort_by_key(|e| e.line);
        if unknown.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = unknown
            .iter()
            .map(|e| {
                format!(
                    "{}:{}: unknown case id {}",
                    self.path.display(),
                    e.line,
                    e.id
                )
            })
            .collect();
        Err(lines.join("\n"))
    }

    /// Judges a run's `(id, verdict)` list against the file; with `strict`, an unlisted
    /// non-strict verdict fails the run as it does without expectations.
    pub fn judge<'a>(
        &self,
        results: impl IntoIterator<Item = (&'a str, Verdict)>,
        strict: bool,
    ) -> Judgement {
        let mut judgement = Judgement {
            path: self.path.clone(),
            expected: Vec::new(),
            stale: Vec::new(),
            mismatched: Vec::new(),
            unexpected: Vec::new(),
            not_run: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        for (id, got) in results {
            seen.insert(id);
            match self.pinned.get(id) {
                Some(listed) if got == listed.verdict => judgement.expected.push(listed.clone()),
                Some(_) if got == Verdict::Pass => judgement.stale.push(id.to_owned()),
                Some(listed) => judgement.mismatched.push(Mismatch {
                    id: id.to_owned(),
                    listed: listed.verdict,
                    got,
                }),
                None if got.is_failure(strict) => judgement.unexpected.push((id.to_owned(), got)),
                None => {}
            }
        }
        judgement.not_run = self
            .pinned
            .keys()
            .filter(|id| !seen.contains(id.as_str()))
            .cloned()
            .collect();
        judgement
    }
}

impl Judgement {
    /// Whether the run is acceptable: every listed case got its verdict or did not run,
    /// and nothing unlisted failed.
    pub fn passed(&self) -> bool {
        self.stale.is_empty() && self.mismatched.is_empty() && self.unexpected.is_empty()
    }
}

impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.path.display();
        for e in &self.expected {
            write!(
                f,
                "{:<11} {} ({}): {}",
                "EXPECTED",
                e.id,
                e.verdict.name(),
                e.reason
            )?;
            match &e.link {
                Some(link) => writeln!(f, " <{link}>")?,
                None => writeln!(f)?,
            }
        }
        for id in &self.stale {
            writeln!(
                f,
                "{:<11} stale expectation: {id} now passes; remove it from {file}",
                "STALE"
            )?;
        }
        for m in &self.mismatched {
            writeln!(
                f,
                "{:<11} {}: expected {}, got {} ({file})",
                "MISMATCH",
                m.id,
                m.listed.name(),
                m.got.name()
            )?;
        }
        for (id, got) in &self.unexpected {
            writeln!(
                f,
                "{:<11} {id}: {} and not listed in {file}",
                "UNEXPECTED",
                got.name()
            )?;
        }
        if !self.not_run.is_empty() {
            // One line: a filtered run of a long file would otherwise bury the verdicts.
            const SHOWN: usize = 5;
            let mut names = self
                .not_run
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if self.not_run.len() > SHOWN {
                names.push_str(&format!(" and {} more", self.not_run.len() - SHOWN));
            }
            writeln!(
                f,
                "ignored {} listed case(s) that did not run (filtered out): {names}",
                self.not_run.len()
            )?;
        }
        writeln!(
            f,
            "expectations {file}: {} expected, {} stale, {} mismatched, {} unexpected: {}",
            self.expected.len(),
            self.stale.len(),
            self.mismatched.len(),
            self.unexpected.len(),
            if self.passed() { "ok" } else { "FAILED" }
        )
    }
}

/// A starting expectation file for the run `report` (read from `source`): every
/// non-pass case with its verdict and a placeholder reason quoting what was observed,
/// to be edited. `error` verdicts are left out (an error must be fixed, not expected);
/// their ids are returned beside the text.
pub fn starting_expectations(
    report: &RunReport,
    source: &Path,
) -> Result<(String, Vec<String>), String> {
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    for case in &report.cases {
        match case.verdict {
            Verdict::Pass => {}
            Verdict::Error => errors.push(case.id.clone()),
            verdict => entries.push(PinnedVerdict {
                id: case.id.clone(),
                verdict,
                reason: format!(
                    "TODO: why — observed: {}",
                    first_line(case.observed.as_deref().unwrap_or("(nothing)"))
                ),
                link: None,
                line: 0,
            }),
        }
    }
    let mut text = format!(
        "# Expected non-pass verdicts, for `acmespec run --expect` (or `acmespec clients --expect`).\n\
         # Started from {} ({}, acmespec {}, {}{}).\n\
         # Replace each TODO with why the case does not pass (RFC section) and add link = \"<bug URL>\";\n\
         # remove an entry once its case passes (the run fails until you do).\n\n",
        source.display(),
        report.directory_url,
        report.version,
        report.started_at,
        if report.complete {
            ""
        } else {
            "; incomplete run: cases that did not finish are not listed"
        },
    );
    text.push_str(&baseline_text(&entries)?);
    Ok((text, errors))
}

/// The first line of `text`, cut at 200 characters: enough to recognise an observation
/// in a one-line listing.
pub(super) fn first_line(text: &str) -> String {
    const MAX: usize = 200;
    let line = text.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("expect.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const FILE: &str = "[[expect]]\nid = \"a\"\nverdict = \"fail\"\nreason = \"r\"\nlink = \"https://bugs.example/1\"\n\n\
                        [[expect]]\nid = \"b\"\nverdict = \"non-strict\"\nreason = \"r\"\n\n\
                        [[expect]]\nid = \"c\"\nverdict = \"unsupported\"\nreason = \"r\"\n\n\
                        [[expect]]\nid = \"d\"\nverdict = \"fail\"\nreason = \"r\"\n";

    #[test]
    fn each_outcome_is_judged_by_its_rule() {
        let dir = tempfile::tempdir().unwrap();
        let expectations = Expectations::load(&write(dir.path(), FILE)).unwrap();
        let results = [
            ("a", Verdict::Fail),
            ("b", Verdict::Pass),
            ("c", Verdict::Error),
            ("e", Verdict::Fail),
            ("f", Verdict::NonStrict),
            ("g", Verdict::Unsupported),
        ];
        let j = expectations.judge(results, false);
        assert_eq!(
            j.expected.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(
            j.expected[0].link.as_deref(),
            Some("https://bugs.example/1")
        );
        assert_eq!(j.stale, ["b"]);
        assert_eq!(
            j.mismatched,
            [Mismatch {
                id: "c".into(),
                listed: Verdict::Unsupported,
                got: Verdict::Error
            }]
        );
        assert_eq!(j.unexpected, [("e".to_owned(), Verdict::Fail)]);
        assert_eq!(j.not_run, ["d"]);
        assert!(!j.passed());
        let text = j.to_string();
        assert!(
            text.contains("stale expectation: b now passes; remove it from"),
            "{text}"
        );
        assert!(
            text.contains("c: expected unsupported, got error"),
            "{text}"
        );
        assert!(
            text.contains("ignored 1 listed case(s) that did not run (filtered out): d"),
            "{text}"
        );
        let strict = expectations.judge(results, true);
        assert_eq!(
            strict.unexpected,
            [
                ("e".to_owned(), Verdict::Fail),
                ("f".to_owned(), Verdict::NonStrict)
            ]
        );
    }

    #[test]
    fn a_run_matching_its_expectations_passes() {
        let dir = tempfile::tempdir().unwrap();
        let expectations = Expectations::load(&write(dir.path(), FILE)).unwrap();
        let j = expectations.judge(
            [
                ("a", Verdict::Fail),
                ("b", Verdict::NonStrict),
                ("x", Verdict::Pass),
            ],
            true,
        );
        assert!(j.passed(), "{j}");
        assert_eq!(j.expected.len(), 2);
        assert_eq!(j.not_run, ["c", "d"]);
    }

    /// A blocked case can be pinned (its root cause is known) and is then not a failure;
    /// unlisted, it fails the run, and pinned as blocked but failing now is a mismatch.
    #[test]
    fn blocked_cases_are_pinned_like_failures() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[expect]]\nid = \"a\"\nverdict = \"blocked\"\nreason = \"setup judged by b\"\n";
        let expectations = Expectations::load(&write(dir.path(), text)).unwrap();
        assert!(expectations.judge([("a", Verdict::Blocked)], false).passed());
        let j = expectations.judge([("a", Verdict::Fail), ("c", Verdict::Blocked)], false);
        assert!(!j.passed(), "{j}");
        assert_eq!(j.unexpected, [("c".to_owned(), Verdict::Blocked)]);
        assert_eq!(j.mismatched.len(), 1, "{j}");
    }

    #[test]
    fn unknown_ids_are_named_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), FILE);
        let expectations = Expectations::load(&path).unwrap();
        let err = expectations.check_known(["a", "b", "c"]).unwrap_err();
        assert_eq!(err, format!("{}:18: unknown case id d", path.display()));
        assert!(expectations.check_known(["a", "b", "c", "d", "e"]).is_ok());
    }

    #[test]
    fn bad_files_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "[[expect]]\nid = \"a\"\nverdict = \"fial\"\nreason = \"r\"\n",
                ":3: unknown variant `fial`",
            ),
            (
                "[[expect]]\nid = \"a\"\nverdict = \"error\"\nreason = \"r\"\n",
                ":2: pins a as error",
            ),
            (
                "[[expect]]\nid = \"a\"\nverdict = \"pass\"\nreason = \"r\"\n",
                ":2: pins a as pass",
            ),
            (
                "\n[[expect]]\nid = \"a\"\nverdict = \"fail\"\nreason = \" \"\n",
                ":3: a has no reason",
            ),
            (
                "[[expect]]\nid = \"a\"\nverdict = \"fail\"\nreason = \"r\"\nlink = \"bug 12\"\n",
                ":2: the link of a, \"bug 12\", is not a URL",
            ),
            (
                "[[expect]]\nid = \"a\"\nverdict = \"fail\"\nreason = \"r\"\n[[expect]]\nid = \"a\"\nverdict = \"fail\"\nreason = \"r\"\n",
                ":6: a is listed twice (first on line 2)",
            ),
            (
                "[[expect]]\nid = \"a\"\nverdict = \"fail\"\nreason = \"r\"\nwhy = 1\n",
                ":5: unknown field `why`",
            ),
        ];
        for (text, want) in cases {
            let path = write(dir.path(), text);
            let err = Expectations::load(&path).unwrap_err();
            assert!(
                err.starts_with(&path.display().to_string()) && err.contains(want),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn a_starting_file_reads_back_and_leaves_errors_out() {
        use crate::runner::CaseResult;
        let cases = vec![
            CaseResult::bare("p", Verdict::Pass, None),
            CaseResult::bare("f", Verdict::Fail, Some("200 \"quoted\"\nsecond line")),
            CaseResult::bare("n", Verdict::NonStrict, None),
            CaseResult::bare("e", Verdict::Error, Some("connection refused")),
        ];
        let report = RunReport::of_cases(cases, false);
        let (text, errors) = starting_expectations(&report, Path::new("run.json")).unwrap();
        assert_eq!(errors, ["e"]);
        assert!(text.contains("incomplete run"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let expectations = Expectations::load(&write(dir.path(), &text)).unwrap();
        let listed: Vec<_> = expectations
            .pinned
            .values()
            .map(|e| (e.id.as_str(), e.verdict, e.reason.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("f", Verdict::Fail, "TODO: why — observed: 200 \"quoted\""),
                ("n", Verdict::NonStrict, "TODO: why — observed: (nothing)")
            ]
        );
        let j = expectations.judge(
            report.cases.iter().map(|c| (c.id.as_str(), c.verdict)),
            false,
        );
        assert_eq!((j.expected.len(), j.mismatched.len()), (2, 0));
        assert_eq!(j.unexpected, [("e".to_owned(), Verdict::Error)]);
    }
}
