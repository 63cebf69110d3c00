//! JWS in the flattened JSON serialization (RFC 7515 §7.2.2), the only form RFC 8555
//! §6.2 allows, built and checked by one implementation for every engine.
//!
//! Parsing is deliberately narrower than RFC 7515: no unprotected header, no general
//! serialization, no `crit`/`b64` extensions, no MAC or `none` algorithms, no duplicate
//! members. Each refusal is its own error variant so that the mock CA can report the
//! exact rule a client broke, and the fuzzers can tell rejections apart.

use crate::protocol::b64::{self, B64Error};
use crate::protocol::jwk::{Jwk, JwkError, VerifyError};
use crate::protocol::keys::SigningKey;
use crate::protocol::strict_json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JWS algorithm the harness can sign and verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// ECDSA P-384 with SHA-384.
    #[serde(rename = "ES384")]
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PSS with SHA-256.
    #[serde(rename = "PS256")]
    Ps256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 5] =
        [Algorithm::Es256, Algorithm::Es384, Algorithm::Rs256, Algorithm::Ps256, Algorithm::EdDsa];

    /// The registered `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// Looks up a registered `alg` name (case-sensitive, as RFC 7515 §4.1.1 says).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A flattened JSON JWS: the three base64url members exactly as they travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlattenedJws {
    /// base64url of the protected header JSON.
    pub protected: String,
    /// base64url of the payload (empty for POST-as-GET).
    pub payload: String,
    /// base64url of the signature.
    pub signature: String,
}

impl FlattenedJws {
    /// Signs `payload` under `protected` with `key`.
    pub fn sign(key: &SigningKey, protected: &Map<String, Value>, payload: &[u8]) -> Self {
        let protected = b64::encode(serde_json::to_vec(protected).expect("a JSON map always serializes"));
        let payload = b64::encode(payload);
        let signature = b64::encode(key.sign(format!("{protected}.{payload}").as_bytes()));
        FlattenedJws { protected, payload, signature }
    }

    /// The JSON body of a request carrying this JWS.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("strings always serialize")
    }
}

/// How the signer is identified in the protected header (RFC 8555 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyId {
    /// The public key itself, for newAccount and revocation by certificate key.
    Jwk(Jwk),
    /// The account URL, for every other request.
    Kid(String),
}

/// Builds the protected header RFC 8555 §6.2 asks for: alg, nonce, url and jwk or kid.
pub fn acme_protected_header(alg: Algorithm, key_id: &KeyId, nonce: Option<&str>, url: &str) -> Map<String, Value> {
    let mut h = Map::new();
    h.insert("alg".into(), alg.name().into());
    match key_id {
        KeyId::Jwk(jwk) => h.insert("jwk".into(), jwk.to_value()),
        KeyId::Kid(kid) => h.insert("kid".into(), kid.clone().into()),
    };
    if let Some(nonce) = nonce {
        h.insert("nonce".into(), nonce.into());
    }
    h.insert("url".into(), url.into());
    h
}

