//! The mock CA: a reference RFC 8555 server that the whole catalogue must pass, and
//! that can be switched, defect by defect, into a non-conforming one.
//!
//! Laid out like Pebble: `wfe` (HTTP, JWS, nonces, problems), `va` (validation),
//! `ca` (issuance), `db` (in-memory store with narrow methods), `core` (types, with
//! order status derived from authorizations).

mod ca;
mod va;
