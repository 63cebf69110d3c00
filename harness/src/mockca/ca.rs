//! Issuance for the mock CA, kept apart from the WFE so that what gets signed depends
//! only on a parsed, verified CSR and on the names the order validated.
//!
//! CSR parsing is strict and total on purpose: it decides between `badCSR` and a
//! certificate, it is fed attacker-shaped bytes by the harness's own fuzz engine, and
//! a reference server that panics or quietly accepts a malformed request would pass
//! on to every scenario a verdict nobody can trust. The accepted key set is exactly
//! the one the JWS code verifies, so a CSR key can always be compared with an
//! account key.
//!
//! Alternate chains (RFC 8555 §7.4.2) must offer the *same* end-entity certificate
//! under different roots. That only works when every hierarchy's intermediate has
//! the same subject and key, so one signature on the leaf verifies under each of
//! them; that is how the hierarchies are built here.
//!
//! The leaf's SubjectPublicKeyInfo is re-encoded from the key itself rather than
//! copied from the CSR, so that an oddly encoded (but accepted) CSR key cannot leak
//! odd encodings into certificates.

use crate::protocol::b64;
use crate::protocol::jwk::Jwk;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, SignatureAlgorithm,
};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::error::X509Error;
use x509_parser::extensions::{GeneralName, SubjectAlternativeName};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ED25519,
    OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Smallest RSA modulus accepted, in bits (what ring's JWS verification accepts).
const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (ring cannot verify larger ones).
const RSA_MAX_BITS: usize = 8192;
/// Upper bound of RFC 5280's ub-common-name: longer names go in the SAN only.
const CN_MAX_LEN: usize = 64;
/// Hierarchies are named A to Z.
const MAX_CHAINS: usize = 26;

/// Why a CSR (or a SubjectPublicKeyInfo) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CsrError {
    /// The input is not a DER-encoded PKCS#10 certification request (or SubjectPublicKeyInfo).
    #[error("not a DER-encoded structure of the expected type: {0}")]
    NotDer(String),
    /// Bytes follow the end of the DER encoding.
    #[error("{0} bytes of trailing data after the DER encoding")]
    TrailingData(usize),
    /// The request's version is not v1 (0), the only version RFC 2986 defines.
    #[error("unsupported certification request version {0}")]
    UnsupportedVersion(u32),
    /// The request is signed with an algorithm outside the accepted set; SHA-1 is refused.
    #[error("unsupported CSR signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),
    /// The self-signature does not verify with the request's own public key.
    #[error("CSR signature does not verify")]
    BadSignature,
    /// The key is not EC P-256, EC P-384, RSA of 2048 to 8192 bits, or Ed25519.
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// The RSA modulus is shorter than 2048 bits.
    #[error("RSA key of {bits} bits is too small (at least {RSA_MIN_BITS} required)")]
    KeyTooSmall {
        /// The modulus length found, in bits.
        bits: usize,
    },
    /// The key's encoding is not valid for its declared type.
    #[error("malformed public key: {0}")]
    MalformedKey(String),
    /// The subjectAltName extension is undecodable, empty, repeated, or holds a bad name.
    #[error("malformed subjectAltName: {0}")]
    MalformedSan(String),
    /// The subjectAltName holds a name type other than dNSName or iPAddress.
    #[error("unsupported subjectAltName entry: {0}")]
    UnsupportedSanType(String),
    /// The subject's commonName is not a decodable string.
    #[error("malformed subject: {0}")]
    MalformedSubject(String),
}

/// What the CA needs from a CSR whose self-signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedCsr {
    /// The SAN dNSNames, lowercased, in request order (duplicates kept).
    pub(crate) dns_names: Vec<String>,
    /// The SAN iPAddresses, in request order (duplicates kept).
    pub(crate) ip_addrs: Vec<IpAddr>,
    /// The first commonName of the subject, as written.
    pub(crate) common_name: Option<String>,
    /// The requested public key.
    pub(crate) public_key: Jwk,
    /// The requested SubjectPublicKeyInfo, exactly as encoded in the CSR.
    pub(crate) spki_der: Vec<u8>,
    /// Dotted OIDs of requested extensions other than subjectAltName, in request order.
    pub(crate) other_extensions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    P256,
    P384,
    Rsa,
    Ed25519,
}

