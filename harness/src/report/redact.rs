//! Hiding credentials before a transcript leaves the machine.
//!
//! Markdown and HTML reports are made to be pasted into pull requests and published as
//! CI artifacts, and their transcripts hold whatever crossed the wire: a fuzzed request
//! may carry a private JWK, a broken server may echo a private key or set a session
//! cookie. Everything a rendered report shows passes through a [`Redactor`] first; the
//! JSON report, the machine's own record, is left whole.

use crate::protocol::b64;
use crate::protocol::http::{Exchange, RecordedRequest, RecordedResponse};
use serde_json::Value;

/// What replaces a hidden value.
pub const REDACTED: &str = "[redacted]";

/// JSON members that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1) or
/// a MAC key as CAs hand out external account binding keys.
const SECRET_MEMBERS: &[&str] = &[
    "d",
    "p",
    "q",
    "dp",
    "dq",
    "qi",
    "oth",
    "k",
    "hmacKey",
    "hmac_key",
    "eab_hmac_key",
    "macKey",
    "mac_key",
];

/// Header names whose values are credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Parts of header names that mark a credential (`x-api-key`, `x-auth-token`).
const SECRET_HEADER_PARTS: &[&str] = &["token", "secret", "password", "api-key", "apikey"];

/// Removes private key material and credentials from what a report shows: JWK private
/// members anywhere in JSON, PEM private key blocks in any text, credential headers, and
/// the secrets the run was given (such as the EAB MAC key) wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that also hides each of `secrets` (empty ones are ignored).
    pub fn with_secrets(secrets: impl IntoIterator<Item = String>) -> Self {
        Redactor {
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }

    /// A redactor that also hides an EAB MAC key, in the encodings it may be echoed in.
    pub fn with_mac_key(mac_key: &[u8]) -> Self {
        use base64::Engine;
        Self::with_secrets([
            b64::encode(mac_key),
            base64::engine::general_purpose::STANDARD.encode(mac_key),
        ])
    }

    /// `text` with PEM private key blocks and known secrets replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = redact_pem_private_keys(text);
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), REDACTED);
        }
        out
    }

    /// `value` with private members replaced at any depth and every string redacted.
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(name, v)| {
                        let shown = if SECRET_MEMBERS.contains(&name.as_str()) {
                            Value::String(REDACTED.into())
                        } else {
                            self.json(v)
                        };
                        (name.clone(), shown)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::String(s) => Value::String(self.text(s)),
            other => other.clone(),
        }
    }

    /// The value to show for header `name`.
    pub fn header(&self, name: &str, value: &str) -> String {
        let name = name.to_ascii_lowercase();
        if SECRET_HEADERS.contains(&name.as_str())
            || SECRET_HEADER_PARTS.iter().any(|p| name.contains(p))
        {
            REDACTED.to_owned()
        } else {
            self.text(value)
        }
    }

    /// `exchange` with its headers, bodies, URLs and error redacted.
    pub fn exchange(&self, exchange: &Exchange) -> Exchange {
        let headers = |hs: &[(String, String)]| -> Vec<(String, String)> {
            hs.iter()
                .map(|(n, v)| (n.clone(), self.header(n, v)))
                .collect()
        };
        let request = &exchange.request;
        Exchange {
            request: RecordedRequest {
                method: request.method.clone(),
                url: self.text(&request.url),
                headers: headers(&request.headers),
                body: request.body.as_ref().map(|b| self.json(b)),
            },
            response: exchange.response.as_ref().map(|r| RecordedResponse {
                status: r.status,
                headers: headers(&r.headers),
                body: r.body.as_ref().map(|b| self.json(b)),
            }),
            error: exchange.error.as_deref().map(|e| self.text(e)),
            elapsed_ms: exchange.elapsed_ms,
        }
    }
}

