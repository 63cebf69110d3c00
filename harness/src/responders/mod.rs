//! In-process challenge responders: the "applicant side" of ACME validation.
//!
//! A conformance run has to prove things about how a CA *validates*, not only how
//! it talks JSON. For that the harness must own the servers the CA connects to:
//! an HTTP server for http-01 (RFC 8555 §8.3), an authoritative DNS server for
//! dns-01 (§8.4, and CAA / address steering so a CA such as Pebble can be pointed
//! at it with `-dnsserver`), and a TLS server for tls-alpn-01 (RFC 8737, RFC 8738
//! §6 for IP identifiers). Running them in-process, on ports chosen by the
//! caller (port 0 works), keeps tests hermetic and lets every responder record
//! exactly what the CA sent it: the history is evidence for a report ("the CA
//! never asked for `_acme-challenge.example.com TXT`") rather than a log line.
//!
//! All responders share the same shape: `bind` starts a background task, the
//! returned handle is cheap to clone, provisioning is synchronous (no awaiting
//! while a validation is racing), and the background task is aborted when the
//! last handle is dropped. History is bounded ([`HISTORY_LIMIT`]) so a hostile or
//! fuzzing peer cannot grow memory without limit.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};

mod dns;
mod http01;
mod tls_alpn;

/// A responder's background task and the state it shares with its handles: the task
/// stops when the last handle is dropped.
struct Running<S> {
    local_addr: SocketAddr,
    shared: std::sync::Arc<S>,
    task: tokio::task::JoinHandle<()>,
}

impl<S> Running<S> {
    /// The handle a responder's clones share.
    fn shared_handle(local_addr: SocketAddr, shared: std::sync::Arc<S>, task: tokio::task::JoinHandle<()>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Running { local_addr, shared, task })
    }
}

impl<S> std::fmt::Debug for Running<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl<S> Drop for Running<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub use dns::{DnsQueryRecord, DnsResponder, DnsTransport};
pub use http01::{
    HTTP01_PATH_PREFIX, HTTP01_REDIRECT_PREFIX, Http01Request, Http01Responder, Http01Variant, webroot_token_path,
};
pub use tls_alpn::{
    ACME_TLS_ALPN_PROTOCOL, AFTER_HANDSHAKE_WAIT, AfterHandshake, AlpnIdentifier, TlsAlpnHandshake, TlsAlpnOutcome,
    TlsAlpnResponder, reverse_dns_name,
};

/// The TCP listeners of one responder: the address asked for and, when that is
/// the IPv4 loopback, the IPv6 loopback on the same port as well.
///
/// A CA validating the ip identifier `::1` dials `[::1]:port` (RFC 8738 §4:
/// the address itself), so a responder reachable only on 127.0.0.1 would make
/// every IPv6 case fail for the harness's sake. The second listener is best
/// effort: a host without IPv6 simply has none, and the IPv6 cases then show
/// a connection problem.
pub(crate) struct Listeners {
    primary: TcpListener,
    loopback_v6: Option<TcpListener>,
}

impl Listeners {
    pub(crate) async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let primary = TcpListener::bind(addr).await?;
        let port = primary.local_addr()?.port();
        let loopback_v6 = if addr.ip() == Ipv4Addr::LOCALHOST {
            TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
                .await
                .inspect_err(|error| tracing::debug!(%error, port, "no IPv6 loopback listener"))
                .ok()
        } else {
            None
        };
        Ok(Listeners {
            primary,
            loopback_v6,
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.primary.local_addr()
    }

    /// The next connection on either listener, with its peer address.
    pub(crate) async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        match &self.loopback_v6 {
            Some(v6) => tokio::select! {
                accepted = self.primary.accept() => accepted,
                accepted = v6.accept() => accepted,
            },
            None => self.primary.accept().await,
        }
    }
}

/// Maximum number of entries each responder keeps in its history; older
/// entries are discarded first.
pub const HISTORY_LIMIT: usize = 10_000;

/// How long a single connection (HTTP, DNS over TCP, TLS) may stay open.
///
/// A validating CA needs well under a second; the bound only exists so that a
/// stuck or malicious peer cannot pin tasks forever.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors from provisioning challenge material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponderError {
    /// The identifier cannot be used (for example a DNS name rcgen or rustls
    /// rejects).
    #[error("invalid identifier {identifier:?}: {reason}")]
    InvalidIdentifier {
        /// The identifier as given.
        identifier: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Building the validation certificate failed.
    #[error("certificate generation failed: {0}")]
    Certificate(String),
    /// The supplied private key is not usable by the TLS stack.
    #[error("unusable private key: {0}")]
    Key(String),
}

