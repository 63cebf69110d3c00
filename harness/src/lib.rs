//! acmespec: conformance and fuzz test harness for ACME (RFC 8555).
//!
//! One protocol core (JWS/JWK, wire types, an instrumented HTTP client, challenge
//! responders) is shared by every engine, so a bug in how we read the RFC shows up
//! everywhere at once instead of hiding in one engine's private copy.

#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod protocol;
pub mod report;
pub mod client;
pub mod clients;
mod cli_support;
mod defect_list;
pub mod coverage;
pub mod defect_matrix;
pub mod fuzzing;
pub mod interop;
pub mod load;
pub mod mockca;
pub mod peers;
pub mod responders;
pub mod runner;
pub mod scenario;
mod seeded;
pub mod tls_identity;
