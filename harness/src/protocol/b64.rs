//! base64url without padding, as RFC 7515 §2 requires for every JWS part.
//!
//! Decoding is strict on purpose: a server that quietly accepts `=` padding or the
//! standard alphabet is a parser differential waiting to be exploited, so the
//! harness must be able to tell strict from lenient.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a base64url string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum B64Error {
    /// The text carried `=` padding, which RFC 7515 §2 forbids.
    #[error("base64url must not carry '=' padding")]
    Padded,
    /// The text had a character outside the URL-safe alphabet or a bad length.
    #[error("invalid base64url: {0}")]
    Invalid(String),
}

/// Decodes unpadded base64url, rejecting padding and the standard alphabet.
pub fn decode(text: &str) -> Result<Vec<u8>, B64Error> {
    if text.contains('=') {
        return Err(B64Error::Padded);
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| B64Error::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(decode("-_8").unwrap(), b"\xfb\xff");
        assert_eq!(decode("-_8="), Err(B64Error::Padded));
        assert!(matches!(decode("+/8"), Err(B64Error::Invalid(_))));
        assert!(matches!(decode("a"), Err(B64Error::Invalid(_))));
    }
}
