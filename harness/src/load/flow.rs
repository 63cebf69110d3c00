//! One issuance flow, step by step, each step timed on its own.
//!
//! The own client ([`crate::client`]) issues in one call and cannot say where the
//! time went, so the load generator drives the protocol itself, through the same
//! shared pieces (HTTP client with its nonce pool, JWS, keys, wire types), and
//! does only what a throughput run needs: no retries beyond badNonce, no responders
//! (the server validates without contacting anyone).

use super::Step;
use crate::protocol::wire::ProblemType;
use crate::client::MAX_BAD_NONCE_RETRIES;
use crate::protocol::b64;
use crate::protocol::http::{HttpClient, HttpError, NonceError, Response};
use crate::protocol::jws::{Algorithm, FlattenedJws, KeyId, acme_protected_header};
use crate::protocol::keys::{KeyError, SigningKey};
use crate::protocol::wire::{Authorization, Identifier, Order, Problem};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// Polls of one authorization or order before the flow gives up.
const MAX_POLLS: u32 = 60;
/// The wait between polls when the server gives no Retry-After.
const DEFAULT_POLL: Duration = Duration::from_millis(100);
/// The longest wait between polls, whatever Retry-After asks for.
const MAX_POLL_WAIT: Duration = Duration::from_secs(1);

