//! Judging how the CA validated, from what the runner's own responders saw.
//!
//! Most of RFC 8555 §8, RFC 8737 and RFC 8738 is about the validation requests a
//! CA sends (which Host, which SNI, which ALPN list, whether it looked an IP
//! address up in the DNS, how it ended the TLS connection), not about its HTTP
//! API. The responders record every request; this module picks out the records
//! that belong to one case and checks a step's `validation` expectation on them.
//!
//! Records are attributed by what is unique to the case: http-01 requests by
//! token, tls-alpn-01 handshakes by SNI, DNS queries by name, all no older than
//! the case. IP identifiers are the exception: their SNI and names are the same
//! in every case using that address, so two such cases must not run at once.

use crate::protocol::wire::Identifier;
use crate::responders::{
    AFTER_HANDSHAKE_WAIT, DnsQueryRecord, DnsTransport, HTTP01_REDIRECT_PREFIX, Http01Request,
    RequestRecord, Responders, TlsAlpnHandshake, TlsAlpnOutcome, reverse_dns_name,
};
use hickory_server::proto::rr::RecordType;
use crate::runner::expect::Mismatch;
use crate::scenario::{DnsTransportName, ValidationExpect};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

/// The challenges a case asked the CA to validate.
#[derive(Debug, Default)]
pub(crate) struct Attempted {
    identifiers: Vec<Identifier>,
    tokens: Vec<String>,
}

impl Attempted {
    /// Notes a challenge of `identifier` with `token` the case responded to.
    pub(crate) fn add(&mut self, identifier: &Identifier, token: Option<&str>) {
        if !self.identifiers.contains(identifier) {
            self.identifiers.push(identifier.clone());
        }
        if let Some(token) = token
            && !self.tokens.iter().any(|t| t == token)
        {
            self.tokens.push(token.to_owned());
        }
    }

    /// SNIs a handshake for one of the identifiers may carry: the name or reverse
    /// name, and for an address also the literal or none at all (a misbehaving CA's).
    fn claims_sni(&self, sni: Option<&str>) -> bool {
        let sni = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        self.identifiers
            .iter()
            .any(|id| match id.value.parse::<IpAddr>() {
                Ok(ip) if id.kind == "ip" => sni
                    .as_deref()
                    .is_none_or(|s| s == reverse_dns_name(ip) || s.parse::<IpAddr>() == Ok(ip)),
                _ => sni.as_deref() == Some(id.value.to_ascii_lowercase().as_str()),
            })
    }

    /// DNS names about the identifiers: a name and its `_acme-challenge` label, an
    /// address as text and its reverse name.
    fn claims_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.identifiers.iter().any(|id| {
            let value = id.value.to_ascii_lowercase();
            name == value
                || name == format!("_acme-challenge.{value}")
                || id
                    .value
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| id.kind == "ip" && name == reverse_dns_name(ip))
        })
    }
}

/// The responder records of one case.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    http: Vec<Http01Request>,
    tls: Vec<TlsAlpnHandshake>,
    dns: Vec<DnsQueryRecord>,
}

/// Collects the records of `attempted` made since `since`. With `tls_checked`, open
/// tls-alpn-01 connections are let finish first (a CA that keeps one open is recorded
/// when the responder gives up on it); otherwise no wait, since the connections may be
/// other cases' and waiting would upset this case's timing.
pub(crate) async fn observe(
    responders: &Responders,
    since: SystemTime,
    attempted: &Attempted,
    tls_checked: bool,
) -> Observed {
    if tls_checked {
        responders
            .tls_alpn()
            .settle(AFTER_HANDSHAKE_WAIT + Duration::from_secs(2))
            .await;
    }
    Observed {
        http: responders
            .http01()
            .history()
            .into_iter()
            .filter(|r| {
                r.at >= since
                    && r.token
                        .as_ref()
                        .is_some_and(|t| attempted.tokens.contains(t))
            })
            .collect(),
        tls: responders
            .tls_alpn()
            .history()
            .into_iter()
            .filter(|r| r.at >= since && attempted.claims_sni(r.sni.as_deref()))
            .collect(),
        dns: responders
            .dns()
            .history()
            .into_iter()
            .filter(|r| r.at >= since && attempted.claims_name(&r.name))
            .collect(),
    }
}

