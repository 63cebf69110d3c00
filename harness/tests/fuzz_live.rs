//! Live protocol fuzzing against the mock CA: the reference survives a campaign with no
//! finding; a defect shows up as one root cause, a cluster of distinct, minimised
//! findings of the oracle it breaks, which replay on their own; a seed replays the same
//! campaign; slow answers are caught; the command writes its reports and one replay
//! file per root cause; only loopback servers are ever fuzzed.

use acmespec::fuzzing::live::{self, Cluster, LiveError, LiveOptions, LiveReport, ReplaySpec};
use acmespec::fuzzing::live_report::SavedCluster;
use acmespec::mockca::{Defect, Endpoint, FaultKind, FaultRule, MockCa, MockCaConfig};
use acmespec::protocol::http::ClientOptions;
use rustls_pki_types::CertificateDer;
use std::process::Command;
use std::time::Duration;

fn options(ca: &MockCa, seed: u64, requests: usize) -> LiveOptions {
    LiveOptions {
        directory_url: ca.directory_url(),
        client: ClientOptions { ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())], ..ClientOptions::default() },
        seed,
        requests,
        duration: Duration::from_secs(120),
        slow: Duration::from_secs(5),
    }
}

async fn mock_ca(defects: Vec<Defect>, faults: Vec<FaultRule>) -> MockCa {
    MockCa::start(MockCaConfig { defects, faults, ..MockCaConfig::default() }).await.unwrap()
}

async fn campaign(defects: Vec<Defect>, seed: u64, requests: usize) -> LiveReport {
    let ca = mock_ca(defects, Vec::new()).await;
    live::run(&options(&ca, seed, requests), |_, _| {}).await.unwrap()
}

#[tokio::test]
async fn the_reference_mock_ca_survives_a_campaign_without_findings() {
    let report = campaign(Vec::new(), 7, 600).await;
    assert_eq!(report.requests, 600);
    assert!(report.complete, "{:?}", report.stopped);
    assert!(report.findings.is_empty(), "{:#?}", report.findings.iter().take(3).collect::<Vec<_>>());
    assert!(report.clusters.is_empty());
    // The campaign reached beyond the JWS checks: some requests were accepted.
    assert!(report.statuses.range(200..300).map(|(_, n)| n).sum::<usize>() > 0, "{:?}", report.statuses);
}

/// The report's one cluster, checked to hold every finding and every occurrence.
fn only_cluster(report: &LiveReport) -> &Cluster {
    let [cluster] = report.clusters.as_slice() else { panic!("{:#?}", report.clusters) };
    assert_eq!(cluster.findings, (0..report.findings.len()).collect::<Vec<_>>());
    assert_eq!(cluster.occurrences, report.findings.iter().map(|f| f.occurrences).sum::<usize>());
    cluster
}

