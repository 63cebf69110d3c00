//! The runner: replays the catalogue against a server and gives every case a verdict.

pub mod cli;
mod audit;
mod capabilities;
mod eab;
mod exec;
mod expect;
mod plan;
mod preflight;
mod rfc2136;
mod solver;
mod validation;
mod verdict;

pub use capabilities::{
    Capabilities, MAX_RATE_LIMIT_REQUESTS, PROFILE_WITHDRAWAL, ProfilePolicy, RateLimit, RateLimitedEndpoint, TOS_CHANGE, Trigger,
};
pub use eab::EabCredentials;
pub use expect::{Mismatch, problem_urn};
pub use plan::Plan;
pub use preflight::PreflightFailure;
pub use rfc2136::{Rfc2136, TsigKey};
pub use solver::{DEFAULT_SOLVER_TIMEOUT, ExternalSolver, Solvers};
pub use verdict::{CaseResult, Summary, Verdict};

use crate::protocol::http::{ClientOptions, HttpClient};
use crate::protocol::wire::Directory;
use crate::responders::Responders;
use crate::scenario::{Action, Case, Catalogue, Feature, Level, StatusSet};
use std::collections::BTreeMap;
use exec::{CaseRun, Env, StepError};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The directory URL of the server under test.
    pub directory_url: String,
    /// HTTP client settings (trusted roots, timeouts, body limit).
    pub client: ClientOptions,
    /// Only cases whose id matches this glob.
    pub filter: Option<String>,
    /// Parent domain of generated test names (`<random>.<suffix>`).
    pub domain_suffix: String,
    /// Upper bound on one case.
    pub case_timeout: Duration,
    /// Cases in flight at once (1: one after another). Each case has its own accounts,
    /// names and HTTP client, so independent cases overlap safely.
    pub concurrency: usize,
    /// External account binding credentials; with them every new account is bound.
    pub eab: Option<EabCredentials>,
    /// What the server declares it offers (`--capabilities FILE`).
    pub capabilities: Capabilities,
    /// Contact URLs (`--contact`) every account of the run carries, unless a case sets
    /// its own: a CA may refuse accounts without one.
    pub contacts: Vec<String>,
    /// Refuse a run whose cases could create more orders than this (`--max-orders`):
    /// a shared staging CA's limits are other people's too.
    pub max_orders: Option<usize>,
    /// How long a request answered 429 may wait for its Retry-After before the case is
    /// `error` with the server's rate-limit detail (`--max-wait`).
    pub max_wait: Duration,
    /// External solvers for challenge types the runner's responders cannot answer.
    pub solvers: Solvers,
}

impl RunOptions {
    /// Options for `directory_url` with defaults for everything else.
    pub fn new(directory_url: impl Into<String>) -> Self {
        RunOptions {
            directory_url: directory_url.into(),
            client: ClientOptions::default(),
            filter: None,
            domain_suffix: "acmespec.test".into(),
            case_timeout: Duration::from_secs(120),
            concurrency: 8,
            eab: None,
            capabilities: Capabilities::default(),
            contacts: Vec::new(),
            max_orders: None,
            max_wait: DEFAULT_MAX_WAIT,
            solvers: Solvers::default(),
        }
    }
}

/// The default `--max-wait`: RFC 8555 §6.6 leaves Retry-After to the server, and a case
/// has its own timeout (two minutes by default) to spend.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

/// A run's results with what was tested and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Always `acmespec`.
    pub tool: String,
    /// acmespec's version.
    pub version: String,
    /// The directory URL tested.
    pub directory_url: String,
    /// The server's `Server` header on the directory, if any.
    #[serde(default)]
    pub server_header: Option<String>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time (absent while running).
    #[serde(default)]
    pub finished_at: Option<String>,
    /// False while running or when the run was interrupted.
    pub complete: bool,
    /// Verdict counts.
    pub summary: Summary,
    /// One entry per case run, in catalogue order.
    pub cases: Vec<CaseResult>,
    /// Set when the report grades a client (`acmespec clients`) instead of a server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientSubject>,
    /// Which path answered each challenge type, when an external solver answered some
    /// (`http-01: webroot /var/www`); empty when the runner's responders answered all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_paths: Vec<String>,
}

