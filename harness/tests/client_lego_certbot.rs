//! Real third-party ACME clients (lego 4.9.1 and certbot 2.1.0, the Debian
//! packages) obtain certificates from `acmespec serve` run as a subprocess.
//!
//! Validation is real: the server's validation authority resolves every name
//! through an in-test DNS responder (A 127.0.0.1 for every name) and connects to
//! the client's own challenge server on the port the client was told to use.
//!
//! These tests fail, never skip, when lego or certbot is missing: run
//! `scripts/test` to install them.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acmespec::peers::free_tcp_port;
use acmespec::responders::DnsResponder;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// How long a client may take for a whole issuance before it is killed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `acmespec serve` may take to answer its directory.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Returns the program's path, or fails the test: a missing peer is never a skip.
fn require(program: &str) -> PathBuf {
    find_on_path(program).unwrap_or_else(|| {
        panic!(
            "{program} not found on PATH: these interop tests need the real {program} \
             (Debian package `{program}`); run scripts/test, which installs it, \
             or `apt-get install {program}`"
        )
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn start_dns() -> DnsResponder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    DnsResponder::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("starting the DNS responder")
}

/// `acmespec serve` as a child process; killed (and reaped) when dropped.
struct Server {
    child: Child,
    directory_url: String,
    ca_pem: PathBuf,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `acmespec serve` on a free port, validating http-01 on `va_http_port`,
    /// tls-alpn-01 on `va_tls_port` and resolving names through `resolver`.
    /// Retries with another port if the listen port was taken in between.
    async fn start(
        dir: &Path,
        va_http_port: u16,
        va_tls_port: u16,
        resolver: SocketAddr,
    ) -> Server {
        let mut last = String::new();
        for attempt in 0..3 {
            let port = free_tcp_port();
            let ca_pem = dir.join(format!("mockca-root-{attempt}.pem"));
            let log = dir.join(format!("acmespec-serve-{attempt}.log"));
            let out = File::create(&log).expect("creating the server log");
            let err = out.try_clone().expect("cloning the log handle");
            let child = Command::new(env!("CARGO_BIN_EXE_acmespec"))
                .arg("serve")
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .arg("--ca-cert-out")
                .arg(&ca_pem)
                .args(["--va-http-port", &va_http_port.to_string()])
                .args(["--va-tls-port", &va_tls_port.to_string()])
                .args(["--va-resolver", &resolver.to_string()])
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("spawning acmespec serve");
            let mut server = Server {
                child,
                directory_url: format!("https://127.0.0.1:{port}/directory"),
                ca_pem,
                log,
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("acmespec serve did not start after 3 attempts: {last}");
    }

    /// Polls the directory (trusting only the written PEM) within a bounded time.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let mut last_error = String::from("nothing tried yet");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "exited early ({status}); log:\n{}",
                    tail(&self.log, 30)
                ));
            }
            match self.fetch_directory().await {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(format!(
            "no directory within {SERVER_START_TIMEOUT:?}; last error: {last_error}; log:\n{}",
            tail(&self.log, 30)
        ))
    }

    async fn fetch_directory(&self) -> Result<(), String> {
        let pem = std::fs::read(&self.ca_pem)
            .map_err(|e| format!("reading {}: {e}", self.ca_pem.display()))?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("CA PEM: {e}"))?;
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| format!("client: {e}"))?;
        let resp = client
            .get(&self.directory_url)
            .send()
            .await
            .map_err(|e| format!("GET directory: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("directory answered {}", resp.status()));
        }
        let dir: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| format!("directory JSON: {e}"))?;
        if dir["newAccount"].is_string()
            && dir["newOrder"].is_string()
            && dir["newNonce"].is_string()
        {
            Ok(())
        } else {
            Err(format!(
                "directory lacks newNonce/newAccount/newOrder: {dir}"
            ))
        }
    }
}