/// Why a JWS was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// The body was not one well-formed JSON object without duplicate members.
    #[error("JWS body is not valid JSON: {0}")]
    Json(String),
    /// The body used the general serialization (`signatures`), which RFC 8555 §6.2 forbids.
    #[error("JWS uses the general serialization; ACME requires the flattened form")]
    NotFlattened,
    /// The body carried an unprotected `header`, which RFC 8555 §6.2 forbids.
    #[error("JWS carries an unprotected header")]
    UnprotectedHeader,
    /// The body had a member other than protected, payload and signature.
    #[error("unexpected JWS member {0:?}")]
    UnexpectedMember(String),
    /// One of protected, payload or signature was missing or not a string.
    #[error("JWS member {0:?} is missing or not a string")]
    MissingMember(&'static str),
    /// A member was not valid unpadded base64url.
    #[error("JWS member {member:?}: {error}")]
    BadEncoding {
        /// Which member.
        member: &'static str,
        /// What was wrong with it.
        error: B64Error,
    },
    /// The protected header was not a JSON object, or had duplicate members.
    #[error("protected header is not a JSON object: {0}")]
    BadHeader(String),
    /// The protected header had no `alg` string.
    #[error("protected header has no alg")]
    MissingAlg,
    /// `alg` is `none`, a MAC, or otherwise not supported (RFC 8555 §6.2).
    #[error("unsupported alg {0:?}")]
    UnsupportedAlgorithm(String),
    /// Both `jwk` and `kid` were present (RFC 8555 §6.2: mutually exclusive).
    #[error("protected header has both jwk and kid")]
    JwkAndKid,
    /// A header member had the wrong JSON type (e.g. numeric nonce).
    #[error("protected header member {0:?} has the wrong type")]
    BadHeaderMember(&'static str),
    /// The header used `crit` or `b64`, extensions ACME does not define.
    #[error("protected header uses unsupported extension {0:?}")]
    UnsupportedExtension(&'static str),
    /// The embedded `jwk` was unusable.
    #[error("embedded jwk: {0}")]
    Jwk(#[from] JwkError),
    /// The signature did not verify.
    #[error("signature: {0}")]
    Verify(#[from] VerifyError),
    /// The signature member decoded to zero bytes.
    #[error("empty signature")]
    EmptySignature,
}

/// Which rule a [`JwsError`] broke. The mock CA's journal keeps it beside the message, so
/// that the client checks judge a request by what was wrong with it, not by wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum JwsFault {
    /// Not a flattened JWS as RFC 8555 §6.2 wants it: the serialization, a member, an
    /// encoding, or an extension.
    Shape,
    /// A protected header member missing or mistyped, or `jwk` together with `kid`.
    Header,
    /// An algorithm the parser does not accept, by name.
    Algorithm(String),
    /// Anything else: an unusable embedded key, a signature that does not verify.
    Other,
}

impl JwsError {
    /// The rule this error breaks.
    pub fn fault(&self) -> JwsFault {
        match self {
            JwsError::Json(_)
            | JwsError::NotFlattened
            | JwsError::UnprotectedHeader
            | JwsError::UnexpectedMember(_)
            | JwsError::MissingMember(_)
            | JwsError::BadEncoding { .. }
            | JwsError::BadHeader(_)
            | JwsError::UnsupportedExtension(_)
            | JwsError::EmptySignature => JwsFault::Shape,
            JwsError::MissingAlg | JwsError::JwkAndKid | JwsError::BadHeaderMember(_) => JwsFault::Header,
            JwsError::UnsupportedAlgorithm(name) => JwsFault::Algorithm(name.clone()),
            JwsError::Jwk(_) | JwsError::Verify(_) => JwsFault::Other,
        }
    }
}

/// The protected header of a parsed JWS, typed where ACME gives the members meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectedHeader {
    /// The `alg` member.
    pub alg: Algorithm,
    /// The `nonce` member, if any.
    pub nonce: Option<String>,
    /// The `url` member, if any.
    pub url: Option<String>,
    /// The `kid` member, if any.
    pub kid: Option<String>,
    /// The `jwk` member, if any.
    pub jwk: Option<Jwk>,
    /// The whole header as it was received.
    pub raw: Map<String, Value>,
}

/// A JWS that parsed under the ACME rules (its signature not yet checked).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedJws {
    /// The three members as received.
    pub encoded: FlattenedJws,
    /// The decoded protected header.
    pub header: ProtectedHeader,
    /// The decoded payload; empty for POST-as-GET.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

fn optional_string(h: &Map<String, Value>, name: &'static str) -> Result<Option<String>, JwsError> {
    match h.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwsError::BadHeaderMember(name)),
    }
}

fn decode_member(name: &'static str, text: &str) -> Result<Vec<u8>, JwsError> {
    b64::decode(text).map_err(|error| JwsError::BadEncoding { member: name, error })
}

