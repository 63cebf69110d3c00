//! The client's side of the shared [`protocol::session`](crate::protocol::session):
//! the patience of a well-written client (badNonce retried, 429/503 waited out per
//! Retry-After within a budget) and the hooks the [`ClientDefect`]s act through.

use super::ClientError;
use super::defects::ClientDefect;
use crate::protocol::b64;
use crate::protocol::http::{ClientOptions, HttpClient, Response};
use crate::protocol::jws::{FlattenedJws, KeyId, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::session::{self, JOSE_JSON, MAX_BAD_NONCE_RETRIES, Pacing, SessionError, Signer};
use crate::protocol::wire::Directory;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// The User-Agent of the client (RFC 8555 §6.1).
pub const USER_AGENT: &str = concat!("acmespec-client/", env!("CARGO_PKG_VERSION"));
/// Total time an operation may spend waiting out 429/503 answers.
pub const RETRY_BUDGET: Duration = Duration::from_secs(30);
/// The poll interval without Retry-After.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// Upper bound on one HTTP exchange.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How patient the client is; `defects` may make it less so.
fn pacing(defects: &BTreeSet<ClientDefect>) -> Pacing {
    Pacing {
        bad_nonce_retries: if defects.contains(&ClientDefect::NoBadNonceRetry) { 0 } else { MAX_BAD_NONCE_RETRIES },
        wait_statuses: &[429, 503],
        wait_retries: 5,
        wait_budget: RETRY_BUDGET,
        wait_without_retry_after: Some(Duration::from_secs(1)),
        wait_floor: Duration::ZERO,
        poll_default: DEFAULT_POLL,
        poll_floor: Duration::ZERO,
        poll_ceiling: Duration::MAX,
        // The client polls until its deadline, however often that takes.
        max_polls: u32::MAX,
        impatient: defects.contains(&ClientDefect::IgnoreRetryAfter).then_some(Duration::from_millis(50)),
    }
}

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

/// One operation's connection to the CA: the shared session, the directory and the
/// state the nonce defects need.
pub(crate) struct Session {
    core: session::Session,
    pub(crate) dir: Directory,
    defects: BTreeSet<ClientDefect>,
    reused: bool,
}

fn required<'a>(field: &'a Option<String>, name: &str) -> Result<&'a str, ClientError> {
    field.as_deref().ok_or_else(|| ClientError::Protocol(format!("the directory has no {name}")))
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Http(e) => ClientError::Http(e),
            SessionError::Nonce(e) => ClientError::Nonce(e),
            SessionError::GaveUp { response, .. } => problem_error(&response),
            SessionError::Deadline { .. } | SessionError::PollLimit { .. } => ClientError::Timeout(e.to_string()),
        }
    }
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
        let defects: BTreeSet<ClientDefect> = config.defects.iter().copied().collect();
        // newNonce is known once the directory is read; until then nothing is signed.
        let core = session::Session::new(http, String::new(), pacing(&defects), config.timeout);
        let mut session = Session { core, dir: Directory::default(), defects, reused: false };
        let resp = ok_or_problem(session.get(&config.directory_url).await?)?;
        session.dir = serde_json::from_slice(&resp.body)
            .map_err(|e| ClientError::Protocol(format!("the directory is not a directory object: {e}")))?;
        let new_nonce = required(&session.dir.new_nonce, "newNonce")?.to_owned();
        session.core.set_new_nonce(new_nonce);
        // The first signed request starts from newNonce (RFC 8555 §7.2), not from
        // whatever nonce the directory answer happened to carry.
        session.core.http().clear_nonces();
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

    /// Sleeps `wait`, or fails when that would pass the deadline.
    pub(crate) async fn sleep_within_deadline(&self, wait: Duration, what: &str) -> Result<(), ClientError> {
        Ok(self.core.sleep(wait, what).await?)
    }

    /// How long to wait before polling again after `resp` (Retry-After, RFC 8555 §7.5.1,
    /// §7.4). Never shortened: a wait past the deadline ends the operation instead
    /// (see [`Session::sleep_within_deadline`]).
    pub(crate) fn poll_wait(&self, resp: &Response) -> Duration {
        self.core.poll_wait(resp)
    }

    /// A plain GET (the directory; the `plain-get` defect), retried on 429/503.
    pub(crate) async fn get(&mut self, url: &str) -> Result<Response, ClientError> {
        Ok(self.core.get(url).await?)
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

    /// Signs and sends one request, retrying badNonce and 429/503 the way §6.5 and
    /// §6.6 expect; any other error answer becomes [`ClientError::Problem`].
    pub(crate) async fn post(&mut self, req: Req, url: &str, signer: Signer<'_>, payload: &[u8]) -> Result<Response, ClientError> {
        if req == Req::NewOrder && self.has(ClientDefect::ReuseNonce) && !self.reused {
            // The last request's nonce goes back into the pool, to be taken again.
            if let Some(used) = self.core.last_nonce().map(str::to_owned) {
                self.reused = true;
                self.core.http().push_nonce(used);
            }
        }
        let content_type = if self.has(ClientDefect::WrongContentType) { "application/json" } else { JOSE_JSON };
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        if req == Req::Fetch(Fetched::Certificate) {
            headers.push(("accept".to_owned(), "application/pem-certificate-chain".to_owned()));
        }
        let bend = Bends::of(self, req)?;
        let resp = self.core.send_signed(url, &headers, |nonce| bend.sign(url, signer, nonce, payload)).await?;
        ok_or_problem(resp)
    }

    /// The inner JWS of a key rollover (RFC 8555 §7.3.5): signed by the new key,
    /// `jwk` and `url` only (plus a nonce under the `inner-jws-nonce` defect).
    pub(crate) async fn key_change_inner(&mut self, new_key: &SigningKey, url: &str, payload: &Value) -> Result<Value, ClientError> {
        let nonce = if self.has(ClientDefect::InnerJwsNonce) { Some(self.core.nonce().await?) } else { None };
        let header = acme_protected_header(new_key.alg(), &KeyId::Jwk(new_key.jwk().clone()), nonce.as_deref(), url);
        let bytes = serde_json::to_vec(payload).expect("JSON values serialize");
        Ok(FlattenedJws::sign(new_key, &header, &bytes).to_value())
    }
}

