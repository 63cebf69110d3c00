//! Live protocol fuzzing against the mock CA: the reference survives a campaign with no
//! finding, a defect shows up as findings of the oracle it breaks, a seed replays the
//! same campaign, and only loopback servers are ever fuzzed.

use acmespec::fuzzing::live::{self, LiveError, LiveOptions, LiveReport};
use acmespec::mockca::{Defect, MockCa, MockCaConfig};
use acmespec::protocol::http::ClientOptions;
use rustls_pki_types::CertificateDer;
use std::time::Duration;

async fn campaign(defects: Vec<Defect>, seed: u64, requests: usize) -> LiveReport {
    let ca = MockCa::start(MockCaConfig { defects, ..MockCaConfig::default() }).await.unwrap();
    let options = LiveOptions {
        directory_url: ca.directory_url(),
        client: ClientOptions { ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())], ..ClientOptions::default() },
        seed,
        requests,
        duration: Duration::from_secs(120),
    };
    live::run(&options, |_, _| {}).await.unwrap()
}

#[tokio::test]
async fn the_reference_mock_ca_survives_a_campaign_without_findings() {
    let report = campaign(Vec::new(), 7, 600).await;
    assert_eq!(report.requests, 600);
    assert!(report.complete, "{:?}", report.stopped);
    assert!(report.findings.is_empty(), "{:#?}", report.findings.iter().take(3).collect::<Vec<_>>());
    // The campaign reached beyond the JWS checks: some requests were accepted.
    assert!(report.statuses.range(200..300).map(|(_, n)| n).sum::<usize>() > 0, "{:?}", report.statuses);
}

#[tokio::test]
async fn a_defect_shows_as_findings_of_its_oracle_and_a_seed_replays_them() {
    let summary = |r: &LiveReport| r.findings.iter().map(|f| (f.request, f.oracle.clone(), f.mutations.clone())).collect::<Vec<_>>();
    let first = campaign(vec![Defect::AcceptReusedNonce], 11, 400).await;
    assert!(!first.findings.is_empty());
    // The defect skips the nonce check altogether: reused and invented nonces pass.
    let nonce_mutation = |m: &String| m == "nonce-reused" || m == "nonce-invented";
    assert!(first.findings.iter().all(|f| f.oracle == "accepted-invalid" && f.mutations.iter().any(nonce_mutation)), "{:#?}", first.findings);
    let again = campaign(vec![Defect::AcceptReusedNonce], 11, 400).await;
    assert_eq!(summary(&first), summary(&again));

    let nonces = campaign(vec![Defect::OmitNonceOnErrors], 11, 200).await;
    assert!(nonces.findings.iter().any(|f| f.oracle == "replay-nonce"));
    assert!(nonces.findings.iter().all(|f| f.oracle == "replay-nonce"), "{:#?}", nonces.findings);
}

#[tokio::test]
async fn only_loopback_servers_are_fuzzed_and_bounds_are_enforced() {
    let mut options = LiveOptions {
        directory_url: "https://acme-v02.api.letsencrypt.org/directory".into(),
        client: ClientOptions::default(),
        seed: 1,
        requests: 10,
        duration: Duration::from_secs(5),
    };
    assert!(matches!(live::run(&options, |_, _| {}).await, Err(LiveError::NotLoopback(_))));
    options.directory_url = "https://127.0.0.1:9/directory".into();
    options.requests = 0;
    assert!(matches!(live::run(&options, |_, _| {}).await, Err(LiveError::Bounds(_))));
    options.requests = 10;
    let err = live::run(&options, |_, _| {}).await.unwrap_err();
    assert!(matches!(err, LiveError::Setup(_)), "{err}");
}
