//! Live protocol fuzzing of a server URL.
//!
//! Conformance cases check the behaviours the RFC names; a fuzzing campaign asks what
//! the server does with everything else. Each request starts from a valid, signed ACME
//! request to a real resource of the server (an account, an order, its authorization,
//! challenge and finalize URLs) and applies a few seeded mutations to the header, the
//! payload or the body. The oracles are the ones every request must satisfy whatever
//! its content: no 5xx for client input, errors as `application/problem+json` with a
//! registered ACME type, a Replay-Nonce on every POST answer, an answer within the
//! timeout, refusal of requests RFC 8555 §6 requires to be refused, and a server still
//! answering afterwards. The same seed sends the same sequence of requests.

use crate::protocol::b64;
use crate::protocol::http::{ClientOptions, Exchange, HttpClient, HttpError, Response};
use crate::protocol::jws::{Algorithm, FlattenedJws, KeyId, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::wire::{Directory, is_registered_or_foreign_error};
use crate::seeded::SplitMix64;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Most requests one campaign may send.
pub const MAX_REQUESTS: usize = 1_000_000;
/// Longest one campaign may run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// How often (in requests) the server is checked to be still answering.
const LIVENESS_EVERY: usize = 50;

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Directory URL of the server; must be on a loopback address.
    pub directory_url: String,
    /// HTTP client settings (roots, timeouts, body limit).
    pub client: ClientOptions,
    /// Seed of the mutation sequence.
    pub seed: u64,
    /// Requests to send (at most [`MAX_REQUESTS`]).
    pub requests: usize,
    /// Time budget (at most [`MAX_DURATION`]).
    pub duration: Duration,
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
}

/// One oracle a response broke.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// 1-based number of the request in the campaign (replay with the same seed).
    pub request: usize,
    /// Which property broke (`server-error`, `problem-format`, ...).
    pub oracle: String,
    /// The RFC text the property comes from.
    pub rfc: String,
    /// What was seen.
    pub detail: String,
    /// The mutations applied to the request.
    pub mutations: Vec<String>,
    /// The exchange, JWS decoded.
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
    /// The seed; the same seed sends the same requests.
    pub seed: u64,
    /// Requests sent.
    pub requests: usize,
    /// Responses per HTTP status (0 = no response).
    pub statuses: BTreeMap<u16, usize>,
    /// Broken oracles, at most one per request and oracle.
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

/// The resources a campaign aims at, made once at the start.
struct Targets {
    directory: Directory,
    account_url: String,
    order_url: String,
    authz_url: Option<String>,
    challenge_url: Option<String>,
    finalize_url: Option<String>,
}

/// One mutation: its name and whether RFC 8555 requires the server to refuse the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    AlgNone,
    AlgHs256,
    AlgMismatch,
    NonceReused,
    NonceInvented,
    NonceMissing,
    UrlOther,
    UrlMissing,
    KidInvented,
    JwkAndKid,
    CritB64,
    SignatureCorrupt,
    SignatureEmpty,
    UnknownHeaderMember,
    PayloadMember,
    PayloadNotJson,
    BodyTruncated,
    BodyDuplicateMember,
    ContentTypeWrong,
    GeneralSerialization,
    UnprotectedHeader,
    PaddedProtected,
}

