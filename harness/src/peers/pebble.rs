//! Pebble, the ACME reference test CA, as a child process.
//!
//! Pebble is our independent second opinion on RFC 8555, so every run must be
//! reproducible: its random nonce rejection, authorization reuse and validation
//! sleeps are switched off by default, while validation itself stays real (it
//! really dials the challenge ports). Each instance gets its own temporary
//! directory, ports and HTTPS certificate so that tests can run several at once,
//! and the Debian package ships no certificate at all.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::tls_identity::LocalhostTls;
use serde_json::{Map, Value, json};

use super::{NotReady, PeerError, ensure_crypto_provider, trusting_only, find_on_path, on_free_ports, io_err, log_files, log_tail, try_free_tcp_port, write, Readiness, wait_until_ready};

const PROGRAM: &str = "pebble";
const PORT_ATTEMPTS: u32 = 5;
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How to start a [`Pebble`].
///
/// `Default` gives a deterministic, really-validating Pebble that dials
/// http-01 on port 5002 and tls-alpn-01 on port 5001 (Pebble's own defaults).
#[derive(Debug, Clone)]
pub struct PebbleOptions {
    /// Port Pebble connects to for http-01 validation.
    pub http_port: u16,
    /// Port Pebble connects to for tls-alpn-01 validation.
    pub tls_port: u16,
    /// DNS server Pebble resolves identifiers with (`-dnsserver`); `None` uses the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// Environment for the Pebble process, applied in order (a later entry wins).
    ///
    /// Inherited `PEBBLE_*` variables are always removed first, so only these apply.
    pub env: Vec<(String, String)>,
    /// External account binding keys (key id, base64url HMAC key); `Some` makes EAB required.
    pub eab_keys: Option<Vec<(String, String)>>,
    /// `Retry-After` seconds for (authorizations, orders).
    ///
    /// Pebble 2.4.0 (Debian 12) has no such setting and never sends `Retry-After`;
    /// [`Pebble::start`] refuses with [`PeerError::Unsupported`] rather than ignore it.
    pub retry_after: Option<(u32, u32)>,
    /// Passes `-strict`, which turns on Pebble's checks for upcoming breaking changes.
    pub strict: bool,
    /// Extra keys merged into the `"pebble"` object of the config file (e.g. `domainBlocklist`).
    pub extra_config: Map<String, Value>,
    /// The Pebble executable; `None` searches `PATH` for `pebble`.
    pub binary: Option<PathBuf>,
    /// How long to wait for Pebble to answer on both listeners.
    pub start_timeout: Duration,
}

impl Default for PebbleOptions {
    fn default() -> Self {
        Self::new(5002, 5001)
    }
}

impl PebbleOptions {
    /// Options with the given validation ports and deterministic defaults:
    /// `PEBBLE_VA_NOSLEEP=1`, `PEBBLE_WFE_NONCEREJECT=0`, `PEBBLE_AUTHZREUSE=0`.
    pub fn new(http_port: u16, tls_port: u16) -> Self {
        Self {
            http_port,
            tls_port,
            dns_server: None,
            env: vec![
                ("PEBBLE_VA_NOSLEEP".into(), "1".into()),
                ("PEBBLE_WFE_NONCEREJECT".into(), "0".into()),
                ("PEBBLE_AUTHZREUSE".into(), "0".into()),
            ],
            eab_keys: None,
            retry_after: None,
            strict: false,
            extra_config: Map::new(),
            binary: None,
            start_timeout: Duration::from_secs(15),
        }
    }

    /// Sets an environment variable for Pebble, replacing an earlier value of the same name.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Sets the DNS server Pebble resolves identifiers with.
    pub fn with_dns_server(mut self, addr: SocketAddr) -> Self {
        self.dns_server = Some(addr);
        self
    }

    /// Requires external account binding with the given (key id, base64url HMAC key) pairs.
    pub fn with_eab_keys(mut self, keys: Vec<(String, String)>) -> Self {
        self.eab_keys = Some(keys);
        self
    }

