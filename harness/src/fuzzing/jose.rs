//! JOSE targets: JWS parsing, JWS verification under mutation, JWK thumbprints.
//!
//! The oracles are the properties an attacker would break: a parser that accepts
//! what it cannot reproduce, a verifier that lets a header or payload change under a
//! valid signature (prior-art §C: header smuggling, key confusion), a thumbprint that
//! depends on how the client happened to serialize its key.

use super::Target;
use crate::protocol::b64;
use crate::protocol::jwk::Jwk;
use crate::protocol::jws::{Algorithm, FlattenedJws, KeyId, ParsedJws, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::strict_json;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

pub(super) fn jws_parse(data: &[u8]) {
    let Ok(parsed) = ParsedJws::parse(data) else { return };
    let again = serde_json::to_vec(&parsed.encoded.to_value()).expect("strings serialize");
    match ParsedJws::parse(&again) {
        Ok(reparsed) => assert_eq!(reparsed, parsed, "a parsed JWS re-serialized to a different value"),
        Err(e) => panic!("a parsed JWS no longer parses after re-serialization: {e}"),
    }
}

/// The fixed keys the verification target signs with: one per key family.
fn fixture_keys() -> &'static [SigningKey; 3] {
    static KEYS: OnceLock<[SigningKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let load = |alg, pem| SigningKey::from_pkcs8_pem(alg, pem).expect("fixture key loads");
        [
            load(Algorithm::Es256, include_str!("../../../fixtures/keys/ec-p256.pk8.pem")),
            load(Algorithm::Rs256, include_str!("../../../fixtures/keys/rsa2048.pk8.pem")),
            load(Algorithm::EdDsa, include_str!("../../../fixtures/keys/ed25519.pk8.pem")),
        ]
    })
}

/// One validly signed request per key, both with `jwk` and with `kid`, signed once per
/// process so that every mutation starts from the same bytes.
fn originals() -> &'static [(usize, Vec<u8>)] {
    static ORIGINALS: OnceLock<Vec<(usize, Vec<u8>)>> = OnceLock::new();
    ORIGINALS.get_or_init(|| {
        let mut out = Vec::new();
        for (i, key) in fixture_keys().iter().enumerate() {
            for key_id in [KeyId::Jwk(key.jwk().clone()), KeyId::Kid("https://ca.test/acct/1".into())] {
                let header =
                    acme_protected_header(key.alg(), &key_id, Some("bm9uY2Utbm9uY2Utbm9uY2U"), "https://ca.test/new-order");
                let payload = json!({"identifiers": [{"type": "dns", "value": "a.test"}]}).to_string();
                let jws = FlattenedJws::sign(key, &header, payload.as_bytes());
                out.push((i, serde_json::to_vec(&jws.to_value()).expect("strings serialize")));
            }
        }
        out
    })
}

/// Applies the fuzzer's edit script to a signed body. The first byte picks the
/// original; then each 4-byte group is one edit: overwrite, insert or delete a byte
/// of the body, or rewrite a decoded protected-header member and re-encode it
/// (which keeps the old signature, the case a smuggling bug would accept).
fn mutate(data: &[u8]) -> Option<(usize, Vec<u8>, Vec<u8>)> {
    let (&pick, script) = data.split_first()?;
    let (key, original) = &originals()[usize::from(pick) % originals().len()];
    let mut body = original.clone();
    for op in script.chunks_exact(4).take(64) {
        let pos = usize::from(u16::from_le_bytes([op[1], op[2]]));
        match op[0] % 5 {
            0 if !body.is_empty() => {
                let i = pos % body.len();
                body[i] = op[3];
            }
            1 => body.insert(pos % (body.len() + 1), op[3]),
            2 if !body.is_empty() => {
                body.remove(pos % body.len());
            }
            3 => body = rewrite_header(&body, op[1], op[3])?,
            _ => body = duplicate_member(&body, op[1])?,
        }
    }
    Some((*key, original.clone(), body))
}

