//! The mock CA's hot paths, one call each, for the criterion micro-benchmarks
//! (`harness/benches/micro.rs`). They are private to the crate otherwise, and a
//! benchmark of a copy would only measure the copy.

use crate::mockca::ca::{CertificateAuthority, IssuanceNames, parse_csr};
use crate::mockca::nonces::Nonces;
use crate::protocol::keys::SigningKey;
use time::OffsetDateTime;

/// The mock CA's replay-nonce pool (RFC 8555 §6.5).
pub struct NoncePool(Nonces);

impl NoncePool {
    /// An empty pool.
    pub fn new() -> Self {
        NoncePool(Nonces::new())
    }

    /// Issues a fresh nonce.
    pub fn issue(&self) -> String {
        self.0.issue()
    }

    /// Redeems a nonce; `false` when it was never issued or already used.
    pub fn redeem(&self, nonce: &str) -> bool {
        self.0.redeem(nonce)
    }
}

impl Default for NoncePool {
    fn default() -> Self {
        Self::new()
    }
}

/// What finalize does with a CSR: parse it, verify its self-signature and sign a
/// certificate for its names under the mock CA's intermediate.
pub struct Issuance {
    ca: CertificateAuthority,
    csr_der: Vec<u8>,
}

impl Issuance {
    /// A fresh CA (one chain) and a CSR for `dns_names` signed by `key`.
    pub fn new(key: &SigningKey, dns_names: &[&str]) -> Result<Self, String> {
        let ids: Vec<_> = dns_names.iter().map(|n| crate::protocol::wire::Identifier::dns(*n)).collect();
        let csr_der = key.csr_der(&ids, None)?;
        let ca = CertificateAuthority::new(1).map_err(|e| e.to_string())?;
        Ok(Issuance { ca, csr_der })
    }

    /// One issuance from the CSR; the certificate's DER length.
    pub fn issue(&self) -> Result<usize, String> {
        let csr = parse_csr(&self.csr_der).map_err(|e| e.to_string())?;
        let names = IssuanceNames { dns: csr.dns_names.clone(), ips: csr.ip_addrs.clone() };
        let now = OffsetDateTime::now_utc();
        let issued = self.ca.issue(&csr, &names, (now, now + time::Duration::days(7)), true).map_err(|e| e.to_string())?;
        Ok(issued.der.len())
    }
}
