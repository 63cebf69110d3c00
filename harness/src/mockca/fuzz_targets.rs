//! The mock CA's CSR checks as a fuzz target: they read attacker-chosen DER from any
//! client, so they must never panic, and skipping the signature check must be the only
//! difference between the verified and the unverified parse.

use super::ca::{parse_csr, parse_csr_unverified};
use crate::protocol::jws::Algorithm;
use crate::protocol::keys::SigningKey;

/// Runs one DER input through both CSR parsers; panics when they disagree on anything
/// but the signature.
pub fn fuzz_csr(data: &[u8]) {
    let unverified = parse_csr_unverified(data);
    if let Ok(verified) = parse_csr(data) {
        match unverified {
            Ok(u) => assert_eq!(u, verified, "verified and unverified CSR parses disagree"),
            Err(e) => panic!("a CSR that verifies fails the unverified parse: {e}"),
        }
    }
}

/// Well-formed CSRs (one name, several names with an IP, a commonName) signed by the
/// fixture P-256 key.
pub fn csr_seeds() -> Vec<(String, Vec<u8>)> {
    let Ok(key) = SigningKey::from_pkcs8_pem(Algorithm::Es256, include_str!("../../../fixtures/keys/ec-p256.pk8.pem"))
    else {
        return Vec::new();
    };
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec());
    let Ok(pair) = rcgen::KeyPair::try_from(&pkcs8) else { return Vec::new() };
    let build = |names: &[&str], common_name: Option<&str>| {
        let mut params = rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).ok()?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = common_name {
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        }
        params.serialize_request(&pair).ok().map(|csr| csr.der().to_vec())
    };
    [
        ("one-name.der", build(&["a.acmespec.test"], None)),
        ("names-and-ip.der", build(&["a.acmespec.test", "*.b.acmespec.test", "127.0.0.1"], None)),
        ("common-name.der", build(&["a.acmespec.test"], Some("a.acmespec.test"))),
    ]
    .into_iter()
    .filter_map(|(name, der)| Some((name.to_owned(), der?)))
    .collect()
}