/// Requests for one token less than this apart belong to one validation query: a CA
/// validating from several vantage points (Pebble makes three requests) sends them at once.
const QUERY_GAP: Duration = Duration::from_millis(150);

/// How many validation queries the http-01 `requests` (any order) are: bursts per token.
fn http_queries<'a>(requests: impl IntoIterator<Item = &'a Http01Request>) -> usize {
    let mut by_token: Vec<(&str, SystemTime)> = requests
        .into_iter()
        .filter_map(|r| Some((r.token.as_deref()?, r.at)))
        .collect();
    by_token.sort();
    by_token
        .iter()
        .enumerate()
        .filter(
            |(i, (token, at))| match i.checked_sub(1).map(|p| by_token[p]) {
                Some((previous_token, previous_at)) if previous_token == *token => {
                    at.duration_since(previous_at).unwrap_or_default() >= QUERY_GAP
                }
                _ => true,
            },
        )
        .count()
}

/// How many validation queries for `token` the http-01 responder saw since `since`.
/// Most responder records quoted in one observation.
const SEEN_QUOTED: usize = 12;

/// What the responders saw of `attempted` since `since`, one line each with its time
/// after `since`: the requests a server developer needs beside a failed validation
/// (Host, SNI, ALPN, DNS transport, and what the responder answered or refused).
pub(crate) fn seen_lines(responders: &Responders, since: SystemTime, attempted: &Attempted) -> Vec<String> {
    let claims_token = |r: &Http01Request| r.token.as_ref().is_some_and(|t| attempted.tokens.contains(t));
    let http = responders.http01().history().into_iter().filter(|r| claims_token(r)).map(|r| RequestRecord::from(&r));
    let tls = responders.tls_alpn().history().into_iter().filter(|r| attempted.claims_sni(r.sni.as_deref())).map(|r| RequestRecord::from(&r));
    let dns = responders.dns().history().into_iter().filter(|r| attempted.claims_name(&r.name)).map(|r| RequestRecord::from(&r));
    let mut lines: Vec<(SystemTime, String)> =
        http.chain(tls).chain(dns).filter(|r| r.at >= since).map(|r| (r.at, format!("{} {}", r.kind, r.summary))).collect();
    lines.sort_by_key(|(at, _)| *at);
    let total = lines.len();
    let mut out: Vec<String> = lines
        .into_iter()
        .take(SEEN_QUOTED)
        .map(|(at, line)| format!("+{:.2}s {line}", at.duration_since(since).unwrap_or_default().as_secs_f64()))
        .collect();
    if total > SEEN_QUOTED {
        out.push(format!("and {} more", total - SEEN_QUOTED));
    }
    out
}

/// Whether the responders saw, since `since`, the CA validate a `kind` challenge for
/// `identifier`: an http-01 request for `token`, a TXT query for the identifier's
/// `_acme-challenge` name, or a ClientHello offering acme-tls/1 for its SNI. `None` for
/// a challenge type the responders do not answer.
pub(crate) async fn validation_seen(
    responders: &Responders,
    since: SystemTime,
    kind: &str,
    identifier: &Identifier,
    token: Option<&str>,
) -> Option<bool> {
    let mut attempted = Attempted::default();
    attempted.add(identifier, token);
    Some(match kind {
        "http-01" => responders.http01().history().iter().any(|r| r.at >= since && r.token.as_deref().is_some_and(|t| Some(t) == token)),
        "dns-01" => {
            let name = format!("_acme-challenge.{}", identifier.value.trim_start_matches("*.").to_ascii_lowercase());
            responders.dns().history().iter().any(|r| {
                r.at >= since && r.name.trim_end_matches('.') == name && r.qtype == Some(RecordType::TXT)
            })
        }
        "tls-alpn-01" => {
            let seen = |responders: &Responders| {
                responders.tls_alpn().history().iter().any(|r| {
                    r.at >= since && attempted.claims_sni(r.sni.as_deref()) && r.alpn_offered.iter().any(|p| p == "acme-tls/1")
                })
            };
            // A handshake is recorded once its connection ends.
            if !seen(responders) {
                responders.tls_alpn().settle(AFTER_HANDSHAKE_WAIT + Duration::from_secs(2)).await;
            }
            seen(responders)
        }
        _ => return None,
    })
}