/// Runs a client to completion within [`CLIENT_TIMEOUT`], killing it on timeout,
/// and fails the test (with its output and the server's log) unless it exits 0.
async fn run_client(mut cmd: tokio::process::Command, what: &str, dir: &Path, server: &Server) {
    let log = dir.join(format!("{what}.log"));
    let out = File::create(&log).expect("creating the client log");
    let err = out.try_clone().expect("cloning the log handle");
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
    let status = match tokio::time::timeout(CLIENT_TIMEOUT, child.wait()).await {
        Ok(status) => status.unwrap_or_else(|e| panic!("waiting for {what}: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            panic!(
                "{what} did not finish within {CLIENT_TIMEOUT:?} (killed).\n--- {what} output ---\n{}\n--- acmespec serve log ---\n{}",
                tail(&log, 60),
                tail(&server.log, 60)
            );
        }
    };
    assert!(
        status.success(),
        "{what} failed ({status}).\n--- {what} output ---\n{}\n--- acmespec serve log ---\n{}",
        tail(&log, 80),
        tail(&server.log, 60)
    );
}

/// Parses every certificate of a PEM file (leaf first) and checks the leaf names `name`.
fn assert_cert_file(path: &Path, name: &str) {
    let pem = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "the client reported success but {} is unreadable: {e}",
            path.display()
        )
    });
    let blocks: Vec<_> = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{} is not valid PEM ({e}):\n{pem}", path.display()));
    assert!(!blocks.is_empty(), "no PEM block in {}", path.display());
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(
            block.label,
            "CERTIFICATE",
            "PEM block {i} of {} has label {}",
            path.display(),
            block.label
        );
        X509Certificate::from_der(&block.contents).unwrap_or_else(|e| {
            panic!(
                "PEM block {i} of {} is not an X.509 certificate: {e}",
                path.display()
            )
        });
    }
    let (_, leaf) = X509Certificate::from_der(&blocks[0].contents).expect("leaf parses");
    let san = leaf
        .subject_alternative_name()
        .expect("well-formed SAN extension")
        .expect("the leaf has a subjectAltName extension");
    let dns_names: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(
        dns_names,
        vec![name],
        "dNSName SANs of the leaf in {}",
        path.display()
    );
}

// ---------------------------------------------------------------------------
// lego
// ---------------------------------------------------------------------------

