//! The client's transport: signed requests over the shared [`HttpClient`], with the
//! retry behaviour of a well-written client (badNonce, 429/503 with Retry-After)
//! and the hooks the [`ClientDefect`]s act through.

use super::ClientError;
use super::defects::ClientDefect;
use crate::protocol::wire::ProblemType;
use crate::protocol::b64;
use crate::protocol::http::{ClientOptions, HttpClient, Response};
use crate::protocol::jws::{FlattenedJws, KeyId, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::wire::Directory;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// The User-Agent of the client (RFC 8555 §6.1).
pub const USER_AGENT: &str = concat!("acmespec-client/", env!("CARGO_PKG_VERSION"));
/// How often one request is retried after badNonce (with the error's fresh nonce).
pub const MAX_BAD_NONCE_RETRIES: u32 = 3;
/// How often one request is retried after 429 or 503.
const MAX_UNAVAILABLE_RETRIES: u32 = 5;
/// Total time an operation may spend waiting out 429/503 answers.
pub const RETRY_BUDGET: Duration = Duration::from_secs(30);
/// The wait after 429/503 without a (usable) Retry-After.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The poll interval without Retry-After.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// How soon the `ignore-retry-after` defect tries again.
const IMPATIENT: Duration = Duration::from_millis(50);
/// Upper bound on one HTTP exchange.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Which request is being made: decides `jwk` or `kid` and where defects apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Req {
    NewAccount,
    NewOrder,
    Fetch(Fetched),
    ChallengeResponse,
    Finalize,
    KeyChange,
    Revoke,
    AccountUpdate,
}

/// What a POST-as-GET fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetched {
    Authz,
    Order,
    Certificate,
}

/// The key a request is signed with, and how it is named in the protected header.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signer<'a> {
    /// `jwk` (newAccount, revocation by certificate key).
    Jwk(&'a SigningKey),
    /// `kid`: the account key and URL.
    Kid(&'a SigningKey, &'a str),
}

/// One operation's connection to the CA: HTTP client, directory, deadline and the
/// state the nonce defects need.
pub(crate) struct Session {
    http: HttpClient,
    pub(crate) dir: Directory,
    defects: BTreeSet<ClientDefect>,
    pub(crate) deadline: Instant,
    retry_waited: Duration,
    last_nonce: Option<String>,
    reused: bool,
}

fn required<'a>(field: &'a Option<String>, name: &str) -> Result<&'a str, ClientError> {
    field.as_deref().ok_or_else(|| ClientError::Protocol(format!("the directory has no {name}")))
}

impl Session {
    /// Builds the HTTP client and reads the directory.
    pub(crate) async fn connect(config: &super::ClientConfig) -> Result<Session, ClientError> {
        let user_agent = if config.defects.contains(&ClientDefect::NoUserAgent) {
            // The shared HTTP client always sends its User-Agent; empty is as close to
            // "none" as it gets, and equally a §6.1 violation (RFC 9110 `product` is 1*tchar).
            String::new()
        } else {
            USER_AGENT.to_owned()
        };
        let http = HttpClient::new(ClientOptions {
            ca_certs: config.ca_certs.clone(),
            timeout: REQUEST_TIMEOUT.min(config.timeout),
            user_agent,
            ..ClientOptions::default()
        })?;
        let mut session = Session {
            http,
            dir: Directory::default(),
            defects: config.defects.iter().copied().collect(),
            deadline: Instant::now() + config.timeout,
            retry_waited: Duration::ZERO,
            last_nonce: None,
            reused: false,
        };
        let resp = session.get(&config.directory_url).await?;
        let resp = ok_or_problem(resp)?;
        session.dir = serde_json::from_slice(&resp.body)
            .map_err(|e| ClientError::Protocol(format!("the directory is not a directory object: {e}")))?;
        required(&session.dir.new_nonce, "newNonce")?;
        // The first signed request starts from newNonce (RFC 8555 §7.2), not from
        // whatever nonce the directory answer happened to carry.
        session.http.clear_nonces();
        Ok(session)
    }

    pub(crate) fn has(&self, d: ClientDefect) -> bool {
        self.defects.contains(&d)
    }

    /// Whether the directory's `meta.profiles` advertises `profile` (draft-ietf-acme-profiles §3).
    pub(crate) fn advertises_profile(&self, profile: &str) -> bool {
        let profiles = self.dir.meta.as_ref().and_then(|m| m.profiles.as_ref());
        profiles.and_then(serde_json::Value::as_object).is_some_and(|p| p.contains_key(profile))
    }