pub(crate) fn http_queries_for(responders: &Responders, since: SystemTime, token: &str) -> usize {
    let history = responders.http01().history();
    http_queries(
        history
            .iter()
            .filter(|r| r.at >= since && r.token.as_deref() == Some(token)),
    )
}

fn mismatch(expected: impl Into<String>, observed: impl Into<String>) -> Mismatch {
    Mismatch {
        expected: expected.into(),
        observed: observed.into(),
    }
}

/// The host part of a Host header: without the port, IPv6 brackets removed.
fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Whether a Host (or SNI) value names `want`: IP addresses must be written exactly
/// as `want` (the canonical text form), DNS names are compared without case.
fn names(seen: &str, want: &str) -> bool {
    if want.parse::<IpAddr>().is_ok() {
        seen == want
    } else {
        seen.trim_end_matches('.').eq_ignore_ascii_case(want)
    }
}

fn local_ip(addr: &SocketAddr) -> IpAddr {
    addr.ip().to_canonical()
}

/// The mismatches of `v` that what the responders saw shows, leaving out those that only
/// say nothing arrived (which an unreachable runner explains as well as the CA).
pub(crate) fn evidence_against(v: &ValidationExpect, observed: &Observed, expand: &dyn Fn(&str) -> String) -> Vec<Mismatch> {
    let absence = check(v, &Observed::default(), expand, None);
    check(v, observed, expand, None).into_iter().filter(|m| !absence.contains(m)).collect()
}

