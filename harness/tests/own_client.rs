//! acmespec's own client (`acmespec::client`) against the mock CA, with real
//! validation: the mock CA's validation authority resolves names through the
//! client's DNS responder (A 127.0.0.1 for every name) and connects to the client's
//! http-01 and tls-alpn-01 responders, which the client provisions itself.
//!
//! Grading (the client checks) is not done here; these tests show that the clean
//! client issues with every challenge type, survives scripted faults the way a
//! well-written client must, and that every defect runs to completion or fails
//! cleanly, never hangs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use acmespec::protocol::wire::ChallengeType;
use acmespec::client::{self, ClientConfig, ClientDefect, ClientError, RevokeAs};
use acmespec::mockca::{Endpoint, Entry, FaultKind, FaultRule, MockCa, MockCaConfig};
use acmespec::protocol::wire::Identifier;
use acmespec::responders::Responders;
use rustls_pki_types::CertificateDer;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension, SubjectAlternativeName};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A hard bound per run on top of the client's own: a hang fails the test.
const HARD_LIMIT: Duration = Duration::from_secs(60);

fn loopback0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn rule(endpoint: Endpoint, nth: Option<u32>, action: FaultKind) -> FaultRule {
    FaultRule { endpoint, nth, times: None, probability: None, action, retry_after: None, ms: None, polls: None }
}

/// A mock CA validating against fresh responders, and a client config for it.
async fn setup(identifiers: Vec<Identifier>, challenge: ChallengeType, faults: Vec<FaultRule>) -> (MockCa, ClientConfig) {
    let responders = Responders::start(loopback0(), loopback0(), loopback0()).await.expect("starting the responders");
    let ca = MockCa::start(MockCaConfig {
        va_http_port: responders.http01().local_addr().port(),
        va_tls_port: responders.tls_alpn().local_addr().port(),
        va_resolver: Some(responders.dns().local_addr()),
        faults,
        ..MockCaConfig::default()
    })
    .await
    .expect("starting the mock CA");
    let config = ClientConfig {
        ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())],
        challenge,
        timeout: Duration::from_secs(40),
        ..ClientConfig::new(ca.directory_url(), identifiers, responders)
    };
    (ca, config)
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HARD_LIMIT, f).await.unwrap_or_else(|_| panic!("{what} hung past {HARD_LIMIT:?}"))
}

/// The leaf's SANs as identifiers.
fn leaf_names(pem: &str) -> Vec<Identifier> {
    use rustls_pki_types::pem::PemObject;
    let der = CertificateDer::pem_slice_iter(pem.as_bytes()).next().expect("a certificate").expect("valid PEM");
    let (_, cert) = X509Certificate::from_der(&der).expect("a parsable leaf");
    san_identifiers(cert.subject_alternative_name().ok().flatten().map(|s| s.value))
}