impl Mutation {
    const ALL: [Mutation; 22] = [
        Mutation::AlgNone,
        Mutation::AlgHs256,
        Mutation::AlgMismatch,
        Mutation::NonceReused,
        Mutation::NonceInvented,
        Mutation::NonceMissing,
        Mutation::UrlOther,
        Mutation::UrlMissing,
        Mutation::KidInvented,
        Mutation::JwkAndKid,
        Mutation::CritB64,
        Mutation::SignatureCorrupt,
        Mutation::SignatureEmpty,
        Mutation::UnknownHeaderMember,
        Mutation::PayloadMember,
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
            Mutation::UrlOther => "url-other-resource",
            Mutation::UrlMissing => "url-missing",
            Mutation::KidInvented => "kid-invented",
            Mutation::JwkAndKid => "jwk-and-kid",
            Mutation::CritB64 => "crit-b64",
            Mutation::SignatureCorrupt => "signature-corrupt",
            Mutation::SignatureEmpty => "signature-empty",
            Mutation::UnknownHeaderMember => "unknown-header-member",
            Mutation::PayloadMember => "payload-member-replaced",
            Mutation::PayloadNotJson => "payload-not-json",
            Mutation::BodyTruncated => "body-truncated",
            Mutation::BodyDuplicateMember => "body-duplicate-member",
            Mutation::ContentTypeWrong => "content-type-wrong",
            Mutation::GeneralSerialization => "general-serialization",
            Mutation::UnprotectedHeader => "unprotected-header",
            Mutation::PaddedProtected => "padded-base64url",
        }
    }

    /// The RFC 8555 text that makes the mutated request one the server must refuse;
    /// `None` when a server may accept it (unknown header members, odd payload values).
    fn must_refuse(self) -> Option<&'static str> {
        Some(match self {
            Mutation::AlgNone | Mutation::AlgHs256 => "RFC 8555 §6.2: alg none and MAC algorithms are refused",
            Mutation::AlgMismatch | Mutation::SignatureCorrupt | Mutation::SignatureEmpty => {
                "RFC 8555 §6.2: the signature must verify under the header's alg and key"
            }
            Mutation::NonceReused | Mutation::NonceInvented | Mutation::NonceMissing => {
                "RFC 8555 §6.5: a missing, reused or unknown nonce is refused with badNonce"
            }
            Mutation::UrlOther | Mutation::UrlMissing => "RFC 8555 §6.4: the url header must equal the request URL",
            Mutation::KidInvented => "RFC 8555 §6.2: kid must be an existing account URL",
            Mutation::JwkAndKid => "RFC 8555 §6.2: jwk and kid are mutually exclusive",
            Mutation::CritB64 => "RFC 8555 §6.2: the unencoded payload option is not allowed",
            Mutation::PayloadNotJson | Mutation::BodyTruncated | Mutation::BodyDuplicateMember => {
                "RFC 8555 §6.2/§6.7: a body that is not a well-formed JWS of JSON is malformed"
            }
            Mutation::ContentTypeWrong => "RFC 8555 §6.2: requests must use Content-Type application/jose+json",
            Mutation::GeneralSerialization | Mutation::UnprotectedHeader => {
                "RFC 8555 §6.2: flattened serialization only, no unprotected header"
            }
            Mutation::PaddedProtected => "RFC 8555 §6.1: base64url without padding",
            Mutation::UnknownHeaderMember | Mutation::PayloadMember => return None,
        })
    }
}

