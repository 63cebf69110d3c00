//! Client checks: the client-side requirements of RFC 8555 (and RFC 8737 / 9773),
//! judged from the mock CA's journal of what a client sent and how it reacted.
//!
//! The journal is the only record of a client's behaviour that every client shares
//! (no instrumentation, no log parsing), so each check is a pure function of it and a
//! report can be recomputed from a saved journal. The journal keeps the request and a
//! summary of the answer but not every response header, so some facts are inferred:
//! which `newOrder` created an order, which account URL the server handed out, when a
//! request was certainly sent after a response. Every inference is conservative: a
//! check fails only when the journal proves the deviation, and a situation the journal
//! cannot settle is left unjudged rather than guessed. A check that found nothing to
//! judge is `not-applicable`, so a pass always means the client was actually tested.

mod accounts;
mod authorizations;
mod messages;
mod orders;

use crate::mockca::{Endpoint, Entry, FaultKind};
use crate::protocol::b64;
use crate::protocol::jws::{JwsFault, ParsedJws};
use crate::protocol::wire::ERROR_NS;
use crate::scenario::Level;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The verdict of one check on one client run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckVerdict {
    /// The client met the requirement every time it applied.
    Pass,
    /// The client broke the requirement at least once.
    Fail,
    /// The run gave the check nothing to judge (e.g. no badNonce was ever sent).
    NotApplicable,
}

/// What a check is, independent of any run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    /// Stable id, `client/6.5/retries-bad-nonce`.
    pub id: &'static str,
    /// One line saying what the client must do.
    pub title: &'static str,
    /// The level of the requirement.
    pub level: Level,
    /// Requirement ids from the catalogue.
    pub requirements: &'static [&'static str],
}

/// One check's outcome on one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check id.
    pub id: String,
    /// The verdict.
    pub verdict: CheckVerdict,
    /// For failures: what the client did, naming the request(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// Journal positions of the requests that decided the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<usize>,
}

/// What a check needs besides the journal.
#[derive(Debug, Clone)]
pub struct GradeContext<'a> {
    /// Every request of the run, in order.
    pub entries: &'a [Entry],
    /// The mock CA's base URL (`https://127.0.0.1:PORT`), to rebuild request URLs.
    pub base_url: &'a str,
    /// The certificate chain the client was asked to prefer, if it was asked.
    pub preferred_chain: Option<ChainPreference>,
    /// The certificate profiles in play (draft-ietf-acme-profiles).
    pub profiles: ProfileContext,
}

impl<'a> GradeContext<'a> {
    /// A run in which the client was asked for no particular chain or profile, against a
    /// CA advertising no profiles.
    pub fn new(entries: &'a [Entry], base_url: &'a str) -> Self {
        GradeContext { entries, base_url, preferred_chain: None, profiles: ProfileContext::default() }
    }
}

/// The certificate profiles of a run (draft-ietf-acme-profiles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileContext {
    /// The profile the client was asked to use, if any.
    pub requested: Option<String>,
    /// The profile names the CA's `meta.profiles` advertised.
    pub advertised: Vec<String>,
}

/// A chain the client was asked to prefer (lego's and certbot's `--preferred-chain`):
/// one of the alternates the mock CA links from a certificate with `rel="alternate"`
/// (RFC 8555 §7.4.2), at `/certificate/<id>/<chain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPreference {
    /// Which alternate (1 for the first; 0 would be the default chain).
    pub chain: usize,
    /// The Subject CN the client was given: the issuer of that chain's topmost certificate.
    pub issuer: String,
    /// The issuer CN of the topmost certificate of the chain the client kept, when the
    /// adapter says where the client keeps it.
    pub kept_issuer: Option<String>,
}

/// A check: what it is and how it judges a run.
struct Check {
    info: CheckInfo,
    judge: fn(&Run<'_>) -> Outcome,
}

static CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "client/6.1/user-agent",
            title: "Every request carries a User-Agent header.",
            level: Level::Must,
            requirements: &["R8555-6.1-04"],
        },
        judge: messages::user_agent,
    },
    Check {
        info: CheckInfo {
            id: "client/6.2/content-type",
            title: "Every POST carries Content-Type application/jose+json.",
            level: Level::Must,
            requirements: &[],
        },
        judge: messages::content_type,
    },
    Check {
        info: CheckInfo {
            id: "client/6.2/flattened-jws",
            title: "Every POST body is a flattened JWS with one signature, unpadded base64url and no unprotected header.",
            level: Level::Must,
            requirements: &[
                "R8555-6.2-01",
                "R8555-6.2-03",
                "R8555-6.2-04",
                "R8555-6.2-05",
                "R8555-6.2-06",
                "R8555-6.2-07",
                "R8555-6.1-08",
            ],
        },
        judge: messages::flattened_jws,
    },
    Check {
        info: CheckInfo {
            id: "client/6.2/protected-header-fields",
            title: "Every JWS protected header has alg, nonce and url, and exactly one of jwk and kid.",
            level: Level::Must,
            requirements: &[
                "R8555-6.2-08",
                "R8555-6.2-09",
                "R8555-6.2-10",
                "R8555-6.2-11",
                "R8555-6.4.1-01",
                "R8555-6.4.1-02",
                "R8555-6.5-03",
                "R8555-6.5.2-01",
            ],
        },
        judge: messages::protected_header_fields,
    },
    Check {
        info: CheckInfo {
            id: "client/6.2/jwk-or-kid-by-resource",
            title: "The key is given as jwk on newAccount (and certificate-key revokeCert) and as kid everywhere else.",
            level: Level::Must,
            requirements: &["R8555-6.2-16", "R8555-6.2-18"],
        },
        judge: messages::jwk_or_kid_by_resource,
    },
    Check {
        info: CheckInfo {
            id: "client/6.2/kid-is-account-url",
            title: "The kid is the account URL the server returned for newAccount.",
            level: Level::Must,
            requirements: &["R8555-6.2-19"],
        },
        judge: messages::kid_is_account_url,
    },
    Check {
        info: CheckInfo {
            id: "client/6.2/alg-allowed",
            title: "No JWS is signed with alg none or a MAC algorithm.",
            level: Level::Must,
            requirements: &["R8555-6.2-12"],
        },
        judge: messages::alg_allowed,
    },
    Check {
        info: CheckInfo {
            id: "client/6.4/url-matches-request",
            title: "The JWS url is exactly the URL the request was sent to.",
            level: Level::Must,
            requirements: &["R8555-6.4-03", "R8555-6.4.1-02"],
        },
        judge: messages::url_matches_request,
    },
    Check {
        info: CheckInfo {
            id: "client/6.5/nonce-fresh",
            title: "Every JWS nonce was issued by the server in an earlier response and is used only once.",
            level: Level::Must,
            requirements: &["R8555-6.5-03", "R8555-6.5.2-02"],
        },
        judge: messages::nonce_fresh,
    },
    Check {
        info: CheckInfo {
            id: "client/6.3/post-as-get-empty-payload",
            title: "Resources are fetched with POST-as-GET and an empty payload, never with {}.",
            level: Level::Must,
            requirements: &["R8555-6.3-02", "R8555-6.3-03"],
        },
        judge: messages::post_as_get_empty_payload,
    },
    Check {
        info: CheckInfo {
            id: "client/6.3/no-plain-get",
            title: "No plain GET or HEAD is sent to a resource other than the directory, newNonce and renewalInfo.",
            level: Level::Must,
            requirements: &["R8555-6.3-02"],
        },
        judge: messages::no_plain_get,
    },
    Check {
        info: CheckInfo {
            id: "client/7.5.1/challenge-response-empty-object",
            title: "A challenge is answered with the empty object {} as payload.",
            level: Level::Should,
            requirements: &[],
        },
        judge: authorizations::challenge_response_empty_object,
    },
    Check {
        info: CheckInfo {
            id: "client/7.4/csr-names-match-order",
            title: "The finalize CSR requests exactly the identifiers of the order.",
            level: Level::Must,
            requirements: &["R8555-7.4-06", "R8555-7.4-07", "R8555-7.4-08"],
        },
        judge: orders::csr_names_match_order,
    },
    Check {
        info: CheckInfo {
            id: "client/7.4/csr-key-not-account-key",
            title: "The finalize CSR's public key is not an account key.",
            level: Level::Must,
            requirements: &["R8555-11.1-02", "R8555-11.1-05"],
        },
        judge: orders::csr_key_not_account_key,
    },
    Check {
        info: CheckInfo {
            id: "client/7.4/finalize-when-ready",
            title: "An order is finalized only once it is ready (seen ready, or its authorizations seen valid).",
            level: Level::Should,
            requirements: &["R8555-7.1.3-09"],
        },
        judge: orders::finalize_when_ready,
    },
    Check {
        info: CheckInfo {
            id: "client/7.3.5/key-change-inner-jws",
            title: "A key rollover's inner JWS carries the new jwk, no nonce, the outer url, and a payload naming the account and old key.",
            level: Level::Must,
            requirements: &[
                "R8555-7.3.5-01",
                "R8555-7.3.5-03",
                "R8555-7.3.5-04",
                "R8555-7.3.5-05",
                "R8555-7.3.5-06",
                "R8555-11.1-04",
            ],
        },
        judge: accounts::key_change_inner_jws,
    },
    Check {
        info: CheckInfo {
            id: "client/6.5/retries-bad-nonce",
            title: "After a badNonce error the client retries with a fresh nonce, and gives up after a few tries.",
            level: Level::Should,
            requirements: &["R8555-6.5-08", "R8555-6.5-10"],
        },
        judge: messages::retries_bad_nonce,
    },
    Check {
        info: CheckInfo {
            id: "client/6.6/honours-retry-after",
            title: "After a 429 or 503 with Retry-After the client waits that long before asking the same resource again.",
            level: Level::Should,
            requirements: &[],
        },
        judge: messages::honours_retry_after,
    },
    Check {
        info: CheckInfo {
            id: "client/7.5.1/polls-authorization",
            title: "After answering a challenge the client checks progress with POST-as-GET instead of answering it again.",
            level: Level::Must,
            requirements: &["R8555-6.3-02"],
        },
        judge: authorizations::polls_authorization,
    },
    Check {
        info: CheckInfo {
            id: "client/7.4/waits-for-valid",
            title: "After finalize answers processing the client polls the order until valid before downloading the certificate.",
            level: Level::Should,
            requirements: &["R8555-7.1.3-09"],
        },
        judge: orders::waits_for_valid,
    },
    Check {
        info: CheckInfo {
            id: "client/7.5.1/polling-respects-retry-after",
            title: "Polls of a pending authorization or a processing order come no sooner than the Retry-After the server sent.",
            level: Level::Should,
            requirements: &[],
        },
        judge: authorizations::polling_respects_retry_after,
    },
    Check {
        info: CheckInfo {
            id: "client/7.5/no-challenge-for-valid-authorization",
            title: "An order that is ready when created (its authorizations already valid) is finalized without answering a challenge.",
            level: Level::Should,
            requirements: &["R8555-7.1.3-09"],
        },
        judge: authorizations::no_challenge_for_valid_authorization,
    },
    Check {
        info: CheckInfo {
            id: "client/7.4.2/fetches-preferred-chain",
            title: "Asked to prefer an alternate chain, the client fetches it from the rel=\"alternate\" link and keeps it.",
            level: Level::Should,
            requirements: &[],
        },
        judge: orders::fetches_preferred_chain,
    },
    Check {
        info: CheckInfo {
            id: "client/7.4/sends-requested-profile",
            title: "Asked for a certificate profile, the client names it in every newOrder.",
            level: Level::Should,
            requirements: &[],
        },
        judge: orders::sends_requested_profile,
    },
    Check {
        info: CheckInfo {
            id: "client/7.4/no-unadvertised-profile",
            title: "The client names no profile in newOrder that the directory's meta.profiles does not advertise.",
            level: Level::Should,
            requirements: &["RPROFILES-4-01"],
        },
        judge: orders::no_unadvertised_profile,
    },
    Check {
        info: CheckInfo {
            id: "client/9773-4.2/renews-when-window-passed",
            title: "After renewalInfo suggests a window that has already passed, the client renews (a new order) at once.",
            level: Level::Should,
            requirements: &["R9773-4.2-05"],
        },
        judge: orders::renews_when_window_passed,
    },
];