/// Re-encodes the protected header with one member changed; the signature is kept.
fn rewrite_header(body: &[u8], which: u8, value: u8) -> Option<Vec<u8>> {
    let mut outer: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let protected = outer.get("protected")?.as_str()?;
    let mut header: Map<String, Value> = serde_json::from_slice(&b64::decode(protected).ok()?).ok()?;
    let names = ["alg", "nonce", "url", "kid", "jwk", "b64", "crit", "typ"];
    let name = names[usize::from(which) % names.len()];
    let replacement = match value % 6 {
        0 => Value::Null,
        1 => "none".into(),
        2 => "HS256".into(),
        3 => json!(false),
        4 => json!([name]),
        _ => json!({"kty": "oct", "k": "AAAA"}),
    };
    if value & 0x80 == 0 {
        header.insert(name.to_owned(), replacement);
    } else {
        header.remove(name);
    }
    let encoded = b64::encode(serde_json::to_vec(&header).ok()?);
    outer.insert("protected".into(), encoded.into());
    serde_json::to_vec(&outer).ok()
}

/// Appends a second copy of one member to the JSON text (duplicate-member smuggling).
fn duplicate_member(body: &[u8], which: u8) -> Option<Vec<u8>> {
    let outer: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let names = ["protected", "payload", "signature", "header", "signatures"];
    let name = names[usize::from(which) % names.len()];
    let value = outer.get(name).cloned().unwrap_or_else(|| json!({"alg": "none"}));
    let mut text = body.to_vec();
    let end = text.iter().rposition(|b| *b == b'}')?;
    let extra = format!(",{}:{}", Value::from(name), value);
    text.splice(end..end, extra.into_bytes());
    Some(text)
}

pub(super) fn jws_verify(data: &[u8]) {
    let Some((key, original, mutated)) = mutate(data) else { return };
    let Ok(parsed) = ParsedJws::parse(&mutated) else { return };
    let key = &fixture_keys()[key];
    let verified = match &parsed.header.jwk {
        Some(jwk) => parsed.verify_embedded().is_ok_and(|_| jwk == key.jwk()),
        None => parsed.verify(key.jwk()).is_ok(),
    };
    if !verified {
        return;
    }
    let original = ParsedJws::parse(&original).expect("the original parses");
    assert_eq!(parsed.header.raw, original.header.raw, "a mutated JWS verified with a different protected header");
    assert_eq!(parsed.payload, original.payload, "a mutated JWS verified with a different payload");
}

/// RFC 7638 §3 computed independently: the required members, lexicographic order,
/// no whitespace; with RFC 7518 §6.3.1 / RFC 8555 §8.1's leading-zero stripping of
/// RSA integers, so a key written with padding zeros still names the same account.
fn reference_thumbprint(obj: &Map<String, Value>) -> Option<String> {
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    let canonical = match text("kty")? {
        "EC" => format!(r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#, quoted(text("crv")?), quoted(text("x")?), quoted(text("y")?)),
        "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, quoted(&stripped(text("e")?)?), quoted(&stripped(text("n")?)?)),
        "OKP" => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, quoted(text("crv")?), quoted(text("x")?)),
        _ => return None,
    };
    Some(b64::encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes())))
}

fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

fn stripped(b64_int: &str) -> Option<String> {
    let bytes = b64::decode(b64_int).ok()?;
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    Some(b64::encode(&bytes[start..]))
}

pub(super) fn jwk_thumbprint(data: &[u8]) {
    let Ok(Value::Object(obj)) = strict_json::parse(data) else { return };
    let Ok(jwk) = Jwk::from_value(&Value::Object(obj.clone())) else { return };
    let thumbprint = jwk.thumbprint();
    assert_eq!(Some(&thumbprint), reference_thumbprint(&obj).as_ref(), "thumbprint differs from RFC 7638 computed independently");
    let mut reordered: Map<String, Value> = obj.iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
    reordered.insert("use".into(), "sig".into());
    reordered.insert("kid".into(), "fuzz".into());
    match Jwk::from_value(&Value::Object(reordered)) {
        Ok(other) => assert_eq!(other.thumbprint(), thumbprint, "thumbprint depends on member order or optional members"),
        Err(e) => panic!("adding optional members or reordering made the JWK unusable: {e}"),
    }
}

pub(super) fn seeds(target: Target) -> Vec<(String, Vec<u8>)> {
    match target {
        Target::JwsParse => originals().iter().enumerate().map(|(i, (_, b))| (format!("signed-{i}.json"), b.clone())).collect(),
        Target::JwsVerify => (0..originals().len()).map(|i| (format!("original-{i}"), vec![i as u8])).collect(),
        _ => fixture_keys()
            .iter()
            .map(|k| (format!("{}.json", k.alg().name()), k.jwk().to_value().to_string().into_bytes()))
            .collect(),
    }
}
