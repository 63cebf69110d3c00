//! JSON Web Keys (RFC 7517) for the algorithms ACME servers meet in practice, and the
//! RFC 7638 thumbprint that key authorizations are built on.
//!
//! A JWK is kept together with the exact member strings it arrived with, because the
//! thumbprint is defined over those strings; re-encoding decoded bytes would hide a
//! non-canonical key from the harness.

use crate::protocol::b64;
use crate::protocol::jws::Algorithm;
use ring::signature::{self, UnparsedPublicKey};
use serde_json::{Map, Value};

/// Why a JWK was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// The JWK was not a JSON object.
    #[error("JWK is not a JSON object")]
    NotAnObject,
    /// A member the key type requires is absent or not a string.
    #[error("JWK member {0:?} is missing or not a string")]
    MissingMember(&'static str),
    /// The `kty` (or `crv`) names a key type this harness does not support.
    #[error("unsupported key type {0:?}")]
    UnsupportedKeyType(String),
    /// The JWK carries private key members such as `d`; a public key was expected.
    #[error("JWK carries private key member {0:?}")]
    PrivateKeyMaterial(String),
    /// A member was not valid unpadded base64url.
    #[error("JWK member {member:?}: {error}")]
    BadEncoding {
        /// The member that failed to decode.
        member: &'static str,
        /// What was wrong with it.
        error: b64::B64Error,
    },
    /// A coordinate or key had the wrong length for its curve or type.
    #[error("JWK member {0:?} has the wrong length")]
    BadLength(&'static str),
    /// The EC coordinates are not a point on the named curve.
    #[error("the EC point is not on the curve")]
    NotOnCurve,
    /// The RSA public exponent is not an odd number of at least 3.
    #[error("the RSA exponent must be odd and at least 3")]
    BadExponent,
    /// The key says it is not for verifying signatures of this algorithm: a `use` other
    /// than `sig`, `key_ops` without `verify`, or an `alg` other than the header's
    /// (RFC 7517 §4.2–4.4).
    #[error("the key is not for this use: {0}")]
    NotForThisUse(String),
}

/// Refuses a key whose own members restrict it to other uses than verifying `alg`
/// signatures (RFC 7517 §4.2 `use`, §4.3 `key_ops`, §4.4 `alg`): a key published for
/// encryption, or for another algorithm, is not an account key.
pub fn check_intended_use(jwk: &Value, alg: &str) -> Result<(), JwkError> {
    let refuse = |why: String| Err(JwkError::NotForThisUse(why));
    if let Some(u) = jwk.get("use")
        && u.as_str() != Some("sig")
    {
        return refuse(format!("use is {u}, not \"sig\""));
    }
    if let Some(ops) = jwk.get("key_ops")
        && !ops.as_array().is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("verify")))
    {
        return refuse(format!("key_ops {ops} lacks \"verify\""));
    }
    if let Some(key_alg) = jwk.get("alg")
        && key_alg.as_str() != Some(alg)
    {
        return refuse(format!("the key's alg is {key_alg}, the header's {alg:?}"));
    }
    Ok(())
}

/// Checks y² = x³ − 3x + b (mod p) with x, y < p: ring only says "does not verify"
/// for a bad point, and a server must tell a broken key (badPublicKey) from a bad
/// signature.
fn on_curve(x: &[u8], y: &[u8], p_hex: &str, b_hex: &str) -> bool {
    use num_bigint::BigUint;
    let p = BigUint::parse_bytes(p_hex.as_bytes(), 16).expect("curve constant");
    let b = BigUint::parse_bytes(b_hex.as_bytes(), 16).expect("curve constant");
    let (x, y) = (BigUint::from_bytes_be(x), BigUint::from_bytes_be(y));
    if x >= p || y >= p {
        return false;
    }
    let lhs = (&y * &y) % &p;
    let x3 = (&x * &x % &p) * &x % &p;
    let three_x = (BigUint::from(3u8) * &x) % &p;
    let rhs = ((x3 + &p - three_x) + b) % &p;
    lhs == rhs
}

