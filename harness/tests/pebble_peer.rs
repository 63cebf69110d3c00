//! The Pebble launcher against the real `pebble` binary.
//!
//! These tests fail, never skip, when Pebble is missing: run `scripts/test` to install it.

use acmespec::peers::{Pebble, PebbleOptions, free_tcp_port};
use serde_json::Value;

/// Fetches the directory the way an outside client would: trusting only the PEM file.
async fn directory(pebble: &Pebble) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(pebble.ca_cert_pem_path()).expect("reading Pebble's CA PEM");
    let ca = reqwest::Certificate::from_pem(&pem).expect("parsing Pebble's CA PEM");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .build()
        .expect("building client");
    let resp = client
        .get(pebble.directory_url())
        .send()
        .await
        .expect("GET directory");
    assert!(
        resp.status().is_success(),
        "directory answered {}",
        resp.status()
    );
    resp.json().await.expect("directory is JSON")
}

fn assert_acme_directory(dir: &Value, pebble: &Pebble) {
    for key in ["newNonce", "newAccount", "newOrder"] {
        let url = dir[key]
            .as_str()
            .unwrap_or_else(|| panic!("directory lacks {key}: {dir}"));
        assert!(
            url.starts_with(&format!("https://{}/", pebble.listen_addr())),
            "{key} = {url} is not on this Pebble ({})",
            pebble.listen_addr()
        );
    }
}

async fn start(opts: PebbleOptions) -> Pebble {
    match Pebble::start(opts).await {
        Ok(p) => p,
        Err(e) => panic!("starting Pebble failed: {e}"),
    }
}

#[tokio::test]
async fn pebble_serves_an_acme_directory() {
    let pebble = start(PebbleOptions::new(free_tcp_port(), free_tcp_port())).await;
    assert!(pebble.directory_url().starts_with("https://127.0.0.1:"));
    assert!(pebble.pid() > 0);
    let dir = directory(&pebble).await;
    assert_acme_directory(&dir, &pebble);

    // The management API is reachable with the same trust anchor.
    let client = pebble.http_client().expect("client");
    let root = client
        .get(format!("{}/roots/0", pebble.management_url()))
        .send()
        .await
        .expect("GET root");
    assert!(
        root.status().is_success(),
        "/roots/0 answered {}",
        root.status()
    );
    assert!(
        root.text()
            .await
            .expect("root body")
            .contains("BEGIN CERTIFICATE")
    );

    let log = pebble.log_path().to_path_buf();
    assert!(log.exists());
    drop(pebble);
    assert!(!log.exists(), "dropping Pebble removes its directory");
}

#[tokio::test]
async fn two_pebbles_run_side_by_side() {
    let a = start(PebbleOptions::new(free_tcp_port(), free_tcp_port())).await;
    let b = start(PebbleOptions::new(free_tcp_port(), free_tcp_port())).await;
    assert_ne!(a.listen_addr(), b.listen_addr());
    assert_ne!(a.management_addr(), b.management_addr());
    assert_ne!(a.pid(), b.pid());
    let (da, db) = tokio::join!(directory(&a), directory(&b));
    assert_acme_directory(&da, &a);
    assert_acme_directory(&db, &b);
}

#[tokio::test]
async fn missing_binary_is_a_loud_error() {
    let opts = PebbleOptions {
        binary: Some("/nonexistent/pebble".into()),
        ..PebbleOptions::default()
    };
    let err = Pebble::start(opts)
        .await
        .expect_err("a missing binary must not start");
    assert!(err.to_string().contains("/nonexistent/pebble"), "{err}");
}

#[tokio::test]
async fn retry_after_is_refused_when_pebble_lacks_it() {
    let opts = PebbleOptions {
        retry_after: Some((1, 1)),
        ..PebbleOptions::default()
    };
    match Pebble::start(opts).await {
        // A newer Pebble that implements retryAfter.
        Ok(p) => assert_acme_directory(&directory(&p).await, &p),
        Err(e) => assert!(
            e.to_string().contains("does not support retry_after"),
            "{e}"
        ),
    }
}

/// A stand-in `pebble` shell script, to see exactly what the launcher passes and how it reacts.
fn fake_pebble(dir: &tempfile::TempDir, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join("pebble");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn early_exit_reports_arguments_environment_and_log() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = fake_pebble(
        &tmp,
        r#"echo "args: $*"; env | grep '^PEBBLE_' | sort; exit 3"#,
    );
    let opts = PebbleOptions {
        binary: Some(binary),
        strict: true,
        ..PebbleOptions::default()
    }
    .with_dns_server("127.0.0.1:5353".parse().unwrap())
    .with_env("PEBBLE_AUTHZREUSE", "7");
    let err = Pebble::start(opts)
        .await
        .expect_err("the fake exits at once");
    assert!(
        matches!(err, acmespec::peers::PeerError::Exited { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    for want in [
        "-config ",
        "-dnsserver 127.0.0.1:5353",
        "-strict",
        "PEBBLE_VA_NOSLEEP=1",
        "PEBBLE_WFE_NONCEREJECT=0",
        "PEBBLE_AUTHZREUSE=7",
        "exit status: 3",
    ] {
        assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
    }
    assert!(
        !msg.contains("PEBBLE_AUTHZREUSE=0"),
        "override must replace the default:\n{msg}"
    );
    assert!(!msg.contains("PEBBLE_VA_ALWAYS_VALID"), "{msg}");
}

#[tokio::test]
async fn lost_ports_are_retried_then_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let count = tmp.path().join("count");
    let binary = fake_pebble(
        &tmp,
        &format!(
            "echo x >> {}; echo 'listen tcp 127.0.0.1:1: bind: address already in use'; exit 1",
            count.display()
        ),
    );
    let opts = PebbleOptions {
        binary: Some(binary),
        ..PebbleOptions::default()
    };
    let err = Pebble::start(opts).await.expect_err("the fake never binds");
    assert!(
        matches!(
            err,
            acmespec::peers::PeerError::PortsBusy { attempts: 5, .. }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 5);
}

#[tokio::test]
async fn eab_keys_make_external_account_binding_required() {
    let key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let opts = PebbleOptions::new(free_tcp_port(), free_tcp_port())
        .with_eab_keys(vec![("kid-1".into(), key.into())]);
    let pebble = start(opts).await;
    let dir = directory(&pebble).await;
    assert_eq!(
        dir["meta"]["externalAccountRequired"],
        Value::Bool(true),
        "{dir}"
    );
}

#[tokio::test]
async fn abandoned_start_leaves_no_process_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pid");
    let binary = fake_pebble(
        &tmp,
        &format!("echo $$ > {}; exec sleep 60", pid_file.display()),
    );
    let opts = PebbleOptions {
        binary: Some(binary),
        ..PebbleOptions::default()
    };
    let started =
        tokio::time::timeout(std::time::Duration::from_millis(500), Pebble::start(opts)).await;
    assert!(
        started.is_err(),
        "the fake never answers, so start must still be waiting"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the fake ran");
    let proc = std::path::Path::new("/proc").join(pid.trim());
    assert!(
        !proc.exists(),
        "process {} outlived the dropped start future",
        pid.trim()
    );
}
