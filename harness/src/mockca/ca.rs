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
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber, SignatureAlgorithm,
};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::error::X509Error;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION, OID_PKCS1_RSASSAPSS,
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ED25519, OID_X509_EXT_SUBJECT_ALT_NAME,
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

/// What the CA needs from a parsed CSR.
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
        return Err(CsrError::MalformedKey(
            "subjectPublicKey BIT STRING has unused bits".into(),
        ));
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
        Ok(ClassifiedKey {
            kind,
            subject_public_key: key.to_vec(),
            jwk,
        })
    } else if *alg == OID_PKCS1_RSAENCRYPTION {
        // RFC 3279 §2.3.1 says NULL; absent is tolerated as RFC 4055 §5 asks of verifiers.
        if !spki.algorithm.parameters.as_ref().is_none_or(is_null) {
            return Err(CsrError::MalformedKey(
                "rsaEncryption parameters are not NULL".into(),
            ));
        }
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
        Ok(ClassifiedKey {
            kind: KeyKind::Rsa,
            subject_public_key: key.to_vec(),
            jwk,
        })
    } else if *alg == OID_SIG_ED25519 {
        // RFC 8410 §3: the parameters MUST be absent.
        if spki.algorithm.parameters.is_some() {
            return Err(CsrError::MalformedKey(
                "Ed25519 algorithm identifier has parameters".into(),
            ));
        }
        if key.len() != 32 {
            return Err(CsrError::MalformedKey("Ed25519 key is not 32 bytes".into()));
        }
        let jwk = jwk_from(&[
            ("crv", "Ed25519".to_owned()),
            ("kty", "OKP".to_owned()),
            ("x", b64::encode(key)),
        ])?;
        Ok(ClassifiedKey {
            kind: KeyKind::Ed25519,
            subject_public_key: key.to_vec(),
            jwk,
        })
    } else {
        Err(CsrError::UnsupportedKey(format!("key algorithm {alg}")))
    }
}

fn classify_der(spki_der: &[u8]) -> Result<ClassifiedKey, CsrError> {
    let (content, trailing) = der_expect(spki_der, 0x30, "SubjectPublicKeyInfo")?;
    if !trailing.is_empty() {
        return Err(CsrError::TrailingData(trailing.len()));
    }
    der_walk(spki_der, 0).map_err(CsrError::NotDer)?;
    check_spki_shape(content)?;
    let (rest, spki) =
        SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| CsrError::NotDer(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::TrailingData(rest.len()));
    }
    classify(&spki)
}

/// The public JWK of a DER SubjectPublicKeyInfo (EC → x/y, RSA → n/e without leading
/// zeros, Ed25519 → OKP x), for comparing a CSR or certificate key with an account key.
#[cfg(test)]
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
    if !accepted.contains(alg) {
        return Err(CsrError::UnsupportedSignatureAlgorithm(alg.to_id_string()));
    }
    let params = csr.signature_algorithm.parameters.as_ref();
    // RFC 4055 §5: NULL or absent for PKCS#1 v1.5; RFC 4055 §3.1: present for PSS;
    // RFC 5758 §3.2 and RFC 8410 §3: absent for ECDSA and Ed25519.
    let params_ok = if *alg == OID_PKCS1_RSASSAPSS {
        params.is_some()
    } else if [
        OID_PKCS1_SHA256WITHRSA,
        OID_PKCS1_SHA384WITHRSA,
        OID_PKCS1_SHA512WITHRSA,
    ]
    .contains(alg)
    {
        params.is_none_or(is_null)
    } else {
        params.is_none()
    };
    if params_ok {
        Ok(())
    } else {
        Err(CsrError::NotDer(format!(
            "signature algorithm {alg} has invalid parameters"
        )))
    }
}

fn is_null(any: &Any<'_>) -> bool {
    any.class() == Class::Universal && any.tag() == Tag::Null && any.data.is_empty()
}