/// A public key in the accepted set, with the bits that go into a subjectPublicKey.
struct ClassifiedKey {
    kind: KeyKind,
    subject_public_key: Vec<u8>,
    jwk: Jwk,
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn jwk_from(members: &[(&str, String)]) -> Result<Jwk, CsrError> {
    let obj: Map<String, Value> = members
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    Jwk::from_value(&Value::Object(obj)).map_err(|e| CsrError::MalformedKey(e.to_string()))
}

fn classify(spki: &SubjectPublicKeyInfo<'_>) -> Result<ClassifiedKey, CsrError> {
    if spki.subject_public_key.unused_bits != 0 {
        return Err(CsrError::MalformedKey("subjectPublicKey BIT STRING has unused bits".into()));
    }
    let alg = &spki.algorithm.algorithm;
    let key: &[u8] = spki.subject_public_key.data.as_ref();
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or_else(|| CsrError::MalformedKey("EC key without a named curve".into()))?;
        let (kind, crv, len) = if curve == OID_EC_P256 {
            (KeyKind::P256, "P-256", 32)
        } else if curve == OID_NIST_EC_P384 {
            (KeyKind::P384, "P-384", 48)
        } else {
            return Err(CsrError::UnsupportedKey(format!("EC curve {curve}")));
        };
        let coords = match key.split_first() {
            Some((4, coords)) if coords.len() == 2 * len => coords,
            _ => {
                return Err(CsrError::MalformedKey(format!(
                    "{crv} key is not an uncompressed point of {} bytes",
                    1 + 2 * len
                )));
            }
        };
        let (x, y) = coords.split_at(len);
        let jwk = jwk_from(&[
            ("crv", crv.to_owned()),
            ("kty", "EC".to_owned()),
            ("x", b64::encode(x)),
            ("y", b64::encode(y)),
        ])?;
        Ok(ClassifiedKey { kind, subject_public_key: key.to_vec(), jwk })
    } else if *alg == OID_PKCS1_RSAENCRYPTION {
        let (rest, rsa) = RSAPublicKey::from_der(key)
            .map_err(|_| CsrError::MalformedKey("RSAPublicKey is not DER".into()))?;
        if !rest.is_empty() {
            return Err(CsrError::MalformedKey("trailing data after RSAPublicKey".into()));
        }
        let negative = |b: &[u8]| b.first().is_some_and(|x| x & 0x80 != 0);
        if negative(rsa.modulus) || negative(rsa.exponent) {
            return Err(CsrError::MalformedKey("negative RSA modulus or exponent".into()));
        }
        let n = strip_leading_zeros(rsa.modulus);
        let e = strip_leading_zeros(rsa.exponent);
        let Some(first) = n.first() else {
            return Err(CsrError::MalformedKey("RSA modulus is zero".into()));
        };
        if e.is_empty() {
            return Err(CsrError::MalformedKey("RSA exponent is zero".into()));
        }
        let bits = (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize);
        if bits < RSA_MIN_BITS {
            return Err(CsrError::KeyTooSmall { bits });
        }
        if bits > RSA_MAX_BITS {
            return Err(CsrError::UnsupportedKey(format!(
                "RSA key of {bits} bits (at most {RSA_MAX_BITS})"
            )));
        }
        let jwk = jwk_from(&[
            ("e", b64::encode(e)),
            ("kty", "RSA".to_owned()),
            ("n", b64::encode(n)),
        ])?;
        Ok(ClassifiedKey { kind: KeyKind::Rsa, subject_public_key: key.to_vec(), jwk })
    } else if *alg == OID_SIG_ED25519 {
        // RFC 8410 §3: the parameters MUST be absent.
        if spki.algorithm.parameters.is_some() {
            return Err(CsrError::MalformedKey("Ed25519 algorithm identifier has parameters".into()));
        }
        if key.len() != 32 {
            return Err(CsrError::MalformedKey("Ed25519 key is not 32 bytes".into()));
        }
        let jwk = jwk_from(&[
            ("crv", "Ed25519".to_owned()),
            ("kty", "OKP".to_owned()),
            ("x", b64::encode(key)),
        ])?;
        Ok(ClassifiedKey { kind: KeyKind::Ed25519, subject_public_key: key.to_vec(), jwk })
    } else {
        Err(CsrError::UnsupportedKey(format!("key algorithm {alg}")))
    }
}

fn classify_der(spki_der: &[u8]) -> Result<ClassifiedKey, CsrError> {
    let (rest, spki) =
        SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| CsrError::NotDer(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::TrailingData(rest.len()));
    }
    classify(&spki)
}

