//! A run as GitHub-flavoured Markdown, sized for a pull-request comment or a CI job
//! summary: the verdict counts and the per-section matrix at a glance, then only the
//! cases that did not pass, each with its transcript folded away in `<details>`.
//!
//! Everything the server or the results file supplied is escaped, so a hostile problem
//! detail renders as text instead of as links, tables or HTML.

use super::baseline::PinnedVerdict;
use super::layout::{Container, Markup, render};
use super::redact::Redactor;
use crate::runner::{RunReport, Verdict};
use crate::scenario::Requirement;
use std::collections::BTreeMap;

/// Renders `report` as Markdown; `requirements` (the catalogue's) give each cited
/// requirement its paraphrase, `redactor` hides secrets in what the server sent.
pub fn to_markdown(
    report: &RunReport,
    requirements: &BTreeMap<String, Requirement>,
    known: &BTreeMap<String, PinnedVerdict>,
    redactor: &Redactor,
) -> String {
    render(Markdown::default(), report, requirements, known, redactor)
}

/// Markdown tells blocks apart by the blank lines between them; plain text has no colours,
/// so a verdict that heads a case is written in capitals instead of as a badge.
#[derive(Default)]
struct Markdown {
    md: String,
}

impl Markdown {
    /// The blank line that ends the block before, if any.
    fn separate(&mut self) {
        if !self.md.is_empty() {
            self.md.push('\n');
        }
    }

    fn block(&mut self, lines: &str) {
        self.separate();
        self.md.push_str(lines);
    }

    fn table_row(&mut self, cells: impl IntoIterator<Item = String>) {
        self.md.push('|');
        for cell in cells {
            self.md.push_str(&format!(" {cell} |"));
        }
        self.md.push('\n');
    }
}

impl Markup for Markdown {
    const HEADS_NO_CASES_THAT_DID_NOT_PASS: bool = true;

    fn text(&self, s: &str) -> String {
        text(s)
    }

    fn code(&self, s: &str) -> String {
        code_span(s)
    }

    fn strong(&self, content: &str) -> String {
        format!("**{content}**")
    }

    fn incomplete(&self) -> String {
        self.strong("incomplete")
    }

    fn badge(&self, _: Verdict, label: &str) -> String {
        text(label)
    }

    fn verdict(&self, verdict: Verdict) -> String {
        verdict.name().to_uppercase()
    }

    fn verdict_aside(&self, verdict: Verdict) -> String {
        format!("({})", verdict.name())
    }

    /// Markdown gives list items no anchors to lead to: the content alone.
    fn link(&self, _: &str, content: &str) -> String {
        content.to_owned()
    }

    /// Markdown has no head to hold a title apart from the first heading.
    fn begin(&mut self, _: &str) {}

    fn heading(&mut self, level: usize, content: &str) {
        self.block(&format!("{} {content}\n", "#".repeat(level)));
    }

    fn paragraph(&mut self, content: &str) {
        self.block(&format!("{content}\n"));
    }

    fn summary(&mut self, counts: &str, cases: usize) {
        self.paragraph(&format!("{} ({cases} cases)", self.strong(counts)));
    }

    fn open(&mut self, container: &Container<'_>) {
        match container {
            Container::Facts | Container::List | Container::Matrix => self.separate(),
            Container::Fold { summary } => self.block(&format!("<details><summary>{summary}</summary>\n")),
            Container::Case { .. } | Container::BlockedGroup => {}
        }
    }

    fn close(&mut self, container: &Container<'_>) {
        if let Container::Fold { .. } = container {
            self.block("</details>\n");
        }
    }

    fn fact(&mut self, term: &str, value: &str) {
        self.labelled_item(term, value);
    }

    fn labelled_item(&mut self, label: &str, value: &str) {
        self.md.push_str(&format!("- **{label}:** {value}\n"));
    }

    fn labelled_items(&mut self, label: &str, values: &[String]) {
        self.md.push_str(&format!("- **{label}:**"));
        for value in values {
            self.md.push_str(&format!("\n  - {value}"));
        }
        self.md.push('\n');
    }

    fn anchored_item(&mut self, _: &str, content: &str) {
        self.md.push_str(&format!("- {content}\n"));
    }

    fn matrix_head(&mut self, corner: &str, columns: &[&str]) {
        self.table_row(std::iter::once(corner).chain(columns.iter().copied()).map(str::to_owned));
        self.md.push_str("|:---|");
        self.md.push_str(&"---:|".repeat(columns.len()));
        self.md.push('\n');
    }

    fn matrix_row(&mut self, label: &str, counts: &[(Verdict, usize)]) {
        self.table_row(std::iter::once(label.to_owned()).chain(counts.iter().map(|(_, count)| count.to_string())));
    }

    /// One fenced block holds every listing, a blank line apart.
    fn listings(&mut self, texts: &[String]) {
        self.block(&code_block(&texts.join("\n")));
    }

    fn finish(self) -> String {
        self.md
    }
}

/// `s` as Markdown that renders literally on one line: no emphasis, links, tables or HTML.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            other => out.push(other),
        }
    }
    out
}

/// `s` as inline code, fenced with more backticks than any run inside it.
fn code_span(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// `s` as a fenced code block that no line of `s` can close early.
fn code_block(s: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(s) + 1).max(3));
    format!("{fence}\n{}\n{fence}\n", s.trim_end_matches('\n'))
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_inject_markup() {
        let shown = text("<script>x</script> | [link](http://e.test) **bold**\nnext");
        assert_eq!(
            shown,
            r"&lt;script&gt;x&lt;/script&gt; \| \[link\](http://e.test) \*\*bold\*\* next"
        );
    }

    /// Blocked cases are listed once, under the case that judges the step that broke
    /// them, which in turn says how many it blocks.
    #[test]
    fn blocked_cases_are_grouped_by_root_cause() {
        use crate::runner::{CaseResult, Verdict};
        let blocked = |id: &str, by: Option<&str>| CaseResult {
            blocked_by: by.map(str::to_owned),
            step: Some(3),
            ..CaseResult::bare(id, Verdict::Blocked, Some("order status \"invalid\""))
        };
        let report = RunReport::of_cases(
            vec![
                CaseResult::bare("rfc8555/8.3/judge", Verdict::Fail, Some("no validation request")),
                blocked("rfc8555/7.4/one", Some("rfc8555/8.3/judge")),
                blocked("rfc8555/7.4/two", Some("rfc8555/8.3/judge")),
                blocked("rfc8555/7.4/three", None),
            ],
            true,
        );
        let md = to_markdown(&report, &BTreeMap::new(), &BTreeMap::new(), &Redactor::default());
        assert!(md.contains("## Cases that did not pass (1)"), "{md}");
        assert!(md.contains("- **Blocks 2:** `rfc8555/7.4/one`, `rfc8555/7.4/two`"), "{md}");
        assert!(md.contains("## Blocked cases, by root cause (3)"), "{md}");
        assert!(md.contains("### Blocked by `rfc8555/8.3/judge` (fail)\n\n- `rfc8555/7.4/one`: step 3: order status \"invalid\""), "{md}");
        assert!(md.contains("### Blocked by no case of this catalogue"), "{md}");
    }

    #[test]
    fn code_outlasts_the_backticks_inside_it() {
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_block("```\nno escape"), "````\n```\nno escape\n````\n");
        assert_eq!(code_block("plain\n"), "```\nplain\n```\n");
    }
}
