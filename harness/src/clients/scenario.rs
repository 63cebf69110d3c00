//! Client scenarios: data files under `scenarios/client/` that say what a real client
//! is asked to do (issue, renew, revoke, ...), what the mock CA does to it on the way
//! (a fault script), which client checks the scenario is about, and how the client's
//! run should end.
//!
//! They are loaded like the server cases (`crate::scenario`): the same sources (a
//! directory or the files embedded at build time), the same requirements catalogue,
//! and errors as `file:line: message`.

use crate::clients::checks::CheckInfo;
use crate::mockca::FaultRule;
use crate::scenario::{Actor, Catalogue, ItemProblem, Level, LoadError, Requirement, Source, line_of, load_items};
use crate::protocol::wire::ChallengeType;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What the client is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Obtain a certificate.
    Issue,
    /// Obtain a certificate, then renew it (a second order).
    Renew,
    /// Obtain a certificate, then revoke it.
    Revoke,
    /// Obtain a certificate, then roll the account key over (§7.3.5).
    KeyRollover,
    /// Obtain a certificate, then deactivate the account (§7.3.6).
    Deactivate,
    /// Obtain a certificate, then renew it only if the CA's renewal information
    /// (RFC 9773) says it is due.
    AriRenew,
}

impl Operation {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Issue => "issue",
            Operation::Renew => "renew",
            Operation::Revoke => "revoke",
            Operation::KeyRollover => "key-rollover",
            Operation::Deactivate => "deactivate",
            Operation::AriRenew => "ari-renew",
        }
    }
}

/// How the client's run is expected to end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedOutcome {
    /// Every command exits 0.
    #[default]
    Success,
    /// A command exits non-zero (e.g. the challenge turned invalid): the client must
    /// report the failure, not claim a certificate.
    Failure,
    /// Either is conforming (e.g. after a 429 a client may retry later or give up):
    /// the outcome is reported, only the checks are graded.
    Any,
}

/// One client scenario as written in a scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientScenarioDef {
    /// `client/<section>/<slug>`, e.g. `client/6.5/bad-nonce-on-new-order`.
    pub id: String,
    /// One line saying what the client faces.
    pub title: String,
    /// Requirement ids from the catalogue (client or both actors); may be empty only
    /// with a `description` saying why no catalogued requirement applies.
    pub requirements: Vec<String>,
    /// Longer explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the client is asked to do.
    pub operation: Operation,
    /// The challenge type of the issuance.
    pub challenge: ChallengeType,
    /// Names to order: `{name}`, `{name2}`, `{name3}`, optionally `*.` in front (dns-01 only).
    pub identifiers: Vec<String>,
    /// Seed of the randomised faults; without it the run's seed is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The check ids this scenario exercises; each must be applicable to the run.
    pub checks: Vec<String>,
    /// How the client's run should end.
    #[serde(default)]
    pub expect_outcome: ExpectedOutcome,
    /// The level of `expect_outcome`: `MUST` (default; a different outcome is `fail`) or
    /// `SHOULD` (e.g. success depends on a SHOULD such as retrying a badNonce; a
    /// different outcome is `non-strict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_level: Option<Level>,
    /// The CA requires external account binding (`{eab_flags}` in the adapter).
    #[serde(default)]
    pub eab: bool,
    /// Ask the client to prefer the mock CA's alternate chain N (1 = the first alternate),
    /// named by the Subject CN of its root (`{preferred_chain_flags}` in the adapter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_chain: Option<usize>,
    /// Ask the client for this certificate profile (draft-ietf-acme-profiles;
    /// `{profile_flags}` in the adapter). The mock CA advertises `classic`, `tlsserver`
    /// and `shortlived`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The fault script of the mock CA.
    #[serde(default, rename = "fault", skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Spanned<FaultRule>>,
}

impl ClientScenarioDef {
    /// The fault rules without their positions.
    pub fn fault_rules(&self) -> Vec<FaultRule> {
        self.faults.iter().map(|f| f.get_ref().clone()).collect()
    }
}

/// A scenario with where it came from.
#[derive(Debug, Clone)]
pub struct ClientScenario {
    /// The definition.
    pub def: ClientScenarioDef,
    /// The scenario file, relative to the scenarios directory.
    pub file: PathBuf,
    /// The line of its `[[scenario]]` header.
    pub line: usize,
}

