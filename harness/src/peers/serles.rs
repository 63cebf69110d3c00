//! serles-acme 1.3.0 (PyPI), a small ACME server in Python, as a child process.
//!
//! Pebble shares its authors' reading of RFC 8555 with Boulder; serles is an
//! independent implementation with real validation, so the same catalogue run against
//! it tells a harness misreading from a server quirk. It cannot be pointed at our
//! responders the way Pebble can: it validates http-01 on port 80, tls-alpn-01 on port
//! 443 and resolves names (and dns-01 TXT records) through `/etc/resolv.conf`. So it
//! runs in a private mount namespace (`unshare -m`) where that file says
//! `nameserver 127.0.0.1`, and the caller must have acmespec's responders listening on
//! 127.0.0.1:53, :80 and :443 — fixed ports, so only one serles run per machine at a
//! time. Nothing outside the namespace sees the changed resolver. Both the namespace
//! and those ports need root (CAP_SYS_ADMIN, CAP_NET_BIND_SERVICE), as the test
//! machines run.
//!
//! Its config allows wildcards and IP identifiers (both off by default in serles), so
//! those cases judge serles rather than its defaults. serles is not packaged by
//! Debian: `scripts/test` installs it into a virtualenv (`target/peers/serles-venv`,
//! or `$ACMESPEC_SERLES_VENV`), and a missing or other version is an error, never a
//! skip, since the committed baseline pins 1.3.0. Its issuing CA is generated here
//! (P-256, in-process) rather than by serles's first start (`openssl genrsa 4096`,
//! seconds), and its HTTPS certificate is a leaf signed by a separate CA because
//! rustls refuses a self-signed certificate used as the server's own
//! (`CaUsedAsEndEntity`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::tls_identity::LocalhostTls;

use super::{GroupGuard, NotReady, PeerError, on_free_ports, ensure_crypto_provider, trusting_only, io_err, log_tail, try_free_tcp_port, write, Readiness, spawn_grouped, wait_until_ready};

const PROGRAM: &str = "serles-acme";
/// The version the committed baseline (`reports/baselines/serles-1.3.0.toml`) pins.
const SERLES_VERSION: &str = "1.3.0";
/// Environment variable naming the virtualenv instead of [`default_venv`].
const SERLES_VENV_ENV: &str = "ACMESPEC_SERLES_VENV";
const PORT_ATTEMPTS: u32 = 3;
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The virtualenv `scripts/test` installs serles into: `$ACMESPEC_SERLES_VENV`, or
/// `target/peers/serles-venv` in this workspace (rebuilt by `scripts/test` after a
/// `cargo clean`).
fn default_venv() -> PathBuf {
    std::env::var_os(SERLES_VENV_ENV).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/serles-venv"),
        PathBuf::from,
    )
}

/// How to start a [`Serles`].
#[derive(Debug, Clone)]
pub struct SerlesOptions {
    /// The virtualenv holding serles-acme and gunicorn.
    pub venv: PathBuf,
    /// How long to wait for the directory to answer (Python imports and the worker's
    /// boot take a few seconds).
    pub start_timeout: Duration,
}

impl Default for SerlesOptions {
    /// serles from the virtualenv `scripts/test` installs (`target/peers/serles-venv`,
    /// or `$ACMESPEC_SERLES_VENV`), given 30 s to answer.
    fn default() -> Self {
        SerlesOptions {
            venv: default_venv(),
            start_timeout: Duration::from_secs(30),
        }
    }
}

