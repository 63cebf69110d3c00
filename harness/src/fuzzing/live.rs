//! Live protocol fuzzing of a server URL.
//!
//! Conformance cases check the behaviours the RFC names; a fuzzing campaign asks what
//! the server does with everything else. Each request starts from a valid, signed ACME
//! request to a real resource of the server (an account, an order, its authorization,
//! challenge and finalize URLs) and applies a few seeded mutations to the header, the
//! payload or the body. The oracles are the ones every request must satisfy whatever
//! its content: no 5xx for client input, errors as `application/problem+json` with a
//! registered ACME type, a Replay-Nonce on every POST answer, an answer within a time
//! bound, refusal of requests RFC 8555 §6 requires to be refused, and a server still
//! answering afterwards.
//!
//! A campaign that reports the same defect ten thousand times is useless, so findings
//! are de-duplicated by endpoint × mutation class × oracle × response class, and each
//! is minimised first: mutations are dropped one at a time while the oracle still
//! breaks. Every request is a pure function of a [`ReplaySpec`] (endpoint, mutations,
//! per-request seed), so a finding can be sent again on its own with [`replay`], and the
//! same campaign seed sends the same sequence of requests.

use crate::protocol::b64;
use crate::protocol::http::{ClientOptions, Exchange, HttpClient, HttpError, Response};
use crate::protocol::jws::{Algorithm, FlattenedJws, KeyId, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::wire::{Directory, is_registered_or_foreign_error};
use crate::seeded::SplitMix64;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Most requests one campaign may send.
pub const MAX_REQUESTS: usize = 1_000_000;
/// Longest one campaign may run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// How often (in requests) the server is checked to be still answering.
const LIVENESS_EVERY: usize = 50;
/// Size of the oversized payload member and nonce mutations.
const HUGE: usize = 256 * 1024;

/// The oracles, with the RFC text each comes from; the ids appear in findings and
/// are the test cases of the JUnit report.
pub const ORACLES: [(&str, &str); 8] = [
    ("server-error", "RFC 8555 §6.7: client errors are reported as 4xx problem documents, not 5xx"),
    ("problem-format", "RFC 8555 §6.7: errors are application/problem+json documents"),
    ("problem-type", "RFC 8555 §6.7, §9.7: a problem document has a type from the ACME error registry"),
    ("replay-nonce", "RFC 8555 §6.5: every response to a POST carries a Replay-Nonce"),
    ("accepted-invalid", "RFC 8555 §6: requests the RFC requires refused are refused"),
    ("no-answer", "RFC 8555 §6: every request gets an HTTP response"),
    ("slow-response", "acmespec bound (--slow-ms): every answer comes within the bound"),
    ("server-gone", "the server still answers its directory after the requests"),
];

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Directory URL of the server; must be on a loopback address.
    pub directory_url: String,
    /// HTTP client settings (roots, timeouts, body limit).
    pub client: ClientOptions,
    /// Seed of the mutation sequence.
    pub seed: u64,
    /// Requests to send, minimisation included (at most [`MAX_REQUESTS`]).
    pub requests: usize,
    /// Time budget (at most [`MAX_DURATION`]).
    pub duration: Duration,
    /// An answer slower than this is a `slow-response` finding.
    pub slow: Duration,
}

/// Why a campaign could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The directory URL is not on 127.0.0.1 or ::1: fuzzing someone else's server is not
    /// something this tool does.
    #[error("live fuzzing only targets loopback servers (127.0.0.1, [::1], localhost); {0} is not one")]
    NotLoopback(String),
    /// The bounds are zero or over the limits.
    #[error("{0}")]
    Bounds(String),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(#[from] HttpError),
    /// The server did not give the resources the campaign starts from.
    #[error("setting up the campaign: {0}")]
    Setup(String),
    /// A replay file names an endpoint or mutation this version does not know.
    #[error("replay: {0}")]
    Replay(String),
}

/// Everything that determines one fuzzed request, given the server's resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaySpec {
    /// The resource the request goes to (`newAccount`, `order`, `finalize`, ...).
    pub endpoint: String,
    /// The mutations applied, in order.
    pub mutations: Vec<String>,
    /// Seed of the request's own random choices (names, odd values, cut points).
    pub seed: u64,
}

/// An oracle one response broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    /// Which oracle (an id of [`ORACLES`]).
    pub oracle: String,
    /// The RFC text the property comes from (for `accepted-invalid`, the mutation's rule).
    pub rfc: String,
    /// What was seen.
    pub detail: String,
}

