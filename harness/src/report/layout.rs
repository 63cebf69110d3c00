//! The order in which a human-readable report says things, written once for every markup.
//!
//! The Markdown and the HTML report must say the same things in the same order: a reviewer
//! who reads the Markdown comment and then opens the HTML page may not find a case, a
//! requirement or a blocked group missing from either. [`render`] walks the [`View`] once;
//! a format only answers, through [`Markup`], how a heading, a list item or a badge is
//! written and how text from the server is kept from becoming markup.
//!
//! Every `&str` a [`Markup`] method takes is markup already, except case ids and what its
//! doc calls text: the walk escapes what the run supplied with [`Markup::text`] or
//! [`Markup::code`], so that no format can forget to.

use super::baseline::PinnedVerdict;
use super::redact::Redactor;
use super::view::{VERDICTS, View, header};
use crate::runner::{RunReport, Verdict};
use crate::scenario::Requirement;
use std::collections::BTreeMap;

/// A part of the report that holds other parts.
pub(super) enum Container<'a> {
    /// The header's facts about the run.
    Facts,
    /// A list of items.
    List,
    /// The per-section verdict counts.
    Matrix,
    /// One case that did not pass, the target of links to `id`.
    Case { verdict: Verdict, id: &'a str },
    /// The cases one root cause blocked.
    BlockedGroup,
    /// Content folded away under a `summary` (markup).
    Fold { summary: &'a str },
}

/// How one format writes each piece of a report.
pub(super) trait Markup {
    /// Whether "Cases that did not pass (0)" heads a report whose non-passes are all blocked.
    const HEADS_NO_CASES_THAT_DID_NOT_PASS: bool;

    /// Text from the run, shown as it is.
    fn text(&self, text: &str) -> String;
    /// Text from the run, shown as code.
    fn code(&self, text: &str) -> String;
    fn strong(&self, content: &str) -> String;
    /// The word that flags a run as cut short.
    fn incomplete(&self) -> String;
    /// A text label in `verdict`'s colours.
    fn badge(&self, verdict: Verdict, label: &str) -> String;
    /// A verdict that heads what it judges.
    fn verdict(&self, verdict: Verdict) -> String;
    /// A verdict that follows what it judges.
    fn verdict_aside(&self, verdict: Verdict) -> String;
    /// `content` leading to the case `id` shown elsewhere in the report.
    fn link(&self, id: &str, content: &str) -> String;

    /// Starts the document; `title` is text.
    fn begin(&mut self, title: &str);
    fn heading(&mut self, level: usize, content: &str);
    fn paragraph(&mut self, content: &str);
    /// The verdict counts (one badge each) for `cases` cases.
    fn summary(&mut self, counts: &str, cases: usize);
    fn open(&mut self, container: &Container<'_>);
    fn close(&mut self, container: &Container<'_>);
    /// One of the [`Container::Facts`].
    fn fact(&mut self, term: &str, value: &str);
    fn labelled_item(&mut self, label: &str, value: &str);
    /// An item holding a list of `values`.
    fn labelled_items(&mut self, label: &str, values: &[String]);
    /// An item that is the target of links to `id`.
    fn anchored_item(&mut self, id: &str, content: &str);
    /// The [`Container::Matrix`]'s first row: `corner` above the row labels, then `columns`.
    fn matrix_head(&mut self, corner: &str, columns: &[&str]);
    fn matrix_row(&mut self, label: &str, counts: &[(Verdict, usize)]);
    /// Plain-text listings (transcripts), shown as they are.
    fn listings(&mut self, texts: &[String]);
    /// Ends the document and hands it over.
    fn finish(self) -> String;

    /// Writes `body` inside `container`.
    fn within(&mut self, container: Container<'_>, body: impl FnOnce(&mut Self))
    where
        Self: Sized,
    {
        self.open(&container);
        body(self);
        self.close(&container);
    }
}

/// Renders `report` with `out`; `requirements` (the catalogue's) give each cited
/// requirement its paraphrase, `known` the reasons of known non-passes, `redactor` hides
/// secrets in what the server sent.
pub(super) fn render<M: Markup>(
    mut out: M,
    report: &RunReport,
    requirements: &BTreeMap<String, Requirement>,
    known: &BTreeMap<String, PinnedVerdict>,
    redactor: &Redactor,
) -> String {
    let view = View::of(report, requirements, known, redactor);
    let ((subject, subject_is_code), facts) = header(report);
    out.begin(&format!("acmespec report: {subject}"));
    let subject = if subject_is_code { out.code(&subject) } else { out.text(&subject) };
    out.heading(1, &format!("acmespec report: {subject}"));
    let counts: Vec<String> = VERDICTS
        .iter()
        .map(|&verdict| out.badge(verdict, &format!("{} {}", view.summary.count(verdict), plural_label(verdict))))
        .collect();
    out.summary(&counts.join(", "), view.summary.total);
    out.within(Container::Facts, |out| {
        for f in facts {
            let value = if f.code { out.code(&f.value) } else { out.text(&f.value) };
            out.fact(f.term, &value);
        }
        let complete = if report.complete {
            "yes".to_owned()
        } else {
            format!("{}: {}", out.incomplete(), out.text(&view.incomplete_note()))
        };
        out.fact("Complete", &complete);
    });

    out.heading(2, "Verdicts by RFC section");
    out.within(Container::Matrix, |out| {
        out.matrix_head("Section", &VERDICTS.map(Verdict::name));
        for row in &view.sections {
            let counts: Vec<(Verdict, usize)> = VERDICTS.into_iter().zip(row.counts).collect();
            out.matrix_row(&out.text(&row.section), &counts);
        }
    });

    if !view.not_passed.is_empty() || (M::HEADS_NO_CASES_THAT_DID_NOT_PASS && !view.blocked.is_empty()) {
        out.heading(2, &format!("Cases that did not pass ({})", view.not_passed.len()));
    }
    for case in &view.not_passed {
        let c = case.result;
        out.within(Container::Case { verdict: c.verdict, id: &c.id }, |out| {
            out.heading(3, &format!("{} {}", out.verdict(c.verdict), out.code(&c.id)));
            out.paragraph(&format!("{} ({})", out.strong(&out.text(&c.title)), case.level));
            out.within(Container::List, |out| {
                let requirements: Vec<String> = case
                    .requirements
                    .iter()
                    .map(|(id, paraphrase)| {
                        let paraphrase = paraphrase.map_or_else(|| "(not in the catalogue)".to_owned(), |p| out.text(p));
                        format!("{}: {paraphrase}", out.code(id))
                    })
                    .collect();
                out.labelled_items("Requirements", &requirements);
                for (label, value) in [("Expected", &case.expected), ("Observed", &case.observed), ("Known", &case.known)] {
                    if let Some(value) = value {
                        out.labelled_item(label, &out.text(value));
                    }
                }
                if !case.blocks.is_empty() {
                    let ids: Vec<String> = case.blocks.iter().map(|id| out.link(id, &out.code(id))).collect();
                    out.labelled_item(&format!("Blocks {}", ids.len()), &ids.join(", "));
                }
                let step = c.step.map(|s| format!(", step {s}")).unwrap_or_default();
                out.labelled_item("Source", &format!("{}{step}", out.code(&c.source)));
            });
            if !case.exchanges.is_empty() {
                let summary = out.text(&case.transcript_label());
                out.within(Container::Fold { summary: &summary }, |out| out.listings(&case.exchanges));
            }
        });
    }

    if !view.blocked.is_empty() {
        let count: usize = view.blocked.iter().map(|g| g.cases.len()).sum();
        out.heading(2, &format!("Blocked cases, by root cause ({count})"));
        out.paragraph("A step that only set these cases up broke; the case named judges that step.");
    }
    for group in &view.blocked {
        out.within(Container::BlockedGroup, |out| {
            let by = group.by.map_or_else(|| "no case of this catalogue".to_owned(), |id| out.link(id, &out.code(id)));
            let verdict = group.by_verdict.map(|v| format!(" {}", out.verdict_aside(v))).unwrap_or_default();
            out.heading(3, &format!("Blocked by {by}{verdict}"));
            out.within(Container::List, |out| {
                for (c, seen) in &group.cases {
                    out.anchored_item(&c.id, &format!("{}: {}", out.code(&c.id), out.text(seen)));
                }
            });
        });
    }
    out.finish()
}

/// The summary-line word for a verdict's count (`3 passed`, `1 non-strict`).
fn plural_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "passed",
        Verdict::Fail => "failed",
        Verdict::NonStrict => "non-strict",
        Verdict::Unsupported => "unsupported",
        Verdict::Blocked => "blocked",
        Verdict::Error => "errors",
    }
}
