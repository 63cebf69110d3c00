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
//! A campaign that reports the same defect ten thousand times is useless. Distinct
//! findings (oracle × endpoint × minimal mutations × answer class) are still mostly the
//! same bug seen from many angles: a server that answers 500 to padded base64url does
//! so on every endpoint and under every mutation that comes with the padding. So each
//! finding gets a root cause, what a server developer would fix once (see
//! `root_cause`), and is minimised: mutations are dropped one at a time while that
//! cause still shows. Findings with the same cause form a cluster, and the reports lead
//! with one smallest reproducer per cluster while `report.json` keeps every finding.
//! Every request is a pure function of a [`ReplaySpec`] (endpoint, mutations,
//! per-request seed), so a finding can be sent again on its own with [`replay`], and
//! the same campaign seed sends the same sequence of requests.

mod findings;
mod mutate;

use findings::{names, response_class, root_cause};
use mutate::{encode_body, mutate_header, odd_value};

use crate::protocol::b64;
use crate::protocol::http::{ClientOptions, Exchange, HttpClient, HttpError, Response};
use crate::protocol::jws::{Algorithm, FlattenedJws, KeyId, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::wire::{Directory, Problem, is_registered_or_foreign_error};
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
    /// Index of its root cause in [`LiveReport::clusters`].
    pub cluster: usize,
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

/// One root cause: the findings of one oracle whose answers point at the same code in
/// the server, whatever endpoint and mutations showed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// The oracle its findings broke.
    pub oracle: String,
    /// What they have in common besides the oracle, e.g. `500 serverInternal "the
    /// nonce <id> could not be decoded"`, `400` (for `replay-nonce`), the rule refused
    /// requests break (for `accepted-invalid`), the endpoint (for `slow-response`).
    pub cause: String,
    /// Campaign requests that showed it, over all its findings.
    pub occurrences: usize,
    /// Indices of its findings in [`LiveReport::findings`].
    pub findings: Vec<usize>,
    /// The endpoints it showed on, in the order first seen.
    pub endpoints: Vec<String>,
    /// The minimal mutation sets that show it, in the order first seen.
    pub mutation_sets: Vec<Vec<String>>,
    /// Index of the finding to reproduce it with: the first of those with the fewest
    /// minimal mutations.
    pub reproducer: usize,
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
    /// Their root causes, in the order first seen.
    pub clusters: Vec<Cluster>,
    /// False when the campaign stopped early (server gone, interrupted).
    pub complete: bool,
    /// Why it stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl LiveReport {
    /// Adds a new distinct finding to the cluster of `cause`, opening the cluster if it
    /// is the first.
    fn add(&mut self, mut finding: Finding, cause: String) {
        let index = self.findings.len();
        let c = match self.clusters.iter().position(|c| c.oracle == finding.broken.oracle && c.cause == cause) {
            Some(c) => c,
            None => {
                self.clusters.push(Cluster {
                    oracle: finding.broken.oracle.clone(),
                    cause,
                    occurrences: 0,
                    findings: Vec::new(),
                    endpoints: Vec::new(),
                    mutation_sets: Vec::new(),
                    reproducer: index,
                });
                self.clusters.len() - 1
            }
        };
        finding.cluster = c;
        let cluster = &mut self.clusters[c];
        cluster.occurrences += finding.occurrences;
        cluster.findings.push(index);
        if !cluster.endpoints.contains(&finding.endpoint) {
            cluster.endpoints.push(finding.endpoint.clone());
        }
        if !cluster.mutation_sets.contains(&finding.replay.mutations) {
            cluster.mutation_sets.push(finding.replay.mutations.clone());
        }
        if self.findings.get(cluster.reproducer).is_some_and(|r| finding.replay.mutations.len() < r.replay.mutations.len()) {
            cluster.reproducer = index;
        }
        self.findings.push(finding);
    }

    /// Counts one more request showing finding `i`.
    fn repeat(&mut self, i: usize) {
        self.findings[i].occurrences += 1;
        self.clusters[self.findings[i].cluster].occurrences += 1;
    }
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

/// The rule a request with these mutations breaks, if any: the last such mutation's,
/// since a later mutation of the same member wins (alg-hs256 then alg-key-mismatch
/// sends ES384).
fn broken_rule(mutations: &[Mutation]) -> Option<&'static str> {
    mutations.iter().rev().find_map(|m| m.must_refuse())
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
            && let Some(rule) = broken_rule(mutations)
        {
            add("accepted-invalid", Some(rule), format!("HTTP {}", r.status));
        }
        broken
    }

    /// Drops mutations one at a time while the oracle still breaks for the same root
    /// cause (a reproducer that reached another bug would reproduce the oracle, not its
    /// cluster); returns the smallest set found and the requests spent.
    async fn minimise(
        &mut self,
        endpoint: Endpoint,
        mutations: &[Mutation],
        seed: u64,
        (oracle, cause): (&str, &str),
        budget: usize,
    ) -> (Vec<Mutation>, Option<Exchange>, usize) {
        let mut kept = mutations.to_vec();
        let mut exchange = None;
        let mut spent = 0;
        let mut i = 0;
        while kept.len() > 1 && i < kept.len() && spent < budget {
            let mut fewer = kept.clone();
            fewer.remove(i);
            let sent = self.send(endpoint, &fewer, seed).await;
            spent += 1;
            // An accepted request's answer shows no cause: its rule comes from the
            // mutations, the very thing being minimised.
            let same = |b: &Broken| b.oracle == oracle && (oracle == "accepted-invalid" || root_cause(b, endpoint, &sent) == cause);
            if self.judge(&fewer, &sent).iter().any(same) {
                kept = fewer;
                exchange = sent.exchange;
            } else {
                i += 1;
            }
        }
        (kept, exchange, spent)
    }
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
        clusters: Vec::new(),
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
                report.repeat(i);
                continue;
            }
            let mut cause = root_cause(&broken, endpoint, &sent);
            let budget = options.requests.saturating_sub(report.requests);
            let (minimal, exchange, spent) = session.minimise(endpoint, &mutations, seed, (&broken.oracle, &cause), budget).await;
            report.requests += spent;
            report.minimisation_requests += spent;
            let mut broken = broken;
            if broken.oracle == "accepted-invalid"
                && let Some(rule) = broken_rule(&minimal)
            {
                // Which of the mutations the server let through is what minimising finds
                // out (padding on a body in the general serialization is no padding): the
                // rule, and so the cluster, is the minimal request's.
                broken.rfc = rule.to_owned();
                cause = root_cause(&broken, endpoint, &sent);
            }
            let key = format!("{} {} [{}] -> {}", broken.oracle, endpoint.name(), names(&minimal).join(", "), class);
            if let Some(i) = report.findings.iter().position(|f| f.key == key) {
                report.repeat(i);
                seen.insert(raw_key, i);
                continue;
            }
            seen.insert(raw_key, report.findings.len());
            let finding = Finding {
                key,
                cluster: 0,
                broken,
                endpoint: endpoint.name().into(),
                response_class: class.clone(),
                first_request: n,
                occurrences: 1,
                mutations: names(&mutations),
                replay: ReplaySpec { endpoint: endpoint.name().into(), mutations: names(&minimal), seed },
                exchange: exchange.or_else(|| sent.exchange.clone()),
            };
            report.add(finding, cause);
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
        let finding = Finding {
            key: "server-gone".into(),
            cluster: 0,
            broken: Broken { oracle: "server-gone".into(), rfc: ORACLES[7].1.into(), detail },
            endpoint: "directory".into(),
            response_class: "none".into(),
            first_request: report.requests,
            occurrences: 1,
            mutations: Vec::new(),
            replay: ReplaySpec { endpoint: "directory".into(), mutations: Vec::new(), seed: 0 },
            exchange: None,
        };
        report.add(finding, "no answer from the directory".into());
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
    /// The root cause of each (a [`Cluster::cause`]), in the same order: a saved cluster
    /// is there still only if its oracle breaks for its cause.
    pub causes: Vec<String>,
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
    let broken = session.judge(&mutations, &sent);
    let causes = broken.iter().map(|b| root_cause(b, endpoint, &sent)).collect();
    Ok(ReplayOutcome { broken, causes, exchange: sent.exchange })
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

