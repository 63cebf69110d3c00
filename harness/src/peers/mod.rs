//! Real ACME implementations started as child processes.
//!
//! A mock CA only tells us that the harness agrees with itself. Running the same
//! cases against independent implementations (Pebble, the reference test CA, and
//! serles-acme) is what catches a misreading of RFC 8555 on our side, so the
//! launchers live in the library where integration tests and benchmarks share one
//! way of starting them.
//!
//! A missing peer is an error, never a skipped test: a suite that silently skips
//! its interop half looks green while proving nothing.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod bind;
mod nginx;
mod pebble;
mod serles;

pub use bind::Bind;
pub use nginx::Nginx;
pub use pebble::{Pebble, PebbleOptions};
pub use serles::{Serles, SerlesOptions};

/// Why a peer could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer's program is not on `PATH`.
    #[error(
        "{program} not found on PATH; install it with `apt-get install {package}` \
         or run the README test command (scripts/test)"
    )]
    NotInstalled {
        /// Name of the program that was looked for.
        program: String,
        /// Debian package that provides it.
        package: String,
    },
    /// The peer's virtualenv lacks the pinned version (serles is not packaged by Debian).
    #[error(
        "{program} {version} is not installed in the virtualenv {venv} (found: {found}); \
         run scripts/test, which creates it"
    )]
    VenvMissing {
        /// Name of the program.
        program: String,
        /// The version looked for.
        version: String,
        /// The virtualenv looked in.
        venv: PathBuf,
        /// The version found there, or `nothing`.
        found: String,
    },
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The TLS certificate for the peer's HTTPS listener could not be generated.
    #[error("generating the peer's TLS certificate failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The HTTP client used to talk to the peer could not be built.
    #[error("building an HTTP client for the peer failed: {0}")]
    Client(#[source] reqwest::Error),
    /// The peer exited before it answered.
    #[error("{program} exited early ({status}); log tail:\n{log_tail}")]
    Exited {
        /// Name of the program.
        program: String,
        /// How it exited.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// The peer kept losing its listening ports to other processes.
    #[error("{program} could not bind free ports after {attempts} attempts; log tail:\n{log_tail}")]
    PortsBusy {
        /// Name of the program.
        program: String,
        /// How many port sets were tried.
        attempts: u32,
        /// The end of its log from the last attempt.
        log_tail: String,
    },
    /// The peer did not answer within the start timeout.
    #[error(
        "{program} did not answer within {waited:?}; last error: {last_error}; log tail:\n{log_tail}"
    )]
    Timeout {
        /// Name of the program.
        program: String,
        /// How long we waited.
        waited: Duration,
        /// The last failure seen while polling.
        last_error: String,
        /// The end of its log.
        log_tail: String,
    },
    /// An option was requested that the installed peer does not implement.
    #[error("{program} does not support {what}: {detail}")]
    Unsupported {
        /// Name of the program.
        program: String,
        /// The option that was requested.
        what: String,
        /// Why it is considered unsupported.
        detail: String,
    },
}

/// Kills the whole process group led by `pid` (a child started with `process_group(0)`
/// and not reaped yet, so its id still names the group): helpers and workers it forked
/// go with it.
pub(crate) fn kill_process_group(pid: u32) {
    let killed = std::process::Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !killed.is_ok_and(|s| s.success()) {
        tracing::warn!("could not kill process group {pid}");
    }
}

/// A peer's process, started with `process_group(0)`: dropping it kills the whole group
/// (workers and helpers it forked) and reaps the leader.
#[derive(Debug)]
struct GroupGuard(std::process::Child);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_process_group(self.0.id());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// Another process may take it before you bind it, so callers that spawn servers
/// should be ready to retry.
///
/// # Panics
///
/// Panics if the OS refuses to bind an ephemeral port on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    try_free_tcp_port().expect("binding an ephemeral TCP port on 127.0.0.1")
}

/// Returns a UDP port on 127.0.0.1 that was free a moment ago.
///
/// The same race as [`free_tcp_port`] applies.
///
/// # Panics
///
/// Panics if the OS refuses to bind an ephemeral port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral UDP port on 127.0.0.1")
}

fn try_free_tcp_port() -> io::Result<u16> {
    let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    Ok(l.local_addr()?.port())
}