/// Reads GeneralNames (RFC 5280 §4.2.1.6) by hand: x509-parser matches context tags
/// by number only, and a strict server must not take a constructed [2] for a dNSName.
fn read_san(value: &[u8], dns: &mut Vec<String>, ips: &mut Vec<IpAddr>) -> Result<(), CsrError> {
    let malformed = CsrError::MalformedSan;
    let (mut names, trailing) = match der_tlv(value) {
        Ok((0x30, content, rest)) => (content, rest),
        Ok((tag, ..)) => return Err(malformed(format!("tag {tag:#04x}, expected a SEQUENCE"))),
        Err(e) => return Err(malformed(e)),
    };
    if !trailing.is_empty() {
        return Err(malformed(format!("{} bytes of trailing data", trailing.len())));
    }
    der_walk(value, 0).map_err(malformed)?;
    if names.is_empty() {
        return Err(malformed("no names (RFC 5280 requires at least one)".into()));
    }
    while !names.is_empty() {
        let (tag, content, rest) = der_tlv(names).map_err(malformed)?;
        names = rest;
        match tag {
            0x82 => {
                if content.is_empty() || !content.is_ascii() {
                    return Err(malformed(format!(
                        "dNSName {:?} is empty or not ASCII",
                        String::from_utf8_lossy(content)
                    )));
                }
                // ASCII was checked just above, so this cannot fail.
                let name = std::str::from_utf8(content).map_err(|e| malformed(e.to_string()))?;
                dns.push(name.to_ascii_lowercase());
            }
            0x87 => {
                let ip = if let Ok(v4) = <[u8; 4]>::try_from(content) {
                    IpAddr::from(v4)
                } else if let Ok(v6) = <[u8; 16]>::try_from(content) {
                    IpAddr::from(v6)
                } else {
                    return Err(malformed(format!(
                        "iPAddress of {} bytes (4 or 16 expected)",
                        content.len()
                    )));
                };
                ips.push(ip);
            }
            0xa0 => return Err(CsrError::UnsupportedSanType("otherName".into())),
            0x81 => return Err(CsrError::UnsupportedSanType("rfc822Name".into())),
            0xa3 => return Err(CsrError::UnsupportedSanType("x400Address".into())),
            0xa4 => return Err(CsrError::UnsupportedSanType("directoryName".into())),
            0xa5 => return Err(CsrError::UnsupportedSanType("ediPartyName".into())),
            0x86 => return Err(CsrError::UnsupportedSanType("uniformResourceIdentifier".into())),
            0x88 => return Err(CsrError::UnsupportedSanType("registeredID".into())),
            other => return Err(malformed(format!("tag {other:#04x} is not a GeneralName"))),
        }
    }
    Ok(())
}

/// Nesting depth the DER walker follows; PKCS#10 requests need well under 16.
const DER_MAX_DEPTH: usize = 32;

/// Splits one TLV off `input`, enforcing DER's length rules (definite, minimal).
/// Returns (tag byte, content, rest).
fn der_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, after_tag) = input.split_first().ok_or("unexpected end of data")?;
    if tag & 0x1f == 0x1f {
        return Err(format!("high-tag-number form (tag byte {tag:#04x})"));
    }
    let (&first, mut rest) = after_tag.split_first().ok_or("missing length")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 {
            return Err("indefinite length".into());
        }
        if count > 4 || rest.len() < count {
            return Err("length field too long or truncated".into());
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        if bytes[0] == 0 {
            return Err("non-minimal length".into());
        }
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return Err("non-minimal length".into());
        }
        len
    };
    if rest.len() < len {
        return Err("content runs past the end of the data".into());
    }
    let (content, rest) = rest.split_at(len);
    Ok((tag, content, rest))
}

/// Checks that every TLV in `input` is DER: what x509-parser lets through (tag class
/// and constructed bits are not always checked) must not reach a verdict.
fn der_walk(mut input: &[u8], depth: usize) -> Result<(), String> {
    if depth > DER_MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    while !input.is_empty() {
        let (tag, content, rest) = der_tlv(input)?;
        let constructed = tag & 0x20 != 0;
        if tag & 0xc0 == 0 {
            let number = tag & 0x1f;
            // SEQUENCE and SET are always constructed; DER forbids constructed strings.
            if constructed != matches!(number, 16 | 17) {
                return Err(format!("tag byte {tag:#04x} has the wrong constructed bit"));
            }
            match number {
                0 => return Err("end-of-contents octets".into()),
                1 if !matches!(content, [0x00] | [0xff]) => {
                    return Err("BOOLEAN is not 0x00 or 0xFF".into());
                }
                2 | 10 => match content {
                    [] => return Err("empty INTEGER".into()),
                    [0x00, next, ..] if next & 0x80 == 0 => return Err("non-minimal INTEGER".into()),
                    [0xff, next, ..] if next & 0x80 != 0 => return Err("non-minimal INTEGER".into()),
                    _ => {}
                },
                3 => match content {
                    [] => return Err("empty BIT STRING".into()),
                    [unused, ..] if *unused > 7 => return Err("BIT STRING with over 7 unused bits".into()),
                    [unused] if *unused != 0 => return Err("empty BIT STRING with unused bits".into()),
                    _ => {}
                },
                5 if !content.is_empty() => return Err("NULL with content".into()),
                _ => {}
            }
        }
        if constructed {
            der_walk(content, depth + 1)?;
        }
        input = rest;
    }
    Ok(())
}

/// Splits a TLV that must carry exactly `tag`.
fn der_expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), CsrError> {
    match der_tlv(input) {
        Ok((found, content, rest)) if found == tag => Ok((content, rest)),
        Ok((found, ..)) => Err(CsrError::NotDer(format!(
            "{what}: tag {found:#04x}, expected {tag:#04x}"
        ))),
        Err(e) => Err(CsrError::NotDer(format!("{what}: {e}"))),
    }
}