/// The public JWK of a DER SubjectPublicKeyInfo (EC → x/y, RSA → n/e without leading
/// zeros, Ed25519 → OKP x), for comparing a CSR or certificate key with an account key.
pub(crate) fn spki_to_jwk(spki_der: &[u8]) -> Result<Jwk, CsrError> {
    classify_der(spki_der).map(|k| k.jwk)
}

fn check_signature_algorithm(csr: &X509CertificationRequest<'_>) -> Result<(), CsrError> {
    let alg = &csr.signature_algorithm.algorithm;
    let accepted = [
        OID_PKCS1_SHA256WITHRSA,
        OID_PKCS1_SHA384WITHRSA,
        OID_PKCS1_SHA512WITHRSA,
        OID_PKCS1_RSASSAPSS,
        OID_SIG_ECDSA_WITH_SHA256,
        OID_SIG_ECDSA_WITH_SHA384,
        OID_SIG_ED25519,
    ];
    if accepted.contains(alg) {
        Ok(())
    } else {
        Err(CsrError::UnsupportedSignatureAlgorithm(alg.to_id_string()))
    }
}

fn read_san(value: &[u8], dns: &mut Vec<String>, ips: &mut Vec<IpAddr>) -> Result<(), CsrError> {
    let (rest, san) =
        SubjectAlternativeName::from_der(value).map_err(|e| CsrError::MalformedSan(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::MalformedSan(format!("{} bytes of trailing data", rest.len())));
    }
    if san.general_names.is_empty() {
        return Err(CsrError::MalformedSan("no names (RFC 5280 requires at least one)".into()));
    }
    for name in &san.general_names {
        match name {
            GeneralName::DNSName(s) => {
                if s.is_empty() || !s.is_ascii() {
                    return Err(CsrError::MalformedSan(format!("dNSName {s:?} is empty or not ASCII")));
                }
                dns.push(s.to_ascii_lowercase());
            }
            GeneralName::IPAddress(bytes) => {
                let ip = if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                    IpAddr::from(v4)
                } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                    IpAddr::from(v6)
                } else {
                    return Err(CsrError::MalformedSan(format!(
                        "iPAddress of {} bytes (4 or 16 expected)",
                        bytes.len()
                    )));
                };
                ips.push(ip);
            }
            GeneralName::Invalid(tag, _) => {
                return Err(CsrError::MalformedSan(format!("undecodable name with tag {}", tag.0)));
            }
            other => return Err(CsrError::UnsupportedSanType(other.to_string())),
        }
    }
    Ok(())
}

/// Parses a DER PKCS#10 request and verifies its self-signature (RFC 2986).
///
/// Never panics: any byte string gives either a verified request or a `CsrError`.
pub(crate) fn parse_csr(der: &[u8]) -> Result<ParsedCsr, CsrError> {
    let (rest, csr) =
        X509CertificationRequest::from_der(der).map_err(|e| CsrError::NotDer(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::TrailingData(rest.len()));
    }
    let info = &csr.certification_request_info;
    if info.version.0 != 0 {
        return Err(CsrError::UnsupportedVersion(info.version.0));
    }
    let key = classify(&info.subject_pki)?;
    check_signature_algorithm(&csr)?;
    csr.verify_signature().map_err(|e| match e {
        X509Error::SignatureUnsupportedAlgorithm => {
            CsrError::UnsupportedSignatureAlgorithm(csr.signature_algorithm.algorithm.to_id_string())
        }
        _ => CsrError::BadSignature,
    })?;

    let mut dns_names = Vec::new();
    let mut ip_addrs = Vec::new();
    let mut other_extensions = Vec::new();
    let mut san_seen = false;
    for attr in info.iter_attributes() {
        let ParsedCriAttribute::ExtensionRequest(request) = attr.parsed_attribute() else {
            continue;
        };
        for ext in &request.extensions {
            if ext.oid == OID_X509_EXT_SUBJECT_ALT_NAME {
                if san_seen {
                    return Err(CsrError::MalformedSan("requested more than once".into()));
                }
                san_seen = true;
                read_san(ext.value, &mut dns_names, &mut ip_addrs)?;
            } else {
                other_extensions.push(ext.oid.to_id_string());
            }
        }
    }

    let common_name = match info.subject.iter_common_name().next() {
        None => None,
        Some(cn) => Some(
            cn.as_str()
                .map_err(|e| CsrError::MalformedSubject(format!("commonName: {e}")))?
                .to_owned(),
        ),
    };

    Ok(ParsedCsr {
        dns_names,
        ip_addrs,
        common_name,
        public_key: key.jwk,
        spki_der: info.subject_pki.raw.to_vec(),
        other_extensions,
    })
}

