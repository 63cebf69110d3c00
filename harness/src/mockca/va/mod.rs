//! The mock CA's validation authority: it decides whether a challenge passed.
//!
//! The mock CA is the reference every scenario is checked against, so its
//! validator must be strict where the RFCs say MUST (one SAN, critical
//! acmeIdentifier, only `acme-tls/1`, no dns-01 for IPs) and lenient where they
//! say SHOULD (trailing whitespace, redirects). It is written independently of
//! the responders in `crate::responders` (it even has its own reverse-DNS
//! naming), so a misreading of the RFC on the client side is not silently
//! mirrored here.
//!
//! It is also an SSRF surface (RFC 8555 §10.4): whoever controls an identifier
//! controls where the validator connects. A test harness runs next to other
//! services, so by default only loopback addresses are ever connected to, and
//! every redirect hop is re-checked, IP literals included; `allow_remote` lifts
//! that for deliberate use against real hosts.
//!
//! Problem types (RFC 8555 §6.7), chosen by *what went wrong* so they are the
//! same across challenge types:
//! - `dns`: name resolution failed (SERVFAIL, timeout, no A/AAAA at all);
//! - `connection`: nothing usable answered (refused, unreachable, timed out,
//!   too many redirects, a redirect to an unusable URL) or the target was
//!   refused because it is not loopback;
//! - `tls`: the tls-alpn-01 handshake failed or did not negotiate `acme-tls/1`;
//! - `incorrectResponse`: an answer arrived but does not meet the challenge's
//!   requirements — wrong or oversized http-01 body, a non-200 final HTTP
//!   status, no matching TXT record (NXDOMAIN/NODATA included), wrong
//!   tls-alpn-01 certificate content. Boulder and Pebble report most of these
//!   as `unauthorized`; §6.7 defines `unauthorized` as the *client* lacking
//!   authorization for a request, while `incorrectResponse` is exactly "response
//!   received didn't match the challenge's requirements", so that is used;
//! - `malformed`: the validation request itself cannot be carried out (unknown
//!   challenge type, dns-01 for an `ip` identifier — RFC 8738 §7, http-01 or
//!   tls-alpn-01 for a wildcard — RFC 8555 §7.1.3, an unusable token or value);
//! - `unsupportedIdentifier`: an identifier type other than `dns`/`ip`;
//! - `serverInternal`: the validator could not set itself up.
//!
//! A failed query is retried (RFC 8555 §8.2: "the server SHOULD retry the
//! query after some time"): the challenge stays `processing` with an `error`
//! that gains a subproblem per failed query, a client POST retries at once at
//! most once per retry interval, and the challenge becomes `invalid` after a
//! few queries. The interval is short so cases exercising retries stay fast.
//!
//! Switchable defects ([`Defect`]) make it deviate in the validation requests
//! themselves (Host, SNI, ALPN, DNS use, connection handling), which only the
//! runner's responders can see.
//!
//! Problems carry no `status`: they describe a validation, not an HTTP
//! response, and are meant to become challenge errors or subproblems; the WFE
//! picks a status if it ever promotes one to a top-level problem.

mod dns;
mod http01;
#[cfg(test)]
mod test_support;
mod tls_alpn01;

use dns::{is_host_name, system_nameservers};

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::{Resolver, TokioResolver};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use url::{Host, Url};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME;

use super::defects::{Defect, DefectSet};
use crate::protocol::jwk::dns01_txt_value;
use crate::protocol::wire::{Identifier, Problem, ProblemType};

/// The most http-01 body bytes read; a key authorization is well under 200.
const HTTP_BODY_LIMIT: usize = 8 * 1024;

/// Redirects followed per http-01 validation (RFC 8555 §8.3: SHOULD follow).
const MAX_REDIRECTS: usize = 10;

/// The only ALPN protocol offered for tls-alpn-01 (RFC 8737 §6.2).
const ACME_TLS_1: &[u8] = b"acme-tls/1";

