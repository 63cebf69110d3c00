//! Unpredictable bytes from the system generator, for everything the engines make up:
//! test names, resource ids, tokens, MAC keys, seeds.
//!
//! One helper, so that every made-up value has the same source (ring's `SystemRandom`,
//! the only generator the ring-only graph has) and the same failure: a machine without
//! a working system generator cannot run a conformance test whose names and tokens must
//! be unguessable, so the helpers panic there instead of falling back to something
//! predictable.

use ring::rand::{SecureRandom, SystemRandom};

/// `n` random bytes.
///
/// # Panics
///
/// When the system random generator fails.
pub fn bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    SystemRandom::new().fill(&mut out).expect("the system random generator failed");
    out
}

/// `n` random bytes as lowercase hex: a DNS label, a file name, a serial.
pub fn hex(n: usize) -> String {
    bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes as unpadded base64url: a URL path segment, a token.
pub fn b64url(n: usize) -> String {
    super::b64::encode(bytes(n))
}

/// A random number.
pub fn u64() -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes(8));
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lengths_and_alphabets() {
        assert_eq!(super::bytes(5).len(), 5);
        let hex = super::hex(6);
        assert!(hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{hex}");
        let b64 = super::b64url(12);
        assert!(b64.len() == 16 && !b64.contains(['=', '+', '/']), "{b64}");
        assert_ne!(super::u64(), super::u64());
    }
}
