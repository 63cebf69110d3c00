//! `acmespec load` against the built-in mock CA: every flow completes, every step is
//! timed once per completed flow, the percentiles are ordered, and the command line
//! writes its JSON report, over HTTP/2 and (`--http1`) HTTP/1.1. No assertion on
//! speed: the machine's load decides that.

use acmespec::load::{self, LoadOptions, Step};
use acmespec::mockca::{MockCa, MockCaConfig};
use acmespec::peers::{Pebble, PebbleOptions, free_tcp_port};
use acmespec::protocol::http::ClientOptions;
use rustls_pki_types::CertificateDer;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_run_against_the_mock_ca_completes_every_flow() {
    let ca = MockCa::start(MockCaConfig {
        always_valid: true,
        ..MockCaConfig::default()
    })
    .await
    .expect("mock CA starts");
    let options = LoadOptions {
        directory_url: ca.directory_url(),
        client: ClientOptions {
            ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())],
            ..ClientOptions::default()
        },
        flows: 40,
        concurrency: 4,
        duration: Duration::from_secs(300),
        server_pid: None,
    };
    let report = load::run(&options).await.expect("the run starts");

    assert_eq!(report.flows_failed, 0, "errors: {:?}", report.errors);
    assert_eq!(report.flows_completed, 40);
    assert!(report.errors.is_empty());
    assert!(report.stopped_early.is_none());
    assert!(
        (1..=4).contains(&report.accounts_created),
        "{} accounts",
        report.accounts_created
    );
    assert!(report.flows_per_second > 0.0);
    assert_eq!(report.http_version, "HTTP/2.0", "the mock CA offers HTTP/2 and the generator takes it");

    let steps: Vec<&str> = report.latency.iter().map(|l| l.step).collect();
    let expected: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(steps, expected, "every step is reported, in flow order");
    for l in &report.latency {
        let samples = if l.step == "newAccount" {
            report.accounts_created as usize
        } else {
            40
        };
        assert_eq!(l.samples, samples, "samples of {}", l.step);
        assert!(
            l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.max_ms,
            "{l:?}"
        );
    }
}

/// The same flows against an independent server, with its CPU and memory read through
/// `--server-pid`'s library counterpart. Fails, never skips, when Pebble is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_run_against_pebble_reports_its_cpu() {
    let ports = (free_tcp_port(), free_tcp_port());
    let pebble =
        Pebble::start(PebbleOptions::new(ports.0, ports.1).with_env("PEBBLE_VA_ALWAYS_VALID", "1"))
            .await
            .expect("Pebble starts");
    let options = LoadOptions {
        directory_url: pebble.directory_url(),
        client: ClientOptions {
            ca_certs: vec![CertificateDer::from(pebble.ca_cert_der().to_vec())],
            ..ClientOptions::default()
        },
        flows: 20,
        concurrency: 4,
        duration: Duration::from_secs(300),
        server_pid: Some(pebble.pid()),
    };
    let report = load::run(&options).await.expect("the run starts");
    assert_eq!(
        report.flows_failed,
        0,
        "errors: {:?}\n{}",
        report.errors,
        pebble.log_tail()
    );
    assert_eq!(report.flows_completed, 20);
    let server = report
        .server
        .as_ref()
        .unwrap_or_else(|| panic!("no server usage: {:?}", report.notes));
    assert_eq!(server.pid, pebble.pid());
    assert!(server.cpu_ms_per_flow.is_some_and(|ms| ms >= 0.0));
    assert!(server.peak_rss_kib.is_some_and(|kib| kib > 0));
    // The memory curve ends with a sample taken after the last flow.
    let last = server.memory.last().expect("at least the closing memory sample");
    assert_eq!(last.flows_completed, report.flows_completed);
    assert!(last.rss_kib > 0 && server.memory.windows(2).all(|w| w[0].seconds <= w[1].seconds));
}

#[tokio::test]
async fn refuses_a_remote_server_and_out_of_range_bounds() {
    let options = LoadOptions {
        directory_url: "https://acme-v02.api.letsencrypt.org/directory".into(),
        client: ClientOptions::default(),
        flows: 10,
        concurrency: 1,
        duration: Duration::from_secs(10),
        server_pid: None,
    };
    let err = load::run(&options).await.expect_err("not loopback");
    assert!(err.to_string().contains("not a loopback URL"), "{err}");
    let too_many = LoadOptions {
        directory_url: "https://127.0.0.1:1/directory".into(),
        flows: load::MAX_FLOWS + 1,
        ..options
    };
    let err = load::run(&too_many).await.expect_err("too many flows");
    assert!(err.to_string().contains("--flows"), "{err}");

    // A --server-pid that names no process is refused before any flow runs.
    let ca = MockCa::start(MockCaConfig {
        always_valid: true,
        ..MockCaConfig::default()
    })
    .await
    .expect("mock CA starts");
    let no_such_pid = LoadOptions {
        directory_url: ca.directory_url(),
        client: ClientOptions {
            ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())],
            ..ClientOptions::default()
        },
        flows: 1,
        server_pid: Some(u32::MAX),
        ..too_many
    };
    let err = load::run(&no_such_pid).await.expect_err("no such process");
    assert!(
        err.to_string()
            .contains(&format!("--server-pid {}", u32::MAX)),
        "{err}"
    );
}

#[test]
fn cli_writes_the_json_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("load.json");
    let out = Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .args([
            "load",
            "--flows",
            "10",
            "--concurrency",
            "2",
            "--server-pid",
            "1",
            "--http1",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("acmespec runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("10 flows completed, 0 failed"), "{stdout}");
    assert!(stdout.contains("concurrency 2, HTTP/1.1,"), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("JSON written")).expect("JSON parses");
    assert_eq!(report["flows_completed"], 10);
    assert_eq!(report["flows_failed"], 0);
    assert_eq!(report["http_version"], "HTTP/1.1", "--http1 keeps the generator off HTTP/2");
    let flow = report["latency"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["step"] == "flow"))
        .expect("whole-flow latency");
    assert_eq!(flow["samples"], 10);
    // The built-in CA runs in the harness process: no server figure, and a note saying why.
    assert!(report.get("server").is_none());
    let notes = report["notes"].as_array().expect("notes");
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("--server-pid 1 ignored"))),
        "{notes:?}"
    );
}
