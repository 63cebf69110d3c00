//! JOSE targets: JWS parsing, JWS verification under mutation, JWK thumbprints.
//!
//! The oracles are the properties an attacker would break: a parser that accepts
//! what it cannot reproduce, a verifier that lets a header or payload change under a
//! valid signature (prior-art §C: header smuggling, key confusion), a thumbprint that
//! depends on how the client happened to serialize its key.

use super::Target;
use crate::protocol::b64;
use crate::protocol::jwk::Jwk;
use crate::protocol::jws::{Algorithm, FlattenedJws, JwsError, KeyId, ParsedJws, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::strict_json;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

pub(super) fn jws_parse(data: &[u8]) {
    if let Err(broken) = check_parse(data, ParsedJws::parse) {
        panic!("{broken}");
    }
}

/// The parse oracle: a parser must keep the three members exactly as they were sent (a
/// parser that normalises them checks a signature over something else than what was
/// received), decode them to what it reports, and read its own re-serialization back
/// to the same value.
fn check_parse(data: &[u8], parse: impl Fn(&[u8]) -> Result<ParsedJws, JwsError>) -> Result<(), String> {
    let Ok(parsed) = parse(data) else { return Ok(()) };
    let sent: Map<String, Value> = serde_json::from_slice(data).map_err(|e| format!("the parser accepted a body that is not JSON: {e}"))?;
    let encoded = &parsed.encoded;
    for (name, kept) in [("protected", &encoded.protected), ("payload", &encoded.payload), ("signature", &encoded.signature)] {
        if sent.get(name).and_then(Value::as_str) != Some(kept.as_str()) {
            return Err(format!("the parser kept {name} as {kept:?}, not as it was sent"));
        }
    }
    if b64::decode(&encoded.payload).ok().as_ref() != Some(&parsed.payload) || b64::decode(&encoded.signature).ok().as_ref() != Some(&parsed.signature) {
        return Err("the decoded payload or signature differs from the members sent".into());
    }
    let again = serde_json::to_vec(&encoded.to_value()).expect("strings serialize");
    match parse(&again) {
        Ok(reparsed) if reparsed == parsed => Ok(()),
        Ok(_) => Err("a parsed JWS re-serialized to a different value".into()),
        Err(e) => Err(format!("a parsed JWS no longer parses after re-serialization: {e}")),
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
    if let Err(broken) = check_verify(data, |parsed, key| parsed.verify(key).is_ok()) {
        panic!("{broken}");
    }
}

/// The verification oracle: a mutant that `verify` accepts (with the fixture key, or
/// with its embedded `jwk` when that is the fixture key) must carry the original's
/// protected header and payload.
fn check_verify(data: &[u8], verify: impl Fn(&ParsedJws, &Jwk) -> bool) -> Result<(), String> {
    let Some((key, original, mutated)) = mutate(data) else { return Ok(()) };
    let Ok(parsed) = ParsedJws::parse(&mutated) else { return Ok(()) };
    let key = fixture_keys()[key].jwk();
    let verified = match &parsed.header.jwk {
        Some(jwk) => jwk == key && verify(&parsed, jwk),
        None => verify(&parsed, key),
    };
    if !verified {
        return Ok(());
    }
    let original = ParsedJws::parse(&original).expect("the original parses");
    if parsed.header.raw != original.header.raw {
        return Err("a mutated JWS verified with a different protected header".into());
    }
    if parsed.payload != original.payload {
        return Err("a mutated JWS verified with a different payload".into());
    }
    Ok(())
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
    if let Err(broken) = check_thumbprint(data, |obj| Jwk::from_value(&Value::Object(obj.clone())).map(|jwk| jwk.thumbprint()).map_err(|e| e.to_string())) {
        panic!("{broken}");
    }
}

/// The thumbprint oracle: for every key `thumbprint` accepts, the value agrees with
/// RFC 7638 computed independently, and stays the same when the members are reordered
/// and optional ones added.
fn check_thumbprint(data: &[u8], thumbprint: impl Fn(&Map<String, Value>) -> Result<String, String>) -> Result<(), String> {
    let Ok(Value::Object(obj)) = strict_json::parse(data) else { return Ok(()) };
    let Ok(value) = thumbprint(&obj) else { return Ok(()) };
    if Some(&value) != reference_thumbprint(&obj).as_ref() {
        return Err("thumbprint differs from RFC 7638 computed independently".into());
    }
    let mut reordered: Map<String, Value> = obj.iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
    reordered.insert("use".into(), "sig".into());
    reordered.insert("kid".into(), "fuzz".into());
    match thumbprint(&reordered) {
        Ok(other) if other == value => Ok(()),
        Ok(_) => Err("thumbprint depends on member order or optional members".into()),
        Err(e) => Err(format!("adding optional members or reordering made the JWK unusable: {e}")),
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

/// Each oracle catches the bug it guards against, planted in a copy of the code it checks.
#[cfg(test)]
mod planted {
    use super::*;
    use crate::seeded::SplitMix64;

    /// Random edit scripts until the oracle breaks; `None` when none of `budget` did.
    fn search(budget: usize, check: impl Fn(&[u8]) -> Result<(), String>) -> Option<String> {
        let mut rng = SplitMix64::new(1);
        (0..budget).find_map(|_| {
            let len = 1 + 4 * rng.below(3);
            let input: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            check(&input).err()
        })
    }

    #[test]
    fn the_clean_verifier_survives_the_search() {
        assert_eq!(search(3000, |d| check_verify(d, |parsed, key| parsed.verify(key).is_ok())), None);
    }

    #[test]
    fn a_verifier_that_signs_over_the_acme_members_only_is_caught() {
        // The bug: the signing input is rebuilt from the header members ACME defines, so
        // any other member rides along unsigned (header smuggling).
        let rebuilt = |parsed: &ParsedJws, key: &Jwk| {
            let h = &parsed.header;
            let key_id = match (&h.jwk, &h.kid) {
                (Some(jwk), _) => KeyId::Jwk(jwk.clone()),
                (None, Some(kid)) => KeyId::Kid(kid.clone()),
                (None, None) => return false,
            };
            let header = acme_protected_header(h.alg, &key_id, h.nonce.as_deref(), h.url.as_deref().unwrap_or_default());
            let input = format!("{}.{}", b64::encode(serde_json::to_vec(&header).unwrap_or_default()), parsed.encoded.payload);
            key.verify(h.alg, input.as_bytes(), &parsed.signature).is_ok()
        };
        let broken = search(3000, |d| check_verify(d, rebuilt));
        assert_eq!(broken.as_deref(), Some("a mutated JWS verified with a different protected header"));
    }

    /// Every seed with one byte inserted at every position.
    fn insertions(byte: u8) -> impl Iterator<Item = Vec<u8>> {
        seeds(Target::JwsParse).into_iter().flat_map(move |(_, seed)| {
            (0..=seed.len()).map(move |i| {
                let mut input = seed.clone();
                input.insert(i, byte);
                input
            })
        })
    }

    #[test]
    fn a_parser_that_strips_base64_padding_is_caught() {
        let strip = |body: &[u8]| ParsedJws::parse(&body.iter().copied().filter(|b| *b != b'=').collect::<Vec<_>>());
        assert!(insertions(b'=').all(|input| check_parse(&input, ParsedJws::parse).is_ok()));
        assert!(insertions(b'=').filter_map(|input| check_parse(&input, strip).err()).any(|e| e.contains("not as it was sent")));
    }

    #[test]
    fn a_thumbprint_over_the_key_as_sent_is_caught() {
        let as_sent = |obj: &Map<String, Value>| Ok(b64::encode(ring::digest::digest(&ring::digest::SHA256, Value::Object(obj.clone()).to_string().as_bytes())));
        let real = |obj: &Map<String, Value>| Jwk::from_value(&Value::Object(obj.clone())).map(|j| j.thumbprint()).map_err(|e| e.to_string());
        for (_, seed) in seeds(Target::JwkThumbprint) {
            assert_eq!(check_thumbprint(&seed, real), Ok(()));
            assert!(check_thumbprint(&seed, as_sent).is_err());
        }
    }
}
