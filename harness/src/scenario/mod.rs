//! Scenarios are data: case files under `scenarios/` say what to send and what the
//! RFC requires back, so a case can be added without writing Rust.

mod load;
mod model;

pub use load::{Actor, Case, Catalogue, LoadError, Requirement, RequirementLevel, Source, Testable, sources_in_dir};
pub(crate) use load::{ItemProblem, line_of, load_items, toml_error};
pub use model::*;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_scenarios.rs"));
}

/// The scenario files compiled into this binary, named relative to `scenarios/`.
pub fn embedded_sources() -> Vec<Source<'static>> {
    embedded::FILES.iter().map(|(p, t)| (std::path::PathBuf::from(p), std::borrow::Cow::Borrowed(*t))).collect()
}

/// The catalogue compiled into this binary from the repository's `scenarios/`.
pub fn embedded_catalogue() -> Result<Catalogue, LoadError> {
    Catalogue::from_sources(&embedded_sources())
}
