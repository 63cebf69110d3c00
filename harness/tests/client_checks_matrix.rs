//! Every client check can fail: acmespec's own client, clean, passes every check it
//! meets; with each client defect switched on, exactly the checks that defect
//! declares fail; and every check is failed by at least one defect.
//!
//! The client is asked to prefer the mock CA's first alternate chain and for the
//! tlsserver certificate profile, and the fault script makes its renewal information
//! say the certificate is due, so its run holds a renewal whose order reuses the
//! authorization of the first.

use acmespec::protocol::wire::ChallengeType;
use acmespec::client::{self, ClientConfig, ClientDefect};
use acmespec::clients::checks::{ChainPreference, CheckVerdict, GradeContext, ProfileContext, all_checks, grade};
use acmespec::mockca::{Endpoint, FaultKind, FaultRule, MockCa, MockCaConfig};
use acmespec::protocol::wire::Identifier;
use acmespec::responders::Responders;
use futures_util::StreamExt;
use rustls_pki_types::CertificateDer;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

fn rule(endpoint: Endpoint, nth: Option<u32>, action: FaultKind, retry_after: Option<u32>, ms: Option<u64>, polls: Option<u32>) -> FaultRule {
    FaultRule { endpoint, nth, times: None, probability: None, action, retry_after, ms, polls }
}

/// A script that puts every behaviour oracle in play: a badNonce, a rate limit, a slow
/// validation, a slow issuance, a renewal window that has passed, and authorizations
/// reused (by the renewal's order; the first has none to reuse).
fn faults() -> Vec<FaultRule> {
    vec![
        rule(Endpoint::NewOrder, Some(1), FaultKind::BadNonce, None, None, None),
        rule(Endpoint::NewOrder, None, FaultKind::ReuseAuthz, None, None, None),
        rule(Endpoint::Challenge, Some(1), FaultKind::SlowValidation, None, Some(1500), None),
        rule(Endpoint::Finalize, Some(1), FaultKind::RateLimited, Some(1), None, None),
        rule(Endpoint::Finalize, Some(2), FaultKind::StayProcessing, None, None, Some(2)),
        rule(Endpoint::RenewalInfo, None, FaultKind::RenewalWindowPassed, None, None, None),
    ]
}

/// The certificate profile the client asks for: one the mock CA advertises by default.
const PROFILE: &str = "tlsserver";

/// The issuer CN of the topmost (last) certificate of a PEM chain.
fn top_issuer(pem: &str) -> Option<String> {
    use rustls_pki_types::pem::PemObject;
    let top = CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok).last()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&top).ok()?;
    cert.issuer().iter_common_name().next()?.as_str().ok().map(str::to_owned)
}

/// The checks that failed when the client ran with `defects`, and those that applied.
async fn failed_checks(defects: Vec<ClientDefect>) -> (BTreeSet<String>, BTreeSet<String>) {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let responders = Responders::start(any, any, any).await.unwrap();
    let ca = MockCa::start(MockCaConfig {
        va_http_port: responders.http01().local_addr().port(),
        va_tls_port: responders.tls_alpn().local_addr().port(),
        va_resolver: Some(responders.dns().local_addr()),
        faults: faults(),
        ..MockCaConfig::default()
    })
    .await
    .unwrap();
    let preferred = ca.chain_root_name(1).expect("the mock CA offers an alternate chain");
    let config = ClientConfig {
        ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())],
        challenge: ChallengeType::Http01,
        timeout: Duration::from_secs(40),
        defects,
        preferred_chain: Some(preferred.clone()),
        profile: Some(PROFILE.into()),
        ..ClientConfig::new(ca.directory_url(), vec![Identifier::dns("checks.acmespec.test")], responders)
    };
    // A defective client may fail its flow; the journal is graded either way.
    let outcome = tokio::time::timeout(Duration::from_secs(60), client::exercise(&config)).await;
    let kept_issuer = outcome.ok().and_then(Result::ok).and_then(|done| top_issuer(&done.issued.certificate_pem));
    let entries = ca.journal();
    let base = format!("https://{}", ca.addr());
    let preferred_chain = Some(ChainPreference { chain: 1, issuer: preferred, kept_issuer });
    let profiles = ProfileContext { requested: Some(PROFILE.into()), advertised: ca.advertised_profiles() };
    let results = grade(&GradeContext { preferred_chain, profiles, ..GradeContext::new(&entries, &base) });
    let failed = results.iter().filter(|r| r.verdict == CheckVerdict::Fail).map(|r| r.id.clone()).collect();
    let applied = results.iter().filter(|r| r.verdict != CheckVerdict::NotApplicable).map(|r| r.id.clone()).collect();
    (failed, applied)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_client_passes_and_each_defect_fails_exactly_its_checks() {
    let (clean_failed, clean_applied) = failed_checks(Vec::new()).await;
    assert!(clean_failed.is_empty(), "the clean client fails {clean_failed:?}");
    let all: BTreeSet<String> = all_checks().iter().map(|c| c.id.to_owned()).collect();
    let unexercised: Vec<&String> = all.difference(&clean_applied).collect();
    assert!(unexercised.is_empty(), "the fault script leaves these checks without anything to judge: {unexercised:?}");

    let runs: Vec<(ClientDefect, BTreeSet<String>)> = futures_util::stream::iter(ClientDefect::ALL.iter().copied())
        .map(|d| async move { (d, failed_checks(vec![d]).await.0) })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut wrong = Vec::new();
    let mut tripped = BTreeSet::new();
    for (defect, failed) in &runs {
        let declared: BTreeSet<String> = defect.fails().iter().map(|s| (*s).to_owned()).collect();
        if *failed != declared {
            wrong.push(format!("{}: declared {declared:?}, failed {failed:?}", defect.name()));
        }
        tripped.extend(failed.iter().cloned());
    }
    assert!(wrong.is_empty(), "client defects do not fail exactly what they declare:\n{}", wrong.join("\n"));
    let never: Vec<&String> = all.difference(&tripped).collect();
    assert!(never.is_empty(), "no client defect makes these checks fail: {never:?}");
}
