//! The mock CA: a reference RFC 8555 server that the whole catalogue must pass, and
//! that can be switched, defect by defect, into a non-conforming one.
//!
//! Laid out like Pebble: `wfe` (HTTP, JWS, nonces, problems), `va` (validation),
//! `ca` (issuance), `db` (in-memory store with narrow methods), `core` (types, with
//! order status derived from authorizations), `defects` (the switchable deviations)
//! and `management` (the test-control listener).

pub mod cli;
pub mod bench;
mod ca;
mod core;
mod db;
mod defects;
mod faults;
mod fuzz_targets;
mod journal;
mod management;
pub use management::dns_router;
mod nonces;
mod profiles;
mod ratelimit;
mod va;
mod wfe;

pub use defects::Defect;
pub use faults::{FaultKind, FaultRule, MAX_DELAY_MS};
pub use fuzz_targets::{csr_seeds, fuzz_csr, fuzz_order_state, fuzz_wfe_request, order_state_seeds, wfe_request_seeds};
pub use journal::{Endpoint, Entry, JOURNAL_LIMIT, JwsView};
pub use profiles::{CertificateShape, Profile};
pub use ratelimit::NewOrderLimit;

use crate::responders::DnsResponder;
use crate::tls_identity::LocalhostTls;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use defects::DefectSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use wfe::{Wfe, WfeConfig};

/// How the mock CA is set up.
#[derive(Debug, Clone)]
pub struct MockCaConfig {
    /// The HTTPS listener for ACME (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The plain-HTTP management listener, if wanted.
    pub management_listen: Option<SocketAddr>,
    /// Mark every challenge valid without contacting anyone (load tests, client tests).
    pub always_valid: bool,
    /// Port the validation authority uses for http-01 (RFC 8555 says 80).
    pub va_http_port: u16,
    /// Port the validation authority uses for tls-alpn-01 (RFC 8737 says 443).
    pub va_tls_port: u16,
    /// DNS server the validation authority resolves names with; `None` uses the system's.
    pub va_resolver: Option<SocketAddr>,
    /// Let the validation authority connect to non-loopback addresses (an SSRF vector).
    pub va_allow_remote: bool,
    /// Defects switched on from the start.
    pub defects: Vec<Defect>,
    /// External account binding keys (key id, HMAC key); EAB is required when not empty.
    pub eab_keys: Vec<(String, Vec<u8>)>,
    /// Refuse accounts that do not agree to the terms of service (RFC 8555 §7.3).
    pub terms_required: bool,
    /// Refuse accounts without a contact URL (`invalidContact`), as some enterprise CAs
    /// do; RFC 8555 §7.3 leaves it to the server.
    pub contact_required: bool,
    /// Alternate certificate chains offered besides the primary one.
    pub alternate_chains: usize,
    /// Orders per page of an account's orders list.
    pub orders_per_page: usize,
    /// Refuse newOrder past this many orders per account and window (RFC 8555 §6.6).
    pub new_order_limit: Option<NewOrderLimit>,
    /// Scripted faults.
    pub faults: Vec<FaultRule>,
    /// Seed of the randomised faults (those with a `probability`).
    pub seed: u64,
    /// Serve DNS here (UDP and TCP; port 0 picks a free one): A 127.0.0.1 for every
    /// name, TXT records published through the management listener's challtestsrv-style
    /// `/set-txt` and `/clear-txt`. The validation authority resolves through it unless
    /// `va_resolver` names another server.
    pub dns_listen: Option<SocketAddr>,
    /// Certificate profiles advertised in `meta.profiles` (draft-ietf-acme-profiles),
    /// the first being the default; empty for a CA without profiles.
    pub profiles: Vec<Profile>,
}

