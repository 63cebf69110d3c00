//! http-01 responder (RFC 8555 §8.3).
//!
//! Built on axum so HTTP/1.1 framing, keep-alive and HEAD are handled by a real
//! server stack: a conformance harness must not fail a CA because of its own
//! half-written HTTP parser. axum 0.8's `serve` has no connection timeouts, so
//! every accepted socket is wrapped in [`DeadlineIo`], which fails all I/O once
//! [`CONNECTION_TIMEOUT`] has passed; that bounds slow-loris peers without a
//! dependency on hyper-util's timer. Request bodies are never read.
//!
//! Besides the exact key authorization, a token can be served the ways RFC 8555
//! §8.3 tells validators to cope with ([`Http01Variant`]): with whitespace after
//! it, or behind a redirect, so a run can see whether the CA tolerates them.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri, header};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::{CONNECTION_TIMEOUT, History, Listeners, RequestRecord, ResponderKind, Running, lock};

/// The path prefix under which http-01 key authorizations are served.
pub const HTTP01_PATH_PREFIX: &str = "/.well-known/acme-challenge/";

/// Where a token served with [`Http01Variant::Redirect`] redirects to (same
/// host and port, followed by the token).
pub const HTTP01_REDIRECT_PREFIX: &str = "/acmespec-redirected/";

/// Whitespace served after the key authorization by
/// [`Http01Variant::TrailingWhitespace`]: every kind a validator must ignore.
const TRAILING_WHITESPACE: &str = " \t\r\n";

/// How a provisioned key authorization is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Http01Variant {
    /// The key authorization and nothing else (RFC 8555 §8.3).
    #[default]
    Exact,
    /// The key authorization followed by whitespace, which a validator SHOULD
    /// ignore (§8.3 step 4).
    TrailingWhitespace,
    /// A 302 to [`HTTP01_REDIRECT_PREFIX`]`<token>`, where the key
    /// authorization is served; a validator SHOULD follow it (§8.3).
    Redirect,
}

/// One HTTP request seen by the [`Http01Responder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http01Request {
    /// When the request arrived.
    pub at: SystemTime,
    /// The remote address.
    pub peer: SocketAddr,
    /// The local address the peer connected to (which of the responder's
    /// addresses the CA dialled).
    pub local: SocketAddr,
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query exactly as requested.
    pub path: String,
    /// The `Host` header (or the HTTP/2 `:authority`), if any.
    pub host: Option<String>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The token part of the path when it is under [`HTTP01_PATH_PREFIX`] or
    /// [`HTTP01_REDIRECT_PREFIX`].
    pub token: Option<String>,
    /// The status code that was returned.
    pub status: u16,
}

impl From<&Http01Request> for RequestRecord {
    fn from(r: &Http01Request) -> Self {
        RequestRecord {
            at: r.at,
            kind: ResponderKind::Http01,
            peer: r.peer,
            summary: format!(
                "{} {} host={} -> {}",
                r.method,
                r.path,
                r.host.as_deref().unwrap_or("-"),
                r.status
            ),
        }
    }
}

#[derive(Debug)]
struct Shared {
    /// token -> key authorization and how it is served
    tokens: Mutex<HashMap<String, (String, Http01Variant)>>,
    /// A directory whose `.well-known/acme-challenge/<token>` files are served for
    /// tokens not provisioned in memory (a client that writes into a webroot).
    webroot: Option<WebrootDirs>,
    /// Files named like a token the webroot lacked, found elsewhere when it was asked for.
    misplaced: Mutex<Vec<std::path::PathBuf>>,
    history: History<Http01Request>,
}

/// The webroot served, and where to look for a token file a client put elsewhere.
#[derive(Debug)]
struct WebrootDirs {
    root: std::path::PathBuf,
    search: std::path::PathBuf,
}

/// Directory entries looked at when searching for a misplaced token file.
const MISPLACED_SEARCH_MAX: usize = 10_000;

