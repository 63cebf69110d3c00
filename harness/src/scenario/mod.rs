//! Scenarios are data: case files under `scenarios/` say what to send and what the
//! RFC requires back, so a case can be added without writing Rust.

mod load;
mod model;

pub use load::{Actor, Case, Catalogue, LoadError, Requirement, RequirementLevel, Source, Testable};
pub use model::*;
