//! What a human-readable report says, worked out once for the Markdown and the HTML
//! renderer so that the two cannot drift apart: the per-section matrix, the cases that
//! did not pass in the order a reviewer wants them, their requirements' paraphrases and
//! their transcripts as redacted plain text.

use super::baseline::PinnedVerdict;
use super::redact::Redactor;
use crate::protocol::http::Exchange;
use crate::runner::{CaseResult, RunReport, Summary, Verdict};
use crate::scenario::{Level, Requirement};
use serde_json::Value;
use std::collections::BTreeMap;

/// The verdicts in the order reports list them.
pub(super) const VERDICTS: [Verdict; 6] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::Blocked,
    Verdict::NonStrict,
    Verdict::Unsupported,
    Verdict::Error,
];

/// One line of a report's header.
pub(super) struct Fact {
    pub(super) term: &'static str,
    pub(super) value: String,
    /// The value is a URL or a path, shown as code.
    pub(super) code: bool,
}

/// What a report is about, for its title (shown as code when `code`), and the facts of
/// its header: the server tested, or the client graded.
pub(super) fn header(report: &RunReport) -> ((String, bool), Vec<Fact>) {
    let fact = |term, value: String, code| Fact { term, value, code };
    let (title, mut facts) = match &report.client {
        Some(client) => (
            (format!("client {}", client.name), false),
            vec![
                fact("Client", client.name.clone(), false),
                fact("Client version", client.version.clone().unwrap_or_else(|| "unknown".into()), false),
                fact("Adapter", client.adapter.clone(), true),
                fact("Seed", format!("{} (replay with --seed {})", client.seed, client.seed), false),
            ],
        ),
        None => (
            (report.directory_url.clone(), true),
            vec![
                fact("Directory", report.directory_url.clone(), true),
                fact("Server header", report.server_header.clone().unwrap_or_else(|| "none".into()), false),
            ],
        ),
    };
    if !report.validation_paths.is_empty() {
        facts.push(fact("Validation answered by", report.validation_paths.join("; "), false));
    }
    facts.push(fact("Started", report.started_at.clone(), false));
    facts.push(fact("Finished", report.finished_at.clone().unwrap_or_else(|| "not finished".into()), false));
    facts.push(fact("acmespec", report.version.clone(), false));
    (title, facts)
}

/// A report's content, ready to be marked up.
pub(super) struct View<'a> {
    /// Counted from the cases shown, so that the counts and the matrix always agree.
    pub(super) summary: Summary,
    pub(super) sections: Vec<SectionRow>,
    /// Cases that did not pass and are not blocked: each is its own root cause.
    pub(super) not_passed: Vec<CaseView<'a>>,
    /// Blocked cases, grouped by the case that judges the step that broke.
    pub(super) blocked: Vec<BlockedGroup<'a>>,
}

/// Cases blocked by one root cause: a setup step that `by` judges.
pub(super) struct BlockedGroup<'a> {
    /// The judging case (`None`: no case of the catalogue judges the step).
    pub(super) by: Option<&'a str>,
    /// The judging case's verdict in this run, when it ran.
    pub(super) by_verdict: Option<Verdict>,
    /// The blocked cases, with the step that broke and what was seen, redacted.
    pub(super) cases: Vec<(&'a CaseResult, String)>,
}

/// Verdict counts of one RFC section (`rfc8555/7.4`), in [`VERDICTS`] order.
pub(super) struct SectionRow {
    pub(super) section: String,
    pub(super) counts: [usize; VERDICTS.len()],
}

/// A case that did not pass, redacted for display.
pub(super) struct CaseView<'a> {
    pub(super) result: &'a CaseResult,
    pub(super) level: &'static str,
    /// Requirement id and its paraphrase (`None` when the catalogue does not know it).
    pub(super) requirements: Vec<(&'a str, Option<&'a str>)>,
    pub(super) expected: Option<String>,
    pub(super) observed: Option<String>,
    /// One plain-text block per HTTP exchange.
    pub(super) exchanges: Vec<String>,
    /// Why the case is a known non-pass, when an expectation file lists it.
    pub(super) known: Option<String>,
    /// The cases this one's deviation blocked.
    pub(super) blocks: Vec<&'a str>,
}

