//! The whole built-in catalogue against real Pebble 2.4 (Debian package) with real
//! http-01, dns-01 and tls-alpn-01 validation through acmespec's own responders.
//!
//! Every verdict must match `reports/baselines/pebble-2.4.0.toml`: a case listed there
//! must get exactly the listed verdict (so a fix in Pebble or a change in a case is
//! noticed), and every other case must pass. `error` is never acceptable.
//!
//! The external account binding cases run against a second Pebble that requires EAB
//! (with the runner holding the same key), so they get a real verdict instead of
//! `unsupported`; the rest runs against a Pebble without EAB, as most deployments are.

use acmespec::peers::{Pebble, PebbleOptions};
use acmespec::protocol::b64;
use acmespec::protocol::http::ClientOptions;
use acmespec::report::{PinnedVerdict, read_baseline};
use acmespec::responders::Responders;
use acmespec::runner::{self, Capabilities, EabCredentials, RunOptions, Verdict};
use acmespec::scenario::{Catalogue, Feature, embedded_catalogue};
use rustls_pki_types::CertificateDer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

fn baseline() -> BTreeMap<String, PinnedVerdict> {
    read_baseline(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/baselines/pebble-2.4.0.toml"))).unwrap()
}

fn capabilities(file: &str) -> Capabilities {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/capabilities").join(file);
    Capabilities::load(&path).unwrap()
}

struct Setup {
    _pebble: Pebble,
    responders: Responders,
    options: RunOptions,
}

/// A Pebble validating against fresh responders; with `eab`, one that requires binding
/// with that key, and run options that bind with it.
async fn setup_with(eab: Option<EabCredentials>) -> Setup {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let responders = Responders::start(any, any, any).await.unwrap();
    let mut opts = PebbleOptions::new(responders.http01().local_addr().port(), responders.tls_alpn().local_addr().port())
        .with_dns_server(responders.dns().local_addr());
    if let Some(e) = &eab {
        opts = opts.with_eab_keys(vec![(e.kid.clone(), b64::encode(&e.mac_key))]);
    }
    let pebble = Pebble::start(opts).await.expect("Pebble must be installed: run scripts/test");
    let mut options = RunOptions::new(pebble.directory_url());
    options.client = ClientOptions {
        ca_certs: vec![CertificateDer::from(pebble.ca_cert_der().to_vec())],
        ..ClientOptions::default()
    };
    options.capabilities = capabilities(if eab.is_some() { "pebble-eab.toml" } else { "pebble.toml" });
    options.eab = eab;
    // Pebble 2.4.0 deadlocks when newOrder and a finalization meet on its store lock
    // (reports/performance.md): with several cases in flight the whole baseline run
    // could hang on it, so its cases run one at a time.
    options.concurrency = 1;
    Setup { _pebble: pebble, responders, options }
}

async fn setup() -> Setup {
    setup_with(None).await
}

/// The catalogue split into the cases about external account binding and the rest.
fn split_by_eab(catalogue: &Catalogue) -> (Catalogue, Catalogue) {
    let about_eab = |c: &acmespec::scenario::Case| c.def.requires.iter().any(|f| matches!(f, Feature::Eab | Feature::EabRequired));
    let part = |keep: bool| Catalogue {
        cases: catalogue.cases.iter().filter(|c| about_eab(c) == keep).cloned().collect(),
        requirements: catalogue.requirements.clone(),
        judges: catalogue.judges.clone(),
    };
    (part(true), part(false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_verdicts_match_the_pebble_baseline() {
    let catalogue = embedded_catalogue().unwrap();
    let baseline = baseline();
    for id in baseline.keys() {
        assert!(catalogue.cases.iter().any(|c| &c.def.id == id), "baseline names unknown case {id}");
    }
    let (eab_cases, other_cases) = split_by_eab(&catalogue);
    assert!(!eab_cases.cases.is_empty(), "the catalogue has EAB cases");
    let s = setup().await;
    let mut report = runner::run(&other_cases, &s.options, &s.responders, |_| {}).await.unwrap();
    let eab = EabCredentials { kid: "acmespec-pebble".into(), mac_key: b"acmespec pebble conformance key!".to_vec() };
    let with_eab = setup_with(Some(eab)).await;
    let eab_report = runner::run(&eab_cases, &with_eab.options, &with_eab.responders, |_| {}).await.unwrap();
    report.complete &= eab_report.complete;
    report.cases.extend(eab_report.cases);
    report.summary = acmespec::runner::Summary::of(&report.cases);
    assert_eq!(report.cases.len(), catalogue.cases.len());
    // Kept for reading after a failure, and for regenerating reports/pebble-2.4.0.md.
    acmespec::report::write_json(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pebble-2.4.0.json"), &report).unwrap();
    let wrong = acmespec::report::off_baseline(&report, &baseline);
    assert!(wrong.is_empty(), "verdicts differ from reports/baselines/pebble-2.4.0.toml:\n{}", wrong.join("\n"));
    for id in ["rfc8555/8.3/http-01-issuance", "rfc8555/8.4/dns-01-issuance", "rfc8737/3/tls-alpn-01-issuance"] {
        let case = report.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(case.verdict, Verdict::Pass, "{id}");
    }
    assert!(report.complete);
}

/// The CLI end to end: exit status, the JSON report's shape, and the JUnit, JSON Lines,
/// Markdown and HTML reports of the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_run_writes_reports_and_exit_status() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, s._pebble.ca_cert_pem()).unwrap();
    let (http, tls, dns) = (s.responders.http01().local_addr(), s.responders.tls_alpn().local_addr(), s.responders.dns().local_addr());
    // The CLI starts its own responders, so this test's must give up the ports first.
    s.responders.shutdown();
    drop(s.responders);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let run = |filter: &str, json: &std::path::Path, junit: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_acmespec"))
            .args(["run", "--directory", &s.options.directory_url, "--ca-cert"])
            .arg(&ca)
            .args(["--http-listen", &http.to_string(), "--tls-alpn-listen", &tls.to_string()])
            .args(["--dns-listen", &dns.to_string(), "--filter", filter, "--json"])
            .arg(json)
            .arg("--junit")
            .arg(junit)
            .args(["--md", dir.path().join("r.md").to_str().unwrap(), "--html", dir.path().join("r.html").to_str().unwrap()])
            .args(["--jsonl", dir.path().join("r.jsonl").to_str().unwrap()])
            .args(["--server-pid", &s._pebble.pid().to_string()])
            .output()
            .unwrap()
    };
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let out = run("rfc8555/8.3/http-01-issuance", &json, &junit);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PASS        rfc8555/8.3/http-01-issuance"), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed, 0 blocked, 0 non-strict, 0 unsupported, 0 errors"), "{stdout}");
    // What the run cost: the case's requests, the harness's CPU and Pebble's.
    let cost = stdout.lines().find(|l| l.contains(" requests; harness ")).unwrap_or_else(|| panic!("no cost line: {stdout}"));
    let requests: usize = cost.split(' ').next().unwrap().parse().unwrap();
    assert!(requests >= 8, "an http-01 issuance takes at least 8 requests: {cost}");
    assert!(cost.contains(&format!("server (pid {}) ", s._pebble.pid())) && cost.contains("ms per request"), "{cost}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["pass"], 1);
    assert_eq!(report["complete"], true);
    let case = &report["cases"][0];
    for field in ["id", "verdict", "level", "requirements", "duration_ms"] {
        assert!(case.get(field).is_some(), "case lacks {field}: {case}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("rfc8555/8.3/http-01-issuance"), "{xml}");

    let out = run("rfc8555/7.2/new-nonce-get", &json, &junit);
    assert_eq!(out.status.code(), Some(1), "Pebble's newNonce lacks Cache-Control: no-store");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let case = &report["cases"][0];
    assert_eq!(case["verdict"], "fail");
    assert!(case["expected"].as_str().unwrap().contains("no-store"));
    assert!(case["transcript"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<failure"));
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(md.contains("### FAIL `rfc8555/7.2/new-nonce-get`") && md.contains("0 passed, 1 failed"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("rfc8555/7.2/new-nonce-get") && html.contains("no-store"), "{html}");
    let streamed = acmespec::report::read_results(&dir.path().join("r.jsonl")).unwrap();
    assert!(streamed.complete && streamed.cases.len() == 1 && streamed.cases[0].verdict == Verdict::Fail);
}

#[test]
fn cli_usage_errors_exit_2() {
    let bin = env!("CARGO_BIN_EXE_acmespec");
    let out = std::process::Command::new(bin)
        .args(["run", "--directory", "https://127.0.0.1:1/dir", "--ca-cert", "/nonexistent.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca-cert /nonexistent.pem"));
    let out = std::process::Command::new(bin).args(["run", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(bin)
        .args(["run", "--directory", "https://127.0.0.1:9/dir", "--server-pid", &u32::MAX.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("--server-pid {}", u32::MAX)));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("server")).unwrap();
    std::fs::write(dir.path().join("server/bad.toml"), "[[case]]\nid = \"x\"\ntitle = 1\n").unwrap();
    let out = std::process::Command::new(bin).args(["list", "--scenarios"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3"), "{err}");
}

/// `acmespec list | head`: a reader that stops reading ends the listing quietly with the
/// status of a SIGPIPE (141), not a panic.
#[test]
fn list_into_a_closed_pipe_ends_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .arg("list")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "{err}");
}
