//! http-01 responder (RFC 8555 §8.3).
//!
//! Built on axum so HTTP/1.1 framing, keep-alive and HEAD are handled by a real
//! server stack: a conformance harness must not fail a CA because of its own
//! half-written HTTP parser. axum 0.8's `serve` has no connection timeouts, so
//! every accepted socket is wrapped in [`DeadlineIo`], which fails all I/O once
//! [`CONNECTION_TIMEOUT`] has passed; that bounds slow-loris peers without a
//! dependency on hyper-util's timer. Request bodies are never read.

use std::collections::HashMap;
use std::fmt;
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
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use super::{CONNECTION_TIMEOUT, History, RequestRecord, ResponderKind, Running, lock};

/// The path prefix under which http-01 key authorizations are served.
pub const HTTP01_PATH_PREFIX: &str = "/.well-known/acme-challenge/";

/// One HTTP request seen by the [`Http01Responder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http01Request {
    /// When the request arrived.
    pub at: SystemTime,
    /// The remote address.
    pub peer: SocketAddr,
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query exactly as requested.
    pub path: String,
    /// The `Host` header (or the HTTP/2 `:authority`), if any.
    pub host: Option<String>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The token part of the path when it is under [`HTTP01_PATH_PREFIX`].
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
    /// token -> key authorization
    tokens: Mutex<HashMap<String, String>>,
    history: History<Http01Request>,
}

/// Serves `GET /.well-known/acme-challenge/<token>` with the provisioned key
/// authorization; everything else gets 404. Every request is recorded.
///
/// Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct Http01Responder {
    inner: Arc<Running<Shared>>,
}

impl fmt::Debug for Http01Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http01Responder")
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

impl Http01Responder {
    /// Binds a TCP listener on `addr` (port 0 picks a free port) and starts
    /// serving in a background task.
    ///
    /// # Errors
    ///
    /// Any bind error (address in use, permission denied for ports < 1024).
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            tokens: Mutex::new(HashMap::new()),
            history: History::new(),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<PeerAddr>();
        let listener = DeadlineListener { inner: listener };
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "http-01 responder stopped");
            }
        });
        Ok(Self {
            inner: Arc::new(Running {
                local_addr,
                shared,
                task,
            }),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Serves `key_authorization` at `/.well-known/acme-challenge/<token>`,
    /// replacing any previous value for the token.
    pub fn provision(&self, token: &str, key_authorization: &str) {
        lock(&self.inner.shared.tokens).insert(token.to_owned(), key_authorization.to_owned());
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

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
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
    let token = uri
        .path()
        .strip_prefix(HTTP01_PATH_PREFIX)
        .filter(|t| !t.is_empty() && !t.contains('/'))
        .map(str::to_owned);

    let key_authorization = match (&method, &token) {
        (m, Some(token)) if m == Method::GET || m == Method::HEAD => {
            lock(&shared.tokens).get(token).cloned()
        }
        _ => None,
    };

    let response = match key_authorization {
        Some(ka) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(ka)),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("not found\n")),
    }
    .unwrap_or_else(|_| {
        // Only reachable with invalid static header values, which these are not.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    });

    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    shared.history.push(Http01Request {
        at: SystemTime::now(),
        peer,
        method: method.to_string(),
        path,
        host,
        user_agent,
        token,
        status: response.status().as_u16(),
    });
    response
}

/// Remote address as axum connect-info for [`DeadlineListener`] connections.
#[derive(Clone, Copy, Debug)]
struct PeerAddr(SocketAddr);

impl Connected<IncomingStream<'_, DeadlineListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, DeadlineListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// A TCP listener whose connections expire after [`CONNECTION_TIMEOUT`].
struct DeadlineListener {
    inner: TcpListener,
}

impl Listener for DeadlineListener {
    type Io = DeadlineIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    return (DeadlineIo::new(stream, CONNECTION_TIMEOUT), peer);
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
        self.inner.local_addr()
    }
}

/// A TCP stream on which every read and write fails with `TimedOut` once the
/// deadline has passed, so the HTTP server drops the connection.
struct DeadlineIo {
    inner: TcpStream,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineIo {
    fn new(inner: TcpStream, lifetime: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(lifetime)),
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "http-01 connection lifetime exceeded")
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
