//! Running real clients through the client scenarios: a fresh mock CA per scenario
//! with that scenario's fault script, the client driven through its adapter under a
//! bounded time, and the mock CA's journal graded by the client checks.
//!
//! The report speaks the vocabulary of `acmespec run` (the same [`Verdict`]s,
//! [`Summary`] and [`CaseResult`] fields), plus per scenario the checks' results,
//! the faults that fired, the seed, and the tail of the client's output.

mod commands;
mod verdict;

use commands::run_sequence;
use verdict::{Judged, fault_endpoints_unused, harness_error, journal_lines, judge, last_line, operation_unseen, result};

use crate::clients::adapter::{Adapter, AdapterOp, Bindings, CommandSpec, SYSTEM_BUNDLE, Trust, dns_hook_script, http_hook_script};
use crate::responders::Http01Responder;
use crate::clients::checks::{ChainPreference, CheckResult, CheckVerdict, GradeContext, ProfileContext, all_checks, grade};
use crate::protocol::wire::ChallengeType;
use crate::clients::scenario::{ClientCatalogue, ClientScenario, ExpectedOutcome, Operation};
use crate::mockca::{Endpoint, Entry, MockCa, MockCaConfig};
use crate::runner::{CaseResult, ClientSubject, RunReport, Summary, Verdict};
use crate::scenario::Level;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long one client command may run before its process group is killed.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// How a client run is set up.
#[derive(Debug, Clone)]
pub struct ClientRunOptions {
    /// Only scenarios whose id matches this glob.
    pub filter: Option<String>,
    /// The run's seed, used by every scenario that does not pin its own.
    pub seed: u64,
    /// Upper bound on each client command.
    pub command_timeout: Duration,
    /// Keep each scenario's work directory under this directory (`NN-slug/`); without
    /// it, temporary directories are used and removed.
    pub workdir: Option<PathBuf>,
    /// Parent domain of the names ordered.
    pub domain_suffix: String,
    /// Lines of the client's stdout and stderr kept per command.
    pub tail_lines: usize,
}

impl ClientRunOptions {
    /// Defaults with the given run seed.
    pub fn new(seed: u64) -> Self {
        ClientRunOptions {
            filter: None,
            seed,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            workdir: None,
            domain_suffix: "acmespec.test".into(),
            tail_lines: 40,
        }
    }
}

/// A fresh random seed for a run that was given none.
pub fn random_seed() -> u64 {
    // Keep seeds short enough to type back in.
    crate::protocol::random::u64() % 1_000_000_000
}

/// How the client's commands ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Every command exited 0.
    Success,
    /// A command exited non-zero (not 127).
    Failure,
    /// A command exited 127, or the adapter has no template for it.
    Unsupported,
    /// A command did not finish in time and was killed.
    Timeout,
    /// A command was killed by a signal it did not get from us.
    Crashed,
    /// A command could not be started (program missing, ...).
    NotStarted,
}

/// Why a scenario got `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCause {
    /// The harness could not set the scenario up (mock CA, files, spawning the client).
    Harness,
    /// The client hung or crashed.
    Client,
    /// The client never reached the situation the scenario is about: a focus check
    /// was not applicable.
    NotReached,
    /// The adapter does not fit the client: the client never reached the mock CA, or
    /// wrote its token files outside the webroot the harness serves.
    Adapter,
}

/// One client command as it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandRun {
    /// The operation.
    pub operation: String,
    /// The command line.
    pub argv: Vec<String>,
    /// Exit status, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// It ran out of time and its process group was killed.
    #[serde(default)]
    pub timed_out: bool,
    /// Why it could not be started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_error: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// The last lines of its stdout.
    pub stdout_tail: String,
    /// The last lines of its stderr.
    pub stderr_tail: String,
}

impl CommandRun {
    /// A command that has not run yet.
    fn new(spec: &CommandSpec) -> Self {
        CommandRun {
            operation: spec.op.name().into(),
            argv: spec.argv.clone(),
            exit_code: None,
            signal: None,
            timed_out: false,
            spawn_error: None,
            duration_ms: 0,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
        }
    }
}

