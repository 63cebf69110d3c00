//! A throwaway HTTPS identity for servers on loopback: a CA and a leaf for
//! `localhost`, `127.0.0.1` and `::1`.
//!
//! ACME requires HTTPS (RFC 8555 §6.1), and neither Pebble nor the mock CA may ship a
//! fixed key, so each server start makes a fresh CA that only its own clients trust.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A CA certificate and a leaf it signed, with the leaf's private key.
#[derive(Debug, Clone)]
pub struct LocalhostTls {
    ca_pem: String,
    ca_der: Vec<u8>,
    leaf_pem: String,
    leaf_der: Vec<u8>,
    key_pem: String,
    key_der: Vec<u8>,
}

impl LocalhostTls {
    /// Generates a fresh ECDSA P-256 CA and leaf.
    pub fn generate(ca_name: &str) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()])?;
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

        Ok(LocalhostTls {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            leaf_pem: leaf_cert.pem(),
            leaf_der: leaf_cert.der().to_vec(),
            key_pem: leaf_key.serialize_pem(),
            key_der: leaf_key.serialize_der(),
        })
    }

    /// The CA certificate a client must trust, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate a client must trust, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The leaf certificate, PEM.
    pub fn leaf_pem(&self) -> &str {
        &self.leaf_pem
    }

    /// The leaf's private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A rustls server configuration serving the leaf (and the CA) with ALPN h2 and http/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        crate::protocol::http::install_crypto_provider();
        let chain = vec![CertificateDer::from(self.leaf_der.clone()), CertificateDer::from(self.ca_der.clone())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
