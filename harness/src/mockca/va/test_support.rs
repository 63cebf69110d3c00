//! What the tests of every challenge type share. The responders of `crate::responders`
//! play an applicant that does everything right; the raw servers and hand-made
//! certificates here play the broken ones no responder will. The helpers keep each
//! test down to what it varies: the configuration, the identifier and challenge, and
//! the problem it expects.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, CustomExtension, KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{VaConfig, ValidationAuthority};
use crate::protocol::wire::{Identifier, Problem};
use crate::responders::Responders;

pub(super) const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
pub(super) const KEY_AUTH: &str =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";
pub(super) const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

pub(super) async fn responders() -> Responders {
    let lo = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    Responders::start(lo, lo, lo)
        .await
        .expect("responders start")
}

/// A validator that reaches `r`'s responders.
pub(super) fn va(r: &Responders) -> ValidationAuthority {
    va_with(r, |_| {})
}

/// [`va`] with `change` made to its configuration.
pub(super) fn va_with(r: &Responders, change: impl FnOnce(&mut VaConfig)) -> ValidationAuthority {
    let mut config = VaConfig {
        http_port: r.http01().local_addr().port(),
        tls_port: r.tls_alpn().local_addr().port(),
        resolver: Some(r.dns().local_addr()),
        allow_remote: false,
        timeout: Duration::from_secs(5),
    };
    change(&mut config);
    ValidationAuthority::new(config)
}

/// `va` validating `identifier` by `challenge` with [`TOKEN`] and [`KEY_AUTH`].
pub(super) async fn validate(
    va: &ValidationAuthority,
    identifier: &Identifier,
    challenge: &str,
) -> Result<(), Problem> {
    va.validate(identifier, challenge, TOKEN, KEY_AUTH).await
}

/// The problem `result` must be: of `kind` (its ACME name), with a detail that
/// contains each of `details`.
#[track_caller]
pub(super) fn expect_problem(result: Result<(), Problem>, kind: &str, details: &[&str]) -> Problem {
    let problem = result.expect_err("validation should fail");
    assert_eq!(
        problem.kind.as_deref(),
        Some(format!("{}{kind}", crate::protocol::wire::ERROR_NS).as_str()),
        "unexpected problem: {problem:?}"
    );
    assert!(!detail(&problem).is_empty(), "no detail: {problem:?}");
    for expected in details {
        assert!(
            detail(&problem).contains(expected),
            "detail lacks {expected:?}: {problem:?}"
        );
    }
    problem
}

pub(super) fn detail(problem: &Problem) -> &str {
    problem.detail.as_deref().unwrap_or_default()
}

/// A port nothing listens on (bound, then released).
pub(super) async fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A tiny HTTP server answering every request with `response` (raw
/// bytes), or never answering at all when it is `None`.
pub(super) async fn raw_http(response: Option<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                match response {
                    Some(bytes) => {
                        let _ = socket.write_all(&bytes).await;
                        let _ = socket.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    port
}

pub(super) fn http_response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub(super) fn acme_extension(key_authorization: &str) -> CustomExtension {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    CustomExtension::new_acme_identifier(digest.as_ref())
}

pub(super) fn dns_san(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

/// A self-signed P-256 certificate with `sans` and `extensions`, and its key.
pub(super) fn certificate(
    sans: Vec<SanType>,
    extensions: Vec<CustomExtension>,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    params.custom_extensions = extensions;
    let cert = params.self_signed(&key).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key)
}

/// A TLS server with the given versions and ALPN list serving one certificate.
pub(super) async fn tls_server(
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: Vec<Vec<u8>>,
    cert: CertificateDer<'static>,
    key: &PrivateKeyDer<'static>,
) -> u16 {
    let signing = rustls::crypto::ring::sign::any_supported_type(key).unwrap();
    let certified = rustls::sign::CertifiedKey::new(vec![cert], signing);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = alpn;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let mut buf = [0u8; 64];
                    let _ = tls.read(&mut buf).await;
                }
            });
        }
    });
    port
}
