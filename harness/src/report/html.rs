//! A run as one self-contained HTML page, to publish as a CI artifact or mail around:
//! inline CSS only, no script, no external asset, so it reads the same offline, in a
//! locked-down artifact viewer and years later. Transcripts fold away in `<details>`.
//!
//! The server under test is hostile input (a problem detail may hold `<script>`): every
//! piece of text is escaped, and a Content-Security-Policy forbidding scripts and
//! remote loads backs the escaping up.

use super::baseline::PinnedVerdict;
use super::redact::Redactor;
use super::view::{VERDICTS, View, header};
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
    let view = View::of(report, requirements, known, redactor);
    let ((subject, subject_is_code), facts) = header(report);
    let title = esc(&subject);
    let subject = if subject_is_code { format!("<code>{title}</code>") } else { title.clone() };
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>acmespec report: {title}</title>\n<style>\n{STYLE}"
    );
    for (verdict, strong, light) in COLOURS {
        let name = verdict.name();
        html.push_str(&format!(
            "td.{name}{{background:{light}}}.badge.{name}{{background:{strong}}}.case.{name}{{border-left-color:{strong}}}\n"
        ));
    }
    html.push_str(&format!(
        "</style>\n</head>\n<body>\n<h1>acmespec report: {subject}</h1>\n"
    ));
    let counts: Vec<String> = VERDICTS
        .iter()
        .map(|&verdict| {
            badge(
                verdict,
                &format!("{} {}", view.summary.count(verdict), plural_label(verdict)),
            )
        })
        .collect();
    html.push_str(&format!(
        "<p class=\"summary\">{} ({} cases)</p>\n",
        counts.join(", "),
        view.summary.total
    ));

    html.push_str("<dl class=\"run\">\n");
    let complete = if report.complete {
        "yes".to_owned()
    } else {
        format!(
            "<span class=\"incomplete\">incomplete</span>: {}",
            esc(&view.incomplete_note())
        )
    };
    for f in facts {
        let value = if f.code { format!("<code>{}</code>", esc(&f.value)) } else { esc(&f.value) };
        html.push_str(&format!("<dt>{}</dt><dd>{value}</dd>\n", f.term));
    }
    html.push_str(&format!("<dt>Complete</dt><dd>{complete}</dd>\n"));
    html.push_str("</dl>\n");

    html.push_str(
        "<h2>Verdicts by RFC section</h2>\n<table class=\"matrix\">\n<tr><th>Section</th>",
    );
    for verdict in VERDICTS {
        html.push_str(&format!("<th class=\"n\">{}</th>", verdict.name()));
    }
    html.push_str("</tr>\n");
    for row in &view.sections {
        html.push_str(&format!("<tr><td>{}</td>", esc(&row.section)));
        for (verdict, count) in VERDICTS.iter().zip(row.counts) {
            let class = if count == 0 { "zero" } else { verdict.name() };
            html.push_str(&format!("<td class=\"n {class}\">{count}</td>"));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");

    if !view.not_passed.is_empty() {
        html.push_str(&format!(
            "<h2>Cases that did not pass ({})</h2>\n",
            view.not_passed.len()
        ));
    }
    for case in &view.not_passed {
        let c = case.result;
        html.push_str(&format!(
            "<section class=\"case {verdict}\" id=\"{id}\">\n<h3>{} <code>{id}</code></h3>\n<p><strong>{}</strong> ({})</p>\n<ul>\n",
            badge(c.verdict, c.verdict.name()),
            esc(&c.title),
            case.level,
            verdict = c.verdict.name(),
            id = esc(&c.id),
        ));
        html.push_str("<li>Requirements:<ul>\n");
        for (id, paraphrase) in &case.requirements {
            let paraphrase = paraphrase.map_or_else(|| "(not in the catalogue)".to_owned(), esc);
            html.push_str(&format!(
                "<li><code>{}</code>: {paraphrase}</li>\n",
                esc(id)
            ));
        }
        html.push_str("</ul></li>\n");
        for (label, value) in [("Expected", &case.expected), ("Observed", &case.observed)] {
            if let Some(value) = value {
                html.push_str(&format!("<li>{label}: {}</li>\n", esc(value)));
            }
        }
        if let Some(known) = &case.known {
            html.push_str(&format!("<li>Known: {}</li>\n", esc(known)));
        }
        if !case.blocks.is_empty() {
            let ids: Vec<String> = case.blocks.iter().map(|id| format!("<a href=\"#{0}\"><code>{0}</code></a>", esc(id))).collect();
            html.push_str(&format!("<li>Blocks {}: {}</li>\n", ids.len(), ids.join(", ")));
        }
        let step = c.step.map(|s| format!(", step {s}")).unwrap_or_default();
        html.push_str(&format!(
            "<li>Source: <code>{}</code>{step}</li>\n</ul>\n",
            esc(&c.source)
        ));
        if !case.exchanges.is_empty() {
            html.push_str(&format!(
                "<details><summary>{}</summary>\n",
                case.transcript_label()
            ));
            for exchange in &case.exchanges {
                html.push_str(&format!("<pre>{}</pre>\n", esc(exchange)));
            }
            html.push_str("</details>\n");
        }
        html.push_str("</section>\n");
    }
    if !view.blocked.is_empty() {
        let count: usize = view.blocked.iter().map(|g| g.cases.len()).sum();
        html.push_str(&format!(
            "<h2>Blocked cases, by root cause ({count})</h2>\n<p>A step that only set these cases up broke; the case named judges that step.</p>\n"
        ));
    }
    for group in &view.blocked {
        let by = group.by.map_or_else(|| "no case of this catalogue".to_owned(), |id| format!("<a href=\"#{0}\"><code>{0}</code></a>", esc(id)));
        let verdict = group.by_verdict.map(|v| format!(" {}", badge(v, v.name()))).unwrap_or_default();
        html.push_str(&format!("<section class=\"blocked\">\n<h3>Blocked by {by}{verdict}</h3>\n<ul>\n"));
        for (c, seen) in &group.cases {
            html.push_str(&format!("<li id=\"{id}\"><code>{id}</code>: {}</li>\n", esc(seen), id = esc(&c.id)));
        }
        html.push_str("</ul>\n</section>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

fn badge(verdict: Verdict, label: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        verdict.name(),
        esc(label)
    )
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
