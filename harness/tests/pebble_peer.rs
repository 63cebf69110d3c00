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
    let client = reqwest::Client::builder().tls_certs_only([ca]).no_proxy().build().expect("building client");
    let resp = client.get(pebble.directory_url()).send().await.expect("GET directory");
    assert!(resp.status().is_success(), "directory answered {}", resp.status());
    resp.json().await.expect("directory is JSON")
}

fn assert_acme_directory(dir: &Value, pebble: &Pebble) {
    for key in ["newNonce", "newAccount", "newOrder"] {
        let url = dir[key].as_str().unwrap_or_else(|| panic!("directory lacks {key}: {dir}"));
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
    let root = client.get(format!("{}/roots/0", pebble.management_url())).send().await.expect("GET root");
    assert!(root.status().is_success(), "/roots/0 answered {}", root.status());
    assert!(root.text().await.expect("root body").contains("BEGIN CERTIFICATE"));

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
    let opts = PebbleOptions { binary: Some("/nonexistent/pebble".into()), ..PebbleOptions::default() };
    let err = Pebble::start(opts).await.expect_err("a missing binary must not start");
    assert!(err.to_string().contains("/nonexistent/pebble"), "{err}");
}

#[tokio::test]
async fn retry_after_is_refused_when_pebble_lacks_it() {
    let opts = PebbleOptions { retry_after: Some((1, 1)), ..PebbleOptions::default() };
    match Pebble::start(opts).await {
        // A newer Pebble that implements retryAfter.
        Ok(p) => assert_acme_directory(&directory(&p).await, &p),
        Err(e) => assert!(e.to_string().contains("does not support retry_after"), "{e}"),
    }
}
