//! The transport rules of one ACME conversation, kept once because three engines speak
//! them: the own client, the load generator and the runner.
//!
//! RFC 8555 asks the same of every client: a fresh nonce on every signed request and
//! the error's own nonce after `badNonce` (§6.5), 429 and 503 waited out per
//! Retry-After (§6.6), pending resources polled no faster than Retry-After asks
//! (§7.4, §7.5.1). What differs between the engines is only their patience: a client
//! under grading waits as a good client would, a load run keeps its polls short, a
//! conformance run never re-sends a request it broke on purpose and gives up on a 429
//! without Retry-After. So the patience is a [`Pacing`] value and the rules are
//! [`Pacing::next`] and [`Pacing::poll_wait`]; [`Session`] runs them over a
//! [`HttpClient`] for the engines that send well-formed requests (the runner, whose
//! requests are mutated one by one, drives [`Pacing`] from its own loop).

use super::http::{HttpClient, HttpError, NonceError, Response};
use super::jws::{FlattenedJws, KeyId, acme_protected_header};
use super::keys::SigningKey;
use super::wire::ProblemType;
use reqwest::Method;
use std::time::Duration;
use tokio::time::Instant;

/// The media type of every signed request (RFC 8555 §6.2).
pub const JOSE_JSON: &str = "application/jose+json";

/// How often a well-formed request is re-sent after `badNonce`, with the error's fresh
/// nonce (RFC 8555 §6.5): the client, the load generator and the runner alike.
pub const MAX_BAD_NONCE_RETRIES: u32 = 3;

/// How patient a session is. Every engine sets its own; the rules that use it are one.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// How often one request is re-sent after `badNonce` (RFC 8555 §6.5).
    pub bad_nonce_retries: u32,
    /// The statuses waited out before re-sending (RFC 8555 §6.6: 429, and 503); empty:
    /// the answer stands.
    pub wait_statuses: &'static [u16],
    /// How often one request is re-sent after such an answer.
    pub wait_retries: u32,
    /// The time all such waits of one scope may add up to (a session, or one request of
    /// the runner).
    pub wait_budget: Duration,
    /// The wait when such an answer has no usable Retry-After; `None`: give up instead.
    pub wait_without_retry_after: Option<Duration>,
    /// The shortest wait whatever Retry-After says: an HTTP-date already past is no
    /// invitation to hammer.
    pub wait_floor: Duration,
    /// The wait between polls when the answer has no Retry-After.
    pub poll_default: Duration,
    /// The range a wait between polls is kept in, Retry-After included.
    pub poll_floor: Duration,
    /// See [`Pacing::poll_floor`].
    pub poll_ceiling: Duration,
    /// How often [`Session::poll`] fetches before giving up.
    pub max_polls: u32,
    /// Ignore Retry-After and wait this instead, for waits and polls alike: the client
    /// defect that RFC 8555 §6.6 and §7.5.1 checks catch.
    pub impatient: Option<Duration>,
}

/// What to do with an answer, per [`Pacing::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The answer stands (a success, or an error not worth another try).
    Answer,
    /// Send the request again at once, with a fresh nonce (after `badNonce`).
    Resend,
    /// Wait this long, then send again.
    Wait(Duration),
    /// The server asks for a wait this session will not make.
    GiveUp(GiveUp),
}

/// Why a wait the server asked for is not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GiveUp {
    /// The answer has no usable Retry-After and the pacing does not guess one.
    #[error("no Retry-After, so not retried")]
    NoRetryAfter,
    /// The request was already re-sent as often as the pacing allows.
    #[error("already retried {0} times")]
    Retries(u32),
    /// The wait would pass the time all waits may add up to.
    #[error("waiting {}s more would pass the {}s all waits may take", .wait.as_secs(), .budget.as_secs())]
    Budget {
        /// The wait asked for.
        wait: Duration,
        /// The pacing's [`Pacing::wait_budget`].
        budget: Duration,
    },
    /// The wait would pass the session's deadline.
    #[error("waiting {wait:?} more would pass the deadline")]
    Deadline {
        /// The wait asked for.
        wait: Duration,
    },
}