/// One distinct way the server broke an oracle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// `oracle endpoint [mutations] -> response class`: the de-duplication key.
    pub key: String,
    /// Which property broke, its RFC text and what was seen the first time.
    #[serde(flatten)]
    pub broken: Broken,
    /// The resource the requests went to.
    pub endpoint: String,
    /// Status and problem type of the answer (`500`, `400 badNonce`, `201`, `none`).
    pub response_class: String,
    /// 1-based number of the first request that showed it.
    pub first_request: usize,
    /// How many campaign requests showed it.
    pub occurrences: usize,
    /// The mutations of the first request that showed it.
    pub mutations: Vec<String>,
    /// The smallest request found that still breaks the oracle; send it again with
    /// `acmespec fuzz --replay`.
    pub replay: ReplaySpec,
    /// The minimal request's exchange, JWS decoded.
    pub exchange: Option<Exchange>,
}

/// A campaign's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveReport {
    /// Always `acmespec`.
    pub tool: String,
    /// acmespec's version.
    pub version: String,
    /// The directory URL fuzzed.
    pub directory_url: String,
    /// The `Server` header of the directory response, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// RFC 3339 start time.
    #[serde(default)]
    pub started_at: String,
    /// RFC 3339 end time (absent while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The seed; the same seed sends the same requests.
    pub seed: u64,
    /// Requests sent, minimisation included.
    pub requests: usize,
    /// Of those, requests sent to minimise findings.
    pub minimisation_requests: usize,
    /// The slow-response bound in milliseconds.
    pub slow_ms: u64,
    /// Wall time of the campaign in milliseconds.
    pub duration_ms: u64,
    /// Responses per HTTP status (0 = no response).
    pub statuses: BTreeMap<u16, usize>,
    /// Distinct findings, in the order they were first seen.
    pub findings: Vec<Finding>,
    /// False when the campaign stopped early (server gone, interrupted).
    pub complete: bool,
    /// Why it stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Whether `url` names a loopback host.
pub fn is_loopback_url(url: &str) -> bool {
    match url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_owned())) {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The resources requests go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    NewAccount,
    NewOrder,
    Account,
    Order,
    Authorization,
    Challenge,
    Finalize,
}

impl Endpoint {
    const ALL: [Endpoint; 7] = [
        Endpoint::NewAccount,
        Endpoint::NewOrder,
        Endpoint::Account,
        Endpoint::Order,
        Endpoint::Authorization,
        Endpoint::Challenge,
        Endpoint::Finalize,
    ];

    fn name(self) -> &'static str {
        match self {
            Endpoint::NewAccount => "newAccount",
            Endpoint::NewOrder => "newOrder",
            Endpoint::Account => "account",
            Endpoint::Order => "order",
            Endpoint::Authorization => "authorization",
            Endpoint::Challenge => "challenge",
            Endpoint::Finalize => "finalize",
        }
    }

    fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }

    fn url(self, t: &Resources) -> Option<&str> {
        match self {
            Endpoint::NewAccount => t.directory.new_account.as_deref(),
            Endpoint::NewOrder => t.directory.new_order.as_deref(),
            Endpoint::Account => Some(&t.account_url),
            Endpoint::Order => Some(&t.order_url),
            Endpoint::Authorization => t.authz_url.as_deref(),
            Endpoint::Challenge => t.challenge_url.as_deref(),
            Endpoint::Finalize => t.finalize_url.as_deref(),
        }
    }

    /// The valid payload the mutations start from (empty: POST-as-GET).
    fn payload(self, name: &str) -> Vec<u8> {
        let p = match self {
            Endpoint::NewAccount => json!({"termsOfServiceAgreed": true}),
            Endpoint::NewOrder => json!({"identifiers": [{"type": "dns", "value": name}]}),
            Endpoint::Account => json!({"contact": []}),
            Endpoint::Challenge => json!({}),
            Endpoint::Finalize => json!({"csr": b64::encode(b"not a csr")}),
            Endpoint::Order | Endpoint::Authorization => return Vec::new(),
        };
        serde_json::to_vec(&p).unwrap_or_default()
    }

    /// newAccount is signed with `jwk`, everything else with `kid` (RFC 8555 §6.2).
    fn uses_jwk(self) -> bool {
        self == Endpoint::NewAccount
    }
}

/// The resources a campaign aims at, made once at the start, and its keys.
struct Resources {
    directory: Directory,
    account_url: String,
    order_url: String,
    authz_url: Option<String>,
    challenge_url: Option<String>,
    finalize_url: Option<String>,
    key: SigningKey,
    /// A second key, for key-confusion mutations.
    other_key: SigningKey,
}