/// The defects that bend one request's JWS, worked out before it is signed (a request
/// is signed again for every nonce it is retried with).
#[derive(Default)]
struct Bends {
    jwk_instead_of_kid: bool,
    /// The `kid` (or `url`) to put in place of the right one: the newAccount URL.
    wrong_kid: Option<String>,
    wrong_url: Option<String>,
    missing_url: bool,
    alg_none: bool,
    general_jws: bool,
}

impl Bends {
    /// The bends the session's defects make of `req` (only newOrder is bent).
    fn of(s: &Session, req: Req) -> Result<Bends, ClientError> {
        if req != Req::NewOrder {
            return Ok(Bends::default());
        }
        let new_account = || s.endpoint("newAccount");
        Ok(Bends {
            jwk_instead_of_kid: s.has(ClientDefect::JwkInsteadOfKid),
            wrong_kid: s.has(ClientDefect::WrongKid).then(new_account).transpose()?,
            wrong_url: s.has(ClientDefect::UrlMismatch).then(new_account).transpose()?,
            missing_url: s.has(ClientDefect::MissingUrl),
            alg_none: s.has(ClientDefect::AlgNone),
            general_jws: s.has(ClientDefect::GeneralJws),
        })
    }

    /// The request body: a flattened JWS (RFC 8555 §6.2), unless a defect bends it.
    fn sign(&self, url: &str, signer: Signer<'_>, nonce: &str, payload: &[u8]) -> Vec<u8> {
        let key = signer.key();
        let mut key_id = signer.key_id();
        if self.jwk_instead_of_kid {
            key_id = KeyId::Jwk(key.jwk().clone());
        }
        if let Some(kid) = &self.wrong_kid {
            key_id = KeyId::Kid(kid.clone());
        }
        let mut header = acme_protected_header(key.alg(), &key_id, Some(nonce), self.wrong_url.as_deref().unwrap_or(url));
        if self.missing_url {
            header.remove("url");
        }
        let jws = if self.alg_none {
            header.insert("alg".into(), "none".into());
            FlattenedJws {
                protected: b64::encode(serde_json::to_vec(&header).expect("a JSON map serializes")),
                payload: b64::encode(payload),
                signature: String::new(),
            }
        } else {
            FlattenedJws::sign(key, &header, payload)
        };
        let body = if self.general_jws {
            json!({ "payload": jws.payload, "signatures": [{ "protected": jws.protected, "signature": jws.signature }] })
        } else {
            jws.to_value()
        };
        serde_json::to_vec(&body).expect("JSON values serialize")
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