/// The client a client report grades, as its header names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSubject {
    /// The adapter's client name.
    pub name: String,
    /// What the client's version command printed.
    pub version: Option<String>,
    /// The adapter file.
    pub adapter: String,
    /// The run's seed.
    pub seed: u64,
}

impl RunReport {
    /// Brings this copy up to date with a later state of the same run. Cases are only
    /// ever appended, so only the new ones are copied: a caller keeping the latest
    /// report after every case does not copy the whole run each time.
    pub fn catch_up(&mut self, later: &RunReport) {
        if self.started_at != later.started_at || self.cases.len() > later.cases.len() {
            *self = later.clone();
            return;
        }
        let mut cases = std::mem::take(&mut self.cases);
        cases.extend_from_slice(&later.cases[cases.len()..]);
        *self = RunReport { cases, ..later.head() };
    }

    /// This report without its cases: what describes the run as a whole.
    pub fn head(&self) -> RunReport {
        let RunReport {
            tool,
            version,
            directory_url,
            server_header,
            started_at,
            finished_at,
            complete,
            summary,
            cases: _,
            client,
            validation_paths,
        } = self;
        RunReport {
            tool: tool.clone(),
            version: version.clone(),
            directory_url: directory_url.clone(),
            server_header: server_header.clone(),
            started_at: started_at.clone(),
            finished_at: finished_at.clone(),
            complete: *complete,
            summary: *summary,
            cases: Vec::new(),
            client: client.clone(),
            validation_paths: validation_paths.clone(),
        }
    }
}

/// Results made up by unit tests of what reads reports (streams, diffs, expectations).
#[cfg(test)]
impl RunReport {
    pub(crate) fn of_cases(cases: Vec<CaseResult>, complete: bool) -> RunReport {
        RunReport {
            tool: "acmespec".into(),
            version: "0".into(),
            directory_url: "https://ca.example/dir".into(),
            server_header: None,
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: complete.then(|| "2026-01-01T00:00:01Z".into()),
            complete,
            summary: Summary::of(&cases),
            cases,
            client: None,
            validation_paths: Vec::new(),
        }
    }
}

#[cfg(test)]
impl CaseResult {
    pub(crate) fn bare(id: &str, verdict: Verdict, observed: Option<&str>) -> CaseResult {
        CaseResult {
            id: id.into(),
            title: String::new(),
            verdict,
            level: crate::scenario::Level::Must,
            requirements: Vec::new(),
            duration_ms: 0,
            source: String::new(),
            requests: 0,
            expected: None,
            observed: observed.map(str::to_owned),
            step: None,
            blocked_by: None,
            transcript: None,
        }
    }
}

/// The current time in RFC 3339, as reports carry it.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Why the run could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The filter is not a valid glob.
    #[error("invalid --filter pattern: {0}")]
    BadFilter(String),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(String),
    /// What every case needs (directory, nonce, an account with the run's settings)
    /// does not work; the failure says what was sent, what came back and what fixes it.
    #[error("{0}")]
    Preflight(PreflightFailure),
    /// The selected cases could create more orders than `--max-orders` allows.
    #[error("the run could create {planned} orders, more than --max-orders {max}: select fewer cases with --filter, or raise the limit")]
    OverBudget {
        /// Orders the selected cases could create.
        planned: usize,
        /// The limit.
        max: usize,
    },
}

/// What the cases `options` select would create (see [`Plan`]); an error when they could
/// create more orders than `options.max_orders`. Sends nothing.
pub fn plan(catalogue: &Catalogue, options: &RunOptions) -> Result<Plan, SetupError> {
    let cases = select(catalogue, options.filter.as_deref())?;
    let plan = Plan::of(&cases, &options.capabilities);
    match options.max_orders {
        Some(max) if plan.orders > max => Err(SetupError::OverBudget { planned: plan.orders, max }),
        _ => Ok(plan),
    }
}

