//! A run as GitHub-flavoured Markdown, sized for a pull-request comment or a CI job
//! summary: the verdict counts and the per-section matrix at a glance, then only the
//! cases that did not pass, each with its transcript folded away in `<details>`.
//!
//! Everything the server or the results file supplied is escaped, so a hostile problem
//! detail renders as text instead of as links, tables or HTML.

use super::baseline::PinnedVerdict;
use super::redact::Redactor;
use super::view::{VERDICTS, View, header};
use crate::runner::RunReport;
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
    let view = View::of(report, requirements, known, redactor);
    let ((subject, subject_is_code), facts) = header(report);
    let subject = if subject_is_code { code_span(&subject) } else { text(&subject) };
    let mut md = format!("# acmespec report: {subject}\n\n");
    md.push_str(&format!(
        "**{}** ({} cases)\n\n",
        view.summary, view.summary.total
    ));
    for f in facts {
        let value = if f.code { code_span(&f.value) } else { text(&f.value) };
        md.push_str(&format!("- **{}:** {value}\n", f.term));
    }
    if report.complete {
        md.push_str("- **Complete:** yes\n\n");
    } else {
        md.push_str(&format!(
            "- **Complete:** **incomplete**: {}\n\n",
            view.incomplete_note()
        ));
    }

    md.push_str("## Verdicts by RFC section\n\n| Section |");
    for verdict in VERDICTS {
        md.push_str(&format!(" {} |", verdict.name()));
    }
    md.push_str("\n|:---|");
    md.push_str(&"---:|".repeat(VERDICTS.len()));
    md.push('\n');
    for row in &view.sections {
        md.push_str(&format!("| {} |", text(&row.section)));
        for count in row.counts {
            md.push_str(&format!(" {count} |"));
        }
        md.push('\n');
    }

    if view.not_passed.is_empty() && view.blocked.is_empty() {
        return md;
    }
    md.push_str(&format!(
        "\n## Cases that did not pass ({})\n",
        view.not_passed.len()
    ));
    for case in &view.not_passed {
        let c = case.result;
        md.push_str(&format!(
            "\n### {} {}\n\n",
            c.verdict.name().to_uppercase(),
            code_span(&c.id)
        ));
        md.push_str(&format!("**{}** ({})\n\n", text(&c.title), case.level));
        md.push_str("- **Requirements:**");
        for (id, paraphrase) in &case.requirements {
            let paraphrase = paraphrase.map_or_else(|| "(not in the catalogue)".to_owned(), text);
            md.push_str(&format!("\n  - {}: {paraphrase}", code_span(id)));
        }
        md.push('\n');
        for (label, value) in [("Expected", &case.expected), ("Observed", &case.observed)] {
            if let Some(value) = value {
                md.push_str(&format!("- **{label}:** {}\n", text(value)));
            }
        }
        if let Some(known) = &case.known {
            md.push_str(&format!("- **Known:** {}\n", text(known)));
        }
        if !case.blocks.is_empty() {
            let ids: Vec<String> = case.blocks.iter().map(|id| code_span(id)).collect();
            md.push_str(&format!("- **Blocks {}:** {}\n", ids.len(), ids.join(", ")));
        }
        let step = c.step.map(|s| format!(", step {s}")).unwrap_or_default();
        md.push_str(&format!("- **Source:** {}{step}\n", code_span(&c.source)));
        if !case.exchanges.is_empty() {
            md.push_str(&format!(
                "\n<details><summary>{}</summary>\n\n{}\n</details>\n",
                case.transcript_label(),
                code_block(&case.exchanges.join("\n"))
            ));
        }
    }
    if view.blocked.is_empty() {
        return md;
    }
    let count: usize = view.blocked.iter().map(|g| g.cases.len()).sum();
    md.push_str(&format!(
        "\n## Blocked cases, by root cause ({count})\n\nA step that only set these cases up broke; the case named judges that step.\n"
    ));
    for group in &view.blocked {
        let by = group.by.map_or_else(|| "no case of this catalogue".to_owned(), code_span);
        let verdict = group.by_verdict.map(|v| format!(" ({})", v.name())).unwrap_or_default();
        md.push_str(&format!("\n### Blocked by {by}{verdict}\n\n"));
        for (c, seen) in &group.cases {
            md.push_str(&format!("- {}: {}\n", code_span(&c.id), text(seen)));
        }
    }
    md
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