/// A request about to be sent, mutated step by step.
struct Request {
    url: String,
    header: Map<String, Value>,
    payload: Vec<u8>,
    content_type: String,
    body_edits: Vec<Mutation>,
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

fn valid_payload(target: usize, t: &Targets, name: &str) -> Vec<u8> {
    let p = match target {
        0 => json!({"termsOfServiceAgreed": true}),
        1 => json!({"identifiers": [{"type": "dns", "value": name}]}),
        2 => json!({"contact": []}),
        5 => json!({}),
        6 => json!({"csr": b64::encode(b"not a csr")}),
        _ => return Vec::new(),
    };
    let _ = t;
    serde_json::to_vec(&p).unwrap_or_default()
}

/// Sends the campaign; `on_finding` sees each finding as it happens, with the report
/// so far (`complete: false`), so a campaign cut short still leaves its findings.
pub async fn run(options: &LiveOptions, mut on_finding: impl FnMut(&LiveReport, &Finding)) -> Result<LiveReport, LiveError> {
    if !is_loopback_url(&options.directory_url) {
        return Err(LiveError::NotLoopback(options.directory_url.clone()));
    }
    if options.requests == 0 || options.requests > MAX_REQUESTS || options.duration.is_zero() || options.duration > MAX_DURATION {
        return Err(LiveError::Bounds(format!(
            "requests must be 1..={MAX_REQUESTS} and the duration between 1 s and {} h",
            MAX_DURATION.as_secs() / 3600
        )));
    }
    let client = HttpClient::new(options.client.clone())?;
    let key = SigningKey::generate(Algorithm::Es256).map_err(|e| LiveError::Setup(e.to_string()))?;
    let mut rng = SplitMix64::new(options.seed);
    let targets = set_up(&client, &options.directory_url, &key, &mut rng).await?;
    let mut report = LiveReport {
        tool: "acmespec".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        directory_url: options.directory_url.clone(),
        seed: options.seed,
        requests: 0,
        statuses: BTreeMap::new(),
        findings: Vec::new(),
        complete: false,
        stopped: None,
    };
    let started = Instant::now();
    let mut last_nonce: Option<String> = None;
    for n in 1..=options.requests {
        if started.elapsed() >= options.duration {
            break;
        }
        client.take_transcript();
        let (mutations, sent) = fuzz_one(&client, &targets, &key, &mut rng, &mut last_nonce).await;
        report.requests = n;
        let exchange = client.take_transcript().pop();
        let status = sent.as_ref().map_or(0, |r| r.status);
        *report.statuses.entry(status).or_default() += 1;
        for (oracle, rfc, detail) in judge(&mutations, &sent) {
            let finding = Finding {
                request: n,
                oracle: oracle.into(),
                rfc: rfc.into(),
                detail,
                mutations: mutations.iter().map(|m| m.name().to_owned()).collect(),
                exchange: exchange.clone(),
            };
            report.findings.push(finding);
            if let Some(f) = report.findings.last() {
                on_finding(&report, f);
            }
        }
        if n % LIVENESS_EVERY == 0 && !alive(&client, &options.directory_url).await {
            report.stopped = Some(format!("the server stopped answering its directory after request {n}"));
            return Ok(report);
        }
    }
    report.complete = alive(&client, &options.directory_url).await;
    if !report.complete {
        report.stopped = Some("the server stopped answering its directory at the end of the campaign".into());
    }
    Ok(report)
}

async fn alive(client: &HttpClient, directory_url: &str) -> bool {
    for _ in 0..2 {
        if client.get(directory_url).await.is_ok_and(|r| r.status == 200) {
            return true;
        }
    }
    false
}

fn random_name(rng: &mut SplitMix64) -> String {
    format!("fz{:016x}.acmespec.test", rng.next_u64())
}

async fn set_up(client: &HttpClient, directory_url: &str, key: &SigningKey, rng: &mut SplitMix64) -> Result<Targets, LiveError> {
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
    let (Some(new_nonce), Some(new_account), Some(new_order)) =
        (directory.new_nonce.clone(), directory.new_account.clone(), directory.new_order.clone())
    else {
        return Err(LiveError::Setup("the directory lacks newNonce, newAccount or newOrder".into()));
    };
    let post = |url: String, key_id: KeyId, payload: Value| {
        let new_nonce = new_nonce.clone();
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
    let order = post(new_order, kid.clone(), json!({"identifiers": [{"type": "dns", "value": random_name(rng)}]})).await?;
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
    Ok(Targets { directory, account_url, order_url, authz_url, challenge_url, finalize_url })
}

fn jose_type() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/jose+json".into())]
}

/// Builds, mutates and sends one request.
async fn fuzz_one(
    client: &HttpClient,
    t: &Targets,
    key: &SigningKey,
    rng: &mut SplitMix64,
    last_nonce: &mut Option<String>,
) -> (Vec<Mutation>, Option<Response>) {
    // 0 newAccount, 1 newOrder, 2 account, 3 order, 4 authz, 5 challenge, 6 finalize
    let urls = [
        t.directory.new_account.clone(),
        t.directory.new_order.clone(),
        Some(t.account_url.clone()),
        Some(t.order_url.clone()),
        t.authz_url.clone(),
        t.challenge_url.clone(),
        t.finalize_url.clone(),
    ];
    let available: Vec<usize> = (0..urls.len()).filter(|i| urls[*i].is_some()).collect();
    let target = *rng.pick(&available);
    let url = urls[target].clone().unwrap_or_default();
    let name = random_name(rng);
    let key_id = if target == 0 { KeyId::Jwk(key.jwk().clone()) } else { KeyId::Kid(t.account_url.clone()) };
    let nonce = match &t.directory.new_nonce {
        Some(n) => client.nonce(n).await.ok(),
        None => None,
    };
    let mut req = Request {
        header: acme_protected_header(key.alg(), &key_id, nonce.as_deref(), &url),
        url,
        payload: valid_payload(target, t, &name),
        content_type: "application/jose+json".into(),
        body_edits: Vec::new(),
    };
    let count = 1 + rng.below(3);
    let mut mutations: Vec<Mutation> = (0..count).map(|_| *rng.pick(&Mutation::ALL)).collect();
    mutations.dedup();
    for m in &mutations {
        apply(*m, &mut req, t, rng, last_nonce.as_deref());
    }
    let used_nonce = req.header.get("nonce").and_then(Value::as_str).map(str::to_owned);
    let protected = b64::encode(serde_json::to_vec(&req.header).unwrap_or_default());
    let payload = if mutations.contains(&Mutation::PayloadNotJson) { b64::encode(b"{not json") } else { b64::encode(&req.payload) };
    let signing_input = format!("{protected}.{payload}");
    let mut signature = b64::encode(key.sign(signing_input.as_bytes()));
    let mut body = json!({"protected": protected, "payload": payload, "signature": signature});
    for m in &req.body_edits {
        match m {
            Mutation::SignatureCorrupt => {
                signature = b64::encode(key.sign(b"another message"));
                body["signature"] = signature.clone().into();
            }
            Mutation::SignatureEmpty => body["signature"] = "".into(),
            Mutation::GeneralSerialization => {
                body = json!({"payload": payload, "signatures": [{"protected": body["protected"].clone(), "signature": signature.clone()}]});
            }
            Mutation::UnprotectedHeader => body["header"] = json!({"kid": t.account_url}),
            Mutation::PaddedProtected => body["protected"] = format!("{protected}=").into(),
            _ => {}
        }
    }
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    for m in &req.body_edits {
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
    let headers = vec![("content-type".to_owned(), req.content_type.clone())];
    let sent = client.send(Method::POST, &req.url, &headers, Some(bytes)).await.ok();
    // Only an accepted request certainly spent its nonce; a refused one may have been
    // refused before the nonce was looked at, and reusing it would be legitimate.
    if sent.as_ref().is_some_and(|r| r.status < 400) {
        *last_nonce = used_nonce;
    }
    (mutations, sent)
}

fn apply(m: Mutation, req: &mut Request, t: &Targets, rng: &mut SplitMix64, last_nonce: Option<&str>) {
    let h = &mut req.header;
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
            if let Some(n) = last_nonce {
                h.insert("nonce".into(), n.into());
            } else {
                h.insert("nonce".into(), "AAAAAAAAAAAAAAAAAAAAAA".into());
            }
        }
        Mutation::NonceInvented => {
            h.insert("nonce".into(), b64::encode(rng.next_u64().to_be_bytes()).into());
        }
        Mutation::NonceMissing => {
            h.remove("nonce");
        }
        Mutation::UrlOther => {
            let other = if req.url == t.order_url { t.account_url.clone() } else { t.order_url.clone() };
            h.insert("url".into(), other.into());
        }
        Mutation::UrlMissing => {
            h.remove("url");
        }
        Mutation::KidInvented => {
            h.remove("jwk");
            h.insert("kid".into(), format!("{}-{}", t.account_url, rng.next_u64()).into());
        }
        Mutation::JwkAndKid => {
            h.insert("kid".into(), t.account_url.clone().into());
            h.insert("jwk".into(), json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}));
        }
        Mutation::CritB64 => {
            h.insert("b64".into(), false.into());
            h.insert("crit".into(), json!(["b64"]));
        }
        Mutation::UnknownHeaderMember => {
            h.insert(format!("x-{}", rng.below(100)), odd_value(rng));
        }
        Mutation::PayloadMember => {
            let mut obj: Map<String, Value> = serde_json::from_slice(&req.payload).unwrap_or_default();
            let names = ["identifiers", "contact", "termsOfServiceAgreed", "csr", "status", "onlyReturnExisting", "notBefore"];
            obj.insert((*rng.pick(&names)).to_owned(), odd_value(rng));
            req.payload = serde_json::to_vec(&obj).unwrap_or_default();
        }
        Mutation::ContentTypeWrong => req.content_type = "application/json".into(),
        Mutation::PayloadNotJson => {}
        Mutation::SignatureCorrupt
        | Mutation::SignatureEmpty
        | Mutation::BodyTruncated
        | Mutation::BodyDuplicateMember
        | Mutation::GeneralSerialization
        | Mutation::UnprotectedHeader
        | Mutation::PaddedProtected => req.body_edits.push(m),
    }
}