/// Why the CA could not be built or could not issue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CaError {
    /// More alternate chains were asked for than the CA can name (A to Z).
    #[error("{0} alternate chains requested, at most {max} supported", max = MAX_CHAINS - 1)]
    TooManyChains(usize),
    /// No DNS name and no IP address was given, so there is nothing to certify.
    #[error("no names to certify")]
    NoNames,
    /// A DNS name cannot be encoded as a dNSName (an IA5String).
    #[error("name {0:?} cannot be put in a certificate")]
    InvalidName(String),
    /// notAfter is not after notBefore, or a date lies outside the years 1950 to 9999.
    #[error("invalid validity period")]
    InvalidValidity,
    /// The CSR's public key cannot be put in a certificate.
    #[error("unusable public key: {0}")]
    Key(#[from] CsrError),
    /// rcgen (or ring under it) failed to generate a key or to sign a certificate.
    #[error("certificate generation failed: {0}")]
    Signing(String),
    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Random,
}

fn signing(e: rcgen::Error) -> CaError {
    CaError::Signing(e.to_string())
}

/// The names to certify, already validated by the order's authorizations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IssuanceNames {
    /// dNSName entries, in order; the first name also becomes the commonName.
    pub(crate) dns: Vec<String>,
    /// iPAddress entries, in order.
    pub(crate) ips: Vec<IpAddr>,
}

/// An end-entity certificate the CA signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssuedCertificate {
    /// The serial number as lowercase hex of its 16 bytes.
    pub(crate) serial_hex: String,
    /// The certificate, DER.
    pub(crate) der: Vec<u8>,
    /// notBefore as encoded (UTC, whole seconds).
    pub(crate) not_before: OffsetDateTime,
    /// notAfter as encoded (UTC, whole seconds).
    pub(crate) not_after: OffsetDateTime,
    /// The certified public key.
    pub(crate) public_key: Jwk,
}

/// One root and the intermediate it signed.
struct Hierarchy {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
}

/// The mock CA's keys and certificates: one intermediate key, certified under one or
/// more roots.
pub(crate) struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    hierarchies: Vec<Hierarchy>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("chains", &self.hierarchies.len())
            .finish_non_exhaustive()
    }
}

/// The 16-byte positive serial number and its hex form.
fn random_serial() -> Result<(SerialNumber, String), CaError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).map_err(|_| CaError::Random)?;
    // Positive, and exactly 16 bytes once DER-encoded (no sign or stripped zero byte).
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok((SerialNumber::from_slice(&bytes), hex))
}

fn ca_params(
    common_name: &str,
    path_len: Option<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "acmespec");
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?.0);
    Ok(params)
}

fn chain_label(i: usize) -> char {
    // Callers keep i below MAX_CHAINS (26).
    char::from(b'A' + (i % MAX_CHAINS) as u8)
}

fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Normalises a validity bound to what X.509 will carry: UTC, whole seconds.
fn cert_time(t: OffsetDateTime) -> Result<OffsetDateTime, CaError> {
    let t = t.to_offset(time::UtcOffset::UTC);
    if !(1950..=9999).contains(&t.year()) {
        return Err(CaError::InvalidValidity);
    }
    t.replace_nanosecond(0).map_err(|_| CaError::InvalidValidity)
}

/// The CSR's key, ready to be put into a certificate.
struct LeafKey {
    alg: &'static SignatureAlgorithm,
    subject_public_key: Vec<u8>,
}