/// DER content of the id-pe-acmeIdentifier OID, 1.3.6.1.5.5.7.1.31 (RFC 8737 §6.1).
const ID_PE_ACME_IDENTIFIER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];

/// Upper bound for the close_notify sent after a tls-alpn-01 handshake.
const TLS_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the [`Defect::TlsAlpn01Lingers`] validator keeps the connection.
const TLS_LINGER: Duration = Duration::from_secs(5);

/// What the [`Defect::TlsAlpn01DataAfterHandshake`] validator sends.
const DATA_AFTER_HANDSHAKE: &[u8] = b"GET / HTTP/1.1\r\nHost: acmespec\r\n\r\n";

/// How the validation authority reaches applicants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VaConfig {
    /// Port for http-01 (RFC 8555 §8.3 mandates 80; tests use the responder's).
    pub(crate) http_port: u16,
    /// Port for tls-alpn-01 (RFC 8737 §3 mandates 443).
    pub(crate) tls_port: u16,
    /// DNS server for A/AAAA/TXT lookups (UDP, TCP fallback); `None` uses the
    /// `nameserver` lines of `/etc/resolv.conf`.
    pub(crate) resolver: Option<SocketAddr>,
    /// Connect to non-loopback addresses too (off by default: SSRF, §10.4).
    pub(crate) allow_remote: bool,
    /// Bound on one whole validation: lookups, redirects, handshakes, bodies.
    pub(crate) timeout: Duration,
}