    /// A directory URL by name, or a protocol error.
    pub(crate) fn endpoint(&self, name: &str) -> Result<String, ClientError> {
        let d = &self.dir;
        let field = match name {
            "newNonce" => &d.new_nonce,
            "newAccount" => &d.new_account,
            "newOrder" => &d.new_order,
            "revokeCert" => &d.revoke_cert,
            "keyChange" => &d.key_change,
            _ => return Err(ClientError::Protocol(format!("unknown directory member {name}"))),
        };
        required(field, name).map(str::to_owned)
    }

    /// Time left before the operation's deadline.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sleeps `wait`, or fails when that would pass the deadline.
    pub(crate) async fn sleep_within_deadline(&self, wait: Duration, what: &str) -> Result<(), ClientError> {
        if wait > self.remaining() {
            return Err(ClientError::Timeout(format!("{what}: waiting {wait:?} more would pass the deadline")));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// How long to wait before polling again after `resp` (Retry-After, RFC 8555 §7.5.1,
    /// §7.4). Never shortened: a wait past the deadline ends the operation instead
    /// (see [`Session::sleep_within_deadline`]).
    pub(crate) fn poll_wait(&self, resp: &Response) -> Duration {
        if self.has(ClientDefect::IgnoreRetryAfter) {
            return IMPATIENT;
        }
        resp.retry_after().map(|r| r.delay()).unwrap_or(DEFAULT_POLL)
    }

    /// Waits out a 429/503 (RFC 8555 §6.6), within the retry budget and the deadline.
    async fn wait_unavailable(&mut self, resp: &Response, retries: &mut u32) -> Result<(), ClientError> {
        *retries += 1;
        let wait = if self.has(ClientDefect::IgnoreRetryAfter) {
            IMPATIENT
        } else {
            resp.retry_after().map(|r| r.delay()).unwrap_or(DEFAULT_RETRY)
        };
        if *retries > MAX_UNAVAILABLE_RETRIES || self.retry_waited + wait > RETRY_BUDGET || wait > self.remaining() {
            return Err(problem_error(resp));
        }
        self.retry_waited += wait;
        tracing::debug!(url = %resp.url, status = resp.status, ?wait, "waiting before retrying");
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// A plain GET (the directory; the `plain-get` defect), retried on 429/503.
    pub(crate) async fn get(&mut self, url: &str) -> Result<Response, ClientError> {
        let mut retries = 0;
        loop {
            let resp = self.http.get(url).await?;
            if matches!(resp.status, 429 | 503) {
                self.wait_unavailable(&resp, &mut retries).await?;
                continue;
            }
            return Ok(resp);
        }
    }

    /// A POST-as-GET (RFC 8555 §6.3), or what the fetch defects make of it.
    pub(crate) async fn fetch(&mut self, what: Fetched, url: &str, account: Signer<'_>) -> Result<Response, ClientError> {
        if what == Fetched::Authz && self.has(ClientDefect::PlainGet) {
            let resp = self.get(url).await?;
            if resp.status != 405 {
                return ok_or_problem(resp);
            }
        }
        let payload: &[u8] = if self.has(ClientDefect::FetchWithEmptyObject) { b"{}" } else { b"" };
        self.post(Req::Fetch(what), url, account, payload).await
    }

    /// A POST with a JSON payload.
    pub(crate) async fn post_json(&mut self, req: Req, url: &str, signer: Signer<'_>, payload: &Value) -> Result<Response, ClientError> {
        let bytes = serde_json::to_vec(payload).expect("JSON values serialize");
        self.post(req, url, signer, &bytes).await
    }

    /// The nonce for the next signed request (RFC 8555 §6.5): the freshest one
    /// received, which after a badNonce is the error response's own.
    pub(crate) async fn nonce(&mut self) -> Result<String, ClientError> {
        let new_nonce = self.endpoint("newNonce")?;
        let mut retries = 0;
        loop {
            match self.http.nonce(&new_nonce).await {
                Ok(n) => return Ok(n),
                Err(crate::protocol::http::NonceError::Missing { status: status @ (429 | 503) }) => {
                    // Not worth a second request to learn the Retry-After: use the default.
                    retries += 1;
                    if retries > MAX_UNAVAILABLE_RETRIES || DEFAULT_RETRY > self.remaining() {
                        return Err(ClientError::Protocol(format!("newNonce keeps answering {status}")));
                    }
                    tokio::time::sleep(DEFAULT_RETRY).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Signs and sends one request, retrying badNonce and 429/503 the way §6.5 and
    /// §6.6 expect; any other error answer becomes [`ClientError::Problem`].
    pub(crate) async fn post(&mut self, req: Req, url: &str, signer: Signer<'_>, payload: &[u8]) -> Result<Response, ClientError> {
        let mut bad_nonces = 0;
        let mut unavailable = 0;
        loop {
            let nonce = match self.last_nonce.clone() {
                Some(used) if req == Req::NewOrder && self.has(ClientDefect::ReuseNonce) && !self.reused => {
                    self.reused = true;
                    used
                }
                _ => self.nonce().await?,
            };
            self.last_nonce = Some(nonce.clone());
            let body = self.sign(req, url, signer, &nonce, payload)?;
            let content_type =
                if self.has(ClientDefect::WrongContentType) { "application/json" } else { "application/jose+json" };
            let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
            if req == Req::Fetch(Fetched::Certificate) {
                headers.push(("accept".to_owned(), "application/pem-certificate-chain".to_owned()));
            }
            let resp = self.http.send(Method::POST, url, &headers, Some(body)).await?;
            if resp.status < 400 {
                return Ok(resp);
            }
            let problem = resp.problem();
            if problem.as_ref().and_then(|p| p.problem_type()) == Some(ProblemType::BadNonce) {
                if self.has(ClientDefect::NoBadNonceRetry) || bad_nonces >= MAX_BAD_NONCE_RETRIES {
                    return Err(problem_error(&resp));
                }
                bad_nonces += 1;
                if resp.replay_nonce().is_none() {
                    tracing::debug!(url, "badNonce without a Replay-Nonce; asking newNonce");
                }
                continue;
            }
            if matches!(resp.status, 429 | 503) {
                self.wait_unavailable(&resp, &mut unavailable).await?;
                continue;
            }
            return Err(problem_error(&resp));
        }
    }

    /// The request body: a flattened JWS (RFC 8555 §6.2), unless a defect bends it.
    fn sign(&self, req: Req, url: &str, signer: Signer<'_>, nonce: &str, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let on_new_order = |d| req == Req::NewOrder && self.has(d);
        let (key, mut key_id) = match signer {
            Signer::Jwk(key) => (key, KeyId::Jwk(key.jwk().clone())),
            Signer::Kid(key, kid) => (key, KeyId::Kid(kid.to_owned())),
        };
        if on_new_order(ClientDefect::JwkInsteadOfKid) {
            key_id = KeyId::Jwk(key.jwk().clone());
        }
        if on_new_order(ClientDefect::WrongKid) {
            key_id = KeyId::Kid(self.endpoint("newAccount")?);
        }
        let jws_url = if on_new_order(ClientDefect::UrlMismatch) { self.endpoint("newAccount")? } else { url.to_owned() };
        let mut header = acme_protected_header(key.alg(), &key_id, Some(nonce), &jws_url);
        if on_new_order(ClientDefect::MissingUrl) {
            header.remove("url");
        }
        let jws = if on_new_order(ClientDefect::AlgNone) {
            header.insert("alg".into(), "none".into());
            FlattenedJws {
                protected: b64::encode(serde_json::to_vec(&header).expect("a JSON map serializes")),
                payload: b64::encode(payload),
                signature: String::new(),
            }
        } else {
            FlattenedJws::sign(key, &header, payload)
        };
        let body = if on_new_order(ClientDefect::GeneralJws) {
            json!({ "payload": jws.payload, "signatures": [{ "protected": jws.protected, "signature": jws.signature }] })
        } else {
            jws.to_value()
        };
        Ok(serde_json::to_vec(&body).expect("JSON values serialize"))
    }

    /// The inner JWS of a key rollover (RFC 8555 §7.3.5): signed by the new key,
    /// `jwk` and `url` only (plus a nonce under the `inner-jws-nonce` defect).
    pub(crate) async fn key_change_inner(&mut self, new_key: &SigningKey, url: &str, payload: &Value) -> Result<Value, ClientError> {
        let nonce = if self.has(ClientDefect::InnerJwsNonce) { Some(self.nonce().await?) } else { None };
        let header = acme_protected_header(new_key.alg(), &KeyId::Jwk(new_key.jwk().clone()), nonce.as_deref(), url);
        let bytes = serde_json::to_vec(payload).expect("JSON values serialize");
        Ok(FlattenedJws::sign(new_key, &header, &bytes).to_value())
    }
}

/// The response if it is a success, else the error it carries.
pub(crate) fn ok_or_problem(resp: Response) -> Result<Response, ClientError> {
    if resp.status < 400 { Ok(resp) } else { Err(problem_error(&resp)) }
}

/// The error for an error answer, with its problem document when there is one.
pub(crate) fn problem_error(resp: &Response) -> ClientError {
    ClientError::Problem {
        url: resp.url.clone(),
        status: resp.status,
        problem: resp.problem().map(Box::new),
    }
}
