//! Applying mutations to a request: the protected header and the body a mutation
//! rewrites, and the odd values and random names it puts in.

use super::*;

/// Values a payload member is replaced with: type confusion, boundaries, odd text.
pub(super) fn odd_value(rng: &mut SplitMix64) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1.5e308),
        4 => json!(""),
        5 => json!("x".repeat(rng.below(64 * 1024))),
        6 => json!(["\u{0}", "\u{202e}é", "*.", "xn--"]),
        7 => json!({"type": "dns", "value": "a..b"}),
        8 => json!(true),
        _ => (0..rng.below(200)).fold(json!(1), |v, _| json!([v])),
    }
}

pub(super) fn mutate_header(m: Mutation, h: &mut Map<String, Value>, url: &str, r: &Resources, rng: &mut SplitMix64, spent_nonce: Option<&str>) {
    match m {
        Mutation::AlgNone => {
            h.insert("alg".into(), "none".into());
        }
        Mutation::AlgHs256 => {
            h.insert("alg".into(), "HS256".into());
        }
        Mutation::AlgMismatch => {
            h.insert("alg".into(), "ES384".into());
        }
        Mutation::NonceReused => {
            h.insert("nonce".into(), spent_nonce.unwrap_or("AAAAAAAAAAAAAAAAAAAAAA").into());
        }
        Mutation::NonceInvented => {
            h.insert("nonce".into(), b64::encode(rng.next_u64().to_be_bytes()).into());
        }
        Mutation::NonceMissing => {
            h.remove("nonce");
        }
        Mutation::NonceHuge => {
            h.insert("nonce".into(), "A".repeat(HUGE).into());
        }
        Mutation::UrlOther => {
            let other = if url == r.order_url { &r.account_url } else { &r.order_url };
            h.insert("url".into(), other.clone().into());
        }
        Mutation::UrlMissing => {
            h.remove("url");
        }
        Mutation::KidInvented => {
            h.remove("jwk");
            h.insert("kid".into(), format!("{}-{}", r.account_url, rng.next_u64()).into());
        }
        Mutation::JwkAndKid => {
            h.insert("kid".into(), r.account_url.clone().into());
            h.insert("jwk".into(), r.key.jwk().to_value());
        }
        Mutation::JwkInsteadOfKid => {
            h.remove("kid");
            h.insert("jwk".into(), r.key.jwk().to_value());
        }
        Mutation::KidOnNewAccount => {
            h.remove("jwk");
            h.insert("kid".into(), r.account_url.clone().into());
        }
        Mutation::JwkOtherKey => {
            h.insert("jwk".into(), r.other_key.jwk().to_value());
        }
        Mutation::JwkPrivateMember => {
            if let Some(Value::Object(jwk)) = h.get_mut("jwk") {
                jwk.insert("d".into(), b64::encode(rng.next_u64().to_be_bytes().repeat(4)).into());
            }
        }
        Mutation::CritB64 => {
            h.insert("b64".into(), false.into());
            h.insert("crit".into(), json!(["b64"]));
        }
        Mutation::UnknownHeaderMember => {
            h.insert(format!("x-{}", rng.below(100)), odd_value(rng));
        }
        _ => {}
    }
}

/// Signs and serializes the request, then applies the mutations that work on the
/// signature or the body text.
pub(super) fn encode_body(mutations: &[Mutation], header: &Map<String, Value>, payload: &[u8], r: &Resources, rng: &mut SplitMix64) -> Vec<u8> {
    let protected = b64::encode(serde_json::to_vec(header).unwrap_or_default());
    let payload = if mutations.contains(&Mutation::PayloadNotJson) { b64::encode(b"{not json") } else { b64::encode(payload) };
    let signature = b64::encode(r.key.sign(format!("{protected}.{payload}").as_bytes()));
    let mut body = json!({"protected": protected, "payload": payload, "signature": signature});
    for m in mutations {
        match m {
            Mutation::SignatureCorrupt => body["signature"] = b64::encode(r.key.sign(b"another message")).into(),
            Mutation::SignatureEmpty => body["signature"] = "".into(),
            Mutation::GeneralSerialization => {
                body = json!({"payload": payload, "signatures": [{"protected": body["protected"].clone(), "signature": body["signature"].clone()}]});
            }
            Mutation::UnprotectedHeader => body["header"] = json!({"kid": r.account_url}),
            Mutation::PaddedProtected => body["protected"] = format!("{protected}=").into(),
            _ => {}
        }
    }
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    for m in mutations {
        match m {
            Mutation::BodyTruncated => bytes.truncate(rng.below(bytes.len())),
            Mutation::BodyDuplicateMember => {
                if let Some(end) = bytes.iter().rposition(|b| *b == b'}') {
                    bytes.splice(end..end, br#","protected":"e30""#.iter().copied());
                }
            }
            _ => {}
        }
    }
    bytes
}