/// Files named `token` under `dir` (at most [`MISPLACED_SEARCH_MAX`] entries visited).
fn find_named(dir: &std::path::Path, token: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    let mut visited = 0;
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            visited += 1;
            if visited > MISPLACED_SEARCH_MAX {
                return found;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() && entry.file_name().to_str() == Some(token) => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found
}

/// The largest token file served from a webroot: a key authorization is ~90 bytes.
const WEBROOT_FILE_MAX: u64 = 4096;

/// Where a webroot holds the response for `token`: `root/.well-known/acme-challenge/TOKEN`,
/// or `None` for a token that is not one segment of base64url characters (it could
/// leave the directory).
pub fn webroot_token_path(root: &std::path::Path, token: &str) -> Option<std::path::PathBuf> {
    let one_segment = !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    one_segment.then(|| root.join(HTTP01_PATH_PREFIX.trim_start_matches('/')).join(token))
}

/// The key authorization a client wrote for `token` under `root`, if any.
fn webroot_file(root: &std::path::Path, token: &str) -> Option<String> {
    let file = std::fs::File::open(webroot_token_path(root, token)?).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, WEBROOT_FILE_MAX), &mut text).ok()?;
    Some(text)
}

/// Serves `GET /.well-known/acme-challenge/<token>` with the provisioned key
/// authorization; everything else gets 404. Every request is recorded.
///
/// Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Http01Responder {
    inner: Arc<Running<Shared>>,
}

impl Http01Responder {
    /// Binds a TCP listener on `addr` (port 0 picks a free port) and starts
    /// serving in a background task.
    ///
    /// # Errors
    ///
    /// Any bind error (address in use, permission denied for ports < 1024).
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::start(addr, None).await
    }

    /// Like [`bind`](Self::bind), and also serves the files a client writes under
    /// `root/.well-known/acme-challenge/` (a webroot, as certbot's `--webroot`,
    /// acme-tiny or dehydrated expect from a web server), exactly as written. When a
    /// token file is missing, files of that name under `search` are noted at once
    /// (clients remove them after validation) for [`misplaced`](Self::misplaced).
    ///
    /// # Errors
    ///
    /// Any bind error.
    pub async fn bind_webroot(addr: SocketAddr, root: std::path::PathBuf, search: std::path::PathBuf) -> io::Result<Self> {
        Self::start(addr, Some(WebrootDirs { root, search })).await
    }

    /// Files a client wrote for a token the webroot lacked, outside the webroot.
    pub fn misplaced(&self) -> Vec<std::path::PathBuf> {
        lock(&self.inner.shared.misplaced).clone()
    }

    async fn start(addr: SocketAddr, webroot: Option<WebrootDirs>) -> io::Result<Self> {
        let listeners = Listeners::bind(addr).await?;
        let local_addr = listeners.local_addr()?;
        let shared = Arc::new(Shared {
            tokens: Mutex::new(HashMap::new()),
            webroot,
            misplaced: Mutex::new(Vec::new()),
            history: History::new(),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<ConnAddrs>();
        let listener = DeadlineListener {
            inner: listeners,
            local_addr,
        };
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "http-01 responder stopped");
            }
        });
        Ok(Self { inner: Running::shared_handle(local_addr, shared, task) })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Serves `key_authorization` at `/.well-known/acme-challenge/<token>`,
    /// replacing any previous value for the token.
    pub fn provision(&self, token: &str, key_authorization: &str) {
        self.provision_variant(token, key_authorization, Http01Variant::Exact);
    }

    /// Like [`provision`](Self::provision), served the way `variant` says.
    pub fn provision_variant(&self, token: &str, key_authorization: &str, variant: Http01Variant) {
        lock(&self.inner.shared.tokens)
            .insert(token.to_owned(), (key_authorization.to_owned(), variant));
    }

    /// Stops serving `token`; returns whether it was provisioned.
    pub fn remove(&self, token: &str) -> bool {
        lock(&self.inner.shared.tokens).remove(token).is_some()
    }

    /// Removes every provisioned token.
    pub fn clear(&self) {
        lock(&self.inner.shared.tokens).clear();
    }

    /// The requests seen so far, oldest first.
    pub fn history(&self) -> Vec<Http01Request> {
        self.inner.shared.history.snapshot()
    }

    /// Forgets the recorded requests.
    pub fn clear_history(&self) {
        self.inner.shared.history.clear();
    }

    /// Stops accepting connections now, even if other clones exist.
    ///
    /// Connections already accepted end at the latest after
    /// [`CONNECTION_TIMEOUT`].
    pub fn shutdown(&self) {
        self.inner.task.abort();
    }
}