#[tokio::test]
async fn a_defect_shows_as_one_root_cause_of_minimised_findings_that_a_seed_replays() {
    let summary = |r: &LiveReport| r.findings.iter().map(|f| (f.key.clone(), f.first_request, f.occurrences)).collect::<Vec<_>>();
    let first = campaign(vec![Defect::AcceptReusedNonce], 11, 400).await;
    // The defect skips the nonce check altogether: reused and invented nonces pass on
    // every endpoint, and minimisation strips every other mutation off the request.
    for f in &first.findings {
        assert_eq!(f.broken.oracle, "accepted-invalid", "{f:#?}");
        assert!(matches!(f.replay.mutations.as_slice(), [m] if m == "nonce-reused" || m == "nonce-invented"), "{f:#?}");
    }
    // One finding per endpoint and mutation class, the repeats counted, all of them one
    // root cause: the nonce check that is missing.
    let cluster = only_cluster(&first);
    let total = cluster.occurrences;
    assert!(first.findings.len() > 1 && first.findings.len() <= 2 * 7 && total > first.findings.len(), "{} findings, {total} occurrences", first.findings.len());
    assert_eq!(cluster.cause, "(RFC 8555 §6.5: a missing, reused or unknown nonce is refused with badNonce)");
    assert!(cluster.endpoints.len() > 1 && first.findings[cluster.reproducer].replay.mutations.len() == 1, "{cluster:#?}");
    assert!(first.minimisation_requests > 0 && first.requests == 400);
    let again = campaign(vec![Defect::AcceptReusedNonce], 11, 400).await;
    assert_eq!(summary(&first), summary(&again));
    assert_eq!(first.clusters, again.clusters);

    // Errors without Replay-Nonce, whatever their problem and detail: a cause per status
    // that lacks it, not per finding.
    let nonces = campaign(vec![Defect::OmitNonceOnErrors], 11, 200).await;
    assert!(nonces.findings.iter().all(|f| f.broken.oracle == "replay-nonce"), "{:#?}", nonces.findings);
    assert!(nonces.clusters.iter().all(|c| c.cause.parse::<u16>().is_ok_and(|s| s >= 400)), "{:#?}", nonces.clusters);
    assert!(!nonces.clusters.is_empty() && nonces.clusters.len() * 5 < nonces.findings.len(), "{:#?}", nonces.clusters);

    // A server that does not check signatures accepts corrupt ones, under whatever key
    // or alg and on every endpoint: one cause, named by the rule the minimal requests break.
    let unsigned = campaign(vec![Defect::SkipSignatureCheck], 3, 400).await;
    assert!(unsigned.findings.iter().any(|f| f.replay.mutations == ["signature-corrupt"]), "{:#?}", unsigned.findings);
    for f in &unsigned.findings {
        assert_eq!(f.broken.rfc, "RFC 8555 §6.2: the signature must verify under the header's alg and key", "{f:#?}");
    }
    let cluster = only_cluster(&unsigned);
    assert!(unsigned.findings.len() > 1 && cluster.endpoints.len() > 1, "{cluster:#?}");
}

