//! Replay nonces (RFC 8555 §6.5): issued at random, redeemable once, bounded in number.

use crate::protocol::b64;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// How many outstanding nonces are remembered; the oldest are forgotten first, so a
/// client holding a very old nonce gets `badNonce` and retries, as §6.5 allows.
const CAPACITY: usize = 100_000;

#[derive(Default)]
struct Pool {
    live: HashSet<String>,
    order: VecDeque<String>,
}

pub(crate) struct Nonces {
    pool: Mutex<Pool>,
    rng: SystemRandom,
}

impl Nonces {
    pub(crate) fn new() -> Self {
        Nonces { pool: Mutex::default(), rng: SystemRandom::new() }
    }

    /// A fresh nonce: 128 random bits, base64url.
    pub(crate) fn issue(&self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).expect("system RNG");
        let nonce = b64::encode(bytes);
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.order.len() >= CAPACITY
            && let Some(old) = pool.order.pop_front()
        {
            pool.live.remove(&old);
        }
        pool.live.insert(nonce.clone());
        pool.order.push_back(nonce.clone());
        nonce
    }

    /// Consumes a nonce; `false` when it was never issued or already used.
    /// Makes a spent nonce redeemable once more and returns it (the defect that hands a
    /// nonce out twice).
    pub(crate) fn reissue(&self, nonce: String) -> String {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.live.insert(nonce.clone());
        pool.order.push_back(nonce.clone());
        nonce
    }

    pub(crate) fn redeem(&self, nonce: &str) -> bool {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.live.remove(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_once() {
        let n = Nonces::new();
        let a = n.issue();
        assert_ne!(a, n.issue());
        assert!(n.redeem(&a));
        assert!(!n.redeem(&a));
        assert!(!n.redeem("never-issued"));
    }
}