/// A fault that fired, from the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredFault {
    /// Journal position.
    pub seq: usize,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The request's number at that endpoint.
    pub nth: u32,
    /// The fault.
    pub fault: String,
}

/// The result of one client scenario: the fields of a server case plus the client's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientCaseResult {
    /// Id, title, verdict, level, requirements, duration, source, expected, observed.
    #[serde(flatten)]
    pub case: CaseResult,
    /// The seed the mock CA's randomised faults used.
    pub seed: u64,
    /// What the client was asked to do.
    pub operation: Operation,
    /// The challenge type.
    pub challenge: ChallengeType,
    /// The names ordered.
    pub identifiers: Vec<String>,
    /// How the run should have ended.
    pub expect_outcome: ExpectedOutcome,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    /// For `error`: whose fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_cause: Option<ErrorCause>,
    /// The check ids the scenario is about.
    pub focus_checks: Vec<String>,
    /// Every check's result on this run.
    pub checks: Vec<CheckResult>,
    /// The faults that fired, in order.
    pub faults_fired: Vec<FiredFault>,
    /// The client commands, in order.
    pub commands: Vec<CommandRun>,
    /// For non-pass verdicts: one line per request the mock CA saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<Vec<String>>,
}

/// A client run: which client, which seed, and every scenario's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientsReport {
    /// Always `acmespec`.
    pub tool: String,
    /// acmespec's version.
    pub version: String,
    /// The adapter's client name.
    pub client: String,
    /// What the client's version command printed (first line).
    #[serde(default)]
    pub client_version: Option<String>,
    /// The adapter file.
    pub adapter: String,
    /// The run's seed (scenarios with a `seed` of their own use that one).
    pub seed: u64,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time (absent while running).
    #[serde(default)]
    pub finished_at: Option<String>,
    /// False while running or when the run was interrupted.
    pub complete: bool,
    /// Verdict counts.
    pub summary: Summary,
    /// One entry per scenario run, in catalogue order.
    pub cases: Vec<ClientCaseResult>,
}