static INFOS: LazyLock<Vec<CheckInfo>> = LazyLock::new(|| CHECKS.iter().map(|c| c.info).collect());

/// Every check, in a stable order.
pub fn all_checks() -> &'static [CheckInfo] {
    &INFOS
}

/// Grades one run with every check.
pub fn grade(ctx: &GradeContext<'_>) -> Vec<CheckResult> {
    let run = Run::new(ctx);
    CHECKS.iter().map(|c| (c.judge)(&run).into_result(c.info.id)).collect()
}

// ---------------------------------------------------------------------------------
// Outcomes

/// Failures listed by name in `observed`; the rest are counted.
const LISTED_FAILURES: usize = 3;
/// Evidence positions kept per result, so a runaway client keeps the report readable.
const EVIDENCE_LIMIT: usize = 20;
/// Consecutive badNonce answers to one URL a client may collect before it should have
/// given up; one more means it is looping.
const BAD_NONCE_STREAK: usize = 10;

/// What a check found on one run.
#[derive(Default)]
struct Outcome {
    /// Situations judged (requests checked, or triggers examined).
    judged: usize,
    /// Each deviation: the journal positions involved and what the client did.
    failures: Vec<(Vec<usize>, String)>,
    /// For passing behaviour oracles: the triggers that were examined.
    triggers: Vec<usize>,
}

impl Outcome {
    fn judge(&mut self) {
        self.judged += 1;
    }

    fn trigger(&mut self, e: &Entry) {
        self.judged += 1;
        self.triggers.push(e.seq);
    }

    fn fail(&mut self, seqs: Vec<usize>, what: String) {
        self.failures.push((seqs, what));
    }

    fn into_result(self, id: &str) -> CheckResult {
        let (verdict, observed, evidence) = if !self.failures.is_empty() {
            let n = self.failures.len();
            let mut observed = self.failures.iter().take(LISTED_FAILURES).map(|(_, w)| w.as_str()).collect::<Vec<_>>().join("; ");
            if n > LISTED_FAILURES {
                observed.push_str(&format!("; and {} more", n - LISTED_FAILURES));
            }
            let mut evidence: Vec<usize> = self.failures.into_iter().flat_map(|(s, _)| s).collect();
            evidence.sort_unstable();
            evidence.dedup();
            (CheckVerdict::Fail, Some(observed), evidence)
        } else if self.judged == 0 {
            (CheckVerdict::NotApplicable, None, Vec::new())
        } else {
            (CheckVerdict::Pass, None, self.triggers)
        };
        CheckResult { id: id.to_owned(), verdict, observed, evidence: evidence.into_iter().take(EVIDENCE_LIMIT).collect() }
    }
}

// ---------------------------------------------------------------------------------
// The journal, indexed once per run

/// The payload of a request, as far as the journal shows it.
#[derive(Clone, Copy)]
enum Body<'a> {
    /// No JWS, or one that did not parse: the payload is unknown.
    Unknown,
    /// The empty payload of a POST-as-GET.
    Empty,
    /// A JSON payload.
    Json(&'a Value),
    /// A payload that is not JSON.
    NotJson,
}

/// A public key reduced to what identifies it, comparable between a JWK and a
/// SubjectPublicKeyInfo (EC points are compared by x and the parity of y, so a
/// compressed point in a CSR still matches).
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyPrint {
    Ec { x: Vec<u8>, y_odd: bool },
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Okp(Vec<u8>),
}

/// A run's journal with the indexes the checks share.
struct Run<'a> {
    entries: &'a [Entry],
    base: &'a str,
    /// Position of the response that first issued each nonce.
    issued: HashMap<&'a str, usize>,
    /// Position of the request that first carried each nonce.
    first_use: HashMap<&'a str, usize>,
    /// Per order id: the positions of the `newOrder` requests that may have created it
    /// (exactly one when the creator is certain; empty when unknown).
    origins: HashMap<&'a str, Vec<usize>>,
    /// Account keys the client used, with the position that shows each.
    account_keys: Vec<(KeyPrint, usize)>,
    preferred_chain: Option<&'a ChainPreference>,
    profiles: &'a ProfileContext,
}

impl<'a> Run<'a> {
    fn new(ctx: &'a GradeContext<'a>) -> Self {
        let entries = ctx.entries;
        let mut issued = HashMap::new();
        let mut first_use = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(n) = nonce(e) {
                first_use.entry(n).or_insert(i);
            }
            if let Some(n) = e.nonce_issued.as_deref() {
                issued.entry(n).or_insert(i);
            }
        }
        Run {
            entries,
            base: ctx.base_url.trim_end_matches('/'),
            issued,
            first_use,
            origins: order_origins(entries),
            account_keys: account_keys(entries),
            preferred_chain: ctx.preferred_chain.as_ref(),
            profiles: &ctx.profiles,
        }
    }

    /// The `newOrder` requests whose payload could be read, with the `profile` each named
    /// (`None`: none).
    fn new_order_profiles(&self) -> impl Iterator<Item = (&'a Entry, Option<&'a str>)> {
        self.posts().filter(|(_, e)| e.endpoint == Endpoint::NewOrder).filter_map(|(_, e)| match body(e) {
            Body::Json(v) => Some((e, v.get("profile").and_then(Value::as_str))),
            _ => None,
        })
    }

    fn posts(&self) -> impl Iterator<Item = (usize, &'a Entry)> {
        self.entries.iter().enumerate().filter(|(_, e)| is_post(e))
    }

    /// Whether the request at `q` was certainly sent after the response at `r` arrived:
    /// it comes later in the journal and, if it carries a nonce, that nonce was issued
    /// by `r` or a later response (so two concurrent requests are never mistaken for a
    /// client ignoring what it was told).
    fn sent_after(&self, q: usize, r: usize) -> bool {
        q > r && self.entries.get(q).and_then(nonce).is_none_or(|n| self.issued.get(n).is_some_and(|&p| p >= r))
    }

    /// The identifier sets of the `newOrder` requests at `positions`.
    fn ordered_names(&self, positions: &[usize]) -> Vec<(usize, BTreeSet<String>)> {
        positions
            .iter()
            .filter_map(|&p| {
                let Body::Json(v) = body(self.entries.get(p)?) else { return None };
                let list = v.get("identifiers")?.as_array()?;
                let names = list
                    .iter()
                    .map(|i| {
                        let kind = i.get("type").and_then(Value::as_str).unwrap_or("");
                        let value = i.get("value").and_then(Value::as_str).unwrap_or("");
                        match kind {
                            "dns" => format!("dns:{}", value.to_ascii_lowercase()),
                            "ip" => value.parse::<IpAddr>().map_or_else(|_| format!("ip:{value}"), |ip| format!("ip:{ip}")),
                            other => format!("{other}:{value}"),
                        }
                    })
                    .collect();
                Some((self.entries[p].seq, names))
            })
            .collect()
    }
}

