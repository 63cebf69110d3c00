//! The web front end: HTTP routing, the JWS checks of RFC 8555 §6 (`jws`), nonces,
//! problem documents, and one handler per resource, grouped by resource (`accounts`,
//! `orders`, `authorizations`, `certificates`).
//!
//! Every request goes through one dispatcher so that the cross-cutting rules (a fresh
//! Replay-Nonce on every response, `Link: rel="index"`, problem documents for every
//! error including unknown paths and wrong methods, a bounded body) cannot be
//! forgotten by a single handler. Defects are consulted exactly where the rule they
//! break is enforced.

mod accounts;
mod authorizations;
mod certificates;
mod jws;
mod orders;

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
use crate::protocol::wire::{ERROR_NS, Identifier, Problem, ProblemType};
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

fn fault(status: StatusCode, kind: ProblemType, detail: impl Into<String>) -> Fault {
    Fault {
        status,
        problem: Box::new(Problem {
            kind: Some(kind.urn()),
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
    fault(StatusCode::BAD_REQUEST, ProblemType::Malformed, detail)
}

fn unauthorized(detail: impl Into<String>) -> Fault {
    fault(StatusCode::FORBIDDEN, ProblemType::Unauthorized, detail)
}

fn not_found(detail: impl Into<String>) -> Fault {
    fault(StatusCode::NOT_FOUND, ProblemType::Malformed, detail)
}

fn server_internal(detail: impl Into<String>) -> Fault {
    fault(StatusCode::INTERNAL_SERVER_ERROR, ProblemType::ServerInternal, detail)
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
fn random_id() -> String {
    crate::protocol::random::b64url(ID_BYTES)
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
            let mut f = fault(StatusCode::BAD_REQUEST, ProblemType::BadSignatureAlgorithm, format!("alg {alg:?} is not supported"));
            if !defects.has(Defect::OmitSupportedAlgorithms) {
                let algs: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                f.problem.extra.insert("algorithms".into(), json!(algs));
            }
            f
        }
        JwsError::Jwk(e) => fault(StatusCode::BAD_REQUEST, ProblemType::BadPublicKey, format!("jwk refused: {e}")),
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
                let f = fault(StatusCode::PAYLOAD_TOO_LARGE, ProblemType::Malformed, format!("request body larger than {MAX_BODY} bytes"));
                (Err(f), Bytes::new(), None)
            }
            Err(_) => {
                let detail = format!("the request body did not arrive within {}s", BODY_TIMEOUT.as_secs());
                (Err(fault(StatusCode::REQUEST_TIMEOUT, ProblemType::Malformed, detail)), Bytes::new(), None)
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
                let mut f = fault(StatusCode::METHOD_NOT_ALLOWED, ProblemType::Malformed, detail);
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
                if self.has(Defect::BadPublicKeyWithoutDetail) && problem.problem_type() == Some(ProblemType::BadPublicKey) {
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

}

/// Text in ISO-8859-1, one byte per character (`?` beyond U+00FF): what a server that
/// does not encode its responses in UTF-8 sends.
fn latin1(text: &str) -> Vec<u8> {
    text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
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
        FaultKind::BadNonce => scripted(StatusCode::BAD_REQUEST, ProblemType::BadNonce, "the nonce is refused"),
        FaultKind::RateLimited => scripted(StatusCode::TOO_MANY_REQUESTS, ProblemType::RateLimited, "too many requests"),
        FaultKind::Unavailable => scripted(StatusCode::SERVICE_UNAVAILABLE, ProblemType::ServerInternal, "temporarily unavailable"),
        FaultKind::ServerInternal => scripted(StatusCode::INTERNAL_SERVER_ERROR, ProblemType::ServerInternal, "internal error"),
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

#[cfg(test)]
mod tests {
    use super::jws::same_url;
    use super::orders::check_identifier;
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
            assert_eq!(check(bad, &clean).map_err(|e| e.0), Err(ProblemType::RejectedIdentifier), "{bad}");
        }
        assert!(check("xn--zz.example", &DefectSet::new([Defect::AcceptInvalidALabels])).is_ok());
        assert!(check("bücher.example", &DefectSet::new([Defect::AcceptULabels])).is_ok());
    }
}