/// Why a step failed; [`FlowError::kind`] is what the report counts by.
#[derive(Debug, thiserror::Error)]
pub(super) enum FlowError {
    /// No response came back.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// No nonce could be obtained.
    #[error(transparent)]
    Nonce(#[from] NonceError),
    /// The account or certificate key could not be generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The server answered with an error status (badNonce already retried).
    #[error("{url} answered {status}{}", problem.as_ref().and_then(|p| p.detail.as_deref()).map(|d| format!(": {d}")).unwrap_or_default())]
    Problem {
        url: String,
        status: u16,
        problem: Option<Box<Problem>>,
    },
    /// The server answered something the flow cannot use (no Location, not JSON, ...).
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The authorization or the order became invalid.
    #[error("{what} became invalid{}", problem.as_ref().and_then(|p| p.detail.as_deref()).map(|d| format!(": {d}")).unwrap_or_default())]
    Invalid {
        what: &'static str,
        problem: Option<Box<Problem>>,
    },
    /// The authorization or the order was still not valid after [`MAX_POLLS`] polls.
    #[error("{what} still {status} after {MAX_POLLS} polls")]
    PollLimit { what: &'static str, status: String },
}

impl FlowError {
    /// Whether no connection could be made at all (the server is not listening).
    pub(super) fn is_refused(&self) -> bool {
        matches!(
            self,
            FlowError::Http(HttpError::Connect(_))
                | FlowError::Nonce(NonceError::Http(HttpError::Connect(_)))
        )
    }

    /// A short, stable name for counting: the ACME error name, the problem type,
    /// or the kind of transport failure.
    pub(super) fn kind(&self) -> String {
        let problem_name = |p: &Option<Box<Problem>>| {
            p.as_ref()
                .and_then(|p| p.acme_name().or(p.kind.as_deref()).map(str::to_owned))
        };
        match self {
            FlowError::Http(e) | FlowError::Nonce(NonceError::Http(e)) => match e {
                HttpError::Connect(_) => "transport: connect".into(),
                HttpError::Timeout(_) => "transport: timeout".into(),
                HttpError::BodyTooLarge { .. } => "transport: body too large".into(),
                _ => "transport: other".into(),
            },
            FlowError::Nonce(_) => "no nonce".into(),
            FlowError::Key(_) => "key generation".into(),
            FlowError::Problem {
                status, problem, ..
            } => problem_name(problem)
                .unwrap_or_else(|| format!("HTTP {status} without a problem document")),
            FlowError::Protocol(_) => "unexpected answer".into(),
            FlowError::Invalid { what, problem } => match problem_name(problem) {
                Some(name) => format!("{what} invalid: {name}"),
                None => format!("{what} invalid"),
            },
            FlowError::PollLimit { what, .. } => format!("{what} poll limit"),
        }
    }
}

/// A step's failure, with the step it happened in.
#[derive(Debug)]
pub(super) struct StepFailure {
    pub(super) step: Step,
    pub(super) error: FlowError,
}

trait InStep<T> {
    fn in_step(self, step: Step) -> Result<T, StepFailure>;
}

impl<T, E: Into<FlowError>> InStep<T> for Result<T, E> {
    fn in_step(self, step: Step) -> Result<T, StepFailure> {
        self.map_err(|e| StepFailure {
            step,
            error: e.into(),
        })
    }
}

/// The server's endpoints a flow uses.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    pub(super) new_nonce: String,
    pub(super) new_account: String,
    pub(super) new_order: String,
}

/// An account: its key and URL.
pub(super) struct Account {
    key: SigningKey,
    url: String,
}

/// One worker's connection to the server.
pub(super) struct Worker {
    pub(super) http: HttpClient,
    pub(super) endpoints: Endpoints,
    /// badNonce answers retried so far.
    pub(super) bad_nonce_retries: u64,
}

fn parse<T: serde::de::DeserializeOwned>(resp: &Response, what: &str) -> Result<T, FlowError> {
    serde_json::from_slice(&resp.body)
        .map_err(|e| FlowError::Protocol(format!("{what} from {}: {e}", resp.url)))
}

fn location(resp: &Response, what: &str) -> Result<String, FlowError> {
    resp.location()
        .ok_or_else(|| FlowError::Protocol(format!("{what} answered without a Location")))
}

/// How long to wait before polling again: Retry-After, capped.
fn poll_wait(resp: &Response) -> Duration {
    resp.retry_after()
        .map(|r| r.delay())
        .unwrap_or(DEFAULT_POLL)
        .min(MAX_POLL_WAIT)
}

impl Worker {
    /// Signs and sends one request (`kid` when an account is given, else `jwk`),
    /// retrying badNonce with a fresh nonce; any other error answer is a failure.
    async fn post(
        &mut self,
        url: &str,
        key: &SigningKey,
        kid: Option<&str>,
        payload: &[u8],
    ) -> Result<Response, FlowError> {
        let key_id = match kid {
            Some(kid) => KeyId::Kid(kid.to_owned()),
            None => KeyId::Jwk(key.jwk().clone()),
        };
        let mut bad_nonces = 0;
        loop {
            let nonce = self.http.nonce(&self.endpoints.new_nonce).await?;
            let header = acme_protected_header(key.alg(), &key_id, Some(&nonce), url);
            let body = serde_json::to_vec(&FlattenedJws::sign(key, &header, payload).to_value())
                .map_err(|e| FlowError::Protocol(format!("cannot encode the JWS: {e}")))?;
            let headers = [(
                "content-type".to_owned(),
                "application/jose+json".to_owned(),
            )];
            let resp = self
                .http
                .send(Method::POST, url, &headers, Some(body))
                .await?;
            if resp.status < 400 {
                return Ok(resp);
            }
            let problem = resp.problem().map(Box::new);
            if problem.as_ref().and_then(|p| p.problem_type()) == Some(ProblemType::BadNonce)
                && bad_nonces < MAX_BAD_NONCE_RETRIES
            {
                bad_nonces += 1;
                self.bad_nonce_retries += 1;
                continue;
            }
            return Err(FlowError::Problem {
                url: url.to_owned(),
                status: resp.status,
                problem,
            });
        }
    }

    async fn post_as_get(&mut self, url: &str, account: &Account) -> Result<Response, FlowError> {
        self.post(url, &account.key, Some(&account.url), b"").await
    }

    /// newAccount with a fresh ES256 key, agreeing to the terms of service.
    pub(super) async fn new_account(&mut self) -> Result<Account, StepFailure> {
        let key = SigningKey::generate(Algorithm::Es256).in_step(Step::NewAccount)?;
        let url = self.endpoints.new_account.clone();
        let payload = json!({ "termsOfServiceAgreed": true }).to_string();
        let resp = self
            .post(&url, &key, None, payload.as_bytes())
            .await
            .in_step(Step::NewAccount)?;
        let url = location(&resp, "newAccount").in_step(Step::NewAccount)?;
        Ok(Account { key, url })
    }