/// Checks `v` on `observed` and the step's response `body`; `expand` fills
/// placeholders in expected values.
pub(crate) fn check(
    v: &ValidationExpect,
    observed: &Observed,
    expand: &dyn Fn(&str) -> String,
    body: Option<&Value>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let completed: Vec<&TlsAlpnHandshake> = observed
        .tls
        .iter()
        .filter(|h| h.outcome == TlsAlpnOutcome::Completed)
        .collect();
    let none_http = || {
        mismatch(
            "at least one http-01 request for this case's tokens",
            "none reached the http-01 responder",
        )
    };
    let none_tls = || {
        mismatch(
            "at least one tls-alpn-01 connection for this case",
            "none reached the tls-alpn-01 responder",
        )
    };
    if let Some(host) = &v.http_host {
        let want = expand(host);
        if observed.http.is_empty() {
            out.push(none_http());
        }
        for r in &observed.http {
            let seen = r.host.as_deref().unwrap_or("");
            if !names(host_part(seen), &want) {
                out.push(mismatch(
                    format!("http-01 request with Host {want}"),
                    format!("{} {} with Host {seen:?}", r.method, r.path),
                ));
            }
        }
    }
    if let Some(addr) = &v.connected_to {
        match expand(addr).parse::<IpAddr>() {
            Err(_) => out.push(mismatch("connected_to naming an IP address", addr.clone())),
            Ok(want) => {
                let mut locals: Vec<IpAddr> =
                    observed.http.iter().map(|r| local_ip(&r.local)).collect();
                locals.extend(observed.tls.iter().map(|h| local_ip(&h.local)));
                if locals.is_empty() {
                    out.push(mismatch(
                        "at least one validation connection for this case",
                        "none reached the responders",
                    ));
                }
                if let Some(other) = locals.iter().find(|ip| **ip != want) {
                    out.push(mismatch(
                        format!("validation connections to {want}"),
                        format!("a connection to {other}"),
                    ));
                }
            }
        }
    }
    if let Some(want) = v.redirect_followed {
        let followed = observed
            .http
            .iter()
            .any(|r| r.path.starts_with(HTTP01_REDIRECT_PREFIX));
        if followed != want {
            let say = |b: bool| {
                if b {
                    "the redirect followed"
                } else {
                    "the redirect not followed"
                }
            };
            out.push(mismatch(say(want), say(followed)));
        }
    }
    if let Some(sni) = &v.tls_sni {
        let want = expand(sni);
        if observed.tls.is_empty() {
            out.push(none_tls());
        }
        for h in &observed.tls {
            if !h.sni.as_deref().is_some_and(|s| names(s, &want)) {
                out.push(mismatch(
                    format!("ClientHello with SNI {want}"),
                    format!("SNI {}", h.sni.as_deref().unwrap_or("absent")),
                ));
            }
        }
    }
    if let Some(alpn) = &v.alpn_offered {
        if observed.tls.is_empty() {
            out.push(none_tls());
        }
        for h in observed.tls.iter().filter(|h| &h.alpn_offered != alpn) {
            out.push(mismatch(
                format!("ClientHello offering ALPN {alpn:?}"),
                format!("ALPN {:?}", h.alpn_offered),
            ));
        }
    }
    let needs_completed =
        v.tls_no_data_after_handshake.is_some() || v.tls_closed_within_ms.is_some();
    if needs_completed && completed.is_empty() {
        out.push(mismatch(
            "at least one completed acme-tls/1 handshake for this case",
            "none completed",
        ));
    }
    if v.tls_no_data_after_handshake == Some(true) {
        for a in completed
            .iter()
            .filter_map(|h| h.after_handshake)
            .filter(|a| a.data_bytes > 0)
        {
            out.push(mismatch(
                "no data after the acme-tls/1 handshake",
                format!("{} bytes of application data", a.data_bytes),
            ));
        }
    }
    if let Some(ms) = v.tls_closed_within_ms {
        let limit = Duration::from_millis(ms);
        for a in completed.iter().filter_map(|h| h.after_handshake) {
            match a.closed_after {
                Some(after) if after <= limit => {}
                Some(after) => out.push(mismatch(
                    format!("connection closed within {ms} ms of the handshake"),
                    format!("closed after {} ms", after.as_millis()),
                )),
                None => out.push(mismatch(
                    format!("connection closed within {ms} ms of the handshake"),
                    format!("still open {} s after it", AFTER_HANDSHAKE_WAIT.as_secs()),
                )),
            }
        }
    }
    if let Some(want) = v.dns_queried {
        let seen = !observed.dns.is_empty();
        if seen != want {
            let shown: Vec<String> = observed
                .dns
                .iter()
                .take(3)
                .map(|q| {
                    format!(
                        "{} {}",
                        q.name,
                        q.qtype.map(|t| t.to_string()).unwrap_or_default()
                    )
                })
                .collect();
            out.push(mismatch(
                if want {
                    "a DNS query about the identifier"
                } else {
                    "no DNS query about the identifier"
                },
                if seen {
                    format!("DNS queries: {}", shown.join(", "))
                } else {
                    "no DNS query".to_owned()
                },
            ));
        }
    }
    let is = |q: &DnsQueryRecord, types: &[RecordType], acme_label: bool| {
        q.qtype.is_some_and(|t| types.contains(&t)) && q.name.starts_with("_acme-challenge.") == acme_label
    };
    let lookups: Vec<String> = observed
        .dns
        .iter()
        .filter(|q| is(q, &[RecordType::A, RecordType::AAAA], false) && !q.name.ends_with(".arpa"))
        .map(|q| format!("{} {}", q.name, q.qtype.map(|t| t.to_string()).unwrap_or_default()))
        .collect();
    if let Some(want) = v.dns_address_lookup
        && lookups.is_empty() == want
    {
        let expected = if want { "an A or AAAA query for the identifier" } else { "no A or AAAA query for the identifier (RFC 8738 §4)" };
        let seen = if lookups.is_empty() { "none".to_owned() } else { format!("queries {}", lookups.join(", ")) };
        out.push(mismatch(expected, seen));
    }
    if let Some(want) = v.dns_txt_queried {
        let seen = observed.dns.iter().any(|q| is(q, &[RecordType::TXT], true));
        if seen != want {
            let expected = if want { "a TXT query for the _acme-challenge name (RFC 8555 §8.4)" } else { "no TXT query for the _acme-challenge name" };
            out.push(mismatch(expected, if seen { "one was seen" } else { "none reached the DNS responder" }));
        }
    }
    let queries = http_queries(&observed.http);
    if let Some(min) = v.http_queries_min
        && queries < min
    {
        out.push(mismatch(
            format!("at least {min} http-01 validation queries for this case's tokens"),
            format!("{queries}"),
        ));
    }
    if let Some(max) = v.http_queries_max
        && queries > max
    {
        out.push(mismatch(
            format!("at most {max} http-01 validation queries for this case's tokens"),
            format!("{queries}"),
        ));
    }
    if v.error_entries_cover_queries == Some(true) {
        let entries = body.and_then(|b| b.get("error")).map_or(0, error_entries);
        if queries == 0 {
            out.push(none_http());
        } else if entries < queries {
            out.push(mismatch(
                format!("an entry in /error per failed validation query: {queries} (http-01 queries seen)"),
                format!("{entries} entries"),
            ));
        }
    }
    if let Some(transport) = v.dns_transport {
        let want = match transport {
            DnsTransportName::Tcp => DnsTransport::Tcp,
            DnsTransportName::Udp => DnsTransport::Udp,
        };
        if observed.dns.is_empty() {
            out.push(mismatch(
                "at least one DNS query about this case's identifiers",
                "none reached the DNS responder",
            ));
        }
        if let Some(q) = observed.dns.iter().find(|q| q.transport != want) {
            let qtype = q.qtype.map(|t| t.to_string()).unwrap_or_default();
            out.push(mismatch(
                format!("DNS queries over {want}"),
                format!("{} {qtype} over {}", q.name, q.transport),
            ));
        }
    }
    out
}

