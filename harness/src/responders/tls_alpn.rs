//! tls-alpn-01 responder (RFC 8737; RFC 8738 §6 for IP identifiers).
//!
//! The validation certificate carries a *critical* acmeIdentifier extension,
//! which rustls' `with_single_cert` refuses (it parses the certificate with
//! webpki), so certificates are served through a custom `ResolvesServerCert`
//! holding pre-built `CertifiedKey`s keyed by SNI. Certificates are generated
//! at provision time, not per handshake, so a validation never waits on key
//! generation.
//!
//! Each connection is first read with `LazyConfigAcceptor` so the `ClientHello`
//! (SNI, offered ALPN protocols) is recorded even for handshakes that are then
//! refused: whether a CA offered exactly `acme-tls/1` and the right SNI is
//! itself something a conformance run wants to check. A handshake without
//! `acme-tls/1`, or for an SNI nothing was provisioned for, is refused with a
//! TLS alert.
//!
//! After a completed acme-tls/1 handshake the responder does not hang up
//! itself: RFC 8737 §4 makes the *CA* close the connection at once without
//! sending data, so the responder waits (up to [`AFTER_HANDSHAKE_WAIT`]) and
//! records what the CA did ([`AfterHandshake`]). Connections still waiting are
//! counted, so [`TlsAlpnResponder::settle`] can let a check see their record.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256,
    SanType,
};
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::LazyConfigAcceptor;

use super::{
    CONNECTION_TIMEOUT, History, Listeners, RequestRecord, ResponderError, ResponderKind, Running,
    lock, normalize_name,
};

/// The ALPN protocol ID of tls-alpn-01 (RFC 8737 §6.2).
pub const ACME_TLS_ALPN_PROTOCOL: &[u8] = b"acme-tls/1";

/// How long the responder waits for the CA to close a completed acme-tls/1
/// connection before closing it itself: far longer than "immediately"
/// (RFC 8737 §4), short enough not to slow a run down.
pub const AFTER_HANDSHAKE_WAIT: Duration = Duration::from_secs(3);

/// The identifier a tls-alpn-01 certificate is made for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AlpnIdentifier {
    /// A DNS name: SNI and the single dNSName SAN are this name.
    Dns(String),
    /// An IP address: SNI is the reverse-DNS name ([`reverse_dns_name`]) and
    /// the single SAN is an iPAddress (RFC 8738 §6).
    Ip(IpAddr),
}

impl AlpnIdentifier {
    /// A DNS identifier.
    pub fn dns(name: impl Into<String>) -> Self {
        AlpnIdentifier::Dns(name.into())
    }

    /// An IP identifier.
    pub fn ip(addr: IpAddr) -> Self {
        AlpnIdentifier::Ip(addr)
    }

    /// The SNI a validator sends for this identifier, normalised (lowercase,
    /// no trailing dot).
    pub fn sni(&self) -> String {
        match self {
            AlpnIdentifier::Dns(name) => normalize_name(name),
            AlpnIdentifier::Ip(ip) => reverse_dns_name(*ip),
        }
    }
}

impl From<IpAddr> for AlpnIdentifier {
    fn from(ip: IpAddr) -> Self {
        AlpnIdentifier::Ip(ip)
    }
}

impl fmt::Display for AlpnIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlpnIdentifier::Dns(name) => write!(f, "dns:{name}"),
            AlpnIdentifier::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

/// The reverse-mapping name of an address (`in-addr.arpa` / `ip6.arpa`), used
/// as SNI for IP identifiers (RFC 8738 §6).
///
/// `127.0.0.1` gives `1.0.0.127.in-addr.arpa`; IPv6 addresses give 32
/// reversed nibbles followed by `ip6.arpa`.
pub fn reverse_dns_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", byte & 0x0f, byte >> 4);
            }
            name.push_str("ip6.arpa");
            name
        }
    }
}

