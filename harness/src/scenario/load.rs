//! Reading case files and the requirements catalogue, with errors a scenario author
//! can act on: the file, the line, and what is wrong.

use crate::scenario::model::{Action, CaseDef, Expect, Feature, Level, Step, Target};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A case file or catalogue that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for LoadError {}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

pub(crate) fn toml_error(file: &Path, text: &str, e: &toml::de::Error) -> LoadError {
    LoadError {
        file: file.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_owned(),
    }
}

/// The level vocabulary of the catalogue, with the negative forms kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum RequirementLevel {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "MUST NOT")]
    MustNot,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "SHOULD NOT")]
    ShouldNot,
    #[serde(rename = "MAY")]
    May,
}

impl RequirementLevel {
    /// The case level that checks a requirement of this level.
    pub fn case_level(self) -> Level {
        match self {
            RequirementLevel::Must | RequirementLevel::MustNot => Level::Must,
            RequirementLevel::Should | RequirementLevel::ShouldNot => Level::Should,
            RequirementLevel::May => Level::May,
        }
    }
}

/// Who a requirement binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum Actor {
    Server,
    Client,
    Both,
}

/// Which engine can observe a requirement on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Testable {
    /// The runner, against a server.
    Runner,
    /// The mock CA, against a client.
    MockCa,
    /// Both engines.
    Both,
    /// Not observable on the wire.
    None,
}

/// One normative statement of an RFC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Stable id, `R8555-7.4-03`.
    pub id: String,
    /// RFC section.
    pub section: String,
    /// BCP 14 level.
    pub level: RequirementLevel,
    /// Who it binds.
    pub actor: Actor,
    /// How it can be tested.
    pub testable: Testable,
    /// Why it cannot be tested on the wire (only when `testable = "none"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable_reason: Option<String>,
    /// Why no case checks it yet, for a requirement the runner could test: the
    /// coverage report shows it, and the coverage test refuses a gap that is no
    /// longer true or an uncovered requirement without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<String>,
    /// Our paraphrase.
    pub text: String,
    /// The Internet-Draft it comes from, for a requirement of no RFC yet (the file's
    /// `document`): reports keep drafts apart, since their text may still change.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub draft: Option<String>,
}

impl Requirement {
    /// The RFC number from the id (`R8555-...` → `8555`).
    pub fn rfc(&self) -> &str {
        self.id.trim_start_matches('R').split('-').next().unwrap_or("")
    }

