//! A run as one self-contained HTML page, to publish as a CI artifact or mail around:
//! inline CSS only, no script, no external asset, so it reads the same offline, in a
//! locked-down artifact viewer and years later. Transcripts fold away in `<details>`.
//!
//! The server under test is hostile input (a problem detail may hold `<script>`): every
//! piece of text is escaped, and a Content-Security-Policy forbidding scripts and
//! remote loads backs the escaping up.

use super::baseline::PinnedVerdict;
use super::layout::{Container, Markup, render};
use super::redact::Redactor;
use super::view::VERDICTS;
use crate::runner::{RunReport, Verdict};
use crate::scenario::Requirement;
use std::collections::BTreeMap;

const STYLE: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;max-width:1100px;margin:2em auto;padding:0 1em}
h1{font-size:1.5em;overflow-wrap:anywhere}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
h3{font-size:1.05em;margin:0 0 .3em;overflow-wrap:anywhere}
code,pre{font:13px/1.4 ui-monospace,'DejaVu Sans Mono',monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.6em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.25em .7em;text-align:left}
td.n,th.n{text-align:right;min-width:4.5em}td.zero{color:#8c959f}
dl.run{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.run dt{font-weight:600}dl.run dd{margin:0;overflow-wrap:anywhere}
.summary{font-size:1.1em;font-weight:600}.incomplete{color:#cf222e;font-weight:700}
.case{border:1px solid #d0d7de;border-left-width:6px;border-radius:6px;padding:.6em 1em;margin:1em 0}
.case ul{margin:.3em 0;padding-left:1.4em}summary{cursor:pointer;margin-top:.4em}
.badge{display:inline-block;border-radius:1em;padding:0 .6em;color:#fff}
";

/// Each verdict's strong colour (badges, case borders) and light one (matrix cells).
const COLOURS: [(Verdict, &str, &str); VERDICTS.len()] = [
    (Verdict::Pass, "#1a7f37", "#dafbe1"),
    (Verdict::Fail, "#cf222e", "#ffebe9"),
    (Verdict::Blocked, "#0969da", "#ddf4ff"),
    (Verdict::NonStrict, "#9a6700", "#fff8c5"),
    (Verdict::Unsupported, "#57606a", "#eaeef2"),
    (Verdict::Error, "#8250df", "#fbefff"),
];

/// Renders `report` as a self-contained HTML page; `requirements` (the catalogue's)
/// give each cited requirement its paraphrase, `redactor` hides secrets in what the
/// server sent.
pub fn to_html(
    report: &RunReport,
    requirements: &BTreeMap<String, Requirement>,
    known: &BTreeMap<String, PinnedVerdict>,
    redactor: &Redactor,
) -> String {
    render(Html::default(), report, requirements, known, redactor)
}

/// The page, whose head holds the style that every class written here refers to.
#[derive(Default)]
struct Html {
    page: String,
}

impl Markup for Html {
    const HEADS_NO_CASES_THAT_DID_NOT_PASS: bool = false;

    fn text(&self, s: &str) -> String {
        esc(s)
    }

    fn code(&self, s: &str) -> String {
        format!("<code>{}</code>", esc(s))
    }

    fn strong(&self, content: &str) -> String {
        format!("<strong>{content}</strong>")
    }

    fn incomplete(&self) -> String {
        "<span class=\"incomplete\">incomplete</span>".to_owned()
    }

    fn badge(&self, verdict: Verdict, label: &str) -> String {
        format!("<span class=\"badge {}\">{}</span>", verdict.name(), esc(label))
    }

    fn verdict(&self, verdict: Verdict) -> String {
        self.badge(verdict, verdict.name())
    }

    fn verdict_aside(&self, verdict: Verdict) -> String {
        self.verdict(verdict)
    }

    fn link(&self, id: &str, content: &str) -> String {
        format!("<a href=\"#{}\">{content}</a>", esc(id))
    }

    fn begin(&mut self, title: &str) {
        self.page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>\n{STYLE}",
            esc(title)
        );
        for (verdict, strong, light) in COLOURS {
            let name = verdict.name();
            self.page.push_str(&format!(
                "td.{name}{{background:{light}}}.badge.{name}{{background:{strong}}}.case.{name}{{border-left-color:{strong}}}\n"
            ));
        }
        self.page.push_str("</style>\n</head>\n<body>\n");
    }

    fn heading(&mut self, level: usize, content: &str) {
        self.page.push_str(&format!("<h{level}>{content}</h{level}>\n"));
    }

    fn paragraph(&mut self, content: &str) {
        self.page.push_str(&format!("<p>{content}</p>\n"));
    }

    fn summary(&mut self, counts: &str, cases: usize) {
        self.page.push_str(&format!("<p class=\"summary\">{counts} ({cases} cases)</p>\n"));
    }

    fn open(&mut self, container: &Container<'_>) {
        let tag = match container {
            Container::Facts => "<dl class=\"run\">".to_owned(),
            Container::List => "<ul>".to_owned(),
            Container::Matrix => "<table class=\"matrix\">".to_owned(),
            Container::Case { verdict, id } => format!("<section class=\"case {}\" id=\"{}\">", verdict.name(), esc(id)),
            Container::BlockedGroup => "<section class=\"blocked\">".to_owned(),
            Container::Fold { summary } => format!("<details><summary>{summary}</summary>"),
        };
        self.page.push_str(&tag);
        self.page.push('\n');
    }

    fn close(&mut self, container: &Container<'_>) {
        self.page.push_str(match container {
            Container::Facts => "</dl>\n",
            Container::List => "</ul>\n",
            Container::Matrix => "</table>\n",
            Container::Case { .. } | Container::BlockedGroup => "</section>\n",
            Container::Fold { .. } => "</details>\n",
        });
    }

    fn fact(&mut self, term: &str, value: &str) {
        self.page.push_str(&format!("<dt>{term}</dt><dd>{value}</dd>\n"));
    }

    fn labelled_item(&mut self, label: &str, value: &str) {
        self.page.push_str(&format!("<li>{label}: {value}</li>\n"));
    }

    fn labelled_items(&mut self, label: &str, values: &[String]) {
        self.page.push_str(&format!("<li>{label}:<ul>\n"));
        for value in values {
            self.page.push_str(&format!("<li>{value}</li>\n"));
        }
        self.page.push_str("</ul></li>\n");
    }

    fn anchored_item(&mut self, id: &str, content: &str) {
        self.page.push_str(&format!("<li id=\"{}\">{content}</li>\n", esc(id)));
    }

    fn matrix_head(&mut self, corner: &str, columns: &[&str]) {
        self.page.push_str(&format!("<tr><th>{corner}</th>"));
        for column in columns {
            self.page.push_str(&format!("<th class=\"n\">{column}</th>"));
        }
        self.page.push_str("</tr>\n");
    }

    fn matrix_row(&mut self, label: &str, counts: &[(Verdict, usize)]) {
        self.page.push_str(&format!("<tr><td>{label}</td>"));
        for &(verdict, count) in counts {
            let class = if count == 0 { "zero" } else { verdict.name() };
            self.page.push_str(&format!("<td class=\"n {class}\">{count}</td>"));
        }
        self.page.push_str("</tr>\n");
    }

    fn listings(&mut self, texts: &[String]) {
        for text in texts {
            self.page.push_str(&format!("<pre>{}</pre>\n", esc(text)));
        }
    }

    fn finish(mut self) -> String {
        self.page.push_str("</body>\n</html>\n");
        self.page
    }
}

/// `s` as HTML text, safe in element content and in quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_element_content_and_attributes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