const P256_P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const P256_B: &str = "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b";
const P384_P: &str = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
const P384_B: &str = "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef";

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The algorithm cannot be used with this type or size of key (e.g. ES256 with an RSA key).
    #[error("algorithm {alg} does not match the {key} key")]
    AlgorithmKeyMismatch {
        /// The JWS algorithm.
        alg: &'static str,
        /// The key's type.
        key: &'static str,
    },
    /// The signature is not valid for this key and message.
    #[error("signature does not verify")]
    BadSignature,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyMaterial {
    P256 { point: Vec<u8> },
    P384 { point: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// A public JWK of type EC (P-256, P-384), RSA or OKP (Ed25519).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    material: KeyMaterial,
    /// The RFC 7638 required members, in lexicographic order, as received.
    required: Vec<(&'static str, String)>,
}

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JwkError> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or(JwkError::MissingMember(name))
}

fn decoded(obj: &Map<String, Value>, name: &'static str) -> Result<(String, Vec<u8>), JwkError> {
    let text = member(obj, name)?;
    let bytes = b64::decode(text).map_err(|error| JwkError::BadEncoding { member: name, error })?;
    Ok((text.to_owned(), bytes))
}

/// An unsigned big-endian integer without its prepended zero octets; all-zero input
/// becomes empty (no valid RSA modulus or exponent), which the length checks refuse.
fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

impl Jwk {
    /// Reads a public JWK from JSON, refusing private members and unknown key types.
    pub fn from_value(value: &Value) -> Result<Self, JwkError> {
        let obj = value.as_object().ok_or(JwkError::NotAnObject)?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(JwkError::PrivateKeyMaterial((*private).to_owned()));
        }
        let kty = member(obj, "kty")?;
        match kty {
            "EC" => {
                let crv = member(obj, "crv")?;
                let (x_text, x) = decoded(obj, "x")?;
                let (y_text, y) = decoded(obj, "y")?;
                let len = match crv {
                    "P-256" => 32,
                    "P-384" => 48,
                    other => return Err(JwkError::UnsupportedKeyType(format!("EC {other}"))),
                };
                if x.len() != len {
                    return Err(JwkError::BadLength("x"));
                }
                if y.len() != len {
                    return Err(JwkError::BadLength("y"));
                }
                let (p, b) = if len == 32 { (P256_P, P256_B) } else { (P384_P, P384_B) };
                if !on_curve(&x, &y, p, b) {
                    return Err(JwkError::NotOnCurve);
                }
                let point = [&[4u8][..], &x, &y].concat();
                let material = if len == 32 {
                    KeyMaterial::P256 { point }
                } else {
                    KeyMaterial::P384 { point }
                };
                Ok(Jwk {
                    material,
                    required: vec![
                        ("crv", crv.to_owned()),
                        ("kty", "EC".to_owned()),
                        ("x", x_text),
                        ("y", y_text),
                    ],
                })
            }
            "RSA" => {
                // RFC 8555 §8.1 (after RFC 7518 §6.3.1): prepended zero octets are
                // stripped before the thumbprint, so a key written with padding zeros
                // names the same account and key authorization as its minimal form.
                let (_, n) = decoded(obj, "n")?;
                let (_, e) = decoded(obj, "e")?;
                let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
                let (n_text, e_text) = (b64::encode(&n), b64::encode(&e));
                if n.is_empty() {
                    return Err(JwkError::BadLength("n"));
                }
                if e.is_empty() {
                    return Err(JwkError::BadLength("e"));
                }
                let odd = e.last().is_some_and(|b| b & 1 == 1);
                let at_least_three = e.iter().rev().skip(1).any(|b| *b != 0) || e.last().is_some_and(|b| *b >= 3);
                if !(odd && at_least_three) {
                    return Err(JwkError::BadExponent);
                }
                Ok(Jwk {
                    material: KeyMaterial::Rsa { n, e },
                    required: vec![("e", e_text), ("kty", "RSA".to_owned()), ("n", n_text)],
                })
            }
            "OKP" => {
                let crv = member(obj, "crv")?;
                if crv != "Ed25519" {
                    return Err(JwkError::UnsupportedKeyType(format!("OKP {crv}")));
                }
                let (x_text, x) = decoded(obj, "x")?;
                if x.len() != 32 {
                    return Err(JwkError::BadLength("x"));
                }
                Ok(Jwk {
                    material: KeyMaterial::Ed25519 { x },
                    required: vec![
                        ("crv", "Ed25519".to_owned()),
                        ("kty", "OKP".to_owned()),
                        ("x", x_text),
                    ],
                })
            }
            other => Err(JwkError::UnsupportedKeyType(other.to_owned())),
        }
    }

    pub(crate) fn from_ec_point(point: &[u8]) -> Jwk {
        let half = (point.len() - 1) / 2;
        let crv = if half == 32 { "P-256" } else { "P-384" };
        let mut obj = Map::new();
        obj.insert("crv".into(), crv.into());
        obj.insert("kty".into(), "EC".into());
        obj.insert("x".into(), b64::encode(&point[1..=half]).into());
        obj.insert("y".into(), b64::encode(&point[half + 1..]).into());
        Jwk::from_value(&Value::Object(obj)).expect("ring produced an invalid EC point")
    }

    pub(crate) fn from_rsa_components(n: &[u8], e: &[u8]) -> Jwk {
        let mut obj = Map::new();
        obj.insert("e".into(), b64::encode(strip_leading_zeros(e)).into());
        obj.insert("kty".into(), "RSA".into());
        obj.insert("n".into(), b64::encode(strip_leading_zeros(n)).into());
        Jwk::from_value(&Value::Object(obj)).expect("ring produced an invalid RSA key")
    }

    pub(crate) fn from_ed25519(x: &[u8]) -> Jwk {
        let mut obj = Map::new();
        obj.insert("crv".into(), "Ed25519".into());
        obj.insert("kty".into(), "OKP".into());
        obj.insert("x".into(), b64::encode(x).into());
        Jwk::from_value(&Value::Object(obj)).expect("ring produced an invalid Ed25519 key")
    }

    /// The key type and curve, for messages: `EC P-256`, `RSA`, `OKP Ed25519`.
    pub fn describe(&self) -> &'static str {
        match self.material {
            KeyMaterial::P256 { .. } => "EC P-256",
            KeyMaterial::P384 { .. } => "EC P-384",
            KeyMaterial::Rsa { .. } => "RSA",
            KeyMaterial::Ed25519 { .. } => "OKP Ed25519",
        }
    }

    /// The JWK as JSON with only its required members, in lexicographic order.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.required
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
                .collect(),
        )
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members, base64url.
    pub fn thumbprint(&self) -> String {
        let json = serde_json::to_string(&self.to_value()).expect("strings always serialize");
        b64::encode(ring::digest::digest(&ring::digest::SHA256, json.as_bytes()))
    }

    /// Checks `signature` over `message` with this key under `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        use Algorithm::*;
        let result = match (&self.material, alg) {
            (KeyMaterial::P256 { point }, Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, sig)
            }
            (KeyMaterial::P384 { point }, Es384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point).verify(message, sig)
            }
            (KeyMaterial::Rsa { n, e }, Rs256) => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig),
            (KeyMaterial::Rsa { n, e }, Ps256) => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PSS_2048_8192_SHA256, message, sig),
            (KeyMaterial::Ed25519 { x }, EdDsa) => {
                UnparsedPublicKey::new(&signature::ED25519, x).verify(message, sig)
            }
            _ => {
                return Err(VerifyError::AlgorithmKeyMismatch {
                    alg: alg.name(),
                    key: self.describe(),
                });
            }
        };
        result.map_err(|_| VerifyError::BadSignature)
    }
}