fn lego_command(lego: &Path, server: &Server, state: &Path, name: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(lego);
    cmd.env("LEGO_CA_CERTIFICATES", &server.ca_pem)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .args(["--server", &server.directory_url])
        .args(["--accept-tos", "--email", "acmespec@example.com"])
        .arg("--path")
        .arg(state)
        .args(["--domains", name]);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_issues_with_http01() {
    let lego = require("lego");
    let dns = start_dns().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let http_port = free_tcp_port();
    let server = Server::start(tmp.path(), http_port, free_tcp_port(), dns.local_addr()).await;

    let name = "http01.lego.acmespec.test";
    let state = tmp.path().join("lego");
    let mut cmd = lego_command(&lego, &server, &state, name);
    cmd.args([
        "--http",
        "--http.port",
        &format!("127.0.0.1:{http_port}"),
        "run",
    ]);
    run_client(cmd, "lego-http01", tmp.path(), &server).await;

    assert_cert_file(
        &state.join("certificates").join(format!("{name}.crt")),
        name,
    );
    assert!(
        state
            .join("certificates")
            .join(format!("{name}.key"))
            .is_file(),
        "lego wrote no key"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_issues_with_tls_alpn01() {
    let lego = require("lego");
    let dns = start_dns().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let tls_port = free_tcp_port();
    let server = Server::start(tmp.path(), free_tcp_port(), tls_port, dns.local_addr()).await;

    let name = "tlsalpn01.lego.acmespec.test";
    let state = tmp.path().join("lego");
    let mut cmd = lego_command(&lego, &server, &state, name);
    cmd.args([
        "--tls",
        "--tls.port",
        &format!("127.0.0.1:{tls_port}"),
        "run",
    ]);
    run_client(cmd, "lego-tlsalpn01", tmp.path(), &server).await;

    assert_cert_file(
        &state.join("certificates").join(format!("{name}.crt")),
        name,
    );
    drop(server);
}

/// dns-01 through lego's `exec` provider: the hook script drops a request file
/// and waits; a task in this test publishes the TXT record in the in-test DNS
/// responder (the one the mock CA resolves with) and acknowledges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_issues_with_dns01() {
    let lego = require("lego");
    let dns = start_dns().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        tmp.path(),
        free_tcp_port(),
        free_tcp_port(),
        dns.local_addr(),
    )
    .await;

    let hook_dir = tmp.path().join("hook");
    std::fs::create_dir(&hook_dir).expect("hook dir");
    let script = tmp.path().join("dns-hook.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
# lego exec provider: dns-hook.sh present|cleanup FQDN VALUE
dir='{}'
[ "$1" = present ] || exit 0
printf '%s %s\n' "$2" "$3" > "$dir/$2.tmp" && mv "$dir/$2.tmp" "$dir/$2.req" || exit 1
i=0
while [ ! -f "$dir/$2.done" ]; do
  i=$((i+1)); [ "$i" -gt 200 ] && {{ echo "no acknowledgement for $2" >&2; exit 1; }}
  sleep 0.05
done
"#,
            hook_dir.display()
        ),
    )
    .expect("writing the hook script");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod hook");
    }

    // Publishes each requested TXT record, then acknowledges it.
    let publisher = {
        let (dns, hook_dir) = (dns.clone(), hook_dir.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(entries) = std::fs::read_dir(&hook_dir) {
                    for entry in entries.flatten() {
                        let path = entry.path();
                        if path.extension().is_some_and(|e| e == "req") {
                            let line = std::fs::read_to_string(&path).unwrap_or_default();
                            if let Some((fqdn, value)) = line.trim().split_once(' ') {
                                dns.add_txt(fqdn, value);
                                std::fs::write(path.with_extension("done"), b"").expect("ack");
                                std::fs::remove_file(&path).expect("consume request");
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let name = "dns01.lego.acmespec.test";
    let state = tmp.path().join("lego");
    let mut cmd = lego_command(&lego, &server, &state, name);
    cmd.env("EXEC_PATH", &script)
        .env("EXEC_POLLING_INTERVAL", "1")
        .env("EXEC_PROPAGATION_TIMEOUT", "10")
        .env("EXEC_SEQUENCE_INTERVAL", "1")
        .args([
            "--dns",
            "exec",
            "--dns.resolvers",
            &dns.local_addr().to_string(),
            "--dns.disable-cp",
            "run",
        ]);
    run_client(cmd, "lego-dns01", tmp.path(), &server).await;
    publisher.abort();

    assert!(
        hook_dir
            .join(format!("_acme-challenge.{name}..done"))
            .is_file()
            || hook_dir
                .join(format!("_acme-challenge.{name}.done"))
                .is_file(),
        "the dns-01 hook was never called for {name}"
    );
    assert_cert_file(
        &state.join("certificates").join(format!("{name}.crt")),
        name,
    );
    drop(server);
}

// ---------------------------------------------------------------------------
// certbot
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certbot_issues_with_http01() {
    let certbot = require("certbot");
    let dns = start_dns().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let http_port = free_tcp_port();
    let server = Server::start(tmp.path(), http_port, free_tcp_port(), dns.local_addr()).await;

    let name = "http01.certbot.acmespec.test";
    let base = tmp.path().join("certbot");
    let mut cmd = tokio::process::Command::new(&certbot);
    cmd.env("REQUESTS_CA_BUNDLE", &server.ca_pem)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .args([
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--register-unsafely-without-email",
        ])
        .args(["--server", &server.directory_url])
        .args([
            "--standalone",
            "--http-01-port",
            &http_port.to_string(),
            "--http-01-address",
            "127.0.0.1",
        ])
        .arg("--config-dir")
        .arg(base.join("conf"))
        .arg("--work-dir")
        .arg(base.join("work"))
        .arg("--logs-dir")
        .arg(base.join("logs"))
        .args(["-d", name]);
    run_client(cmd, "certbot-http01", tmp.path(), &server).await;

    let live = base.join("conf").join("live").join(name);
    assert_cert_file(&live.join("cert.pem"), name);
    assert_cert_file(&live.join("fullchain.pem"), name);
    assert!(
        live.join("privkey.pem").exists(),
        "certbot wrote no private key"
    );
    drop(server);
}