/// Why a case needing `f` cannot run here, or `None` when it can (or when only the
/// case itself can find out, e.g. whether a challenge type is offered).
fn unmet_feature(env: &Env, f: Feature) -> Option<String> {
    let name = serde_json::to_string(&f).unwrap_or_default();
    if f == Feature::Eab && env.eab.is_none() {
        return Some(format!("{name} needs EAB credentials (--eab KID:BASE64URL_KEY)"));
    }
    let offered = match env.capabilities.declared(f) {
        Some(declared) => Some(declared),
        None => feature_offered(&env.directory, f),
    };
    (offered == Some(false)).then(|| format!("the server does not offer {name}"))
}

/// What the directory says about `f`; features it cannot tell are policy a capabilities
/// file must declare, so they count as not offered.
fn feature_offered(dir: &Directory, f: Feature) -> Option<bool> {
    Some(match f {
        Feature::KeyChange => dir.key_change.is_some(),
        Feature::RevokeCert => dir.revoke_cert.is_some(),
        Feature::RenewalInfo => dir.renewal_info.is_some(),
        Feature::NewAuthz => dir.new_authz.is_some(),
        Feature::TermsOfService => dir.meta.as_ref().is_some_and(|m| m.terms_of_service.is_some()),
        Feature::EabRequired => dir.meta.as_ref().is_some_and(|m| m.external_account_required == Some(true)),
        // Credentials (checked before) say the server verifies bindings.
        Feature::Eab => true,
        Feature::Profiles => dir.meta.as_ref().is_some_and(|m| m.profiles.is_some()),
        Feature::TermsRequired
        | Feature::TosChange
        | Feature::RateLimit
        | Feature::ContactRequired
        | Feature::ProfileDnsOnly
        | Feature::ProfileWithdrawal => false,
        Feature::Http01 | Feature::Dns01 | Feature::TlsAlpn01 | Feature::Wildcard | Feature::IpIdentifiers => {
            return None;
        }
    })
}

/// Selects the cases a filter matches.
pub fn select<'a>(catalogue: &'a Catalogue, filter: Option<&str>) -> Result<Vec<&'a Case>, SetupError> {
    let pattern = filter
        .map(glob::Pattern::new)
        .transpose()
        .map_err(|e| SetupError::BadFilter(e.to_string()))?;
    Ok(catalogue.cases.iter().filter(|c| pattern.as_ref().is_none_or(|p| p.matches(&c.def.id))).collect())
}

struct Outcome {
    verdict: Verdict,
    expected: Option<String>,
    observed: Option<String>,
    step: Option<usize>,
    blocked_by: Option<String>,
}

impl Outcome {
    fn pass() -> Self {
        Outcome { verdict: Verdict::Pass, expected: None, observed: None, step: None, blocked_by: None }
    }
    fn with(verdict: Verdict, expected: Option<String>, observed: String, step: Option<usize>) -> Self {
        Outcome { verdict, expected, observed: Some(observed), step, blocked_by: None }
    }
    fn from_mismatches(verdict: Verdict, m: &[Mismatch], step: usize) -> Self {
        let expected = m.iter().map(|m| m.expected.as_str()).collect::<Vec<_>>().join("; ");
        let observed = m.iter().map(|m| m.observed.as_str()).collect::<Vec<_>>().join("; ");
        Outcome { verdict, expected: Some(expected), observed: Some(observed), step: Some(step), blocked_by: None }
    }
    /// Step `n`, of kind `key`, broke before its expectations could be checked: the
    /// case fails if it is the one that judges such steps (or, for a step with
    /// expectations, if no case does); otherwise it is blocked by that case.
    fn broken(case: &Case, (key, checked): (&str, bool), m: &[Mismatch], n: usize, judges: &BTreeMap<String, String>) -> Self {
        let by = judge_of(judges, key);
        let judged_here = match by {
            Some(judge) => *judge == case.def.id,
            None => checked,
        };
        if judged_here {
            return Outcome::from_mismatches(level_verdict(case.def.level), m, n);
        }
        let judge = by.map(|j| format!("; {j} judges it")).unwrap_or_default();
        let mut outcome = Outcome::from_mismatches(Verdict::Blocked, m, n);
        outcome.expected = Some(format!("step {n} ({key}) to succeed{judge}: {}", outcome.expected.unwrap_or_default()));
        outcome.blocked_by = by.cloned();
        outcome
    }
}