impl Default for VaConfig {
    fn default() -> Self {
        VaConfig {
            http_port: 80,
            tls_port: 443,
            resolver: None,
            allow_remote: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Validates http-01, dns-01 and tls-alpn-01 challenges. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ValidationAuthority {
    config: VaConfig,
    /// Name servers to query, or why there are none (reported as `dns`).
    nameservers: Arc<Result<Vec<SocketAddr>, String>>,
    defects: Arc<DefectSet>,
    /// Challenges whose validation is still going on, by challenge id.
    retries: Arc<Mutex<HashMap<String, Retrying>>>,
}

impl ValidationAuthority {
    /// A validator with `config`; never fails (a missing system resolver
    /// configuration surfaces as a `dns` problem when a lookup is needed).
    pub(crate) fn new(config: VaConfig) -> Self {
        let nameservers = match config.resolver {
            Some(addr) => Ok(vec![addr]),
            None => system_nameservers(),
        };
        ValidationAuthority {
            config,
            nameservers: Arc::new(nameservers),
            defects: Arc::new(DefectSet::default()),
            retries: Arc::default(),
        }
    }

    /// The same validator, deviating as the (shared, switchable) `defects` say.
    pub(crate) fn with_defects(mut self, defects: Arc<DefectSet>) -> Self {
        self.defects = defects;
        self
    }

    fn has(&self, defect: Defect) -> bool {
        self.defects.has(defect)
    }

    /// Runs one validation of `challenge_type` for `identifier`.
    ///
    /// `key_authorization` is the value the CA computed (RFC 8555 §8.1).
    /// Bounded by [`VaConfig::timeout`]; an overrun is a `connection` problem.
    ///
    /// # Errors
    ///
    /// A problem whose type is in the ACME namespace, with a detail and
    /// `identifier` set, ready to be a challenge error or a subproblem.
    pub(crate) async fn validate(
        &self,
        identifier: &Identifier,
        challenge_type: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), Problem> {
        let work = async {
            let target = Target::parse(identifier)?;
            match challenge_type {
                "http-01" => self.http01(&target, token, key_authorization).await,
                "dns-01" => self.dns01(&target, key_authorization).await,
                "tls-alpn-01" => self.tls_alpn01(&target, key_authorization).await,
                other => Err(Failure::new(
                    ProblemType::Malformed,
                    format!("unknown challenge type {other:?}"),
                )),
            }
        };
        let outcome = match tokio::time::timeout(self.config.timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                ProblemType::Connection,
                format!(
                    "{challenge_type} validation did not complete within {:?}",
                    self.config.timeout
                ),
            )),
        };
        outcome.map_err(|failure| failure.into_problem(identifier))
    }

    // ---- retrying (RFC 8555 §8.2) ----

    /// Registers `challenge_id` as being validated and returns the work that
    /// validates it until it settles, with a receiver of the number of queries
    /// made so far (it changes after `record` has seen each one).
    ///
    /// A failed query is retried [`RETRY_INTERVAL`] later, or at once when
    /// [`Self::retry_now`] is called, up to [`MAX_ATTEMPTS`] queries. `record` is
    /// told about every query; it returns `false` when the challenge is no longer
    /// processing (its authorization was deactivated or expired), which ends the work.
    pub(crate) fn validation_task(
        &self,
        challenge_id: &str,
        request: ValidationRequest,
        mut record: impl FnMut(Progress) -> bool + Send + 'static,
    ) -> (
        watch::Receiver<u32>,
        impl Future<Output = ()> + Send + 'static,
    ) {
        let (queries, seen) = watch::channel(0);
        let wake = Arc::new(Notify::new());
        lock(&self.retries).insert(
            challenge_id.to_owned(),
            Retrying {
                next_query: None,
                last_forced: None,
                wake: Arc::clone(&wake),
                queries,
            },
        );
        let va = self.clone();
        let challenge_id = challenge_id.to_owned();
        let work = async move {
            let max = if va.has(Defect::VaNoRetry) {
                1
            } else {
                MAX_ATTEMPTS
            };
            let mut failures = Vec::new();
            for query in 1..=max {
                let result = va
                    .validate(
                        &request.identifier,
                        &request.challenge_type,
                        &request.token,
                        &request.key_authorization,
                    )
                    .await;
                let progress = match result {
                    Ok(()) => Progress::Valid,
                    Err(problem) => {
                        failures.push(problem);
                        va.failure_progress(&failures, query == max)
                    }
                };
                let next = Instant::now() + RETRY_INTERVAL;
                let settled = !matches!(progress, Progress::Retrying(_));
                va.update(&challenge_id, |r| r.next_query = (!settled).then_some(next));
                let processing = record(progress);
                va.update(&challenge_id, |r| {
                    r.queries.send_replace(query);
                });
                if settled || !processing {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = wake.notified() => {}
                }
            }
            lock(&va.retries).remove(&challenge_id);
        };
        (seen, work)
    }

    /// What the challenge shows after the failed queries so far (`last`: no more follow).
    ///
    /// §8.2 says the server "MUST add an entry to the "error" field in the
    /// challenge after each failed validation query", and §8 says "Multiple
    /// errors can be indicated by using subproblems": the error is a problem
    /// whose subproblems are the failed queries, oldest first, each naming the
    /// identifier (which §6.7.1 allows only in subproblems). Its own type is the
    /// latest query's.
    fn failure_progress(&self, failures: &[Problem], last: bool) -> Progress {
        let latest = failures.last().cloned().unwrap_or_default();
        let error = if self.has(Defect::RetryErrorReplaced) {
            latest
        } else {
            let outcome = if last { "giving up" } else { "retrying" };
            Problem {
                kind: latest.kind.clone(),
                detail: Some(format!(
                    "{} of at most {MAX_ATTEMPTS} validation queries failed, {outcome}; the latest: {}",
                    failures.len(),
                    latest.detail.as_deref().unwrap_or("no detail"),
                )),
                subproblems: failures.to_vec(),
                ..Problem::default()
            }
        };
        if last {
            Progress::Invalid(error)
        } else {
            Progress::Retrying((!self.has(Defect::RetryNoError)).then_some(error))
        }
    }

    fn update(&self, challenge_id: &str, change: impl FnOnce(&mut Retrying)) {
        if let Some(r) = lock(&self.retries).get_mut(challenge_id) {
            change(r);
        }
    }

    /// A client asked for a retry by POSTing to the challenge again (§8.2:
    /// servers "SHOULD retry a request immediately" and "SHOULD rate-limit such
    /// requests"): wakes the validation unless one was forced within the last
    /// [`RETRY_INTERVAL`]. Returns a receiver that changes once that query is
    /// recorded, or `None` when no retry was started.
    pub(crate) fn retry_now(&self, challenge_id: &str) -> Option<watch::Receiver<u32>> {
        if self.has(Defect::RepostIgnored) {
            return None;
        }
        let mut retries = lock(&self.retries);
        let r = retries.get_mut(challenge_id)?;
        let now = Instant::now();
        let limited = r.last_forced.is_some_and(|t| now < t + RETRY_INTERVAL);
        if limited && !self.has(Defect::RepostNotRateLimited) {
            return None;
        }
        r.last_forced = Some(now);
        r.wake.notify_one();
        Some(r.queries.subscribe())
    }

    /// Retry-After seconds for a processing challenge: past its next query
    /// (§8.2: "a time after the server's next validation query"), or
    /// `fallback` while no query has failed yet; `None` under
    /// [`Defect::RetryNoRetryAfter`].
    pub(crate) fn retry_after(&self, challenge_id: &str, fallback: u32) -> Option<u32> {
        if self.has(Defect::RetryNoRetryAfter) {
            return None;
        }
        if self.has(Defect::RetryAfterTooEarly) {
            return Some(0);
        }
        let next = lock(&self.retries)
            .get(challenge_id)
            .and_then(|r| r.next_query);
        let Some(next) = next else {
            return Some(fallback);
        };
        // Whole seconds, rounded up, with time for the query itself to finish.
        let remaining = next.saturating_duration_since(Instant::now()) + QUERY_ALLOWANCE;
        let secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
        Some(u32::try_from(secs).unwrap_or(u32::MAX))
    }
}

/// What one http-01 fetch produced.
enum Fetched {
    Body(Vec<u8>),
    TooLarge,
    Status(u16),
    Redirect(u16, Option<String>),
}

/// The identifier, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Lower-case name without trailing dot; `*.` removed and noted.
    Dns {
        name: String,
        wildcard: bool,
    },
    Ip(IpAddr),
}