/// The re-sends and waits of one scope so far (a request for the counts; the waited
/// time for as long as its budget runs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retries {
    /// `badNonce` answers re-sent.
    pub bad_nonces: u32,
    /// 429/503 answers waited out.
    pub waits: u32,
    /// Time spent waiting them out.
    pub waited: Duration,
}

impl Pacing {
    /// Decides what follows `resp`, counting in `tries`; `remaining` is the time left
    /// before the caller's deadline.
    pub fn next(&self, resp: &Response, tries: &mut Retries, remaining: Duration) -> Next {
        if resp.status < 400 {
            return Next::Answer;
        }
        if resp.problem().and_then(|p| p.problem_type()) == Some(ProblemType::BadNonce) {
            if tries.bad_nonces >= self.bad_nonce_retries {
                return Next::Answer;
            }
            tries.bad_nonces += 1;
            return Next::Resend;
        }
        if !self.wait_statuses.contains(&resp.status) {
            return Next::Answer;
        }
        let asked = resp.retry_after().map(|r| r.delay().max(self.wait_floor));
        let Some(wait) = self.impatient.or(asked).or(self.wait_without_retry_after) else {
            return Next::GiveUp(GiveUp::NoRetryAfter);
        };
        match self.may_wait(tries, wait, remaining) {
            Ok(()) => Next::Wait(wait),
            Err(why) => Next::GiveUp(why),
        }
    }

    /// Whether `wait` may be spent (and if so, counts it).
    fn may_wait(&self, tries: &mut Retries, wait: Duration, remaining: Duration) -> Result<(), GiveUp> {
        if tries.waits >= self.wait_retries {
            return Err(GiveUp::Retries(tries.waits));
        }
        if tries.waited + wait > self.wait_budget {
            return Err(GiveUp::Budget { wait, budget: self.wait_budget });
        }
        if wait > remaining {
            return Err(GiveUp::Deadline { wait });
        }
        tries.waits += 1;
        tries.waited += wait;
        Ok(())
    }

    /// How long to wait before polling again after `resp`: its Retry-After (RFC 8555
    /// §7.4, §7.5.1) or the default, kept within the floor and the ceiling.
    pub fn poll_wait(&self, resp: &Response) -> Duration {
        if let Some(impatient) = self.impatient {
            return impatient;
        }
        let wait = resp.retry_after().map(|r| r.delay()).unwrap_or(self.poll_default);
        wait.clamp(self.poll_floor, self.poll_ceiling)
    }
}

/// The key a request is signed with, and how the protected header names it (RFC 8555 §6.2).
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// `jwk`: newAccount, and revocation by the certificate's key.
    Jwk(&'a SigningKey),
    /// `kid`: the account key and the account URL.
    Kid(&'a SigningKey, &'a str),
}

impl Signer<'_> {
    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        match self {
            Signer::Jwk(key) | Signer::Kid(key, _) => key,
        }
    }

    /// The `jwk` or `kid` of the protected header.
    pub fn key_id(&self) -> KeyId {
        match self {
            Signer::Jwk(key) => KeyId::Jwk(key.jwk().clone()),
            Signer::Kid(_, kid) => KeyId::Kid((*kid).to_owned()),
        }
    }
}

/// Why a session could not get an answer that stands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No response came back.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// No nonce could be obtained.
    #[error(transparent)]
    Nonce(#[from] NonceError),
    /// The server asked for a wait the session will not make; its last answer.
    #[error("{}: {why}", .response.summary())]
    GaveUp {
        /// The answer that asked for the wait.
        response: Box<Response>,
        /// Why the wait is not made.
        why: GiveUp,
    },
    /// A poll did not reach a final status within [`Pacing::max_polls`] fetches.
    #[error("{url} still {status} after {polls} polls")]
    PollLimit {
        /// The resource polled.
        url: String,
        /// Its last status.
        status: String,
        /// How often it was fetched.
        polls: u32,
    },
    /// Waiting for the next poll would pass the session's deadline.
    #[error("{what}: waiting {wait:?} more would pass the deadline")]
    Deadline {
        /// What was being waited for.
        what: String,
        /// The wait asked for.
        wait: Duration,
    },
}