/// One mutation of a valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    AlgNone,
    AlgHs256,
    AlgMismatch,
    NonceReused,
    NonceInvented,
    NonceMissing,
    NonceHuge,
    UrlOther,
    UrlMissing,
    KidInvented,
    JwkAndKid,
    JwkInsteadOfKid,
    KidOnNewAccount,
    JwkOtherKey,
    JwkPrivateMember,
    CritB64,
    SignatureCorrupt,
    SignatureEmpty,
    UnknownHeaderMember,
    PayloadMember,
    PayloadHuge,
    PayloadNotJson,
    BodyTruncated,
    BodyDuplicateMember,
    ContentTypeWrong,
    GeneralSerialization,
    UnprotectedHeader,
    PaddedProtected,
}

impl Mutation {
    const ALL: [Mutation; 28] = [
        Mutation::AlgNone,
        Mutation::AlgHs256,
        Mutation::AlgMismatch,
        Mutation::NonceReused,
        Mutation::NonceInvented,
        Mutation::NonceMissing,
        Mutation::NonceHuge,
        Mutation::UrlOther,
        Mutation::UrlMissing,
        Mutation::KidInvented,
        Mutation::JwkAndKid,
        Mutation::JwkInsteadOfKid,
        Mutation::KidOnNewAccount,
        Mutation::JwkOtherKey,
        Mutation::JwkPrivateMember,
        Mutation::CritB64,
        Mutation::SignatureCorrupt,
        Mutation::SignatureEmpty,
        Mutation::UnknownHeaderMember,
        Mutation::PayloadMember,
        Mutation::PayloadHuge,
        Mutation::PayloadNotJson,
        Mutation::BodyTruncated,
        Mutation::BodyDuplicateMember,
        Mutation::ContentTypeWrong,
        Mutation::GeneralSerialization,
        Mutation::UnprotectedHeader,
        Mutation::PaddedProtected,
    ];

    fn name(self) -> &'static str {
        match self {
            Mutation::AlgNone => "alg-none",
            Mutation::AlgHs256 => "alg-hs256",
            Mutation::AlgMismatch => "alg-key-mismatch",
            Mutation::NonceReused => "nonce-reused",
            Mutation::NonceInvented => "nonce-invented",
            Mutation::NonceMissing => "nonce-missing",
            Mutation::NonceHuge => "nonce-huge",
            Mutation::UrlOther => "url-other-resource",
            Mutation::UrlMissing => "url-missing",
            Mutation::KidInvented => "kid-invented",
            Mutation::JwkAndKid => "jwk-and-kid",
            Mutation::JwkInsteadOfKid => "jwk-instead-of-kid",
            Mutation::KidOnNewAccount => "kid-on-new-account",
            Mutation::JwkOtherKey => "jwk-other-key",
            Mutation::JwkPrivateMember => "jwk-private-member",
            Mutation::CritB64 => "crit-b64",
            Mutation::SignatureCorrupt => "signature-corrupt",
            Mutation::SignatureEmpty => "signature-empty",
            Mutation::UnknownHeaderMember => "unknown-header-member",
            Mutation::PayloadMember => "payload-member-replaced",
            Mutation::PayloadHuge => "payload-huge",
            Mutation::PayloadNotJson => "payload-not-json",
            Mutation::BodyTruncated => "body-truncated",
            Mutation::BodyDuplicateMember => "body-duplicate-member",
            Mutation::ContentTypeWrong => "content-type-wrong",
            Mutation::GeneralSerialization => "general-serialization",
            Mutation::UnprotectedHeader => "unprotected-header",
            Mutation::PaddedProtected => "padded-base64url",
        }
    }

    fn from_name(name: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Key mutations only make sense where the request carries that kind of key id.
    fn applies_to(self, endpoint: Endpoint) -> bool {
        match self {
            Mutation::KidOnNewAccount | Mutation::JwkOtherKey | Mutation::JwkPrivateMember => endpoint.uses_jwk(),
            Mutation::JwkInsteadOfKid => !endpoint.uses_jwk(),
            _ => true,
        }
    }

    /// The rule that makes the mutated request one the server must refuse; `None` when
    /// a server may accept it (unknown header members, odd payload values, sizes).
    fn must_refuse(self) -> Option<&'static str> {
        Some(match self {
            Mutation::AlgNone | Mutation::AlgHs256 => "RFC 8555 §6.2: alg none and MAC algorithms are refused",
            Mutation::AlgMismatch | Mutation::SignatureCorrupt | Mutation::SignatureEmpty | Mutation::JwkOtherKey => {
                "RFC 8555 §6.2: the signature must verify under the header's alg and key"
            }
            Mutation::NonceReused | Mutation::NonceInvented | Mutation::NonceMissing | Mutation::NonceHuge => {
                "RFC 8555 §6.5: a missing, reused or unknown nonce is refused with badNonce"
            }
            Mutation::UrlOther | Mutation::UrlMissing => "RFC 8555 §6.4: the url header must equal the request URL",
            Mutation::KidInvented => "RFC 8555 §6.2: kid must be an existing account URL",
            Mutation::JwkAndKid => "RFC 8555 §6.2: jwk and kid are mutually exclusive",
            Mutation::JwkInsteadOfKid => "RFC 8555 §6.2: requests other than newAccount and revokeCert are signed with kid",
            Mutation::KidOnNewAccount => "RFC 8555 §6.2, §7.3: newAccount is signed with jwk",
            Mutation::JwkPrivateMember => "RFC 7515 §4.1.3, RFC 7517 §4: jwk is the signer's public key; a private key member is refused",
            Mutation::CritB64 => "RFC 8555 §6.2: the unencoded payload option is not allowed",
            Mutation::PayloadNotJson | Mutation::BodyTruncated | Mutation::BodyDuplicateMember => {
                "RFC 8555 §6.2/§6.7: a body that is not a well-formed JWS of JSON is malformed"
            }
            Mutation::ContentTypeWrong => "RFC 8555 §6.2: requests must use Content-Type application/jose+json",
            Mutation::GeneralSerialization | Mutation::UnprotectedHeader => {
                "RFC 8555 §6.2: flattened serialization only, no unprotected header"
            }
            Mutation::PaddedProtected => "RFC 8555 §6.1: base64url without padding",
            Mutation::UnknownHeaderMember | Mutation::PayloadMember | Mutation::PayloadHuge => return None,
        })
    }
}