impl Target {
    fn parse(identifier: &Identifier) -> Result<Target, Failure> {
        match identifier.kind.as_str() {
            "dns" => {
                let lowered = identifier.value.to_ascii_lowercase();
                let (wildcard, rest) = match lowered.strip_prefix("*.") {
                    Some(rest) => (true, rest),
                    None => (false, lowered.as_str()),
                };
                let name = rest.strip_suffix('.').unwrap_or(rest);
                if !is_host_name(name) {
                    return Err(Failure::new(
                        ProblemType::Malformed,
                        format!("{:?} is not a valid DNS name", identifier.value),
                    ));
                }
                if name.parse::<IpAddr>().is_ok() {
                    return Err(Failure::new(
                        ProblemType::Malformed,
                        format!(
                            "{:?} is an IP address; use an ip identifier (RFC 8738)",
                            identifier.value
                        ),
                    ));
                }
                Ok(Target::Dns {
                    name: name.to_owned(),
                    wildcard,
                })
            }
            "ip" => identifier
                .value
                .parse::<IpAddr>()
                .map(Target::Ip)
                .map_err(|_| {
                    Failure::new(
                        ProblemType::Malformed,
                        format!("{:?} is not an IP address (RFC 8738 §3)", identifier.value),
                    )
                }),
            other => Err(Failure::new(
                ProblemType::UnsupportedIdentifier,
                format!("identifier type {other:?} is not supported"),
            )),
        }
    }