/// Checks a SubjectPublicKeyInfo's outline: SEQUENCE { SEQUENCE { OID, .. }, BIT STRING }.
fn check_spki_shape(spki: &[u8]) -> Result<(), CsrError> {
    let (alg, rest) = der_expect(spki, 0x30, "SubjectPublicKeyInfo algorithm")?;
    der_expect(alg, 0x06, "SubjectPublicKeyInfo algorithm OID")?;
    let (_, rest) = der_expect(rest, 0x03, "subjectPublicKey")?;
    if !rest.is_empty() {
        return Err(CsrError::NotDer("extra fields in SubjectPublicKeyInfo".into()));
    }
    Ok(())
}

/// Strict DER and the PKCS#10 outline, checked before x509-parser sees the bytes.
fn check_csr_shape(der: &[u8]) -> Result<(), CsrError> {
    let (outer, trailing) = der_expect(der, 0x30, "CertificationRequest")?;
    if !trailing.is_empty() {
        return Err(CsrError::TrailingData(trailing.len()));
    }
    der_walk(der, 0).map_err(CsrError::NotDer)?;
    let (info, rest) = der_expect(outer, 0x30, "certificationRequestInfo")?;
    let (alg, rest) = der_expect(rest, 0x30, "signatureAlgorithm")?;
    der_expect(alg, 0x06, "signatureAlgorithm OID")?;
    let (signature, rest) = der_expect(rest, 0x03, "signature")?;
    if !rest.is_empty() {
        return Err(CsrError::NotDer("extra fields in CertificationRequest".into()));
    }
    // Signatures are whole octets; x509-parser would ignore the unused-bits count.
    if signature.first() != Some(&0) {
        return Err(CsrError::NotDer("signature BIT STRING has unused bits".into()));
    }
    let (_, rest) = der_expect(info, 0x02, "version")?;
    let (_, rest) = der_expect(rest, 0x30, "subject")?;
    let (spki, rest) = der_expect(rest, 0x30, "subjectPKInfo")?;
    check_spki_shape(spki)?;
    let (_, rest) = der_expect(rest, 0xa0, "attributes")?;
    if !rest.is_empty() {
        return Err(CsrError::NotDer(
            "extra fields in certificationRequestInfo".into(),
        ));
    }
    Ok(())
}

/// Parses a DER PKCS#10 request and verifies its self-signature (RFC 2986).
///
/// Never panics: any byte string gives either a verified request or a `CsrError`.
pub(crate) fn parse_csr(der: &[u8]) -> Result<ParsedCsr, CsrError> {
    parse(der, true)
}

/// Parses a DER PKCS#10 request as strictly as [`parse_csr`] but leaves its
/// self-signature unchecked (what a CA that skips the check would take in; the fuzz
/// targets compare the two).
pub(crate) fn parse_csr_unverified(der: &[u8]) -> Result<ParsedCsr, CsrError> {
    parse(der, false)
}