/// Values a payload member is replaced with: type confusion, boundaries, odd text.
fn odd_value(rng: &mut SplitMix64) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1.5e308),
        4 => json!(""),
        5 => json!("x".repeat(rng.below(64 * 1024))),
        6 => json!(["\u{0}", "\u{202e}é", "*.", "xn--"]),
        7 => json!({"type": "dns", "value": "a..b"}),
        8 => json!(true),
        _ => (0..rng.below(200)).fold(json!(1), |v, _| json!([v])),
    }
}

fn random_name(rng: &mut SplitMix64) -> String {
    format!("fz{:016x}.acmespec.test", rng.next_u64())
}

/// A request (given as a spec) sent, and what came back.
struct Sent {
    response: Option<Response>,
    exchange: Option<Exchange>,
}

/// The fuzzing session with one server: its resources, the client, and the last nonce
/// the server certainly spent (for `nonce-reused`).
struct Session {
    client: HttpClient,
    resources: Resources,
    spent_nonce: Option<String>,
    slow: Duration,
}

impl Session {
    async fn open(options: &LiveOptions) -> Result<(Session, Option<String>), LiveError> {
        if !is_loopback_url(&options.directory_url) {
            return Err(LiveError::NotLoopback(options.directory_url.clone()));
        }
        let client = HttpClient::new(options.client.clone())?;
        let generate = || SigningKey::generate(Algorithm::Es256).map_err(|e| LiveError::Setup(e.to_string()));
        let (key, other_key) = (generate()?, generate()?);
        let (resources, server) = set_up(&client, &options.directory_url, key, other_key, options.seed).await?;
        Ok((Session { client, resources, spent_nonce: None, slow: options.slow }, server))
    }

    /// Builds the request `spec` describes, sends it, and remembers its nonce as spent
    /// when the server accepted it.
    async fn send(&mut self, endpoint: Endpoint, mutations: &[Mutation], seed: u64) -> Sent {
        let r = &self.resources;
        let mut rng = SplitMix64::new(seed);
        let url = endpoint.url(r).unwrap_or_default().to_owned();
        let key_id = if endpoint.uses_jwk() { KeyId::Jwk(r.key.jwk().clone()) } else { KeyId::Kid(r.account_url.clone()) };
        let nonce = match &r.directory.new_nonce {
            Some(n) => self.client.nonce(n).await.ok(),
            None => None,
        };
        let mut header = acme_protected_header(r.key.alg(), &key_id, nonce.as_deref(), &url);
        let mut payload = endpoint.payload(&random_name(&mut rng));
        let mut content_type = "application/jose+json";
        for m in mutations {
            match m {
                Mutation::ContentTypeWrong => content_type = "application/json",
                Mutation::PayloadMember | Mutation::PayloadHuge => {
                    let mut obj: Map<String, Value> = serde_json::from_slice(&payload).unwrap_or_default();
                    if *m == Mutation::PayloadHuge {
                        obj.insert("x-padding".into(), "a".repeat(HUGE).into());
                    } else {
                        let names = ["identifiers", "contact", "termsOfServiceAgreed", "csr", "status", "onlyReturnExisting", "notBefore"];
                        obj.insert((*rng.pick(&names)).to_owned(), odd_value(&mut rng));
                    }
                    payload = serde_json::to_vec(&obj).unwrap_or_default();
                }
                _ => mutate_header(*m, &mut header, &url, r, &mut rng, self.spent_nonce.as_deref()),
            }
        }
        let body = encode_body(mutations, &header, &payload, r, &mut rng);
        let used_nonce = header.get("nonce").and_then(Value::as_str).map(str::to_owned);
        self.client.take_transcript();
        let headers = vec![("content-type".to_owned(), content_type.to_owned())];
        let response = self.client.send(Method::POST, &url, &headers, Some(body)).await.ok();
        // Only an accepted request certainly spent its nonce; a refused one may have been
        // refused before the nonce was looked at, and reusing it would be legitimate.
        if response.as_ref().is_some_and(|resp| resp.status < 400) {
            self.spent_nonce = used_nonce;
        }
        Sent { response, exchange: self.client.take_transcript().decode_last() }
    }