/// A token under `prefix` in `path` (one non-empty segment).
fn token_under(path: &str, prefix: &str) -> Option<String> {
    path.strip_prefix(prefix)
        .filter(|t| !t.is_empty() && !t.contains('/'))
        .map(str::to_owned)
}

fn respond(
    status: StatusCode,
    headers: &[(header::HeaderName, &str)],
    body: String,
) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name, *value);
    }
    builder.body(Body::from(body)).unwrap_or_else(|_| {
        // Only reachable with invalid header values, which these are not.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(ConnAddrs { peer, local }): ConnectInfo<ConnAddrs>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    let host = headers
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or_else(|| uri.authority().map(ToString::to_string));
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let well_known = token_under(uri.path(), HTTP01_PATH_PREFIX);
    let redirected = token_under(uri.path(), HTTP01_REDIRECT_PREFIX);
    let token = well_known.clone().or(redirected.clone());

    let provisioned = match (&method, &token) {
        (m, Some(token)) if m == Method::GET || m == Method::HEAD => {
            let in_memory = lock(&shared.tokens).get(token).cloned();
            in_memory.or_else(|| {
                let dirs = shared.webroot.as_ref().filter(|_| well_known.is_some())?;
                let served = webroot_file(&dirs.root, token).map(|ka| (ka, Http01Variant::Exact));
                if served.is_none() {
                    let mut noted = lock(&shared.misplaced);
                    for path in find_named(&dirs.search, token) {
                        if !noted.contains(&path) {
                            noted.push(path);
                        }
                    }
                }
                served
            })
        }
        _ => None,
    };
    let octets = (header::CONTENT_TYPE, "application/octet-stream");
    let response = match (provisioned, well_known.is_some()) {
        (Some((ka, Http01Variant::Exact)), true) => respond(StatusCode::OK, &[octets], ka),
        (Some((ka, Http01Variant::TrailingWhitespace)), true) => {
            respond(StatusCode::OK, &[octets], ka + TRAILING_WHITESPACE)
        }
        (Some((_, Http01Variant::Redirect)), true) => {
            let location = format!(
                "{HTTP01_REDIRECT_PREFIX}{}",
                token.as_deref().unwrap_or_default()
            );
            respond(
                StatusCode::FOUND,
                &[(header::LOCATION, &location)],
                String::new(),
            )
        }
        (Some((ka, Http01Variant::Redirect)), false) => respond(StatusCode::OK, &[octets], ka),
        _ => respond(
            StatusCode::NOT_FOUND,
            &[(header::CONTENT_TYPE, "text/plain")],
            "not found\n".to_owned(),
        ),
    };

    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    shared.history.push(Http01Request {
        at: SystemTime::now(),
        peer,
        local,
        method: method.to_string(),
        path,
        host,
        user_agent,
        token,
        status: response.status().as_u16(),
    });
    response
}

/// Remote and local address as axum connect-info for [`DeadlineListener`]
/// connections.
#[derive(Clone, Copy, Debug)]
struct ConnAddrs {
    peer: SocketAddr,
    local: SocketAddr,
}

impl Connected<IncomingStream<'_, DeadlineListener>> for ConnAddrs {
    fn connect_info(stream: IncomingStream<'_, DeadlineListener>) -> Self {
        ConnAddrs {
            peer: *stream.remote_addr(),
            local: stream.io().local,
        }
    }
}

/// TCP listeners whose connections expire after [`CONNECTION_TIMEOUT`].
struct DeadlineListener {
    inner: Listeners,
    local_addr: SocketAddr,
}

impl Listener for DeadlineListener {
    type Io = DeadlineIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let local = stream.local_addr().unwrap_or(self.local_addr);
                    return (DeadlineIo::new(stream, local, CONNECTION_TIMEOUT), peer);
                }
                Err(error) => {
                    // Typically EMFILE/ECONNABORTED: back off instead of spinning.
                    tracing::debug!(%error, "http-01 accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// A TCP stream on which every read and write fails with `TimedOut` once the
/// deadline has passed, so the HTTP server drops the connection.
struct DeadlineIo {
    inner: TcpStream,
    local: SocketAddr,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineIo {
    fn new(inner: TcpStream, local: SocketAddr, lifetime: Duration) -> Self {
        Self {
            inner,
            local,
            deadline: Box::pin(tokio::time::sleep(lifetime)),
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "http-01 connection lifetime exceeded",
    )
}

impl AsyncRead for DeadlineIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