/// Where a poll stands, per the caller's reading of the answer.
#[derive(Debug)]
pub enum Polled<T> {
    /// Final: the poll ends with this.
    Done(T),
    /// Not yet: the status the resource still has.
    Pending(String),
}

/// One conversation with a CA: the HTTP client with its nonce pool, the newNonce URL,
/// the pacing and a deadline that no wait may pass.
#[derive(Debug)]
pub struct Session {
    http: HttpClient,
    new_nonce: String,
    pacing: Pacing,
    deadline: Instant,
    /// Waits for 429/503 so far; the budget runs for the whole session.
    waited: Duration,
    bad_nonce_retries: u64,
    last_nonce: Option<String>,
    lap_started: Instant,
}

impl Session {
    /// A session that gets its nonces from `new_nonce` and ends `timeout` from now.
    pub fn new(http: HttpClient, new_nonce: String, pacing: Pacing, timeout: Duration) -> Session {
        let now = Instant::now();
        Session {
            http,
            new_nonce,
            pacing,
            deadline: now + timeout,
            waited: Duration::ZERO,
            bad_nonce_retries: 0,
            last_nonce: None,
            lap_started: now,
        }
    }

    /// Names the newNonce URL, once the directory read through the session has given it.
    pub fn set_new_nonce(&mut self, url: String) {
        self.new_nonce = url;
    }

    /// The HTTP client (for its nonce pool and transcript).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `badNonce` answers re-sent so far.
    pub fn bad_nonce_retries(&self) -> u64 {
        self.bad_nonce_retries
    }

    /// The nonce of the last signed request sent.
    pub fn last_nonce(&self) -> Option<&str> {
        self.last_nonce.as_deref()
    }