    fn matches_host(&self, host: Option<Host<&str>>) -> bool {
        match (self, host) {
            (Target::Dns { name, .. }, Some(Host::Domain(d))) => d == name,
            (Target::Ip(IpAddr::V4(ip)), Some(Host::Ipv4(h))) => *ip == h,
            (Target::Ip(IpAddr::V6(ip)), Some(Host::Ipv6(h))) => *ip == h,
            _ => false,
        }
    }
}

/// A failed validation before it is attached to an identifier.
#[derive(Debug)]
struct Failure {
    kind: ProblemType,
    detail: String,
}

type Outcome = Result<(), Failure>;

impl Failure {
    fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    /// Appends the redirect chain that led here, if any.
    fn via(mut self, trail: &[String]) -> Self {
        if !trail.is_empty() {
            self.detail = format!(
                "{} (after redirects from {})",
                self.detail,
                trail.join(" -> ")
            );
        }
        self
    }

    fn into_problem(self, identifier: &Identifier) -> Problem {
        Problem {
            kind: Some(self.kind.urn()),
            detail: Some(self.detail),
            identifier: Some(identifier.clone()),
            ..Problem::default()
        }
    }
}

fn wildcard_refused(challenge: &str) -> Failure {
    Failure::new(
        ProblemType::Malformed,
        format!(
            "{challenge} cannot validate a wildcard identifier; only dns-01 can (RFC 8555 §7.1.3)"
        ),
    )
}

fn is_base64url(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A short, escaped rendering of peer-supplied bytes for a problem detail.
fn quote_bytes(bytes: &[u8]) -> String {
    const SHOWN: usize = 100;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]);
    let ellipsis = if bytes.len() > SHOWN { "..." } else { "" };
    format!("\"{}\"{ellipsis}", text.escape_debug())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An error and its sources, joined with ": ".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

/// How long the mock CA waits before retrying a failed validation query. §8.2
/// suggests "every 5 or 10 seconds" for real provisioning delays; two seconds
/// keep the retry cases fast while leaving the client-triggered retries of
/// `rfc8555/8.2/repost-rate-limited` (0.3 s apart) clear of the scheduled one even
/// on a loaded machine.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// How long a failed query against a local responder takes at most, for Retry-After.
const QUERY_ALLOWANCE: Duration = Duration::from_millis(250);

/// Validation queries made for one challenge response before it becomes invalid.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// What one validation must find: the challenge, and the key authorization the
/// CA computed (RFC 8555 §8.1).
#[derive(Debug, Clone)]
pub(crate) struct ValidationRequest {
    pub(crate) identifier: Identifier,
    pub(crate) challenge_type: String,
    pub(crate) token: String,
    pub(crate) key_authorization: String,
}

pub(crate) use super::core::Progress;

/// The retry state of a challenge being validated.
#[derive(Debug)]
struct Retrying {
    /// When the next scheduled query is due, once one failed.
    next_query: Option<Instant>,
    /// When the client last forced an immediate retry (§8.2 rate limit).
    last_forced: Option<Instant>,
    wake: Arc<Notify>,
    /// Queries recorded so far.
    queries: watch::Sender<u32>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::test_support::*;
    use super::*;

    #[test]
    fn defaults_match_the_rfc_ports() {
        let c = VaConfig::default();
        assert_eq!(
            (c.http_port, c.tls_port, c.resolver, c.allow_remote),
            (80, 443, None, false)
        );
        assert_eq!(c.timeout, Duration::from_secs(10));
    }

