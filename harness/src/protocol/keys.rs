//! Private keys that sign JWS, one type for every algorithm the harness speaks.
//!
//! ring cannot generate RSA keys, so fresh RSA account keys come from the `rsa` crate
//! and are handed to ring as PKCS#8; signing itself always goes through ring.

use crate::protocol::jwk::Jwk;
use crate::protocol::jws::Algorithm;
use crate::protocol::wire::Identifier;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use std::fmt;
use std::sync::Arc;

/// Why a private key could not be created or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PKCS#8 document was not a valid key for the requested algorithm.
    #[error("key rejected for {alg}: {reason}")]
    Rejected {
        /// The algorithm the key was meant for.
        alg: &'static str,
        /// What ring or the PEM reader said.
        reason: String,
    },
}

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key bound to one JWS algorithm, with its public JWK precomputed.
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<Inner>,
    alg: Algorithm,
    jwk: Jwk,
    pkcs8: Arc<Vec<u8>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, {})", self.alg.name(), self.jwk.thumbprint())
    }
}

fn rejected(alg: Algorithm) -> impl Fn(ring::error::KeyRejected) -> KeyError {
    move |e| KeyError::Rejected { alg: alg.name(), reason: e.to_string() }
}

impl SigningKey {
    /// Generates a fresh key for `alg` (RSA keys are 2048 bits).
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let unspecified = |_| KeyError::Rejected { alg: alg.name(), reason: "generation failed".into() };
        let pkcs8 = match alg {
            Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(unspecified)?
                .as_ref()
                .to_vec(),
            Algorithm::Es384 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
                .map_err(unspecified)?
                .as_ref()
                .to_vec(),
            Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng).map_err(unspecified)?.as_ref().to_vec(),
            Algorithm::Rs256 | Algorithm::Ps256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)
                    .map_err(|e| KeyError::Rejected { alg: alg.name(), reason: e.to_string() })?;
                key.to_pkcs8_der()
                    .map_err(|e| KeyError::Rejected { alg: alg.name(), reason: e.to_string() })?
                    .as_bytes()
                    .to_vec()
            }
        };
        Self::from_pkcs8(alg, &pkcs8)
    }

    /// Loads a PKCS#8 DER private key for `alg`.
    pub fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let (inner, jwk) = match alg {
            Algorithm::Es256 | Algorithm::Es384 => {
                let ring_alg = if alg == Algorithm::Es256 {
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = EcdsaKeyPair::from_pkcs8(ring_alg, pkcs8, &rng).map_err(rejected(alg))?;
                let jwk = Jwk::from_ec_point(pair.public_key().as_ref());
                (Inner::Ecdsa(pair), jwk)
            }
            Algorithm::Rs256 | Algorithm::Ps256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected(alg))?;
                let components: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                let jwk = Jwk::from_rsa_components(&components.n, &components.e);
                (Inner::Rsa(pair), jwk)
            }
            Algorithm::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(rejected(alg))?;
                let jwk = Jwk::from_ed25519(pair.public_key().as_ref());
                (Inner::Ed25519(pair), jwk)
            }
        };
        Ok(SigningKey { inner: Arc::new(inner), alg, jwk, pkcs8: Arc::new(pkcs8.to_vec()) })
    }

    /// Loads a PEM `PRIVATE KEY` (PKCS#8) for `alg`.
    pub fn from_pkcs8_pem(alg: Algorithm, pem: &str) -> Result<Self, KeyError> {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| KeyError::Rejected { alg: alg.name(), reason: e.to_string() })?;
        Self::from_pkcs8(alg, der.secret_pkcs8_der())
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The private key as PKCS#8 DER, for CSR generation with the same key.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A PKCS#10 request signed by this key, naming `identifiers` as its SANs (`ip` ones
    /// as iPAddress, every other as dNSName) and `common_name` as its only subject
    /// attribute. The subject is otherwise empty: rcgen's default one carries a
    /// placeholder commonName that is none of the names, which a CA must refuse.
    pub fn csr_der(&self, identifiers: &[Identifier], common_name: Option<&str>) -> Result<Vec<u8>, String> {
        use rcgen::SanType;
        let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(self.pkcs8_der().to_vec());
        let key_pair = rcgen::KeyPair::try_from(&pkcs8).map_err(|e| format!("CSR key: {e}"))?;
        let san = |id: &Identifier| match id.kind.as_str() {
            "ip" => id.value.parse().map(SanType::IpAddress).map_err(|_| format!("{:?} is not an IP address", id.value)),
            _ => rcgen::string::Ia5String::try_from(id.value.clone()).map(SanType::DnsName).map_err(|e| format!("name {:?}: {e}", id.value)),
        };
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = identifiers.iter().map(san).collect::<Result<_, _>>()?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = common_name {
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        }
        params.serialize_request(&key_pair).map(|csr| csr.der().to_vec()).map_err(|e| format!("CSR: {e}"))
    }

    /// Signs `message` the way `alg` prescribes for JWS (fixed-size r‖s for ECDSA).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &*self.inner {
            Inner::Ecdsa(pair) => pair.sign(&rng, message).expect("ECDSA signing cannot fail").as_ref().to_vec(),
            Inner::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            Inner::Rsa(pair) => {
                let padding: &dyn signature::RsaEncoding = if self.alg == Algorithm::Ps256 {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, message, &mut out).expect("RSA signing cannot fail");
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let sig = key.sign(b"hello");
            key.jwk().verify(alg, b"hello", &sig).unwrap();
            assert!(key.jwk().verify(alg, b"hellp", &sig).is_err(), "{alg:?}");
            let again = SigningKey::from_pkcs8(alg, key.pkcs8_der()).unwrap();
            assert_eq!(again.jwk(), key.jwk());
        }
    }

    #[test]
    fn fixture_rsa_key_loads_from_pem() {
        let pem = include_str!("../../../fixtures/keys/rsa2048.pk8.pem");
        let key = SigningKey::from_pkcs8_pem(Algorithm::Rs256, pem).unwrap();
        assert_eq!(key.jwk().describe(), "RSA");
        assert!(SigningKey::from_pkcs8_pem(Algorithm::Es256, pem).is_err());
    }
}