/// The entries of a challenge error (RFC 8555 §8.2): its subproblems (§6.7.1), or
/// the problem itself when it has none.
fn error_entries(error: &Value) -> usize {
    match error.get("subproblems").and_then(Value::as_array) {
        Some(subproblems) if !subproblems.is_empty() => subproblems.len(),
        _ => usize::from(error.is_object()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_entries_are_subproblems_or_the_problem_itself() {
        let problem = serde_json::json!({ "type": "urn:ietf:params:acme:error:connection" });
        assert_eq!(error_entries(&problem), 1);
        let retried = serde_json::json!({ "type": "x", "subproblems": [problem.clone(), problem.clone(), problem] });
        assert_eq!(error_entries(&retried), 3);
        assert_eq!(
            error_entries(&serde_json::json!({ "type": "x", "subproblems": [] })),
            1
        );
        assert_eq!(error_entries(&Value::Null), 0);
    }

    #[test]
    fn http_queries_are_bursts_of_requests_per_token() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let addr = SocketAddr::from(([127, 0, 0, 1], 80));
        let request = |token: &str, ms: u64| Http01Request {
            at: start + Duration::from_millis(ms),
            peer: addr,
            local: addr,
            method: "GET".into(),
            path: format!("/.well-known/acme-challenge/{token}"),
            host: None,
            user_agent: None,
            token: Some(token.into()),
            status: 404,
        };
        // Three vantage points at once, a retry a second later, another token meanwhile.
        let seen = [
            request("a", 0),
            request("a", 5),
            request("b", 7),
            request("a", 1_000),
            request("a", 20),
        ];
        assert_eq!(http_queries(&seen), 3);
        assert_eq!(http_queries(&seen[..3]), 2);
        assert_eq!(http_queries(&[]), 0);
    }

    #[test]
    fn host_part_strips_port_and_brackets() {
        assert_eq!(host_part("a.test:5002"), "a.test");
        assert_eq!(host_part("a.test"), "a.test");
        assert_eq!(host_part("[::1]:5002"), "::1");
        assert_eq!(host_part("[::1]"), "::1");
        assert_eq!(host_part("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host_part("::1"), "::1");
    }

    #[test]
    fn addresses_compare_as_text_names_without_case() {
        assert!(names("A.Test", "a.test"));
        assert!(names("127.0.0.1", "127.0.0.1"));
        assert!(!names("0:0:0:0:0:0:0:1", "::1"));
        assert!(!names("1.0.0.127.in-addr.arpa", "127.0.0.1"));
    }

    #[test]
    fn attribution_by_sni_and_name() {
        let mut a = Attempted::default();
        a.add(
            &Identifier {
                kind: "ip".into(),
                value: "127.0.0.1".into(),
            },
            Some("tok"),
        );
        a.add(
            &Identifier {
                kind: "dns".into(),
                value: "x.test".into(),
            },
            None,
        );
        assert!(a.claims_sni(Some("1.0.0.127.in-addr.arpa")));
        assert!(a.claims_sni(None));
        assert!(a.claims_sni(Some("X.test")));
        assert!(!a.claims_sni(Some("y.test")));
        assert!(a.claims_name("_acme-challenge.x.test."));
        assert!(a.claims_name("1.0.0.127.in-addr.arpa"));
        assert!(!a.claims_name("y.test"));
    }
}