impl CaseView<'_> {
    /// The label of the folded transcript.
    pub(super) fn transcript_label(&self) -> String {
        let n = self.exchanges.len();
        format!(
            "HTTP transcript ({n} exchange{})",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl<'a> View<'a> {
    pub(super) fn of(
        report: &'a RunReport,
        requirements: &'a BTreeMap<String, Requirement>,
        known: &BTreeMap<String, PinnedVerdict>,
        redactor: &Redactor,
    ) -> Self {
        let mut by_section: BTreeMap<SectionKey<'_>, SectionRow> = BTreeMap::new();
        for case in &report.cases {
            let section = section_of(&case.id);
            let row = by_section
                .entry(section_order(section))
                .or_insert_with(|| SectionRow {
                    section: section.to_owned(),
                    counts: [0; VERDICTS.len()],
                });
            row.counts[verdict_index(case.verdict)] += 1;
        }
        let mut blocked: BTreeMap<Option<&'a str>, Vec<(&'a CaseResult, String)>> = BTreeMap::new();
        for c in report.cases.iter().filter(|c| c.verdict == Verdict::Blocked) {
            let step = c.step.map(|s| format!("step {s}: ")).unwrap_or_default();
            let seen = redactor.text(c.observed.as_deref().unwrap_or_default());
            let known = known.get(&c.id).map(|k| format!(" (known: {})", k.reason)).unwrap_or_default();
            blocked.entry(c.blocked_by.as_deref()).or_default().push((c, format!("{step}{seen}{known}")));
        }
        let mut not_passed: Vec<CaseView<'a>> = report
            .cases
            .iter()
            .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Blocked))
            .map(|c| CaseView {
                result: c,
                level: level_name(c.level),
                requirements: c
                    .requirements
                    .iter()
                    .map(|id| (id.as_str(), requirements.get(id).map(|r| r.text.as_str())))
                    .collect(),
                expected: c.expected.as_deref().map(|t| redactor.text(t)),
                observed: c.observed.as_deref().map(|t| redactor.text(t)),
                exchanges: c
                    .transcript
                    .iter()
                    .flatten()
                    .map(|e| exchange_text(&redactor.exchange(e)))
                    .collect(),
                known: known.get(&c.id).map(|k| {
                    let listed = if k.verdict == c.verdict { String::new() } else { format!("listed as {}: ", k.verdict.name()) };
                    let link = k.link.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
                    format!("{listed}{}{link}", k.reason)
                }),
                blocks: blocked.get(&Some(c.id.as_str())).into_iter().flatten().map(|(b, _)| b.id.as_str()).collect(),
            })
            .collect();
        // What breaks the run first, what is merely missing last; catalogue order within.
        not_passed.sort_by_key(|c| severity(c.result.verdict));
        let verdict_of = |id: &str| report.cases.iter().find(|c| c.id == id).map(|c| c.verdict);
        View {
            summary: Summary::of(&report.cases),
            sections: by_section.into_values().collect(),
            not_passed,
            blocked: blocked
                .into_iter()
                .map(|(by, cases)| BlockedGroup { by, by_verdict: by.and_then(verdict_of), cases })
                .collect(),
        }
    }

    /// What an incomplete report's reader must know.
    pub(super) fn incomplete_note(&self) -> String {
        format!(
            "the run was cut short (or is still going); only the {} cases that finished are shown",
            self.summary.total
        )
    }
}

/// The case's RFC section: its id without the last segment.
fn section_of(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(section, _)| section)
}

/// Where a section sorts: drafts after RFCs, then by its numbers.
type SectionKey<'a> = (bool, Vec<(u64, &'a str)>);

/// Sorts `rfc8555/6.5` before `rfc8555/6.5.2` before `rfc8555/10.5`, and every RFC
/// before the Internet-Drafts (`draft-ietf-acme-profiles/4`), which a report keeps apart.
fn section_order(section: &str) -> SectionKey<'_> {
    let parts = section.split(['/', '.']).map(|part| (part.parse().unwrap_or(u64::MAX), part)).collect();
    (section.starts_with("draft-"), parts)
}