#[tokio::test]
async fn a_server_error_on_one_resource_is_one_root_cause_whatever_the_mutations() {
    let fail = FaultRule {
        endpoint: Endpoint::Order,
        nth: None,
        times: None,
        probability: None,
        action: FaultKind::ServerInternal,
        retry_after: None,
        ms: None,
        polls: None,
    };
    let ca = mock_ca(Vec::new(), vec![fail]).await;
    let report = live::run(&options(&ca, 5, 300), |_, _| {}).await.unwrap();
    let cluster = only_cluster(&report);
    assert_eq!((cluster.oracle.as_str(), cluster.cause.as_str()), ("server-error", r#"500 serverInternal "scripted fault: internal error""#));
    assert_eq!(cluster.endpoints, ["order"]);
    assert!(cluster.mutation_sets.len() > 3, "{cluster:#?}");
}

#[tokio::test]
async fn a_finding_replays_on_its_own_while_the_defect_is_there() {
    let report = campaign(vec![Defect::AcceptReusedNonce], 11, 200).await;
    let reused = report.findings.iter().find(|f| f.replay.mutations == ["nonce-reused"]).expect("a reused-nonce finding");
    let broken = mock_ca(vec![Defect::AcceptReusedNonce], Vec::new()).await;
    let outcome = live::replay(&options(&broken, 1, 1), &reused.replay).await.unwrap();
    assert!(outcome.broken.iter().any(|b| b.oracle == "accepted-invalid"), "{outcome:#?}");
    let fixed = mock_ca(Vec::new(), Vec::new()).await;
    let outcome = live::replay(&options(&fixed, 1, 1), &reused.replay).await.unwrap();
    assert!(outcome.broken.is_empty(), "{outcome:#?}");

    // Key confusion, written by hand: newAccount signed by one key with another key's jwk.
    let confused = ReplaySpec { endpoint: "newAccount".into(), mutations: vec!["jwk-other-key".into()], seed: 1 };
    let unsigned = mock_ca(vec![Defect::SkipSignatureCheck], Vec::new()).await;
    let outcome = live::replay(&options(&unsigned, 1, 1), &confused).await.unwrap();
    let status = outcome.exchange.as_ref().and_then(|e| e.response.as_ref()).map(|r| r.status);
    assert_eq!((outcome.broken.len(), status), (1, Some(201)), "{outcome:#?}");
    assert_eq!(outcome.broken[0].oracle, "accepted-invalid");
    let outcome = live::replay(&options(&fixed, 1, 1), &confused).await.unwrap();
    assert!(outcome.broken.is_empty(), "{outcome:#?}");
    let unknown = ReplaySpec { mutations: vec!["no-such-mutation".into()], ..confused };
    assert!(matches!(live::replay(&options(&fixed, 1, 1), &unknown).await, Err(LiveError::Replay(_))));
}

#[tokio::test]
async fn a_slow_answer_is_a_finding() {
    let delay = FaultRule {
        endpoint: Endpoint::Order,
        nth: None,
        times: None,
        probability: None,
        action: FaultKind::Delay,
        retry_after: None,
        ms: Some(400),
        polls: None,
    };
    let ca = mock_ca(Vec::new(), vec![delay]).await;
    let report = live::run(&LiveOptions { slow: Duration::from_millis(200), ..options(&ca, 5, 150) }, |_, _| {}).await.unwrap();
    for f in &report.findings {
        assert_eq!((f.broken.oracle.as_str(), f.endpoint.as_str()), ("slow-response", "order"), "{f:#?}");
    }
    // Slow whatever the answer: the resource is the cause.
    let cluster = only_cluster(&report);
    assert_eq!((cluster.oracle.as_str(), cluster.cause.as_str()), ("slow-response", "order"));
}

#[test]
fn the_command_writes_reports_and_replay_files() {
    let out = tempfile::tempdir().unwrap();
    let acmespec = env!("CARGO_BIN_EXE_acmespec");
    let run = |args: &[&str]| Command::new(acmespec).args(args).output().unwrap();
    let dir = out.path().to_str().unwrap();
    let campaign = run(&["fuzz", "--defect", "accept-reused-nonce", "--requests", "200", "--seed", "11", "--out", dir]);
    assert_eq!(campaign.status.code(), Some(1), "{}", String::from_utf8_lossy(&campaign.stderr));
    // The console names each root cause once, however many findings it has.
    let console = String::from_utf8_lossy(&campaign.stdout);
    assert!(console.matches("FINDING").count() == 1 && console.contains("1 root causes") && console.contains("  #1 accepted-invalid"), "{console}");
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("| `accepted-invalid` |") && md.contains("nonce-reused"), "{md}");
    assert!(md.contains("## Root causes") && md.contains("### 1. accepted-invalid (RFC 8555 §6.5:") && !md.contains("### 2."), "{md}");
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("fuzz/accepted-invalid") && html.contains("nonce-reused"), "{html}");
    let junit = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert!(junit.contains(r#"name="accepted-invalid""#) && junit.contains(r#"message="1 root causes"#), "{junit}");
    let report: LiveReport = serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert!(report.complete && report.findings.len() > 1 && report.clusters.len() == 1);
    let files: Vec<_> = std::fs::read_dir(out.path().join("findings")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files, [out.path().join("findings/001-accepted-invalid.json")]);
    let saved: SavedCluster = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(saved.replay_command, format!("acmespec fuzz --replay {} --defect accept-reused-nonce", files[0].display()));
    assert_eq!((&saved.cluster, saved.reproducer.key.as_str()), (&report.clusters[0], report.findings[report.clusters[0].reproducer].key.as_str()));
    let file = files[0].to_str().unwrap();
    let still = run(&["fuzz", "--replay", file, "--defect", "accept-reused-nonce"]);
    assert_eq!(still.status.code(), Some(1), "{}", String::from_utf8_lossy(&still.stdout));
    assert!(String::from_utf8_lossy(&still.stdout).contains("still reproduces"));
    let fixed = run(&["fuzz", "--replay", file]);
    assert_eq!(fixed.status.code(), Some(0), "{}", String::from_utf8_lossy(&fixed.stdout));
    assert!(String::from_utf8_lossy(&fixed.stdout).contains("no longer reproduces"));

    let clean = run(&["fuzz", "--requests", "100", "--json", out.path().join("clean.json").to_str().unwrap()]);
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stdout));
    let not_a_finding = run(&["fuzz", "--replay", out.path().join("junit.xml").to_str().unwrap()]);
    assert_eq!(not_a_finding.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_a_finding.stderr).contains("not a saved finding"));
    let unknown = run(&["fuzz", "replay", "no_such_target"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown fuzz target \"no_such_target\"; targets: jws_parse"));
}