    /// The oracles this answer broke.
    fn judge(&self, mutations: &[Mutation], sent: &Sent) -> Vec<Broken> {
        let mut broken = Vec::new();
        let mut add = |oracle: &str, rfc: Option<&str>, detail: String| {
            let rfc = rfc.or_else(|| ORACLES.iter().find(|(id, _)| *id == oracle).map(|(_, r)| *r)).unwrap_or_default();
            broken.push(Broken { oracle: oracle.to_owned(), rfc: rfc.to_owned(), detail });
        };
        if let Some(ms) = sent.exchange.as_ref().map(|e| e.elapsed_ms)
            && ms > self.slow.as_millis() as u64
        {
            add("slow-response", None, format!("answered after {ms} ms (bound {} ms)", self.slow.as_millis()));
        }
        let Some(r) = &sent.response else {
            let error = sent.exchange.as_ref().and_then(|e| e.error.clone()).unwrap_or_default();
            add("no-answer", None, format!("no response: {error}"));
            return broken;
        };
        if r.status >= 500 {
            add("server-error", None, format!("HTTP {}", r.status));
        }
        if r.status >= 400 {
            match r.media_type().as_deref() {
                Some("application/problem+json") => match r.problem().and_then(|p| p.kind) {
                    Some(kind) if !is_registered_or_foreign_error(&kind) => add("problem-type", None, format!("unregistered type {kind}")),
                    Some(_) => {}
                    None => add("problem-type", None, "a problem document without a type".into()),
                },
                other => add("problem-format", None, format!("HTTP {} with Content-Type {}", r.status, other.unwrap_or("none"))),
            }
        }
        if r.replay_nonce().is_none() {
            add("replay-nonce", None, format!("HTTP {} without Replay-Nonce", r.status));
        }
        if r.status < 400
            && let Some(rule) = mutations.iter().find_map(|m| m.must_refuse())
        {
            add("accepted-invalid", Some(rule), format!("HTTP {}", r.status));
        }
        broken
    }

    /// Drops mutations one at a time while the oracle still breaks; returns the smallest
    /// set found and the requests spent.
    async fn minimise(&mut self, endpoint: Endpoint, mutations: &[Mutation], seed: u64, oracle: &str, budget: usize) -> (Vec<Mutation>, Option<Exchange>, usize) {
        let mut kept = mutations.to_vec();
        let mut exchange = None;
        let mut spent = 0;
        let mut i = 0;
        while kept.len() > 1 && i < kept.len() && spent < budget {
            let mut fewer = kept.clone();
            fewer.remove(i);
            let sent = self.send(endpoint, &fewer, seed).await;
            spent += 1;
            if self.judge(&fewer, &sent).iter().any(|b| b.oracle == oracle) {
                kept = fewer;
                exchange = sent.exchange;
            } else {
                i += 1;
            }
        }
        (kept, exchange, spent)
    }
}

