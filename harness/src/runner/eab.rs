//! External account binding (RFC 8555 §7.3.4) as the runner sends it.
//!
//! A CA that requires a binding refuses every account without one, so with credentials
//! the runner binds every new account by default: a vendor whose CA requires EAB can
//! run the whole catalogue, and the EAB cases break one part of the binding at a time.

use crate::protocol::b64;
use crate::protocol::jwk::Jwk;
use crate::protocol::jws::Algorithm;
use crate::protocol::keys::SigningKey;
use crate::scenario::EabSpec;
use serde_json::{Map, Value, json};

/// The key identifier and MAC key a CA hands out for binding (outside ACME).
#[derive(Clone, PartialEq, Eq)]
pub struct EabCredentials {
    /// The key identifier (an ASCII string, §7.3.4).
    pub kid: String,
    /// The MAC key.
    pub mac_key: Vec<u8>,
}

impl std::fmt::Debug for EabCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EabCredentials({}, {} key bytes)",
            self.kid,
            self.mac_key.len()
        )
    }
}

impl std::str::FromStr for EabCredentials {
    type Err = String;
    /// `KID:BASE64URL_MAC_KEY`, as `--eab` takes it.
    fn from_str(s: &str) -> Result<Self, String> {
        let (kid, key) = s
            .split_once(':')
            .ok_or_else(|| "EAB credentials must be KID:BASE64URL_MAC_KEY".to_owned())?;
        if kid.is_empty() || !kid.is_ascii() {
            return Err(format!(
                "EAB key identifier {kid:?} must be a non-empty ASCII string"
            ));
        }
        let mac_key = b64::decode(key).map_err(|e| format!("EAB MAC key of {kid}: {e}"))?;
        if mac_key.is_empty() {
            return Err(format!("EAB MAC key of {kid} is empty"));
        }
        Ok(EabCredentials {
            kid: kid.to_owned(),
            mac_key,
        })
    }
}

/// Where the binding goes and what it binds.
pub(crate) struct BindingContext<'a> {
    /// The newAccount URL (the outer JWS `url`).
    pub(crate) url: &'a str,
    /// The directory URL, for `url = "other"`.
    pub(crate) directory_url: &'a str,
    /// The account key being registered.
    pub(crate) account_key: &'a Jwk,
    /// A nonce for `nonce = true`.
    pub(crate) nonce: Option<String>,
}