/// The case that judges steps of kind `key`; an IP-address variant (`solve:http-01:ipv6`)
/// without a judge of its own falls back to the kind's.
fn judge_of<'j>(judges: &'j BTreeMap<String, String>, key: &str) -> Option<&'j String> {
    judges.get(key).or_else(|| key.rsplit_once(":ip").and_then(|(base, _)| judges.get(base)))
}

/// Why a case cannot run when an external solver answers the challenges it uses: it
/// judges what the CA's validation requests looked like (`validation` expectations,
/// waiting for validation queries, responses served in a particular way), which only
/// the runner's responders see.
fn hidden_validation(case: &Case, solvers: &Solvers) -> Option<String> {
    use crate::scenario::Provision;
    let steps = || case.def.steps.iter().map(|s| s.get_ref());
    let observes = steps().any(|s| {
        let tables = [&s.expect, &s.should];
        s.action == Action::AwaitValidation
            || matches!(s.provision, Some(Provision::Variant(_)))
            || tables.iter().filter_map(|t| t.as_ref()).any(|t| t.validation.is_some() || t.if_status.values().any(|n| n.validation.is_some()))
    });
    if !observes || judges_unobserved(case, solvers) {
        return None;
    }
    steps().filter_map(|s| s.challenge.as_deref()).find_map(|kind| solvers.hides(kind))
}

/// Whether the case judges solving a challenge type an external solver answers: it still
/// runs (the issuance is its subject and other cases depend on its verdict), with its
/// `validation` expectations, which nothing could satisfy, left out.
fn judges_unobserved(case: &Case, solvers: &Solvers) -> bool {
    case.def.judges.iter().any(|key| key.strip_prefix("solve:").is_some_and(|kind| solvers.for_kind(kind).is_some()))
}

/// Kinds of step that create what a case works on; see [`execute_steps`].
const CREATING_STEPS: &[&str] = &["new-account", "new-order", "new-authz", "finalize", "download-certificate"];

/// The `expected` text of an `unsupported` verdict.
const OFFERED: &str = "the optional feature this case needs";
/// The `expected` text of an `error` verdict.
const COMPLETED: &str = "a complete exchange the harness can judge";

fn level_verdict(level: Level) -> Verdict {
    match level {
        Level::Must => Verdict::Fail,
        Level::Should => Verdict::NonStrict,
        Level::May => Verdict::Unsupported,
    }
}

/// Runs the case's steps; a verdict that is no pass also says what the responders saw of
/// the case's challenges (the validation requests behind it, or their absence).
async fn execute(env: &Env, case: &Case, judges: &BTreeMap<String, String>) -> Outcome {
    let mut run = CaseRun::new(env, &case.def.requires);
    run.unobserved = judges_unobserved(case, &env.solvers);
    let mut outcome = execute_steps(&mut run, case, judges).await;
    if !matches!(outcome.verdict, Verdict::Pass | Verdict::Unsupported) {
        let seen = run.responders_saw();
        if !seen.is_empty()
            && let Some(observed) = outcome.observed.as_mut()
        {
            *observed += &format!("; the responders saw: {}", seen.join("; "));
        }
    }
    outcome
}