impl ParsedJws {
    /// Parses a request body under RFC 8555 §6.2.
    pub fn parse(body: &[u8]) -> Result<Self, JwsError> {
        let value = strict_json::parse(body).map_err(|e| JwsError::Json(e.to_string()))?;
        let obj = value.as_object().ok_or_else(|| JwsError::Json("not an object".into()))?;
        if obj.contains_key("signatures") {
            return Err(JwsError::NotFlattened);
        }
        if obj.contains_key("header") {
            return Err(JwsError::UnprotectedHeader);
        }
        if let Some(other) = obj.keys().find(|k| !["protected", "payload", "signature"].contains(&k.as_str())) {
            return Err(JwsError::UnexpectedMember(other.clone()));
        }
        let text = |name: &'static str| obj.get(name).and_then(Value::as_str).ok_or(JwsError::MissingMember(name));
        let encoded = FlattenedJws {
            protected: text("protected")?.to_owned(),
            payload: text("payload")?.to_owned(),
            signature: text("signature")?.to_owned(),
        };
        let header_bytes = decode_member("protected", &encoded.protected)?;
        let payload = decode_member("payload", &encoded.payload)?;
        let signature = decode_member("signature", &encoded.signature)?;
        let header_value = strict_json::parse(&header_bytes).map_err(|e| JwsError::BadHeader(e.to_string()))?;
        let Value::Object(raw) = header_value else {
            return Err(JwsError::BadHeader("not an object".into()));
        };
        let alg_name = raw.get("alg").ok_or(JwsError::MissingAlg)?;
        let alg_name = alg_name.as_str().ok_or(JwsError::BadHeaderMember("alg"))?;
        let alg = Algorithm::from_name(alg_name).ok_or_else(|| JwsError::UnsupportedAlgorithm(alg_name.to_owned()))?;
        // After `alg`: `none` comes with an empty signature and must be reported as
        // the unsupported algorithm it is (RFC 8555 §6.2), not as a missing signature.
        if signature.is_empty() {
            return Err(JwsError::EmptySignature);
        }
        for ext in ["crit", "b64"] {
            if raw.contains_key(ext) {
                return Err(JwsError::UnsupportedExtension(ext));
            }
        }
        if raw.contains_key("jwk") && raw.contains_key("kid") {
            return Err(JwsError::JwkAndKid);
        }
        let jwk = raw.get("jwk").map(Jwk::from_value).transpose()?;
        if let Some(value) = raw.get("jwk") {
            crate::protocol::jwk::check_intended_use(value, alg_name)?;
        }
        let header = ProtectedHeader {
            alg,
            nonce: optional_string(&raw, "nonce")?,
            url: optional_string(&raw, "url")?,
            kid: optional_string(&raw, "kid")?,
            jwk,
            raw,
        };
        Ok(ParsedJws { encoded, header, payload, signature })
    }

    /// Checks the signature with `key` under the header's `alg`.
    pub fn verify(&self, key: &Jwk) -> Result<(), JwsError> {
        let input = format!("{}.{}", self.encoded.protected, self.encoded.payload);
        key.verify(self.header.alg, input.as_bytes(), &self.signature)?;
        Ok(())
    }

    /// Checks the signature with the embedded `jwk` (newAccount, keyChange inner JWS,
    /// revocation by certificate key).
    pub fn verify_embedded(&self) -> Result<&Jwk, JwsError> {
        let jwk = self.header.jwk.as_ref().ok_or(JwsError::BadHeaderMember("jwk"))?;
        self.verify(jwk)?;
        Ok(jwk)
    }

