//! Requirement coverage: which normative statements the catalogue's cases check.
//!
//! A conformance suite earns trust by showing its gaps, so coverage is computed from
//! the data, never maintained by hand. A requirement counts as covered only when an
//! expectation rests on it (`rests_on`): a case that merely cites it may check
//! something next to it, so citing alone is reported apart, as not enforced.

pub mod cli;
use crate::scenario::{Catalogue, Requirement, RequirementLevel, Testable};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Coverage of one group of requirements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Requirements the runner can test against a server.
    pub testable: usize,
    /// Of those, how many some expectation rests on.
    pub covered: usize,
}

impl Tally {
    fn add(&mut self, covered: bool) {
        self.testable += 1;
        self.covered += usize::from(covered);
    }

    /// Covered share in percent (100 when nothing is testable).
    pub fn percent(&self) -> f64 {
        if self.testable == 0 { 100.0 } else { 100.0 * self.covered as f64 / self.testable as f64 }
    }
}

/// The two level groups coverage goals are stated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LevelGroup {
    /// MUST, MUST NOT (and REQUIRED, SHALL).
    Must,
    /// SHOULD, SHOULD NOT (and RECOMMENDED).
    Should,
    /// MAY (and OPTIONAL).
    May,
}

impl LevelGroup {
    fn of(level: RequirementLevel) -> Self {
        match level {
            RequirementLevel::Must | RequirementLevel::MustNot => LevelGroup::Must,
            RequirementLevel::Should | RequirementLevel::ShouldNot => LevelGroup::Should,
            RequirementLevel::May => LevelGroup::May,
        }
    }

    fn name(self) -> &'static str {
        match self {
            LevelGroup::Must => "MUST",
            LevelGroup::Should => "SHOULD",
            LevelGroup::May => "MAY",
        }
    }
}

/// Server-side coverage of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Per RFC and level group.
    pub by_rfc: BTreeMap<String, BTreeMap<LevelGroup, Tally>>,
    /// Per RFC section (`8555 §7.4`) and level group.
    pub by_section: BTreeMap<String, BTreeMap<LevelGroup, Tally>>,
    /// Totals per level group.
    pub total: BTreeMap<LevelGroup, Tally>,
    /// Server-testable requirements no expectation rests on, in catalogue order.
    pub uncovered: Vec<Requirement>,
}

/// Requirement id → the cases with an expectation resting on it.
fn rested_on(catalogue: &Catalogue) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for case in &catalogue.cases {
        let tables = case.def.steps.iter().flat_map(|s| [&s.get_ref().expect, &s.get_ref().should]).flatten();
        for id in tables.flat_map(|t| &t.rests_on) {
            let cases = out.entry(id.as_str()).or_default();
            if !cases.contains(&case.def.id.as_str()) {
                cases.push(case.def.id.as_str());
            }
        }
    }
    out
}

/// Requirement id → the cases citing it in `requirements`.
fn cited(catalogue: &Catalogue) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for case in &catalogue.cases {
        for id in &case.def.requirements {
            out.entry(id.as_str()).or_default().push(case.def.id.as_str());
        }
    }
    out
}

fn section_key(r: &Requirement) -> String {
    match &r.draft {
        Some(draft) => format!("{draft} §{}", r.section),
        None => format!("{} §{}", r.rfc(), r.section),
    }
}

fn section_order(key: &str) -> (String, Vec<u32>) {
    let (rfc, section) = key.split_once(" §").unwrap_or((key, ""));
    (rfc.to_owned(), section.split('.').map(|p| p.parse().unwrap_or(0)).collect())
}

impl Coverage {
    /// Computes coverage of the requirements the runner can test against a server.
    pub fn of(catalogue: &Catalogue) -> Self {
        let rested = rested_on(catalogue);
        let mut cov = Coverage { by_rfc: BTreeMap::new(), by_section: BTreeMap::new(), total: BTreeMap::new(), uncovered: Vec::new() };
        let mut reqs: Vec<&Requirement> = catalogue
            .requirements
            .values()
            .filter(|r| matches!(r.testable, Testable::Runner | Testable::Both))
            .collect();
        reqs.sort_by_key(|r| (section_order(&section_key(r)), r.id.clone()));
        for r in reqs {
            let covered = rested.contains_key(r.id.as_str());
            let group = LevelGroup::of(r.level);
            cov.by_rfc.entry(r.document()).or_default().entry(group).or_default().add(covered);
            cov.by_section.entry(section_key(r)).or_default().entry(group).or_default().add(covered);
            // An Internet-Draft's requirements may still change: they count apart.
            if r.draft.is_none() {
                cov.total.entry(group).or_default().add(covered);
            }
            if !covered {
                cov.uncovered.push(r.clone());
            }
        }
        cov
    }