async fn execute_steps(run: &mut CaseRun<'_>, case: &Case, judges: &BTreeMap<String, String>) -> Outcome {
    let mut should_miss: Option<Outcome> = None;
    for (i, spanned) in case.def.steps.iter().enumerate() {
        let step = spanned.get_ref();
        let n = i + 1;
        let resp = match run.run_step(step).await {
            Ok(resp) => resp,
            // The step broke before its expectations could be checked (a setup step, or a
            // solve that never validated): judged by the case that tests such steps.
            Err(StepError::Fail(m)) => {
                return Outcome::broken(case, (&run.setup_key(step), step.is_checked()), &m, n, judges);
            }
            // A challenge turned valid with no validation request to show for it.
            Err(StepError::Unproven { key, mismatch }) => {
                return Outcome::broken(case, (&key, true), std::slice::from_ref(&mismatch), n, judges);
            }
            Err(StepError::Unsupported(why)) => {
                return Outcome::with(Verdict::Unsupported, Some(OFFERED.into()), why, Some(n));
            }
            Err(StepError::Error(why)) => return Outcome::with(Verdict::Error, Some(COMPLETED.into()), why, Some(n)),
        };
        let (must, should) = run.check(step, resp.as_ref());
        if !must.is_empty() {
            // An ordinary step that creates what the case works on (an account, an order,
            // a certificate), with expectations that presuppose it succeeded, answered
            // with an error: the step broke as a setup step does, and the case that judges
            // its kind says whether the server is at fault. (Lookups, updates and steps
            // with inputs of their own are left out: their success is often the very
            // thing a case checks.)
            let key = run.setup_key(step);
            let creates = CREATING_STEPS.contains(&key.as_str()) && step.is_ordinary();
            let asks_success = step.expect.as_ref().and_then(|e| e.status.as_ref()).is_some_and(StatusSet::only_success);
            if creates && asks_success && resp.as_ref().is_some_and(|r| r.status >= 400) {
                return Outcome::broken(case, (&key, true), &must, n, judges);
            }
            return Outcome::from_mismatches(level_verdict(case.def.level), &must, n);
        }
        if !should.is_empty() && should_miss.is_none() {
            should_miss = Some(Outcome::from_mismatches(Verdict::NonStrict, &should, n));
        }
    }
    should_miss.unwrap_or_else(Outcome::pass)
}

/// Whether a case orders certificates for IP addresses: every such case validates the
/// same loopback addresses, so the same reverse names and responder certificates.
fn uses_ip_identifiers(case: &Case) -> bool {
    case.def.steps.iter().any(|s| s.get_ref().identifiers.iter().flatten().any(|i| i.starts_with("ip:")))
}

/// One case with a client session of its own, so nonces and transcripts never mix
/// between cases running at the same time; cases with ip identifiers take turns.
async fn run_case(
    env: &Env,
    options: &RunOptions,
    (case, judges): (&Case, &BTreeMap<String, String>),
    ip_turn: &tokio::sync::Mutex<()>,
) -> CaseResult {
    let started = Instant::now();
    let mut env = env.clone();
    env.client = env.client.session();
    let _turn = if uses_ip_identifiers(case) { Some(ip_turn.lock().await) } else { None };
    let unmet = case.def.requires.iter().find_map(|f| unmet_feature(&env, *f)).or_else(|| hidden_validation(case, &env.solvers));
    let outcome = match unmet {
        Some(why) => Outcome::with(Verdict::Unsupported, Some(OFFERED.into()), why, None),
        None => match tokio::time::timeout(options.case_timeout, execute(&env, case, judges)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::with(
                Verdict::Error,
                Some(COMPLETED.into()),
                format!("the case did not finish within {}s", options.case_timeout.as_secs()),
                None,
            ),
        },
    };
    let transcript = env.client.take_transcript();
    if let Some(audit) = &env.audit {
        audit.absorb(&case.def.id, &transcript);
    }
    let mut result = result_of(case, outcome, started.elapsed().as_millis() as u64);
    result.requests = transcript.len();
    if result.verdict != Verdict::Pass {
        result.transcript = Some(transcript.decode());
    }
    result
}

