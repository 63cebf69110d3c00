//! One issuance flow, step by step, each step timed on its own.
//!
//! The load generator speaks through the shared [`Session`] (signed requests, badNonce
//! retry, polling, step laps) but walks the flow itself rather than calling the own
//! client: a throughput run wants each step's time, one account per worker reused for
//! every flow, no responders (the server validates without contacting anyone) and no
//! retries beyond badNonce, where the client is patient the way a client under grading
//! must be.

use super::Step;
use crate::client::{ClientError, ok_or_problem, parse, problem_error};
use crate::protocol::b64;
use crate::protocol::http::{HttpError, NonceError, Response};
use crate::protocol::jws::Algorithm;
use crate::protocol::keys::SigningKey;
use crate::protocol::session::{MAX_BAD_NONCE_RETRIES, Pacing, Polled, Session, Signer};
use crate::protocol::wire::{Authorization, Identifier, Order, Problem};
use serde_json::json;
use std::time::Duration;

/// Polls of one authorization or order before the flow gives up.
const MAX_POLLS: u32 = 60;

/// A load run's patience: badNonce retried, nothing waited out, polls short.
pub(super) fn pacing() -> Pacing {
    Pacing {
        bad_nonce_retries: MAX_BAD_NONCE_RETRIES,
        wait_statuses: &[],
        wait_retries: 0,
        wait_budget: Duration::ZERO,
        wait_without_retry_after: None,
        wait_floor: Duration::ZERO,
        poll_default: Duration::from_millis(100),
        poll_floor: Duration::ZERO,
        // The longest wait between polls, whatever Retry-After asks for.
        poll_ceiling: Duration::from_secs(1),
        max_polls: MAX_POLLS,
        impatient: None,
    }
}

/// A step's failure, with the step it happened in. The error is the own client's:
/// the load generator is a client too, and fails in the same ways.
#[derive(Debug)]
pub(super) struct StepFailure {
    pub(super) step: Step,
    pub(super) error: ClientError,
}

impl StepFailure {
    /// Whether no connection could be made at all (the server is not listening).
    pub(super) fn is_refused(&self) -> bool {
        matches!(
            self.error,
            ClientError::Http(HttpError::Connect(_)) | ClientError::Nonce(NonceError::Http(HttpError::Connect(_)))
        )
    }

    /// A short, stable name for counting: the ACME error name, the problem type, the
    /// kind of transport failure, or the resource a poll gave up on.
    pub(super) fn kind(&self) -> String {
        let problem_name =
            |p: &Option<Box<Problem>>| p.as_ref().and_then(|p| p.acme_name().or(p.kind.as_deref()).map(str::to_owned));
        match &self.error {
            ClientError::Http(e) | ClientError::Nonce(NonceError::Http(e)) => match e {
                HttpError::Connect(_) => "transport: connect".into(),
                HttpError::Timeout(_) => "transport: timeout".into(),
                HttpError::BodyTooLarge { .. } => "transport: body too large".into(),
                _ => "transport: other".into(),
            },
            ClientError::Nonce(_) => "no nonce".into(),
            ClientError::Key(_) => "key generation".into(),
            ClientError::Problem { status, problem, .. } => {
                problem_name(problem).unwrap_or_else(|| format!("HTTP {status} without a problem document"))
            }
            ClientError::Invalid { what, problem } => match problem_name(problem) {
                Some(name) => format!("{what} invalid: {name}"),
                None => format!("{what} invalid"),
            },
            // Only the two waits poll, and each polls one kind of resource.
            ClientError::Timeout(_) => match self.step {
                Step::ValidationWait => "authorization poll limit".into(),
                Step::IssuanceWait => "order poll limit".into(),
                _ => "timeout".into(),
            },
            _ => "unexpected answer".into(),
        }
    }
}

trait InStep<T> {
    fn in_step(self, step: Step) -> Result<T, StepFailure>;
}

impl<T, E: Into<ClientError>> InStep<T> for Result<T, E> {
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
    pub(super) session: Session,
    pub(super) endpoints: Endpoints,
}

fn location(resp: &Response, what: &str) -> Result<String, ClientError> {
    resp.location()
        .ok_or_else(|| ClientError::Protocol(format!("{what} answered without a Location")))
}

impl Account {
    fn signer(&self) -> Signer<'_> {
        Signer::Kid(&self.key, &self.url)
    }
}

impl Worker {
    /// Signs and sends one request; an error answer (badNonce retried) is a failure.
    async fn post(&mut self, url: &str, signer: Signer<'_>, payload: &[u8]) -> Result<Response, ClientError> {
        let resp = self.session.post(url, signer, payload).await?;
        ok_or_problem(resp)
    }