    fn config_json(
        &self,
        listen: SocketAddr,
        management: SocketAddr,
        cert: &Path,
        key: &Path,
    ) -> Value {
        let mut p = Map::new();
        p.insert("listenAddress".into(), json!(listen.to_string()));
        p.insert(
            "managementListenAddress".into(),
            json!(management.to_string()),
        );
        p.insert("certificate".into(), json!(cert));
        p.insert("privateKey".into(), json!(key));
        p.insert("httpPort".into(), json!(self.http_port));
        p.insert("tlsPort".into(), json!(self.tls_port));
        p.insert("ocspResponderURL".into(), json!(""));
        p.insert(
            "externalAccountBindingRequired".into(),
            json!(self.eab_keys.is_some()),
        );
        if let Some(keys) = &self.eab_keys {
            let map: Map<String, Value> = keys.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            p.insert("externalAccountMACKeys".into(), Value::Object(map));
        }
        if let Some((authz, order)) = self.retry_after {
            p.insert(
                "retryAfter".into(),
                json!({ "authz": authz, "order": order }),
            );
        }
        p.extend(self.extra_config.clone());
        json!({ "pebble": p })
    }
}

/// A running Pebble; dropping it kills the process and deletes its directory.
#[derive(Debug)]
pub struct Pebble {
    // Declared before `dir`: fields drop in order, so the process is gone before its files.
    child: ChildGuard,
    listen: SocketAddr,
    management: SocketAddr,
    ca_pem: String,
    ca_der: Vec<u8>,
    ca_pem_path: PathBuf,
    log_path: PathBuf,
    opts: PebbleOptions,
    dir: tempfile::TempDir,
}

impl Pebble {
    /// Starts Pebble and returns once its directory and management endpoints answer.
    ///
    /// Listener ports are picked automatically; if another process grabs one first,
    /// new ports are tried a few times. Fails with [`PeerError::NotInstalled`] when
    /// no `pebble` is on `PATH`.
    pub async fn start(opts: PebbleOptions) -> Result<Pebble, PeerError> {
        let binary = match &opts.binary {
            Some(b) => b.clone(),
            None => find_on_path(PROGRAM).ok_or_else(|| PeerError::NotInstalled {
                program: PROGRAM.into(),
                package: "pebble".into(),
            })?,
        };
        if opts.retry_after.is_some() {
            check_supports_retry_after(&binary)?;
        }
        ensure_crypto_provider();

        let dir = tempfile::Builder::new()
            .prefix("acmespec-pebble-")
            .tempdir()
            .map_err(|e| io_err("creating Pebble's temporary directory", e))?;
        let tls = LocalhostTls::generate("acmespec Pebble HTTPS CA")?;
        let ca_pem_path = dir.path().join("ca.pem");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        let config_path = dir.path().join("pebble-config.json");
        let log_path = dir.path().join("pebble.log");
        write(&ca_pem_path, tls.ca_pem())?;
        write(&cert_path, &format!("{}{}", tls.leaf_pem(), tls.ca_pem()))?;
        write(&key_path, tls.key_pem())?;

        let client = trusting_only(tls.ca_der(), Some(Duration::from_secs(2)))?;

        let (child, listen, management) = on_free_ports(PROGRAM, PORT_ATTEMPTS, async || {
            let listen = free_addr().map_err(NotReady::Fatal)?;
            let management = loop {
                let m = free_addr().map_err(NotReady::Fatal)?;
                if m != listen {
                    break m;
                }
            };
            let config = opts.config_json(listen, management, &cert_path, &key_path);
            write(&config_path, &config.to_string()).map_err(NotReady::Fatal)?;
            // Guarded at once: if the caller drops this future mid-wait, Pebble still dies.
            let mut child = ChildGuard(spawn(&binary, &opts, &config_path, &log_path).map_err(NotReady::Fatal)?);
            let urls = [format!("https://{listen}/dir"), format!("https://{management}/roots/0")];
            wait_ready(&mut child.0, &urls, &log_path, opts.start_timeout, &client).await?;
            Ok((child, listen, management))
        })
        .await?;
        Ok(Pebble {
            child,
            listen,
            management,
            ca_pem: tls.ca_pem().to_owned(),
            ca_der: tls.ca_der().to_vec(),
            ca_pem_path,
            log_path,
            opts,
            dir,
        })
    }