impl ClientScenario {
    /// `client/6.5-bad-nonce.toml:12`.
    pub fn source(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Every client scenario, validated against the requirements and the checks.
#[derive(Debug, Clone, Default)]
pub struct ClientCatalogue {
    /// Scenarios in file order.
    pub scenarios: Vec<ClientScenario>,
    /// Requirements by id (the same catalogue the server cases use).
    pub requirements: BTreeMap<String, Requirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    scenario: Vec<Spanned<ClientScenarioDef>>,
}

/// Placeholders a scenario identifier may use.
const NAME_PLACEHOLDERS: &[&str] = &["{name}", "{name2}", "{name3}"];

/// The most alternate chains a scenario may have the mock CA offer.
pub const MAX_PREFERRED_CHAIN: usize = 9;

impl ClientCatalogue {
    /// Loads `requirements/*.toml` and `client/*.toml` under `dir`, checking the check
    /// ids against [`crate::clients::checks::all_checks`].
    pub fn load_dir(dir: &Path) -> Result<Self, LoadError> {
        Self::from_sources(&crate::scenario::sources_in_dir(dir)?, crate::clients::checks::all_checks())
    }

    /// The client scenarios compiled into this binary.
    pub fn embedded() -> Result<Self, LoadError> {
        Self::from_sources(&crate::scenario::embedded_sources(), crate::clients::checks::all_checks())
    }

    /// Loads from in-memory sources named relative to the scenarios directory; the
    /// requirements (and server cases) load exactly as [`Catalogue::from_sources`] does.
    pub fn from_sources(sources: &[Source<'_>], checks: &[CheckInfo]) -> Result<Self, LoadError> {
        let requirements = Catalogue::from_sources(sources)?.requirements;
        let known_checks: BTreeSet<&str> = checks.iter().map(|c| c.id).collect();
        let mut catalogue = ClientCatalogue { scenarios: Vec::new(), requirements };
        let requirements = &catalogue.requirements;
        catalogue.scenarios = load_items(
            sources.iter(),
            "client",
            "scenario",
            |text| toml::from_str::<ScenarioFile>(text).map(|f| f.scenario),
            |def: &ClientScenarioDef| def.id.as_str(),
            |def, file, text| validate(def, file, requirements, &known_checks, text),
        )?
        .into_iter()
        .map(|(def, file, line)| ClientScenario { def, file, line })
        .collect();
        Ok(catalogue)
    }

    /// The scenarios whose id matches `filter` (a glob), in file order.
    pub fn select(&self, filter: Option<&str>) -> Result<Vec<&ClientScenario>, String> {
        let pattern = filter.map(glob::Pattern::new).transpose().map_err(|e| format!("invalid --filter pattern: {e}"))?;
        Ok(self.scenarios.iter().filter(|s| pattern.as_ref().is_none_or(|p| p.matches(&s.def.id))).collect())
    }
}

/// `client/<section>/<slug>` with the section's digits and dots.
fn section_of(id: &str) -> Option<&str> {
    let parts: Vec<&str> = id.split('/').collect();
    let ok = parts.len() == 3
        && parts[0] == "client"
        && !parts[1].is_empty()
        && parts[1].bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(parts[1])
}

fn validate(
    def: &ClientScenarioDef,
    file: &Path,
    requirements: &BTreeMap<String, Requirement>,
    checks: &BTreeSet<&str>,
    text: &str,
) -> Result<(), ItemProblem> {
    let Some(section) = section_of(&def.id) else {
        return Err((None, "id must look like client/6.5/bad-nonce-on-new-order".into()));
    };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if !stem.strip_prefix(section).is_some_and(|rest| rest.is_empty() || rest.starts_with('-')) {
        return Err((None, format!("a client/{section}/ scenario belongs in a file named client/{section}-*.toml")));
    }
    if def.outcome_level == Some(Level::May) {
        return Err((None, "outcome_level must be \"MUST\" or \"SHOULD\"".into()));
    }
    if def.outcome_level.is_some() && def.expect_outcome == ExpectedOutcome::Any {
        return Err((None, "outcome_level has no meaning with expect_outcome = \"any\"".into()));
    }
    if def.preferred_chain.is_some_and(|c| !(1..=MAX_PREFERRED_CHAIN).contains(&c)) {
        return Err((None, format!("preferred_chain must be 1 to {MAX_PREFERRED_CHAIN}: one of the mock CA's alternate chains")));
    }
    if def.title.trim().is_empty() {
        return Err((None, "title is empty".into()));
    }
    if def.requirements.is_empty() && def.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
        return Err((
            None,
            "requirements must list at least one requirement id, or be empty with a description saying why none applies".into(),
        ));
    }
    for id in &def.requirements {
        match requirements.get(id) {
            None => return Err((None, format!("requirement {id} is not in the catalogue (scenarios/requirements/)"))),
            Some(r) if r.actor == Actor::Server => {
                return Err((None, format!("requirement {id} binds the server; a client scenario cites client requirements")));
            }
            Some(_) => {}
        }
    }
    if def.checks.is_empty() {
        return Err((None, "checks must list at least one check id: the checks this scenario exercises".into()));
    }
    if let Some(unknown) = def.checks.iter().find(|c| !checks.contains(c.as_str())) {
        return Err((None, format!("check {unknown} is not a client check (clients::checks::all_checks)")));
    }
    if def.identifiers.is_empty() {
        return Err((None, "identifiers must list at least one name".into()));
    }
    for ident in &def.identifiers {
        let (wildcard, base) = match ident.strip_prefix("*.") {
            Some(b) => (true, b),
            None => (false, ident.as_str()),
        };
        if !NAME_PLACEHOLDERS.contains(&base) {
            return Err((None, format!("identifier {ident:?} must be one of {NAME_PLACEHOLDERS:?}, optionally with \"*.\" in front")));
        }
        if wildcard && def.challenge != ChallengeType::Dns01 {
            return Err((None, format!("wildcard identifier {ident:?} needs challenge = \"dns-01\" (RFC 8555 §7.1.3)")));
        }
    }
    let unique: BTreeSet<&String> = def.identifiers.iter().collect();
    if unique.len() != def.identifiers.len() {
        return Err((None, "identifiers repeat a name".into()));
    }
    for f in &def.faults {
        if let Err(e) = f.get_ref().validate() {
            return Err((Some(line_of(text, f.span().start)), format!("fault: {e}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    const REQS: &str = r#"
[[requirement]]
id = "R8555-6.5-08"
section = "6.5"
level = "SHOULD"
actor = "client"
testable = "mock-ca"
text = "retry after badNonce"

[[requirement]]
id = "R8555-7.4-01"
section = "7.4"
level = "MUST"
actor = "server"
testable = "runner"
text = "server thing"
"#;

    const CHECKS: &[CheckInfo] = &[CheckInfo {
        id: "client/6.5/retries-bad-nonce",
        title: "retries",
        level: Level::Should,
        requirements: &["R8555-6.5-08"],
    }];

    const GOOD: &str = r#"
[[scenario]]
id = "client/6.5/bad-nonce-on-new-order"
title = "badNonce on the first newOrder"
requirements = ["R8555-6.5-08"]
operation = "issue"
challenge = "http-01"
identifiers = ["{name}"]
checks = ["client/6.5/retries-bad-nonce"]

[[scenario.fault]]
endpoint = "new-order"
nth = 1
action = "bad-nonce"
"#;

    fn load_as(file: &str, text: &str) -> Result<ClientCatalogue, LoadError> {
        ClientCatalogue::from_sources(
            &[("requirements/r.toml".into(), Cow::Borrowed(REQS)), (file.into(), Cow::Borrowed(text))],
            CHECKS,
        )
    }

    fn load(text: &str) -> Result<ClientCatalogue, LoadError> {
        load_as("client/6.5-bad-nonce.toml", text)
    }

    #[test]
    fn good_scenario_loads() {
        let c = load(GOOD).unwrap();
        assert_eq!(c.scenarios.len(), 1);
        let s = &c.scenarios[0];
        assert_eq!(s.line, 2);
        assert_eq!(s.def.expect_outcome, ExpectedOutcome::Success);
        assert_eq!(s.def.fault_rules()[0].nth, Some(1));
        assert_eq!(s.source(), "client/6.5-bad-nonce.toml:2");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = load(&GOOD.replace("action = \"bad-nonce\"", "action = \"bad-nonse\"")).unwrap_err();
        assert_eq!(e.file, PathBuf::from("client/6.5-bad-nonce.toml"));
        assert_eq!(e.line, Some(14), "{e}");
        assert!(e.message.contains("bad-nonse"), "{e}");

        let e = load(&GOOD.replace("nth = 1", "nth = 1\nretyr_after = 2")).unwrap_err();
        assert!(e.message.contains("retyr_after"), "{e}");

        let e = load(&GOOD.replace("action = \"bad-nonce\"", "action = \"delay\"")).unwrap_err();
        assert_eq!(e.line, Some(11), "the fault's header line: {e}");
        assert!(e.message.contains("needs `ms"), "{e}");

        let e = load(&GOOD.replace("operation = \"issue\"", "operation = \"issue\"\ncolour = 1")).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");

        let e = load(&GOOD.replace("retries-bad-nonce\"]", "no-such-check\"]")).unwrap_err();
        assert!(e.message.contains("client/6.5/no-such-check is not a client check"), "{e}");
        assert_eq!(e.line, Some(2), "{e}");

        let e = load(&GOOD.replace("R8555-6.5-08\"]", "R8555-7.4-01\"]")).unwrap_err();
        assert!(e.message.contains("binds the server"), "{e}");

        let e = load(&GOOD.replace("R8555-6.5-08\"]", "R8555-9.9-99\"]")).unwrap_err();
        assert!(e.message.contains("not in the catalogue"), "{e}");

        let e = load(&GOOD.replace("[\"{name}\"]", "[\"*.{name}\"]")).unwrap_err();
        assert!(e.message.contains("dns-01"), "{e}");

        let e = load(&GOOD.replace("[\"{name}\"]", "[\"example.com\"]")).unwrap_err();
        assert!(e.message.contains("must be one of"), "{e}");

        let e = load(&GOOD.replace("checks = [\"client/6.5/retries-bad-nonce\"]", "checks = []")).unwrap_err();
        assert!(e.message.contains("at least one check"), "{e}");

        let e = load(&format!("{GOOD}\n{GOOD}")).unwrap_err();
        assert!(e.message.contains("duplicate scenario id"), "{e}");

        let e = load_as("client/7.4-finalize.toml", GOOD).unwrap_err();
        assert!(e.message.contains("client/6.5-*.toml"), "{e}");

        let e = load(&GOOD.replace("client/6.5/bad", "client/6.5/Bad")).unwrap_err();
        assert!(e.message.contains("id must look like"), "{e}");

        let e = load(&GOOD.replace("operation = \"issue\"", "operation = \"issue\"\npreferred_chain = 0")).unwrap_err();
        assert!(e.message.contains("preferred_chain must be 1 to 9"), "{e}");

        let e = load(&GOOD.replace("operation = \"issue\"", "operation = \"issue\"\noutcome_level = \"MAY\"")).unwrap_err();
        assert!(e.message.contains("outcome_level"), "{e}");
        let any = GOOD.replace("operation = \"issue\"", "operation = \"issue\"\nexpect_outcome = \"any\"\noutcome_level = \"SHOULD\"");
        assert!(load(&any).unwrap_err().message.contains("no meaning"));
        let e = load(&GOOD.replace("requirements = [\"R8555-6.5-08\"]", "requirements = []")).unwrap_err();
        assert!(e.message.contains("description"), "{e}");
        let explained = GOOD.replace("requirements = [\"R8555-6.5-08\"]", "requirements = []\ndescription = \"no client requirement\"");
        assert!(load(&explained).is_ok());

        let e = load("[[scenario]\nid=").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn the_embedded_scenarios_load() {
        let c = ClientCatalogue::embedded().unwrap_or_else(|e| panic!("{e}"));
        assert!(c.scenarios.len() >= 25, "{} client scenarios", c.scenarios.len());
        assert!(c.select(Some("client/6.5/*")).unwrap().len() >= 5);
        assert!(c.select(Some("[")).is_err());
    }

    #[test]
    fn wildcards_and_failure_outcomes_load() {
        let text = GOOD
            .replace("challenge = \"http-01\"", "challenge = \"dns-01\"\nexpect_outcome = \"failure\"\nseed = 7\npreferred_chain = 2")
            .replace("[\"{name}\"]", "[\"{name}\", \"*.{name}\"]");
        let c = load(&text).unwrap();
        let d = &c.scenarios[0].def;
        assert_eq!(d.expect_outcome, ExpectedOutcome::Failure);
        assert_eq!(d.seed, Some(7));
        assert_eq!(d.preferred_chain, Some(2));
        assert_eq!(d.identifiers.len(), 2);
    }
}