impl rcgen::PublicKeyData for LeafKey {
    fn der_bytes(&self) -> &[u8] {
        &self.subject_public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl CertificateAuthority {
    /// Creates a primary hierarchy (root A → intermediate A) plus `alternate_chains`
    /// more roots (B, C, …), each certifying the same intermediate subject and key.
    pub(crate) fn new(alternate_chains: usize) -> Result<Self, CaError> {
        if alternate_chains >= MAX_CHAINS {
            return Err(CaError::TooManyChains(alternate_chains));
        }
        let now = cert_time(OffsetDateTime::now_utc())?;
        let not_before = now - Duration::days(1);
        let not_after = now + Duration::days(3650);

        let intermediate_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(signing)?;
        let mut intermediate_params =
            ca_params("acmespec mock intermediate A", Some(0), not_before, not_after)?;
        intermediate_params.use_authority_key_identifier_extension = true;
        intermediate_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

        let mut hierarchies = Vec::with_capacity(alternate_chains + 1);
        for i in 0..=alternate_chains {
            let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(signing)?;
            let root_name = format!("acmespec mock root {}", chain_label(i));
            let root_params = ca_params(&root_name, None, not_before, not_after)?;
            let root_cert = root_params.self_signed(&root_key).map_err(signing)?;
            let root_issuer = Issuer::new(root_params, root_key);

            let mut params = intermediate_params.clone();
            params.serial_number = Some(random_serial()?.0);
            let intermediate = params.signed_by(&intermediate_key, &root_issuer).map_err(signing)?;
            hierarchies.push(Hierarchy {
                root_der: root_cert.der().to_vec(),
                intermediate_der: intermediate.der().to_vec(),
            });
        }
        Ok(CertificateAuthority { issuer: Issuer::new(intermediate_params, intermediate_key), hierarchies })
    }

    /// Signs an end-entity certificate for the CSR's key and exactly `names`.
    ///
    /// The subject is CN = the first name (DNS first, then IP) when it fits the 64
    /// characters X.509 allows, else empty; the SAN lists every name. Serial: 16
    /// random bytes; EKU serverAuth, KU digitalSignature, AKI, basicConstraints CA:FALSE.
    pub(crate) fn issue(
        &self,
        csr: &ParsedCsr,
        names: &IssuanceNames,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<IssuedCertificate, CaError> {
        let first = match (names.dns.first(), names.ips.first()) {
            (Some(dns), _) => dns.clone(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => return Err(CaError::NoNames),
        };
        let not_before = cert_time(not_before)?;
        let not_after = cert_time(not_after)?;
        if not_after <= not_before {
            return Err(CaError::InvalidValidity);
        }
        let key = classify_der(&csr.spki_der)?;
        let alg = match key.kind {
            KeyKind::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Rsa => &rcgen::PKCS_RSA_SHA256,
            KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
        };
        let leaf_key = LeafKey { alg, subject_public_key: key.subject_public_key };

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        if first.len() <= CN_MAX_LEN {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        let mut sans = Vec::with_capacity(names.dns.len() + names.ips.len());
        for name in &names.dns {
            let ia5 = name.as_str().try_into().map_err(|_| CaError::InvalidName(name.clone()))?;
            sans.push(SanType::DnsName(ia5));
        }
        sans.extend(names.ips.iter().copied().map(SanType::IpAddress));
        params.subject_alt_names = sans;
        let (serial, serial_hex) = random_serial()?;
        params.serial_number = Some(serial);
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;

        let cert = params.signed_by(&leaf_key, &self.issuer).map_err(signing)?;
        Ok(IssuedCertificate {
            serial_hex,
            der: cert.der().to_vec(),
            not_before,
            not_after,
            public_key: key.jwk,
        })
    }

    /// How many chains the CA offers (1 + alternates).
    pub(crate) fn chain_count(&self) -> usize {
        self.hierarchies.len()
    }

    /// The PEM chain for `cert` under hierarchy `chain` (0 = primary): leaf, then
    /// intermediate, in RFC 7468 strict form with no explanatory text.
    pub(crate) fn chain_pem(&self, cert: &IssuedCertificate, chain: usize) -> Option<String> {
        let hierarchy = self.hierarchies.get(chain)?;
        Some(pem(&cert.der) + &pem(&hierarchy.intermediate_der))
    }

    /// Root certificate of hierarchy `i`, DER.
    pub(crate) fn root_der(&self, i: usize) -> Option<&[u8]> {
        self.hierarchies.get(i).map(|h| h.root_der.as_slice())
    }

    /// Intermediate certificate of hierarchy `i`, DER.
    pub(crate) fn intermediate_der(&self, i: usize) -> Option<&[u8]> {
        self.hierarchies.get(i).map(|h| h.intermediate_der.as_slice())
    }

    /// Root certificate of hierarchy `i`, PEM.
    pub(crate) fn root_pem(&self, i: usize) -> Option<String> {
        self.root_der(i).map(pem)
    }

    /// Intermediate certificate of hierarchy `i`, PEM.
    pub(crate) fn intermediate_pem(&self, i: usize) -> Option<String> {
        self.intermediate_der(i).map(pem)
    }
}