/// Replaces the base64 of every `-----BEGIN … PRIVATE KEY-----` block, keeping its
/// armour lines so the report still says a private key was there. A block cut off
/// before its END line (a shortened body) is hidden to the end of the text.
fn redact_pem_private_keys(text: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after_begin = &rest[start + BEGIN.len()..];
        let Some(label_len) = after_begin.find(DASHES) else {
            break;
        };
        let label = &after_begin[..label_len];
        let body_start = start + BEGIN.len() + label_len + DASHES.len();
        out.push_str(&rest[..body_start]);
        rest = &rest[body_start..];
        if !label.ends_with("PRIVATE KEY") {
            continue;
        }
        out.push('\n');
        out.push_str(REDACTED);
        out.push('\n');
        let end = format!("-----END {label}-----");
        match rest.find(&end) {
            Some(i) => rest = &rest[i..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PEM_KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBsecretsecretsecret\n-----END EC PRIVATE KEY-----";

    #[test]
    fn private_jwk_members_are_hidden_at_any_depth_and_public_ones_kept() {
        let body = json!({
            "protected": {"alg": "RS256", "jwk": {"kty": "RSA", "n": "modulus", "e": "AQAB",
                "d": "dd", "p": "pp", "q": "qq", "dp": "x", "dq": "y", "qi": "z", "oth": [{"r": "1"}]}},
            "payload": {"keys": [{"kty": "oct", "k": "symmetric"}], "eab": {"hmacKey": "mac"}}
        });
        let shown = Redactor::default().json(&body);
        let jwk = &shown["protected"]["jwk"];
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            assert_eq!(jwk[member], REDACTED, "{member}");
        }
        assert_eq!(jwk["n"], "modulus");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(shown["payload"]["keys"][0]["k"], REDACTED);
        assert_eq!(shown["payload"]["keys"][0]["kty"], "oct");
        assert_eq!(shown["payload"]["eab"]["hmacKey"], REDACTED);
        assert!(!shown.to_string().contains("symmetric"));
    }

    #[test]
    fn pem_private_key_blocks_are_hidden_and_certificates_kept() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----";
        let text = format!("chain:\n{cert}\nkey:\n{PEM_KEY}\ntrailer");
        let shown = Redactor::default().text(&text);
        assert!(!shown.contains("secretsecret"), "{shown}");
        assert!(shown.contains("MIIBcert"), "{shown}");
        assert!(
            shown.contains(
                "-----BEGIN EC PRIVATE KEY-----\n[redacted]\n-----END EC PRIVATE KEY-----\ntrailer"
            ),
            "{shown}"
        );
    }

    #[test]
    fn a_pem_private_key_cut_off_before_its_end_is_hidden_to_the_end() {
        let shown = Redactor::default().text("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN");
        assert_eq!(shown, "x -----BEGIN PRIVATE KEY-----\n[redacted]\n");
    }

    #[test]
    fn pem_keys_inside_json_strings_are_hidden() {
        let shown = Redactor::default().json(&json!({"detail": format!("bad key {PEM_KEY}")}));
        assert!(!shown.to_string().contains("secretsecret"), "{shown}");
    }

    #[test]
    fn credential_headers_are_hidden_whatever_their_case() {
        let r = Redactor::default();
        for name in [
            "Authorization",
            "cookie",
            "Set-Cookie",
            "Proxy-Authorization",
            "X-Api-Key",
            "x-auth-token",
        ] {
            assert_eq!(r.header(name, "s3cr3t"), REDACTED, "{name}");
        }
        assert_eq!(r.header("Replay-Nonce", "abc"), "abc");
        assert_eq!(
            r.header("content-type", "application/jose+json"),
            "application/jose+json"
        );
    }

    #[test]
    fn the_eab_mac_key_is_hidden_in_either_base64_alphabet() {
        let key = [0xfb_u8, 0xff, 0xfe, 0x01, 0x02, 0x03];
        use base64::Engine;
        let r = Redactor::with_mac_key(&key);
        let (url_safe, standard) = (
            b64::encode(key),
            base64::engine::general_purpose::STANDARD.encode(key),
        );
        assert_ne!(
            url_safe,
            standard.trim_end_matches('='),
            "the key must differ between the alphabets"
        );
        let text = format!("url-safe {url_safe} standard {standard}");
        assert_eq!(r.text(&text), "url-safe [redacted] standard [redacted]");
    }

    #[test]
    fn an_exchange_is_redacted_throughout() {
        let exchange: Exchange = serde_json::from_value(json!({
            "request": {"method": "POST", "url": "https://ca.test/acct",
                "headers": [["authorization", "Bearer t"], ["content-type", "application/jose+json"]],
                "body": {"decoded_protected": {"jwk": {"kty": "EC", "x": "X", "d": "D"}}}},
            "response": {"status": 500, "headers": [["set-cookie", "sid=1"]], "body": PEM_KEY},
            "error": null,
            "elapsed_ms": 3
        }))
        .expect("exchange");
        let shown = serde_json::to_string(&Redactor::default().exchange(&exchange)).expect("json");
        for secret in ["Bearer t", "\"D\"", "sid=1", "secretsecret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("application/jose+json") && shown.contains("\"X\""),
            "{shown}"
        );
    }
}