fn mutate_header(m: Mutation, h: &mut Map<String, Value>, url: &str, r: &Resources, rng: &mut SplitMix64, spent_nonce: Option<&str>) {
    match m {
        Mutation::AlgNone => {
            h.insert("alg".into(), "none".into());
        }
        Mutation::AlgHs256 => {
            h.insert("alg".into(), "HS256".into());
        }
        Mutation::AlgMismatch => {
            h.insert("alg".into(), "ES384".into());
        }
        Mutation::NonceReused => {
            h.insert("nonce".into(), spent_nonce.unwrap_or("AAAAAAAAAAAAAAAAAAAAAA").into());
        }
        Mutation::NonceInvented => {
            h.insert("nonce".into(), b64::encode(rng.next_u64().to_be_bytes()).into());
        }
        Mutation::NonceMissing => {
            h.remove("nonce");
        }
        Mutation::NonceHuge => {
            h.insert("nonce".into(), "A".repeat(HUGE).into());
        }
        Mutation::UrlOther => {
            let other = if url == r.order_url { &r.account_url } else { &r.order_url };
            h.insert("url".into(), other.clone().into());
        }
        Mutation::UrlMissing => {
            h.remove("url");
        }
        Mutation::KidInvented => {
            h.remove("jwk");
            h.insert("kid".into(), format!("{}-{}", r.account_url, rng.next_u64()).into());
        }
        Mutation::JwkAndKid => {
            h.insert("kid".into(), r.account_url.clone().into());
            h.insert("jwk".into(), r.key.jwk().to_value());
        }
        Mutation::JwkInsteadOfKid => {
            h.remove("kid");
            h.insert("jwk".into(), r.key.jwk().to_value());
        }
        Mutation::KidOnNewAccount => {
            h.remove("jwk");
            h.insert("kid".into(), r.account_url.clone().into());
        }
        Mutation::JwkOtherKey => {
            h.insert("jwk".into(), r.other_key.jwk().to_value());
        }
        Mutation::JwkPrivateMember => {
            if let Some(Value::Object(jwk)) = h.get_mut("jwk") {
                jwk.insert("d".into(), b64::encode(rng.next_u64().to_be_bytes().repeat(4)).into());
            }
        }
        Mutation::CritB64 => {
            h.insert("b64".into(), false.into());
            h.insert("crit".into(), json!(["b64"]));
        }
        Mutation::UnknownHeaderMember => {
            h.insert(format!("x-{}", rng.below(100)), odd_value(rng));
        }
        _ => {}
    }
}