/// The key authorization of RFC 8555 §8.1: `token || '.' || thumbprint(accountKey)`.
pub fn key_authorization(token: &str, account_key: &Jwk) -> String {
    format!("{token}.{}", account_key.thumbprint())
}

/// The dns-01 TXT record value of RFC 8555 §8.4: base64url(SHA-256(key authorization)).
pub fn dns01_txt_value(key_authorization: &str) -> String {
    b64::encode(ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7638 §3.1 example key and thumbprint.
    #[test]
    fn rfc7638_example_thumbprint() {
        let jwk = Jwk::from_value(&json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    /// RFC 8555 §8.1: prepended zero octets do not change the thumbprint (found by the
    /// jwk_thumbprint fuzz target: fixtures/regressions/jwk_thumbprint/).
    #[test]
    fn leading_zero_octets_do_not_change_the_thumbprint() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let padded_n = b64::encode([&[0u8, 0][..], &b64::decode(n).unwrap()].concat());
        let jwk = Jwk::from_value(&json!({"kty": "RSA", "n": padded_n, "e": "AAEAAQ"})).unwrap();
        assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(jwk.to_value()["n"], json!(n));
    }

    #[test]
    fn refuses_private_and_malformed_keys() {
        let base = crate::protocol::keys::SigningKey::generate(crate::protocol::jws::Algorithm::Es256).unwrap().jwk().to_value();
        assert!(Jwk::from_value(&base).is_ok());
        let mut off_curve = base.clone();
        off_curve["x"] = json!(b64::encode([1u8; 32]));
        assert_eq!(Jwk::from_value(&off_curve), Err(JwkError::NotOnCurve));
        let rsa = |e: &[u8]| json!({"kty":"RSA","n":b64::encode([0xc5u8; 256]),"e":b64::encode(e)});
        assert!(Jwk::from_value(&rsa(&[1, 0, 1])).is_ok());
        assert_eq!(Jwk::from_value(&rsa(&[1])), Err(JwkError::BadExponent));
        assert_eq!(Jwk::from_value(&rsa(&[0, 1])), Err(JwkError::BadExponent));
        assert_eq!(Jwk::from_value(&rsa(&[1, 0])), Err(JwkError::BadExponent));
        let mut private = base.clone();
        private["d"] = json!("AA");
        assert_eq!(Jwk::from_value(&private), Err(JwkError::PrivateKeyMaterial("d".into())));
        let mut short = base.clone();
        short["x"] = json!(b64::encode([1u8; 31]));
        assert_eq!(Jwk::from_value(&short), Err(JwkError::BadLength("x")));
        let mut padded = base.clone();
        padded["y"] = json!("AQ==");
        assert!(matches!(Jwk::from_value(&padded), Err(JwkError::BadEncoding { member: "y", .. })));
        assert!(matches!(Jwk::from_value(&json!({"kty":"oct","k":"AA"})), Err(JwkError::PrivateKeyMaterial(_))));
        assert!(matches!(Jwk::from_value(&json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"})), Err(JwkError::UnsupportedKeyType(_))));
        assert_eq!(Jwk::from_value(&json!([])), Err(JwkError::NotAnObject));
    }

    #[test]
    fn thumbprint_ignores_member_order_and_extras() {
        let a = Jwk::from_value(&json!({"kty":"OKP","crv":"Ed25519","x":b64::encode([9u8;32])})).unwrap();
        let b = Jwk::from_value(&json!({"x":b64::encode([9u8;32]),"use":"sig","crv":"Ed25519","kty":"OKP"})).unwrap();
        assert_eq!(a.thumbprint(), b.thumbprint());
    }
}
