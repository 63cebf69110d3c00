//! The web front end: HTTP routing, the JWS checks of RFC 8555 §6, nonces, problem
//! documents, and one handler per resource.
//!
//! Every request goes through one dispatcher so that the cross-cutting rules (a fresh
//! Replay-Nonce on every response, `Link: rel="index"`, problem documents for every
//! error including unknown paths and wrong methods, a bounded body) cannot be
//! forgotten by a single handler. Defects are consulted exactly where the rule they
//! break is enforced.

use crate::mockca::ca::{CertificateAuthority, IssuanceNames, parse_csr};
use crate::mockca::core::{
    Account, AccountStatus, Authorization, AuthzStatus, Certificate, Challenge, ChallengeStatus, Finalization, Order,
    OrderStatus,
};
use crate::mockca::db::Db;
use crate::mockca::defects::{Defect, DefectSet};
use crate::mockca::faults::{FaultKind, FaultPlan, Fired};
use crate::mockca::journal::{Endpoint, Exchange, Journal};
use crate::mockca::nonces::Nonces;
use crate::mockca::profiles::{CLASSIC, Refusal};
use crate::mockca::ratelimit::Limiter;
use crate::mockca::va::{Progress, ValidationAuthority, ValidationRequest};
use crate::protocol::b64;
use crate::protocol::jwk::{Jwk, VerifyError, key_authorization};
use crate::protocol::jws::{Algorithm, JwsError, ParsedJws};
use crate::protocol::strict_json;
use crate::protocol::wire::{ERROR_NS, Identifier, Problem};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Largest request body accepted; ACME requests are small.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send its request body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a pending order or authorization lives.
const PENDING_LIFETIME: Duration = Duration::hours(24);
/// Revocation reasons of RFC 5280 §5.3.1 the mock CA accepts.
const ALLOWED_REASONS: &[u8] = &[0, 1, 3, 4, 5, 9];
/// How long a challenge response waits for a validation to finish before answering.
const VALIDATION_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
/// How often a client should ask for renewal information again (RFC 9773 §4.3: six hours
/// is the suggested default).
const RENEWAL_INFO_RETRY_AFTER_SECS: u32 = 6 * 3600;
/// Seconds a client should wait before polling a pending or processing resource again.
const RETRY_AFTER_SECS: u32 = 1;
/// Random bytes in a resource id.
const ID_BYTES: usize = 12;
/// Random bytes in a challenge token: twice the 128 bits RFC 8555 §8.3 requires.
const TOKEN_BYTES: usize = 32;
/// Random bytes in a challenge token under the `short-tokens` defect: too few.
const SHORT_TOKEN_BYTES: usize = 8;

/// Settings the WFE needs besides its collaborators.
#[derive(Debug, Clone)]
pub(crate) struct WfeConfig {
    /// `https://host:port`, without a trailing slash.
    pub(crate) base_url: String,
    /// Mark every challenge valid without contacting anyone.
    pub(crate) always_valid: bool,
    /// External account binding keys (key id → HMAC key); required when not empty.
    pub(crate) eab_keys: Vec<(String, Vec<u8>)>,
    /// Orders per page of the orders list.
    pub(crate) orders_per_page: usize,
    /// Refuse accounts that do not agree to the terms of service (§7.3).
    pub(crate) terms_required: bool,
    /// Refuse accounts without a contact URL.
    pub(crate) contact_required: bool,
}

pub(crate) struct Wfe {
    pub(crate) config: WfeConfig,
    pub(crate) db: Db,
    pub(crate) nonces: Nonces,
    pub(crate) ca: CertificateAuthority,
    pub(crate) va: ValidationAuthority,
    pub(crate) defects: Arc<DefectSet>,
    pub(crate) journal: Journal,
    pub(crate) faults: FaultPlan,
    pub(crate) new_order_limit: Option<Limiter>,
    /// The version of the terms of service, one up with every change (§7.3.3); each
    /// version has its own URL, so a client can tell the latest terms from the ones
    /// it agreed to.
    pub(crate) terms_version: std::sync::atomic::AtomicU32,
    /// The certificate profiles and which are withdrawn.
    pub(crate) profiles: super::profiles::Profiles,
}

