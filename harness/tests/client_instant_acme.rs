//! A real third-party client (instant-acme) obtains certificates from the mock CA.
//!
//! Validation is real (not `always_valid`): the mock CA's validation authority
//! resolves names through the in-process DNS responder (A 127.0.0.1 for every
//! name) and connects to the in-process http-01 and tls-alpn-01 responders,
//! which each test provisions with the key authorization instant-acme computed.

use std::net::SocketAddr;
use std::time::Duration;

use acmespec::mockca::{MockCa, MockCaConfig};
use acmespec::responders::{AlpnIdentifier, Responders};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The whole issuance must finish within this (a hang is a failure, not a stuck test).
const FLOW_TIMEOUT: Duration = Duration::from_secs(90);

fn loopback0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Starts the responders and a mock CA whose validation authority points at them.
async fn start() -> (MockCa, Responders) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let responders = Responders::start(loopback0(), loopback0(), loopback0())
        .await
        .expect("starting the challenge responders");
    let ca = MockCa::start(MockCaConfig {
        always_valid: false,
        va_http_port: responders.http01().local_addr().port(),
        va_tls_port: responders.tls_alpn().local_addr().port(),
        va_resolver: Some(responders.dns().local_addr()),
        ..MockCaConfig::default()
    })
    .await
    .expect("starting the mock CA");
    (ca, responders)
}

/// Runs one complete RFC 8555 issuance for `name` with `kind`, provisioning the
/// matching responder, and returns the PEM chain instant-acme downloaded.
async fn issue(ca: &MockCa, responders: &Responders, name: &str, kind: ChallengeType) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("mockca-root.pem");
    std::fs::write(&root, ca.https_root_pem()).expect("writing the HTTPS root PEM");

    let (account, _credentials) = Account::builder_with_root(&root)
        .expect("instant-acme client trusting the mock CA root")
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            ca.directory_url(),
            None,
        )
        .await
        .expect("instant-acme newAccount");

    let identifiers = [Identifier::Dns(name.to_owned())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .expect("instant-acme newOrder");
    assert!(
        matches!(order.state().status, OrderStatus::Pending),
        "new order status is {:?}, expected pending",
        order.state().status
    );

    let mut authorizations = order.authorizations();
    let mut seen = 0;
    while let Some(result) = authorizations.next().await {
        let mut authz = result.expect("fetching an authorization");
        seen += 1;
        assert!(
            matches!(authz.status, AuthorizationStatus::Pending),
            "authorization status is {:?}, expected pending",
            authz.status
        );
        let offered: Vec<String> = authz
            .challenges
            .iter()
            .map(|c| format!("{:?}", c.r#type))
            .collect();
        let mut challenge = authz
            .challenge(kind.clone())
            .unwrap_or_else(|| panic!("no {kind:?} challenge offered; offered: {offered:?}"));
        let key_auth = challenge.key_authorization();
        match kind {
            ChallengeType::Http01 => {
                responders
                    .http01()
                    .provision(&challenge.token, key_auth.as_str());
            }
            ChallengeType::Dns01 => {
                responders
                    .dns()
                    .add_txt(&format!("_acme-challenge.{name}"), &key_auth.dns_value());
            }
            ChallengeType::TlsAlpn01 => {
                responders
                    .tls_alpn()
                    .provision(&AlpnIdentifier::dns(name), key_auth.as_str())
                    .expect("provisioning the tls-alpn-01 certificate");
            }
            ref other => panic!("unsupported challenge type {other:?}"),
        }
        challenge
            .set_ready()
            .await
            .expect("instant-acme challenge set_ready");
    }
    assert_eq!(seen, 1, "one identifier, so one authorization");

    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .backoff(1.5)
        .timeout(Duration::from_secs(30));
    let status = order
        .poll_ready(&retry)
        .await
        .expect("instant-acme poll_ready");
    assert_eq!(
        status,
        OrderStatus::Ready,
        "order did not become ready: {:#?}",
        order.state()
    );

    let _private_key_pem = order.finalize().await.expect("instant-acme finalize");
    order
        .poll_certificate(&retry)
        .await
        .expect("instant-acme poll_certificate")
}

/// Parses every certificate of a PEM chain (leaf first) and checks the leaf names `name`.
fn assert_chain_names(chain_pem: &str, name: &str) {
    let blocks: Vec<_> = x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("certificate chain is not valid PEM ({e}):\n{chain_pem}"));
    assert!(
        !blocks.is_empty(),
        "no PEM block in the certificate response:\n{chain_pem}"
    );
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(
            block.label, "CERTIFICATE",
            "PEM block {i} has label {}",
            block.label
        );
        let (rest, _) = X509Certificate::from_der(&block.contents)
            .unwrap_or_else(|e| panic!("PEM block {i} is not an X.509 certificate: {e}"));
        assert!(rest.is_empty(), "trailing bytes after certificate {i}");
    }
    assert!(
        blocks.len() >= 2,
        "expected the leaf plus at least one issuer certificate, got {} certificate(s)",
        blocks.len()
    );
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
        "the leaf's dNSName SANs should be exactly the requested identifier"
    );
    // The issuer of the leaf is the subject of the next certificate in the chain.
    let (_, issuer) = X509Certificate::from_der(&blocks[1].contents).expect("issuer parses");
    assert_eq!(
        leaf.issuer().as_raw(),
        issuer.subject().as_raw(),
        "the second certificate of the chain does not issue the leaf"
    );
}

async fn run(name: &str, kind: ChallengeType) {
    let (ca, responders) = start().await;
    let chain = tokio::time::timeout(FLOW_TIMEOUT, issue(&ca, &responders, name, kind.clone()))
        .await
        .unwrap_or_else(|_| {
            panic!("instant-acme {kind:?} issuance did not finish in {FLOW_TIMEOUT:?}")
        });
    assert_chain_names(&chain, name);
    responders.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_acme_issues_with_http01() {
    run("http01.instant-acme.test", ChallengeType::Http01).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_acme_issues_with_dns01() {
    run("dns01.instant-acme.test", ChallengeType::Dns01).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_acme_issues_with_tls_alpn01() {
    run("tlsalpn01.instant-acme.test", ChallengeType::TlsAlpn01).await;
}