    /// The document that states it: `RFC 8555`, or the draft's name.
    pub fn document(&self) -> String {
        self.draft.clone().unwrap_or_else(|| format!("RFC {}", self.rfc()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementFile {
    /// The Internet-Draft the file's requirements come from (`draft-ietf-acme-profiles-00`);
    /// absent for an RFC.
    #[serde(default)]
    document: Option<String>,
    requirement: Vec<Spanned<Requirement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Spanned<CaseDef>>,
}

/// A case with where it came from.
#[derive(Debug, Clone)]
pub struct Case {
    /// The definition.
    pub def: CaseDef,
    /// The case file.
    pub file: PathBuf,
    /// The line of its `[[case]]` header.
    pub line: usize,
}

/// Every case and requirement, validated against each other.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Cases in file order.
    pub cases: Vec<Case>,
    /// Requirements by id.
    pub requirements: BTreeMap<String, Requirement>,
    /// Setup key ([`crate::scenario::Step::setup_key`]) → the case that judges such steps.
    pub judges: BTreeMap<String, String>,
}

/// A source of scenario text: a path for messages and the text itself.
pub type Source<'a> = (PathBuf, std::borrow::Cow<'a, str>);

impl Catalogue {
    /// Loads `requirements/*.toml` and `server/**/*.toml` under `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, LoadError> {
        Self::from_sources(&sources_in_dir(dir)?)
    }

    /// Loads from in-memory sources named relative to the scenarios directory.
    pub fn from_sources(sources: &[Source<'_>]) -> Result<Self, LoadError> {
        let mut catalogue = Catalogue::default();
        let (reqs, cases): (Vec<_>, Vec<_>) =
            sources.iter().partition(|(p, _)| p.starts_with("requirements"));
        for (path, text) in reqs {
            let file: RequirementFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
            for spanned in file.requirement {
                let line = line_of(text, spanned.span().start);
                let req = Requirement { draft: file.document.clone(), ..spanned.into_inner() };
                let err = |message: String| LoadError { file: path.clone(), line: Some(line), message };
                if (req.testable == Testable::None) != req.untestable_reason.is_some() {
                    return Err(err(format!(
                        "{}: untestable_reason is required exactly when testable = \"none\"",
                        req.id
                    )));
                }
                if catalogue.requirements.contains_key(&req.id) {
                    return Err(err(format!("duplicate requirement id {}", req.id)));
                }
                catalogue.requirements.insert(req.id.clone(), req);
            }
        }
        let requirements = &catalogue.requirements;
        catalogue.cases = load_items(
            cases.into_iter(),
            "server",
            "case",
            |text| toml::from_str::<CaseFile>(text).map(|f| f.case),
            |def: &CaseDef| def.id.as_str(),
            |def, _, text| validate_case(def, requirements, text),
        )?
        .into_iter()
        .map(|(def, file, line)| Case { def, file, line })
        .collect();
        for case in &catalogue.cases {
            for key in &case.def.judges {
                if let Some(other) = catalogue.judges.insert(key.clone(), case.def.id.clone()) {
                    return Err(LoadError {
                        file: case.file.clone(),
                        line: Some(case.line),
                        message: format!("case {}: {other} already judges {key:?}; one case judges each kind of step", case.def.id),
                    });
                }
            }
        }
        Ok(catalogue)
    }
}

/// Every `.toml` file under `dir`, read and named relative to `dir`, sorted by path:
/// the sources [`Catalogue::from_sources`] (and the client scenario loader) read.
pub fn sources_in_dir(dir: &Path) -> Result<Vec<Source<'static>>, LoadError> {
    let mut sources = Vec::new();
    collect_toml(dir, &mut sources).map_err(|e| LoadError {
        file: dir.to_owned(),
        line: None,
        message: e.to_string(),
    })?;
    sources.sort();
    let mut loaded = Vec::new();
    for path in sources {
        let text = std::fs::read_to_string(&path).map_err(|e| LoadError {
            file: path.clone(),
            line: None,
            message: e.to_string(),
        })?;
        let relative = path.strip_prefix(dir).unwrap_or(&path).to_owned();
        loaded.push((relative, std::borrow::Cow::Owned(text)));
    }
    Ok(loaded)
}

/// What a validator says is wrong: the line (when it knows better than the item's
/// own) and the message.
pub(crate) type ItemProblem = (Option<usize>, String);

/// Loads the items (`[[case]]`, `[[scenario]]`, ...) of the sources under `prefix`:
/// parses each file, validates each item, refuses duplicate ids, and names file and
/// line in every error. Returns the items with their file and line, in file order.
pub(crate) fn load_items<'s, T>(
    sources: impl Iterator<Item = &'s Source<'s>>,
    prefix: &str,
    noun: &str,
    parse: impl Fn(&str) -> Result<Vec<Spanned<T>>, toml::de::Error>,
    id: impl Fn(&T) -> &str,
    mut validate: impl FnMut(&T, &Path, &str) -> Result<(), ItemProblem>,
) -> Result<Vec<(T, PathBuf, usize)>, LoadError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (path, text) in sources.filter(|(p, _)| p.starts_with(prefix)) {
        for spanned in parse(text).map_err(|e| toml_error(path, text, &e))? {
            let line = line_of(text, spanned.span().start);
            let item = spanned.into_inner();
            let err = |line: usize, message: String| LoadError { file: path.clone(), line: Some(line), message };
            validate(&item, path, text).map_err(|(l, m)| err(l.unwrap_or(line), format!("{noun} {}: {m}", id(&item))))?;
            if !seen.insert(id(&item).to_owned()) {
                return Err(err(line, format!("duplicate {noun} id {}", id(&item))));
            }
            out.push((item, path.clone(), line));
        }
    }
    Ok(out)
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// `rfc8555/7.4/finalize-not-ready`, or for an Internet-Draft
/// `draft-ietf-acme-profiles/4/unadvertised-profile-refused` (the draft's name without
/// its version, which the requirements file carries).
fn valid_case_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    let document = |d: &str| match d.strip_prefix("rfc") {
        Some(n) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
        None => d.strip_prefix("draft-").is_some_and(|n| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !n.ends_with('-')
        }),
    };
    parts.len() == 3
        && document(parts[0])
        && !parts[1].is_empty()
        && parts[1].bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The fields each action reads, besides `action`, `expect` and `should`.