    /// What is wrong with the `gap` notes: an uncovered requirement that no case even
    /// cites without one, or a note on a requirement an expectation now rests on.
    pub fn gap_problems(&self, catalogue: &Catalogue) -> Vec<String> {
        let uncovered: BTreeSet<&str> = self.uncovered.iter().map(|r| r.id.as_str()).collect();
        let cited = cited(catalogue);
        let mut problems: Vec<String> = self
            .uncovered
            .iter()
            .filter(|r| r.gap.is_none() && !cited.contains_key(r.id.as_str()))
            .map(|r| format!("{} is not covered and has no `gap` saying why", r.id))
            .collect();
        problems.extend(
            catalogue
                .requirements
                .values()
                .filter(|r| r.gap.is_some() && !uncovered.contains(r.id.as_str()))
                .map(|r| format!("{} has a `gap` note but is covered (or not server-testable); remove the note", r.id)),
        );
        problems
    }

    /// Coverage as Markdown: totals, per RFC, per section, and every uncovered
    /// requirement (with the cases that cite it without an expectation resting on it).
    pub fn to_markdown(&self, catalogue: &Catalogue) -> String {
        let cited = cited(catalogue);
        let cell = |t: Option<&Tally>| match t {
            Some(t) => format!("{}/{} ({:.0} %)", t.covered, t.testable, t.percent()),
            None => "–".to_owned(),
        };
        let groups = [LevelGroup::Must, LevelGroup::Should, LevelGroup::May];
        let mut md = String::from("# Requirement coverage of the server suite\n\n");
        md.push_str(
            "Requirements the runner can test against a server (`testable = \"runner\"` or `\"both\"` in \
             `scenarios/requirements/`), and how many of them an expectation rests on (`rests_on` in an \
             `expect` or `should` table, at the requirement's own keyword). A case that only cites a \
             requirement does not cover it. Regenerate with \
             `acmespec coverage --format md > reports/coverage.md`; a test fails when a covered requirement \
             loses its last expectation. Each uncovered one says why: its `gap` note, or the cases that cite \
             it without an expectation resting on it (partly tested at best).\n\n",
        );
        md.push_str("| | MUST | SHOULD | MAY |\n|---|---|---|---|\n");
        let _ = writeln!(md, "| **all RFCs** | {} |", groups.map(|g| cell(self.total.get(&g))).join(" | "));
        let is_draft = |document: &str| document.starts_with("draft-");
        for (rfc, t) in self.by_rfc.iter().filter(|(d, _)| !is_draft(d)) {
            let _ = writeln!(md, "| {rfc} | {} |", groups.map(|g| cell(t.get(&g))).join(" | "));
        }
        if self.by_rfc.keys().any(|d| is_draft(d)) {
            md.push_str(
                "\n## Internet-Drafts\n\nRequirements of drafts the catalogue already tests, counted apart from the \
                 RFCs: a later version of the draft may change them.\n\n| | MUST | SHOULD | MAY |\n|---|---|---|---|\n",
            );
            for (draft, t) in self.by_rfc.iter().filter(|(d, _)| is_draft(d)) {
                let _ = writeln!(md, "| {draft} | {} |", groups.map(|g| cell(t.get(&g))).join(" | "));
            }
        }
        md.push_str("\n## By section\n\n| section | MUST | SHOULD | MAY |\n|---|---|---|---|\n");
        let mut sections: Vec<&String> = self.by_section.keys().collect();
        sections.sort_by_key(|k| section_order(k));
        for s in sections {
            let t = &self.by_section[s];
            let _ = writeln!(md, "| {s} | {} |", groups.map(|g| cell(t.get(&g))).join(" | "));
        }
        md.push_str(
            "\n## Not covered\n\n| requirement | level | section | what it says | why no expectation rests on it |\n|---|---|---|---|---|\n",
        );
        for r in &self.uncovered {
            let cell = |t: &str| t.replace('|', "\\|");
            let gap = match (&r.gap, cited.get(r.id.as_str())) {
                (Some(gap), _) => cell(gap),
                (None, Some(cases)) => format!("cited, not enforced, by {}", cases.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
                (None, None) => "–".to_owned(),
            };
            let _ = writeln!(md, "| `{}` | {} | {} | {} | {gap} |", r.id, LevelGroup::of(r.level).name(), r.section, cell(&r.text));
        }
        md
    }
}