/// Runs the selected cases, up to `concurrency` at once, calling `on_result` in catalogue
/// order as each finishes (so a caller can stream results to disk; cases with an
/// `audit-run` step come last) and returning the full report. Before the first case the
/// preflight tries what every case needs; when that fails, no case runs
/// ([`SetupError::Preflight`]).
pub async fn run(
    catalogue: &Catalogue,
    options: &RunOptions,
    responders: &Responders,
    mut on_result: impl FnMut(&RunReport),
) -> Result<RunReport, SetupError> {
    plan(catalogue, options)?;
    let cases = select(catalogue, options.filter.as_deref())?;
    let client = HttpClient::new(options.client.clone()).map_err(|e| SetupError::Client(e.to_string()))?;
    let mut report = RunReport {
        tool: "acmespec".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        directory_url: options.directory_url.clone(),
        server_header: None,
        started_at: now(),
        finished_at: None,
        complete: false,
        summary: Summary::default(),
        cases: Vec::new(),
        client: None,
        validation_paths: if options.solvers == Solvers::default() { Vec::new() } else { options.solvers.paths() },
    };
    let (directory, server) = preflight::discover(&client, &options.directory_url).await.map_err(SetupError::Preflight)?;
    report.server_header = server;
    // Cases that audit every answer of the run go last, when there is a run to audit;
    // without one, no answer needs reading.
    let (auditing, others): (Vec<&Case>, Vec<&Case>) =
        cases.iter().partition(|c| c.def.steps.iter().any(|s| s.get_ref().action == Action::AuditRun));
    let env = Env {
        client,
        directory_url: options.directory_url.clone(),
        directory,
        responders: responders.clone(),
        domain_suffix: options.domain_suffix.clone(),
        eab: options.eab.clone(),
        capabilities: options.capabilities.clone(),
        contacts: options.contacts.clone(),
        max_wait: options.max_wait,
        solvers: options.solvers.clone(),
        audit: (!auditing.is_empty()).then(|| std::sync::Arc::new(audit::RunAudit::new(&options.directory_url))),
    };
    preflight::check(&env).await.map_err(SetupError::Preflight)?;
    let ip_turn = tokio::sync::Mutex::new(());
    // A slow case must not hold back the others, so cases finish in any order;
    // results are still reported in catalogue order (the auditing cases after the
    // rest), each as soon as every case before it has finished.
    let mut results = futures_util::stream::iter(others.iter().enumerate())
        .map(|(i, case)| {
            let (env, ip_turn) = (&env, &ip_turn);
            async move { (i, run_case(env, options, (case, &catalogue.judges), ip_turn).await) }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut finished = std::collections::BTreeMap::new();
    let mut emit = |report: &mut RunReport, result: CaseResult| {
        report.cases.push(result);
        report.summary = Summary::of(&report.cases);
        on_result(report);
    };
    while let Some((i, result)) = results.next().await {
        finished.insert(i, result);
        while let Some(result) = finished.remove(&report.cases.len()) {
            emit(&mut report, result);
        }
    }
    for case in auditing {
        let result = run_case(&env, options, (case, &catalogue.judges), &ip_turn).await;
        emit(&mut report, result);
    }
    report.summary = Summary::of(&report.cases);
    report.finished_at = Some(now());
    report.complete = true;
    on_result(&report);
    Ok(report)
}

fn result_of(case: &Case, o: Outcome, duration_ms: u64) -> CaseResult {
    CaseResult {
        id: case.def.id.clone(),
        title: case.def.title.clone(),
        verdict: o.verdict,
        level: case.def.level,
        requirements: case.def.requirements.clone(),
        duration_ms,
        source: format!("{}:{}", case.file.display(), case.line),
        requests: 0,
        expected: o.expected,
        observed: o.observed,
        step: o.step,
        blocked_by: o.blocked_by,
        transcript: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_report_catches_up_with_appended_cases_and_is_replaced_by_another_run() {
        let (a, b) = (CaseResult::bare("a", Verdict::Pass, None), CaseResult::bare("b", Verdict::Fail, Some("x")));
        let mut kept = RunReport::of_cases(vec![a.clone()], false);
        let later = RunReport::of_cases(vec![a, b], true);
        kept.catch_up(&later);
        let json = |r: &RunReport| serde_json::to_value(r).unwrap();
        assert_eq!(json(&kept), json(&later));
        let mut other = RunReport::of_cases(Vec::new(), false);
        other.started_at = "2026-02-02T00:00:00Z".into();
        kept.catch_up(&other);
        assert_eq!(json(&kept), json(&other));
    }
}