/// Signs and serializes the request, then applies the mutations that work on the
/// signature or the body text.
fn encode_body(mutations: &[Mutation], header: &Map<String, Value>, payload: &[u8], r: &Resources, rng: &mut SplitMix64) -> Vec<u8> {
    let protected = b64::encode(serde_json::to_vec(header).unwrap_or_default());
    let payload = if mutations.contains(&Mutation::PayloadNotJson) { b64::encode(b"{not json") } else { b64::encode(payload) };
    let signature = b64::encode(r.key.sign(format!("{protected}.{payload}").as_bytes()));
    let mut body = json!({"protected": protected, "payload": payload, "signature": signature});
    for m in mutations {
        match m {
            Mutation::SignatureCorrupt => body["signature"] = b64::encode(r.key.sign(b"another message")).into(),
            Mutation::SignatureEmpty => body["signature"] = "".into(),
            Mutation::GeneralSerialization => {
                body = json!({"payload": payload, "signatures": [{"protected": body["protected"].clone(), "signature": body["signature"].clone()}]});
            }
            Mutation::UnprotectedHeader => body["header"] = json!({"kid": r.account_url}),
            Mutation::PaddedProtected => body["protected"] = format!("{protected}=").into(),
            _ => {}
        }
    }
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    for m in mutations {
        match m {
            Mutation::BodyTruncated => bytes.truncate(rng.below(bytes.len())),
            Mutation::BodyDuplicateMember => {
                if let Some(end) = bytes.iter().rposition(|b| *b == b'}') {
                    bytes.splice(end..end, br#","protected":"e30""#.iter().copied());
                }
            }
            _ => {}
        }
    }
    bytes
}

/// `500`, `400 badNonce`, `201`, `none`: what kind of answer came back.
fn response_class(sent: &Sent) -> String {
    match &sent.response {
        None => "none".into(),
        Some(r) => match r.problem().and_then(|p| p.kind) {
            Some(kind) => format!("{} {}", r.status, kind.strip_prefix("urn:ietf:params:acme:error:").unwrap_or(&kind)),
            None => r.status.to_string(),
        },
    }
}

fn names(mutations: &[Mutation]) -> Vec<String> {
    mutations.iter().map(|m| m.name().to_owned()).collect()
}

/// Sends the campaign; `on_finding` sees each new distinct finding as it happens, with
/// the report so far (`complete: false`), so a campaign cut short still leaves its findings.
pub async fn run(options: &LiveOptions, mut on_finding: impl FnMut(&LiveReport, &Finding)) -> Result<LiveReport, LiveError> {
    if options.requests == 0 || options.requests > MAX_REQUESTS || options.duration.is_zero() || options.duration > MAX_DURATION {
        return Err(LiveError::Bounds(format!(
            "requests must be 1..={MAX_REQUESTS} and the duration between 1 s and {} h",
            MAX_DURATION.as_secs() / 3600
        )));
    }
    let started = Instant::now();
    let (mut session, server) = Session::open(options).await?;
    let mut rng = SplitMix64::new(options.seed);
    let mut report = LiveReport {
        tool: "acmespec".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        directory_url: options.directory_url.clone(),
        server,
        started_at: crate::runner::now(),
        finished_at: None,
        seed: options.seed,
        requests: 0,
        minimisation_requests: 0,
        slow_ms: options.slow.as_millis() as u64,
        duration_ms: 0,
        statuses: BTreeMap::new(),
        findings: Vec::new(),
        complete: false,
        stopped: None,
    };
    // (endpoint, mutations as sent, oracle, response class) -> index of its finding, so
    // a request seen before is neither minimised again nor reported twice.
    let mut seen: HashMap<(usize, Vec<String>, String, String), usize> = HashMap::new();
    let available: Vec<Endpoint> = Endpoint::ALL.into_iter().filter(|e| e.url(&session.resources).is_some()).collect();
    let mut next_liveness = LIVENESS_EVERY;
    while report.requests < options.requests && started.elapsed() < options.duration {
        let endpoint = *rng.pick(&available);
        let applicable: Vec<Mutation> = Mutation::ALL.into_iter().filter(|m| m.applies_to(endpoint)).collect();
        let count = 1 + rng.below(3);
        let mut mutations: Vec<Mutation> = (0..count).map(|_| *rng.pick(&applicable)).collect();
        mutations.dedup();
        let seed = rng.next_u64();
        let sent = session.send(endpoint, &mutations, seed).await;
        report.requests += 1;
        let n = report.requests;
        *report.statuses.entry(sent.response.as_ref().map_or(0, |r| r.status)).or_default() += 1;
        let class = response_class(&sent);
        for broken in session.judge(&mutations, &sent) {
            let raw_key = (endpoint as usize, names(&mutations), broken.oracle.clone(), class.clone());
            if let Some(&i) = seen.get(&raw_key) {
                report.findings[i].occurrences += 1;
                continue;
            }
            let budget = options.requests.saturating_sub(report.requests);
            let (minimal, exchange, spent) = session.minimise(endpoint, &mutations, seed, &broken.oracle, budget).await;
            report.requests += spent;
            report.minimisation_requests += spent;
            let mut broken = broken;
            if let Some(rule) = minimal.iter().find_map(|m| m.must_refuse()).filter(|_| broken.oracle == "accepted-invalid") {
                // The rule that matters is one the minimal request still breaks.
                broken.rfc = rule.to_owned();
            }
            let key = format!("{} {} [{}] -> {}", broken.oracle, endpoint.name(), names(&minimal).join(", "), class);
            if let Some(i) = report.findings.iter().position(|f| f.key == key) {
                report.findings[i].occurrences += 1;
                seen.insert(raw_key, i);
                continue;
            }
            seen.insert(raw_key, report.findings.len());
            report.findings.push(Finding {
                key,
                broken,
                endpoint: endpoint.name().into(),
                response_class: class.clone(),
                first_request: n,
                occurrences: 1,
                mutations: names(&mutations),
                replay: ReplaySpec { endpoint: endpoint.name().into(), mutations: names(&minimal), seed },
                exchange: exchange.or_else(|| sent.exchange.clone()),
            });
            report.duration_ms = started.elapsed().as_millis() as u64;
            if let Some(f) = report.findings.last() {
                on_finding(&report, f);
            }
        }
        if report.requests >= next_liveness {
            next_liveness += LIVENESS_EVERY;
            if !alive(&session.client, &options.directory_url).await {
                report.stopped = Some(format!("the server stopped answering its directory after request {}", report.requests));
                break;
            }
        }
    }
    if report.stopped.is_none() && !alive(&session.client, &options.directory_url).await {
        report.stopped = Some("the server stopped answering its directory at the end of the campaign".into());
    }
    if let Some(stopped) = &report.stopped {
        let detail = stopped.clone();
        report.findings.push(Finding {
            key: "server-gone".into(),
            broken: Broken { oracle: "server-gone".into(), rfc: ORACLES[7].1.into(), detail },
            endpoint: "directory".into(),
            response_class: "none".into(),
            first_request: report.requests,
            occurrences: 1,
            mutations: Vec::new(),
            replay: ReplaySpec { endpoint: "directory".into(), mutations: Vec::new(), seed: 0 },
            exchange: None,
        });
    }
    report.complete = report.stopped.is_none();
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.finished_at = Some(crate::runner::now());
    Ok(report)
}

/// The outcome of sending one saved request again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayOutcome {
    /// The oracles the answer broke (empty: the server now behaves).
    pub broken: Vec<Broken>,
    /// The exchange, JWS decoded.
    pub exchange: Option<Exchange>,
}