/// Which responder saw a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponderKind {
    /// The http-01 HTTP server.
    Http01,
    /// The DNS server (dns-01, CAA, address lookups).
    Dns,
    /// The tls-alpn-01 TLS server.
    TlsAlpn,
}

impl fmt::Display for ResponderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponderKind::Http01 => "http-01",
            ResponderKind::Dns => "dns",
            ResponderKind::TlsAlpn => "tls-alpn-01",
        })
    }
}

/// A responder-independent view of one request, for reports and timelines.
///
/// Each responder keeps a richer record ([`Http01Request`], [`DnsQueryRecord`],
/// [`TlsAlpnHandshake`]); all of them convert into this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When the request was seen.
    pub at: SystemTime,
    /// Which responder saw it.
    pub kind: ResponderKind,
    /// The remote address (the CA's validator, usually).
    pub peer: SocketAddr,
    /// One human-readable line, e.g. `GET /.well-known/acme-challenge/x host=a.test -> 200`.
    pub summary: String,
}

impl fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} {}", self.kind, self.peer, self.summary)
    }
}

/// Bounded, shared, append-only log used by every responder.
#[derive(Debug)]
pub(crate) struct History<T> {
    entries: Mutex<VecDeque<T>>,
}

impl<T: Clone> History<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        // A panic while holding this lock cannot leave the deque inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn push(&self, entry: T) {
        let mut entries = self.lock();
        if entries.len() >= HISTORY_LIMIT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.lock().iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

/// Locks a mutex, ignoring poisoning (state guarded here is always valid).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Normalises a DNS name for map keys: ASCII-lowercase, no trailing dot.
pub(crate) fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// All three challenge responders, started together for one run.
///
/// Cloning is cheap; the servers stop when the last clone of each responder is
/// dropped (or on [`Responders::shutdown`]).
#[derive(Clone, Debug)]
pub struct Responders {
    http01: Http01Responder,
    tls_alpn: TlsAlpnResponder,
    dns: DnsResponder,
}

impl Responders {
    /// Binds and starts the http-01, tls-alpn-01 and DNS responders.
    ///
    /// Any address may use port 0; read the chosen ports back with the
    /// accessors' `local_addr()`. The DNS responder listens on UDP and TCP of
    /// the same port.
    ///
    /// # Errors
    ///
    /// Any bind error (address in use, permission denied for ports < 1024).
    pub async fn start(
        http: SocketAddr,
        tls_alpn: SocketAddr,
        dns: SocketAddr,
    ) -> std::io::Result<Responders> {
        let http01 = Http01Responder::bind(http).await?;
        let tls_alpn = TlsAlpnResponder::bind(tls_alpn).await?;
        let dns = DnsResponder::bind(dns).await?;
        Ok(Responders {
            http01,
            tls_alpn,
            dns,
        })
    }

    /// The http-01 responder.
    pub fn http01(&self) -> &Http01Responder {
        &self.http01
    }

    /// The tls-alpn-01 responder.
    pub fn tls_alpn(&self) -> &TlsAlpnResponder {
        &self.tls_alpn
    }

    /// The DNS responder.
    pub fn dns(&self) -> &DnsResponder {
        &self.dns
    }

    /// Every responder's history merged into one timeline, oldest first.
    pub fn history(&self) -> Vec<RequestRecord> {
        let mut all: Vec<RequestRecord> = self
            .http01
            .history()
            .iter()
            .map(RequestRecord::from)
            .chain(self.dns.history().iter().map(RequestRecord::from))
            .chain(self.tls_alpn.history().iter().map(RequestRecord::from))
            .collect();
        all.sort_by_key(|r| r.at);
        all
    }

    /// Clears every responder's history (provisioned material is kept).
    pub fn clear_history(&self) {
        self.http01.clear_history();
        self.dns.clear_history();
        self.tls_alpn.clear_history();
    }

    /// Stops all three servers now, even if clones of the handles remain.
    pub fn shutdown(&self) {
        self.http01.shutdown();
        self.dns.shutdown();
        self.tls_alpn.shutdown();
    }
}
