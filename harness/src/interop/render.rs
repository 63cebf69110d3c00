//! The matrix as a page: one row per client, one column per server, each cell the
//! challenge types with how each issuance ended and how long it took; below, every
//! issuance that did not end `issued` (or was graded below `pass`), with the client's
//! output and the first request the mock CA refused. Markdown for a pull request, HTML
//! (self-contained, folds) for a browser: both from [`rows`], so they cannot disagree.

use super::{Cell, CellOutcome, MatrixReport};
use crate::runner::Verdict;

fn symbol(o: CellOutcome) -> &'static str {
    match o {
        CellOutcome::Issued => "issued",
        CellOutcome::Failed => "FAILED",
        CellOutcome::Unsupported => "—",
        CellOutcome::Error => "ERROR",
    }
}

/// One line per issuance of a cell: `http-01 issued 0.6 s (graded: non-strict)`.
fn summary(c: &Cell) -> String {
    let time = if c.outcome == CellOutcome::Unsupported { String::new() } else { format!(" {:.1} s", c.duration_ms as f64 / 1000.0) };
    let graded = match c.graded {
        Some(v) if v != Verdict::Pass && c.outcome == CellOutcome::Issued => format!(" (graded {})", v.name()),
        _ => String::new(),
    };
    format!("{} {}{time}{graded}", c.challenge.name(), symbol(c.outcome))
}

/// Whether a cell gets a detail entry: it failed, erred, or issued with grading below
/// `pass` (an unsupported challenge type says all there is to say in the grid).
fn noteworthy(c: &Cell) -> bool {
    match c.outcome {
        CellOutcome::Failed | CellOutcome::Error => true,
        CellOutcome::Issued => c.graded.is_some_and(|v| v != Verdict::Pass),
        CellOutcome::Unsupported => false,
    }
}

/// The grid: client name, version, then per server the summaries of its cells.
fn rows(report: &MatrixReport) -> Vec<(String, String, Vec<Vec<String>>)> {
    report
        .clients
        .iter()
        .map(|client| {
            let per_server =
                report.servers.iter().map(|s| report.cells_of(&client.name, s).into_iter().map(summary).collect()).collect();
            (client.name.clone(), client.version.clone().unwrap_or_else(|| "version unknown".into()), per_server)
        })
        .collect()
}

fn counts(report: &MatrixReport) -> String {
    let n = |o: CellOutcome| report.cells.iter().filter(|c| c.outcome == o).count();
    format!(
        "{} issued, {} failed, {} unsupported, {} errors ({} issuances)",
        n(CellOutcome::Issued),
        n(CellOutcome::Failed),
        n(CellOutcome::Unsupported),
        n(CellOutcome::Error),
        report.cells.len()
    )
}