fn parse(der: &[u8], verify_signature: bool) -> Result<ParsedCsr, CsrError> {
    check_csr_shape(der)?;
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|e| CsrError::NotDer(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::TrailingData(rest.len()));
    }
    let info = &csr.certification_request_info;
    if info.version.0 != 0 {
        return Err(CsrError::UnsupportedVersion(info.version.0));
    }
    let key = classify(&info.subject_pki)?;
    check_signature_algorithm(&csr)?;
    if verify_signature {
        csr.verify_signature().map_err(|e| match e {
            X509Error::SignatureUnsupportedAlgorithm => {
                CsrError::UnsupportedSignatureAlgorithm(csr.signature_algorithm.algorithm.to_id_string())
            }
            _ => CsrError::BadSignature,
        })?;
    }

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
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Random)?;
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
    params
        .distinguished_name
        .push(DnType::OrganizationName, "acmespec");
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
            let intermediate = params
                .signed_by(&intermediate_key, &root_issuer)
                .map_err(signing)?;
            hierarchies.push(Hierarchy {
                root_der: root_cert.der().to_vec(),
                intermediate_der: intermediate.der().to_vec(),
            });
        }
        Ok(CertificateAuthority {
            issuer: Issuer::new(intermediate_params, intermediate_key),
            hierarchies,
        })
    }

    /// Signs an end-entity certificate for the CSR's key and exactly `names`.
    ///
    /// With `common_name`, the subject is CN = the first name (DNS first, then IP) when
    /// it fits the 64 characters X.509 allows; otherwise it is empty. The SAN lists every
    /// name. Serial: 16 random bytes; EKU serverAuth, KU digitalSignature, AKI,
    /// basicConstraints CA:FALSE.
    pub(crate) fn issue(
        &self,
        csr: &ParsedCsr,
        names: &IssuanceNames,
        (not_before, not_after): (OffsetDateTime, OffsetDateTime),
        common_name: bool,
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
        let leaf_key = LeafKey {
            alg,
            subject_public_key: key.subject_public_key,
        };

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        if common_name && first.len() <= CN_MAX_LEN {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        let mut sans = Vec::with_capacity(names.dns.len() + names.ips.len());
        for name in &names.dns {
            let ia5 = name
                .as_str()
                .try_into()
                .map_err(|_| CaError::InvalidName(name.clone()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jws::Algorithm;
    use crate::protocol::keys::SigningKey;
    use rcgen::{CustomExtension, PublicKeyData};
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::{GeneralName, ParsedExtension};

    const RSA_PEM: &str = include_str!("../../../fixtures/keys/rsa2048.pk8.pem");

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn csr_with(params: &CertificateParams, key: &KeyPair) -> Vec<u8> {
        params.serialize_request(key).unwrap().der().to_vec()
    }

    fn csr(key: &KeyPair, list: &[&str]) -> Vec<u8> {
        csr_with(&CertificateParams::new(names(list)).unwrap(), key)
    }

    /// rcgen key pairs for every accepted key type, with the JWS algorithm they match.
    fn keys() -> Vec<(KeyPair, Algorithm)> {
        vec![
            (
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
                Algorithm::Es256,
            ),
            (
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
                Algorithm::Es384,
            ),
            (
                KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
                Algorithm::EdDsa,
            ),
            (KeyPair::from_pem(RSA_PEM).unwrap(), Algorithm::Rs256),
        ]
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    #[test]
    fn parses_every_accepted_key_type() {
        for (key, alg) in keys() {
            let der = csr(
                &key,
                &["Example.COM", "www.example.com", "192.0.2.1", "2001:db8::1"],
            );
            let parsed = parse_csr(&der).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(
                parsed.dns_names,
                names(&["example.com", "www.example.com"]),
                "{alg:?}"
            );
            assert_eq!(
                parsed.ip_addrs,
                vec![
                    "192.0.2.1".parse::<IpAddr>().unwrap(),
                    "2001:db8::1".parse().unwrap()
                ]
            );
            assert_eq!(parsed.common_name.as_deref(), Some("rcgen self signed cert"));
            assert!(parsed.other_extensions.is_empty());
            assert_eq!(parsed.spki_der, key.subject_public_key_info());

            let signing = if alg == Algorithm::Rs256 {
                SigningKey::from_pkcs8_pem(alg, RSA_PEM).unwrap()
            } else {
                SigningKey::from_pkcs8(alg, key.serialized_der()).unwrap()
            };
            assert_eq!(&parsed.public_key, signing.jwk(), "{alg:?}");
            assert_eq!(parsed.public_key.thumbprint(), signing.jwk().thumbprint());
            assert_eq!(&spki_to_jwk(&parsed.spki_der).unwrap(), signing.jwk());
        }
    }

    #[test]
    fn rsa_jwk_has_no_leading_zeros() {
        let key = KeyPair::from_pem(RSA_PEM).unwrap();
        let jwk = spki_to_jwk(&key.subject_public_key_info()).unwrap().to_value();
        let n = b64::decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert_ne!(n[0], 0);
        assert_eq!(jwk["e"], "AQAB");
    }

    #[test]
    fn reports_other_extensions_and_subject() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(names(&["a.test"])).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // TLS Feature (must-staple), RFC 7633.
        params.custom_extensions.push(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 24],
            vec![0x30, 0x03, 0x02, 0x01, 0x05],
        ));
        let parsed = parse_csr(&csr_with(&params, &key)).unwrap();
        assert_eq!(parsed.dns_names, names(&["a.test"]));
        assert_eq!(parsed.common_name, None);
        assert_eq!(
            parsed.other_extensions,
            names(&["2.5.29.37", "1.3.6.1.5.5.7.1.24"])
        );

        // A CSR without any SAN parses, with no names.
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "only-cn.test");
        let parsed = parse_csr(&csr_with(&params, &key)).unwrap();
        assert!(parsed.dns_names.is_empty() && parsed.ip_addrs.is_empty());
        assert_eq!(parsed.common_name.as_deref(), Some("only-cn.test"));
    }

    #[test]
    fn refuses_bad_signatures() {
        for (key, alg) in keys() {
            let der = csr(&key, &["example.com"]);
            // A bit of the signature value (the last byte of the request).
            let mut sig = der.clone();
            *sig.last_mut().unwrap() ^= 0x01;
            assert_eq!(parse_csr(&sig), Err(CsrError::BadSignature), "{alg:?}");
            assert_eq!(parse_csr_unverified(&sig), parse_csr(&der), "{alg:?}");
            // A bit of the signed content: example.com becomes exbmple.com.
            let pos = der.windows(11).position(|w| w == b"example.com").unwrap();
            let mut tbs = der.clone();
            tbs[pos + 2] ^= 0x03;
            assert_eq!(parse_csr(&tbs), Err(CsrError::BadSignature), "{alg:?}");
        }
    }

    #[test]
    fn never_panics_on_damaged_input() {
        assert!(matches!(parse_csr(&[]), Err(CsrError::NotDer(_))));
        for garbage in [
            &b"hello"[..],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x00],
            &[0x30, 0x03, 0x30, 0x01, 0x00],
            &[0xff; 64],
        ] {
            assert!(parse_csr(garbage).is_err());
            assert!(spki_to_jwk(garbage).is_err());
        }
        for (key, alg) in keys() {
            let der = csr(&key, &["example.com", "192.0.2.1"]);
            for len in 0..der.len() {
                assert!(parse_csr(&der[..len]).is_err(), "{alg:?} truncated to {len}");
            }
            let mut trailing = der.clone();
            trailing.push(0);
            assert_eq!(parse_csr(&trailing), Err(CsrError::TrailingData(1)));
            // Every single-bit flip is refused, including those outside the signed part
            // (tags, unused-bit counts, algorithm parameters) that x509-parser lets pass.
            for pos in 0..der.len() {
                for bit in 0..8 {
                    let mut damaged = der.clone();
                    damaged[pos] ^= 1 << bit;
                    assert!(parse_csr(&damaged).is_err(), "{alg:?} flip {pos}/{bit}");
                }
            }
        }
        // A certificate is not a request.
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = CertificateParams::new(names(&["a.test"]))
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(parse_csr(cert.der()).is_err());
    }

    #[test]
    fn never_panics_on_random_mutations() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds: Vec<Vec<u8>> = keys()
            .iter()
            .map(|(k, _)| csr(k, &["a.test", "192.0.2.1"]))
            .collect();
        for _ in 0..3000 {
            let mut input = seeds[next() as usize % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let pos = next() as usize % input.len().max(1);
                match next() % 4 {
                    0 if !input.is_empty() => input[pos] = next() as u8,
                    1 if !input.is_empty() => {
                        input.remove(pos);
                    }
                    2 => input.insert(pos.min(input.len()), next() as u8),
                    _ => input.truncate(pos),
                }
            }
            let _ = parse_csr(&input);
            let _ = spki_to_jwk(&input);
            // Arbitrary bytes too.
            let random: Vec<u8> = (0..next() % 96).map(|_| next() as u8).collect();
            let _ = parse_csr(&random);
            let _ = spki_to_jwk(&random);
        }
    }

    #[test]
    fn refuses_non_der_encodings() {
        // Long-form length where the short form fits, on the outer SEQUENCE.
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = csr(&key, &["a.test"]);
        assert_eq!(der[1] & 0x80, 0x80, "expected a long-form outer length");
        let (_, content, _) = super::der_tlv(&der).unwrap();
        let mut padded = vec![0x30, 0x83, 0x00];
        padded.extend_from_slice(&der[2..]);
        assert!(matches!(parse_csr(&padded), Err(CsrError::NotDer(_))));
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend_from_slice(content);
        indefinite.extend_from_slice(&[0, 0]);
        assert!(matches!(parse_csr(&indefinite), Err(CsrError::NotDer(_))));
        assert_eq!(
            der_walk(&[0x02, 0x02, 0x00, 0x01], 0),
            Err("non-minimal INTEGER".into())
        );
        assert_eq!(
            der_walk(&[0x01, 0x01, 0x01], 0),
            Err("BOOLEAN is not 0x00 or 0xFF".into())
        );
        assert!(
            der_walk(&[0x24, 0x03, 0x04, 0x01, 0x00], 0).is_err(),
            "constructed OCTET STRING"
        );
        assert!(der_walk(&[0x10, 0x00], 0).is_err(), "primitive SEQUENCE");
        let mut deep = Vec::new();
        for _ in 0..40 {
            deep = tlv(0x30, &deep);
        }
        assert_eq!(der_walk(&deep, 0), Err("nested too deeply".into()));
    }

    #[test]
    fn refuses_malformed_and_unsupported_sans() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let san = |content: Vec<u8>| CustomExtension::from_oid_content(&[2, 5, 29, 17], content);

        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .custom_extensions
            .push(san(vec![0x30, 0x03, 0x82, 0x05, 0x61]));
        assert!(matches!(
            parse_csr(&csr_with(&params, &key)),
            Err(CsrError::MalformedSan(_))
        ));

        params.custom_extensions = vec![san(vec![0x30, 0x00])];
        assert!(matches!(
            parse_csr(&csr_with(&params, &key)),
            Err(CsrError::MalformedSan(_))
        ));

        params.custom_extensions = vec![san(tlv(0x30, &tlv(0x87, &[10, 0, 0])))];
        assert!(matches!(
            parse_csr(&csr_with(&params, &key)),
            Err(CsrError::MalformedSan(_))
        ));

        params.custom_extensions = vec![san(tlv(0x30, &tlv(0x82, "bü.test".as_bytes())))];
        assert!(matches!(
            parse_csr(&csr_with(&params, &key)),
            Err(CsrError::MalformedSan(_))
        ));

        let mut trailing = tlv(0x30, &tlv(0x82, b"a.test"));
        trailing.push(0);
        params.custom_extensions = vec![san(trailing)];
        assert!(matches!(
            parse_csr(&csr_with(&params, &key)),
            Err(CsrError::MalformedSan(_))
        ));

        // A second SAN extension next to the one rcgen writes.
        let mut params = CertificateParams::new(names(&["a.test"])).unwrap();
        params
            .custom_extensions
            .push(san(tlv(0x30, &tlv(0x82, b"b.test"))));
        assert!(matches!(
            parse_csr(&csr_with(&params, &key)),
            Err(CsrError::MalformedSan(_))
        ));

        let mut params = CertificateParams::new(names(&["a.test"])).unwrap();
        params
            .subject_alt_names
            .push(SanType::Rfc822Name("someone@a.test".try_into().unwrap()));
        assert!(matches!(
            parse_csr(&csr_with(&params, &key)),
            Err(CsrError::UnsupportedSanType(_))
        ));
    }

    fn spki(alg_id: &[u8], key: &[u8]) -> Vec<u8> {
        let mut bits = vec![0];
        bits.extend_from_slice(key);
        tlv(0x30, &[tlv(0x30, alg_id), tlv(0x03, &bits)].concat())
    }

    #[test]
    fn refuses_small_and_unsupported_keys() {
        let rsa_alg = [
            tlv(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]),
            vec![0x05, 0x00],
        ]
        .concat();
        let rsa_key = |modulus_bytes: usize| {
            let mut n = vec![0u8];
            n.extend(std::iter::repeat_n(0xc3, modulus_bytes));
            tlv(0x30, &[tlv(0x02, &n), tlv(0x02, &[1, 0, 1])].concat())
        };
        assert_eq!(
            spki_to_jwk(&spki(&rsa_alg, &rsa_key(128))),
            Err(CsrError::KeyTooSmall { bits: 1024 })
        );
        assert_eq!(
            spki_to_jwk(&spki(&rsa_alg, &rsa_key(255))),
            Err(CsrError::KeyTooSmall { bits: 2040 })
        );
        assert!(spki_to_jwk(&spki(&rsa_alg, &rsa_key(256))).is_ok());
        assert!(matches!(
            spki_to_jwk(&spki(&rsa_alg, &rsa_key(1025))),
            Err(CsrError::UnsupportedKey(_))
        ));

        let ec_oid = tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
        let point = |len: usize| [vec![4u8], vec![7u8; 2 * len]].concat();
        // P-521 (1.3.132.0.35) and secp256k1 (1.3.132.0.10) are not accepted.
        for curve in [[0x2b, 0x81, 0x04, 0x00, 0x23], [0x2b, 0x81, 0x04, 0x00, 0x0a]] {
            let alg = [ec_oid.clone(), tlv(0x06, &curve)].concat();
            assert!(matches!(
                spki_to_jwk(&spki(&alg, &point(66))),
                Err(CsrError::UnsupportedKey(_))
            ));
        }
        let p256 = [
            ec_oid.clone(),
            tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
        ]
        .concat();
        let real = SigningKey::generate(Algorithm::Es256).unwrap().jwk().to_value();
        let coord = |k: &str| crate::protocol::b64::decode(real[k].as_str().unwrap()).unwrap();
        let on_curve = [vec![4u8], coord("x"), coord("y")].concat();
        assert!(spki_to_jwk(&spki(&p256, &on_curve)).is_ok());
        assert!(matches!(spki_to_jwk(&spki(&p256, &point(32))), Err(CsrError::MalformedKey(_))));
        assert!(matches!(
            spki_to_jwk(&spki(&p256, &point(48))),
            Err(CsrError::MalformedKey(_))
        ));
        let compressed = [vec![2u8], vec![7u8; 32]].concat();
        assert!(matches!(
            spki_to_jwk(&spki(&p256, &compressed)),
            Err(CsrError::MalformedKey(_))
        ));
        assert!(matches!(
            spki_to_jwk(&spki(&ec_oid, &point(32))),
            Err(CsrError::MalformedKey(_))
        ));

        // Ed448 (1.3.101.113).
        let ed448 = tlv(0x06, &[0x2b, 0x65, 0x71]);
        assert!(matches!(
            spki_to_jwk(&spki(&ed448, &[1; 57])),
            Err(CsrError::UnsupportedKey(_))
        ));
        let ed25519 = tlv(0x06, &[0x2b, 0x65, 0x70]);
        assert!(spki_to_jwk(&spki(&ed25519, &[1; 32])).is_ok());
        assert!(matches!(
            spki_to_jwk(&spki(&ed25519, &[1; 31])),
            Err(CsrError::MalformedKey(_))
        ));
        let mut trailing = spki(&ed25519, &[1; 32]);
        trailing.push(0);
        assert_eq!(spki_to_jwk(&trailing), Err(CsrError::TrailingData(1)));
    }

    fn parse_cert(der: &[u8]) -> X509Certificate<'_> {
        let (rest, cert) = X509Certificate::from_der(der).unwrap();
        assert!(rest.is_empty());
        cert
    }

    fn window() -> (OffsetDateTime, OffsetDateTime) {
        let nb = OffsetDateTime::now_utc() - Duration::minutes(5);
        (nb, nb + Duration::days(90))
    }

    #[test]
    fn issues_leaf_that_chains_to_every_root() {
        let ca = CertificateAuthority::new(1).unwrap();
        assert_eq!(ca.chain_count(), 2);
        for (key, alg) in keys() {
            let parsed = parse_csr(&csr(&key, &["ignored.test"])).unwrap();
            let names = IssuanceNames {
                dns: names(&["a.example.com", "b.example.com"]),
                ips: vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()],
            };
            let (nb, na) = window();
            let issued = ca.issue(&parsed, &names, (nb, na), true).unwrap();
            assert_eq!(issued.public_key, parsed.public_key);
            assert_eq!(issued.not_before, nb.replace_nanosecond(0).unwrap());
            assert_eq!(issued.not_after, na.replace_nanosecond(0).unwrap());

            let leaf = parse_cert(&issued.der);
            assert_eq!(leaf.public_key().raw, parsed.spki_der.as_slice(), "{alg:?}");
            assert_eq!(
                leaf.validity().not_before.timestamp(),
                issued.not_before.unix_timestamp()
            );
            assert_eq!(
                leaf.validity().not_after.timestamp(),
                issued.not_after.unix_timestamp()
            );
            assert_eq!(leaf.raw_serial().len(), 16);
            let hex: String = leaf.raw_serial().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, issued.serial_hex);
            let cn: Vec<_> = leaf
                .subject()
                .iter_common_name()
                .map(|c| c.as_str().unwrap())
                .collect();
            assert_eq!(cn, ["a.example.com"]);

            let san = leaf.subject_alternative_name().unwrap().unwrap().value;
            let mut dns = Vec::new();
            let mut ips = Vec::new();
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(s) => dns.push((*s).to_owned()),
                    GeneralName::IPAddress(b) => ips.push(b.to_vec()),
                    other => panic!("unexpected SAN {other}"),
                }
            }
            assert_eq!(dns, names.dns);
            assert_eq!(
                ips,
                vec![
                    vec![192, 0, 2, 7],
                    "2001:db8::7"
                        .parse::<std::net::Ipv6Addr>()
                        .unwrap()
                        .octets()
                        .to_vec()
                ]
            );

            assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);
            assert!(leaf.extended_key_usage().unwrap().unwrap().value.server_auth);
            let ku = leaf.key_usage().unwrap().unwrap().value;
            assert!(ku.digital_signature() && !ku.key_cert_sign());

            for chain in 0..ca.chain_count() {
                let inter = parse_cert(ca.intermediate_der(chain).unwrap());
                let root = parse_cert(ca.root_der(chain).unwrap());
                leaf.verify_signature(Some(inter.public_key())).unwrap();
                inter.verify_signature(Some(root.public_key())).unwrap();
                root.verify_signature(None).unwrap();
                assert_eq!(leaf.issuer(), inter.subject());
                assert_eq!(inter.issuer(), root.subject());
                assert!(inter.basic_constraints().unwrap().unwrap().value.ca);
                let aki = leaf.iter_extensions().find_map(|e| match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.clone(),
                    _ => None,
                });
                let ski = inter.iter_extensions().find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(k) => Some(k.clone()),
                    _ => None,
                });
                assert_eq!(aki.unwrap().0, ski.unwrap().0);
            }
        }
    }

    #[test]
    fn hierarchies_share_the_intermediate_but_not_the_root() {
        let ca = CertificateAuthority::new(2).unwrap();
        assert_eq!(ca.chain_count(), 3);
        let i0 = parse_cert(ca.intermediate_der(0).unwrap());
        let roots: Vec<_> = (0..3).map(|i| parse_cert(ca.root_der(i).unwrap())).collect();
        let cn = |c: &X509Certificate<'_>| {
            c.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(cn(&roots[0]), "acmespec mock root A");
        assert_eq!(cn(&roots[1]), "acmespec mock root B");
        assert_eq!(cn(&roots[2]), "acmespec mock root C");
        assert_eq!(cn(&i0), "acmespec mock intermediate A");
        for i in 1..3 {
            let inter = parse_cert(ca.intermediate_der(i).unwrap());
            assert_eq!(inter.subject(), i0.subject());
            assert_eq!(inter.public_key().raw, i0.public_key().raw);
            assert_ne!(inter.raw_serial(), i0.raw_serial());
            assert_ne!(roots[i].public_key().raw, roots[0].public_key().raw);
            assert!(inter.verify_signature(Some(roots[0].public_key())).is_err());
        }
        assert!(ca.root_der(3).is_none() && ca.intermediate_pem(3).is_none() && ca.root_pem(3).is_none());
        assert!(matches!(
            CertificateAuthority::new(26),
            Err(CaError::TooManyChains(26))
        ));
        assert!(CertificateAuthority::new(0).unwrap().chain_count() == 1);
    }

    #[test]
    fn chain_pem_is_leaf_then_intermediate_and_nothing_else() {
        let ca = CertificateAuthority::new(1).unwrap();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let parsed = parse_csr(&csr(&key, &["a.test"])).unwrap();
        let (nb, na) = window();
        let issued = ca
            .issue(
                &parsed,
                &IssuanceNames {
                    dns: names(&["a.test"]),
                    ips: vec![],
                },
                (nb, na),
                true,
            )
            .unwrap();
        for chain in 0..2 {
            let text = ca.chain_pem(&issued, chain).unwrap();
            let certs: Vec<_> = CertificateDer::pem_slice_iter(text.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(certs.len(), 2);
            assert_eq!(certs[0].as_ref(), issued.der.as_slice());
            assert_eq!(certs[1].as_ref(), ca.intermediate_der(chain).unwrap());
            assert_eq!(text, pem(&issued.der) + &ca.intermediate_pem(chain).unwrap());
            // RFC 7468 strict: only BEGIN/END lines and full 64-column base64 lines.
            let mut in_block = false;
            let mut last_len = 64;
            assert!(text.ends_with("-----END CERTIFICATE-----\n"));
            for line in text.lines() {
                match line {
                    "-----BEGIN CERTIFICATE-----" => {
                        assert!(!in_block);
                        in_block = true;
                        last_len = 64;
                    }
                    "-----END CERTIFICATE-----" => {
                        assert!(in_block);
                        in_block = false;
                    }
                    body => {
                        assert!(in_block, "text outside a PEM block: {body:?}");
                        assert_eq!(last_len, 64, "short line before the last one");
                        assert!(!body.is_empty() && body.len() <= 64);
                        assert!(
                            body.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                        );
                        last_len = body.len();
                    }
                }
            }
            assert!(!in_block);
        }
        assert_eq!(ca.chain_pem(&issued, 2), None);
        let root = ca.root_pem(1).unwrap();
        assert_eq!(CertificateDer::pem_slice_iter(root.as_bytes()).count(), 1);
    }

    #[test]
    fn issue_refuses_bad_requests() {
        let ca = CertificateAuthority::new(0).unwrap();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let parsed = parse_csr(&csr(&key, &["a.test"])).unwrap();
        let (nb, na) = window();
        let one = IssuanceNames {
            dns: names(&["a.test"]),
            ips: vec![],
        };
        assert_eq!(
            ca.issue(&parsed, &IssuanceNames::default(), (nb, na), true),
            Err(CaError::NoNames)
        );
        assert_eq!(ca.issue(&parsed, &one, (na, nb), true), Err(CaError::InvalidValidity));
        assert_eq!(ca.issue(&parsed, &one, (nb, nb), true), Err(CaError::InvalidValidity));
        let bad_name = IssuanceNames {
            dns: names(&["bü.test"]),
            ips: vec![],
        };
        assert!(matches!(
            ca.issue(&parsed, &bad_name, (nb, na), true),
            Err(CaError::InvalidName(_))
        ));
        let mut bad_key = parsed.clone();
        bad_key.spki_der = vec![0x30, 0x00];
        assert!(matches!(ca.issue(&bad_key, &one, (nb, na), true), Err(CaError::Key(_))));

        // IP-only: the CN is the address; a name over 64 characters gets no CN.
        let ip_only = IssuanceNames {
            dns: vec![],
            ips: vec!["192.0.2.9".parse().unwrap()],
        };
        let issued = ca.issue(&parsed, &ip_only, (nb, na), true).unwrap();
        let cert = parse_cert(&issued.der);
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "192.0.2.9"
        );
        let long = format!("{}.test", "a".repeat(60));
        let issued = ca
            .issue(
                &parsed,
                &IssuanceNames {
                    dns: vec![long],
                    ips: vec![],
                },
                (nb, na),
                true,
            )
            .unwrap();
        assert_eq!(parse_cert(&issued.der).subject().iter_common_name().count(), 0);
    }

    #[test]
    fn ca_is_shareable_across_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CertificateAuthority>();
    }
}
