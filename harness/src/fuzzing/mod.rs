//! Fuzz target bodies with their oracles.
//!
//! They live in the library rather than in `fuzz/` so that `cargo test` on stable Rust
//! replays every seed corpus and every regression file without libFuzzer; `fuzz/` only
//! wraps [`Target::run`]. A target reports a broken oracle by panicking with a sentence
//! saying which property failed, which is what libFuzzer records as a crash.

pub mod cli;
mod jose;
pub mod live;
pub mod live_report;
mod server_response;

use std::path::{Path, PathBuf};

/// A fuzz target: the input it takes and the property it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Arbitrary bytes into the flattened JWS parser; whatever parses must re-serialize
    /// and re-parse to the same value.
    JwsParse,
    /// Mutations of validly signed JWS (ES256, RS256, EdDSA); a mutant that still
    /// verifies must carry the original protected header and payload.
    JwsVerify,
    /// An arbitrary JWK; its RFC 7638 thumbprint must ignore member order and
    /// non-required members and agree with an independent computation.
    JwkThumbprint,
    /// Arbitrary DER into the mock CA's CSR checks; verified and unverified parsing agree.
    Csr,
    /// Arbitrary bytes as an HTTP server's answer to the runner's client; the client
    /// never panics and never keeps more than its body limit.
    ServerResponse,
    /// A method, path, Content-Type and body (raw, or validly signed by an existing
    /// account) into the mock CA's front end in-process; every answer must be a
    /// non-5xx, errors problem documents with registered types, POST answers nonced.
    WfeRequest,
    /// Events (challenge responses, validation outcomes, deactivation, finalization,
    /// polls, time passing) into the mock CA's order and authorization state machine;
    /// an independent reference model must agree on every status.
    OrderState,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 7] = [
        Target::JwsParse,
        Target::JwsVerify,
        Target::JwkThumbprint,
        Target::Csr,
        Target::ServerResponse,
        Target::WfeRequest,
        Target::OrderState,
    ];

    /// The name used by `fuzz/` and for corpus directories.
    pub fn name(self) -> &'static str {
        match self {
            Target::JwsParse => "jws_parse",
            Target::JwsVerify => "jws_verify",
            Target::JwkThumbprint => "jwk_thumbprint",
            Target::Csr => "csr",
            Target::ServerResponse => "server_response",
            Target::WfeRequest => "wfe_request",
            Target::OrderState => "order_state",
        }
    }

    /// The target with this name.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Runs one input; panics when the target's oracle is violated.
    ///
    /// Always inlined so that a fuzz binary naming one target links only that target's
    /// code: libFuzzer scans every coverage counter in the binary after each input, so
    /// the other six targets' code would cost most of the time of a fast target.
    #[inline(always)]
    pub fn run(self, data: &[u8]) {
        match self {
            Target::JwsParse => jose::jws_parse(data),
            Target::JwsVerify => jose::jws_verify(data),
            Target::JwkThumbprint => jose::jwk_thumbprint(data),
            Target::Csr => crate::mockca::fuzz_csr(data),
            Target::ServerResponse => server_response::run(data),
            Target::WfeRequest => crate::mockca::fuzz_wfe_request(data),
            Target::OrderState => crate::mockca::fuzz_order_state(data),
        }
    }

    /// Seed inputs built in code (valid signed requests, real certificates' CSRs,
    /// well-formed responses), written to the corpus by `acmespec fuzz seeds`.
    pub fn generated_seeds(self) -> Vec<(String, Vec<u8>)> {
        match self {
            Target::JwsParse | Target::JwsVerify | Target::JwkThumbprint => jose::seeds(self),
            Target::Csr => crate::mockca::csr_seeds(),
            Target::ServerResponse => server_response::seeds(),
            Target::WfeRequest => crate::mockca::wfe_request_seeds(),
            Target::OrderState => crate::mockca::order_state_seeds(),
        }
    }
}

/// The files a target's replay covers: `fixtures/corpus/<target>/*` and
/// `fixtures/regressions/<target>/*` under `fixtures`.
pub fn replay_files(fixtures: &Path, target: Target) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let dir = fixtures.join(dir).join(target.name());
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