    /// One issuance for `name`; calls `timed` with each step's duration as it completes.
    pub(super) async fn issue(
        &mut self,
        account: &Account,
        name: &str,
        timed: &mut impl FnMut(Step, Duration),
    ) -> Result<(), StepFailure> {
        let identifiers = [Identifier::dns(name)];

        let mut step = Step::NewOrder;
        let started = Instant::now();
        let new_order = self.endpoints.new_order.clone();
        let payload = json!({ "identifiers": identifiers }).to_string();
        let resp = self
            .post(
                &new_order,
                &account.key,
                Some(&account.url),
                payload.as_bytes(),
            )
            .await
            .in_step(step)?;
        let order_url = location(&resp, "newOrder").in_step(step)?;
        let order: Order = parse(&resp, "order").in_step(step)?;
        let (authz_url, finalize_url) = match (order.authorizations.first(), order.finalize) {
            (Some(a), Some(f)) => (a.clone(), f),
            _ => {
                return Err(FlowError::Protocol(
                    "the order has no authorization or no finalize URL".into(),
                ))
                .in_step(step);
            }
        };
        timed(step, started.elapsed());

        step = Step::Authorization;
        let started = Instant::now();
        let resp = self.post_as_get(&authz_url, account).await.in_step(step)?;
        let authz: Authorization = parse(&resp, "authorization").in_step(step)?;
        let challenge_url = authz
            .challenges
            .iter()
            .find(|c| c.kind == "http-01")
            .map(|c| c.url.clone())
            .ok_or_else(|| {
                FlowError::Protocol(format!(
                    "the authorization for {name} offers no http-01 challenge"
                ))
            })
            .in_step(step)?;
        timed(step, started.elapsed());

        step = Step::Challenge;
        let started = Instant::now();
        self.post(&challenge_url, &account.key, Some(&account.url), b"{}")
            .await
            .in_step(step)?;
        timed(step, started.elapsed());

        step = Step::ValidationWait;
        let started = Instant::now();
        self.poll_until_valid(&authz_url, account, "authorization", |a: &Authorization| {
            (
                a.status.clone(),
                a.challenges.iter().find_map(|c| c.error.clone()),
            )
        })
        .await
        .in_step(step)?;
        timed(step, started.elapsed());

        step = Step::Finalize;
        let started = Instant::now();
        let certificate_key = SigningKey::generate(Algorithm::Es256).in_step(step)?;
        let csr = certificate_key
            .csr_der(&identifiers, None)
            .map_err(FlowError::Protocol)
            .in_step(step)?;
        let payload = json!({ "csr": b64::encode(csr) }).to_string();
        self.post(
            &finalize_url,
            &account.key,
            Some(&account.url),
            payload.as_bytes(),
        )
        .await
        .in_step(step)?;
        timed(step, started.elapsed());

        step = Step::IssuanceWait;
        let started = Instant::now();
        let order: Order = self
            .poll_until_valid(&order_url, account, "order", |o: &Order| {
                (o.status.clone(), o.error.clone())
            })
            .await
            .in_step(step)?;
        let certificate_url = order
            .certificate
            .ok_or_else(|| FlowError::Protocol("the valid order has no certificate URL".into()))
            .in_step(step)?;
        timed(step, started.elapsed());

        step = Step::Certificate;
        let started = Instant::now();
        let resp = self
            .post_as_get(&certificate_url, account)
            .await
            .in_step(step)?;
        if !resp.body.starts_with(b"-----BEGIN CERTIFICATE-----") {
            return Err(FlowError::Protocol(
                "the certificate download is not a PEM chain".into(),
            ))
            .in_step(step);
        }
        timed(step, started.elapsed());
        Ok(())
    }

    /// Fetches `url` until its status is `valid` (at most [`MAX_POLLS`] times, waiting
    /// per Retry-After in between); `invalid` ends the flow.
    async fn poll_until_valid<T: serde::de::DeserializeOwned>(
        &mut self,
        url: &str,
        account: &Account,
        what: &'static str,
        status_of: impl Fn(&T) -> (Option<String>, Option<Problem>),
    ) -> Result<T, FlowError> {
        let mut last = String::new();
        for poll in 0..MAX_POLLS {
            let resp = self.post_as_get(url, account).await?;
            let object: T = parse(&resp, what)?;
            let (status, problem) = status_of(&object);
            match status.as_deref() {
                Some("valid") => return Ok(object),
                Some("invalid") => {
                    return Err(FlowError::Invalid {
                        what,
                        problem: problem.map(Box::new),
                    });
                }
                other => last = other.unwrap_or("without a status").to_owned(),
            }
            if poll + 1 < MAX_POLLS {
                tokio::time::sleep(poll_wait(&resp)).await;
            }
        }
        Err(FlowError::PollLimit { what, status: last })
    }
}