/// What happened to one TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsAlpnOutcome {
    /// `acme-tls/1` was negotiated, the provisioned certificate was sent and
    /// the handshake completed; the connection was then closed.
    Completed,
    /// Refused: the `ClientHello` did not offer `acme-tls/1`.
    RefusedNoAcmeAlpn,
    /// Refused: no SNI, or nothing provisioned for the SNI sent.
    RefusedUnknownSni,
    /// The handshake failed for another reason (garbage bytes, the peer
    /// aborting after seeing the certificate, ...).
    Failed(String),
    /// The peer did not finish within [`CONNECTION_TIMEOUT`].
    TimedOut,
}

impl fmt::Display for TlsAlpnOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsAlpnOutcome::Completed => f.write_str("completed"),
            TlsAlpnOutcome::RefusedNoAcmeAlpn => f.write_str("refused: acme-tls/1 not offered"),
            TlsAlpnOutcome::RefusedUnknownSni => f.write_str("refused: unknown or missing SNI"),
            TlsAlpnOutcome::Failed(e) => write!(f, "failed: {e}"),
            TlsAlpnOutcome::TimedOut => f.write_str("timed out"),
        }
    }
}

/// What the CA did on a connection after the acme-tls/1 handshake completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterHandshake {
    /// Application data bytes the CA sent (RFC 8737 §4: none).
    pub data_bytes: usize,
    /// How long after the handshake the CA closed the connection (close_notify,
    /// FIN or reset); `None` if it was still open after
    /// [`AFTER_HANDSHAKE_WAIT`].
    pub closed_after: Option<Duration>,
}

/// One TLS connection seen by the [`TlsAlpnResponder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsAlpnHandshake {
    /// When the connection was accepted.
    pub at: SystemTime,
    /// The remote address.
    pub peer: SocketAddr,
    /// The local address the peer connected to.
    pub local: SocketAddr,
    /// The SNI sent, as sent; `None` if absent or no `ClientHello` was parsed.
    pub sni: Option<String>,
    /// The ALPN protocols offered, in order (lossy UTF-8).
    pub alpn_offered: Vec<String>,
    /// How the connection ended.
    pub outcome: TlsAlpnOutcome,
    /// For a completed handshake, what the CA did afterwards.
    pub after_handshake: Option<AfterHandshake>,
}

impl From<&TlsAlpnHandshake> for RequestRecord {
    fn from(r: &TlsAlpnHandshake) -> Self {
        RequestRecord {
            at: r.at,
            kind: ResponderKind::TlsAlpn,
            peer: r.peer,
            summary: format!(
                "sni={} alpn=[{}] -> {}{}",
                r.sni.as_deref().unwrap_or("-"),
                r.alpn_offered.join(","),
                r.outcome,
                match r.after_handshake {
                    Some(AfterHandshake {
                        data_bytes,
                        closed_after: Some(after),
                    }) => {
                        format!(" (then {data_bytes} data bytes, closed after {after:?})")
                    }
                    Some(AfterHandshake {
                        data_bytes,
                        closed_after: None,
                    }) => {
                        format!(" (then {data_bytes} data bytes, left open)")
                    }
                    None => String::new(),
                }
            ),
        }
    }
}

/// Certificates by normalised SNI.
#[derive(Debug, Default)]
struct CertStore {
    certs: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl CertStore {
    fn get(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        lock(&self.certs).get(&normalize_name(sni)).cloned()
    }
}

/// Serves a provisioned certificate only for acme-tls/1 handshakes with a
/// known SNI; `None` makes rustls abort the handshake with an alert.
#[derive(Debug)]
struct AcmeCertResolver {
    store: Arc<CertStore>,
}

fn offers_acme_tls(hello: &ClientHello<'_>) -> bool {
    hello
        .alpn()
        .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN_PROTOCOL))
}

impl ResolvesServerCert for AcmeCertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if !offers_acme_tls(&hello) {
            return None;
        }
        self.store.get(hello.server_name()?)
    }
}

#[derive(Debug)]
struct Shared {
    store: Arc<CertStore>,
    history: History<TlsAlpnHandshake>,
    /// Connections accepted whose record is not written yet.
    open: AtomicUsize,
}

/// Counts a connection as open until dropped.
struct OpenGuard<'a>(&'a AtomicUsize);