#[tokio::test]
async fn only_loopback_servers_are_fuzzed_and_bounds_are_enforced() {
    let mut options = LiveOptions {
        directory_url: "https://acme-v02.api.letsencrypt.org/directory".into(),
        client: ClientOptions::default(),
        seed: 1,
        requests: 10,
        duration: Duration::from_secs(5),
        slow: Duration::from_secs(1),
    };
    assert!(matches!(live::run(&options, |_, _| {}).await, Err(LiveError::NotLoopback(_))));
    options.directory_url = "https://127.0.0.1:9/directory".into();
    options.requests = 0;
    assert!(matches!(live::run(&options, |_, _| {}).await, Err(LiveError::Bounds(_))));
    options.requests = 10;
    let err = live::run(&options, |_, _| {}).await.unwrap_err();
    assert!(matches!(err, LiveError::Setup(_)), "{err}");
}

/// A bounded campaign against real Pebble 2.4 completes, and its root causes, with the
/// endpoints and minimal mutations that show them, are exactly the ones
/// `reports/fuzzing.md` explains, pinned in `reports/baselines/fuzz-pebble-2.4.0.toml`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pebble_campaign_completes_with_its_explained_findings() {
    use acmespec::peers::{Pebble, PebbleOptions, free_tcp_port};
    let pebble = Pebble::start(PebbleOptions::new(free_tcp_port(), free_tcp_port())).await.expect("Pebble must be installed: run scripts/test");
    let options = LiveOptions {
        directory_url: pebble.directory_url(),
        client: ClientOptions { ca_certs: vec![CertificateDer::from(pebble.ca_cert_der().to_vec())], ..ClientOptions::default() },
        seed: 1,
        requests: 1500,
        duration: Duration::from_secs(300),
        slow: Duration::from_secs(2),
    };
    let report = live::run(&options, |_, _| {}).await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-pebble-2.4.0");
    acmespec::fuzzing::live_report::write_dir(&dir, &report, &|p| format!("acmespec fuzz --replay {}", p.display())).unwrap();
    assert!(report.complete, "{:?}", report.stopped);
    assert_eq!(report.requests, 1500);
    // (root cause, endpoints, minimal mutation sets), each list sorted.
    type Pinned = std::collections::BTreeSet<(String, Vec<String>, Vec<Vec<String>>)>;
    fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
        v.sort();
        v
    }
    let found: Pinned = report
        .clusters
        .iter()
        .map(|c| (format!("{} {}", c.oracle, c.cause), sorted(c.endpoints.clone()), sorted(c.mutation_sets.clone())))
        .collect();
    let pinned: toml::Table = toml::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/baselines/fuzz-pebble-2.4.0.toml")).unwrap()).unwrap();
    let strings = |v: &toml::Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let expected: Pinned = pinned["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let sets = c["mutation_sets"].as_array().unwrap().iter().map(strings).collect();
            (c["root_cause"].as_str().unwrap().to_owned(), sorted(strings(&c["endpoints"])), sorted(sets))
        })
        .collect();
    assert_eq!(found, expected, "report: {}", dir.join("report.md").display());
}