    /// The ACME directory URL, e.g. `https://127.0.0.1:14000/dir`.
    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.listen)
    }

    /// The base URL of Pebble's management API (`/roots/0`, `/intermediates/0`, ...).
    pub fn management_url(&self) -> String {
        format!("https://{}", self.management)
    }

    /// The address of the ACME listener.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The address of the management listener.
    pub fn management_addr(&self) -> SocketAddr {
        self.management
    }

    /// PEM file of the CA a client must trust for both HTTPS listeners.
    ///
    /// This is not the CA that signs issued certificates; fetch that from `/roots/0`.
    pub fn ca_cert_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// The same CA certificate as [`Pebble::ca_cert_pem_path`], as PEM text.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The same CA certificate as [`Pebble::ca_cert_pem_path`], as DER.
    pub fn ca_cert_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// An HTTP client that trusts only Pebble's HTTPS CA.
    pub fn http_client(&self) -> Result<reqwest::Client, PeerError> {
        trusting_only(&self.ca_der, None)
    }

    /// Pebble's combined stdout and stderr; deleted when this value is dropped.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last few KiB of Pebble's log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// The temporary directory holding the config, certificates and log.
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The options this instance was started with.
    pub fn options(&self) -> &PebbleOptions {
        &self.opts
    }

    /// The process id of the Pebble child.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// Kills and reaps the child when dropped.
#[derive(Debug)]
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until Pebble answers on every URL, exits, or the timeout passes.
async fn wait_ready(
    child: &mut Child,
    urls: &[String],
    log_path: &Path,
    timeout: Duration,
    client: &reqwest::Client,
) -> Result<(), NotReady> {
    let readiness = Readiness { program: PROGRAM, log: log_path, busy: "address already in use", timeout, interval: POLL_INTERVAL };
    wait_until_ready(child, readiness, async || {
        for url in urls {
            match client.get(url).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => return Ok(Err(format!("GET {url}: HTTP {}", r.status()))),
                Err(e) => return Ok(Err(format!("GET {url}: {e}"))),
            }
        }
        Ok(Ok(()))
    })
    .await
}

fn spawn(
    binary: &Path,
    opts: &PebbleOptions,
    config: &Path,
    log: &Path,
) -> Result<Child, PeerError> {
    let (out, err) = log_files(log)?;
    let mut cmd = Command::new(binary);
    cmd.arg("-config").arg(config);
    if let Some(dns) = opts.dns_server {
        cmd.arg("-dnsserver").arg(dns.to_string());
    }
    if opts.strict {
        cmd.arg("-strict");
    }
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PEBBLE_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    cmd.spawn()
        .map_err(|e| io_err(format!("spawning {}", binary.display()), e))
}

/// Pebble silently ignores unknown config keys, so look for the setting in the binary
/// itself (Go keeps struct field names) instead of letting `retry_after` do nothing.
fn check_supports_retry_after(binary: &Path) -> Result<(), PeerError> {
    let bytes = fs::read(binary).map_err(|e| io_err(format!("reading {}", binary.display()), e))?;
    let needle = b"RetryAfter";
    if bytes.windows(needle.len()).any(|w| w == needle) {
        Ok(())
    } else {
        Err(PeerError::Unsupported {
            program: PROGRAM.into(),
            what: "retry_after".into(),
            detail: format!(
                "{} has no retryAfter setting (Pebble 2.4.0 never sends Retry-After)",
                binary.display()
            ),
        })
    }
}

fn free_addr() -> Result<SocketAddr, PeerError> {
    let port = try_free_tcp_port().map_err(|e| io_err("finding a free TCP port", e))?;
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