impl Default for MockCaConfig {
    fn default() -> Self {
        MockCaConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            management_listen: None,
            always_valid: false,
            va_http_port: 80,
            va_tls_port: 443,
            va_resolver: None,
            va_allow_remote: false,
            defects: Vec::new(),
            eab_keys: Vec::new(),
            terms_required: false,
            contact_required: false,
            alternate_chains: 1,
            orders_per_page: 3,
            new_order_limit: None,
            faults: Vec::new(),
            seed: 0,
            dns_listen: None,
            profiles: Profile::default_set(),
        }
    }
}

/// Why the mock CA could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockCaError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The HTTPS identity or the CA hierarchy could not be generated.
    #[error("cannot create certificates: {0}")]
    Certificates(String),
    /// A fault rule is inconsistent.
    #[error("fault rule: {0}")]
    Fault(String),
}

/// A running mock CA; stops when dropped.
pub struct MockCa {
    wfe: Arc<Wfe>,
    tls: LocalhostTls,
    addr: SocketAddr,
    management_addr: Option<SocketAddr>,
    dns: Option<DnsResponder>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for MockCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MockCa({})", self.directory_url())
    }
}

/// How long a client may take to complete the TLS handshake or send its headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn dispatch(State(wfe): State<Arc<Wfe>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    wfe.handle(parts.method, &path, &parts.headers, body).await
}

/// The front end with everything behind it, but no listener: what [`MockCa::start`]
/// serves, and what the `wfe_request` fuzz target drives in-process.
fn build_wfe(
    config: &MockCaConfig,
    base_url: String,
    ca: ca::CertificateAuthority,
    dns: Option<&DnsResponder>,
) -> Arc<Wfe> {
    let defects = Arc::new(DefectSet::new(config.defects.iter().copied()));
    let va = va::ValidationAuthority::new(va::VaConfig {
        http_port: config.va_http_port,
        tls_port: config.va_tls_port,
        resolver: config.va_resolver.or_else(|| dns.map(DnsResponder::local_addr)),
        allow_remote: config.va_allow_remote,
        ..va::VaConfig::default()
    })
    .with_defects(Arc::clone(&defects));
    Arc::new(Wfe {
        config: WfeConfig {
            base_url,
            always_valid: config.always_valid,
            eab_keys: config.eab_keys.clone(),
            terms_required: config.terms_required,
            contact_required: config.contact_required,
            orders_per_page: config.orders_per_page,
        },
        db: db::Db::default(),
        nonces: nonces::Nonces::new(),
        ca,
        va,
        defects,
        journal: journal::Journal::new(),
        terms_version: std::sync::atomic::AtomicU32::new(1),
        faults: faults::FaultPlan::new(config.faults.clone(), config.seed),
        new_order_limit: config.new_order_limit.map(ratelimit::Limiter::new),
        profiles: profiles::Profiles::new(config.profiles.clone()),
    })
}

