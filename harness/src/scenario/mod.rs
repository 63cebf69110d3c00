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

#[cfg(test)]
mod tests {
    use super::*;

    /// One deviation fails once: every kind of step a case uses only to set itself up
    /// has a case that judges it, which the runner names when that step breaks.
    #[test]
    fn every_setup_step_of_the_catalogue_has_a_judging_case() {
        let catalogue = embedded_catalogue().unwrap();
        let mut unjudged = std::collections::BTreeSet::new();
        for case in &catalogue.cases {
            for step in case.def.steps.iter().map(toml::Spanned::get_ref) {
                // A trigger's trouble is the harness's (`error`), a timed sleep cannot break,
                // and a step the server may refuse (`refusable`, `offered_when`) is
                // `unsupported` when it does.
                let timed_sleep = step.action == Action::Sleep && step.retry_after != Some(true);
                let may_refuse = step.refusable.is_some() || step.offered_when.is_some();
                let may_break = !step.is_checked() && step.action != Action::Trigger && !timed_sleep && !may_refuse;
                if may_break && !catalogue.judges.contains_key(&step.setup_key()) {
                    unjudged.insert(format!("{} (first in {})", step.setup_key(), case.def.id));
                }
            }
        }
        assert!(unjudged.is_empty(), "setup steps no case judges: {unjudged:#?}");
    }
}