impl ClientsReport {
    /// The report as `acmespec run` writes it (for JUnit): one case per scenario, with
    /// the client's output tail in `observed` for non-pass verdicts.
    pub fn to_run_report(&self) -> RunReport {
        RunReport {
            tool: self.tool.clone(),
            version: self.version.clone(),
            directory_url: format!("client {}", self.client),
            server_header: None,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            complete: self.complete,
            summary: self.summary,
            cases: self
                .cases
                .iter()
                .map(|c| {
                    let mut case = c.case.clone();
                    if case.verdict != Verdict::Pass
                        && let Some(cmd) = c.commands.last()
                    {
                        let observed = case.observed.take().unwrap_or_default();
                        case.observed = Some(format!(
                            "{observed}\nseed {}\n--- {} stdout (tail) ---\n{}\n--- {} stderr (tail) ---\n{}",
                            c.seed, cmd.operation, cmd.stdout_tail, cmd.operation, cmd.stderr_tail
                        ));
                    }
                    case
                })
                .collect(),
            client: Some(ClientSubject {
                name: self.client.clone(),
                version: self.client_version.clone(),
                adapter: self.adapter.clone(),
                seed: self.seed,
            }),
            validation_paths: Vec::new(),
        }
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Writes the JSON report atomically (like `acmespec run`'s).
pub fn write_json(path: &Path, report: &ClientsReport) -> std::io::Result<()> {
    crate::report::write_json(path, report)
}

/// Writes the JUnit report (one test case per scenario).
pub fn write_junit(path: &Path, report: &ClientsReport) -> std::io::Result<()> {
    crate::report::write_junit(path, &report.to_run_report())
}

/// Runs the version command of an adapter (10 s at most); the first line it printed.
pub async fn client_version(adapter: &Adapter) -> Option<String> {
    let argv = adapter.version_command();
    let mut cmd = tokio::process::Command::new(argv.first()?);
    cmd.args(&argv[1..]).stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.output()).await.ok()?.ok()?;
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

/// Runs every selected scenario one after the other, calling `on_result` after each
/// (so the caller can stream the report to disk), and returns the full report.
pub async fn run_clients(
    catalogue: &ClientCatalogue,
    adapter: &Adapter,
    options: &ClientRunOptions,
    mut on_result: impl FnMut(&ClientsReport),
) -> Result<ClientsReport, String> {
    let scenarios = catalogue.select(options.filter.as_deref())?;
    let mut report = ClientsReport {
        tool: "acmespec".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        client: adapter.name.clone(),
        client_version: client_version(adapter).await,
        adapter: adapter.file.display().to_string(),
        seed: options.seed,
        started_at: now(),
        finished_at: None,
        complete: false,
        summary: Summary::default(),
        cases: Vec::new(),
    };
    for (i, scenario) in scenarios.into_iter().enumerate() {
        let result = run_scenario(adapter, scenario, options, i + 1).await;
        report.cases.push(result);
        report.summary = Summary::of(report.cases.iter().map(|c| &c.case));
        on_result(&report);
    }
    report.finished_at = Some(now());
    report.complete = true;
    on_result(&report);
    Ok(report)
}

/// A work directory: kept under the caller's directory, or temporary.
pub(crate) enum WorkDir {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl WorkDir {
    /// A fresh `base/name` (emptied if it was there), or a temporary directory without
    /// `base`; the error says which could not be made.
    pub(crate) fn create(base: Option<&Path>, name: &str) -> Result<WorkDir, String> {
        match base {
            Some(base) => {
                let dir = base.join(name);
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(WorkDir::Kept(dir))
            }
            None => tempfile::Builder::new()
                .prefix("acmespec-client-")
                .tempdir()
                .map(WorkDir::Temp)
                .map_err(|e| format!("cannot create a work directory: {e}")),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(p) => p,
            WorkDir::Temp(t) => t.path(),
        }
    }
}

fn slug(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// One SplitMix64 draw from state `z`, for names derived from the seed.
fn mix(z: u64) -> u64 {
    crate::seeded::SplitMix64::new(z).next_u64()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The names of a scenario: `{name}` → `<slug>-<6 hex>.<suffix>`, derived from the
/// scenario id and the seed so that a replay orders the same names.
fn resolve_identifiers(scenario: &ClientScenario, seed: u64, suffix: &str) -> Vec<String> {
    let mut label: String = slug(&scenario.def.id).chars().take(40).collect();
    while label.ends_with('-') {
        label.pop();
    }
    let base = mix(seed ^ fnv(&scenario.def.id));
    scenario
        .def
        .identifiers
        .iter()
        .map(|ident| {
            let (wild, placeholder) = match ident.strip_prefix("*.") {
                Some(p) => ("*.", p),
                None => ("", ident.as_str()),
            };
            let k = match placeholder {
                "{name2}" => 2,
                "{name3}" => 3,
                _ => 1,
            };
            format!("{wild}{label}-{:06x}.{suffix}", mix(base.wrapping_add(k)) & 0xff_ffff)
        })
        .collect()
}

/// The webroot the harness serves over http-01 for clients that write token files.
struct Webroot {
    /// Where the CA's validation requests arrive (`{http_port}` on 127.0.0.1).
    addr: SocketAddr,
    /// The directory (`{webroot}`).
    root: PathBuf,
}

/// The issuer CN of the last (topmost) certificate of a PEM chain file.
fn top_issuer(path: &Path) -> Option<String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path).ok()?;
    let top = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).last()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&top).ok()?;
    cert.issuer().iter_common_name().next()?.as_str().ok().map(str::to_owned)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Two ports for the client's challenge servers, held (bound) until dropped: a CA's own
/// listeners, which take ephemeral ports, start meanwhile without getting one of them.
pub(crate) struct ReservedPorts {
    pub(crate) http: u16,
    pub(crate) tls: u16,
    _held: (std::net::TcpListener, std::net::TcpListener),
}

pub(crate) fn reserve_challenge_ports() -> std::io::Result<ReservedPorts> {
    let (http, tls) = (std::net::TcpListener::bind(loopback(0))?, std::net::TcpListener::bind(loopback(0))?);
    Ok(ReservedPorts { http: http.local_addr()?.port(), tls: tls.local_addr()?.port(), _held: (http, tls) })
}

/// What a server under test offers a client's commands: where it is, the root its
/// HTTPS chains to, where it validates (the client's challenge ports on 127.0.0.1), and
/// the DNS server and challtestsrv-compatible management API that `{dns_hook}` feeds.
#[derive(Debug, Clone)]
pub(crate) struct ServerSide {
    pub(crate) directory: String,
    pub(crate) ca_root_pem: String,
    pub(crate) http_port: u16,
    pub(crate) tls_port: u16,
    pub(crate) dns_server: SocketAddr,
    pub(crate) management: String,
}

/// A client's work directory made ready for its commands: the CA root, the hooks, the
/// webroot, and for `trust = "system-bundle"` the bundle that stands in for the system's.
pub(crate) struct ClientWorkspace {
    dir: PathBuf,
    ca_bundle: PathBuf,
    dns_hook: PathBuf,
    http_hook: PathBuf,
    webroot: PathBuf,
    system_bundle: Option<PathBuf>,
}

impl ClientWorkspace {
    /// Writes the files into `dir`.
    pub(crate) fn prepare(dir: &Path, adapter: &Adapter, server: &ServerSide) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let w = ClientWorkspace {
            dir: dir.to_owned(),
            ca_bundle: dir.join("ca.pem"),
            dns_hook: dir.join("dns-hook.sh"),
            http_hook: dir.join("http-hook.sh"),
            webroot: dir.join("webroot"),
            system_bundle: (adapter.trust == Trust::SystemBundle).then(|| dir.join("system-bundle.pem")),
        };
        std::fs::write(&w.ca_bundle, &server.ca_root_pem)?;
        std::fs::create_dir_all(w.webroot.join(".well-known/acme-challenge"))?;
        let http_script = http_hook_script(&w.webroot.display().to_string());
        for (path, script) in [(&w.dns_hook, dns_hook_script(&server.management)), (&w.http_hook, http_script)] {
            std::fs::write(path, script)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
        }
        if let Some(bundle) = &w.system_bundle {
            let system = std::fs::read(SYSTEM_BUNDLE).unwrap_or_default();
            std::fs::write(bundle, [system, b"\n".to_vec(), server.ca_root_pem.as_bytes().to_vec()].concat())?;
        }
        Ok(w)
    }

    /// The placeholders' values for ordering `domains` from `server` (no EAB, no chain).
    pub(crate) fn bindings(&self, adapter: &Adapter, server: &ServerSide, domains: Vec<String>) -> Bindings {
        Bindings {
            directory: server.directory.clone(),
            ca_bundle: self.ca_bundle.display().to_string(),
            domains,
            http_port: server.http_port,
            tls_port: server.tls_port,
            workdir: self.dir.display().to_string(),
            webroot: self.webroot.display().to_string(),
            http_hook: self.http_hook.display().to_string(),
            adapter_dir: adapter.dir().display().to_string(),
            system_bundle: self.system_bundle.as_ref().map(|b| b.display().to_string()),
            dns_hook: self.dns_hook.display().to_string(),
            dns_server: server.dns_server.to_string(),
            management: server.management.clone(),
            eab: None,
            preferred_chain: None,
            profile: None,
        }
    }

    /// Runs the commands of `ops` (those the adapter has) in order.
    pub(crate) async fn run(
        &self,
        adapter: &Adapter,
        ops: &[AdapterOp],
        bindings: &Bindings,
        options: &ClientRunOptions,
    ) -> (RunOutcome, Vec<CommandRun>, Vec<PathBuf>) {
        let specs: Vec<CommandSpec> = ops.iter().filter_map(|op| adapter.render(*op, bindings)).collect();
        let served = Webroot { addr: loopback(bindings.http_port), root: self.webroot.clone() };
        run_sequence(&specs, &self.dir, Some(&served), options.command_timeout, options.tail_lines).await
    }
}

/// Runs one scenario: fresh mock CA, the adapter's commands, grading, verdict.
/// `index` numbers the work directory.
pub async fn run_scenario(adapter: &Adapter, scenario: &ClientScenario, options: &ClientRunOptions, index: usize) -> ClientCaseResult {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let seed = scenario.def.seed.unwrap_or(options.seed);
    let identifiers = resolve_identifiers(scenario, seed, &options.domain_suffix);
    let ops = AdapterOp::sequence(scenario.def.operation, scenario.def.challenge);
    let missing = match ops.iter().find(|op| adapter.template(**op).is_none()) {
        Some(op) => Some(format!("`{}` command", op.name())),
        None if scenario.def.preferred_chain.is_some() && adapter.preferred_chain_flags.is_none() => {
            Some("`preferred_chain_flags` (a way to ask for a chain)".to_owned())
        }
        None if scenario.def.eab && adapter.eab_flags.is_none() => {
            Some("`eab_flags` (a way to bind an external account, RFC 8555 §7.3.4)".to_owned())
        }
        None if scenario.def.profile.is_some() && adapter.profile_flags.is_none() => {
            Some("`profile_flags` (a way to ask for a certificate profile, draft-ietf-acme-profiles)".to_owned())
        }
        None => None,
    };
    if let Some(missing) = missing {
        let mut r = result(
            scenario,
            seed,
            identifiers,
            started,
            Judged {
                verdict: Verdict::Unsupported,
                cause: None,
                expected: Some("the client supports the operation".into()),
                observed: Some(format!("the {} adapter has no {missing}", adapter.name)),
                step: None,
            },
        );
        r.outcome = Some(RunOutcome::Unsupported);
        return r;
    }
    let workdir = match WorkDir::create(options.workdir.as_deref(), &format!("{index:02}-{}", slug(&scenario.def.id))) {
        Ok(w) => w,
        Err(why) => return harness_error(scenario, seed, identifiers, started, why),
    };
    let dir = workdir.path().to_owned();
    let reserved = match reserve_challenge_ports() {
        Ok(r) => r,
        Err(e) => return harness_error(scenario, seed, identifiers, started, format!("cannot reserve challenge ports: {e}")),
    };
    let (http_port, tls_port) = (reserved.http, reserved.tls);
    let eab = scenario.def.eab.then(|| ("acmespec-eab".to_owned(), crate::protocol::random::bytes(32)));
    let defaults = MockCaConfig::default();
    let config = MockCaConfig {
        management_listen: Some(loopback(0)),
        va_http_port: http_port,
        va_tls_port: tls_port,
        dns_listen: Some(loopback(0)),
        faults: scenario.def.fault_rules(),
        seed,
        eab_keys: eab.iter().cloned().collect(),
        alternate_chains: defaults.alternate_chains.max(scenario.def.preferred_chain.unwrap_or(0)),
        ..defaults
    };
    let ca = match MockCa::start(config).await {
        Ok(ca) => ca,
        Err(e) => return harness_error(scenario, seed, identifiers, started, format!("cannot start the mock CA: {e}")),
    };
    // The client (or the webroot server) binds them from here on.
    drop(reserved);
    let (Some(management), Some(dns)) = (ca.management_url(), ca.dns().map(|d| d.local_addr())) else {
        return harness_error(scenario, seed, identifiers, started, "the mock CA started without management or DNS".into());
    };
    let preferred_chain = match scenario.def.preferred_chain.map(|chain| (chain, ca.chain_root_name(chain))) {
        None => None,
        Some((chain, Some(issuer))) => Some((chain, issuer)),
        Some((chain, None)) => {
            return harness_error(scenario, seed, identifiers, started, format!("the mock CA has no chain {chain} to prefer"));
        }
    };
    let server = ServerSide {
        directory: ca.directory_url(),
        ca_root_pem: ca.https_root_pem().to_owned(),
        http_port,
        tls_port,
        dns_server: dns,
        management,
    };
    let workspace = match ClientWorkspace::prepare(&dir, adapter, &server) {
        Ok(w) => w,
        Err(e) => return harness_error(scenario, seed, identifiers, started, format!("cannot write into {}: {e}", dir.display())),
    };
    let bindings = Bindings {
        eab: eab.map(|(kid, key)| (kid, crate::protocol::b64::encode(key))),
        preferred_chain: preferred_chain.as_ref().map(|(_, issuer)| issuer.clone()),
        profile: scenario.def.profile.clone(),
        ..workspace.bindings(adapter, &server, identifiers.clone())
    };
    let (outcome, runs, misplaced) = workspace.run(adapter, &ops, &bindings, options).await;
    let webroot = workspace.webroot;
    let entries = ca.journal();
    let base_url = format!("https://{}", ca.addr());
    let profiles = ProfileContext { requested: scenario.def.profile.clone(), advertised: ca.advertised_profiles() };
    drop(ca);
    let preferred_chain = preferred_chain.map(|(chain, issuer)| ChainPreference {
        chain,
        issuer,
        kept_issuer: adapter.chain_file(&bindings).and_then(|path| top_issuer(&path)),
    });
    let checks = grade(&GradeContext { preferred_chain, profiles, ..GradeContext::new(&entries, &base_url) });
    let mut judged = judge(scenario, outcome, &runs, &checks, options.command_timeout);
    if judged.cause == Some(ErrorCause::NotReached)
        && let Some(unused) = fault_endpoints_unused(scenario, &entries)
    {
        judged = Judged {
            verdict: Verdict::Unsupported,
            cause: None,
            expected: Some("the client uses the endpoint the scenario's fault is set on".into()),
            observed: Some(format!(
                "the client never requested {unused}, so the fault never fired: it gets what it needs elsewhere (e.g. nonces from other answers), which RFC 8555 allows"
            )),
            step: judged.step,
        };
    }
    let adapter_error = |expected: String, observed: String| Judged {
        verdict: Verdict::Error,
        cause: Some(ErrorCause::Adapter),
        expected: Some(expected),
        observed: Some(observed),
        step: judged.step,
    };
    if outcome == RunOutcome::Success
        && let Some(missing) = operation_unseen(scenario.def.operation, &entries)
    {
        judged = Judged {
            verdict: Verdict::Error,
            cause: Some(ErrorCause::NotReached),
            expected: Some(format!("the client's `{}` reaches the mock CA", scenario.def.operation.name())),
            observed: Some(format!("every command exited 0, but {missing}")),
            step: judged.step,
        };
    } else if judged.verdict == Verdict::Fail && entries.is_empty() {
        let why = runs.last().map(last_line).unwrap_or_default();
        judged = adapter_error(
            "the client reaches the mock CA".into(),
            format!(
                "the client made no request to the mock CA ({why}): the adapter does not give it the directory URL \
                 or the CA's root in a way it reads (see `trust` and `env`)"
            ),
        );
    } else if judged.verdict != Verdict::Pass && !misplaced.is_empty() {
        let places: Vec<String> = misplaced.iter().map(|p| p.display().to_string()).collect();
        judged = adapter_error(
            format!("the client writes token files under {}/.well-known/acme-challenge/, which the harness serves", webroot.display()),
            format!(
                "the CA asked the webroot for a token it did not hold (404) while the client had written it to {}: \
                 the adapter points the client at the wrong directory",
                places.join(", ")
            ),
        );
    }
    let pass = judged.verdict == Verdict::Pass;
    let mut r = result(scenario, seed, identifiers, started, judged);
    r.outcome = Some(outcome);
    r.checks = checks;
    r.faults_fired = entries
        .iter()
        .filter_map(|e| {
            e.fault.clone().map(|fault| FiredFault { seq: e.seq, endpoint: e.endpoint, nth: e.nth, fault })
        })
        .collect();
    r.commands = runs;
    if !pass {
        r.journal = Some(journal_lines(&entries));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::scenario::ClientScenarioDef;

    fn scenario(identifiers: &[&str]) -> ClientScenario {
        ClientScenario {
            def: ClientScenarioDef {
                id: "client/6.5/bad-nonce-on-new-order".into(),
                title: "t".into(),
                requirements: vec![],
                description: None,
                operation: Operation::Issue,
                challenge: ChallengeType::Dns01,
                identifiers: identifiers.iter().map(|s| s.to_string()).collect(),
                seed: None,
                checks: vec![],
                expect_outcome: ExpectedOutcome::Success,
                outcome_level: None,
                eab: false,
                preferred_chain: None,
                profile: None,
                faults: vec![],
            },
            file: "client/6.5-x.toml".into(),
            line: 1,
        }
    }

    #[test]
    fn names_follow_the_seed() {
        let s = scenario(&["{name}", "*.{name}", "{name2}"]);
        let a = resolve_identifiers(&s, 7, "acmespec.test");
        assert_eq!(a, resolve_identifiers(&s, 7, "acmespec.test"));
        assert_ne!(a, resolve_identifiers(&s, 8, "acmespec.test"));
        assert!(a[0].starts_with("bad-nonce-on-new-order-") && a[0].ends_with(".acmespec.test"), "{a:?}");
        assert_eq!(a[1], format!("*.{}", a[0]));
        assert_ne!(a[0], a[2]);
    }

    #[tokio::test]
    async fn a_hanging_command_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-alive");
        let spec = CommandSpec {
            op: AdapterOp::IssueHttp01,
            argv: vec![
                "sh".into(),
                "-c".into(),
                format!("(sleep 3; touch '{}') & sleep 1000", marker.display()),
            ],
            env: vec![],
            serve_webroot: false,
        };
        let t = Instant::now();
        let (outcome, runs, _) = run_sequence(&[spec], dir.path(), None, Duration::from_millis(500), 10).await;
        assert_eq!(outcome, RunOutcome::Timeout);
        assert!(runs[0].timed_out);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!marker.exists(), "the background child survived the group kill");
    }

    #[tokio::test]
    async fn exit_statuses_map_to_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let sh = |script: &str| CommandSpec { op: AdapterOp::Renew, argv: vec!["sh".into(), "-c".into(), script.into()], env: vec![], serve_webroot: false };
        let run = |specs: Vec<CommandSpec>| {
            let dir = dir.path().to_owned();
            async move { let (o, runs, _) = run_sequence(&specs, &dir, None, Duration::from_secs(10), 5).await; (o, runs) }
        };
        assert_eq!(run(vec![sh("exit 0"), sh("exit 0")]).await.0, RunOutcome::Success);
        let (o, runs) = run(vec![sh("echo out; echo err >&2; exit 3"), sh("exit 0")]).await;
        assert_eq!(o, RunOutcome::Failure);
        assert_eq!(runs.len(), 1, "stops at the first failure");
        assert_eq!((runs[0].stdout_tail.as_str(), runs[0].stderr_tail.as_str()), ("out", "err"));
        assert_eq!(run(vec![sh("exit 127")]).await.0, RunOutcome::Unsupported);
        assert_eq!(run(vec![sh("kill -SEGV $$")]).await.0, RunOutcome::Crashed);
        let missing = CommandSpec { op: AdapterOp::Renew, argv: vec!["/nonexistent/acme-client".into()], env: vec![], serve_webroot: false };
        assert_eq!(run(vec![missing]).await.0, RunOutcome::NotStarted);
    }
}