/// The program's path: the first executable `program` on `PATH`, then in the sbin
/// directories (daemons such as `named` and `nginx` live there, off a user's `PATH`).
fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(sbin).map(|d| d.join(program)).find(|p| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// reqwest is built without a default crypto provider; the first client in the
/// process needs one installed. A second install attempt returns `Err`, which is fine.
fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How much of a peer's log an error quotes.
const LOG_TAIL_BYTES: u64 = 4096;

/// An HTTP client that trusts only `ca_der` (a peer's own HTTPS CA) and talks to
/// 127.0.0.1 directly; `timeout` bounds a readiness probe.
fn trusting_only(ca_der: &[u8], timeout: Option<Duration>) -> Result<reqwest::Client, PeerError> {
    ensure_crypto_provider();
    let ca = reqwest::Certificate::from_der(ca_der).map_err(PeerError::Client)?;
    let builder = reqwest::Client::builder().tls_certs_only([ca]).no_proxy();
    let builder = match timeout {
        Some(t) => builder.timeout(t),
        None => builder,
    };
    builder.build().map_err(PeerError::Client)
}

fn write(path: &Path, contents: &str) -> Result<(), PeerError> {
    fs::write(path, contents).map_err(|e| io_err(format!("writing {}", path.display()), e))
}

fn io_err(context: impl Into<String>, source: io::Error) -> PeerError {
    PeerError::Io {
        context: context.into(),
        source,
    }
}

fn log_tail(path: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    read().unwrap_or_else(|e| format!("(log unreadable: {e})"))
}

/// The peer's log file, opened twice: for its stdout and its stderr.
fn log_files(log: &Path) -> Result<(File, File), PeerError> {
    let out = File::create(log).map_err(|e| io_err(format!("creating {}", log.display()), e))?;
    let err = out.try_clone().map_err(|e| io_err("duplicating the log file handle", e))?;
    Ok((out, err))
}

/// Starts `cmd` in a process group of its own, its standard output and error going to
/// `log`; the guard kills the group when dropped. `what` names it in errors.
fn spawn_grouped(cmd: &mut std::process::Command, log: &Path, what: &str) -> Result<GroupGuard, PeerError> {
    use std::os::unix::process::CommandExt;
    let (out, err) = log_files(log)?;
    cmd.stdin(std::process::Stdio::null()).stdout(out).stderr(err).process_group(0);
    cmd.spawn().map(GroupGuard).map_err(|e| io_err(format!("starting {what}"), e))
}

/// How long to wait for a peer to come up and how it says a port was taken.
struct Readiness<'a> {
    /// The program, for errors.
    program: &'a str,
    /// Its log.
    log: &'a Path,
    /// What its log says when a listener's port is taken.
    busy: &'a str,
    /// How long it may take.
    timeout: Duration,
    /// How often to look.
    interval: Duration,
}

/// Waits until `probe` finds the peer up (`Ok(Ok(()))`), the peer exits, or the
/// timeout passes; otherwise `probe` says what it saw (`Ok(Err(seen))`), and a
/// `NotReady` from it ends the wait at once.
async fn wait_until_ready(
    child: &mut std::process::Child,
    r: Readiness<'_>,
    mut probe: impl AsyncFnMut() -> Result<Result<(), String>, NotReady>,
) -> Result<(), NotReady> {
    let started = std::time::Instant::now();
    loop {
        still_running(child, r.log, r.program, r.busy)?;
        let last_error = match probe().await? {
            Ok(()) => return Ok(()),
            Err(seen) => seen,
        };
        if started.elapsed() >= r.timeout {
            return Err(NotReady::Fatal(PeerError::Timeout {
                program: r.program.into(),
                waited: started.elapsed(),
                last_error,
                log_tail: log_tail(r.log),
            }));
        }
        tokio::time::sleep(r.interval).await;
    }
}

/// Starts a peer with `attempt` (which picks free ports, spawns it and waits for it)
/// until one attempt does not lose a port to another process, at most `attempts` times:
/// a free port can be taken between finding it and the peer binding it.
async fn on_free_ports<T>(program: &str, attempts: u32, mut attempt: impl AsyncFnMut() -> Result<T, NotReady>) -> Result<T, PeerError> {
    let mut last_tail = String::new();
    for _ in 0..attempts {
        match attempt().await {
            Ok(started) => return Ok(started),
            Err(NotReady::PortBusy(tail)) => last_tail = tail,
            Err(NotReady::Fatal(e)) => return Err(e),
        }
    }
    Err(PeerError::PortsBusy { program: program.into(), attempts, log_tail: last_tail })
}

/// Why a peer did not come up.
enum NotReady {
    /// It exited because a listener port was taken; carries the log tail.
    PortBusy(String),
    Fatal(PeerError),
}

/// `Ok` while `child` runs; once it has exited, why: a taken port when its log says
/// `busy` (the peer's own words for it), otherwise the exit with the log's tail.
fn still_running(child: &mut std::process::Child, log: &Path, program: &str, busy: &str) -> Result<(), NotReady> {
    match child.try_wait() {
        Ok(Some(status)) => {
            let tail = log_tail(log);
            if tail.contains(busy) {
                return Err(NotReady::PortBusy(tail));
            }
            Err(NotReady::Fatal(PeerError::Exited { program: program.into(), status: status.to_string(), log_tail: tail }))
        }
        Ok(None) => Ok(()),
        Err(e) => Err(NotReady::Fatal(io_err(format!("waiting for {program}"), e))),
    }
}
