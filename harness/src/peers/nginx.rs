//! nginx (Debian `nginx-light`) serving a directory, as the web server a user points
//! `--http01-webroot` at.
//!
//! The webroot solver's whole promise is that a real web server, which the runner does
//! not control, serves what it writes; only a real one shows that file names, modes and
//! the moment of writing are right. Its access log shows what the CA fetched.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{GroupGuard, NotReady, PeerError, Readiness, find_on_path, io_err, on_free_ports, spawn_grouped, try_free_tcp_port, wait_until_ready, write};

const PROGRAM: &str = "nginx";
const PORT_ATTEMPTS: u32 = 3;
const START_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A running nginx serving one directory over plain HTTP on 127.0.0.1; dropping it
/// kills its master and workers and deletes its own files (not the webroot).
#[derive(Debug)]
pub struct Nginx {
    // Dropped first: the processes are gone before `dir` deletes their files.
    _child: GroupGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx serving `webroot` and returns once it accepts connections. Fails
    /// with [`PeerError::NotInstalled`] without nginx (Debian `nginx-light`).
    pub async fn start(webroot: &Path) -> Result<Nginx, PeerError> {
        let nginx = find_on_path(PROGRAM).ok_or_else(|| PeerError::NotInstalled { program: PROGRAM.into(), package: "nginx-light".into() })?;
        let dir = tempfile::Builder::new().prefix("acmespec-nginx-").tempdir().map_err(|e| io_err("creating nginx's temporary directory", e))?;
        let d = dir.path();
        let log_path = d.join("nginx.log");
        let (child, addr) = on_free_ports(PROGRAM, PORT_ATTEMPTS, async || {
            let port = try_free_tcp_port().map_err(|e| NotReady::Fatal(io_err("finding a free TCP port", e)))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            write(&d.join("nginx.conf"), &config(d, addr, webroot)).map_err(NotReady::Fatal)?;
            let mut cmd = Command::new(&nginx);
            cmd.arg("-p").arg(d).arg("-c").arg(d.join("nginx.conf"));
            let mut child = spawn_grouped(&mut cmd, &log_path, &nginx.display().to_string()).map_err(NotReady::Fatal)?;
            wait_ready(&mut child, addr, &log_path).await?;
            Ok((child, addr))
        })
        .await?;
        Ok(Nginx { _child: child, addr, dir })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its access log: one line per request, with the path.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.access_log_path()).unwrap_or_default()
    }

    fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }
}

/// Runs in the foreground with every file under `dir`; as root, workers run as root too
/// so that they can read a webroot only root may enter.
fn config(dir: &Path, addr: SocketAddr, webroot: &Path) -> String {
    let d = dir.display();
    let user = if running_as_root() { "user root;\n" } else { "" };
    format!(
        "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log stderr;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log {d}/access.log; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
         server {{ listen {addr}; root {root}; }} }}\n",
        root = webroot.display()
    )
}

/// Whether this process runs as root (nginx then drops its workers to `nobody`).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// Waits until something accepts connections on `addr`.
async fn wait_ready(child: &mut GroupGuard, addr: SocketAddr, log_path: &Path) -> Result<(), NotReady> {
    let readiness = Readiness { program: PROGRAM, log: log_path, busy: "Address already in use", timeout: START_TIMEOUT, interval: POLL_INTERVAL };
    wait_until_ready(&mut child.0, readiness, async || {
        Ok(match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("nothing accepts on {addr}: {e}")),
        })
    })
    .await
}