/// Links orders to the `newOrder` that created them. The journal does not keep the
/// Location header, so an order's creator is taken from the successful `newOrder`
/// requests not yet claimed when the order's URL is first used: certain when there is
/// exactly one, a candidate set otherwise. By induction over certain claims, the true
/// creator is always among an order's candidates.
fn order_origins(entries: &[Entry]) -> HashMap<&str, Vec<usize>> {
    let mut unclaimed: Vec<usize> = Vec::new();
    let mut origins: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.endpoint == Endpoint::NewOrder && e.status == 201 {
            unclaimed.push(i);
            continue;
        }
        let Some(id) = order_id(e) else { continue };
        if e.status == 404 || origins.contains_key(id) {
            continue;
        }
        let candidates = unclaimed.clone();
        if candidates.len() == 1 {
            unclaimed.clear();
        }
        origins.insert(id, candidates);
    }
    origins
}

/// The keys the client used as account keys: accepted newAccount jwks, and the old and
/// new keys of accepted key rollovers.
fn account_keys(entries: &[Entry]) -> Vec<(KeyPrint, usize)> {
    let mut keys = Vec::new();
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| is_post(e) && answered_ok(e)) {
        match e.endpoint {
            Endpoint::NewAccount => {
                if let Some(k) = protected(e).and_then(|h| h.get("jwk")).and_then(key_print) {
                    keys.push((k, i));
                }
            }
            Endpoint::KeyChange => {
                let Body::Json(v) = body(e) else { continue };
                let Ok(inner) = ParsedJws::parse(&serde_json::to_vec(v).unwrap_or_default()) else { continue };
                if let Some(k) = inner.header.jwk.as_ref().and_then(|j| key_print(&j.to_value())) {
                    keys.push((k, i));
                }
                let old = inner.payload_json().and_then(Result::ok).and_then(|p| p.get("oldKey").and_then(key_print));
                if let Some(k) = old {
                    keys.push((k, i));
                }
            }
            _ => {}
        }
    }
    keys
}

// ---------------------------------------------------------------------------------
// Entry helpers

/// `METHOD /path (seq N)`: how a failure names a request.
fn label(e: &Entry) -> String {
    format!("{} {} (seq {})", e.method, e.path, e.seq)
}

fn is_post(e: &Entry) -> bool {
    e.method.eq_ignore_ascii_case("POST")
}

fn is_get_or_head(e: &Entry) -> bool {
    e.method.eq_ignore_ascii_case("GET") || e.method.eq_ignore_ascii_case("HEAD")
}

fn answered_ok(e: &Entry) -> bool {
    (200..300).contains(&e.status)
}

fn problem_is(e: &Entry, name: &str) -> bool {
    e.problem.as_deref().and_then(|p| p.strip_prefix(ERROR_NS)) == Some(name)
}

fn status_is(e: &Entry, status: &str) -> bool {
    answered_ok(e) && e.resource_status.as_deref() == Some(status)
}

/// Whether the answer to `e` was shaped by the scripted fault `kind`.
fn fault_is(e: &Entry, kind: FaultKind) -> bool {
    e.fault.as_deref().is_some_and(|f| format!("{kind:?}") == f)
}

/// The path without its query.
fn bare_path(e: &Entry) -> &str {
    e.path.split('?').next().unwrap_or("")
}

/// The order id of a request to an order or its finalize URL.
fn order_id(e: &Entry) -> Option<&str> {
    if !matches!(e.endpoint, Endpoint::Order | Endpoint::Finalize) {
        return None;
    }
    bare_path(e).strip_prefix("/order/")?.split('/').next()
}

/// What a poll of `e` checks on: the order for an order or finalize URL, else the path.
fn resource_key(e: &Entry) -> &str {
    match order_id(e) {
        Some(_) if e.endpoint == Endpoint::Finalize => bare_path(e).strip_suffix("/finalize").unwrap_or(bare_path(e)),
        _ => bare_path(e),
    }
}

fn protected(e: &Entry) -> Option<&Map<String, Value>> {
    e.jws.as_ref()?.protected.as_ref()?.as_object()
}

fn header_str<'e>(e: &'e Entry, name: &str) -> Option<&'e str> {
    protected(e)?.get(name)?.as_str()
}

fn nonce(e: &Entry) -> Option<&str> {
    header_str(e, "nonce")
}

fn body(e: &Entry) -> Body<'_> {
    match &e.jws {
        Some(j) if j.parse_error.is_none() && j.protected.is_some() => {
            if j.payload_not_json {
                Body::NotJson
            } else {
                j.payload.as_ref().map_or(Body::Empty, Body::Json)
            }
        }
        _ => Body::Unknown,
    }
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

/// A JSON value for a message, shortened.
fn brief(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Whether the answer went through the server's own checks (no scripted answer
/// replaced it), so that a 2xx means the server accepted the request.
fn server_answered(e: &Entry) -> bool {
    e.fault.is_none()
        || [
            FaultKind::Delay,
            FaultKind::StayProcessing,
            FaultKind::ChallengeInvalid,
            FaultKind::ReuseAuthz,
            FaultKind::RenewalWindowPassed,
        ]
        .into_iter()
        .any(|k| fault_is(e, k))
}

/// Retry-After minus the tolerance: 10 % or 0.5 s, whichever is larger.
fn min_wait(secs: u64) -> Duration {
    let full = Duration::from_secs(secs);
    full.saturating_sub((full / 10).max(Duration::from_millis(500)))
}

fn gap(later: &Entry, earlier: &Entry) -> Duration {
    later.at.saturating_sub(earlier.at)
}

// ---------------------------------------------------------------------------------
// JWS parse errors, mapped to the check that owns them

/// Why the request's body was not a valid flattened JWS, and which rule that broke.
fn parse_error(e: &Entry) -> Option<(&str, JwsFault)> {
    let jws = e.jws.as_ref()?;
    let message = jws.parse_error.as_deref()?;
    Some((message, jws.parse_fault.clone().unwrap_or(JwsFault::Other)))
}

// ---------------------------------------------------------------------------------
// Keys and CSRs

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// The print of a public JWK (EC, RSA or OKP), if it is one.
fn key_print(jwk: &Value) -> Option<KeyPrint> {
    let member = |name: &str| -> Option<Vec<u8>> { b64::decode(jwk.get(name)?.as_str()?).ok() };
    match jwk.get("kty")?.as_str()? {
        "EC" => Some(KeyPrint::Ec { x: member("x")?, y_odd: member("y")?.last()? & 1 == 1 }),
        "RSA" => Some(KeyPrint::Rsa { n: strip_zeros(&member("n")?), e: strip_zeros(&member("e")?) }),
        "OKP" => Some(KeyPrint::Okp(member("x")?)),
        _ => None,
    }
}

/// The print of a SubjectPublicKeyInfo, for the key types a JWK can hold.
fn spki_print(spki: &SubjectPublicKeyInfo<'_>) -> Option<KeyPrint> {
    let data: &[u8] = spki.subject_public_key.data.as_ref();
    match spki.algorithm.algorithm.to_id_string().as_str() {
        // id-ecPublicKey
        "1.2.840.10045.2.1" => match data.split_first()? {
            (4, xy) if xy.len() % 2 == 0 => {
                let (x, y) = xy.split_at(xy.len() / 2);
                Some(KeyPrint::Ec { x: x.to_vec(), y_odd: y.last()? & 1 == 1 })
            }
            (&tag @ (2 | 3), x) => Some(KeyPrint::Ec { x: x.to_vec(), y_odd: tag == 3 }),
            _ => None,
        },
        // rsaEncryption
        "1.2.840.113549.1.1.1" => match spki.parsed().ok()? {
            PublicKey::RSA(rsa) => Some(KeyPrint::Rsa { n: strip_zeros(rsa.modulus), e: strip_zeros(rsa.exponent) }),
            _ => None,
        },
        // id-Ed25519
        "1.3.101.112" => Some(KeyPrint::Okp(data.to_vec())),
        _ => None,
    }
}

/// `dns:name` or `ip:address`, as an order identifier or a CSR name is compared.
fn name_of(value: &str) -> String {
    match value.parse::<IpAddr>() {
        Ok(ip) => format!("ip:{ip}"),
        Err(_) => format!("dns:{}", value.to_ascii_lowercase()),
    }
}

/// What a finalize CSR asks for.
struct CsrView {
    /// subjectAltName entries and subject commonNames, as `dns:` / `ip:` names
    /// (other name forms kept as written, so they never match an identifier).
    names: BTreeSet<String>,
    key: Option<KeyPrint>,
}

fn parse_csr(der: &[u8]) -> Result<CsrView, String> {
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the request", rest.len()));
    }
    let mut names = BTreeSet::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        let ParsedExtension::SubjectAlternativeName(san) = ext else { continue };
        for name in &san.general_names {
            names.insert(match name {
                GeneralName::DNSName(d) => format!("dns:{}", d.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => match (<[u8; 4]>::try_from(*b), <[u8; 16]>::try_from(*b)) {
                    (Ok(v4), _) => format!("ip:{}", IpAddr::from(v4)),
                    (_, Ok(v6)) => format!("ip:{}", IpAddr::from(v6)),
                    _ => format!("{name}"),
                },
                other => format!("{other}"),
            });
        }
    }
    let info = &csr.certification_request_info;
    for cn in info.subject.iter_common_name() {
        names.insert(name_of(cn.as_str().map_err(|e| format!("commonName: {e}"))?));
    }
    Ok(CsrView { names, key: spki_print(&info.subject_pki) })
}

