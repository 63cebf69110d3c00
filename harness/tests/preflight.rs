//! Preflight against a CA whose policy the run must match: `acmespec serve
//! --require-contact` refuses accounts without a contact, as many enterprise CAs do.
//! Without `--contact` the run must stop before its first case with one message naming
//! the flag; with it, the whole catalogue runs and no case fails on the contact rule.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// A running `acmespec serve`, killed when dropped.
struct Served {
    child: Child,
    directory: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free for TCP and UDP right now (the DNS responder takes both).
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
            return port;
        }
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("acmespec serve starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let directory = first.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(directory.starts_with("https://"), "serve printed {first:?}");
    Served { child, directory }
}

/// Runs `acmespec run` with `args` (its requests and cases are bounded in time).
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acmespec")).arg("run").args(args).output().expect("acmespec run starts")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_ca_requiring_contact_stops_the_run_in_preflight_until_contact_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = dir.path().join("ca.pem");
    let (http, tls, dns) = (free_port(), free_port(), free_port());
    let ports = [http, tls, dns].map(|p| p.to_string());
    let served = serve(&[
        "--require-contact",
        "--listen",
        "127.0.0.1:0",
        "--ca-cert-out",
        ca_pem.to_str().unwrap(),
        "--va-http-port",
        &ports[0],
        "--va-tls-port",
        &ports[1],
        "--va-resolver",
        &format!("127.0.0.1:{}", ports[2]),
    ]);
    let listen = |port: &str| format!("127.0.0.1:{port}");
    let (http_listen, tls_listen, dns_listen) = (listen(&ports[0]), listen(&ports[1]), listen(&ports[2]));
    let json = dir.path().join("run.json");
    let common = [
        "--directory",
        &served.directory,
        "--ca-cert",
        ca_pem.to_str().unwrap(),
        "--http-listen",
        &http_listen,
        "--tls-alpn-listen",
        &tls_listen,
        "--dns-listen",
        &dns_listen,
        "--json",
        json.to_str().unwrap(),
    ];

    let refused = run(&common);
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert!(said.contains("preflight failed at newAccount"), "{said}");
    assert!(said.contains("invalidContact"), "the server's answer is shown: {said}");
    assert!(said.contains("--contact mailto:"), "the fix names --contact: {said}");
    assert!(!Path::new(&json).exists(), "no case ran, so no report was written");

    let mut with_contact = common.to_vec();
    with_contact.extend(["--contact", "mailto:ops@example.org"]);
    let ran = run(&with_contact);
    let said = text(&ran);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let not_fine: Vec<String> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !matches!(c["verdict"].as_str(), Some("pass" | "unsupported")))
        .map(|c| format!("{} {}: {}", c["id"], c["verdict"], c["observed"]))
        .collect();
    assert!(not_fine.is_empty(), "every case passes (or needs a feature this CA lacks): {not_fine:#?}");
    let passed = report["summary"]["pass"].as_u64().unwrap();
    assert!(passed > 100, "the catalogue ran: {}", report["summary"]);
    assert_eq!(ran.status.code(), Some(0), "{said}");
}