    #[test]
    fn validate_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let va = ValidationAuthority::new(VaConfig::default());
        let id = Identifier::dns("a.test");
        let future = va.validate(&id, "http-01", TOKEN, KEY_AUTH);
        assert_send(&future);
    }

    #[tokio::test]
    async fn unknown_challenge_type_and_identifiers_are_refused() {
        let r = responders().await;
        let va = va(&r);
        let id = Identifier::dns("a.test");
        let p = expect_problem(validate(&va, &id, "http-02").await, "malformed", &[]);
        assert_eq!(
            p.identifier.as_ref(),
            Some(&id),
            "problem names the identifier"
        );
        assert!(p.status.is_none());
        let email = Identifier {
            kind: "email".into(),
            value: "a@a.test".into(),
        };
        let result = validate(&va, &email, "http-01").await;
        expect_problem(result, "unsupportedIdentifier", &[]);
        for bad in [
            "a.test/x",
            "a..test",
            "",
            "a test",
            "1.2.3.4",
            "a.test:80",
            "a@b.test",
        ] {
            let result = validate(&va, &Identifier::dns(bad), "http-01").await;
            expect_problem(result, "malformed", &[]);
        }
        let result = validate(&va, &Identifier::ip("localhost"), "http-01").await;
        expect_problem(result, "malformed", &[]);
        for token in ["../x", ""] {
            let result = va.validate(&id, "http-01", token, KEY_AUTH).await;
            expect_problem(result, "malformed", &[]);
        }
    }

    // ---- retrying ----

    fn request_for(token: &str) -> ValidationRequest {
        ValidationRequest {
            identifier: Identifier::dns("a.test"),
            challenge_type: "http-01".into(),
            token: token.into(),
            key_authorization: KEY_AUTH.into(),
        }
    }

    #[tokio::test]
    async fn failed_queries_are_retried_with_an_entry_each_until_valid() {
        let r = responders().await;
        let va = va(&r);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (mut queries, work) = va.validation_task("c1", request_for(TOKEN), move |p| {
            let _ = tx.send(p);
            true
        });
        let started = Instant::now();
        let task = tokio::spawn(work);
        queries.changed().await.unwrap();
        let Some(Progress::Retrying(Some(error))) = rx.recv().await else {
            panic!("the first failure keeps the challenge processing with an error");
        };
        assert_eq!(error.subproblems.len(), 1);
        assert!(
            error.identifier.is_none(),
            "§6.7.1: no identifier at the top level"
        );
        let wait = va.retry_after("c1", 9).unwrap();
        let interval = u32::try_from(RETRY_INTERVAL.as_secs()).unwrap();
        assert!(
            (interval..=interval + 1).contains(&wait),
            "Retry-After {wait} should just pass the next query, {interval} s away"
        );
        // The first forced retry runs at once; a second within the interval is refused.
        assert!(va.retry_now("c1").is_some());
        assert!(va.retry_now("c1").is_none());
        let Some(Progress::Retrying(Some(error))) = rx.recv().await else {
            panic!("the forced retry fails too");
        };
        assert_eq!(error.subproblems.len(), 2);
        assert!(started.elapsed() < RETRY_INTERVAL);
        r.http01().provision(TOKEN, KEY_AUTH);
        assert!(matches!(rx.recv().await, Some(Progress::Valid)));
        assert!(started.elapsed() >= RETRY_INTERVAL);
        task.await.unwrap();
        assert!(
            va.retry_now("c1").is_none(),
            "a settled challenge is not retried"
        );
    }

    #[tokio::test]
    async fn the_last_failed_query_makes_the_challenge_invalid() {
        let r = responders().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (_, work) = va(&r).validation_task("c2", request_for(TOKEN), move |p| {
            let _ = tx.send(p);
            true
        });
        tokio::spawn(work);
        for _ in 1..MAX_ATTEMPTS {
            assert!(matches!(rx.recv().await, Some(Progress::Retrying(Some(_)))));
        }
        let Some(Progress::Invalid(error)) = rx.recv().await else {
            panic!("the challenge becomes invalid after {MAX_ATTEMPTS} queries");
        };
        assert_eq!(error.subproblems.len(), MAX_ATTEMPTS as usize);
        assert!(rx.recv().await.is_none(), "no query after giving up");
    }
}