/// The CSR of a finalize request, or why there is none.
fn finalize_csr(e: &Entry) -> Option<Result<CsrView, String>> {
    Some(match body(e) {
        Body::Unknown => return None,
        Body::Empty | Body::NotJson => Err("carried no JSON payload with a csr".into()),
        Body::Json(v) => match v.get("csr").and_then(Value::as_str) {
            None => Err("carried no csr string".into()),
            Some(text) => b64::decode(text)
                .map_err(|e| format!("carried a csr that is not base64url ({e})"))
                .and_then(|der| parse_csr(&der).map_err(|e| format!("carried a csr that is not a PKCS#10 request ({e})"))),
        },
    })
}

fn list(names: &BTreeSet<String>) -> String {
    format!("[{}]", names.iter().map(String::as_str).collect::<Vec<_>>().join(", "))
}

// ---------------------------------------------------------------------------------
// Request shape

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mockca::JwsView;
    use crate::protocol::jws::{Algorithm, FlattenedJws, JwsError, KeyId, acme_protected_header};
    use crate::protocol::keys::SigningKey;
    use crate::protocol::wire::Identifier;
    use crate::scenario::{Actor, Catalogue, Testable};
    use serde_json::json;

    const BASE: &str = "https://127.0.0.1:14000";
    const ACCOUNT: &str = "https://127.0.0.1:14000/account/acct1";

    /// A synthetic journal, written as a well-behaved client would make it: each POST
    /// takes the newest unused nonce, a kid (jwk on newAccount) and the request URL;
    /// every response issues a nonce; each request takes 10 ms.
    struct Journal {
        entries: Vec<Entry>,
        now: Duration,
        key: SigningKey,
    }

    impl Journal {
        fn new() -> Self {
            Journal { entries: Vec::new(), now: Duration::ZERO, key: SigningKey::generate(Algorithm::Es256).unwrap() }
        }

        fn wait(&mut self, ms: u64) -> &mut Self {
            self.now += Duration::from_millis(ms);
            self
        }

        fn request(&mut self, method: &str, path: &str, jws: Option<JwsView>) -> &mut Entry {
            let seq = self.entries.len();
            let endpoint = Endpoint::of_path(path.split('?').next().unwrap_or(""));
            let nth = self.entries.iter().filter(|e| e.endpoint == endpoint).count() as u32 + 1;
            let mut headers = vec![("user-agent".to_owned(), "acmespec-test/1.0".to_owned())];
            if method == "POST" {
                headers.push(("content-type".to_owned(), "application/jose+json".to_owned()));
            }
            self.entries.push(Entry {
                seq,
                at: self.now,
                method: method.to_owned(),
                path: path.to_owned(),
                endpoint,
                nth,
                headers,
                jws,
                status: 200,
                problem: None,
                retry_after: None,
                nonce_issued: Some(format!("nonce{seq}")),
                resource_status: None,
                fault: None,
            });
            self.now += Duration::from_millis(10);
            self.entries.last_mut().unwrap()
        }

        fn get(&mut self, path: &str) -> &mut Entry {
            self.request("GET", path, None)
        }

        fn fresh_nonce(&self) -> String {
            let used: HashSet<&str> = self.entries.iter().filter_map(nonce).collect();
            let newest = self.entries.iter().rev().filter_map(|e| e.nonce_issued.as_deref()).find(|n| !used.contains(n));
            newest.unwrap_or("never-issued").to_owned()
        }

        fn header(&self, path: &str) -> Value {
            let mut h = json!({ "alg": "ES256", "nonce": self.fresh_nonce(), "url": format!("{BASE}{path}") });
            if path == "/new-account" {
                h["jwk"] = self.key.jwk().to_value();
            } else {
                h["kid"] = ACCOUNT.into();
            }
            h
        }

        fn post(&mut self, path: &str, payload: Option<Value>) -> &mut Entry {
            let h = self.header(path);
            self.post_with(path, h, payload)
        }

        fn post_with(&mut self, path: &str, protected: Value, payload: Option<Value>) -> &mut Entry {
            let jws = JwsView { protected: Some(protected), payload, ..JwsView::default() };
            self.request("POST", path, Some(jws))
        }

        /// A POST whose body did not parse: the parser's error instead of a header.
        fn post_broken(&mut self, path: &str, error: JwsError, extra: &[&str]) -> &mut Entry {
            let jws = JwsView {
                parse_error: Some(error.to_string()),
                parse_fault: Some(error.fault()),
                extra_members: extra.iter().map(|m| (*m).to_owned()).collect(),
                ..JwsView::default()
            };
            self.request("POST", path, Some(jws))
        }

        fn result(&self, id: &str) -> CheckResult {
            self.result_with(id, None)
        }

        fn result_with(&self, id: &str, preferred_chain: Option<ChainPreference>) -> CheckResult {
            let results = grade(&GradeContext { preferred_chain, ..GradeContext::new(&self.entries, BASE) });
            results.into_iter().find(|r| r.id == id).unwrap()
        }

        /// The result with the client asked for `requested`, the CA advertising `advertised`.
        fn result_with_profiles(&self, id: &str, requested: Option<&str>, advertised: &[&str]) -> CheckResult {
            let profiles = ProfileContext {
                requested: requested.map(str::to_owned),
                advertised: advertised.iter().map(|p| (*p).to_owned()).collect(),
            };
            let results = grade(&GradeContext { profiles, ..GradeContext::new(&self.entries, BASE) });
            results.into_iter().find(|r| r.id == id).unwrap()
        }

        /// Directory, nonce, account and an order for `a.test`; returns the journal.
        fn account_and_order() -> Self {
            let mut j = Journal::new();
            j.get("/directory");
            j.request("HEAD", "/new-nonce", None);
            j.post("/new-account", Some(json!({ "termsOfServiceAgreed": true }))).answer(201, Some("valid"));
            j.post("/new-order", Some(identifiers(&["a.test"]))).answer(201, Some("pending"));
            j
        }

        /// The whole issuance of the RFC's happy path, with a slow validation and a slow
        /// issuance that the client waits out.
        fn clean() -> Self {
            let mut j = Journal::account_and_order();
            j.post("/authz/az1", None).answer(200, Some("pending")).retry(1);
            j.post("/challenge/ch1", Some(json!({}))).answer(200, Some("processing"));
            j.wait(1000);
            j.post("/authz/az1", None).answer(200, Some("valid"));
            j.post("/order/o1", None).answer(200, Some("ready"));
            let csr = csr(&["a.test"], &SigningKey::generate(Algorithm::Es256).unwrap());
            j.post("/order/o1/finalize", Some(json!({ "csr": csr }))).answer(200, Some("processing"));
            j.wait(1000);
            j.post("/order/o1", None).answer(200, Some("valid"));
            j.post("/certificate/c1", None);
            j
        }
    }

    // Positions in `Journal::clean()`.
    const NEW_ACCOUNT: usize = 2;
    const NEW_ORDER: usize = 3;
    const AUTHZ: usize = 4;
    const CHALLENGE: usize = 5;
    const ORDER_READY: usize = 7;

    trait Answer {
        fn answer(&mut self, status: u16, resource_status: Option<&str>) -> &mut Self;
        fn problem(&mut self, status: u16, name: &str) -> &mut Self;
        fn retry(&mut self, secs: u64) -> &mut Self;
        fn protected_mut(&mut self) -> &mut Map<String, Value>;
    }

    impl Answer for Entry {
        fn answer(&mut self, status: u16, resource_status: Option<&str>) -> &mut Self {
            self.status = status;
            self.resource_status = resource_status.map(str::to_owned);
            self
        }
        fn problem(&mut self, status: u16, name: &str) -> &mut Self {
            self.status = status;
            self.problem = Some(format!("{ERROR_NS}{name}"));
            self
        }
        fn retry(&mut self, secs: u64) -> &mut Self {
            self.retry_after = Some(secs);
            self
        }
        fn protected_mut(&mut self) -> &mut Map<String, Value> {
            self.jws.as_mut().unwrap().protected.as_mut().unwrap().as_object_mut().unwrap()
        }
    }

    fn identifiers(names: &[&str]) -> Value {
        json!({ "identifiers": names.iter().map(|n| json!({ "type": "dns", "value": n })).collect::<Vec<_>>() })
    }

    fn csr(names: &[&str], key: &SigningKey) -> String {
        let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::dns(*n)).collect();
        b64::encode(key.csr_der(&identifiers, None).unwrap())
    }

    #[track_caller]
    fn assert_pass(r: &CheckResult) {
        assert_eq!(r.verdict, CheckVerdict::Pass, "{r:?}");
    }

    #[track_caller]
    fn assert_na(r: &CheckResult) {
        assert_eq!(r.verdict, CheckVerdict::NotApplicable, "{r:?}");
    }

    /// A failure that names `seq` as `(seq N)` in `observed` and in the evidence, and
    /// says `phrase`.
    #[track_caller]
    fn assert_fail(r: &CheckResult, seq: usize, phrase: &str) {
        assert_eq!(r.verdict, CheckVerdict::Fail, "{r:?}");
        let observed = r.observed.as_deref().unwrap_or("");
        assert!(r.evidence.contains(&seq), "evidence lacks {seq}: {r:?}");
        assert!(observed.contains(&format!("(seq {seq})")), "{observed}");
        assert!(observed.contains(phrase), "{observed:?} does not say {phrase:?}");
    }

    // -- the table ------------------------------------------------------------------

    #[test]
    fn results_follow_the_check_table() {
        let ids: Vec<&str> = all_checks().iter().map(|c| c.id).collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "duplicate check ids");
        assert_eq!(ids.len(), 26);
        let graded: Vec<String> = grade(&GradeContext::new(&[], BASE)).into_iter().map(|r| r.id).collect();
        assert_eq!(graded, ids);
        for c in all_checks() {
            assert!(c.id.starts_with("client/") && c.title.ends_with('.'), "{c:?}");
        }
    }

    #[test]
    fn cited_requirements_are_client_requirements_of_the_catalogue() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/requirements");
        let sources: Vec<crate::scenario::Source<'static>> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (std::path::Path::new("requirements").join(p.file_name().unwrap()), text.into())
            })
            .collect();
        let catalogue = Catalogue::from_sources(&sources).unwrap();
        for check in all_checks() {
            for id in check.requirements {
                let r = catalogue.requirements.get(*id).unwrap_or_else(|| panic!("{}: {id} is not in the catalogue", check.id));
                assert!(matches!(r.testable, Testable::MockCa | Testable::Both), "{}: {id} is not testable on the mock CA", check.id);
                assert!(matches!(r.actor, Actor::Client | Actor::Both), "{}: {id} does not bind clients", check.id);
            }
        }
    }

    #[test]
    fn a_clean_run_passes_and_untriggered_oracles_are_not_applicable() {
        let j = Journal::clean();
        let results = grade(&GradeContext::new(&j.entries, BASE));
        let untriggered = [
            "client/6.5/retries-bad-nonce",
            "client/6.6/honours-retry-after",
            "client/7.3.5/key-change-inner-jws",
            "client/7.5/no-challenge-for-valid-authorization",
            "client/7.4.2/fetches-preferred-chain",
            "client/7.4/sends-requested-profile",
            "client/7.4/no-unadvertised-profile",
            "client/9773-4.2/renews-when-window-passed",
        ];
        for r in &results {
            let want = if untriggered.contains(&r.id.as_str()) { CheckVerdict::NotApplicable } else { CheckVerdict::Pass };
            assert_eq!(r.verdict, want, "{r:?}");
        }
        // A trailing slash on the base URL changes nothing.
        let slashed = grade(&GradeContext::new(&j.entries, "https://127.0.0.1:14000/"));
        assert_eq!(slashed, results);
    }

    #[test]
    fn an_empty_run_is_not_applicable_everywhere() {
        for r in grade(&GradeContext::new(&[], BASE)) {
            assert_na(&r);
        }
    }

    #[test]
    fn grading_is_total_on_arbitrary_journals() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let good_csr = csr(&["a.test"], &key);
        let inner = FlattenedJws::sign(&key, &acme_protected_header(Algorithm::Es256, &KeyId::Jwk(key.jwk().clone()), None, "x"), b"{}").to_value();
        let paths = [
            "/directory", "/new-nonce", "/new-account", "/account/acct1", "/account/acct1/orders/0", "/new-order", "/order/o1",
            "/order/o1/finalize", "/order//finalize", "/order/o1?x=1", "/authz/a", "/challenge/c", "/certificate/c", "/certificate/c/1",
            "/revoke-cert", "/key-change", "/renewal-info/a.b", "/", "", "/é/ü",
        ];
        let headers = [
            Value::Null,
            json!([1, 2]),
            json!({ "alg": "ES256", "nonce": 5, "url": ["x"], "kid": 7, "jwk": "k" }),
            json!({ "alg": "ES256", "nonce": "nonce1", "url": format!("{BASE}/x"), "kid": ACCOUNT }),
            json!({ "alg": "ES256", "jwk": { "kty": "EC", "x": "!!", "y": "" } }),
            json!({ "alg": "ES256", "jwk": { "kty": "RSA", "n": "AAAA", "e": "AQAB" }, "kid": format!("{BASE}/account/") }),
        ];
        let payloads = [
            None,
            Some(json!({})),
            Some(json!([])),
            Some(json!("text")),
            Some(json!({ "csr": good_csr })),
            Some(json!({ "csr": "!!" })),
            Some(json!({ "csr": "MIIB" })),
            Some(json!({ "identifiers": 5 })),
            Some(json!({ "identifiers": [{ "type": 1 }, { "type": "ip", "value": "::1" }, "x"] })),
            Some(inner),
            Some(json!({ "protected": "e30", "payload": "", "signature": "AA" })),
        ];
        let errors = [
            JwsError::NotFlattened.to_string(),
            JwsError::UnsupportedAlgorithm("HS256".into()).to_string(),
            JwsError::UnsupportedAlgorithm("\"\\u{0}".into()).to_string(),
            "unsupported alg".to_owned(),
            String::new(),
        ];
        let statuses = [200, 201, 400, 403, 404, 429, 503, 0, 999];
        let problems = [None, Some("urn:ietf:params:acme:error:badNonce"), Some("urn:ietf:params:acme:error:orderNotReady"), Some("x")];
        let resource = [None, Some("pending"), Some("processing"), Some("ready"), Some("valid"), Some("invalid")];
        let retry = [None, Some(0), Some(1), Some(u64::MAX)];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for round in 0..400 {
            let mut entries = Vec::new();
            for seq in 0..pick(40) {
                let jws = match pick(4) {
                    0 => None,
                    1 => Some(JwsView { parse_error: Some(errors[pick(errors.len())].clone()), ..JwsView::default() }),
                    _ => Some(JwsView {
                        protected: Some(headers[pick(headers.len())].clone()),
                        payload: payloads[pick(payloads.len())].clone(),
                        payload_not_json: pick(8) == 0,
                        extra_members: if pick(8) == 0 { vec!["header".into()] } else { Vec::new() },
                        parse_error: None,
                        parse_fault: None,
                    }),
                };
                let path = paths[pick(paths.len())];
                entries.push(Entry {
                    seq: if pick(10) == 0 { usize::MAX } else { seq },
                    at: Duration::from_millis(pick(5000) as u64),
                    method: ["GET", "HEAD", "POST", "PUT", ""][pick(5)].to_owned(),
                    path: path.to_owned(),
                    endpoint: Endpoint::of_path(path),
                    nth: 1,
                    headers: if pick(2) == 0 { Vec::new() } else { vec![("content-type".into(), "application/jose+json".into())] },
                    jws,
                    status: statuses[pick(statuses.len())],
                    problem: problems[pick(problems.len())].map(str::to_owned),
                    retry_after: retry[pick(retry.len())],
                    nonce_issued: if pick(3) == 0 { None } else { Some(format!("nonce{}", pick(4))) },
                    resource_status: resource[pick(resource.len())].map(str::to_owned),
                    fault: [None, Some(FaultKind::EmptyOk), Some(FaultKind::RenewalWindowPassed)][pick(3)].map(|k| format!("{k:?}")),
                });
            }
            let base = ["", "/", BASE][round % 3];
            let preferred_chain = (round % 2 == 0).then(|| ChainPreference { chain: pick(3), issuer: "B".into(), kept_issuer: Some("A".into()) });
            assert_eq!(grade(&GradeContext { preferred_chain, ..GradeContext::new(&entries, base) }).len(), all_checks().len());
        }
    }

    // -- request shape --------------------------------------------------------------

    #[test]
    fn user_agent() {
        assert_pass(&Journal::clean().result("client/6.1/user-agent"));
        let mut j = Journal::clean();
        j.entries[0].headers.retain(|(k, _)| k != "user-agent");
        assert_fail(&j.result("client/6.1/user-agent"), 0, "GET /directory (seq 0) had no User-Agent");
    }

    #[test]
    fn content_type() {
        let mut j = Journal::clean();
        j.entries[NEW_ORDER].headers[1].1 = "Application/JOSE+JSON; charset=utf-8".into();
        assert_pass(&j.result("client/6.2/content-type"));
        j.entries[NEW_ORDER].headers[1].1 = "application/json".into();
        assert_fail(&j.result("client/6.2/content-type"), NEW_ORDER, "POST /new-order (seq 3) had Content-Type \"application/json\"");
        assert_na(&Journal { entries: Journal::clean().entries[..2].to_vec(), ..Journal::new() }.result("client/6.2/content-type"));
    }

    #[test]
    fn flattened_jws() {
        assert_pass(&Journal::clean().result("client/6.2/flattened-jws"));
        let mut j = Journal::account_and_order();
        j.post_broken("/new-order", JwsError::NotFlattened, &["signatures"]);
        j.request("POST", "/new-order", None);
        j.post_broken("/new-order", JwsError::BadEncoding { member: "payload", error: b64::B64Error::Padded }, &[]);
        // Errors owned by other checks do not count here.
        j.post_broken("/new-order", JwsError::UnsupportedAlgorithm("none".into()), &[]);
        j.post_broken("/new-order", JwsError::JwkAndKid, &[]);
        let r = j.result("client/6.2/flattened-jws");
        assert_fail(&r, 4, "carried the JWS members [\"signatures\"]");
        assert_fail(&r, 5, "had an empty body");
        assert_fail(&r, 6, "must not carry '=' padding");
        assert_eq!(r.evidence, vec![4, 5, 6]);
    }

    #[test]
    fn protected_header_fields() {
        assert_pass(&Journal::clean().result("client/6.2/protected-header-fields"));
        let mut j = Journal::clean();
        j.entries[NEW_ORDER].protected_mut().remove("nonce");
        j.entries[AUTHZ].protected_mut().remove("kid");
        j.post_broken("/new-order", JwsError::JwkAndKid, &[]);
        let r = j.result("client/6.2/protected-header-fields");
        assert_fail(&r, NEW_ORDER, "POST /new-order (seq 3)'s protected header had no nonce");
        assert_fail(&r, AUTHZ, "had no jwk or kid");
        assert_fail(&r, 11, "both jwk and kid");
    }

    #[test]
    fn jwk_or_kid_by_resource() {
        let mut j = Journal::clean();
        let jwk = j.key.jwk().to_value();
        let mut h = j.header("/revoke-cert");
        h.as_object_mut().unwrap().remove("kid");
        h["jwk"] = jwk.clone();
        j.post_with("/revoke-cert", h, Some(json!({ "certificate": "AA" })));
        assert_pass(&j.result("client/6.2/jwk-or-kid-by-resource"));

        let mut j = Journal::clean();
        let account = j.entries[NEW_ACCOUNT].protected_mut();
        account.remove("jwk");
        account.insert("kid".into(), ACCOUNT.into());
        let order = j.entries[NEW_ORDER].protected_mut();
        order.remove("kid");
        order.insert("jwk".into(), jwk);
        let r = j.result("client/6.2/jwk-or-kid-by-resource");
        assert_fail(&r, NEW_ACCOUNT, "POST /new-account (seq 2) identified the key by kid");
        assert_fail(&r, NEW_ORDER, "POST /new-order (seq 3) identified the key by jwk");
    }

    #[test]
    fn kid_is_account_url() {
        assert_pass(&Journal::clean().result("client/6.2/kid-is-account-url"));

        let mut j = Journal::clean();
        j.entries[NEW_ORDER].protected_mut().insert("kid".into(), format!("{BASE}/acct/1").into());
        let other = format!("{BASE}/account/other");
        j.entries[AUTHZ].protected_mut().insert("kid".into(), other.clone().into());
        j.entries[AUTHZ].problem(400, "accountDoesNotExist");
        let r = j.result("client/6.2/kid-is-account-url");
        assert_fail(&r, NEW_ORDER, "is not an account URL of this server");
        assert_fail(&r, AUTHZ, "the server has no account there");

        let mut j = Journal::new();
        j.get("/directory");
        j.post("/new-order", Some(identifiers(&["a.test"])));
        assert_fail(&j.result("client/6.2/kid-is-account-url"), 1, "before any newAccount returned an account URL");

        let mut j = Journal::new();
        j.post("/new-account", Some(json!({}))).answer(201, Some("valid"));
        assert_na(&j.result("client/6.2/kid-is-account-url"));
    }

    #[test]
    fn alg_allowed() {
        let mut j = Journal::clean();
        // An asymmetric algorithm the mock CA does not support is not this check's business.
        j.post_broken("/new-order", JwsError::UnsupportedAlgorithm("ES512".into()), &[]);
        assert_pass(&j.result("client/6.2/alg-allowed"));
        j.post_broken("/new-order", JwsError::UnsupportedAlgorithm("HS256".into()), &[]);
        j.post_broken("/new-order", JwsError::UnsupportedAlgorithm("none".into()), &[]);
        let r = j.result("client/6.2/alg-allowed");
        assert_fail(&r, 12, "POST /new-order (seq 12) was signed with alg \"HS256\"");
        assert_fail(&r, 13, "alg \"none\"");
        assert_eq!(r.evidence, vec![12, 13]);
    }

    #[test]
    fn url_matches_request() {
        assert_pass(&Journal::clean().result("client/6.4/url-matches-request"));
        let mut j = Journal::clean();
        j.entries[NEW_ORDER].protected_mut().insert("url".into(), format!("{BASE}/new-order/").into());
        j.entries[AUTHZ].protected_mut().insert("url".into(), "https://localhost:14000/authz/az1".into());
        let r = j.result("client/6.4/url-matches-request");
        assert_fail(&r, NEW_ORDER, "carried url \"https://127.0.0.1:14000/new-order/\"");
        assert_fail(&r, AUTHZ, "https://localhost:14000/authz/az1");
    }

    #[test]
    fn nonce_fresh() {
        assert_pass(&Journal::clean().result("client/6.5/nonce-fresh"));
        let mut j = Journal::clean();
        let reused = nonce(&j.entries[NEW_ACCOUNT]).unwrap().to_owned();
        j.entries[NEW_ORDER].protected_mut().insert("nonce".into(), reused.into());
        j.entries[AUTHZ].protected_mut().insert("nonce".into(), "made-up".into());
        j.entries[CHALLENGE].protected_mut().insert("nonce".into(), "nonce9".into());
        let r = j.result("client/6.5/nonce-fresh");
        assert_fail(&r, NEW_ORDER, "reused nonce \"nonce1\" already sent in POST /new-account (seq 2)");
        assert!(r.evidence.contains(&NEW_ACCOUNT));
        assert_fail(&r, AUTHZ, "which the server never issued");
        assert_fail(&r, CHALLENGE, "before the server issued it");
    }

    #[test]
    fn post_as_get_empty_payload() {
        let mut j = Journal::clean();
        // An update of an authorization or an account is not a fetch.
        j.post("/authz/az1", Some(json!({ "status": "deactivated" })));
        j.post("/account/acct1", Some(json!({})));
        assert_pass(&j.result("client/6.3/post-as-get-empty-payload"));

        let mut j = Journal::clean();
        j.entries[ORDER_READY].jws.as_mut().unwrap().payload = Some(json!({}));
        j.entries[AUTHZ].jws.as_mut().unwrap().payload = Some(json!({}));
        j.post("/certificate/c1", None).jws.as_mut().unwrap().payload_not_json = true;
        let r = j.result("client/6.3/post-as-get-empty-payload");
        assert_fail(&r, ORDER_READY, "POST /order/o1 (seq 7) fetched with the payload {}");
        assert_fail(&r, AUTHZ, "fetched with the payload {}");
        assert_fail(&r, 11, "non-JSON payload");

        assert_na(&Journal::account_and_order().result("client/6.3/post-as-get-empty-payload"));
    }

    #[test]
    fn no_plain_get() {
        let mut j = Journal::clean();
        j.get("/terms");
        j.get("/renewal-info/aki.serial");
        assert_pass(&j.result("client/6.3/no-plain-get"));
        j.get("/order/o1");
        j.request("HEAD", "/authz/az1", None);
        let r = j.result("client/6.3/no-plain-get");
        assert_fail(&r, 13, "GET /order/o1 (seq 13) used a plain GET");
        assert_fail(&r, 14, "plain HEAD");
        let mut j = Journal::new();
        j.get("/directory");
        assert_na(&j.result("client/6.3/no-plain-get"));
    }

    #[test]
    fn challenge_response_empty_object() {
        assert_pass(&Journal::clean().result("client/7.5.1/challenge-response-empty-object"));
        let mut j = Journal::clean();
        j.entries[CHALLENGE].jws.as_mut().unwrap().payload = Some(json!({ "keyAuthorization": "tok.thumb" }));
        assert_fail(
            &j.result("client/7.5.1/challenge-response-empty-object"),
            CHALLENGE,
            "answered the challenge with {\"keyAuthorization\":\"tok.thumb\"} instead of {}",
        );
        assert_na(&Journal::account_and_order().result("client/7.5.1/challenge-response-empty-object"));
    }

    fn finalize_with(j: &mut Journal, order: &str, csr: &str) -> usize {
        j.post(&format!("/order/{order}/finalize"), Some(json!({ "csr": csr }))).answer(200, Some("valid")).seq
    }

    #[test]
    fn csr_names_match_order() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let mut j = Journal::account_and_order();
        j.post("/order/o1", None).answer(200, Some("ready"));
        finalize_with(&mut j, "o1", &csr(&["A.test"], &key));
        assert_pass(&j.result("client/7.4/csr-names-match-order"));

        let mut j = Journal::account_and_order();
        let wrong = finalize_with(&mut j, "o1", &csr(&["a.test", "b.test"], &key));
        let missing = j.post("/order/o1/finalize", Some(json!({}))).seq;
        let garbage = j.post("/order/o1/finalize", Some(json!({ "csr": "AAAA" }))).seq;
        let r = j.result("client/7.4/csr-names-match-order");
        assert_fail(&r, wrong, "requested [dns:a.test, dns:b.test] but the order has [dns:a.test] (newOrder seq 3)");
        assert!(r.evidence.contains(&NEW_ORDER));
        assert_fail(&r, missing, "carried no csr string");
        assert_fail(&r, garbage, "not a PKCS#10 request");

        // Two orders created before either is used: the CSR must match one of them.
        let mut j = Journal::account_and_order();
        j.post("/new-order", Some(identifiers(&["b.test"]))).answer(201, Some("pending"));
        let ok = finalize_with(&mut j, "o2", &csr(&["b.test"], &key));
        assert_pass(&j.result("client/7.4/csr-names-match-order"));
        let bad = finalize_with(&mut j, "o2", &csr(&["c.test"], &key));
        let r = j.result("client/7.4/csr-names-match-order");
        assert_fail(&r, bad, "[dns:a.test] (newOrder seq 3) or [dns:b.test] (newOrder seq 4)");
        assert!(!r.evidence.contains(&ok));

        // A finalize of an order no newOrder in the journal created is not judged.
        let mut j = Journal::new();
        finalize_with(&mut j, "o9", &csr(&["a.test"], &key));
        assert_na(&j.result("client/7.4/csr-names-match-order"));
    }

    #[test]
    fn csr_key_not_account_key() {
        assert_pass(&Journal::clean().result("client/7.4/csr-key-not-account-key"));
        let mut j = Journal::account_and_order();
        let account_csr = csr(&["a.test"], &j.key);
        let seq = finalize_with(&mut j, "o1", &account_csr);
        let r = j.result("client/7.4/csr-key-not-account-key");
        assert_fail(&r, seq, "CSR holds the account key used in POST /new-account (seq 2)");
        assert!(r.evidence.contains(&NEW_ACCOUNT));
        assert_na(&Journal::account_and_order().result("client/7.4/csr-key-not-account-key"));
    }

    #[test]
    fn finalize_when_ready() {
        assert_pass(&Journal::clean().result("client/7.4/finalize-when-ready"));
        let key = SigningKey::generate(Algorithm::Es256).unwrap();

        // Certbot's way: poll the authorizations to valid, then finalize.
        let mut j = Journal::account_and_order();
        j.post("/authz/az1", None).answer(200, Some("pending"));
        j.post("/challenge/ch1", Some(json!({}))).answer(200, Some("processing"));
        j.wait(1000);
        j.post("/authz/az1", None).answer(200, Some("valid"));
        finalize_with(&mut j, "o1", &csr(&["a.test"], &key));
        assert_pass(&j.result("client/7.4/finalize-when-ready"));

        let mut j = Journal::account_and_order();
        let refused = j.post("/order/o1/finalize", Some(json!({ "csr": csr(&["a.test"], &key) }))).problem(403, "orderNotReady").seq;
        assert_fail(&j.result("client/7.4/finalize-when-ready"), refused, "was answered orderNotReady");

        // A scripted 503 hides the server's verdict; the journal still shows the order pending.
        let mut j = Journal::account_and_order();
        let early = j.post("/order/o1/finalize", Some(json!({ "csr": csr(&["a.test"], &key) }))).answer(503, None).seq;
        let r = j.result("client/7.4/finalize-when-ready");
        assert_fail(&r, early, "finalized an order last seen pending in POST /new-order (seq 3)");
        assert!(r.evidence.contains(&NEW_ORDER));

        assert_na(&Journal::account_and_order().result("client/7.4/finalize-when-ready"));
    }

    fn key_change(j: &mut Journal, inner_header: Map<String, Value>, payload: &Value, new_key: &SigningKey) -> usize {
        let inner = FlattenedJws::sign(new_key, &inner_header, payload.to_string().as_bytes()).to_value();
        j.post("/key-change", Some(inner)).answer(200, Some("valid")).seq
    }

    #[test]
    fn key_change_inner_jws() {
        let new_key = SigningKey::generate(Algorithm::Es256).unwrap();
        let url = format!("{BASE}/key-change");
        let header = |nonce: Option<&str>, url: &str| acme_protected_header(Algorithm::Es256, &KeyId::Jwk(new_key.jwk().clone()), nonce, url);

        let mut j = Journal::clean();
        let payload = json!({ "account": ACCOUNT, "oldKey": j.key.jwk().to_value() });
        key_change(&mut j, header(None, &url), &payload, &new_key);
        assert_pass(&j.result("client/7.3.5/key-change-inner-jws"));

        let mut j = Journal::clean();
        let payload = json!({ "account": format!("{BASE}/account/other"), "oldKey": new_key.jwk().to_value() });
        let seq = key_change(&mut j, header(Some("nonce3"), &format!("{BASE}/new-account")), &payload, &new_key);
        let r = j.result("client/7.3.5/key-change-inner-jws");
        assert_fail(&r, seq, "POST /key-change (seq 11)'s inner JWS had a nonce (\"nonce3\")");
        let observed = r.observed.unwrap();
        for phrase in ["where the outer url is", "where the outer kid is", "a new key equal to oldKey"] {
            assert!(observed.contains(phrase), "{observed}");
        }

        // Signed by a key other than its jwk, and not even a JWS.
        let mut j = Journal::clean();
        let payload = json!({ "account": ACCOUNT, "oldKey": j.key.jwk().to_value() });
        let impostor = SigningKey::generate(Algorithm::Es256).unwrap();
        let seq = key_change(&mut j, header(None, &url), &payload, &impostor);
        let not_jws = j.post("/key-change", Some(json!({ "account": ACCOUNT }))).seq;
        let r = j.result("client/7.3.5/key-change-inner-jws");
        assert_fail(&r, seq, "a signature its jwk does not verify");
        assert_fail(&r, not_jws, "inner JWS is not a flattened JWS");
    }

    // -- behaviour oracles ----------------------------------------------------------

    #[test]
    fn retries_bad_nonce() {
        let mut j = Journal::account_and_order();
        j.entries[NEW_ORDER].problem(400, "badNonce");
        j.post("/new-order", Some(identifiers(&["a.test"]))).answer(201, Some("pending"));
        let r = j.result("client/6.5/retries-bad-nonce");
        assert_pass(&r);
        assert_eq!(r.evidence, vec![NEW_ORDER]);

        // The retry reuses the refused nonce.
        let mut j = Journal::account_and_order();
        j.entries[NEW_ORDER].problem(400, "badNonce");
        let mut h = j.header("/new-order");
        h["nonce"] = nonce(&j.entries[NEW_ORDER]).unwrap().into();
        let retry = j.post_with("/new-order", h, Some(identifiers(&["a.test"]))).seq;
        assert_fail(&j.result("client/6.5/retries-bad-nonce"), retry, "already used in POST /new-order (seq 3)");

        // Never retried.
        let mut j = Journal::account_and_order();
        j.entries[NEW_ORDER].problem(400, "badNonce");
        assert_fail(&j.result("client/6.5/retries-bad-nonce"), NEW_ORDER, "never sent it again");

        // Retrying through ten refusals and then giving up is fine; an eleventh is a loop.
        let mut j = Journal::account_and_order();
        j.entries[NEW_ORDER].problem(400, "badNonce");
        for _ in 1..BAD_NONCE_STREAK {
            j.post("/new-order", Some(identifiers(&["a.test"]))).problem(400, "badNonce");
        }
        assert_pass(&j.result("client/6.5/retries-bad-nonce"));
        let last = j.post("/new-order", Some(identifiers(&["a.test"]))).problem(400, "badNonce").seq;
        assert_fail(&j.result("client/6.5/retries-bad-nonce"), last, "11 consecutive requests to this URL answered badNonce (from seq 3)");

        assert_na(&Journal::clean().result("client/6.5/retries-bad-nonce"));
    }

    #[test]
    fn honours_retry_after() {
        let limited = |wait: u64| {
            let mut j = Journal::account_and_order();
            j.entries[NEW_ORDER].problem(429, "rateLimited").retry(2);
            j.wait(wait);
            let seq = j.post("/new-order", Some(identifiers(&["a.test"]))).answer(201, Some("pending")).seq;
            (j, seq)
        };
        // Retry-After: 2 allows 1.5 s (the 0.5 s tolerance beats 10 %).
        assert_pass(&limited(1500).0.result("client/6.6/honours-retry-after"));
        let (j, seq) = limited(1000);
        assert_fail(&j.result("client/6.6/honours-retry-after"), seq, "came 1.01s after POST /new-order (seq 3) answered 429 with Retry-After: 2");

        let mut j = Journal::new();
        j.get("/directory").problem(503, "serverInternal").retry(1);
        let hasty = j.get("/directory").seq;
        assert_fail(&j.result("client/6.6/honours-retry-after"), hasty, "GET /directory (seq 1) came 0.01s after");

        // A request that carries a nonce from before the 429 may have been in flight.
        let mut j = Journal::account_and_order();
        let mut h = j.header("/new-order");
        j.entries[NEW_ORDER].problem(429, "rateLimited").retry(2);
        h["nonce"] = "nonce1".into();
        j.post_with("/new-order", h, Some(identifiers(&["a.test"])));
        assert_pass(&j.result("client/6.6/honours-retry-after"));

        assert_na(&Journal::clean().result("client/6.6/honours-retry-after"));
    }

    #[test]
    fn polls_authorization() {
        assert_pass(&Journal::clean().result("client/7.5.1/polls-authorization"));
        let challenged = || {
            let mut j = Journal::account_and_order();
            j.post("/authz/az1", None).answer(200, Some("pending"));
            j.post("/challenge/ch1", Some(json!({}))).answer(200, Some("processing"));
            j
        };
        // Polling the order instead of the authorization is also checking progress.
        let mut j = challenged();
        j.post("/order/o1", None).answer(200, Some("ready"));
        assert_pass(&j.result("client/7.5.1/polls-authorization"));

        let mut j = challenged();
        j.wait(1000);
        let again = j.post("/challenge/ch1", Some(json!({}))).answer(200, Some("valid")).seq;
        assert_fail(&j.result("client/7.5.1/polls-authorization"), again, "answered the challenge again while it was processing");

        let mut j = challenged();
        j.post("/order/o1/finalize", Some(json!({ "csr": "AA" }))).problem(403, "orderNotReady");
        assert_fail(&j.result("client/7.5.1/polls-authorization"), CHALLENGE, "never fetched the authorization, challenge or order");

        let mut j = Journal::account_and_order();
        j.post("/challenge/ch1", Some(json!({}))).answer(200, Some("valid"));
        assert_na(&j.result("client/7.5.1/polls-authorization"));
    }

    #[test]
    fn waits_for_valid() {
        assert_pass(&Journal::clean().result("client/7.4/waits-for-valid"));
        let processing = || {
            let mut j = Journal::account_and_order();
            j.post("/order/o1", None).answer(200, Some("ready"));
            j.post("/order/o1/finalize", Some(json!({ "csr": "AA" }))).answer(200, Some("processing"));
            j
        };
        let mut j = processing();
        j.post("/order/o1", None).answer(200, Some("processing"));
        let early = j.post("/certificate/c1", None).seq;
        assert_fail(&j.result("client/7.4/waits-for-valid"), early, "fetched a certificate before the order was seen valid");

        let j = processing();
        assert_fail(&j.result("client/7.4/waits-for-valid"), 5, "never polled the order");

        let mut j = Journal::account_and_order();
        j.post("/order/o1/finalize", Some(json!({ "csr": "AA" }))).answer(200, Some("valid"));
        j.post("/certificate/c1", None);
        assert_na(&j.result("client/7.4/waits-for-valid"));
    }

    #[test]
    fn polling_respects_retry_after() {
        assert_pass(&Journal::clean().result("client/7.5.1/polling-respects-retry-after"));
        let pending = |wait: u64| {
            let mut j = Journal::account_and_order();
            j.post("/authz/az1", None).answer(200, Some("pending")).retry(1);
            j.wait(wait);
            let seq = j.post("/authz/az1", None).answer(200, Some("valid")).seq;
            (j, seq)
        };
        assert_pass(&pending(500).0.result("client/7.5.1/polling-respects-retry-after"));
        let (j, seq) = pending(100);
        assert_fail(&j.result("client/7.5.1/polling-respects-retry-after"), seq, "came 0.11s after POST /authz/az1 (seq 4) said Retry-After: 1");

        let mut j = Journal::account_and_order();
        j.post("/order/o1/finalize", Some(json!({ "csr": "AA" }))).answer(200, Some("processing"));
        j.post("/order/o1", None).answer(200, Some("processing")).retry(3);
        j.wait(1000);
        let hasty = j.post("/order/o1", None).answer(200, Some("valid")).seq;
        assert_fail(&j.result("client/7.5.1/polling-respects-retry-after"), hasty, "POST /order/o1 (seq 6) came 1.01s after");

        assert_na(&Journal::account_and_order().result("client/7.5.1/polling-respects-retry-after"));
    }

    // -- reused authorizations, alternate chains, renewal information ---------------

    /// An issuance for `a.test`, then a second order that comes back ready (its
    /// authorization reused); returns the journal and the second newOrder's position.
    fn reused() -> (Journal, usize) {
        let mut j = Journal::account_and_order();
        j.post("/authz/az1", None).answer(200, Some("pending"));
        j.post("/challenge/ch1", Some(json!({}))).answer(200, Some("valid"));
        finalize_with(&mut j, "o1", &csr(&["a.test"], &SigningKey::generate(Algorithm::Es256).unwrap()));
        j.post("/certificate/c1", None);
        let ready = j.post("/new-order", Some(identifiers(&["a.test"]))).answer(201, Some("ready")).seq;
        (j, ready)
    }

    #[test]
    fn no_challenge_for_valid_authorization() {
        let id = "client/7.5/no-challenge-for-valid-authorization";
        let renewal_csr = csr(&["a.test"], &SigningKey::generate(Algorithm::Es256).unwrap());
        let (mut j, ready) = reused();
        j.post("/authz/az1", None).answer(200, Some("valid"));
        finalize_with(&mut j, "o2", &renewal_csr);
        let r = j.result(id);
        assert_pass(&r);
        assert_eq!(r.evidence, vec![ready]);

        let (mut j, ready) = reused();
        j.post("/authz/az1", None).answer(200, Some("valid"));
        let again = j.post("/challenge/ch1", Some(json!({}))).answer(200, Some("valid")).seq;
        finalize_with(&mut j, "o2", &renewal_csr);
        let phrase = format!("answered a challenge although POST /new-order (seq {ready}) returned the order ready");
        assert_fail(&j.result(id), again, &phrase);

        let (j, ready) = reused();
        assert_fail(&j.result(id), ready, "never finalized it");

        // Another order still pending may own the challenge: not judged a re-answer.
        let (mut j, _) = reused();
        j.post("/new-order", Some(identifiers(&["b.test"]))).answer(201, Some("pending"));
        j.post("/challenge/ch2", Some(json!({}))).answer(200, Some("valid"));
        finalize_with(&mut j, "o2", &renewal_csr);
        assert_pass(&j.result(id));

        assert_na(&Journal::clean().result(id));
    }

    #[test]
    fn fetches_preferred_chain() {
        let id = "client/7.4.2/fetches-preferred-chain";
        let want = |kept: Option<&str>| Some(ChainPreference { chain: 1, issuer: "root B".into(), kept_issuer: kept.map(str::to_owned) });
        let mut j = Journal::clean();
        let default = j.entries.len() - 1;
        assert_na(&j.result(id));
        assert_fail(&j.result_with(id, want(None)), default, "never fetched the alternate /certificate/c1/1");
        j.post("/certificate/c1/1", None);
        assert_pass(&j.result_with(id, want(Some("root B"))));
        assert_fail(&j.result_with(id, want(Some("root A"))), default, "kept a chain issued by \"root A\", not the preferred \"root B\"");

        // Another alternate is not the one asked for.
        let mut j = Journal::clean();
        j.post("/certificate/c1/2", None);
        assert_fail(&j.result_with(id, want(None)), default, "(the chain issued by \"root B\" it was asked to prefer)");
        assert_na(&Journal::account_and_order().result_with(id, want(Some("root A"))));
    }

    #[test]
    fn profile_checks() {
        let sends = "client/7.4/sends-requested-profile";
        let advertised_only = "client/7.4/no-unadvertised-profile";
        let offered = ["classic", "tlsserver"];
        let with_profile = |profile: Option<&str>| {
            let mut j = Journal::new();
            let mut payload = identifiers(&["a.test"]);
            if let Some(p) = profile {
                payload["profile"] = p.into();
            }
            let seq = j.post("/new-order", Some(payload)).answer(201, Some("pending")).seq;
            (j, seq)
        };
        let (j, _) = with_profile(Some("tlsserver"));
        assert_pass(&j.result_with_profiles(sends, Some("tlsserver"), &offered));
        assert_pass(&j.result_with_profiles(advertised_only, Some("tlsserver"), &offered));
        assert_na(&j.result_with_profiles(sends, None, &offered));
        let (j, seq) = with_profile(None);
        assert_fail(&j.result_with_profiles(sends, Some("tlsserver"), &offered), seq, "named no profile, although the client was asked for profile \"tlsserver\"");
        assert_na(&j.result_with_profiles(advertised_only, Some("tlsserver"), &offered));
        let (j, seq) = with_profile(Some("tlsserver-v2"));
        assert_fail(&j.result_with_profiles(sends, Some("tlsserver"), &offered), seq, "named profile \"tlsserver-v2\"");
        assert_fail(&j.result_with_profiles(advertised_only, None, &offered), seq, "which meta.profiles does not advertise");
        // A CA without profiles advertises none.
        let (j, seq) = with_profile(Some("classic"));
        assert_fail(&j.result_with_profiles(advertised_only, Some("classic"), &[]), seq, "it lists []");
    }

    #[test]
    fn renews_when_window_passed() {
        let id = "client/9773-4.2/renews-when-window-passed";
        let passed = || {
            let mut j = Journal::clean();
            let e = j.get("/renewal-info/aki.serial");
            e.fault = Some(format!("{:?}", FaultKind::RenewalWindowPassed));
            let seq = e.seq;
            (j, seq)
        };
        let (mut j, seq) = passed();
        j.post("/new-order", Some(identifiers(&["a.test"]))).answer(201, Some("pending"));
        let r = j.result(id);
        assert_pass(&r);
        assert_eq!(r.evidence, vec![seq]);

        let (j, seq) = passed();
        assert_fail(&j.result(id), seq, "suggested a renewal window that had already passed, and the client never placed a new order");

        // A window still ahead asks for nothing.
        let mut j = Journal::clean();
        j.get("/renewal-info/aki.serial");
        assert_na(&j.result(id));
    }
}