fn fields_of(action: Action) -> &'static [&'static str] {
    use Action::*;
    match action {
        Http => &["method", "target", "headers", "body", "account", "order", "authz", "challenge"],
        NewAccount => &[
            "as", "key", "reuse_key_of", "contact", "terms_of_service_agreed", "only_return_existing", "payload",
            "mutate", "eab",
        ],
        UpdateAccount => &["account", "contact", "payload", "mutate"],
        DeactivateAccount => &["account", "mutate"],
        KeyChange => &["account", "new_key", "inner", "mutate"],
        NewOrder => &["as", "account", "identifiers", "not_before", "not_after", "payload", "mutate", "replaces", "profile"],
        Fetch => &["account", "order", "target", "authz", "challenge", "mutate"],
        SignedPost => &["account", "order", "target", "authz", "challenge", "payload", "mutate"],
        Solve => &["account", "order", "challenge", "timeout_s"],
        RespondChallenge => &["account", "order", "authz", "challenge", "provision", "payload", "mutate"],
        Poll => &["account", "order", "target", "authz", "challenge", "until", "timeout_s"],
        Provision => &["account", "order", "authz", "challenge"],
        AwaitValidation => &["account", "order", "authz", "challenge", "queries", "timeout_s"],
        DeactivateAuthz => &["account", "order", "authz", "mutate"],
        Finalize => &["account", "order", "csr", "wait", "timeout_s", "mutate"],
        DownloadCertificate => &["account", "order", "alternate", "mutate"],
        NewAuthz => &["as", "account", "identifiers", "payload", "mutate"],
        Revoke => &["account", "order", "by", "reason", "mutate"],
        Sleep => &["seconds", "retry_after"],
        Trigger => &["account", "trigger"],
        ExceedRateLimit => &["account"],
        AuditRun => &["audit"],
    }
}

/// The fields set in a step, by name.
fn set_fields(step: &Step) -> Vec<&'static str> {
    let value = toml::Value::try_from(step).expect("a step always serializes");
    let table = value.as_table().expect("a step serializes to a table");
    FIELD_NAMES.iter().copied().filter(|f| table.contains_key(*f)).collect()
}

/// Fields every action reads (besides `expect` and `should`), so none lists them.
const COMMON_FIELDS: &[&str] = &["refusable", "when_order"];

const FIELD_NAMES: &[&str] = &[
    "refusable", "when_order",
    "as", "account", "order", "target", "method", "headers", "body", "key", "reuse_key_of", "contact",
    "terms_of_service_agreed", "only_return_existing", "payload", "identifiers", "not_before", "not_after",
    "challenge", "authz", "provision", "until", "timeout_s", "csr", "wait", "by", "reason", "new_key", "inner",
    "seconds", "mutate", "eab", "replaces", "profile", "trigger", "alternate", "queries", "retry_after", "audit",
];

const MAX_SLEEP_S: f64 = 30.0;
const MAX_TIMEOUT_S: u64 = 300;

/// A step's `save` and `offered_when` need a response, and its `same_as` /
/// `leaf_same_as` need a body an earlier step saved.
fn check_saved_names(step: &Step, saved: &BTreeSet<&str>) -> Result<(), String> {
    if step.sends_nothing() && (step.save.is_some() || step.offered_when.is_some() || step.refusable.is_some()) {
        return Err("this step sends no request: it has no response to `save` or to check with `offered_when` or `refusable`".into());
    }
    let wanted = [&step.expect, &step.should]
        .into_iter()
        .flatten()
        .flat_map(|e| {
            e.same_as
                .values()
                .chain(&e.leaf_same_as)
                .chain(e.if_error.iter().flat_map(|n| n.same_as.values()))
                .chain(e.if_status.values().flat_map(|n| n.same_as.values()))
        });
    for name in wanted {
        if !saved.contains(name.as_str()) {
            return Err(format!("no earlier step saves a body as {name:?} (`save = {name:?}`)"));
        }
    }
    Ok(())
}