fn san_identifiers(san: Option<&SubjectAlternativeName<'_>>) -> Vec<Identifier> {
    let mut names = Vec::new();
    for n in san.map(|s| s.general_names.as_slice()).unwrap_or_default() {
        match n {
            GeneralName::DNSName(d) => names.push(Identifier::dns(d.to_string())),
            GeneralName::IPAddress(b) if b.len() == 4 => {
                names.push(Identifier::ip(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string()))
            }
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    names.sort_by(|a, b| a.value.cmp(&b.value));
    names
}

/// The SANs and the subject of the CSR of the (last) finalize request.
fn finalize_csr(journal: &[Entry]) -> (Vec<Identifier>, String) {
    let finalize = journal.iter().rev().find(|e| e.endpoint == Endpoint::Finalize).expect("a finalize request");
    let payload = finalize.jws.as_ref().and_then(|j| j.payload.as_ref()).expect("a finalize payload");
    let der = acmespec::protocol::b64::decode(payload["csr"].as_str().expect("a csr")).expect("base64url");
    let (_, csr) = X509CertificationRequest::from_der(&der).expect("a parsable CSR");
    let mut san = None;
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(s) = ext {
            san = Some(s);
        }
    }
    (san_identifiers(san), csr.certification_request_info.subject.to_string())
}

fn requests(journal: &[Entry], endpoint: Endpoint) -> Vec<&Entry> {
    journal.iter().filter(|e| e.endpoint == endpoint).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_client_issues_with_every_challenge_type() {
    for challenge in ChallengeType::ALL {
        let ids = vec![Identifier::dns(format!("{}.own-client.test", challenge.name())), Identifier::dns("www.own-client.test")];
        let (ca, config) = setup(ids.clone(), challenge, Vec::new()).await;
        let issued = within(challenge.name(), client::issue(&config)).await.unwrap_or_else(|e| panic!("{challenge}: {e}"));
        let mut want = ids.clone();
        want.sort_by(|a, b| a.value.cmp(&b.value));
        assert_eq!(leaf_names(&issued.certificate_pem), want, "{challenge}");
        assert!(issued.order_url.starts_with(&ca.directory_url().replace("/directory", "/order/")), "{}", issued.order_url);
        let journal = ca.journal();
        // The CSR names exactly the identifiers, with an empty subject (no placeholder commonName).
        assert_eq!(finalize_csr(&journal), (want, String::new()), "{challenge}");
        // Nothing needed a retry, and every signed request went out with the client's headers.
        assert!(journal.iter().all(|e| e.status < 400), "{challenge}: {:?}", journal.iter().map(|e| (&e.path, e.status)).collect::<Vec<_>>());
        for e in journal.iter().filter(|e| e.method == "POST") {
            assert_eq!(e.header("content-type"), Some("application/jose+json"));
            assert_eq!(e.header("user-agent"), Some(client::USER_AGENT));
        }
        assert_eq!(requests(&journal, Endpoint::NewNonce).len(), 1, "{challenge}: one newNonce, then nonces from responses");
        assert_eq!(requests(&journal, Endpoint::Challenge).len(), 2, "{challenge}: one response per challenge");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_client_issues_for_an_ip_identifier() {
    for challenge in [ChallengeType::Http01, ChallengeType::TlsAlpn01] {
        let ids = vec![Identifier::ip("127.0.0.1")];
        let (ca, config) = setup(ids.clone(), challenge, Vec::new()).await;
        let issued = within(challenge.name(), client::issue(&config)).await.unwrap_or_else(|e| panic!("{challenge}: {e}"));
        assert_eq!(leaf_names(&issued.certificate_pem), ids, "{challenge}");
        assert_eq!(finalize_csr(&ca.journal()), (ids, String::new()), "{challenge}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_client_rides_out_scripted_faults() {
    let faults = vec![
        FaultRule { retry_after: Some(1), ..rule(Endpoint::Directory, Some(1), FaultKind::Unavailable) },
        rule(Endpoint::NewOrder, Some(1), FaultKind::BadNonce),
        rule(Endpoint::Order, Some(1), FaultKind::BadNonce),
        FaultRule { retry_after: Some(1), ..rule(Endpoint::Finalize, Some(1), FaultKind::RateLimited) },
        FaultRule { polls: Some(2), ..rule(Endpoint::Finalize, Some(2), FaultKind::StayProcessing) },
    ];
    let (ca, config) = setup(vec![Identifier::dns("faults.own-client.test")], ChallengeType::Http01, faults).await;
    let issued = within("faulty run", client::issue(&config)).await.expect("the client rides out the faults");
    assert!(issued.certificate_pem.contains("BEGIN CERTIFICATE"));
    let journal = ca.journal();

    let dirs = requests(&journal, Endpoint::Directory);
    assert_eq!(dirs.len(), 2, "503 on the directory, then a retry");
    assert!(dirs[1].at - dirs[0].at >= Duration::from_millis(950), "the directory retry waited out Retry-After");

    // badNonce: the retry carries the nonce the error response issued.
    for endpoint in [Endpoint::NewOrder, Endpoint::Order] {
        let seen = requests(&journal, endpoint);
        assert_eq!(seen[0].problem.as_deref(), Some("urn:ietf:params:acme:error:badNonce"), "{endpoint:?}");
        let fresh = seen[0].nonce_issued.as_deref().expect("badNonce answers carry a Replay-Nonce");
        assert_eq!(seen[1].jws.as_ref().and_then(|j| j.header_str("nonce")), Some(fresh), "{endpoint:?}");
    }

    // 429 on finalize: retried after Retry-After; then two `processing` polls.
    let fin = requests(&journal, Endpoint::Finalize);
    assert_eq!(fin.len(), 2);
    assert_eq!(fin[0].status, 429);
    assert!(fin[1].at - fin[0].at >= Duration::from_millis(950), "the finalize retry waited out Retry-After");
    let after_finalize: Vec<&Entry> = journal.iter().filter(|e| e.endpoint == Endpoint::Order && e.seq > fin[1].seq).collect();
    let statuses: Vec<&str> = after_finalize.iter().filter_map(|e| e.resource_status.as_deref()).collect();
    assert_eq!(statuses, ["processing", "processing", "valid"], "polled while processing until valid");
    for pair in after_finalize.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(950), "order polls honour Retry-After");
    }
    let cert = requests(&journal, Endpoint::Certificate);
    assert_eq!(cert.len(), 1);
    assert!(cert[0].seq > after_finalize.last().unwrap().seq, "downloaded only once valid");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_badnonce_storm_ends_after_three_retries() {
    let faults = vec![rule(Endpoint::NewOrder, None, FaultKind::BadNonce)];
    let (ca, config) = setup(vec![Identifier::dns("storm.own-client.test")], ChallengeType::Http01, faults).await;
    let err = within("badNonce storm", client::issue(&config)).await.expect_err("an endless badNonce must end the run");
    assert_eq!(err.acme_error(), Some("badNonce"), "{err}");
    assert_eq!(requests(&ca.journal(), Endpoint::NewOrder).len(), 1 + client::MAX_BAD_NONCE_RETRIES as usize);
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_rate_limiting_ends_within_the_retry_budget() {
    let faults = vec![FaultRule { retry_after: Some(3600), ..rule(Endpoint::NewAccount, None, FaultKind::RateLimited) }];
    let (ca, config) = setup(vec![Identifier::dns("limited.own-client.test")], ChallengeType::Http01, faults).await;
    let started = std::time::Instant::now();
    let err = within("rate limited", client::issue(&config)).await.expect_err("a one-hour Retry-After is not waited out");
    assert_eq!(err.acme_error(), Some("rateLimited"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(requests(&ca.journal(), Endpoint::NewAccount).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_validation_is_reported_with_its_problem() {
    let faults = vec![rule(Endpoint::Challenge, Some(1), FaultKind::ChallengeInvalid)];
    let (_ca, config) = setup(vec![Identifier::dns("invalid.own-client.test")], ChallengeType::Dns01, faults).await;
    let err = within("invalid challenge", client::issue(&config)).await.expect_err("validation failed");
    assert!(matches!(err, ClientError::Invalid { .. }), "{err}");
    assert_eq!(err.acme_error(), Some("incorrectResponse"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_once_then_revoke_by_certificate_key() {
    let (ca, config) = setup(vec![Identifier::dns("ops.own-client.test")], ChallengeType::Http01, Vec::new()).await;
    let done = within("exercise", client::exercise(&config)).await.expect("issue, rollover, revoke, deactivate");
    assert_eq!(done.account.url, done.issued.account_url);
    let journal = ca.journal();
    for endpoint in [Endpoint::KeyChange, Endpoint::RevokeCert, Endpoint::Account] {
        let seen = requests(&journal, endpoint);
        assert_eq!(seen.len(), 1, "{endpoint:?}");
        assert_eq!(seen[0].status, 200, "{endpoint:?}");
    }
    // A deactivated account can do nothing more.
    let err = within("lookup", client::find_account(&config, done.account.key.clone())).await.expect_err("deactivated");
    assert_eq!(err.acme_error(), Some("unauthorized"), "{err}");

    // Revocation by the certificate's own key, on a second certificate.
    let issued = within("issue", client::issue(&config)).await.expect("issue");
    let leaf = issued.leaf_der().unwrap();
    let by_key = client::revoke(&config, RevokeAs::CertificateKey(&issued.certificate_key), &leaf, Some(4));
    within("revoke", by_key).await.expect("revocation by the certificate key");
    let again = client::revoke(&config, RevokeAs::Account(&issued.account), &leaf, None);
    let err = within("revoke again", again).await.expect_err("already revoked");
    assert_eq!(err.acme_error(), Some("alreadyRevoked"), "{err}");
    let found = within("lookup", client::find_account(&config, issued.account.key.clone())).await.expect("lookup");
    assert_eq!(found.url, issued.account_url);
}

/// The issuer CN of the topmost (last) certificate of a PEM chain.
fn top_issuer(pem: &str) -> Option<String> {
    use rustls_pki_types::pem::PemObject;
    let top = CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok).last()?;
    let (_, cert) = X509Certificate::from_der(&top).ok()?;
    cert.issuer().iter_common_name().next()?.as_str().ok().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_client_keeps_the_preferred_chain() {
    let (ca, config) = setup(vec![Identifier::dns("chain.own-client.test")], ChallengeType::Http01, Vec::new()).await;
    let alternate = ca.chain_root_name(1).expect("the mock CA offers an alternate chain");
    let config = ClientConfig { preferred_chain: Some(alternate.clone()), ..config };
    let issued = within("preferred chain", client::issue(&config)).await.expect("issue");
    assert_eq!(top_issuer(&issued.certificate_pem), Some(alternate));
    let fetched: Vec<String> = requests(&ca.journal(), Endpoint::Certificate).iter().map(|e| e.path.clone()).collect();
    assert_eq!(fetched.len(), 2, "the default chain, then the alternate: {fetched:?}");
    assert_eq!(fetched[1], format!("{}/1", fetched[0]));

    // A preference the default chain meets fetches no alternate.
    let (ca, config) = setup(vec![Identifier::dns("chain.own-client.test")], ChallengeType::Http01, Vec::new()).await;
    let config = ClientConfig { preferred_chain: ca.chain_root_name(0), ..config };
    let issued = within("default chain", client::issue(&config)).await.expect("issue");
    assert_eq!(top_issuer(&issued.certificate_pem), ca.chain_root_name(0));
    assert_eq!(requests(&ca.journal(), Endpoint::Certificate).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_client_renews_when_due_and_leaves_reused_authorizations_alone() {
    for window_passed in [false, true] {
        let faults = if window_passed {
            vec![rule(Endpoint::RenewalInfo, None, FaultKind::RenewalWindowPassed), rule(Endpoint::NewOrder, None, FaultKind::ReuseAuthz)]
        } else {
            Vec::new()
        };
        let (ca, config) = setup(vec![Identifier::dns("renew.own-client.test")], ChallengeType::Http01, faults).await;
        within("exercise", client::exercise(&config)).await.expect("issue, renewal if due, rollover, revoke, deactivate");
        let journal = ca.journal();
        assert_eq!(requests(&journal, Endpoint::RenewalInfo).len(), 1, "renewal information is read once");
        let orders = requests(&journal, Endpoint::NewOrder);
        if window_passed {
            assert_eq!(orders.len(), 2, "a window that has passed means renewing now");
            assert_eq!(orders[1].resource_status.as_deref(), Some("ready"), "the renewal's order reuses the valid authorization");
            assert_eq!(requests(&journal, Endpoint::Challenge).len(), 1, "a valid authorization is not answered again");
            assert_eq!(requests(&journal, Endpoint::Finalize).len(), 2);
        } else {
            assert_eq!(orders.len(), 1, "the default window lies two thirds into the lifetime: not due");
        }
    }
}

/// What each defect does to an otherwise clean run: finish (`true`) or fail
/// cleanly (`false`). The faults make the nonce and timing defects visible, the
/// profile asked for (tlsserver) the profile defects.
fn expected_to_finish(d: ClientDefect) -> bool {
    use ClientDefect::*;
    match d {
        ReuseNonce | NoUserAgent | PlainGet | LegacyKeyAuthorization | FinalizeBeforeReady | RepostChallenge
        | IgnoreRetryAfter | AnswerValidAuthorization | IgnorePreferredChain | IgnoreRenewalWindow | IgnoreProfile => true,
        WrongContentType | FetchWithEmptyObject | JwkInsteadOfKid | UrlMismatch | CsrExtraName | CsrAccountKey
        | NoBadNonceRetry | DownloadWhileProcessing | InnerJwsNonce | GeneralJws | MissingUrl | WrongKid | AlgNone
        | UnadvertisedProfile => false,
        other => panic!("no expectation for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_defect_finishes_or_fails_cleanly() {
    let runs = ClientDefect::ALL.iter().map(|&defect| async move {
        let faults = vec![
            rule(Endpoint::NewOrder, Some(1), FaultKind::BadNonce),
            FaultRule { retry_after: Some(1), ..rule(Endpoint::Finalize, None, FaultKind::RateLimited) },
            FaultRule { polls: Some(2), ..rule(Endpoint::Finalize, None, FaultKind::StayProcessing) },
        ];
        // Each rule fires once: 429 on the first finalize, `processing` on the next.
        let faults = faults.into_iter().map(|r| FaultRule { times: Some(1), ..r }).collect();
        let ids = vec![Identifier::dns(format!("{}.own-client.test", defect.name()))];
        let (ca, config) = setup(ids, ChallengeType::Http01, faults).await;
        let config = ClientConfig { defects: vec![defect], profile: Some("tlsserver".into()), ..config };
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(HARD_LIMIT, client::exercise(&config)).await;
        (defect, outcome, started.elapsed(), ca.journal().len())
    });
    let results = futures_util::future::join_all(runs).await;
    let mut wrong = Vec::new();
    for (defect, outcome, elapsed, requests) in results {
        let outcome = outcome.unwrap_or_else(|_| panic!("{defect} hung"));
        println!("{defect:<28} {:>6} ms {requests:>3} requests: {}", elapsed.as_millis(), match &outcome {
            Ok(_) => "finished".to_owned(),
            Err(e) => format!("failed: {e}"),
        });
        if outcome.is_ok() != expected_to_finish(defect) {
            wrong.push(format!("{defect}: {:?}", outcome.err().map(|e| e.to_string())));
        }
    }
    assert!(wrong.is_empty(), "unexpected outcomes: {wrong:#?}");
}
