//! Grading real ACME clients: scripted faults on the mock CA, checks over what the
//! client sent, and adapters that drive client programs.

pub mod cli;
pub mod adapter;
pub mod checks;
pub mod run;
pub mod scenario;