impl<'a> OpenGuard<'a> {
    fn new(open: &'a AtomicUsize) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// TLS server answering tls-alpn-01 validations with per-identifier
/// certificates (RFC 8737 §3). Every connection is recorded.
///
/// Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct TlsAlpnResponder {
    inner: Arc<Running<Shared>>,
}

impl TlsAlpnResponder {
    /// Binds a TCP listener on `addr` (port 0 picks a free port) and starts
    /// serving in a background task.
    ///
    /// # Errors
    ///
    /// Any bind error, or a TLS configuration error from rustls.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = Listeners::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let store = Arc::new(CertStore::default());
        let shared = Arc::new(Shared {
            store: store.clone(),
            history: History::new(),
            open: AtomicUsize::new(0),
        });

        // Explicit provider: never depend on a process-wide default being
        // installed. RFC 8737 §4 requires TLS 1.2 or higher; both are offered.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(AcmeCertResolver { store }));
        config.alpn_protocols = vec![ACME_TLS_ALPN_PROTOCOL.to_vec()];
        let config = Arc::new(config);

        let task = tokio::spawn(accept_loop(listener, config, shared.clone()));
        Ok(Self { inner: Running::shared_handle(local_addr, shared, task) })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Generates and installs the validation certificate for `identifier`
    /// (RFC 8737 §3): self-signed P-256, exactly one SAN equal to the
    /// identifier, and a critical acmeIdentifier extension holding
    /// SHA-256(`key_authorization`). Replaces any certificate for the same SNI.
    ///
    /// Returns the DER of the certificate that will be served.
    ///
    /// # Errors
    ///
    /// [`ResponderError::InvalidIdentifier`] for a DNS name that cannot be a
    /// dNSName SAN, or a certificate/key generation error.
    pub fn provision(
        &self,
        identifier: &AlpnIdentifier,
        key_authorization: &str,
    ) -> Result<CertificateDer<'static>, ResponderError> {
        let (cert, key) = validation_certificate(identifier, key_authorization)?;
        let certified = CertifiedKey::new(vec![cert.clone()], key);
        lock(&self.inner.shared.store.certs).insert(identifier.sni(), Arc::new(certified));
        Ok(cert)
    }

    /// Serves an arbitrary certificate chain for `sni` (for negative tests:
    /// wrong digest, extra SANs, non-critical extension, ...).
    ///
    /// `key` must match the first certificate; it is not checked against it,
    /// on purpose, since rustls' own check rejects the critical extension.
    ///
    /// # Errors
    ///
    /// [`ResponderError::Key`] if rustls cannot sign with `key`.
    pub fn provision_custom(
        &self,
        sni: &str,
        cert_chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'static>,
    ) -> Result<(), ResponderError> {
        let signing_key = rustls::crypto::ring::sign::any_supported_type(key)
            .map_err(|e| ResponderError::Key(e.to_string()))?;
        let certified = CertifiedKey::new(cert_chain, signing_key);
        lock(&self.inner.shared.store.certs).insert(normalize_name(sni), Arc::new(certified));
        Ok(())
    }

    /// Stops serving a certificate for `identifier`; returns whether one was
    /// provisioned.
    pub fn remove(&self, identifier: &AlpnIdentifier) -> bool {
        self.remove_sni(&identifier.sni())
    }

    /// Stops serving a certificate for the SNI `sni`; returns whether one was
    /// provisioned.
    pub fn remove_sni(&self, sni: &str) -> bool {
        lock(&self.inner.shared.store.certs)
            .remove(&normalize_name(sni))
            .is_some()
    }

    /// Removes every provisioned certificate.
    pub fn clear(&self) {
        lock(&self.inner.shared.store.certs).clear();
    }

    /// The connections seen so far, oldest first.
    pub fn history(&self) -> Vec<TlsAlpnHandshake> {
        self.inner.shared.history.snapshot()
    }

    /// Forgets the recorded connections.
    pub fn clear_history(&self) {
        self.inner.shared.history.clear();
    }

    /// Waits until every accepted connection has been recorded, or `limit`
    /// has passed; returns whether none is left open.
    pub async fn settle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.inner.shared.open.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Stops serving now (including open connections), even if other clones
    /// exist.
    pub fn shutdown(&self) {
        self.inner.task.abort();
    }
}