fn output_tail(c: &Cell) -> String {
    c.commands
        .iter()
        .map(|r| format!("$ {}\n{}\n{}", r.argv.join(" "), r.stdout_tail.trim_end(), r.stderr_tail.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The matrix as Markdown.
pub fn to_markdown(report: &MatrixReport) -> String {
    let mut md = format!("# acmespec interop matrix\n\n**{}**\n\n", counts(report));
    md.push_str(&format!(
        "- **Started:** {}\n- **Finished:** {}\n- **Seed:** {}\n- **acmespec:** {}\n\n",
        report.started_at,
        report.finished_at.as_deref().unwrap_or("not finished"),
        report.seed,
        report.version
    ));
    md.push_str("| Client | ");
    md.push_str(&report.servers.iter().map(|s| md_cell(s)).collect::<Vec<_>>().join(" | "));
    md.push_str(" |\n|---|");
    md.push_str(&"---|".repeat(report.servers.len()));
    md.push('\n');
    for (name, version, per_server) in rows(report) {
        md.push_str(&format!("| **{}** ({}) | ", md_cell(&name), md_cell(&version)));
        md.push_str(&per_server.iter().map(|cells| cells.join("<br>")).collect::<Vec<_>>().join(" | "));
        md.push_str(" |\n");
    }
    let details: Vec<&Cell> = report.cells.iter().filter(|c| noteworthy(c)).collect();
    if !details.is_empty() {
        md.push_str("\n## Issuances that did not simply issue\n");
        for c in details {
            md.push_str(&format!("\n### {} × {}: {} {}\n\n", c.client, c.server, c.challenge.name(), symbol(c.outcome)));
            if let Some(note) = &c.note {
                md.push_str(&format!("{}\n\n", note.trim()));
            }
            if let Some(first) = &c.first_refused {
                md.push_str(&format!("First request the mock CA refused: `{first}`\n\n"));
            }
            if !c.commands.is_empty() {
                md.push_str(&format!("<details><summary>client output</summary>\n\n```\n{}\n```\n</details>\n", output_tail(c)));
            }
        }
    }
    md
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn class(c: &Cell) -> &'static str {
    match c.outcome {
        CellOutcome::Issued if c.graded.is_some_and(|v| v != Verdict::Pass) => "graded",
        CellOutcome::Issued => "issued",
        CellOutcome::Failed => "failed",
        CellOutcome::Unsupported => "unsupported",
        CellOutcome::Error => "error",
    }
}

/// The matrix as one self-contained HTML page.
pub fn to_html(report: &MatrixReport) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>acmespec interop matrix</title>\n<style>\n\
         body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #d0d7de;padding:.4em .6em;vertical-align:top}\
         .issued{color:#1a7f37}.graded{color:#9a6700}.failed{color:#cf222e;font-weight:bold}\
         .unsupported{color:#57606a}.error{color:#8250df;font-weight:bold}pre{background:#f6f8fa;padding:.6em;overflow:auto}\n\
         </style>\n</head>\n<body>\n<h1>acmespec interop matrix</h1>\n",
    );
    html.push_str(&format!("<p>{}</p>\n", esc(&counts(report))));
    html.push_str(&format!(
        "<p>Started {} · finished {} · seed {} · acmespec {}</p>\n",
        esc(&report.started_at),
        esc(report.finished_at.as_deref().unwrap_or("not finished")),
        report.seed,
        esc(&report.version)
    ));
    html.push_str("<table>\n<tr><th>Client</th>");
    for s in &report.servers {
        html.push_str(&format!("<th>{}</th>", esc(s)));
    }
    html.push_str("</tr>\n");
    for client in &report.clients {
        html.push_str(&format!(
            "<tr><th>{}<br><small>{}</small></th>",
            esc(&client.name),
            esc(client.version.as_deref().unwrap_or("version unknown"))
        ));
        for s in &report.servers {
            let cells: Vec<String> = report
                .cells_of(&client.name, s)
                .into_iter()
                .map(|c| {
                    let inner = format!("<span class=\"{}\">{}</span>", class(c), esc(&summary(c)));
                    if noteworthy(c) { format!("<a href=\"#{}\">{inner}</a>", anchor(c)) } else { inner }
                })
                .collect();
            html.push_str(&format!("<td>{}</td>", cells.join("<br>")));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    for c in report.cells.iter().filter(|c| noteworthy(c)) {
        html.push_str(&format!(
            "<details id=\"{}\"><summary>{} × {}: <span class=\"{}\">{}</span></summary>\n",
            anchor(c),
            esc(&c.client),
            esc(&c.server),
            class(c),
            esc(&summary(c))
        ));
        if let Some(note) = &c.note {
            html.push_str(&format!("<p>{}</p>\n", esc(note.trim())));
        }
        if let Some(first) = &c.first_refused {
            html.push_str(&format!("<p>First request the mock CA refused: <code>{}</code></p>\n", esc(first)));
        }
        if !c.commands.is_empty() {
            html.push_str(&format!("<pre>{}</pre>\n", esc(&output_tail(c))));
        }
        html.push_str("</details>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

fn anchor(c: &Cell) -> String {
    let raw = format!("{}-{}-{}", c.client, c.server, c.challenge.name());
    raw.chars().map(|ch| if ch.is_ascii_alphanumeric() || ch == '-' { ch } else { '_' }).collect()
}
