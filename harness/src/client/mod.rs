//! acmespec's own ACME client (being written).
