//! BIND 9 (Debian `bind9`) as the authoritative DNS server of a test zone.
//!
//! A CA off this machine resolves names through public DNS, so the runner's way to give
//! it dns-01 records is a dynamic update (RFC 2136) to the zone's real primary. Testing
//! that against our own DNS code would only prove the two agree; BIND is what most
//! zones run. The zone is generated per start: every name in it resolves (a wildcard
//! `A` record) to the address given, as the runner's own DNS answers, and updates are
//! allowed to holders of a fresh TSIG key only, so an unsigned or wrongly signed update
//! is refused as a real server refuses it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{GroupGuard, NotReady, PeerError, Readiness, find_on_path, io_err, log_tail, on_free_ports, spawn_grouped, try_free_tcp_port, wait_until_ready, write};

const PROGRAM: &str = "named";
const PORT_ATTEMPTS: u32 = 3;
const START_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The name of the TSIG key allowed to update the zone.
const KEY_NAME: &str = "acmespec-update";

/// A running `named` serving one zone on 127.0.0.1 (UDP and TCP, one port); dropping it
/// kills it and deletes its directory.
#[derive(Debug)]
pub struct Bind {
    // Dropped first: the process is gone before `_dir` deletes its files.
    _child: GroupGuard,
    addr: SocketAddr,
    secret: String,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bind {
    /// Starts `named` as the primary of `zone`, whose every name has `A address`, and
    /// returns once it serves the zone. Fails with [`PeerError::NotInstalled`] without
    /// `named` (Debian `bind9`).
    pub async fn start(zone: &str, address: Ipv4Addr) -> Result<Bind, PeerError> {
        let named = find_on_path(PROGRAM).ok_or_else(|| PeerError::NotInstalled { program: PROGRAM.into(), package: "bind9".into() })?;
        let dir = tempfile::Builder::new().prefix("acmespec-bind-").tempdir().map_err(|e| io_err("creating BIND's temporary directory", e))?;
        let d = dir.path();
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let secret = random_secret();
        write(&d.join("zone.db"), &zone_file(&zone, address))?;
        let log_path = d.join("named.log");
        let (child, addr) = on_free_ports(PROGRAM, PORT_ATTEMPTS, async || {
            let port = try_free_tcp_port().map_err(|e| NotReady::Fatal(io_err("finding a free TCP port", e)))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            write(&d.join("named.conf"), &config(d, port, &zone, &secret)).map_err(NotReady::Fatal)?;
            let mut cmd = Command::new(&named);
            // -g: foreground, log to stderr; -n 1: one worker thread is plenty for a test.
            cmd.args(["-g", "-n", "1", "-c"]).arg(d.join("named.conf"));
            let mut child = spawn_grouped(&mut cmd, &log_path, &named.display().to_string()).map_err(NotReady::Fatal)?;
            wait_ready(&mut child, &log_path).await?;
            Ok((child, addr))
        })
        .await?;
        Ok(Bind { _child: child, addr, secret, log_path, _dir: dir })
    }

    /// Where it serves DNS (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The update key as `acmespec run --tsig` takes it: `NAME:hmac-sha256:SECRET`.
    pub fn tsig(&self) -> String {
        format!("{KEY_NAME}:hmac-sha256:{}", self.secret)
    }

    /// The end of its log, where it says which updates it applied or refused.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }
}

/// A 256-bit HMAC key, base64 as `tsig-keygen` writes it.
fn random_secret() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crate::protocol::random::bytes(32))
}

fn zone_file(zone: &str, address: Ipv4Addr) -> String {
    format!(
        "$TTL 60\n\
         @ IN SOA ns.{zone}. hostmaster.{zone}. 1 60 60 600 60\n\
         @ IN NS ns.{zone}.\n\
         ns IN A 127.0.0.1\n\
         @ IN A {address}\n\
         * IN A {address}\n"
    )
}

/// Everything under `dir`: the zone, its journal, and the files named writes by default
/// under /var and /run; no rndc command channel (it would take the fixed port 953, and two
/// tests' servers would collide on it).
fn config(dir: &Path, port: u16, zone: &str, secret: &str) -> String {
    let d = dir.display();
    format!(
        "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  session-keyfile \"{d}/session.key\";\n\
         \x20 managed-keys-directory \"{d}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n\
         \x20 recursion no;\n  dnssec-validation no;\n  notify no;\n}};\n\
         controls {{ }};\n\
         key \"{KEY_NAME}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n\
         zone \"{zone}\" {{ type primary; file \"{d}/zone.db\"; allow-update {{ key \"{KEY_NAME}\"; }}; }};\n"
    )
}

/// Waits for named's `running`, the sign that its zones are loaded and it listens.
async fn wait_ready(child: &mut GroupGuard, log_path: &Path) -> Result<(), NotReady> {
    let readiness = Readiness { program: PROGRAM, log: log_path, busy: "address in use", timeout: START_TIMEOUT, interval: POLL_INTERVAL };
    wait_until_ready(&mut child.0, readiness, async || {
        let log = log_tail(log_path);
        // named keeps running when a listener cannot bind; it just does not answer there.
        if log.contains("address in use") {
            return Err(NotReady::PortBusy(log));
        }
        Ok(if log.lines().any(|l| l.ends_with(" running")) { Ok(()) } else { Err("no \"running\" in its log".into()) })
    })
    .await
}