    /// The time since the previous lap (or since the session began): a step's duration.
    pub fn lap(&mut self) -> Duration {
        let now = Instant::now();
        std::mem::replace(&mut self.lap_started, now).elapsed()
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sleeps `wait`, or fails when that would pass the deadline.
    pub async fn sleep(&self, wait: Duration, what: &str) -> Result<(), SessionError> {
        if wait > self.remaining() {
            return Err(SessionError::Deadline { what: what.to_owned(), wait });
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// How long to wait before polling again after `resp` ([`Pacing::poll_wait`]).
    pub fn poll_wait(&self, resp: &Response) -> Duration {
        self.pacing.poll_wait(resp)
    }

    /// What follows `resp` under the session's pacing, its wait budget shared by every
    /// request of the session.
    fn next(&mut self, resp: &Response, tries: &mut Retries) -> Next {
        tries.waited = self.waited;
        let next = self.pacing.next(resp, tries, self.remaining());
        self.waited = tries.waited;
        next
    }

    /// Acts on `next`: the answer when it stands, `None` to send again (after any wait).
    async fn follow(&mut self, next: Next, resp: Response) -> Result<Option<Response>, SessionError> {
        match next {
            Next::Answer => Ok(Some(resp)),
            Next::Resend => {
                self.bad_nonce_retries += 1;
                if resp.replay_nonce().is_none() {
                    tracing::debug!(url = %resp.url, "badNonce without a Replay-Nonce; asking newNonce");
                }
                Ok(None)
            }
            Next::Wait(wait) => {
                tracing::debug!(url = %resp.url, status = resp.status, ?wait, "waiting before retrying");
                tokio::time::sleep(wait).await;
                Ok(None)
            }
            Next::GiveUp(why) => Err(SessionError::GaveUp { response: Box::new(resp), why }),
        }
    }

    /// A plain GET, 429/503 waited out per the pacing.
    pub async fn get(&mut self, url: &str) -> Result<Response, SessionError> {
        let mut tries = Retries::default();
        loop {
            let resp = self.http.get(url).await?;
            let next = self.next(&resp, &mut tries);
            if let Some(resp) = self.follow(next, resp).await? {
                return Ok(resp);
            }
        }
    }

    /// The nonce for the next signed request (RFC 8555 §6.5): the freshest one
    /// received (after `badNonce`, the error's own), else one from newNonce, whose
    /// 429/503 are waited out as the pacing would without a Retry-After.
    pub async fn nonce(&mut self) -> Result<String, SessionError> {
        let mut tries = Retries { waited: self.waited, ..Retries::default() };
        loop {
            match self.http.nonce(&self.new_nonce).await {
                Ok(n) => return Ok(n),
                Err(NonceError::Missing { status }) if self.pacing.wait_statuses.contains(&status) => {
                    // Not worth a second request to learn the Retry-After.
                    let given_up = SessionError::from(NonceError::Missing { status });
                    let Some(wait) = self.pacing.impatient.or(self.pacing.wait_without_retry_after) else {
                        return Err(given_up);
                    };
                    if self.pacing.may_wait(&mut tries, wait, self.remaining()).is_err() {
                        return Err(given_up);
                    }
                    self.waited = tries.waited;
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends one signed request until its answer stands: `body` makes the request body
    /// for each nonce (so a caller can bend it), `badNonce` is re-sent with a fresh
    /// nonce and 429/503 are waited out per the pacing. Any answer that stands is
    /// returned, error statuses included.
    pub async fn send_signed(
        &mut self,
        url: &str,
        headers: &[(String, String)],
        mut body: impl FnMut(&str) -> Vec<u8>,
    ) -> Result<Response, SessionError> {
        let mut tries = Retries::default();
        loop {
            let nonce = self.nonce().await?;
            let bytes = body(&nonce);
            self.last_nonce = Some(nonce);
            let resp = self.http.send(Method::POST, url, headers, Some(bytes)).await?;
            let next = self.next(&resp, &mut tries);
            if let Some(resp) = self.follow(next, resp).await? {
                return Ok(resp);
            }
        }
    }

    /// A signed POST of `payload` (empty: POST-as-GET, RFC 8555 §6.3) as RFC 8555 §6.2
    /// has it: flattened JSON serialization, `application/jose+json`.
    pub async fn post(&mut self, url: &str, signer: Signer<'_>, payload: &[u8]) -> Result<Response, SessionError> {
        let headers = [("content-type".to_owned(), JOSE_JSON.to_owned())];
        let key_id = signer.key_id();
        self.send_signed(url, &headers, |nonce| {
            let header = acme_protected_header(signer.key().alg(), &key_id, Some(nonce), url);
            let jws = FlattenedJws::sign(signer.key(), &header, payload).to_value();
            serde_json::to_vec(&jws).expect("JSON values serialize")
        })
        .await
    }

    /// POST-as-GETs `url` until `judge` calls the answer final, waiting per
    /// [`Pacing::poll_wait`] in between, at most [`Pacing::max_polls`] times and never
    /// past the deadline.
    pub async fn poll<T, E: From<SessionError>>(
        &mut self,
        url: &str,
        signer: Signer<'_>,
        mut judge: impl FnMut(&Response) -> Result<Polled<T>, E>,
    ) -> Result<T, E> {
        let mut status = String::new();
        for poll in 1..=self.pacing.max_polls {
            let resp = self.post(url, signer, b"").await?;
            match judge(&resp)? {
                Polled::Done(done) => return Ok(done),
                Polled::Pending(still) => status = still,
            }
            if poll < self.pacing.max_polls {
                self.sleep(self.poll_wait(&resp), &format!("polling {url}")).await?;
            }
        }
        Err(SessionError::PollLimit { url: url.to_owned(), status, polls: self.pacing.max_polls }.into())
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn answer(status: u16, problem: Option<&str>, retry_after: Option<&str>) -> Response {
        let mut headers = HeaderMap::new();
        let mut body = Vec::new();
        if let Some(kind) = problem {
            headers.insert("content-type", HeaderValue::from_static("application/problem+json"));
            body = format!(r#"{{"type":"urn:ietf:params:acme:error:{kind}","detail":"x"}}"#).into_bytes();
        }
        if let Some(r) = retry_after {
            headers.insert("retry-after", HeaderValue::from_str(r).unwrap());
        }
        Response {
            method: Method::POST,
            url: "https://ca.test/x".into(),
            status,
            headers,
            body: body.into(),
            version: reqwest::Version::HTTP_11,
        }
    }

    fn patient() -> Pacing {
        Pacing {
            bad_nonce_retries: 2,
            wait_statuses: &[429, 503],
            wait_retries: 2,
            wait_budget: Duration::from_secs(10),
            wait_without_retry_after: Some(Duration::from_secs(1)),
            wait_floor: Duration::from_millis(500),
            poll_default: Duration::from_secs(1),
            poll_floor: Duration::from_millis(250),
            poll_ceiling: Duration::from_secs(3),
            max_polls: 5,
            impatient: None,
        }
    }

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn bad_nonce_is_resent_as_often_as_the_pacing_allows() {
        let (pacing, mut tries) = (patient(), Retries::default());
        let bad_nonce = answer(400, Some("badNonce"), None);
        assert_eq!(pacing.next(&bad_nonce, &mut tries, LONG), Next::Resend);
        assert_eq!(pacing.next(&bad_nonce, &mut tries, LONG), Next::Resend);
        assert_eq!(pacing.next(&bad_nonce, &mut tries, LONG), Next::Answer);
        assert_eq!(tries.bad_nonces, 2);
        // Any other error, and any success, stands.
        assert_eq!(pacing.next(&answer(403, Some("unauthorized"), None), &mut tries, LONG), Next::Answer);
        assert_eq!(pacing.next(&answer(200, None, None), &mut tries, LONG), Next::Answer);
    }

    #[test]
    fn rate_limits_wait_for_retry_after_within_count_budget_and_deadline() {
        let pacing = patient();
        let mut tries = Retries::default();
        assert_eq!(pacing.next(&answer(429, Some("rateLimited"), Some("3")), &mut tries, LONG), Next::Wait(Duration::from_secs(3)));
        // An HTTP-date already past is held to the floor; no Retry-After takes the default.
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(pacing.next(&answer(503, None, Some(past)), &mut tries, LONG), Next::Wait(Duration::from_millis(500)));
        assert_eq!(pacing.next(&answer(503, None, None), &mut tries, LONG), Next::GiveUp(GiveUp::Retries(2)));
        assert_eq!(tries.waited, Duration::from_millis(3500));

        let mut tries = Retries { waited: Duration::from_secs(8), ..Retries::default() };
        let wait = Duration::from_secs(3);
        let budget = Duration::from_secs(10);
        assert_eq!(pacing.next(&answer(429, None, Some("3")), &mut tries, LONG), Next::GiveUp(GiveUp::Budget { wait, budget }));
        let mut tries = Retries::default();
        assert_eq!(pacing.next(&answer(429, None, Some("3")), &mut tries, Duration::from_secs(2)), Next::GiveUp(GiveUp::Deadline { wait }));
        // A status the pacing does not wait out stands.
        assert_eq!(Pacing { wait_statuses: &[429], ..patient() }.next(&answer(503, None, Some("1")), &mut tries, LONG), Next::Answer);
    }

    #[test]
    fn without_a_default_a_missing_retry_after_gives_up() {
        let pacing = Pacing { wait_without_retry_after: None, ..patient() };
        assert_eq!(pacing.next(&answer(429, None, None), &mut Retries::default(), LONG), Next::GiveUp(GiveUp::NoRetryAfter));
    }

    #[test]
    fn polls_wait_per_retry_after_within_floor_and_ceiling_unless_impatient() {
        let pacing = patient();
        assert_eq!(pacing.poll_wait(&answer(200, None, Some("2"))), Duration::from_secs(2));
        assert_eq!(pacing.poll_wait(&answer(200, None, Some("60"))), Duration::from_secs(3));
        assert_eq!(pacing.poll_wait(&answer(200, None, Some("0"))), Duration::from_millis(250));
        assert_eq!(pacing.poll_wait(&answer(200, None, None)), Duration::from_secs(1));
        let impatient = Pacing { impatient: Some(Duration::from_millis(50)), ..patient() };
        assert_eq!(impatient.poll_wait(&answer(200, None, Some("2"))), Duration::from_millis(50));
        let mut tries = Retries::default();
        assert_eq!(impatient.next(&answer(429, None, Some("30")), &mut tries, LONG), Next::Wait(Duration::from_millis(50)));
    }
}