/// Sends the request a [`ReplaySpec`] describes to fresh resources of the server (a new
/// account and order), after one accepted request so that `nonce-reused` has a spent
/// nonce to reuse, and judges the answer.
pub async fn replay(options: &LiveOptions, spec: &ReplaySpec) -> Result<ReplayOutcome, LiveError> {
    let endpoint = Endpoint::from_name(&spec.endpoint).ok_or_else(|| LiveError::Replay(format!("unknown endpoint {:?}", spec.endpoint)))?;
    let mutations = spec
        .mutations
        .iter()
        .map(|m| Mutation::from_name(m).ok_or_else(|| LiveError::Replay(format!("unknown mutation {m:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut session, _) = Session::open(options).await?;
    if endpoint.url(&session.resources).is_none() {
        return Err(LiveError::Replay(format!("the server has no {} resource to send to", spec.endpoint)));
    }
    session.send(Endpoint::Account, &[], spec.seed).await;
    let sent = session.send(endpoint, &mutations, spec.seed).await;
    Ok(ReplayOutcome { broken: session.judge(&mutations, &sent), exchange: sent.exchange })
}

async fn alive(client: &HttpClient, directory_url: &str) -> bool {
    for _ in 0..2 {
        if client.get(directory_url).await.is_ok_and(|r| r.status == 200) {
            return true;
        }
    }
    false
}

async fn set_up(client: &HttpClient, directory_url: &str, key: SigningKey, other_key: SigningKey, seed: u64) -> Result<(Resources, Option<String>), LiveError> {
    let setup = |what: &str, resp: &Result<Response, HttpError>| match resp {
        Ok(r) => LiveError::Setup(format!("{what}: HTTP {} {}", r.status, String::from_utf8_lossy(&r.body[..r.body.len().min(300)]))),
        Err(e) => LiveError::Setup(format!("{what}: {e}")),
    };
    let dir = client.get(directory_url).await;
    let directory: Directory = match &dir {
        Ok(r) if r.status == 200 => r.json().ok().and_then(|v| serde_json::from_value(v).ok()),
        _ => None,
    }
    .ok_or_else(|| setup("fetching the directory", &dir))?;
    let server = dir.as_ref().ok().and_then(|r| r.header("server")).map(str::to_owned);
    let (Some(new_nonce), Some(new_account), Some(new_order)) =
        (directory.new_nonce.clone(), directory.new_account.clone(), directory.new_order.clone())
    else {
        return Err(LiveError::Setup("the directory lacks newNonce, newAccount or newOrder".into()));
    };
    let post = |url: String, key_id: KeyId, payload: Value| {
        let new_nonce = new_nonce.clone();
        let key = &key;
        async move {
            let nonce = client.nonce(&new_nonce).await.map_err(|e| LiveError::Setup(format!("nonce: {e}")))?;
            let header = acme_protected_header(key.alg(), &key_id, Some(&nonce), &url);
            let payload = if payload.is_null() { Vec::new() } else { serde_json::to_vec(&payload).unwrap_or_default() };
            let jws = FlattenedJws::sign(key, &header, &payload);
            Ok::<_, LiveError>(client.send(Method::POST, &url, &jose_type(), Some(serde_json::to_vec(&jws.to_value()).unwrap_or_default())).await)
        }
    };
    let acct = post(new_account, KeyId::Jwk(key.jwk().clone()), json!({"termsOfServiceAgreed": true})).await?;
    let account_url = match &acct {
        Ok(r) if r.status == 201 || r.status == 200 => r.location(),
        _ => None,
    }
    .ok_or_else(|| setup("creating the account", &acct))?;
    let kid = KeyId::Kid(account_url.clone());
    let name = random_name(&mut SplitMix64::new(seed));
    let order = post(new_order, kid.clone(), json!({"identifiers": [{"type": "dns", "value": name}]})).await?;
    let (order_url, body) = match &order {
        Ok(r) if r.status == 201 => (r.location(), r.json().ok()),
        _ => (None, None),
    };
    let order_url = order_url.ok_or_else(|| setup("creating an order", &order))?;
    let body = body.unwrap_or_default();
    let authz_url = body.pointer("/authorizations/0").and_then(Value::as_str).map(str::to_owned);
    let finalize_url = body.get("finalize").and_then(Value::as_str).map(str::to_owned);
    let mut challenge_url = None;
    if let Some(authz) = &authz_url
        && let Ok(Ok(r)) = post(authz.clone(), kid, Value::Null).await
        && let Ok(body) = r.json()
    {
        challenge_url = body.pointer("/challenges/0/url").and_then(Value::as_str).map(str::to_owned);
    }
    client.take_transcript();
    let resources = Resources { directory, account_url, order_url, authz_url, challenge_url, finalize_url, key, other_key };
    Ok((resources, server))
}

fn jose_type() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/jose+json".into())]
}