/// The `externalAccountBinding` value for a newAccount payload, or `None` when the step
/// sends none. The error says why a binding cannot be built (no credentials).
pub(crate) fn binding(
    credentials: Option<&EabCredentials>,
    spec: Option<&EabSpec>,
    cx: &BindingContext<'_>,
) -> Result<Option<Value>, String> {
    let default = EabSpec::default();
    let spec = spec.unwrap_or(&default);
    if spec.omit {
        return Ok(None);
    }
    // A binding under an invented key identifier and MAC key needs no credentials.
    let invented = spec.kid.is_some() && spec.wrong_mac_key;
    let credentials = match credentials {
        Some(c) => Some(c),
        None if invented => None,
        // Without credentials and without a binding spec the step simply does not bind.
        None if spec == &default => return Ok(None),
        None => {
            return Err(
                "this step needs EAB credentials (acmespec run --eab KID:BASE64URL_KEY)".into(),
            );
        }
    };
    let kid = spec
        .kid
        .clone()
        .or_else(|| credentials.map(|c| c.kid.clone()))
        .unwrap_or_default();
    let mac_key = match (spec.wrong_mac_key, credentials) {
        (false, Some(c)) => c.mac_key.clone(),
        _ => crate::protocol::random::bytes(32),
    };
    let url = match spec.url.as_deref() {
        None => cx.url.to_owned(),
        Some("other") => cx.directory_url.to_owned(),
        Some(u) => u.to_owned(),
    };
    let mut header = Map::new();
    header.insert(
        "alg".into(),
        spec.alg.clone().unwrap_or_else(|| "HS256".into()).into(),
    );
    header.insert("kid".into(), kid.into());
    header.insert("url".into(), url.into());
    if spec.nonce {
        header.insert(
            "nonce".into(),
            cx.nonce
                .clone()
                .unwrap_or_else(|| b64::encode(crate::protocol::random::bytes(16)))
                .into(),
        );
    }
    let bound = if spec.other_key {
        SigningKey::generate(Algorithm::Es256)
            .map_err(|e| e.to_string())?
            .jwk()
            .to_value()
    } else {
        cx.account_key.to_value()
    };
    let protected =
        b64::encode(serde_json::to_vec(&Value::Object(header)).expect("JSON serializes"));
    let payload = b64::encode(serde_json::to_vec(&bound).expect("JSON serializes"));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &mac_key);
    let mac = ring::hmac::sign(&key, format!("{protected}.{payload}").as_bytes());
    let mut jws = json!({ "protected": protected, "payload": payload, "signature": b64::encode(mac.as_ref()) });
    if spec.no_signature
        && let Some(o) = jws.as_object_mut()
    {
        o.remove("signature");
    }
    Ok(Some(jws))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> EabCredentials {
        "kid-1:c2VjcmV0LW1hYy1rZXk".parse().unwrap()
    }

    fn decode(part: &Value) -> Value {
        serde_json::from_slice(&b64::decode(part.as_str().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn credentials_parse_and_refuse_bad_input() {
        let c = creds();
        assert_eq!(c.kid, "kid-1");
        assert_eq!(c.mac_key, b"secret-mac-key");
        assert!("no-colon".parse::<EabCredentials>().is_err());
        assert!(":a2V5".parse::<EabCredentials>().is_err());
        assert!("kid:not base64!".parse::<EabCredentials>().is_err());
        assert!(
            !format!("{c:?}").contains("secret"),
            "the MAC key stays out of debug output"
        );
    }

    #[test]
    fn default_binding_is_a_valid_hs256_mac_over_the_account_key() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let cx = BindingContext {
            url: "https://ca/new-acct",
            directory_url: "https://ca/dir",
            account_key: key.jwk(),
            nonce: None,
        };
        let b = binding(Some(&creds()), None, &cx).unwrap().unwrap();
        let header = decode(&b["protected"]);
        assert_eq!(
            header,
            json!({"alg": "HS256", "kid": "kid-1", "url": "https://ca/new-acct"})
        );
        assert_eq!(decode(&b["payload"]), key.jwk().to_value());
        let mac = b64::decode(b["signature"].as_str().unwrap()).unwrap();
        let input = format!(
            "{}.{}",
            b["protected"].as_str().unwrap(),
            b["payload"].as_str().unwrap()
        );
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret-mac-key");
        ring::hmac::verify(&k, input.as_bytes(), &mac).unwrap();
    }

    #[test]
    fn mutations_and_missing_credentials() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let cx = BindingContext {
            url: "https://ca/new-acct",
            directory_url: "https://ca/dir",
            account_key: key.jwk(),
            nonce: Some("n0nce".into()),
        };
        assert_eq!(
            binding(None, None, &cx).unwrap(),
            None,
            "no credentials, no spec: no binding"
        );
        let omit = EabSpec {
            omit: true,
            ..EabSpec::default()
        };
        assert_eq!(binding(Some(&creds()), Some(&omit), &cx).unwrap(), None);
        let nonce = EabSpec {
            nonce: true,
            url: Some("other".into()),
            ..EabSpec::default()
        };
        assert!(
            binding(None, Some(&nonce), &cx).is_err(),
            "a real binding needs credentials"
        );
        let b = binding(Some(&creds()), Some(&nonce), &cx).unwrap().unwrap();
        let header = decode(&b["protected"]);
        assert_eq!(header["nonce"], "n0nce");
        assert_eq!(header["url"], "https://ca/dir");
        let invented = EabSpec {
            kid: Some("unknown".into()),
            wrong_mac_key: true,
            no_signature: true,
            ..EabSpec::default()
        };
        let b = binding(None, Some(&invented), &cx).unwrap().unwrap();
        assert_eq!(decode(&b["protected"])["kid"], "unknown");
        assert!(b.get("signature").is_none());
        let other = EabSpec {
            other_key: true,
            ..EabSpec::default()
        };
        let b = binding(Some(&creds()), Some(&other), &cx).unwrap().unwrap();
        assert_ne!(decode(&b["payload"]), key.jwk().to_value());
    }
}
