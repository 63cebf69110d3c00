//! Issuance (being written).