/// Builds the RFC 8737 §3 certificate and its signing key.
fn validation_certificate(
    identifier: &AlpnIdentifier,
    key_authorization: &str,
) -> Result<(CertificateDer<'static>, Arc<dyn rustls::sign::SigningKey>), ResponderError> {
    let invalid = |reason: String| ResponderError::InvalidIdentifier {
        identifier: identifier.to_string(),
        reason,
    };
    let (san, common_name) = match identifier {
        AlpnIdentifier::Dns(name) => {
            let name = name.trim().trim_end_matches('.');
            if name.is_empty() {
                return Err(invalid("empty DNS name".to_owned()));
            }
            let ia5 =
                rcgen::string::Ia5String::try_from(name).map_err(|e| invalid(e.to_string()))?;
            (SanType::DnsName(ia5), name.to_owned())
        }
        AlpnIdentifier::Ip(ip) => (SanType::IpAddress(*ip), ip.to_string()),
    };

    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![san];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    // Always 32 bytes (SHA-256), so rcgen's length assertion cannot fire.
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest.as_ref())];

    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| ResponderError::Certificate(e.to_string()))?;
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| ResponderError::Certificate(e.to_string()))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| ResponderError::Key(e.to_string()))?;
    Ok((cert.der().clone(), signing_key))
}

async fn accept_loop(listener: Listeners, config: Arc<ServerConfig>, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                connections.spawn(handle_connection(
                    stream,
                    peer,
                    config.clone(),
                    shared.clone(),
                ));
            }
            Err(error) => {
                tracing::debug!(%error, "tls-alpn-01 accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    shared: Arc<Shared>,
) {
    let _open = OpenGuard::new(&shared.open);
    let at = SystemTime::now();
    let local = stream.local_addr().unwrap_or(peer);
    let mut sni = None;
    let mut alpn_offered = Vec::new();
    let mut after_handshake = None;
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
            .await
            .map_err(|e| TlsAlpnOutcome::Failed(e.to_string()))?;
        let hello = start.client_hello();
        sni = hello.server_name().map(str::to_owned);
        alpn_offered = hello
            .alpn()
            .map(|protocols| {
                protocols
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let refusal = if !offers_acme_tls(&hello) {
            Some(TlsAlpnOutcome::RefusedNoAcmeAlpn)
        } else if hello
            .server_name()
            .and_then(|s| shared.store.get(s))
            .is_none()
        {
            Some(TlsAlpnOutcome::RefusedUnknownSni)
        } else {
            None
        };
        // Refusals still go through rustls so the peer receives a TLS alert.
        match start.into_stream(config).await {
            Ok(mut tls) => {
                after_handshake = Some(watch_after_handshake(&mut tls).await);
                let _ = tls.shutdown().await;
                Ok(refusal.unwrap_or(TlsAlpnOutcome::Completed))
            }
            Err(e) => Err(refusal.unwrap_or_else(|| TlsAlpnOutcome::Failed(e.to_string()))),
        }
    };
    let outcome =
        match tokio::time::timeout(CONNECTION_TIMEOUT + AFTER_HANDSHAKE_WAIT, handshake).await {
            Ok(Ok(outcome) | Err(outcome)) => outcome,
            Err(_) => TlsAlpnOutcome::TimedOut,
        };
    tracing::debug!(%peer, ?sni, ?alpn_offered, %outcome, "tls-alpn-01 connection");
    shared.history.push(TlsAlpnHandshake {
        at,
        peer,
        local,
        sni,
        alpn_offered,
        outcome,
        after_handshake,
    });
}

/// Reads until the CA closes the connection or [`AFTER_HANDSHAKE_WAIT`] passes,
/// counting the application data it sends meanwhile.
async fn watch_after_handshake<S: tokio::io::AsyncRead + Unpin>(tls: &mut S) -> AfterHandshake {
    let started = Instant::now();
    let mut data_bytes = 0;
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(AFTER_HANDSHAKE_WAIT, async {
        // Ok(0) is close_notify or FIN; an error is an abrupt close.
        while let Ok(n @ 1..) = tls.read(&mut buf).await {
            data_bytes += n;
        }
    })
    .await;
    AfterHandshake {
        data_bytes,
        closed_after: closed.ok().map(|()| started.elapsed()),
    }
}
