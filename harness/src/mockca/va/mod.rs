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

    // ---- http-01 (RFC 8555 §8.3, RFC 8738 §5) ----

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
    use super::tls_alpn01::{der_element, reverse_name, spki_of, split_spki};
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Instant;

    use rcgen::{CertificateParams, CustomExtension, KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::responders::{AlpnIdentifier, Responders};

    const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    const KEY_AUTH: &str =
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";
    const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    async fn responders() -> Responders {
        let lo = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Responders::start(lo, lo, lo)
            .await
            .expect("responders start")
    }

    fn config(r: &Responders) -> VaConfig {
        VaConfig {
            http_port: r.http01().local_addr().port(),
            tls_port: r.tls_alpn().local_addr().port(),
            resolver: Some(r.dns().local_addr()),
            allow_remote: false,
            timeout: Duration::from_secs(5),
        }
    }

    fn va(r: &Responders) -> ValidationAuthority {
        ValidationAuthority::new(config(r))
    }

    #[track_caller]
    fn expect_problem(result: Result<(), Problem>, kind: &str) -> Problem {
        let problem = result.expect_err("validation should fail");
        assert_eq!(
            problem.kind.as_deref(),
            Some(format!("{}{kind}", crate::protocol::wire::ERROR_NS).as_str()),
            "unexpected problem: {problem:?}"
        );
        assert!(problem.detail.as_deref().is_some_and(|d| !d.is_empty()));
        problem
    }

    fn detail(problem: &Problem) -> &str {
        problem.detail.as_deref().unwrap_or_default()
    }

    /// A port nothing listens on (bound, then released).
    async fn closed_port() -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A tiny HTTP server answering every request with `response` (raw
    /// bytes), or never answering at all when it is `None`.
    async fn raw_http(response: Option<Vec<u8>>) -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    match response {
                        Some(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                            let _ = socket.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        port
    }

    fn http_response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
        let mut bytes = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    fn acme_extension(key_authorization: &str) -> CustomExtension {
        let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
        CustomExtension::new_acme_identifier(digest.as_ref())
    }

    fn dns_san(name: &str) -> SanType {
        SanType::DnsName(name.try_into().unwrap())
    }

    /// A self-signed P-256 certificate with `sans` and `extensions`, and its key.
    fn certificate(
        sans: Vec<SanType>,
        extensions: Vec<CustomExtension>,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.custom_extensions = extensions;
        let cert = params.self_signed(&key).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    /// A TLS server with the given versions and ALPN list serving one certificate.
    async fn tls_server(
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: Vec<Vec<u8>>,
        cert: CertificateDer<'static>,
        key: &PrivateKeyDer<'static>,
    ) -> u16 {
        let signing = rustls::crypto::ring::sign::any_supported_type(key).unwrap();
        let certified = rustls::sign::CertifiedKey::new(vec![cert], signing);
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
        config.alpn_protocols = alpn;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(socket).await {
                        let mut buf = [0u8; 64];
                        let _ = tls.read(&mut buf).await;
                    }
                });
            }
        });
        port
    }

    // ---- general ----

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

    #[test]
    fn reverse_names_follow_rfc_8738() {
        assert_eq!(
            reverse_name(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "1.0.0.127.in-addr.arpa"
        );
        // The example of RFC 8738 §6.
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            reverse_name(IpAddr::V6(v6)),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            reverse_name(IpAddr::V6(v6)),
            crate::responders::reverse_dns_name(IpAddr::V6(v6))
        );
    }

    #[test]
    fn spki_is_split_into_algorithm_and_key() {
        let (cert, _) = certificate(vec![dns_san("a.test")], vec![]);
        let spki = spki_of(&cert).unwrap();
        let (alg, key) = split_spki(&spki).unwrap();
        assert_eq!(alg, webpki_p256_alg_id());
        assert_eq!(key.len(), 65);
        assert_eq!(key[0], 0x04);
        assert!(split_spki(&spki[..spki.len() - 1]).is_none());
        assert!(der_element(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    fn webpki_p256_alg_id() -> Vec<u8> {
        // id-ecPublicKey, secp256r1
        let mut v = vec![0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        v.extend_from_slice(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        v
    }

    #[tokio::test]
    async fn unknown_challenge_type_and_identifiers_are_refused() {
        let r = responders().await;
        let va = va(&r);
        let id = Identifier::dns("a.test");
        let p = expect_problem(
            va.validate(&id, "http-02", TOKEN, KEY_AUTH).await,
            "malformed",
        );
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
        expect_problem(
            va.validate(&email, "http-01", TOKEN, KEY_AUTH).await,
            "unsupportedIdentifier",
        );
        for bad in [
            "a.test/x",
            "a..test",
            "",
            "a test",
            "1.2.3.4",
            "a.test:80",
            "a@b.test",
        ] {
            expect_problem(
                va.validate(&Identifier::dns(bad), "http-01", TOKEN, KEY_AUTH)
                    .await,
                "malformed",
            );
        }
        expect_problem(
            va.validate(&Identifier::ip("localhost"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "malformed",
        );
        expect_problem(
            va.validate(&id, "http-01", "../x", KEY_AUTH).await,
            "malformed",
        );
        expect_problem(va.validate(&id, "http-01", "", KEY_AUTH).await, "malformed");
    }

    // ---- http-01 ----

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

    #[tokio::test]
    async fn http01_good_key_authorization_passes() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        va(&r)
            .validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
        let seen = r.http01().history();
        let last = seen.last().expect("the responder saw the request");
        assert_eq!(last.path, format!("/.well-known/acme-challenge/{TOKEN}"));
        let port = r.http01().local_addr().port();
        assert_eq!(
            last.host.as_deref(),
            Some(format!("a.test:{port}").as_str())
        );
        // Upper case and a trailing dot name the same host.
        va(&r)
            .validate(&Identifier::dns("A.Test."), "http-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn http01_ip_identifier_connects_directly() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        r.dns().set_default_ipv4(None);
        va(&r)
            .validate(&Identifier::ip("127.0.0.1"), "http-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
        let port = r.http01().local_addr().port();
        let last = r.http01().history().pop().unwrap();
        assert_eq!(
            last.host.as_deref(),
            Some(format!("127.0.0.1:{port}").as_str())
        );
    }

    #[tokio::test]
    async fn http01_wrong_key_authorization_is_incorrect_response() {
        let r = responders().await;
        r.http01()
            .provision(TOKEN, &format!("{TOKEN}.wrong-thumbprint"));
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
        assert!(detail(&p).contains("wrong-thumbprint"), "{p:?}");
    }

    #[tokio::test]
    async fn http01_missing_token_is_incorrect_response() {
        let r = responders().await;
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
        assert!(detail(&p).contains("404"), "{p:?}");
    }

    #[tokio::test]
    async fn http01_trailing_whitespace_is_tolerated_leading_is_not() {
        let r = responders().await;
        let body = format!("{KEY_AUTH} \r\n\t\n");
        let port = raw_http(Some(http_response("200 OK", "", body.as_bytes()))).await;
        let va = ValidationAuthority::new(VaConfig {
            http_port: port,
            ..config(&r)
        });
        va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();

        let body = format!(" {KEY_AUTH}");
        let port = raw_http(Some(http_response("200 OK", "", body.as_bytes()))).await;
        let va = ValidationAuthority::new(VaConfig {
            http_port: port,
            ..config(&r)
        });
        expect_problem(
            va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
    }

    #[tokio::test]
    async fn http01_oversized_body_is_refused() {
        let r = responders().await;
        let mut body = KEY_AUTH.as_bytes().to_vec();
        body.resize(HTTP_BODY_LIMIT + 1, b' ');
        let port = raw_http(Some(http_response("200 OK", "", &body))).await;
        let va = ValidationAuthority::new(VaConfig {
            http_port: port,
            ..config(&r)
        });
        let p = expect_problem(
            va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
        assert!(detail(&p).contains("longer than"), "{p:?}");
    }

    #[tokio::test]
    async fn http01_follows_redirects_to_loopback() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        let target = format!(
            "http://b.test:{}/.well-known/acme-challenge/{TOKEN}",
            r.http01().local_addr().port()
        );
        let port = raw_http(Some(http_response(
            "302 Found",
            &format!("Location: {target}\r\n"),
            b"",
        )))
        .await;
        let va = ValidationAuthority::new(VaConfig {
            http_port: port,
            ..config(&r)
        });
        va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
        let last = r.http01().history().pop().unwrap();
        assert!(
            last.host.as_deref().unwrap().starts_with("b.test:"),
            "{last:?}"
        );
    }

    #[tokio::test]
    async fn http01_redirect_to_non_loopback_is_refused_without_connecting() {
        let r = responders().await;
        r.dns().set_a("remote.test", vec![REMOTE]);
        for location in [
            format!("http://{REMOTE}/.well-known/acme-challenge/{TOKEN}"),
            format!("http://remote.test:8080/.well-known/acme-challenge/{TOKEN}"),
            "http://[2001:db8::1]/x".to_owned(),
            "http://0.0.0.0/x".to_owned(),
        ] {
            let response = http_response(
                "301 Moved Permanently",
                &format!("Location: {location}\r\n"),
                b"",
            );
            let port = raw_http(Some(response)).await;
            let va = ValidationAuthority::new(VaConfig {
                http_port: port,
                ..config(&r)
            });
            let started = Instant::now();
            let p = expect_problem(
                va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                    .await,
                "connection",
            );
            assert!(detail(&p).contains("loopback"), "{p:?}");
            assert!(detail(&p).contains("after redirects from"), "{p:?}");
            assert!(started.elapsed() < Duration::from_secs(2));
        }
    }

    #[tokio::test]
    async fn http01_redirect_loop_and_bad_locations_stop() {
        let r = responders().await;
        let path = format!("/.well-known/acme-challenge/{TOKEN}");
        let port = raw_http(Some(http_response(
            "307 Temporary Redirect",
            &format!("Location: {path}\r\n"),
            b"",
        )))
        .await;
        let va = ValidationAuthority::new(VaConfig {
            http_port: port,
            ..config(&r)
        });
        let p = expect_problem(
            va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "connection",
        );
        assert!(detail(&p).contains("too many redirects"), "{p:?}");

        for headers in [
            "",
            "Location: ftp://a.test/x\r\n",
            "Location: http://[::1\r\n",
        ] {
            let port = raw_http(Some(http_response("302 Found", headers, b""))).await;
            let va = ValidationAuthority::new(VaConfig {
                http_port: port,
                ..config(&r)
            });
            expect_problem(
                va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                    .await,
                "connection",
            );
        }
    }

    #[tokio::test]
    async fn http01_stalled_server_is_bounded_by_the_timeout() {
        let r = responders().await;
        let port = raw_http(None).await;
        let va = ValidationAuthority::new(VaConfig {
            http_port: port,
            timeout: Duration::from_millis(500),
            ..config(&r)
        });
        let started = Instant::now();
        let p = expect_problem(
            va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "connection",
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(detail(&p).contains("did not complete"), "{p:?}");
    }

    #[tokio::test]
    async fn http01_nothing_listening_is_connection() {
        let r = responders().await;
        let va = ValidationAuthority::new(VaConfig {
            http_port: closed_port().await,
            ..config(&r)
        });
        expect_problem(
            va.validate(&Identifier::dns("a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "connection",
        );
    }

    #[tokio::test]
    async fn http01_wildcard_is_refused() {
        let r = responders().await;
        expect_problem(
            va(&r)
                .validate(&Identifier::dns("*.a.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "malformed",
        );
    }

    // ---- address resolution and the loopback rule ----

    #[tokio::test]
    async fn non_loopback_addresses_are_refused_without_connecting() {
        let r = responders().await;
        r.dns().set_a("remote.test", vec![REMOTE]);
        let va = va(&r);
        for (identifier, challenge) in [
            (Identifier::dns("remote.test"), "http-01"),
            (Identifier::dns("remote.test"), "tls-alpn-01"),
            (Identifier::ip("192.0.2.1"), "http-01"),
            (Identifier::ip("192.0.2.1"), "tls-alpn-01"),
            (Identifier::ip("::ffff:192.0.2.1"), "http-01"),
        ] {
            let started = Instant::now();
            let p = expect_problem(
                va.validate(&identifier, challenge, TOKEN, KEY_AUTH).await,
                "connection",
            );
            assert!(detail(&p).contains("loopback"), "{p:?}");
            assert!(started.elapsed() < Duration::from_secs(2));
        }
        assert!(r.tls_alpn().history().is_empty());
        assert!(r.http01().history().is_empty());
    }

    #[tokio::test]
    async fn mixed_answers_use_only_the_loopback_address() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        r.dns()
            .set_a("mixed.test", vec![REMOTE, Ipv4Addr::LOCALHOST]);
        va(&r)
            .validate(&Identifier::dns("mixed.test"), "http-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn allow_remote_tries_non_loopback_addresses() {
        let r = responders().await;
        r.dns().set_a("remote.test", vec![REMOTE]);
        let va = ValidationAuthority::new(VaConfig {
            allow_remote: true,
            timeout: Duration::from_millis(300),
            ..config(&r)
        });
        let started = Instant::now();
        let p = expect_problem(
            va.validate(&Identifier::dns("remote.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "connection",
        );
        assert!(!detail(&p).contains("loopback"), "{p:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn names_without_addresses_or_failing_are_dns_problems() {
        let r = responders().await;
        r.dns().set_a("empty.test", vec![]);
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::dns("empty.test"), "http-01", TOKEN, KEY_AUTH)
                .await,
            "dns",
        );
        assert!(detail(&p).contains("no A or AAAA"), "{p:?}");
        r.dns().set_servfail("broken.test");
        expect_problem(
            va(&r)
                .validate(
                    &Identifier::dns("broken.test"),
                    "tls-alpn-01",
                    TOKEN,
                    KEY_AUTH,
                )
                .await,
            "dns",
        );
    }

    // ---- dns-01 ----

    #[tokio::test]
    async fn dns01_matching_record_passes_among_others() {
        let r = responders().await;
        r.dns().add_txt("_acme-challenge.a.test", "unrelated");
        r.dns()
            .add_txt("_acme-challenge.a.test", &dns01_txt_value(KEY_AUTH));
        va(&r)
            .validate(&Identifier::dns("a.test"), "dns-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
        let queried = r.dns().history();
        assert!(
            queried.iter().any(|q| q.name == "_acme-challenge.a.test"),
            "{queried:?}"
        );
    }

    #[tokio::test]
    async fn dns01_wrong_or_missing_record_is_incorrect_response() {
        let r = responders().await;
        r.dns().add_txt(
            "_acme-challenge.a.test",
            &dns01_txt_value("other.key-authorization"),
        );
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::dns("a.test"), "dns-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
        assert!(detail(&p).contains("none of the 1"), "{p:?}");
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::dns("b.test"), "dns-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
        assert!(detail(&p).contains("no TXT record"), "{p:?}");
    }

    #[tokio::test]
    async fn dns01_resolver_failure_is_dns() {
        let r = responders().await;
        r.dns().set_servfail("_acme-challenge.a.test");
        expect_problem(
            va(&r)
                .validate(&Identifier::dns("a.test"), "dns-01", TOKEN, KEY_AUTH)
                .await,
            "dns",
        );
        // No server at all.
        let va = ValidationAuthority::new(VaConfig {
            resolver: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, closed_port().await))),
            timeout: Duration::from_secs(2),
            ..config(&r)
        });
        let started = Instant::now();
        let p = expect_problem(
            va.validate(&Identifier::dns("a.test"), "dns-01", TOKEN, KEY_AUTH)
                .await,
            "dns",
        );
        assert!(detail(&p).contains("TXT lookup"), "{p:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn dns01_wildcard_uses_the_base_name() {
        let r = responders().await;
        r.dns()
            .add_txt("_acme-challenge.w.test", &dns01_txt_value(KEY_AUTH));
        va(&r)
            .validate(&Identifier::dns("*.w.test"), "dns-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
        assert!(!r.dns().history().iter().any(|q| q.name.contains('*')));
    }

    #[tokio::test]
    async fn dns01_is_refused_for_ip_identifiers() {
        let r = responders().await;
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::ip("127.0.0.1"), "dns-01", TOKEN, KEY_AUTH)
                .await,
            "malformed",
        );
        assert!(detail(&p).contains("8738"), "{p:?}");
        assert!(r.dns().history().is_empty(), "no query was sent");
    }

    // ---- tls-alpn-01 ----

    /// The responder's last handshake record; it is written once the server
    /// side has finished, which may be just after the validator returns.
    async fn tls_history(r: &Responders) -> crate::responders::TlsAlpnHandshake {
        for _ in 0..100 {
            if let Some(last) = r.tls_alpn().history().pop() {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the tls-alpn-01 responder recorded no handshake");
    }

    #[tokio::test]
    async fn tls_alpn01_good_certificate_passes_for_a_name() {
        let r = responders().await;
        r.tls_alpn()
            .provision(&AlpnIdentifier::dns("a.test"), KEY_AUTH)
            .unwrap();
        va(&r)
            .validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
        let last = tls_history(&r).await;
        assert_eq!(last.sni.as_deref(), Some("a.test"));
        assert_eq!(last.alpn_offered, vec!["acme-tls/1".to_owned()]);
    }

    #[tokio::test]
    async fn tls_alpn01_good_certificate_passes_for_an_ip() {
        let r = responders().await;
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        r.tls_alpn()
            .provision(&AlpnIdentifier::ip(ip), KEY_AUTH)
            .unwrap();
        va(&r)
            .validate(&Identifier::ip("127.0.0.1"), "tls-alpn-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
        let last = tls_history(&r).await;
        assert_eq!(last.sni.as_deref(), Some("1.0.0.127.in-addr.arpa"));
    }

    #[tokio::test]
    async fn tls_alpn01_wrong_digest_is_incorrect_response() {
        let r = responders().await;
        r.tls_alpn()
            .provision(&AlpnIdentifier::dns("a.test"), "other.key-authorization")
            .unwrap();
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
        assert!(detail(&p).contains("acmeIdentifier holds"), "{p:?}");
    }

    #[tokio::test]
    async fn tls_alpn01_bad_certificates_are_incorrect_response() {
        let r = responders().await;
        let mut non_critical = acme_extension(KEY_AUTH);
        non_critical.set_criticality(false);
        let digest = ring::digest::digest(&ring::digest::SHA256, KEY_AUTH.as_bytes());
        let mut not_octet_string = vec![0x0c, 0x20];
        not_octet_string.extend_from_slice(digest.as_ref());
        let mut raw =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 31], not_octet_string);
        raw.set_criticality(true);
        let cases: Vec<(&str, Vec<SanType>, Vec<CustomExtension>)> = vec![
            ("not critical", vec![dns_san("a.test")], vec![non_critical]),
            (
                "exactly one entry",
                vec![dns_san("a.test"), dns_san("b.test")],
                vec![acme_extension(KEY_AUTH)],
            ),
            (
                "expected dNSName a.test",
                vec![dns_san("b.test")],
                vec![acme_extension(KEY_AUTH)],
            ),
            (
                "expected dNSName a.test",
                vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))],
                vec![acme_extension(KEY_AUTH)],
            ),
            ("0 acmeIdentifier", vec![dns_san("a.test")], vec![]),
            ("not a DER OCTET STRING", vec![dns_san("a.test")], vec![raw]),
            ("0 subjectAltName", vec![], vec![acme_extension(KEY_AUTH)]),
        ];
        let va = va(&r);
        for (expected, sans, extensions) in cases {
            let (cert, key) = certificate(sans, extensions);
            r.tls_alpn()
                .provision_custom("a.test", vec![cert], &key)
                .unwrap();
            let p = expect_problem(
                va.validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                    .await,
                "incorrectResponse",
            );
            assert!(detail(&p).contains(expected), "{expected}: {p:?}");
        }
        // Case-insensitive SAN comparison (RFC 8737 §3).
        let (cert, key) = certificate(vec![dns_san("A.TEST")], vec![acme_extension(KEY_AUTH)]);
        r.tls_alpn()
            .provision_custom("a.test", vec![cert], &key)
            .unwrap();
        va.validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn tls_alpn01_ip_needs_an_ip_san() {
        let r = responders().await;
        let (cert, key) = certificate(
            vec![dns_san("127.0.0.1.test")],
            vec![acme_extension(KEY_AUTH)],
        );
        r.tls_alpn()
            .provision_custom("1.0.0.127.in-addr.arpa", vec![cert], &key)
            .unwrap();
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::ip("127.0.0.1"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "incorrectResponse",
        );
        assert!(detail(&p).contains("expected iPAddress 127.0.0.1"), "{p:?}");
    }

    #[tokio::test]
    async fn tls_alpn01_handshake_signed_by_another_key_is_tls() {
        let r = responders().await;
        let (cert, _) = certificate(vec![dns_san("a.test")], vec![acme_extension(KEY_AUTH)]);
        let (_, other_key) = certificate(vec![dns_san("a.test")], vec![]);
        r.tls_alpn()
            .provision_custom("a.test", vec![cert], &other_key)
            .unwrap();
        expect_problem(
            va(&r)
                .validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "tls",
        );
    }

    #[tokio::test]
    async fn tls_alpn01_works_over_tls12_and_checks_its_signature() {
        let r = responders().await;
        let (cert, key) = certificate(vec![dns_san("a.test")], vec![acme_extension(KEY_AUTH)]);
        let port = tls_server(
            &[&rustls::version::TLS12],
            vec![ACME_TLS_1.to_vec()],
            cert.clone(),
            &key,
        )
        .await;
        let va = ValidationAuthority::new(VaConfig {
            tls_port: port,
            ..config(&r)
        });
        va.validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
            .await
            .unwrap();

        let (_, other_key) = certificate(vec![dns_san("a.test")], vec![]);
        let port = tls_server(
            &[&rustls::version::TLS12],
            vec![ACME_TLS_1.to_vec()],
            cert,
            &other_key,
        )
        .await;
        let va = ValidationAuthority::new(VaConfig {
            tls_port: port,
            ..config(&r)
        });
        expect_problem(
            va.validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "tls",
        );
    }

    #[tokio::test]
    async fn tls_alpn01_without_negotiated_alpn_is_tls() {
        let r = responders().await;
        let (cert, key) = certificate(vec![dns_san("a.test")], vec![acme_extension(KEY_AUTH)]);
        let port = tls_server(&[&rustls::version::TLS13], vec![], cert, &key).await;
        let va = ValidationAuthority::new(VaConfig {
            tls_port: port,
            ..config(&r)
        });
        let p = expect_problem(
            va.validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "tls",
        );
        assert!(detail(&p).contains("did not negotiate acme-tls/1"), "{p:?}");
    }

    #[tokio::test]
    async fn tls_alpn01_unknown_sni_is_tls() {
        let r = responders().await;
        let p = expect_problem(
            va(&r)
                .validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "tls",
        );
        assert!(detail(&p).contains("handshake"), "{p:?}");
    }

    #[tokio::test]
    async fn tls_alpn01_nothing_listening_fails_fast() {
        let r = responders().await;
        let va = ValidationAuthority::new(VaConfig {
            tls_port: closed_port().await,
            ..config(&r)
        });
        let started = Instant::now();
        expect_problem(
            va.validate(&Identifier::dns("a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "connection",
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn tls_alpn01_wildcard_is_refused() {
        let r = responders().await;
        expect_problem(
            va(&r)
                .validate(&Identifier::dns("*.a.test"), "tls-alpn-01", TOKEN, KEY_AUTH)
                .await,
            "malformed",
        );
    }
}
