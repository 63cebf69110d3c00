//! Round-trip properties of the protocol core that every engine shares: base64url and
//! JWS build → parse → verify.

use acmespec::protocol::b64;
use acmespec::protocol::jws::{Algorithm, FlattenedJws, KeyId, ParsedJws, acme_protected_header};
use acmespec::protocol::keys::SigningKey;
use proptest::prelude::*;
use std::sync::OnceLock;

fn key(alg: Algorithm) -> &'static SigningKey {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa]
            .into_iter()
            .map(|a| SigningKey::generate(a).unwrap())
            .collect()
    });
    keys.iter().find(|k| k.alg() == alg).unwrap()
}

proptest! {
    #[test]
    fn base64url_round_trips_without_padding(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = b64::encode(&bytes);
        prop_assert!(!text.contains('='));
        prop_assert!(text.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        prop_assert_eq!(b64::decode(&text).unwrap(), bytes);
    }

    #[test]
    fn base64url_refuses_padding_and_foreign_alphabets(bytes in proptest::collection::vec(any::<u8>(), 1..64)) {
        let text = b64::encode(&bytes);
        let padded = format!("{text}=");
        prop_assert!(b64::decode(&padded).is_err());
        let standard = text.replace('-', "+").replace('_', "/");
        prop_assert_eq!(b64::decode(&standard).is_ok(), standard == text);
    }

    #[test]
    fn jws_build_parse_verify_round_trips(
        alg in prop_oneof![Just(Algorithm::Es256), Just(Algorithm::Es384), Just(Algorithm::EdDsa)],
        use_kid in any::<bool>(),
        nonce in "[A-Za-z0-9_-]{1,40}",
        path in "[a-z0-9/]{0,30}",
        payload in proptest::option::of(proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,20}", 0..5)),
    ) {
        let signer = key(alg);
        let key_id = if use_kid { KeyId::Kid("https://ca.test/acct/7".into()) } else { KeyId::Jwk(signer.jwk().clone()) };
        let url = format!("https://ca.test/{path}");
        let header = acme_protected_header(alg, &key_id, Some(&nonce), &url);
        let payload = payload.map(|p| serde_json::to_vec(&p).unwrap()).unwrap_or_default();
        let body = serde_json::to_vec(&FlattenedJws::sign(signer, &header, &payload)).unwrap();
        let parsed = ParsedJws::parse(&body).unwrap();
        prop_assert_eq!(parsed.header.alg, alg);
        prop_assert_eq!(parsed.header.nonce.as_deref(), Some(nonce.as_str()));
        prop_assert_eq!(parsed.header.url.as_deref(), Some(url.as_str()));
        prop_assert_eq!(&parsed.payload, &payload);
        prop_assert!(parsed.verify(signer.jwk()).is_ok());
        prop_assert_eq!(parsed.header.jwk.is_some(), !use_kid);
        // Any other key refuses it.
        let other = if alg == Algorithm::Es256 { key(Algorithm::Es384) } else { key(Algorithm::Es256) };
        prop_assert!(parsed.verify(other.jwk()).is_err());
    }
}