/// The oracles: (id, RFC text, what was seen) for each broken one.
fn judge(mutations: &[Mutation], sent: &Option<Response>) -> Vec<(&'static str, &'static str, String)> {
    let mut broken = Vec::new();
    let Some(r) = sent else {
        broken.push(("no-answer", "RFC 8555 §6: every request gets an HTTP response", "no response within the timeout".into()));
        return broken;
    };
    if r.status >= 500 {
        broken.push(("server-error", "RFC 8555 §6.7: client errors are reported as 4xx problem documents", format!("HTTP {}", r.status)));
    }
    if r.status >= 400 {
        match r.media_type().as_deref() {
            Some("application/problem+json") => match r.problem().and_then(|p| p.kind) {
                Some(kind) if !is_registered_or_foreign_error(&kind) => broken.push((
                    "problem-type",
                    "RFC 8555 §6.7: ACME error types come from the IANA registry",
                    format!("unregistered type {kind}"),
                )),
                Some(_) => {}
                None => broken.push(("problem-type", "RFC 8555 §6.7 / RFC 7807: a problem document has a type", "no type".into())),
            },
            other => broken.push((
                "problem-format",
                "RFC 8555 §6.7: errors are application/problem+json documents",
                format!("HTTP {} with Content-Type {}", r.status, other.unwrap_or("none")),
            )),
        }
    }
    if r.replay_nonce().is_none() {
        broken.push(("replay-nonce", "RFC 8555 §6.5: every response to a POST carries Replay-Nonce", format!("HTTP {} without Replay-Nonce", r.status)));
    }
    if r.status < 400
        && let Some(rule) = mutations.iter().find_map(|m| m.must_refuse())
    {
        broken.push(("accepted-invalid", rule, format!("HTTP {}", r.status)));
    }
    broken
}