    /// The payload as JSON, `None` when it is empty (POST-as-GET).
    pub fn payload_json(&self) -> Option<Result<Value, serde_json::Error>> {
        (!self.payload.is_empty()).then(|| strict_json::parse(&self.payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signed(key: &SigningKey, header: Map<String, Value>, payload: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&FlattenedJws::sign(key, &header, payload)).unwrap()
    }

    #[test]
    fn round_trip_every_algorithm() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let header = acme_protected_header(alg, &KeyId::Jwk(key.jwk().clone()), Some("n0nce"), "https://ca/x");
            let body = signed(&key, header, br#"{"a":1}"#);
            let parsed = ParsedJws::parse(&body).unwrap();
            assert_eq!(parsed.header.alg, alg);
            assert_eq!(parsed.header.nonce.as_deref(), Some("n0nce"));
            assert_eq!(parsed.verify_embedded().unwrap(), key.jwk());
            assert_eq!(parsed.payload_json().unwrap().unwrap(), json!({"a":1}));
        }
    }

    #[test]
    fn envelope_rules() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let header = acme_protected_header(Algorithm::Es256, &KeyId::Kid("k".into()), Some("n"), "u");
        let good: Value = serde_json::from_slice(&signed(&key, header.clone(), b"")).unwrap();
        let with = |k: &str, v: Value| {
            let mut b = good.clone();
            b[k] = v;
            serde_json::to_vec(&b).unwrap()
        };
        assert_eq!(ParsedJws::parse(&with("header", json!({"nonce":"x"}))), Err(JwsError::UnprotectedHeader));
        assert_eq!(ParsedJws::parse(&with("signatures", json!([]))), Err(JwsError::NotFlattened));
        assert_eq!(ParsedJws::parse(&with("extra", json!(1))), Err(JwsError::UnexpectedMember("extra".into())));
        assert!(matches!(ParsedJws::parse(&with("signature", json!("AA=="))), Err(JwsError::BadEncoding { .. })));
        let mut none = header.clone();
        none.insert("alg".into(), "none".into());
        assert_eq!(ParsedJws::parse(&signed(&key, none, b"")), Err(JwsError::UnsupportedAlgorithm("none".into())));
        let mut hs = header.clone();
        hs.insert("alg".into(), "HS256".into());
        assert!(matches!(ParsedJws::parse(&signed(&key, hs, b"")), Err(JwsError::UnsupportedAlgorithm(_))));
        let mut both = header.clone();
        both.insert("jwk".into(), key.jwk().to_value());
        assert_eq!(ParsedJws::parse(&signed(&key, both, b"")), Err(JwsError::JwkAndKid));
        let mut b64false = header.clone();
        b64false.insert("b64".into(), false.into());
        assert_eq!(ParsedJws::parse(&signed(&key, b64false, b"")), Err(JwsError::UnsupportedExtension("b64")));
        let dup = format!(r#"{{"protected":"{}","payload":"","signature":"AA","payload":""}}"#, b64::encode("{}"));
        assert!(matches!(ParsedJws::parse(dup.as_bytes()), Err(JwsError::Json(_))));
    }

    #[test]
    fn verification_binds_key_alg_and_content() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let other = SigningKey::generate(Algorithm::Es256).unwrap();
        let rsa = SigningKey::generate(Algorithm::Rs256).unwrap();
        let header = acme_protected_header(Algorithm::Es256, &KeyId::Kid("k".into()), Some("n"), "u");
        let parsed = ParsedJws::parse(&signed(&key, header, b"{}")).unwrap();
        parsed.verify(key.jwk()).unwrap();
        assert_eq!(parsed.verify(other.jwk()), Err(JwsError::Verify(VerifyError::BadSignature)));
        assert!(matches!(parsed.verify(rsa.jwk()), Err(JwsError::Verify(VerifyError::AlgorithmKeyMismatch { .. }))));
        let mut tampered = parsed.clone();
        tampered.encoded.payload = b64::encode("{ }");
        assert!(tampered.verify(key.jwk()).is_err());
    }

    /// RFC 7517 §4.2–4.4: an embedded key that says it is for encryption, for other
    /// operations or for another algorithm is refused; one that says it is for this
    /// use is fine.
    #[test]
    fn a_key_restricted_to_other_uses_is_refused() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let with = |extra: Value| {
            let mut jwk = key.jwk().to_value();
            jwk.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let mut header = acme_protected_header(Algorithm::Es256, &KeyId::Kid("k".into()), Some("n"), "u");
            header.remove("kid");
            header.insert("jwk".into(), jwk);
            ParsedJws::parse(&signed(&key, header, b"{}"))
        };
        for refused in [json!({"use": "enc"}), json!({"key_ops": ["sign"]}), json!({"key_ops": "verify"}), json!({"alg": "ES384"})] {
            assert!(matches!(with(refused.clone()), Err(JwsError::Jwk(JwkError::NotForThisUse(_)))), "{refused}");
        }
        for fine in [json!({"use": "sig"}), json!({"key_ops": ["verify", "sign"]}), json!({"alg": "ES256"})] {
            with(fine.clone()).unwrap_or_else(|e| panic!("{fine}: {e}"));
        }
    }
}