/// An expectation table rests on requirements the case cites, whose keyword is the
/// table's level; its nested tables inherit that and name none of their own.
fn check_rests_on(
    table: &Expect,
    level: Level,
    def: &CaseDef,
    requirements: &BTreeMap<String, Requirement>,
) -> Result<(), String> {
    if table.rests_on.is_empty() {
        return Err("an `expect` or `should` table names the requirements it rests on: `rests_on = [\"R8555-...\"]`".into());
    }
    for id in &table.rests_on {
        if !def.requirements.contains(id) {
            return Err(format!("rests_on {id}, which the case's `requirements` do not list"));
        }
        if let Some(r) = requirements.get(id)
            && r.level.case_level() != level
        {
            let keyword = serde_json::to_value(r.level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            return Err(format!(
                "rests_on {id}, a {keyword} requirement, in a table judged at {} level: an expectation's level is its requirement's keyword",
                serde_json::to_value(level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            ));
        }
    }
    let nested = table.if_error.iter().map(|b| b.as_ref()).chain(table.if_status.values());
    for n in nested {
        if !n.rests_on.is_empty() {
            return Err("`rests_on` goes on the `expect` / `should` table, not on a nested if_error / if_status table".into());
        }
    }
    Ok(())
}

fn validate_case(
    def: &CaseDef,
    requirements: &BTreeMap<String, Requirement>,
    text: &str,
) -> Result<(), ItemProblem> {
    if !valid_case_id(&def.id) {
        return Err((None, "id must look like rfc8555/7.4/finalize-not-ready (or draft-NAME/4/case for an Internet-Draft)".into()));
    }
    if def.requirements.is_empty() {
        return Err((None, "requirements must list at least one requirement id".into()));
    }
    if let Some(unknown) = def.requirements.iter().find(|r| !requirements.contains_key(*r)) {
        return Err((None, format!("requirement {unknown} is not in the catalogue (scenarios/requirements/)")));
    }
    if def.steps.is_empty() {
        return Err((None, "a case needs at least one step".into()));
    }
    if !def.steps.iter().any(|s| s.get_ref().is_checked()) {
        return Err((None, "no step has an `expect` or `should` table: the case could not fail".into()));
    }
    for spanned in &def.steps {
        let line = Some(line_of(text, spanned.span().start));
        let step = spanned.get_ref();
        for (table, level) in [(&step.expect, def.level), (&step.should, Level::Should)] {
            let Some(table) = table else { continue };
            check_rests_on(table, level, def, requirements).map_err(|m| (line, m))?;
        }
    }
    for key in &def.judges {
        // `solve:http-01:ipv6` is a `solve:http-01` step of an order for IPv6 addresses.
        let same_kind = |s: &Step| *key == s.setup_key() || key.starts_with(&format!("{}:ip", s.setup_key()));
        let judged = |s: &Step| same_kind(s) && (s.is_checked() || s.sends_nothing());
        if !def.steps.iter().any(|s| judged(s.get_ref())) {
            return Err((None, format!("judges {key:?}, but none of its steps with `expect` or `should` is one")));
        }
    }
    let mut saved: BTreeSet<&str> = BTreeSet::new();
    for spanned in &def.steps {
        let line = Some(line_of(text, spanned.span().start));
        let step = spanned.get_ref();
        check_saved_names(step, &saved).map_err(|m| (line, m))?;
        if let Some(name) = &step.save {
            saved.insert(name);
        }
        let allowed = fields_of(step.action);
        let action = toml::Value::try_from(step.action).expect("actions serialize");
        let action = action.as_str().unwrap_or_default();
        if let Some(extra) = set_fields(step).into_iter().find(|f| !allowed.contains(f) && !COMMON_FIELDS.contains(f)) {
            return Err((line, format!("field `{extra}` is not used by action `{action}`")));
        }
        let required: &[(&str, bool)] = match step.action {
            Action::Http => &[("target", step.target.is_some())],
            Action::NewOrder => &[("identifiers", step.identifiers.is_some())],
            Action::NewAuthz => &[("identifiers", step.identifiers.is_some() || step.payload.is_some())],
            Action::Solve | Action::RespondChallenge | Action::Provision => &[("challenge", step.challenge.is_some())],
            Action::AwaitValidation => &[("challenge", step.challenge.is_some()), ("queries", step.queries.is_some())],
            Action::Poll => &[("target", step.target.is_some()), ("until", step.until.is_some())],
            Action::Fetch => &[("target", step.target.is_some())],
            Action::SignedPost => &[("target", step.target.is_some()), ("payload", step.payload.is_some())],
            Action::Sleep => {
                &[("seconds` or `retry_after = true` (one of them", step.seconds.is_some() != (step.retry_after == Some(true)))]
            }
            Action::Trigger => &[("trigger", step.trigger.is_some())],
            Action::AuditRun => &[("audit", step.audit.is_some())],
            _ => &[],
        };
        if let Some((name, _)) = required.iter().find(|(_, present)| !present) {
            return Err((line, format!("action `{action}` needs field `{name}`")));
        }
        if step.action == Action::ExceedRateLimit && !def.requires.contains(&Feature::RateLimit) {
            return Err((line, "action `exceed-rate-limit` needs `requires = [\"rate-limit\"]`: only a declared limit is reachable".into()));
        }
        if let Some(ids) = &step.identifiers
            && let Some(bad) = ids.iter().find(|i| !(i.starts_with("dns:") || i.starts_with("ip:"))) {
                return Err((line, format!("identifier {bad:?} must start with dns: or ip:")));
            }
        if step.action == Action::NewAuthz && step.identifiers.as_ref().is_some_and(|ids| ids.len() != 1) {
            return Err((line, "action `new-authz` takes exactly one identifier".into()));
        }
        if let Some(entry) = &step.if_listed
            && !matches!(Target::try_from(entry.clone()), Ok(Target::DirectoryEntry(_)))
        {
            return Err((line, format!("if_listed {entry:?} must name a directory entry such as \"newAuthz\"")));
        }
        if step.seconds.is_some_and(|s| !(0.0..=MAX_SLEEP_S).contains(&s)) {
            return Err((line, format!("seconds must be between 0 and {MAX_SLEEP_S}")));
        }
        if step.timeout_s.is_some_and(|t| t == 0 || t > MAX_TIMEOUT_S) {
            return Err((line, format!("timeout_s must be between 1 and {MAX_TIMEOUT_S}")));
        }
        if let Some(payload) = &step.payload
            && !(payload.is_table() || payload.as_str() == Some("")) {
                return Err((line, "payload must be a table, or \"\" for an empty (POST-as-GET) payload".into()));
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
id = "R8555-7.4-01"
section = "7.4"
level = "MUST"
actor = "server"
testable = "runner"
text = "finalize before ready is refused"
"#;

    fn load(case: &str) -> Result<Catalogue, LoadError> {
        Catalogue::from_sources(&[
            ("requirements/r.toml".into(), Cow::Borrowed(REQS)),
            ("server/c.toml".into(), Cow::Borrowed(case)),
        ])
    }

    const GOOD: &str = r#"
[[case]]
id = "rfc8555/7.4/finalize-not-ready"
title = "t"
level = "MUST"
requirements = ["R8555-7.4-01"]

[[case.steps]]
action = "new-account"

[[case.steps]]
action = "finalize"
expect = { rests_on = ["R8555-7.4-01"], status = 403, problem = "orderNotReady" }
"#;

    #[test]
    fn good_case_loads() {
        let c = load(GOOD).unwrap();
        assert_eq!(c.cases.len(), 1);
        assert_eq!(c.cases[0].line, 2);
    }

    #[test]
    fn internet_draft_ids_and_documents() {
        let draft = GOOD.replace("rfc8555/7.4/finalize-not-ready", "draft-ietf-acme-profiles/4/finalize-not-ready");
        assert_eq!(load(&draft).unwrap().cases[0].def.id, "draft-ietf-acme-profiles/4/finalize-not-ready");
        for bad in ["draft-/4/x", "draft-Acme/4/x", "draft-acme-/4/x", "rfc/4/x", "draft-acme/four/x"] {
            let e = load(&GOOD.replace("rfc8555/7.4/finalize-not-ready", bad)).unwrap_err();
            assert!(e.message.contains("id must look like"), "{bad}: {e}");
        }
        let reqs = format!("document = \"draft-ietf-acme-profiles-00\"\n{REQS}");
        let c = Catalogue::from_sources(&[("requirements/r.toml".into(), Cow::Borrowed(reqs.as_str())), ("server/c.toml".into(), Cow::Borrowed(GOOD))])
            .unwrap();
        let r = &c.requirements["R8555-7.4-01"];
        assert_eq!((r.draft.as_deref(), r.document()), (Some("draft-ietf-acme-profiles-00"), "draft-ietf-acme-profiles-00".to_owned()));
        assert_eq!(load(GOOD).unwrap().requirements["R8555-7.4-01"].document(), "RFC 8555");
        let per_requirement = REQS.replace("[[requirement]]\n", "[[requirement]]\ndraft = \"x\"\n");
        let e = Catalogue::from_sources(&[("requirements/r.toml".into(), Cow::Borrowed(per_requirement.as_str()))]).unwrap_err();
        assert!(e.message.contains("draft"), "the document is the file's, not a requirement's: {e}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = load(&GOOD.replace("action = \"finalize\"", "action = \"finalise\"")).unwrap_err();
        assert_eq!(e.file, PathBuf::from("server/c.toml"));
        assert_eq!(e.line, Some(12), "the action line: {e}");
        assert!(e.message.contains("finalise"), "{e}");

        let e = load(&GOOD.replace("expect = {", "expect = { stauts = 1,")).unwrap_err();
        assert_eq!(e.line, Some(13), "the expect line: {e}");
        assert!(e.message.contains("stauts"), "{e}");

        let e = load(&GOOD.replace("action = \"finalize\"", "action = \"finalize\"\nidentifiers = []")).unwrap_err();
        assert_eq!(e.line, Some(11), "the step's header line: {e}");
        assert!(e.message.contains("`identifiers` is not used by action `finalize`"), "{e}");

        let e = load(&GOOD.replace("R8555-7.4-01\"]", "R8555-9.9-99\"]")).unwrap_err();
        assert!(e.message.contains("R8555-9.9-99 is not in the catalogue"), "{e}");

        let e = load(&GOOD.replace("[[case.steps]]\naction = \"finalize\"", "[[case.steps]]\naction = \"sleep\"\nseconds = 1\n[[case.steps]]\naction = \"fetch\"")).unwrap_err();
        assert!(e.message.contains("needs field `target`"), "{e}");

        let e = load(&format!("{GOOD}\n{GOOD}")).unwrap_err();
        assert!(e.message.contains("duplicate case id"), "{e}");

        let e = load("[[case]\nid=").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");

        let no_expect = GOOD.replace("expect = { rests_on = [\"R8555-7.4-01\"], status = 403, problem = \"orderNotReady\" }", "");
        assert!(load(&no_expect).unwrap_err().message.contains("could not fail"));
    }

    #[test]
    fn saved_bodies_must_be_saved_before_use() {
        let compare = "expect = { rests_on = [\"R8555-7.4-01\"], same_as = { \"/status\" = \"before\" } }";
        let uses_later = GOOD.replace("expect = { rests_on = [\"R8555-7.4-01\"], status = 403, problem = \"orderNotReady\" }", compare);
        let e = load(&uses_later).unwrap_err();
        assert_eq!(e.line, Some(11), "the comparing step: {e}");
        assert!(e.message.contains("no earlier step saves a body as \"before\""), "{e}");
        let saved_first = uses_later.replace("action = \"new-account\"", "action = \"new-account\"\nsave = \"before\"");
        assert!(load(&saved_first).is_ok());
        let sleep_saves = GOOD.replace("action = \"new-account\"", "action = \"sleep\"\nseconds = 0\nsave = \"x\"");
        assert!(load(&sleep_saves).unwrap_err().message.contains("no response to `save`"));
    }

    #[test]
    fn exceeding_a_rate_limit_requires_a_declared_one() {
        let exceed = GOOD.replace("action = \"finalize\"", "action = \"exceed-rate-limit\"");
        assert!(load(&exceed).unwrap_err().message.contains("requires = [\"rate-limit\"]"));
        let declared = exceed.replace("requirements = [", "requires = [\"rate-limit\"]\nrequirements = [");
        assert!(load(&declared).is_ok());
    }

    #[test]
    fn new_authz_takes_one_identifier() {
        let two = GOOD.replace("action = \"new-account\"", "action = \"new-account\"\n[[case.steps]]\naction = \"new-authz\"\nidentifiers = [\"dns:a.test\", \"dns:b.test\"]");
        assert!(load(&two).unwrap_err().message.contains("exactly one identifier"));
        let one = two.replace(", \"dns:b.test\"", "");
        assert!(load(&one).is_ok());
    }

    /// An expectation names the requirement it enforces, at that requirement's keyword.
    #[test]
    fn expectations_rest_on_requirements_of_their_level() {
        let unnamed = GOOD.replace("rests_on = [\"R8555-7.4-01\"], ", "");
        assert!(load(&unnamed).unwrap_err().message.contains("names the requirements it rests on"));
        let should_on_must = GOOD.replace("expect = { rests_on", "should = { rests_on");
        let e = load(&should_on_must).unwrap_err();
        assert!(e.message.contains("a MUST requirement, in a table judged at SHOULD level"), "{e}");
        let uncited = GOOD.replace("rests_on = [\"R8555-7.4-01\"]", "rests_on = [\"R8555-7.4-02\"]");
        assert!(load(&uncited).unwrap_err().message.contains("do not list"));
    }
}