impl MockCa {
    /// Binds the listeners, generates the certificates and starts serving.
    pub async fn start(config: MockCaConfig) -> Result<MockCa, MockCaError> {
        if let Some(e) = config.faults.iter().find_map(|r| r.validate().err()) {
            return Err(MockCaError::Fault(e));
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| MockCaError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| MockCaError::Bind { addr: config.listen, source })?;
        let tls = LocalhostTls::generate("acmespec mock CA HTTPS root").map_err(|e| MockCaError::Certificates(e.to_string()))?;
        let server_config = tls.server_config().map_err(|e| MockCaError::Certificates(e.to_string()))?;
        let ca = ca::CertificateAuthority::new(config.alternate_chains).map_err(|e| MockCaError::Certificates(e.to_string()))?;
        let dns = match config.dns_listen {
            Some(daddr) => Some(DnsResponder::bind(daddr).await.map_err(|source| MockCaError::Bind { addr: daddr, source })?),
            None => None,
        };
        let wfe = build_wfe(&config, format!("https://{addr}"), ca, dns.as_ref());
        let app = Router::new().fallback(dispatch).with_state(Arc::clone(&wfe));
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        let serve = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                // A response written in two segments (TLS record, then the rest) would
                // otherwise wait out the client's delayed ACK under Nagle: ~40 ms a request.
                let _ = tcp.set_nodelay(true);
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                        return;
                    };
                    let stream = FirstByteDeadline::new(stream, HANDSHAKE_TIMEOUT);
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HANDSHAKE_TIMEOUT);
                    let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                });
            }
        });
        let mut tasks = vec![serve];
        let mut management_addr = None;
        if let Some(maddr) = config.management_listen {
            let l = tokio::net::TcpListener::bind(maddr).await.map_err(|source| MockCaError::Bind { addr: maddr, source })?;
            management_addr = Some(l.local_addr().map_err(|source| MockCaError::Bind { addr: maddr, source })?);
            let router = management::router(Arc::clone(&wfe), dns.clone());
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(l, router).await;
            }));
        }
        Ok(MockCa { wfe, tls, addr, management_addr, dns, tasks })
    }

    /// The directory URL.
    pub fn directory_url(&self) -> String {
        self.wfe.directory_url()
    }

    /// The ACME listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The management listener's URL, if one was started.
    pub fn management_url(&self) -> Option<String> {
        self.management_addr.map(|a| format!("http://{a}"))
    }

    /// The DNS server started by `dns_listen`, if any (its address is `local_addr()`).
    pub fn dns(&self) -> Option<&DnsResponder> {
        self.dns.as_ref()
    }

    /// The PEM of the root a client must trust for the HTTPS listener.
    pub fn https_root_pem(&self) -> &str {
        self.tls.ca_pem()
    }

    /// The DER of the root a client must trust for the HTTPS listener.
    pub fn https_root_der(&self) -> &[u8] {
        self.tls.ca_der()
    }

    /// The Subject CN of the root of certificate chain `chain` (0 = the default chain,
    /// then the alternates): how a client is told which chain to prefer (lego's and
    /// certbot's `--preferred-chain`).
    pub fn chain_root_name(&self, chain: usize) -> Option<String> {
        let (_, root) = x509_parser::parse_x509_certificate(self.wfe.ca.root_der(chain)?).ok()?;
        root.subject().iter_common_name().next()?.as_str().ok().map(str::to_owned)
    }

    /// The names of the certificate profiles `meta.profiles` advertises now.
    pub fn advertised_profiles(&self) -> Vec<String> {
        self.wfe.profiles.advertised().map(|p| p.keys().cloned().collect()).unwrap_or_default()
    }

    /// Replaces the defects switched on.
    pub fn set_defects(&self, defects: impl IntoIterator<Item = Defect>) {
        self.wfe.defects.replace(defects.into_iter().collect());
    }

    /// The defects switched on.
    pub fn defects(&self) -> Vec<Defect> {
        self.wfe.defects.list()
    }

    /// Replaces the fault script (counts start over; the seed stays).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.wfe.faults.replace(rules);
    }

    /// Every request received so far, with its answer.
    pub fn journal(&self) -> Vec<Entry> {
        self.wfe.journal.entries()
    }

    /// Forgets the requests received so far.
    pub fn clear_journal(&self) {
        self.wfe.journal.clear();
    }
}

impl Drop for MockCa {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(dns) = &self.dns {
            dns.shutdown();
        }
    }
}

/// Closes a connection whose client says nothing after the TLS handshake: hyper's
/// header timer only starts with the first byte, so a silent client would otherwise
/// hold the connection forever.
struct FirstByteDeadline<S> {
    inner: S,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FirstByteDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        FirstByteDeadline { inner, deadline: Some(Box::pin(tokio::time::sleep(limit))) }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for FirstByteDeadline<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future as _;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.deadline = None;
                }
                std::task::Poll::Ready(result)
            }
            std::task::Poll::Pending => {
                let expired = self.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "client sent nothing");
                    return std::task::Poll::Ready(Err(e));
                }
                std::task::Poll::Pending
            }
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for FirstByteDeadline<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