fn verdict_index(verdict: Verdict) -> usize {
    VERDICTS
        .iter()
        .position(|v| *v == verdict)
        .unwrap_or_default()
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Must => "MUST",
        Level::Should => "SHOULD",
        Level::May => "MAY",
    }
}

fn severity(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Fail => 0,
        Verdict::Error => 1,
        Verdict::Blocked => 2,
        Verdict::NonStrict => 3,
        Verdict::Unsupported => 4,
        Verdict::Pass => 5,
    }
}

/// An exchange as an HTTP-like listing: request line, headers, the decoded JWS (its
/// base64url original left out: the decoded form says the same, readably), then the
/// status, headers and body of the response or the transport error.
fn exchange_text(exchange: &Exchange) -> String {
    let request = &exchange.request;
    let mut out = format!("{} {}\n", request.method, request.url);
    push_headers(&mut out, &request.headers);
    if let Some(body) = &request.body {
        out.push('\n');
        match (body.get("decoded_protected"), body.get("decoded_payload")) {
            (Some(protected), Some(payload)) => {
                let payload = match payload.as_str() {
                    Some("") => "(empty: POST-as-GET)".to_owned(),
                    _ => body_text(payload),
                };
                out.push_str(&format!("protected: {protected}\npayload: {payload}\n"));
            }
            _ => out.push_str(&format!("{}\n", body_text(body))),
        }
    }
    out.push('\n');
    match (&exchange.response, &exchange.error) {
        (Some(response), _) => {
            out.push_str(&format!(
                "HTTP {} ({} ms)\n",
                response.status, exchange.elapsed_ms
            ));
            push_headers(&mut out, &response.headers);
            if let Some(body) = &response.body {
                out.push_str(&format!("\n{}\n", body_text(body)));
            }
        }
        (None, error) => out.push_str(&format!(
            "no response after {} ms: {}\n",
            exchange.elapsed_ms,
            error.as_deref().unwrap_or("no error recorded")
        )),
    }
    out
}

fn push_headers(out: &mut String, headers: &[(String, String)]) {
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\n"));
    }
}

/// A text body as it came; JSON pretty-printed.
fn body_text(body: &Value) -> String {
    match body {
        Value::String(text) => text.clone(),
        json => serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_sort_by_number_not_by_text_and_drafts_last() {
        let mut sections = [
            "draft-ietf-acme-profiles/4",
            "rfc8555/10.5",
            "rfc8555/6.5.2",
            "rfc8555/6.5",
            "draft-ietf-acme-profiles/3",
            "rfc8555/7.1.1",
            "rfc8738/3",
        ];
        sections.sort_by_key(|s| section_order(s));
        assert_eq!(
            sections,
            [
                "rfc8555/6.5",
                "rfc8555/6.5.2",
                "rfc8555/7.1.1",
                "rfc8555/10.5",
                "rfc8738/3",
                "draft-ietf-acme-profiles/3",
                "draft-ietf-acme-profiles/4"
            ]
        );
        assert_eq!(section_of("rfc8555/7.4/finalize-csr"), "rfc8555/7.4");
        assert_eq!(section_of("odd"), "odd");
    }

    #[test]
    fn a_jws_body_shows_decoded_and_a_failed_exchange_its_error() {
        let exchange: Exchange = serde_json::from_value(serde_json::json!({
            "request": {"method": "POST", "url": "https://ca.test/new-order", "headers": [],
                "body": {"protected": "eyJh", "payload": "", "signature": "c2ln",
                    "decoded_protected": {"alg": "ES256"}, "decoded_payload": ""}},
            "error": "connection reset",
            "elapsed_ms": 7
        }))
        .expect("exchange");
        let text = exchange_text(&exchange);
        assert_eq!(
            text,
            "POST https://ca.test/new-order\n\nprotected: {\"alg\":\"ES256\"}\npayload: (empty: POST-as-GET)\n\nno response after 7 ms: connection reset\n"
        );
    }
}