/// A running serles (gunicorn, one worker with four threads, SQLite); dropping it
/// kills the whole process group and deletes its directory.
#[derive(Debug)]
pub struct Serles {
    // Held only to be dropped, `_child` first: fields drop in order, so the processes
    // are gone before `_dir` deletes their files.
    _child: GroupGuard,
    listen: SocketAddr,
    tls: LocalhostTls,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Serles {
    /// Starts serles and returns once its directory answers.
    ///
    /// The ACME listener's port is picked automatically (retried if another process
    /// takes it first). Validation needs acmespec's responders on 127.0.0.1:53, :80
    /// and :443, which the caller starts; serles itself starts without them. Fails
    /// with [`PeerError::VenvMissing`] when the virtualenv lacks serles-acme 1.3.0.
    pub async fn start(opts: SerlesOptions) -> Result<Serles, PeerError> {
        let gunicorn = opts.venv.join("bin/gunicorn");
        let installed = installed_version(&opts.venv);
        if !gunicorn.is_file() || installed.as_deref() != Some(SERLES_VERSION) {
            return Err(PeerError::VenvMissing {
                program: PROGRAM.into(),
                version: SERLES_VERSION.into(),
                venv: opts.venv.clone(),
                found: installed.unwrap_or_else(|| "nothing".into()),
            });
        }
        ensure_crypto_provider();

        let dir = tempfile::Builder::new()
            .prefix("acmespec-serles-")
            .tempdir()
            .map_err(|e| io_err("creating serles's temporary directory", e))?;
        let d = dir.path();
        let tls = LocalhostTls::generate("acmespec serles HTTPS CA")?;
        write(
            &d.join("tls.pem"),
            &format!("{}{}", tls.leaf_pem(), tls.ca_pem()),
        )?;
        write(&d.join("tls.key"), tls.key_pem())?;
        let (issuer_pem, issuer_key_pem) = issuing_ca()?;
        write(&d.join("issuer.pem"), &issuer_pem)?;
        write(&d.join("issuer.key"), &issuer_key_pem)?;
        write(&d.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
        let config = format!(
            "[serles]\n\
             database = sqlite:///{db}\n\
             backend = serles.backends.openssl\n\
             allowWildcards = true\n\
             allowIpIdentifiers = true\n\
             subjectNameTemplate = CN={{SAN[0]}}\n\
             [openssl]\n\
             cacert = {ca}\n\
             cakey = {key}\n",
            db = d.join("serles.sqlite").display(),
            ca = d.join("issuer.pem").display(),
            key = d.join("issuer.key").display(),
        );
        write(&d.join("config.ini"), &config)?;
        let log_path = d.join("serles.log");

        let client = trusting_only(tls.ca_der(), Some(Duration::from_secs(2)))?;

        let (child, listen) = on_free_ports(PROGRAM, PORT_ATTEMPTS, async || {
            let port = try_free_tcp_port().map_err(|e| NotReady::Fatal(io_err("finding a free TCP port", e)))?;
            let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            // Guarded at once: if the caller drops this future mid-wait, serles still dies.
            let mut child = spawn(&gunicorn, d, listen, &log_path).map_err(NotReady::Fatal)?;
            wait_ready(&mut child.0, &format!("https://{listen}/directory"), &log_path, opts.start_timeout, &client).await?;
            Ok((child, listen))
        })
        .await?;
        Ok(Serles { _child: child, listen, tls, log_path, _dir: dir })
    }

    /// The ACME directory URL, e.g. `https://127.0.0.1:41234/directory`.
    pub fn directory_url(&self) -> String {
        format!("https://{}/directory", self.listen)
    }

    /// The CA a client must trust for the HTTPS listener, DER (not the CA that signs
    /// issued certificates).
    pub fn ca_cert_der(&self) -> &[u8] {
        self.tls.ca_der()
    }

    /// The end of gunicorn's log: its access log and serles's errors.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }
}

/// The version in the venv's `serles_acme-VERSION.dist-info`, if any.
fn installed_version(venv: &Path) -> Option<String> {
    let pattern = venv.join("lib/python3*/site-packages/serles_acme-*.dist-info");
    glob::glob(pattern.to_str()?).ok()?.flatten().find_map(|p| {
        let name = p.file_name()?.to_str()?;
        Some(
            name.strip_prefix("serles_acme-")?
                .strip_suffix(".dist-info")?
                .to_owned(),
        )
    })
}

/// A P-256 CA for serles's openssl backend to sign issued certificates with: PEM
/// certificate and PEM private key.
fn issuing_ca() -> Result<(String, String), PeerError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "acmespec serles issuing CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Starts gunicorn as the leader of a new process group, in a mount namespace where
/// `/etc/resolv.conf` is the temp dir's `nameserver 127.0.0.1`.
fn spawn(gunicorn: &Path, dir: &Path, listen: SocketAddr, log: &Path) -> Result<GroupGuard, PeerError> {
    // `exec` keeps one pid from unshare to gunicorn's master, the group leader.
    let script = r#"mount --bind "$1" /etc/resolv.conf && shift && exec "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", script, "sh"])
        .arg(dir.join("resolv.conf"))
        .arg(gunicorn)
        .args([
            "-b",
            &listen.to_string(),
            "--certfile",
            "tls.pem",
            "--keyfile",
            "tls.key",
        ])
        .args([
            "-w",
            "1",
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "serles:create_app()",
        ])
        .current_dir(dir)
        .env("CONFIG", dir.join("config.ini"));
    spawn_grouped(&mut cmd, log, "unshare (util-linux) for serles")
}

/// Polls the directory until it answers 200, the process exits, or the timeout passes.
async fn wait_ready(
    child: &mut Child,
    url: &str,
    log_path: &Path,
    timeout: Duration,
    client: &reqwest::Client,
) -> Result<(), NotReady> {
    let readiness = Readiness { program: PROGRAM, log: log_path, busy: "Connection in use", timeout, interval: POLL_INTERVAL };
    wait_until_ready(child, readiness, async || {
        Ok(match client.get(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("GET {url}: HTTP {}", r.status())),
            Err(e) => Err(format!("GET {url}: {e}")),
        })
    })
    .await
}

