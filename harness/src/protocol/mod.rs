//! The protocol core: everything that must agree byte for byte between the runner,
//! the mock CA and the fuzzers lives here, once.

pub mod b64;
pub mod http;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod random;
pub mod session;
pub mod strict_json;
pub mod wire;