#[cfg(test)]
mod tests {
    use super::findings::{SHAPE_LEN, detail_shape};
    use super::*;

    #[test]
    fn a_detail_shape_keeps_the_words_and_drops_what_varies_per_request() {
        let same = |a: &str, b: &str, shape: &str| {
            assert_eq!(detail_shape(a), shape, "{a}");
            assert_eq!(detail_shape(b), shape, "{b}");
        };
        same(
            "no account at https://127.0.0.1:45583/account/-GsySrp81XXao4ey-10491030889437922892",
            "no account at https://[::1]:14000/my-account/7",
            "no account at <url>",
        );
        same(
            r#"the JWS url "https://127.0.0.1:1/order/3ZxjVw4t74uO-m9m" is not the request URL "https://127.0.0.1:1/new-order""#,
            r#"the JWS url "https://127.0.0.1:1/account/x" is not the request URL "https://127.0.0.1:1/account/x/orders""#,
            r#"the JWS url "..." is not the request URL "...""#,
        );
        same(
            "JWS body is not valid JSON: EOF while parsing a string at line 1 column 126",
            "JWS body is not valid JSON: EOF while parsing a string at line 1 column 4117",
            "JWS body is not valid JSON: EOF while parsing a string at line <n> column <n>",
        );
        // Nonces, random ids and hashes, in base64url or hex, with or without digits.
        same("nonce fhLQmaVbt7IqtMi8ESy7fw unknown", "nonce AAAAAAAAAAAAAAAAAAAAAA unknown", "nonce <id> unknown");
        same("order 3f786850e387550fdab836ed7e6dc881de23001b expired", "order 2Nx_0Lh-ohzQ9lzT expired", "order <id> expired");
        // Quoted values in every quoting style, escapes included; apostrophes stay.
        same(r#"order "a\"b" isn't ready"#, r#"order "" isn't ready"#, r#"order "..." isn't ready"#);
        same("alg `none`  is\tnot supported", "alg `HS256` is not supported", "alg `...` is not supported");
        // Words, camelCase names and digits inside words are kept apart from ids.
        same(
            "JWS member \"protected\": base64url must not carry '=' padding",
            "JWS member \"signature\": base64url must not carry '=' padding",
            "JWS member \"...\": base<n>url must not carry '...' padding",
        );
        same(
            "algorithm ES384 does not match the EC P-256 key of externalAccountRequired",
            "algorithm ES512 does not match the EC P-384 key of externalAccountRequired",
            "algorithm ES<n> does not match the EC P-<n> key of externalAccountRequired",
        );
        // Different code paths keep different shapes.
        assert_ne!(detail_shape("the JWS has no nonce"), detail_shape("the JWS has no url"));
        // A detail that goes on and on (an echoed body) is cut, whatever its length.
        let echo = |n: usize| detail_shape(&format!("cannot parse {}", "word ".repeat(n)));
        assert_eq!(echo(100), echo(100_000));
        assert!(echo(100).ends_with("...") && echo(100).len() < SHAPE_LEN + 16);
        assert_eq!(detail_shape(""), "");
    }

    #[test]
    fn a_cluster_counts_every_finding_and_keeps_the_smallest_reproducer() {
        let finding = |endpoint: &str, mutations: &[&str], occurrences: usize| Finding {
            key: format!("server-error {endpoint} {mutations:?}"),
            cluster: 0,
            broken: Broken { oracle: "server-error".into(), rfc: ORACLES[0].1.into(), detail: "HTTP 500".into() },
            endpoint: endpoint.into(),
            response_class: "500".into(),
            first_request: 1,
            occurrences,
            mutations: mutations.iter().map(|m| m.to_string()).collect(),
            replay: ReplaySpec { endpoint: endpoint.into(), mutations: mutations.iter().map(|m| m.to_string()).collect(), seed: 1 },
            exchange: None,
        };
        let mut report: LiveReport = serde_json::from_value(json!({
            "tool": "acmespec", "version": "0", "directory_url": "https://127.0.0.1/dir", "seed": 1, "requests": 0,
            "minimisation_requests": 0, "slow_ms": 1, "duration_ms": 0, "statuses": {}, "findings": [], "clusters": [],
            "complete": false
        }))
        .unwrap();
        report.add(finding("order", &["padded-base64url", "nonce-huge"], 2), "500 \"bad base64\"".into());
        report.add(finding("account", &["alg-none"], 1), "400 \"alg\"".into());
        report.add(finding("finalize", &["padded-base64url"], 1), "500 \"bad base64\"".into());
        report.add(finding("order", &["padded-base64url"], 1), "500 \"bad base64\"".into());
        report.repeat(3);
        assert_eq!(report.clusters.len(), 2);
        let padded = &report.clusters[0];
        assert_eq!((padded.occurrences, padded.findings.as_slice(), padded.reproducer), (5, &[0, 2, 3][..], 2));
        assert_eq!(padded.endpoints, ["order", "finalize"]);
        assert_eq!(padded.mutation_sets, [vec!["padded-base64url", "nonce-huge"], vec!["padded-base64url"]]);
        assert_eq!(report.findings.iter().map(|f| f.cluster).collect::<Vec<_>>(), [0, 1, 0, 0]);
    }
}