    /// newAccount with a fresh ES256 key, agreeing to the terms of service.
    pub(super) async fn new_account(&mut self) -> Result<Account, StepFailure> {
        let key = SigningKey::generate(Algorithm::Es256).in_step(Step::NewAccount)?;
        let url = self.endpoints.new_account.clone();
        let payload = json!({ "termsOfServiceAgreed": true }).to_string();
        let resp = self
            .post(&url, Signer::Jwk(&key), payload.as_bytes())
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
        self.session.lap();
        let new_order = self.endpoints.new_order.clone();
        let payload = json!({ "identifiers": identifiers }).to_string();
        let resp = self
            .post(&new_order, account.signer(), payload.as_bytes())
            .await
            .in_step(step)?;
        let order_url = location(&resp, "newOrder").in_step(step)?;
        let order: Order = parse(&resp, "order").in_step(step)?;
        let (authz_url, finalize_url) = match (order.authorizations.first(), order.finalize) {
            (Some(a), Some(f)) => (a.clone(), f),
            _ => {
                return Err(ClientError::Protocol(
                    "the order has no authorization or no finalize URL".into(),
                ))
                .in_step(step);
            }
        };
        timed(step, self.session.lap());

        step = Step::Authorization;
        let resp = self.post(&authz_url, account.signer(), b"").await.in_step(step)?;
        let authz: Authorization = parse(&resp, "authorization").in_step(step)?;
        let challenge_url = authz
            .challenges
            .iter()
            .find(|c| c.kind == "http-01")
            .map(|c| c.url.clone())
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "the authorization for {name} offers no http-01 challenge"
                ))
            })
            .in_step(step)?;
        timed(step, self.session.lap());

        step = Step::Challenge;
        self.post(&challenge_url, account.signer(), b"{}").await.in_step(step)?;
        timed(step, self.session.lap());

        step = Step::ValidationWait;
        self.poll_until_valid(&authz_url, account, "authorization", |a: &Authorization| {
            (
                a.status.clone(),
                a.challenges.iter().find_map(|c| c.error.clone()),
            )
        })
        .await
        .in_step(step)?;
        timed(step, self.session.lap());

        step = Step::Finalize;
        let certificate_key = SigningKey::generate(Algorithm::Es256).in_step(step)?;
        let csr = certificate_key
            .csr_der(&identifiers, None)
            .map_err(ClientError::Csr)
            .in_step(step)?;
        let payload = json!({ "csr": b64::encode(csr) }).to_string();
        self.post(&finalize_url, account.signer(), payload.as_bytes()).await.in_step(step)?;
        timed(step, self.session.lap());

        step = Step::IssuanceWait;
        let order: Order = self
            .poll_until_valid(&order_url, account, "order", |o: &Order| {
                (o.status.clone(), o.error.clone())
            })
            .await
            .in_step(step)?;
        let certificate_url = order
            .certificate
            .ok_or_else(|| ClientError::Protocol("the valid order has no certificate URL".into()))
            .in_step(step)?;
        timed(step, self.session.lap());

        step = Step::Certificate;
        let resp = self.post(&certificate_url, account.signer(), b"").await.in_step(step)?;
        if !resp.body.starts_with(b"-----BEGIN CERTIFICATE-----") {
            return Err(ClientError::Protocol(
                "the certificate download is not a PEM chain".into(),
            ))
            .in_step(step);
        }
        timed(step, self.session.lap());
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
    ) -> Result<T, ClientError> {
        let polled = self.session.poll(url, account.signer(), |resp| {
            if resp.status >= 400 {
                return Err(problem_error(resp));
            }
            let object: T = parse(resp, what)?;
            let (status, problem) = status_of(&object);
            match status.as_deref() {
                Some("valid") => Ok(Polled::Done(object)),
                Some("invalid") => Err(ClientError::Invalid { what: what.to_owned(), problem: problem.map(Box::new) }),
                other => Ok(Polled::Pending(other.unwrap_or("without a status").to_owned())),
            }
        });
        polled.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(step: Step, error: ClientError) -> String {
        StepFailure { step, error }.kind()
    }

    fn problem(name: &str) -> Option<Box<Problem>> {
        let problem: Problem = serde_json::from_value(json!({ "type": format!("urn:ietf:params:acme:error:{name}") })).unwrap();
        Some(Box::new(problem))
    }

    #[test]
    fn failures_are_counted_by_acme_error_resource_and_transport() {
        let refused = ClientError::Problem { url: "u".into(), status: 400, problem: problem("badNonce") };
        assert_eq!(kind(Step::NewOrder, refused), "badNonce");
        let bare = ClientError::Problem { url: "u".into(), status: 500, problem: None };
        assert_eq!(kind(Step::Finalize, bare), "HTTP 500 without a problem document");
        let invalid = ClientError::Invalid { what: "authorization".into(), problem: problem("incorrectResponse") };
        assert_eq!(kind(Step::ValidationWait, invalid), "authorization invalid: incorrectResponse");
        // A poll that gives up is named by the resource its step polls.
        assert_eq!(kind(Step::ValidationWait, ClientError::Timeout("x".into())), "authorization poll limit");
        assert_eq!(kind(Step::IssuanceWait, ClientError::Timeout("x".into())), "order poll limit");
        assert_eq!(kind(Step::Certificate, ClientError::Protocol("not PEM".into())), "unexpected answer");
        let refused = StepFailure { step: Step::NewOrder, error: ClientError::Nonce(NonceError::Missing { status: 500 }) };
        assert!(!refused.is_refused());
        assert_eq!(refused.kind(), "no nonce");
    }
}