/// A problem document response in the making; the problem is boxed so that every
/// `Result<_, Fault>` stays small.
#[derive(Debug)]
pub(crate) struct Fault {
    status: StatusCode,
    problem: Box<Problem>,
    location: Option<String>,
    /// The `Allow` header of a 405 (RFC 9110 §15.5.6).
    allow: Option<&'static str>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u32>,
    /// A `Link` header (URL, relation).
    link: Option<(String, &'static str)>,
}

fn fault(status: StatusCode, kind: &str, detail: impl Into<String>) -> Fault {
    Fault {
        status,
        problem: Box::new(Problem {
            kind: Some(format!("{ERROR_NS}{kind}")),
            detail: Some(detail.into()),
            status: Some(status.as_u16()),
            ..Problem::default()
        }),
        location: None,
        allow: None,
        retry_after: None,
        link: None,
    }
}

fn malformed(detail: impl Into<String>) -> Fault {
    fault(StatusCode::BAD_REQUEST, "malformed", detail)
}

fn unauthorized(detail: impl Into<String>) -> Fault {
    fault(StatusCode::FORBIDDEN, "unauthorized", detail)
}

fn not_found(detail: impl Into<String>) -> Fault {
    fault(StatusCode::NOT_FOUND, "malformed", detail)
}

fn server_internal(detail: impl Into<String>) -> Fault {
    fault(StatusCode::INTERNAL_SERVER_ERROR, "serverInternal", detail)
}

type Handled = Result<Reply, Fault>;

/// A successful response in the making.
pub(crate) struct Reply {
    status: StatusCode,
    body: ReplyBody,
    location: Option<String>,
    links: Vec<(String, &'static str)>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u32>,
    /// A nonce to hand out again instead of a fresh one (a defect).
    repeat_nonce: Option<String>,
}

enum ReplyBody {
    Json(Value),
    Pem(String),
    Empty,
    /// Bytes served as `application/json` whether or not they are JSON (scripted faults).
    Raw(&'static [u8]),
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Self {
        Reply { status, body: ReplyBody::Json(body), location: None, links: Vec::new(), retry_after: None, repeat_nonce: None }
    }
    fn ok(body: Value) -> Self {
        Reply::json(StatusCode::OK, body)
    }
    fn empty(status: StatusCode) -> Self {
        Reply { status, body: ReplyBody::Empty, location: None, links: Vec::new(), retry_after: None, repeat_nonce: None }
    }
    fn at(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }
    fn link(mut self, url: String, rel: &'static str) -> Self {
        self.links.push((url, rel));
        self
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0).unwrap_or(t).format(&Rfc3339).unwrap_or_default()
}

/// `len` random bytes in base64url: resource ids and challenge tokens.
fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("system RNG");
    b64::encode(bytes)
}

fn random_id() -> String {
    random_b64(ID_BYTES)
}

/// Copies the members of a request object into a response object, replacing those
/// already there only if `overwrite`: how a server ends up reflecting what it should
/// ignore (the echo defects).
fn reflect(body: &mut Value, request: &Value, overwrite: bool) {
    let (Some(body), Some(request)) = (body.as_object_mut(), request.as_object()) else { return };
    for (k, v) in request {
        if overwrite || !body.contains_key(k) {
            body.insert(k.clone(), v.clone());
        }
    }
}

/// A request whose JWS passed every §6 check.
struct Signed {
    account: Option<Account>,
    key: Jwk,
    payload: Option<Value>,
    /// The nonce the request spent.
    nonce: String,
}

/// Which key identification a resource wants (§6.2).
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyMode {
    Jwk,
    Kid,
    Either,
}

/// The refusal of a protected header whose key identification `mode` does not allow.
fn key_mode_fault(mode: KeyMode) -> Fault {
    malformed(match mode {
        KeyMode::Jwk => "this resource needs a jwk (and no kid) in the protected header",
        KeyMode::Kid => "this resource needs a kid (and no jwk) in the protected header",
        KeyMode::Either => "the protected header needs exactly one of jwk and kid",
    })
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn jws_fault(e: JwsError, defects: &DefectSet) -> Fault {
    match e {
        JwsError::UnsupportedAlgorithm(alg) => {
            let mut f = fault(StatusCode::BAD_REQUEST, "badSignatureAlgorithm", format!("alg {alg:?} is not supported"));
            if !defects.has(Defect::OmitSupportedAlgorithms) {
                let algs: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                f.problem.extra.insert("algorithms".into(), json!(algs));
            }
            f
        }
        JwsError::Jwk(e) => fault(StatusCode::BAD_REQUEST, "badPublicKey", format!("jwk refused: {e}")),
        other => malformed(other.to_string()),
    }
}

impl Wfe {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    fn has(&self, d: Defect) -> bool {
        self.defects.has(d)
    }

    pub(crate) fn directory_url(&self) -> String {
        self.url("/directory")
    }

    /// The id of a new account or order: random, or a counter under `sequential-ids`.
    fn resource_id(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        if self.has(Defect::SequentialIds) {
            return NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string();
        }
        random_id()
    }

    /// A fresh token for a challenge of type `kind`.
    fn challenge_token(&self, kind: &str) -> String {
        let token = random_b64(if self.has(Defect::ShortTokens) { SHORT_TOKEN_BYTES } else { TOKEN_BYTES });
        // http-01 puts the token in a URL path, where the VA refuses padding itself.
        if self.has(Defect::PaddedTokens) && kind != "http-01" { format!("{token}=") } else { token }
    }

    /// The subproblem of a refused newOrder identifier (§6.7.1).
    fn identifier_problem(&self, kind: &str, detail: String, id: Identifier) -> Problem {
        let mut p = Problem { kind: Some(format!("{ERROR_NS}{kind}")), detail: Some(detail), ..Problem::default() };
        if self.has(Defect::SubproblemIdentifierString) {
            p.extra.insert("identifier".into(), format!("{}:{}", id.kind, id.value).into());
        } else {
            p.identifier = Some(id);
        }
        p
    }

    fn account_url(&self, id: &str) -> String {
        self.url(&format!("/account/{id}"))
    }

    /// Answers one HTTP request. Never panics on any input.
    pub(crate) async fn handle(self: &Arc<Self>, method: Method, path_and_query: &str, headers: &HeaderMap, body: Body) -> Response {
        let path = path_and_query.split('?').next().unwrap_or("");
        let endpoint = Endpoint::of_path(path);
        let nth = self.journal.count(endpoint);
        let (result, body, fired) = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
            Ok(Ok(b)) => {
                let fired = self.faults.decide(endpoint, nth);
                if let Some(f) = fired
                    && f.kind == FaultKind::Delay
                {
                    tokio::time::sleep(std::time::Duration::from_millis(f.ms)).await;
                }
                // §6.4: the JWS url is compared with the whole request URL, query included.
                let url = self.url(path_and_query);
                let result = match scripted_answer(fired) {
                    Some(answer) => answer,
                    None => self.route(&method, path, &url, headers, &b, fired).await,
                };
                (result, b, fired)
            }
            Ok(Err(_)) => {
                let f = fault(StatusCode::PAYLOAD_TOO_LARGE, "malformed", format!("request body larger than {MAX_BODY} bytes"));
                (Err(f), Bytes::new(), None)
            }
            Err(_) => {
                let detail = format!("the request body did not arrive within {}s", BODY_TIMEOUT.as_secs());
                (Err(fault(StatusCode::REQUEST_TIMEOUT, "malformed", detail)), Bytes::new(), None)
            }
        };
        let (response, response_body) = self.render(result, path);
        self.record(method, path_and_query, endpoint, nth, headers, body, &response, response_body, fired);
        response
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        method: Method,
        path: &str,
        endpoint: Endpoint,
        nth: u32,
        headers: &HeaderMap,
        body: Bytes,
        response: &Response,
        response_body: Bytes,
        fired: Option<Fired>,
    ) {
        self.journal.push(|| {
            let [content_type, retry_after, nonce] = Exchange::response_headers(response.headers());
            Exchange {
                at: self.journal.elapsed(),
                method,
                path: path.to_owned(),
                endpoint,
                nth,
                headers: headers.clone(),
                body,
                status: response.status().as_u16(),
                content_type,
                retry_after,
                nonce,
                response_body,
                fault: fired.map(|f| format!("{:?}", f.kind)),
            }
        });
    }

    async fn route(
        self: &Arc<Self>,
        method: &Method,
        path: &str,
        url: &str,
        headers: &HeaderMap,
        body: &Bytes,
        fired: Option<Fired>,
    ) -> Handled {
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let get_ok =
            matches!(segments.as_slice(), ["directory"] | ["new-nonce"] | ["renewal-info", _] | ["rate-limits"]);
        let known = matches!(
            segments.as_slice(),
            ["directory"]
                | ["new-nonce"]
                | ["new-account"]
                | ["new-order"]
                | ["new-authz"]
                | ["revoke-cert"]
                | ["key-change"]
                | ["renewal-info", _]
                | ["account", _]
                | ["account", _, "orders", _]
                | ["order", _]
                | ["order", _, "finalize"]
                | ["authz", _]
                | ["challenge", _]
                | ["certificate", _]
                | ["certificate", _, _]
                | ["rate-limits"]
        );
        if !known {
            return Err(not_found(format!("no resource at {path}")));
        }
        let post_ok = !(get_ok && self.has(Defect::NoPostAsGetDirectory));
        match *method {
            Method::GET | Method::HEAD if get_ok => {}
            Method::POST if post_ok => {}
            _ if self.has(Defect::MethodNotAllowed404) => return Err(not_found(format!("no {method} handler for {path}"))),
            _ => {
                let allowed = match (get_ok, post_ok) {
                    (false, _) => "POST",
                    (true, true) => "GET, HEAD, POST",
                    (true, false) => "GET, HEAD",
                };
                let detail = format!("{method} is not allowed here; use {allowed}");
                let mut f = fault(StatusCode::METHOD_NOT_ALLOWED, "malformed", detail);
                f.allow = Some(allowed);
                return Err(f);
            }
        }
        match (method.clone(), segments.as_slice()) {
            (Method::GET | Method::HEAD, ["directory"]) => Ok(Reply::ok(self.directory())),
            (Method::HEAD, ["new-nonce"]) => {
                let status = if self.has(Defect::NewNonceHead204) { StatusCode::NO_CONTENT } else { StatusCode::OK };
                Ok(Reply::empty(status))
            }
            (Method::GET, ["new-nonce"]) => Ok(Reply::empty(StatusCode::NO_CONTENT)),
            (Method::GET | Method::HEAD, ["renewal-info", id]) => self.renewal_info(id, fired),
            (Method::GET | Method::HEAD, ["rate-limits"]) => Ok(Reply::ok(self.rate_limits())),
            (_, ["new-account"]) => {
                let signed = self.verify(url, headers, body, KeyMode::Jwk).await?;
                self.new_account(signed)
            }
            (_, ["revoke-cert"]) => {
                let signed = self.verify(url, headers, body, KeyMode::Either).await?;
                self.revoke(signed)
            }
            (_, rest) => {
                let signed = self.verify(url, headers, body, KeyMode::Kid).await?;
                // §7.3.3: after a change of terms only the account itself stays reachable.
                if !matches!(rest, ["account", _])
                    && signed.account.as_ref().is_some_and(|a| a.terms_outdated)
                    && !self.has(Defect::TermsChangeIgnored)
                {
                    return Err(self.terms_changed(signed.account.as_ref().map(|a| a.id.as_str()).unwrap_or_default()));
                }
                match rest {
                    ["directory"] => Ok(Reply::ok(self.directory())),
                    ["rate-limits"] => Ok(Reply::ok(self.rate_limits())),
                    ["new-nonce"] => Ok(Reply::empty(StatusCode::OK)),
                    ["new-order"] => self.new_order(signed, fired),
                    ["new-authz"] if !self.has(Defect::AdvertiseNewAuthz) => self.new_pre_authorization(signed),
                    ["key-change"] => self.key_change(signed, url),
                    ["account", id] => self.account(signed, id),
                    ["account", id, "orders", page] => self.orders_list(signed, id, page),
                    ["order", id] => self.order(signed, id),
                    ["order", id, "finalize"] => self.finalize(signed, id, fired),
                    ["authz", id] => self.authz(signed, id),
                    ["challenge", id] => self.challenge(signed, id, fired).await,
                    ["certificate", id] => self.certificate(signed, id, "0"),
                    ["certificate", id, chain] => self.certificate(signed, id, chain),
                    _ => Err(not_found(format!("no resource at {path}"))),
                }
            }
        }
    }

    fn render(&self, result: Handled, path: &str) -> (Response, Bytes) {
        let mut builder = Response::builder();
        let is_nonce = path.starts_with("/new-nonce");
        let is_error = result.is_err();
        let mut repeat_nonce = None;
        let (status, body, content_type) = match result {
            Ok(reply) => {
                repeat_nonce = reply.repeat_nonce.clone();
                if let Some(loc) = &reply.location
                    && !(reply.status == StatusCode::OK && path == "/new-account" && self.has(Defect::OmitLocationExistingAccount))
                {
                    builder = builder.header(header::LOCATION, loc);
                }
                for (url, rel) in &reply.links {
                    builder = builder.header(header::LINK, format!("<{url}>;rel=\"{rel}\""));
                }
                if let Some(secs) = reply.retry_after {
                    builder = builder.header(header::RETRY_AFTER, secs.to_string());
                }
                match reply.body {
                    ReplyBody::Json(v) => (reply.status, serde_json::to_vec_pretty(&v).unwrap_or_default(), Some("application/json")),
                    ReplyBody::Pem(p) => (reply.status, p.into_bytes(), Some("application/pem-certificate-chain")),
                    ReplyBody::Empty => (reply.status, Vec::new(), None),
                    ReplyBody::Raw(b) => (reply.status, b.to_vec(), Some("application/json")),
                }
            }
            Err(f) => {
                if let Some(loc) = &f.location {
                    builder = builder.header(header::LOCATION, loc);
                }
                if let Some(allow) = f.allow {
                    builder = builder.header(header::ALLOW, allow);
                }
                if let Some((url, rel)) = &f.link {
                    builder = builder.header(header::LINK, format!("<{url}>;rel=\"{rel}\""));
                }
                if let Some(secs) = f.retry_after {
                    builder = builder.header(header::RETRY_AFTER, secs.to_string());
                }
                let routing_error = matches!(f.status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED);
                let content_type = if routing_error && self.has(Defect::ProblemAsPlainJson) {
                    "application/json"
                } else {
                    "application/problem+json"
                };
                let mut problem = f.problem;
                if self.has(Defect::BadPublicKeyWithoutDetail) && problem.acme_name() == Some("badPublicKey") {
                    problem.detail = None;
                }
                if self.has(Defect::UnregisteredNotFoundType) && f.status == StatusCode::NOT_FOUND {
                    problem.kind = Some(format!("{ERROR_NS}notFound"));
                }
                let body = serde_json::to_vec_pretty(&problem).unwrap_or_default();
                match std::str::from_utf8(&body) {
                    Ok(text) if !text.is_ascii() && self.has(Defect::Latin1ProblemDetails) => {
                        (f.status, latin1(text), Some("application/problem+json; charset=iso-8859-1"))
                    }
                    _ => (f.status, body, Some(content_type)),
                }
            }
        };
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        if !(is_error && self.has(Defect::OmitNonceOnErrors)) {
            // A value never seen twice: marked sensitive, HTTP/2's header compression
            // sends it literally instead of churning its table with it (RFC 7541 §6.2.3).
            let value = match repeat_nonce {
                Some(spent) => self.nonces.reissue(spent),
                None => self.nonces.issue(),
            };
            let mut nonce = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
            nonce.set_sensitive(true);
            builder = builder.header("Replay-Nonce", nonce);
        }
        if path != "/directory" {
            let index = self.directory_url();
            let index = if self.has(Defect::HttpIndexLink) { index.replacen("https://", "http://", 1) } else { index };
            builder = builder.header(header::LINK, format!("<{index}>;rel=\"index\""));
        }
        if !self.has(Defect::OmitCors) {
            builder = builder.header(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        if is_nonce {
            let value = if self.has(Defect::NonceCacheable) { "public, max-age=60" } else { "no-store" };
            builder = builder.header(header::CACHE_CONTROL, value);
        }
        let body = Bytes::from(body);
        let response = builder.status(status).body(Body::from(body.clone())).unwrap_or_else(|_| Response::new(Body::empty()));
        (response, body)
    }

    /// §6.6: an order past the account's limit is refused with rateLimited, a
    /// Retry-After saying when the same request may succeed, and a `help` link to the
    /// limit's documentation.
    fn admit_new_order(&self, account_id: &str) -> Result<(), Fault> {
        let Some(limiter) = &self.new_order_limit else { return Ok(()) };
        if self.has(Defect::RateLimitNotEnforced) {
            return Ok(());
        }
        let Err(wait) = limiter.admit(account_id, std::time::Instant::now()) else { return Ok(()) };
        let limit = limiter.limit();
        let detail = format!("more than {} new orders within {}s", limit.requests, limit.window.as_secs());
        let mut f = fault(StatusCode::TOO_MANY_REQUESTS, "rateLimited", detail);
        if self.has(Defect::RateLimitDraftType) {
            f.problem.kind = Some("urn:acme:error:rateLimited".into());
        }
        if !self.has(Defect::RateLimitNoRetryAfter) {
            f.retry_after = Some(wait);
        }
        if !self.has(Defect::RateLimitNoHelpLink) {
            f.link = Some((self.url("/rate-limits"), "help"));
        }
        Err(f)
    }

    /// The documentation a rateLimited error links to: the limits in force.
    fn rate_limits(&self) -> Value {
        match &self.new_order_limit {
            Some(l) => {
                let limit = l.limit();
                json!({ "newOrder": { "per": "account", "requests": limit.requests, "windowSeconds": limit.window.as_secs() } })
            }
            None => json!({}),
        }
    }

    /// §7.3.3: the account must agree to changed terms before anything else.
    fn terms_changed(&self, account_id: &str) -> Fault {
        let mut f = fault(StatusCode::FORBIDDEN, "userActionRequired", "the terms of service have changed");
        if !self.has(Defect::TermsChangeBareProblem) {
            let version = self.terms_version.load(std::sync::atomic::Ordering::Relaxed);
            let linked = if self.has(Defect::TermsChangeStaleLink) { version.saturating_sub(1).max(1) } else { version };
            f.link = Some((self.terms_url(linked), "terms-of-service"));
            f.problem.extra.insert("instance".into(), self.url(&format!("/terms/agree?account={account_id}")).into());
        }
        f
    }

    fn terms_url(&self, version: u32) -> String {
        self.url(&format!("/terms/v{version}"))
    }

    fn current_terms_url(&self) -> String {
        self.terms_url(self.terms_version.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Publishes a new version of the terms and marks the account's agreement outdated
    /// (the management API's `/change-terms`); other accounts keep working under the
    /// terms they agreed to, so concurrent cases are not disturbed. `false` when there is
    /// no such account.
    pub(crate) fn change_terms(&self, account_url: &str) -> bool {
        let id = account_url.strip_prefix(&self.url("/account/")).unwrap_or_default();
        match self.db.account(id) {
            Some(mut account) => {
                self.terms_version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                account.terms_outdated = true;
                self.db.update_account(account);
                true
            }
            None => false,
        }
    }

    fn directory(&self) -> Value {
        let mut meta = json!({
            "termsOfService": self.current_terms_url(),
            "website": "https://github.com/acmespec",
            "caaIdentities": ["acmespec.test"],
            "externalAccountRequired": !self.config.eab_keys.is_empty() && !self.has(Defect::EabMetaNotRequired),
        });
        if self.has(Defect::TermsUrlMissing)
            && let Some(m) = meta.as_object_mut()
        {
            m.remove("termsOfService");
        }
        if let Some(profiles) = self.profiles.advertised() {
            meta["profiles"] = if self.has(Defect::ProfilesNotObject) { json!(profiles.keys().collect::<Vec<_>>()) } else { profiles.into() };
        }
        if self.has(Defect::MetaNotObject) {
            meta = json!("not an object");
        }
        let mut dir = json!({
            "newNonce": self.url("/new-nonce"),
            "newAccount": self.url("/new-account"),
            "newOrder": self.url("/new-order"),
            "revokeCert": self.url("/revoke-cert"),
            "keyChange": self.url("/key-change"),
            "newAuthz": self.url("/new-authz"),
            "renewalInfo": self.url("/renewal-info"),
            "meta": meta,
        });
        if self.has(Defect::NoRenewalInfo)
            && let Some(d) = dir.as_object_mut()
        {
            d.remove("renewalInfo");
        }
        if self.has(Defect::AdvertiseNewAuthz) {
            dir["newAuthz"] = "/new-authz".into();
        }
        dir
    }

    /// The §6 checks: media type, JWS shape, nonce, url, key identification, signature.
    async fn verify(&self, url: &str, headers: &HeaderMap, body: &Bytes, mode: KeyMode) -> Result<Signed, Fault> {
        if media_type(headers).as_deref() != Some("application/jose+json") && !self.has(Defect::AcceptAnyContentType) {
            let f = fault(StatusCode::UNSUPPORTED_MEDIA_TYPE, "malformed", "Content-Type must be application/jose+json");
            return Err(f);
        }
        let jws = self.parse_jws(body)?;
        let h = &jws.header;
        let nonce = h.nonce.as_deref().map(|n| if self.has(Defect::AcceptPaddedBase64) { n.trim_end_matches('=') } else { n });
        let spent = nonce.unwrap_or_default().to_owned();
        match nonce {
            None => {
                let kind = if self.has(Defect::MissingNonceMalformed) { "malformed" } else { "badNonce" };
                return Err(fault(StatusCode::BAD_REQUEST, kind, "the JWS has no nonce"));
            }
            Some(n) if b64::decode(n).is_err() => {
                return Err(if self.has(Defect::BadNonceEncoding500) {
                    server_internal("the nonce could not be decoded")
                } else {
                    malformed("the nonce is not base64url")
                });
            }
            Some(n) => {
                let fresh = self.nonces.redeem(n);
                if !fresh && !self.has(Defect::AcceptReusedNonce) {
                    return Err(fault(StatusCode::BAD_REQUEST, "badNonce", "the nonce was not issued here or was already used"));
                }
            }
        }
        match h.url.as_deref() {
            // Only a lenient parse leaves a url in the header that is no string.
            None if h.raw.contains_key("url") && self.has(Defect::SkipNonStringUrl) => {}
            None if !self.has(Defect::AcceptMissingUrl) => return Err(malformed("the JWS has no url")),
            Some(u) if self.has(Defect::UrlComparedAsUrl) && same_url(u, url) => {}
            Some(u) if u != url && !self.has(Defect::AcceptUrlMismatch) => {
                return Err(unauthorized(format!("the JWS url {u:?} is not the request URL {url:?}")));
            }
            _ => {}
        }
        let (key, account) = match (mode, &h.jwk, &h.kid) {
            (KeyMode::Jwk | KeyMode::Either, Some(jwk), None) => {
                // §7.3.6: a deactivated account's key authorizes nothing, newAccount included.
                if mode == KeyMode::Jwk
                    && let Some(a) = self.db.account_by_thumbprint(&jwk.thumbprint())
                {
                    self.usable(a)?;
                }
                (jwk.clone(), None)
            }
            (KeyMode::Kid | KeyMode::Either, None, Some(kid)) => {
                let named = self.account_for_kid(kid);
                // A kid that names no account, or one whose key did not sign, stands in for
                // the account the request URL names.
                let fallback = || self.account_for_kid(url).ok().filter(|_| self.has(Defect::KidFallsBackToUrlAccount));
                let account = match named {
                    Err(e) if e.problem.kind.as_deref() == Some(&format!("{ERROR_NS}accountDoesNotExist")) => fallback().ok_or(e)?,
                    Ok(a) if self.has(Defect::KidFallsBackToUrlAccount) && jws.verify(&a.key).is_err() => fallback().unwrap_or(a),
                    other => other?,
                };
                (account.key.clone(), Some(account))
            }
            (KeyMode::Kid, Some(jwk), None) if self.has(Defect::AcceptJwkForKidResources) => {
                let account = self.db.account_by_thumbprint(&jwk.thumbprint()).ok_or_else(|| key_mode_fault(mode))?;
                (jwk.clone(), Some(self.usable(account)?))
            }
            (KeyMode::Kid, None, None) if self.has(Defect::InferAccountFromUrl) => {
                let account = self.account_for_kid(url)?;
                (account.key.clone(), Some(account))
            }
            (KeyMode::Jwk, None, Some(kid)) if self.has(Defect::NewAccountAcceptsKid) => {
                let account = self.account_for_kid(kid)?;
                (account.key.clone(), Some(account))
            }
            _ => return Err(key_mode_fault(mode)),
        };
        if let Err(e) = jws.verify(&key)
            && !self.has(Defect::SkipSignatureCheck)
        {
            return Err(match e {
                JwsError::Verify(VerifyError::AlgorithmKeyMismatch { .. }) if h.jwk.is_some() => {
                    fault(StatusCode::BAD_REQUEST, "badPublicKey", e.to_string())
                }
                other => malformed(format!("JWS verification failed: {other}")),
            });
        }
        let payload = match jws.payload_json() {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) if url == self.url("/key-change") && self.has(Defect::KeyChangeAcceptsCompactInner) => {
                Some(compact_as_flattened(&jws.payload).ok_or_else(|| malformed("the payload is not JSON"))?)
            }
            Some(Err(e)) => return Err(malformed(format!("the payload is not JSON: {e}"))),
        };
        Ok(Signed { account, key, payload, nonce: spent })
    }

    fn parse_jws(&self, body: &[u8]) -> Result<ParsedJws, Fault> {
        match ParsedJws::parse(body) {
            Ok(jws) => {
                if let Some(jwk) = &jws.header.jwk
                    && let Some(why) = weak_key(jwk)
                {
                    return Err(fault(StatusCode::BAD_REQUEST, "badPublicKey", why));
                }
                Ok(jws)
            }
            Err(e) => {
                if let Some(jws) = self.lenient_parse(body, &e) {
                    return Ok(jws);
                }
                let flattened = compact_as_flattened(body).and_then(|v| serde_json::to_vec(&v).ok());
                if let Some(Ok(jws)) = flattened.filter(|_| self.has(Defect::AcceptCompactSerialization)).map(|b| ParsedJws::parse(&b)) {
                    return Ok(jws);
                }
                Err(jws_fault(e, &self.defects))
            }
        }
    }

    /// Defects that accept JWS the strict parser refuses: reparse with the offending
    /// part removed, so the rest of the pipeline still runs on a real signature.
    fn lenient_parse(&self, body: &[u8], e: &JwsError) -> Option<ParsedJws> {
        let accept = match e {
            JwsError::BadEncoding { error: b64::B64Error::Padded, .. } => self.has(Defect::AcceptPaddedBase64),
            JwsError::UnsupportedExtension(_) => self.has(Defect::AcceptUnencodedPayload),
            JwsError::UnprotectedHeader => {
                self.has(Defect::AcceptUnprotectedHeader) || self.has(Defect::MergeUnprotectedHeader)
            }
            JwsError::JwkAndKid => self.has(Defect::AcceptJwkAndKid),
            JwsError::NotFlattened => self.has(Defect::AcceptGeneralSerialization),
            JwsError::MissingMember("payload") => self.has(Defect::AcceptDetachedPayload),
            JwsError::MissingAlg => self.has(Defect::AcceptMissingAlg),
            JwsError::BadHeaderMember("url") => self.has(Defect::SkipNonStringUrl),
            _ => false,
        };
        if !accept {
            return None;
        }
        let mut v: Map<String, Value> = serde_json::from_slice(body).ok()?;
        if let Some(Value::Array(signatures)) = v.remove("signatures") {
            // The first signature stands in for the flattened form's.
            let Some(Value::Object(first)) = signatures.into_iter().next() else { return None };
            v.extend(first);
        }
        let unprotected = v.remove("header");
        if self.has(Defect::AcceptDetachedPayload) {
            // A detached payload is taken to be the empty one of a POST-as-GET.
            v.entry("payload").or_insert_with(|| "".into());
        }
        for member in ["protected", "payload", "signature"] {
            if let Some(Value::String(s)) = v.get_mut(member) {
                *s = s.trim_end_matches('=').to_owned();
            }
        }
        let protected = b64::decode(v.get("protected")?.as_str()?).ok()?;
        let mut header: Map<String, Value> = serde_json::from_slice(&protected).ok()?;
        let original_protected = v.get("protected")?.as_str()?.to_owned();
        header.remove("crit");
        header.remove("b64");
        if matches!(e, JwsError::JwkAndKid) {
            header.remove("jwk");
        }
        if let Some(Value::Object(members)) = unprotected
            && self.has(Defect::MergeUnprotectedHeader)
        {
            for (k, v) in members {
                header.entry(k).or_insert(v);
            }
        }
        if self.has(Defect::AcceptMissingAlg) {
            // The algorithm every ACME server implements stands in for a missing one.
            header.entry("alg").or_insert_with(|| Algorithm::Es256.name().into());
        }
        // A url that is no string is set aside, for the defect that then skips the url check.
        let odd_url = match header.get("url") {
            Some(u) if !u.is_string() => header.remove("url"),
            _ => None,
        };
        let reencoded = b64::encode(serde_json::to_vec(&header).ok()?);
        v.insert("protected".into(), reencoded.into());
        let mut jws = ParsedJws::parse(&serde_json::to_vec(&v).ok()?).ok()?;
        // Keep the signature input the client actually signed.
        jws.encoded.protected = original_protected;
        if let Some(u) = odd_url {
            jws.header.raw.insert("url".into(), u);
        }
        Some(jws)
    }

    fn account_for_kid(&self, kid: &str) -> Result<Account, Fault> {
        let prefix = self.url("/account/");
        let account = kid
            .strip_prefix(&prefix)
            .filter(|id| !id.contains('/'))
            .and_then(|id| self.db.account(id))
            .ok_or_else(|| fault(StatusCode::BAD_REQUEST, "accountDoesNotExist", format!("no account at {kid}")))?;
        self.usable(account)
    }

    /// The account, if it may still make requests (§7.3.6).
    fn usable(&self, account: Account) -> Result<Account, Fault> {
        if account.status != AccountStatus::Valid && !self.has(Defect::AcceptDeactivatedAccount) {
            return Err(fault(StatusCode::UNAUTHORIZED, "unauthorized", "the account is not valid"));
        }
        Ok(account)
    }

    fn account_json(&self, a: &Account) -> Value {
        let mut v = json!({
            "status": a.status,
            "contact": a.contact,
            "termsOfServiceAgreed": a.terms_of_service_agreed,
            "orders": self.url(&format!("/account/{}/orders/0", a.id)),
        });
        if let Some(eab) = &a.external_account_binding {
            v["externalAccountBinding"] = eab.clone();
        }
        v
    }

    fn validate_contacts(&self, payload: &Value) -> Result<Option<Vec<String>>, Fault> {
        let Some(contact) = payload.get("contact") else { return Ok(None) };
        let list = contact.as_array().ok_or_else(|| malformed("contact must be an array"))?;
        let refuse = |kind: &str, detail: String| {
            let kind = if self.has(Defect::ContactErrorsMalformed) { "malformed" } else { kind };
            fault(StatusCode::BAD_REQUEST, kind, detail)
        };
        let mut out = Vec::new();
        for c in list {
            let c = c.as_str().ok_or_else(|| malformed("contact entries must be strings"))?;
            let Some(address) = c.strip_prefix("mailto:").filter(|_| !self.has(Defect::MailtoUnsupported)) else {
                return Err(refuse("unsupportedContact", format!("only mailto: contacts are supported, not {c:?}")));
            };
            let single = address.split('@').count() == 2 && !address.contains(',') && !address.contains('%');
            if !single || (address.contains('?') && !self.has(Defect::AcceptMailtoHfields)) {
                return Err(refuse("invalidContact", format!("{c:?} must be one address without hfields")));
            }
            out.push(c.to_owned());
        }
        Ok(Some(out))
    }

    fn new_account(&self, s: Signed) -> Handled {
        let payload = s.payload.ok_or_else(|| malformed("newAccount needs a payload"))?;
        if !payload.is_object() {
            return Err(malformed("the payload must be an object"));
        }
        let lookup_only = payload.get("onlyReturnExisting") == Some(&Value::Bool(true));
        if let Some(existing) = self.db.account_by_thumbprint(&s.key.thumbprint())
            && (lookup_only || !self.has(Defect::DuplicateKeyAccounts))
        {
            let status = if self.has(Defect::ExistingAccount201) { StatusCode::CREATED } else { StatusCode::OK };
            return Ok(Reply::json(status, self.account_json(&existing)).at(self.account_url(&existing.id)));
        }
        if payload.get("onlyReturnExisting") == Some(&Value::Bool(true)) && !self.has(Defect::OnlyReturnExistingCreates) {
            return Err(fault(StatusCode::BAD_REQUEST, "accountDoesNotExist", "no account has this key"));
        }
        let agreed = payload.get("termsOfServiceAgreed") == Some(&Value::Bool(true));
        if self.config.terms_required && !agreed && !self.has(Defect::TermsNotEnforced) {
            return Err(malformed(format!("agree to the terms of service at {} (termsOfServiceAgreed: true)", self.current_terms_url())));
        }
        let contact = self.validate_contacts(&payload)?.unwrap_or_default();
        if contact.is_empty() && self.config.contact_required {
            return Err(fault(StatusCode::BAD_REQUEST, "invalidContact", "Contact information is missing: this CA requires a mailto: contact"));
        }
        let eab = self.check_eab(&payload, &s.key)?;
        let account = Account {
            id: self.resource_id(),
            key: s.key,
            status: AccountStatus::Valid,
            contact,
            terms_of_service_agreed: agreed,
            terms_outdated: false,
            external_account_binding: eab,
        };
        self.db.add_account(account.clone());
        let mut body = self.account_json(&account);
        if self.has(Defect::EabNotEchoed)
            && let Some(b) = body.as_object_mut()
        {
            b.remove("externalAccountBinding");
        }
        if self.has(Defect::EchoUnknownAccountFields) {
            reflect(&mut body, &payload, false);
        }
        if self.has(Defect::AccountOrdersFromClient)
            && let (Some(b), Some(orders)) = (body.as_object_mut(), payload.get("orders"))
        {
            b.insert("orders".into(), orders.clone());
        }
        Ok(Reply::json(StatusCode::CREATED, body).at(self.account_url(&account.id)))
    }

    /// External account binding (§7.3.4): required when keys are configured.
    fn check_eab(&self, payload: &Value, outer_key: &Jwk) -> Result<Option<Value>, Fault> {
        let Some(eab) = payload.get("externalAccountBinding") else {
            if self.config.eab_keys.is_empty() || self.has(Defect::EabOptional) {
                return Ok(None);
            }
            let kind = if self.has(Defect::EabMissingMalformed) { "malformed" } else { "externalAccountRequired" };
            return Err(fault(StatusCode::BAD_REQUEST, kind, "this CA requires external account binding"));
        };
        if self.config.eab_keys.is_empty() {
            return Ok(None);
        }
        if self.has(Defect::EabSkipVerification) {
            return Ok(Some(eab.clone()));
        }
        let obj = eab.as_object().ok_or_else(|| malformed("externalAccountBinding must be a JWS object"))?;
        let part = |name: &str| obj.get(name).and_then(Value::as_str).ok_or_else(|| malformed(format!("externalAccountBinding lacks {name}")));
        let (protected, inner_payload, signature) = (part("protected")?, part("payload")?, part("signature")?);
        let header_bytes = b64::decode(protected).map_err(|e| malformed(format!("externalAccountBinding protected: {e}")))?;
        let header: Value = strict_json::parse(&header_bytes).map_err(|e| malformed(format!("externalAccountBinding header: {e}")))?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let hmac_alg = match alg {
            "HS256" => ring::hmac::HMAC_SHA256,
            "HS384" => ring::hmac::HMAC_SHA384,
            "HS512" => ring::hmac::HMAC_SHA512,
            _ if self.has(Defect::EabAnyAlg) => ring::hmac::HMAC_SHA256,
            _ => return Err(malformed(format!("externalAccountBinding alg {alg:?} is not an HMAC algorithm"))),
        };
        if header.get("nonce").is_some() && !self.has(Defect::EabAcceptNonce) {
            return Err(malformed("externalAccountBinding must not carry a nonce"));
        }
        if header.get("url").and_then(Value::as_str) != Some(self.url("/new-account").as_str()) && !self.has(Defect::EabSkipUrl) {
            return Err(malformed("externalAccountBinding url must be the newAccount URL"));
        }
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
        let keys = &self.config.eab_keys;
        let (_, mac_key) = keys
            .iter()
            .find(|(k, _)| k == kid)
            .or_else(|| keys.first().filter(|_| self.has(Defect::EabAnyKid)))
            .ok_or_else(|| unauthorized(format!("unknown external account key id {kid:?}")))?;
        let key = ring::hmac::Key::new(hmac_alg, mac_key);
        let mac = b64::decode(signature).map_err(|e| malformed(format!("externalAccountBinding signature: {e}")))?;
        if ring::hmac::verify(&key, format!("{protected}.{inner_payload}").as_bytes(), &mac).is_err() && !self.has(Defect::EabSkipMac) {
            return Err(unauthorized("the external account binding MAC does not verify"));
        }
        let bound = b64::decode(inner_payload).ok().and_then(|p| strict_json::parse(&p).ok());
        let bound_key = bound.as_ref().and_then(|v| Jwk::from_value(v).ok());
        if bound_key.map(|k| k.thumbprint()) != Some(outer_key.thumbprint()) && !self.has(Defect::EabSkipKeyMatch) {
            return Err(malformed("externalAccountBinding payload is not the account key"));
        }
        Ok(Some(eab.clone()))
    }

    fn own_account(&self, s: &Signed, owner: &str) -> Result<Account, Fault> {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        if account.id != owner && !self.has(Defect::SkipOwnershipCheck) {
            return Err(unauthorized("this resource belongs to another account"));
        }
        Ok(account)
    }

    fn account(&self, s: Signed, id: &str) -> Handled {
        let mut account = self.own_account(&s, id)?;
        let prior = account.clone();
        if s.payload.is_none() && self.has(Defect::AccountRequiresPayload) {
            return Err(malformed("an account request needs a JSON object as payload"));
        }
        if let Some(payload) = &s.payload {
            if !payload.is_object() {
                return Err(malformed("the payload must be an object"));
            }
            if let Some(contact) = self.validate_contacts(payload)? {
                if contact.is_empty() && self.config.contact_required {
                    return Err(fault(StatusCode::BAD_REQUEST, "invalidContact", "this CA requires a contact on every account"));
                }
                account.contact = contact;
            }
            // §7.3.2: a status other than deactivated (§7.3.6) is ignored.
            match payload.get("status") {
                None => {}
                Some(status) if status.as_str() == Some("deactivated") => account.status = AccountStatus::Deactivated,
                Some(_) if self.has(Defect::UpdateRejectsStatus) => {
                    return Err(malformed("an account update may only set status to deactivated"));
                }
                Some(_) => {}
            }
            self.db.update_account(account.clone());
        }
        let contact_update = s.payload.as_ref().is_some_and(|p| p.get("contact").is_some());
        let answered = if contact_update && self.has(Defect::UpdateAnswersPriorAccount) { &prior } else { &account };
        let mut body = self.account_json(answered);
        if let Some(payload) = &s.payload
            && self.has(Defect::UpdateAppliesProtectedFields)
        {
            reflect(&mut body, payload, true);
        }
        Ok(Reply::ok(body).at(self.account_url(&account.id)))
    }

    fn orders_list(&self, s: Signed, id: &str, page: &str) -> Handled {
        self.own_account(&s, id)?;
        let page: usize = page.parse().map_err(|_| not_found("no such page"))?;
        let now = OffsetDateTime::now_utc();
        let urls: Vec<String> = self
            .db
            .orders_of(id)
            .iter()
            .filter(|o| self.order_status(o, now) != OrderStatus::Invalid || self.has(Defect::OrdersListIncludesInvalid))
            .map(|o| self.url(&format!("/order/{}", o.id)))
            .collect();
        let per_page = self.config.orders_per_page.max(1);
        let slice: Vec<&String> = urls.iter().skip(page * per_page).take(per_page).collect();
        let body = if self.has(Defect::OrdersListBareArray) { json!(slice) } else { json!({ "orders": slice }) };
        let mut reply = Reply::ok(body);
        if urls.len() > (page + 1) * per_page {
            reply = reply.link(self.url(&format!("/account/{id}/orders/{}", page + 1)), "next");
        }
        Ok(reply)
    }

    fn key_change(&self, s: Signed, url: &str) -> Handled {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        let payload = s.payload.ok_or_else(|| malformed("keyChange needs the inner JWS as payload"))?;
        let inner_bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let inner = ParsedJws::parse(&inner_bytes).map_err(|e| malformed(format!("inner JWS: {e}")))?;
        let body = inner.payload_json().and_then(Result::ok).ok_or_else(|| malformed("the inner payload is not JSON"))?;
        // A draft-era keyChange object carried the new key as "newKey".
        let legacy_key = || {
            body.get("newKey").filter(|_| self.has(Defect::KeyChangeNewKeyFromPayload)).and_then(|k| Jwk::from_value(k).ok())
        };
        let new_key = inner.header.jwk.clone().or_else(legacy_key).ok_or_else(|| malformed("the inner JWS needs a jwk"))?;
        if inner.header.kid.is_some() || inner.header.nonce.is_some() {
            return Err(malformed("the inner JWS must carry neither kid nor nonce"));
        }
        if !self.has(Defect::KeyChangeSkipInnerSignature) {
            inner.verify(&new_key).map_err(|e| malformed(format!("inner JWS signature: {e}")))?;
        }
        if inner.header.url.as_deref() != Some(url) && !self.has(Defect::KeyChangeSkipInnerUrl) {
            return Err(malformed("the inner JWS url differs from the outer one"));
        }
        let claimed = body.get("account").and_then(Value::as_str).unwrap_or("");
        if claimed != self.account_url(&account.id) && !self.has(Defect::KeyChangeSkipAccountCheck) {
            return Err(unauthorized("the inner payload names another account"));
        }
        let old_key = body.get("oldKey").map(Jwk::from_value).transpose().map_err(|e| malformed(format!("oldKey: {e}")))?;
        let old_key_optional = old_key.is_none() && self.has(Defect::KeyChangeOldKeyOptional);
        if old_key.map(|k| k.thumbprint()) != Some(account.key.thumbprint())
            && !self.has(Defect::KeyChangeSkipOldKey)
            && !old_key_optional
        {
            return Err(unauthorized("oldKey is not the account's current key"));
        }
        if let Some(holder) = self.db.account_by_thumbprint(&new_key.thumbprint())
            && !(holder.id == account.id && self.has(Defect::KeyChangeSameKeyAccepted))
        {
            let mut f = fault(StatusCode::CONFLICT, "malformed", "the new key is already in use by an account");
            f.location = Some(self.account_url(&holder.id));
            return Err(f);
        }
        let mut updated = account;
        updated.key = new_key;
        if self.has(Defect::KeyChangeResetsAccount) {
            updated.contact.clear();
            updated.terms_of_service_agreed = false;
        }
        self.db.update_account(updated.clone());
        if self.has(Defect::KeyChangeInvalidatesAuthzs) {
            for authz in self.db.authzs_of_account(&updated.id) {
                self.db.modify_authz(&authz.id, |a| {
                    if a.status == AuthzStatus::Pending {
                        a.status = AuthzStatus::Deactivated;
                    }
                });
            }
        }
        Ok(Reply::ok(self.account_json(&updated)).at(self.account_url(&updated.id)))
    }

    fn new_order(&self, s: Signed, fired: Option<Fired>) -> Handled {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        let payload = s.payload.ok_or_else(|| malformed("newOrder needs a payload"))?;
        let raw = payload.get("identifiers").and_then(Value::as_array).ok_or_else(|| malformed("identifiers must be an array"))?;
        if raw.is_empty() {
            return Err(malformed("identifiers must not be empty"));
        }
        let mut identifiers: Vec<Identifier> = Vec::new();
        let mut problems: Vec<Problem> = Vec::new();
        for v in raw {
            let id: Identifier = match serde_json::from_value(v.clone()) {
                Ok(i) => i,
                Err(e) => return Err(malformed(format!("identifier {v}: {e}"))),
            };
            match check_identifier(&id, &self.defects) {
                Ok(id) => {
                    if !identifiers.contains(&id) {
                        identifiers.push(id);
                    }
                }
                Err((kind, why)) => problems.push(self.identifier_problem(kind, why, id)),
            }
        }
        if !problems.is_empty() {
            let kind = if problems.len() == 1 { problems[0].acme_name().unwrap_or("rejectedIdentifier").to_owned() } else { "rejectedIdentifier".to_owned() };
            let mut f = fault(StatusCode::BAD_REQUEST, &kind, format!("{} identifier(s) refused", problems.len()));
            if self.has(Defect::ProblemIdentifierTopLevel) {
                f.problem.identifier = problems[0].identifier.clone();
            }
            f.problem.subproblems = problems;
            return Err(f);
        }
        let time_field = |name: &str| -> Result<Option<OffsetDateTime>, Fault> {
            payload
                .get(name)
                .map(|v| {
                    v.as_str()
                        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                        .ok_or_else(|| malformed(format!("{name} must be an RFC 3339 timestamp")))
                })
                .transpose()
        };
        let (not_before, not_after) = (time_field("notBefore")?, time_field("notAfter")?);
        let profile = self.order_profile(payload.get("profile"), &identifiers)?;
        let replaces = payload
            .get("replaces")
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| malformed("replaces must be a string")))
            .transpose()?;
        if let Some(cert_id) = &replaces {
            self.check_replaces(&account.id, &identifiers, cert_id)?;
        }
        if let (Some(nb), Some(na)) = (not_before, not_after)
            && na <= nb
        {
            return Err(malformed("notAfter must be later than notBefore"));
        }
        let now = OffsetDateTime::now_utc();
        let expires = now + PENDING_LIFETIME;
        let reuse = fired.is_some_and(|f| f.kind == FaultKind::ReuseAuthz);
        let mut authorization_ids = Vec::new();
        let mut authzs: Vec<Authorization> = Vec::new();
        for id in &identifiers {
            let reusable = self.valid_authz_for(&account.id, id, now).filter(|a| reuse || a.pre_authorization);
            match reusable {
                Some(valid) if self.has(Defect::ReusedAuthzNotListed) => {
                    let copy = self.copy_authz(&valid);
                    authorization_ids.push(copy.id.clone());
                    authzs.push(copy);
                }
                Some(valid) => authorization_ids.push(valid.id),
                None => {
                    let fresh = self.new_authz(&account.id, id, expires);
                    authorization_ids.push(fresh.id.clone());
                    authzs.push(fresh);
                }
            }
        }
        let order = Order {
            id: self.resource_id(),
            account_id: account.id,
            identifiers,
            authorization_ids,
            not_before,
            not_after,
            expires,
            finalization: Finalization::NotRequested,
            replaces,
            profile,
        };
        self.admit_new_order(&order.account_id)?;
        self.db.add_order(order.clone(), authzs);
        let mut reply = Reply::json(StatusCode::CREATED, self.order_json(&order)).at(self.url(&format!("/order/{}", order.id)));
        if self.has(Defect::NonceRepeatedOnNewOrder) {
            reply.repeat_nonce = Some(s.nonce.clone());
        }
        Ok(reply)
    }

    /// The profile a new order issues under (draft-ietf-acme-profiles §4): the one it
    /// names, or the default. A CA without profiles ignores the field, as an RFC 8555
    /// server does any member it does not know.
    fn order_profile(&self, named: Option<&Value>, identifiers: &[Identifier]) -> Result<Option<String>, Fault> {
        if self.profiles.advertised().is_none() {
            return Ok(None);
        }
        let has_ip = identifiers.iter().any(|i| i.kind == "ip");
        let Some(named) = named else {
            let default = self.profiles.default_for(has_ip).filter(|_| !self.has(Defect::NoDefaultProfile));
            return Ok(default.map(|p| p.name.clone()));
        };
        let name = named.as_str().ok_or_else(|| malformed("profile must be a string"))?;
        let refused = |why: String| Err(fault(StatusCode::BAD_REQUEST, "invalidProfile", why));
        match self.profiles.select(name, has_ip) {
            Ok(p) => Ok(Some(p.name.clone())),
            Err(Refusal::NotAdvertised) if self.has(Defect::UnadvertisedProfileAccepted) => Ok(Some(name.to_owned())),
            Err(Refusal::NotAdvertised) if self.has(Defect::UnadvertisedProfileMalformed) => Err(malformed(format!("unknown profile {name:?}"))),
            Err(Refusal::NotAdvertised) => refused(format!("profile {name:?} is not one this CA advertises")),
            Err(Refusal::Incompatible(_)) if self.has(Defect::IncompatibleProfileAccepted) => Ok(Some(name.to_owned())),
            Err(Refusal::Incompatible(why)) => refused(why),
        }
    }

    /// A still-valid authorization of the account for the order identifier `id`, for the
    /// `reuse-authz` fault.
    fn valid_authz_for(&self, account_id: &str, id: &Identifier, now: OffsetDateTime) -> Option<Authorization> {
        let wildcard = id.kind == "dns" && id.value.starts_with("*.");
        let base = Identifier { kind: id.kind.clone(), value: id.value.trim_start_matches("*.").to_owned() };
        self.db
            .authzs_for(account_id, &base)
            .into_iter()
            .find(|a| a.status_at(now) == AuthzStatus::Valid && a.wildcard == wildcard)
    }

    /// The same authorization under new URLs, for the `reused-authz-not-listed` defect.
    fn copy_authz(&self, a: &Authorization) -> Authorization {
        let mut copy = a.clone();
        copy.id = random_id();
        copy.pre_authorization = false;
        for c in &mut copy.challenges {
            c.id = random_id();
        }
        copy
    }

    /// newAuthz (§7.4.1): refuse what the CA would not issue for (403), else a new
    /// pending authorization.
    fn new_pre_authorization(&self, s: Signed) -> Handled {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        let payload = s.payload.ok_or_else(|| malformed("newAuthz needs a payload"))?;
        let raw = payload.get("identifier").ok_or_else(|| malformed("newAuthz needs an identifier"))?;
        let id: Identifier = serde_json::from_value(raw.clone()).map_err(|e| malformed(format!("identifier {raw}: {e}")))?;
        let id = if self.has(Defect::NewAuthzAcceptsAnything) {
            id
        } else {
            if id.kind == "dns" && id.value.starts_with("*.") {
                return Err(fault(StatusCode::FORBIDDEN, "rejectedIdentifier", "pre-authorization cannot cover a wildcard name"));
            }
            let status = if self.has(Defect::NewAuthzRefusal400) { StatusCode::BAD_REQUEST } else { StatusCode::FORBIDDEN };
            check_identifier(&id, &self.defects).map_err(|(kind, why)| fault(status, kind, why))?
        };
        let mut authz = self.new_authz(&account.id, &id, OffsetDateTime::now_utc() + PENDING_LIFETIME);
        authz.pre_authorization = true;
        if self.has(Defect::NewAuthzValid) {
            authz.status = AuthzStatus::Valid;
        }
        self.db.add_authz(authz.clone());
        Ok(Reply::json(StatusCode::CREATED, self.authz_json(&authz)).at(self.url(&format!("/authz/{}", authz.id))))
    }

    fn new_authz(&self, account_id: &str, id: &Identifier, expires: OffsetDateTime) -> Authorization {
        let wildcard = id.kind == "dns" && id.value.starts_with("*.");
        let mut identifier = Identifier { kind: id.kind.clone(), value: id.value.trim_start_matches("*.").to_owned() };
        if let Ok(IpAddr::V6(v6)) = identifier.value.parse::<IpAddr>()
            && self.has(Defect::IpAuthzExpanded)
        {
            identifier.value = v6.segments().iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":");
        }
        let kinds: &[&str] = match (id.kind.as_str(), wildcard) {
            (_, true) => &["dns-01"],
            ("ip", _) if self.has(Defect::OfferDns01ForIp) => &["http-01", "dns-01", "tls-alpn-01"],
            ("ip", _) => &["http-01", "tls-alpn-01"],
            _ => &["http-01", "dns-01", "tls-alpn-01"],
        };
        let shared_token = self.has(Defect::TokenPerAuthorization).then(|| self.challenge_token("http-01"));
        let challenges = kinds
            .iter()
            .map(|k| Challenge {
                id: random_id(),
                kind: (*k).to_owned(),
                token: shared_token.clone().unwrap_or_else(|| self.challenge_token(k)),
                status: ChallengeStatus::Pending,
                validated: None,
                error: None,
            })
            .collect();
        Authorization {
            id: random_id(),
            account_id: account_id.to_owned(),
            identifier: if self.has(Defect::WildcardAuthzKeepsPrefix) { id.clone() } else { identifier },
            wildcard,
            status: AuthzStatus::Pending,
            expires,
            challenges,
            pre_authorization: false,
        }
    }

    fn order_status(&self, o: &Order, now: OffsetDateTime) -> OrderStatus {
        let deactivated_counts = self.has(Defect::DeactivatedAuthzCounts);
        let authz: Vec<AuthzStatus> = self
            .db
            .authzs(&o.authorization_ids)
            .iter()
            .map(|a| match a.status_at(now) {
                AuthzStatus::Deactivated if deactivated_counts => AuthzStatus::Valid,
                status => status,
            })
            .collect();
        o.status(&authz, now)
    }

    fn order_json(&self, o: &Order) -> Value {
        let now = OffsetDateTime::now_utc();
        let status = self.order_status(o, now);
        let mut v = json!({
            "status": status.name(),
            "identifiers": o.identifiers,
            "authorizations": self.order_authz_urls(o, now),
            "finalize": self.url(&format!("/order/{}/finalize", o.id)),
        });
        if !(status == OrderStatus::Pending && self.has(Defect::OrderWithoutExpires)) {
            v["expires"] = rfc3339(o.expires).into();
        }
        if let Some(nb) = o.not_before {
            v["notBefore"] = rfc3339(nb).into();
        }
        if let Some(na) = o.not_after {
            v["notAfter"] = rfc3339(na).into();
        }
        if let Some(r) = &o.replaces
            && !self.has(Defect::ReplacesNotEchoed)
        {
            v["replaces"] = r.clone().into();
        }
        if let Some(p) = &o.profile {
            v["profile"] = p.clone().into();
        }
        if let Finalization::Issued { certificate_id } = &o.finalization { v["certificate"] = self.url(&format!("/certificate/{certificate_id}")).into() }
        v
    }

    fn order_authz_urls(&self, o: &Order, now: OffsetDateTime) -> Vec<String> {
        let moved = self.has(Defect::AuthzUrlChangesWhenValid);
        self.db
            .authzs(&o.authorization_ids)
            .iter()
            .map(|a| match a.status_at(now) {
                AuthzStatus::Valid if moved => self.url(&format!("/authz/{}?final", a.id)),
                _ => self.url(&format!("/authz/{}", a.id)),
            })
            .collect()
    }

    fn order(&self, s: Signed, id: &str) -> Handled {
        let mut order = self.db.order(id).ok_or_else(|| not_found("no such order"))?;
        self.own_account(&s, &order.account_id)?;
        if s.payload.is_some() {
            return Err(malformed("fetch an order with POST-as-GET (an empty payload)"));
        }
        // A scripted slow issuance: this fetch still shows `processing`, and each one
        // uses up a poll until the order is valid.
        if matches!(order.finalization, Finalization::Processing { .. }) {
            let mut reply = Reply::ok(self.order_json(&order));
            reply.retry_after = Some(RETRY_AFTER_SECS);
            order.poll();
            self.db.update_order(order);
            return Ok(reply);
        }
        Ok(Reply::ok(self.order_json(&order)))
    }

    fn finalize(&self, s: Signed, id: &str, fired: Option<Fired>) -> Handled {
        let mut order = self.db.order(id).ok_or_else(|| not_found("no such order"))?;
        let account = self.own_account(&s, &order.account_id)?;
        let now = OffsetDateTime::now_utc();
        let status = self.order_status(&order, now);
        let finalizable = status == OrderStatus::Ready
            || (status == OrderStatus::Pending && self.has(Defect::FinalizePendingOrder))
            || (status == OrderStatus::Valid && self.has(Defect::RefinalizeValidOrder));
        if !finalizable {
            return Err(fault(StatusCode::FORBIDDEN, "orderNotReady", format!("the order is {}, not ready", status.name())));
        }
        let profile = order.profile.as_deref().and_then(|p| self.profiles.get(p));
        if let Some(p) = profile
            && !self.profiles.issues_under(&p.name)
            && !self.has(Defect::FinalizeWithdrawnProfile)
        {
            let why = format!("the CA no longer issues under profile {}", p.name);
            return Err(fault(StatusCode::BAD_REQUEST, "invalidProfile", why));
        }
        let shape = profile.map_or(CLASSIC, |p| p.shape);
        let payload = s.payload.ok_or_else(|| malformed("finalize needs a payload with a csr"))?;
        let csr_text = payload.get("csr").and_then(Value::as_str).ok_or_else(|| malformed("the payload needs a csr string"))?;
        let bad_csr = |why: String| fault(StatusCode::BAD_REQUEST, "badCSR", why);
        let unusable_csr = |why: String| if self.has(Defect::CsrErrorMalformed) { malformed(why) } else { bad_csr(why) };
        let der = b64::decode(csr_text).map_err(|e| unusable_csr(format!("csr: {e}")))?;
        let csr = parse_csr(&der).map_err(|e| unusable_csr(format!("csr: {e}")))?;
        let mut requested: Vec<Identifier> = csr.dns_names.iter().map(|n| Identifier::dns(n.clone())).collect();
        requested.extend(csr.ip_addrs.iter().map(|ip| Identifier::ip(ip.to_string())));
        if let Some(cn) = csr.common_name.as_ref().filter(|_| !self.has(Defect::CsrIgnoresCommonName)) {
            let cn_id = match cn.parse::<IpAddr>() {
                Ok(ip) => Identifier::ip(ip.to_string()),
                Err(_) => Identifier::dns(cn.to_ascii_lowercase()),
            };
            if !requested.contains(&cn_id) {
                requested.push(cn_id);
            }
        }
        let mut want: Vec<Identifier> = order.identifiers.clone();
        want.sort_by(|a, b| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)));
        requested.sort_by(|a, b| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)));
        requested.dedup();
        let within = |a: &[Identifier], b: &[Identifier]| a.iter().all(|i| b.contains(i));
        let names_ok = requested == want
            || (self.has(Defect::IssueExtraNames) && within(&want, &requested))
            || (self.has(Defect::IssueMissingNames) && within(&requested, &want));
        if !names_ok {
            return Err(bad_csr("the CSR's names differ from the order's identifiers".into()));
        }
        if csr.public_key.thumbprint() == account.key.thumbprint() && !self.has(Defect::AcceptAccountKeyInCsr) {
            return Err(bad_csr("the CSR key is the account key".into()));
        }
        if self.db.account_by_thumbprint(&csr.public_key.thumbprint()).is_some()
            && !self.has(Defect::AcceptAccountKeyInCsr)
            && !self.has(Defect::AcceptOtherAccountKeyInCsr)
        {
            return Err(bad_csr("the CSR key is an account key".into()));
        }
        let leaf_omits_wildcard = self.has(Defect::LeafOmitsWildcard);
        let dns_name = |value: &str| if leaf_omits_wildcard { value.trim_start_matches("*.") } else { value }.to_owned();
        let mut names = IssuanceNames {
            dns: requested.iter().filter(|i| i.kind == "dns").map(|i| dns_name(&i.value)).collect(),
            ips: requested.iter().filter(|i| i.kind == "ip").filter_map(|i| i.value.parse().ok()).collect(),
        };
        if let Some(cn) = csr.common_name.as_ref().map(|cn| cn.to_ascii_lowercase()) {
            // A commercial CA's "free www": the commonName's www. name, which nobody ordered.
            if self.has(Defect::LeafWwwBonus) {
                names.dns.push(format!("www.{cn}"));
            }
            // The commonName left out of the names check still goes into the certificate.
            if self.has(Defect::CsrIgnoresCommonName) && cn.parse::<IpAddr>().is_err() && !names.dns.contains(&cn) {
                names.dns.insert(0, cn);
            }
        }
        let not_before = order.not_before.unwrap_or(now);
        let not_after = order.not_after.unwrap_or(not_before + shape.lifetime);
        let issued = self
            .ca
            .issue(&csr, &names, (not_before, not_after), shape.common_name)
            .map_err(|e| server_internal(format!("issuance failed: {e}")))?;
        let cert = Certificate {
            id: random_id(),
            account_id: account.id.clone(),
            issued,
            identifiers: requested,
            revoked: None,
        };
        order.finalization = match fired {
            Some(f) if f.kind == FaultKind::StayProcessing && f.polls > 0 => {
                Finalization::Processing { certificate_id: cert.id.clone(), polls_left: f.polls }
            }
            _ => Finalization::Issued { certificate_id: cert.id.clone() },
        };
        self.db.add_certificate(cert);
        self.db.update_order(order.clone());
        let mut body = self.order_json(&order);
        if self.has(Defect::FinalizePartialOrder) {
            body = json!({ "status": body["status"] });
        }
        Ok(Reply::ok(body).at(self.url(&format!("/order/{}", order.id))))
    }

    fn challenge_json(&self, c: &Challenge) -> Value {
        let mut v = json!({
            "type": c.kind,
            "url": self.url(&format!("/challenge/{}", c.id)),
            "status": c.status,
            "token": c.token,
        });
        if let Some(t) = c.validated.filter(|_| !self.has(Defect::ChallengeWithoutValidated)) {
            v["validated"] = rfc3339(t).into();
        }
        if let Some(e) = &c.error {
            v["error"] = serde_json::to_value(e).unwrap_or_default();
            if self.has(Defect::ChallengeErrorUnregisteredType) {
                v["error"]["type"] = format!("{ERROR_NS}validationFailed").into();
            }
        }
        v
    }

    fn authz_json(&self, a: &Authorization) -> Value {
        let now = OffsetDateTime::now_utc();
        let mut v = json!({
            "identifier": a.identifier,
            "status": a.status_at(now),
            "expires": rfc3339(a.expires),
            "challenges": a
                .challenges
                .iter()
                .filter(|c| !(c.status == ChallengeStatus::Invalid && self.has(Defect::DropInvalidChallenges)))
                .map(|c| self.challenge_json(c))
                .collect::<Vec<_>>(),
        });
        if a.wildcard || self.has(Defect::AuthzWildcardFalse) {
            v["wildcard"] = a.wildcard.into();
        }
        v
    }

    fn authz(&self, s: Signed, id: &str) -> Handled {
        let authz = self.db.authz(id).ok_or_else(|| not_found("no such authorization"))?;
        self.own_account(&s, &authz.account_id)?;
        let Some(payload) = &s.payload else {
            let mut reply = Reply::ok(self.authz_json(&authz));
            reply.retry_after = (authz.status == AuthzStatus::Pending).then_some(RETRY_AFTER_SECS);
            return Ok(reply);
        };
        if payload.get("status").and_then(Value::as_str) != Some("deactivated") {
            return Err(malformed("an authorization update may only set status to deactivated"));
        }
        let now = OffsetDateTime::now_utc();
        let updated = self
            .db
            .modify_authz(id, |a| {
                a.deactivate(now);
            })
            .ok_or_else(|| not_found("no such authorization"))?;
        if updated.status != AuthzStatus::Deactivated {
            return Err(malformed("only pending or valid authorizations can be deactivated"));
        }
        Ok(Reply::ok(self.authz_json(&updated)))
    }

    async fn challenge(self: &Arc<Self>, s: Signed, id: &str, fired: Option<Fired>) -> Handled {
        let authz = self.db.authz_of_challenge(id).ok_or_else(|| not_found("no such challenge"))?;
        let account = self.own_account(&s, &authz.account_id)?;
        let up = self.url(&format!("/authz/{}", authz.id));
        let find = |a: &Authorization| a.challenges.iter().find(|c| c.id == id).cloned();
        let mut chall = find(&authz).ok_or_else(|| not_found("no such challenge"))?;
        if let Some(payload) = &s.payload {
            let fields = match payload.as_object() {
                Some(fields) => fields.clone(),
                None if self.has(Defect::ChallengeAcceptsAnyPayload) => Map::new(),
                None => return Err(malformed("a challenge response must be a JSON object")),
            };
            // §7.5.1: fields the challenge type does not define are to be ignored.
            if !fields.is_empty() && self.has(Defect::RejectUnknownChallengeFields) {
                return Err(malformed(format!("{} challenge responses take no fields", chall.kind)));
            }
        }
        // A POST-as-GET (no payload) only fetches the challenge (§7.5.1, §6.3).
        let responded = s.payload.is_some() || self.has(Defect::ChallengeFetchResponds);
        let now = OffsetDateTime::now_utc();
        if responded && chall.status == ChallengeStatus::Pending && authz.status_at(now) == AuthzStatus::Pending {
            let updated = self.db.modify_authz(&authz.id, |a| {
                a.respond(id, now);
            });
            chall = updated.as_ref().and_then(find).unwrap_or(chall);
            let wfe = Arc::clone(self);
            let (authz_id, challenge_id) = (authz.id.clone(), chall.id.clone());
            let scripted_failure = fired.is_some_and(|f| f.kind == FaultKind::ChallengeInvalid);
            if scripted_failure || self.config.always_valid || self.has(Defect::VaAlwaysValid) {
                let progress =
                    if scripted_failure { Progress::Invalid(scripted_validation_problem(&authz.identifier)) } else { Progress::Valid };
                wfe.complete_validation(&authz_id, &challenge_id, progress);
                chall = self.db.authz(&authz_id).as_ref().and_then(find).unwrap_or(chall);
            } else {
                let digest_of_token = match chall.kind.as_str() {
                    "dns-01" => self.has(Defect::Dns01DigestOfToken),
                    "tls-alpn-01" => self.has(Defect::TlsAlpn01DigestOfToken),
                    _ => false,
                };
                // What the VA looks for: the digest defects hand it the bare token.
                let expected =
                    if digest_of_token { chall.token.clone() } else { key_authorization(&chall.token, &account.key) };
                let request = ValidationRequest {
                    identifier: authz.identifier.clone(),
                    challenge_type: chall.kind.clone(),
                    token: chall.token.clone(),
                    key_authorization: expected,
                };
                let slow = fired.filter(|f| f.kind == FaultKind::SlowValidation).map(|f| f.ms);
                let (mut queries, work) = self.va.validation_task(id, request, move |progress| {
                    wfe.complete_validation(&authz_id, &challenge_id, progress)
                });
                tokio::spawn(async move {
                    if let Some(ms) = slow {
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    }
                    work.await;
                });
                // A validation against a local responder takes milliseconds: waiting
                // briefly for the first query spares the client a Retry-After round; a
                // slow one goes on in the background and the client polls (§7.5.1).
                if slow.is_none() {
                    let _ = tokio::time::timeout(VALIDATION_GRACE, queries.changed()).await;
                }
                chall = self.db.authz(&authz.id).as_ref().and_then(find).unwrap_or(chall);
            }
        } else if s.payload.is_some() && chall.status == ChallengeStatus::Processing {
            // §8.2: a new POST asks for a retry, which the VA makes at once unless rate-limited.
            if let Some(mut queries) = self.va.retry_now(id) {
                let _ = tokio::time::timeout(VALIDATION_GRACE, queries.changed()).await;
                chall = self.db.authz(&authz.id).as_ref().and_then(find).unwrap_or(chall);
            }
        }
        let mut body = self.challenge_json(&chall);
        if s.payload.is_none() && self.has(Defect::ChallengeReadWithoutUrl) {
            body.as_object_mut().map(|o| o.remove("url"));
        }
        let mut reply = Reply::ok(body).link(up, "up");
        if chall.status == ChallengeStatus::Processing {
            reply.retry_after = self.va.retry_after(id, RETRY_AFTER_SECS);
        }
        Ok(reply)
    }

    /// Records a validation query's outcome; `false` once the challenge is no longer
    /// processing (its authorization was deactivated or expired meanwhile).
    fn complete_validation(&self, authz_id: &str, challenge_id: &str, progress: Progress) -> bool {
        let now = OffsetDateTime::now_utc();
        let with_error = !self.has(Defect::ChallengeErrorOmitted);
        let mut processing = false;
        self.db.modify_authz(authz_id, |a| processing = a.record(challenge_id, progress, with_error, now));
        processing
    }

    fn certificate(&self, s: Signed, id: &str, chain: &str) -> Handled {
        let cert = self.db.certificate(id).ok_or_else(|| not_found("no such certificate"))?;
        self.own_account(&s, &cert.account_id)?;
        let index: usize = chain.parse().map_err(|_| not_found("no such chain"))?;
        let mut pem = self.ca.chain_pem(&cert.issued, index).ok_or_else(|| not_found("no such chain"))?;
        if index > 0
            && self.has(Defect::AlternateChainWithoutLeaf)
            && let Some(end) = pem.find("-----END CERTIFICATE-----")
        {
            pem.replace_range(..end + "-----END CERTIFICATE-----".len(), "");
            pem = pem.trim_start().to_owned();
        }
        if self.has(Defect::PemChainWithText) {
            pem.insert_str(0, &format!("Certificate {id}, chain {index}, issued by the acmespec mock CA\n"));
        }
        let mut reply = Reply { body: ReplyBody::Pem(pem), ..Reply::empty(StatusCode::OK) };
        if !self.has(Defect::NoAlternateLinks) {
            for other in (0..self.ca.chain_count()).filter(|c| *c != index) {
                let url = if other == 0 { self.url(&format!("/certificate/{id}")) } else { self.url(&format!("/certificate/{id}/{other}")) };
                reply = reply.link(url, "alternate");
            }
        }
        Ok(reply)
    }

    fn revoke(&self, s: Signed) -> Handled {
        let payload = s.payload.ok_or_else(|| malformed("revokeCert needs a payload"))?;
        let text = payload.get("certificate").and_then(Value::as_str).ok_or_else(|| malformed("the payload needs a certificate"))?;
        let der = b64::decode(text).map_err(|e| malformed(format!("certificate: {e}")))?;
        let cert = self.db.certificate_by_der(&der).ok_or_else(|| not_found("this CA did not issue that certificate"))?;
        let reason = match payload.get("reason") {
            None => 0,
            Some(v) => {
                let r = v.as_u64().filter(|r| *r <= u8::MAX as u64).ok_or_else(|| malformed("reason must be a small integer"))? as u8;
                if !ALLOWED_REASONS.contains(&r) && !self.has(Defect::AcceptAnyRevocationReason) {
                    return Err(fault(StatusCode::BAD_REQUEST, "badRevocationReason", format!("reason {r} is not accepted; use one of {ALLOWED_REASONS:?}")));
                }
                r
            }
        };
        // §7.6: the certificate's own key, the issuing account, and any account holding
        // authorizations for every name of the certificate may revoke it.
        let allowed = match &s.account {
            None => !self.has(Defect::RevokeRefusesCertificateKey) && s.key.thumbprint() == cert.issued.public_key.thumbprint(),
            Some(_) if self.has(Defect::RevokeRefusesAccount) => false,
            Some(account) if account.id == cert.account_id => true,
            Some(account) => !self.has(Defect::RevokeOnlyByIssuer) && self.holds_authorizations(&account.id, &cert.identifiers),
        };
        if !allowed && !self.has(Defect::SkipOwnershipCheck) {
            return Err(unauthorized("the requester may not revoke this certificate"));
        }
        if !self.db.revoke(&cert.id, reason) {
            return Err(fault(StatusCode::BAD_REQUEST, "alreadyRevoked", "the certificate is already revoked"));
        }
        Ok(Reply::empty(StatusCode::OK))
    }

    /// Whether the account holds valid authorizations for every identifier (§7.6).
    fn holds_authorizations(&self, account_id: &str, identifiers: &[Identifier]) -> bool {
        let now = OffsetDateTime::now_utc();
        identifiers.iter().all(|id| {
            let base = Identifier { kind: id.kind.clone(), value: id.value.trim_start_matches("*.").to_owned() };
            self.db.authzs_for(account_id, &base).iter().any(|a| a.status_at(now) == AuthzStatus::Valid)
        })
    }

    /// RFC 9773 §4.1: the id is base64url(AKI keyIdentifier) "." base64url(serial), and
    /// names a certificate only when both halves match one this CA issued. An id of the
    /// wrong form is refused; `None` means no such certificate.
    fn certificate_by_cert_id(&self, id: &str) -> Result<Option<Certificate>, Fault> {
        let bad_id = || malformed("a certificate identifier must be <AKI keyIdentifier>.<serial>, both non-empty base64url");
        let (aki, serial) = id.split_once('.').ok_or_else(bad_id)?;
        let aki = b64::decode(aki).ok().filter(|a| !a.is_empty()).ok_or_else(bad_id)?;
        let serial = b64::decode(serial).ok().filter(|s| !s.is_empty()).ok_or_else(bad_id)?;
        let serial_hex: String = serial.iter().skip_while(|b| **b == 0).map(|b| format!("{b:02x}")).collect();
        Ok(self
            .db
            .certificate_by_serial(&format!("{serial_hex:0>32}"))
            .filter(|c| authority_key_id(&c.issued.der).as_deref() == Some(aki.as_slice())))
    }

    /// RFC 9773 §5: the replaced certificate belongs to the ordering account, shares an
    /// identifier with the order, and no live order replaces it yet.
    fn check_replaces(&self, account_id: &str, identifiers: &[Identifier], cert_id: &str) -> Result<(), Fault> {
        let cert = self
            .certificate_by_cert_id(cert_id)?
            .ok_or_else(|| malformed("replaces names no certificate this CA issued"))?;
        if cert.account_id != account_id && !self.has(Defect::ReplacesAnyAccount) {
            return Err(unauthorized("the replaced certificate belongs to another account"));
        }
        if !cert.identifiers.iter().any(|i| identifiers.contains(i)) && !self.has(Defect::ReplacesAnyIdentifiers) {
            return Err(malformed("the order shares no identifier with the certificate it replaces"));
        }
        let now = OffsetDateTime::now_utc();
        let replaced = self
            .db
            .orders_of(account_id)
            .iter()
            .any(|o| o.replaces.as_deref() == Some(cert_id) && self.order_status(o, now) != OrderStatus::Invalid);
        if replaced && !self.has(Defect::ReplacesTwice) {
            let detail = "the certificate is already replaced by another order";
            return Err(if self.has(Defect::AlreadyReplaced400) {
                malformed(detail)
            } else {
                fault(StatusCode::CONFLICT, "alreadyReplaced", detail)
            });
        }
        Ok(())
    }

    fn renewal_info(&self, id: &str, fired: Option<Fired>) -> Handled {
        let cert = self
            .certificate_by_cert_id(id)?
            .ok_or_else(|| not_found("this CA issued no certificate with that AKI and serial"))?;
        let lifetime = cert.issued.not_after - cert.issued.not_before;
        let (start, end) = if fired.is_some_and(|f| f.kind == FaultKind::RenewalWindowPassed) {
            let now = OffsetDateTime::now_utc();
            (now - Duration::hours(2), now - Duration::hours(1))
        } else {
            let start = cert.issued.not_before + lifetime * 2 / 3;
            (start, start + lifetime / 9)
        };
        let (start, end) = if self.has(Defect::RenewalWindowInverted) { (end, start) } else { (start, end) };
        let mut reply = Reply::ok(json!({ "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) } }));
        reply.retry_after = Some(RENEWAL_INFO_RETRY_AFTER_SECS);
        Ok(reply)
    }
}

/// Text in ISO-8859-1, one byte per character (`?` beyond U+00FF): what a server that
/// does not encode its responses in UTF-8 sends.
fn latin1(text: &str) -> Vec<u8> {
    text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

/// Whether two URLs are equal after RFC 3986 §6.2.2 normalisation (case of scheme and
/// host, default port, percent-encoded unreserved characters): what a server that does
/// not compare `url` as a string accepts.
fn same_url(a: &str, b: &str) -> bool {
    fn decode_unreserved(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            let byte = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            match byte {
                Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                    out.push(char::from(b));
                    rest = &rest[i + 3..];
                }
                _ => {
                    out.push('%');
                    rest = &rest[i + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
    let parse = |s: &str| url::Url::parse(&decode_unreserved(s)).ok();
    parse(a).is_some_and(|x| Some(x) == parse(b))
}

/// A compact-serialized JWS (`protected.payload.signature`) as the flattened JSON
/// object, for the `key-change-accepts-compact-inner` defect.
fn compact_as_flattened(payload: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(payload).ok()?;
    let parts: Vec<&str> = text.trim().split('.').collect();
    let [protected, payload, signature] = parts.as_slice() else { return None };
    Some(json!({ "protected": protected, "payload": payload, "signature": signature }))
}

/// The keyIdentifier of a certificate's authorityKeyIdentifier extension.
fn authority_key_id(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::extensions::ParsedExtension;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    })
}

/// The immediate answer of a scripted fault, for the faults that replace the response.
fn scripted_answer(fired: Option<Fired>) -> Option<Handled> {
    let f = fired?;
    let scripted = |status, kind, detail: &str| {
        let mut f2 = fault(status, kind, format!("scripted fault: {detail}"));
        f2.retry_after = f.retry_after;
        Some(Err(f2))
    };
    match f.kind {
        FaultKind::BadNonce => scripted(StatusCode::BAD_REQUEST, "badNonce", "the nonce is refused"),
        FaultKind::RateLimited => scripted(StatusCode::TOO_MANY_REQUESTS, "rateLimited", "too many requests"),
        FaultKind::Unavailable => scripted(StatusCode::SERVICE_UNAVAILABLE, "serverInternal", "temporarily unavailable"),
        FaultKind::ServerInternal => scripted(StatusCode::INTERNAL_SERVER_ERROR, "serverInternal", "internal error"),
        FaultKind::EmptyOk => Some(Ok(Reply { body: ReplyBody::Raw(b""), ..Reply::empty(StatusCode::OK) })),
        FaultKind::InvalidJson => Some(Ok(Reply { body: ReplyBody::Raw(b"{\"status\": \"valid\", "), ..Reply::empty(StatusCode::OK) })),
        FaultKind::Delay
        | FaultKind::StayProcessing
        | FaultKind::ChallengeInvalid
        | FaultKind::SlowValidation
        | FaultKind::ReuseAuthz
        | FaultKind::RenewalWindowPassed => None,
    }
}

/// A failed validation as a CA with several vantage points reports it: a problem with
/// one subproblem per perspective (RFC 8555 §6.7.1).
fn scripted_validation_problem(identifier: &Identifier) -> Problem {
    let sub = |detail: &str| Problem {
        kind: Some(format!("{ERROR_NS}incorrectResponse")),
        detail: Some(detail.to_owned()),
        identifier: Some(identifier.clone()),
        ..Problem::default()
    };
    Problem {
        kind: Some(format!("{ERROR_NS}incorrectResponse")),
        detail: Some("scripted fault: the validation failed from every vantage point".into()),
        subproblems: vec![sub("vantage point A saw the wrong key authorization"), sub("vantage point B saw the wrong key authorization")],
        ..Problem::default()
    }
}

/// An RSA key under 2048 bits is refused as `badPublicKey` (§6.2) rather than failing
/// later as a bad signature.
fn weak_key(jwk: &Jwk) -> Option<String> {
    let v = jwk.to_value();
    let n = v.get("n")?.as_str()?;
    let bits = b64::decode(n).ok()?.len() * 8;
    (bits < 2048).then(|| format!("RSA keys must have at least 2048 bits, not {bits}"))
}

/// Validates one identifier of a newOrder; the error is (ACME error name, detail).
fn check_identifier(id: &Identifier, defects: &DefectSet) -> Result<Identifier, (&'static str, String)> {
    match id.kind.as_str() {
        "dns" => {
            let name = id.value.to_ascii_lowercase();
            let base = name.strip_prefix("*.").unwrap_or(&name);
            let labels: Vec<&str> = base.split('.').collect();
            let u_labels = defects.has(Defect::AcceptULabels);
            let ok = labels.len() >= 2
                && base.len() <= 253
                && labels.iter().all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || (u_labels && c.is_alphanumeric()))
                });
            if !ok {
                return Err(("rejectedIdentifier", format!("{:?} is not a valid DNS name", id.value)));
            }
            // §7.1.4: an "xn--" label must be the A-label of a valid U-label.
            if labels.iter().any(|l| l.starts_with("xn--"))
                && url::Host::parse(base).is_err()
                && !defects.has(Defect::AcceptInvalidALabels)
            {
                return Err(("rejectedIdentifier", format!("{:?} has an xn-- label that is no valid IDNA encoding", id.value)));
            }
            if base.parse::<IpAddr>().is_ok() {
                return Err(("rejectedIdentifier", "an IP address must use the ip identifier type".into()));
            }
            Ok(Identifier::dns(name))
        }
        "ip" => match id.value.parse::<IpAddr>() {
            Ok(ip) if ip.to_string() == id.value => Ok(Identifier::ip(ip.to_string())),
            _ => Err(("malformed", format!("{:?} is not an IP address in canonical form (RFC 8738 §3)", id.value))),
        },
        other => Err(("unsupportedIdentifier", format!("identifier type {other:?} is not supported"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_url_normalises_what_rfc_3986_allows() {
        let url = "https://ca.test:14000/account/abc";
        assert!(same_url("HTTPS://CA.test:14000/account/abc", url));
        assert!(same_url("https://ca.test:14000/%61ccount/abc", url));
        assert!(same_url("https://ca.test/x", "https://ca.test:443/x"));
        assert!(!same_url("https://ca.test:14000/account/abc/", url));
        assert!(!same_url("https://ca.test:14000/account/%2Fabc", "https://ca.test:14000/account//abc"));
        assert!(!same_url("https://ca.test:14000/%", url));
    }

    #[test]
    fn latin1_is_one_byte_per_character() {
        assert_eq!(latin1("bücher €"), b"b\xfccher ?");
    }

    #[test]
    fn dns_identifiers_must_be_ldh_with_valid_a_labels() {
        let clean = DefectSet::default();
        let check = |name: &str, defects: &DefectSet| check_identifier(&Identifier::dns(name.to_owned()), defects);
        assert_eq!(check("xn--bcher-kva.example", &clean).map(|i| i.value), Ok("xn--bcher-kva.example".into()));
        for bad in ["bücher.example", "xn--zz.example", "xn--a.example", "a..example"] {
            assert_eq!(check(bad, &clean).map_err(|e| e.0), Err("rejectedIdentifier"), "{bad}");
        }
        assert!(check("xn--zz.example", &DefectSet::new([Defect::AcceptInvalidALabels])).is_ok());
        assert!(check("bücher.example", &DefectSet::new([Defect::AcceptULabels])).is_ok());
    }
}
