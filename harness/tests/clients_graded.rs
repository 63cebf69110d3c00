//! Real ACME clients driven through the client scenarios by their adapters in
//! `fixtures/clients/`, graded from the mock CA's journal, with the reports written as
//! `acmespec clients` writes them: lego and certbot through every scenario; acme-tiny,
//! dehydrated, acmetool, lacme (Debian packages), python-acme (certbot's library) and
//! instant-acme (the crate) through one scenario of every scenario file, to keep the
//! test command's budget (their full runs are `scripts/reports clients`).
//!
//! Every verdict must match `reports/baselines/clients/<client>.toml`: a scenario
//! listed there must get exactly the listed verdict, every other one must pass, so a
//! change in a client, a scenario, a check or the harness is noticed. Besides, the
//! tests assert what the harness owes: every scenario gets a verdict, no `error` is the
//! harness's or the adapter's own, the reports parse, the same seed replays the same
//! faults and verdicts, and the adapter contract's failure modes (a hanging client, a
//! missing program, a wrong webroot, no trust) give clear verdicts.
//! They fail, never skip, when a client is missing: run `scripts/test`.

use acmespec::clients::adapter::Adapter;
use acmespec::clients::run::{ClientRunOptions, ClientsReport, ErrorCause, RunOutcome, run_clients, write_json, write_junit};
use acmespec::clients::scenario::ClientCatalogue;
use acmespec::report::{PinnedVerdict, read_baseline};
use acmespec::runner::Verdict;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Per client command: generous for certbot's start-up, far below the default 120 s.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The program a client's adapter runs, and the Debian package that has it.
fn program_of(client: &str) -> (&'static str, &'static str) {
    match client {
        "python-acme" => ("/usr/bin/python3", "python3-acme"),
        "instant-acme" => ("cargo", "cargo (the crate is built in this workspace)"),
        "lacme" => ("lacme", "lacme"),
        "acme-tiny" => ("acme-tiny", "acme-tiny"),
        "dehydrated" => ("dehydrated", "dehydrated"),
        "acmetool" => ("acmetool", "acmetool"),
        "certbot" => ("certbot", "certbot"),
        _ => ("lego", "lego"),
    }
}

fn require(client: &str) {
    let (program, package) = program_of(client);
    let on_path = |p: &str| {
        Path::new(p).is_absolute() && Path::new(p).is_file()
            || std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]).any(|dir| dir.join(p).is_file()))
    };
    assert!(
        on_path(program),
        "{program} not found: grading {client} needs the real client (Debian package `{package}`); \
         run scripts/test, which installs it"
    );
    if client == "python-acme" {
        let import = std::process::Command::new(program).args(["-c", "import acme"]).status();
        assert!(import.is_ok_and(|s| s.success()), "/usr/bin/python3 cannot import acme: install python3-acme (scripts/test does)");
    }
    // The adapter runs the driver through `cargo run`; built here first (with the
    // environment the adapter's commands inherit), its first command is not charged
    // with a build that the per-command timeout was never meant to cover.
    if client == "instant-acme" {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let built = std::process::Command::new(program)
            .args(["build", "--quiet", "--locked", "-p", "acmespec", "--example", "instant-acme-driver", "--manifest-path"])
            .arg(&manifest)
            .status();
        assert!(built.is_ok_and(|s| s.success()), "cargo could not build the instant-acme driver example");
    }
}

fn adapter(name: &str) -> Adapter {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/clients").join(format!("{name}.toml"));
    Adapter::load(&path).unwrap_or_else(|e| panic!("adapter {name}: {e}"))
}

fn baseline(client: &str) -> BTreeMap<String, PinnedVerdict> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/baselines/clients").join(format!("{client}.toml"));
    read_baseline(&path).unwrap()
}

fn catalogue() -> ClientCatalogue {
    ClientCatalogue::embedded().unwrap_or_else(|e| panic!("the client scenarios do not load: {e}"))
}

fn options(seed: u64, workdir: &Path) -> ClientRunOptions {
    let mut o = ClientRunOptions::new(seed);
    o.command_timeout = COMMAND_TIMEOUT;
    o.workdir = Some(workdir.to_owned());
    o
}

fn table(report: &ClientsReport) -> String {
    report
        .cases
        .iter()
        .map(|c| {
            format!(
                "{:<12} {:<48} outcome {:<12} {}",
                c.case.verdict.name(),
                c.case.id,
                c.outcome.map(|o| format!("{o:?}")).unwrap_or_default(),
                c.case.observed.as_deref().unwrap_or("").chars().take(200).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which scenarios a grading test runs.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// Every scenario.
    Full,
    /// The first scenario of every scenario file: one per fault family.
    Representative,
}

/// The catalogue cut down to `scope`.
fn scoped(mut catalogue: ClientCatalogue, scope: Scope) -> ClientCatalogue {
    if scope == Scope::Representative {
        let mut files = std::collections::BTreeSet::new();
        catalogue.scenarios.retain(|s| files.insert(s.file.clone()));
    }
    catalogue
}

/// Runs `client` through the scenarios of `scope`, writes both reports, checks what
/// the harness owes, and compares every verdict with the client's baseline.
async fn grade_client(client: &str, scope: Scope) {
    require(client);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let full = catalogue();
    assert!(full.scenarios.len() >= 25, "only {} client scenarios", full.scenarios.len());
    let pinned = baseline(client);
    for id in pinned.keys() {
        assert!(full.scenarios.iter().any(|s| &s.def.id == id), "the {client} baseline names unknown scenario {id}");
    }
    let catalogue = scoped(full, scope);
    let adapter = adapter(client);
    let tmp = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let report = run_clients(&catalogue, &adapter, &options(1, &tmp.path().join("work")), |_| {})
        .await
        .expect("the run starts");
    eprintln!("{client}: {} in {:?}\n{}", report.summary, started.elapsed(), table(&report));

    // Every scenario gets exactly one verdict, in catalogue order.
    let ids: Vec<&str> = report.cases.iter().map(|c| c.case.id.as_str()).collect();
    let expected: Vec<&str> = catalogue.scenarios.iter().map(|s| s.def.id.as_str()).collect();
    assert_eq!(ids, expected);
    assert!(report.complete);
    assert_eq!(report.summary.total, expected.len());
    assert!(report.client_version.is_some(), "the version command printed nothing");

    for c in &report.cases {
        assert!(
            !matches!(c.error_cause, Some(ErrorCause::Harness | ErrorCause::Adapter)),
            "{}: an error of the harness's or the adapter's own: {:?}\n{}",
            c.case.id,
            c.case.observed,
            table(&report)
        );
        if c.case.verdict != Verdict::Unsupported {
            assert!(!c.commands.is_empty(), "{}: no client command ran", c.case.id);
            assert!(!c.checks.is_empty(), "{}: nothing was graded", c.case.id);
        }
        if c.case.verdict != Verdict::Pass {
            assert!(c.case.observed.is_some(), "{}: a {} verdict without an explanation", c.case.id, c.case.verdict.name());
        }
    }

    // The reports are written and read back; the JSON stays in the target directory for
    // reading after a failure and for scripts/reports.
    let json = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{client}.json"));
    let junit = tmp.path().join(format!("{client}.xml"));
    write_json(&json, &report).expect("writing the JSON report");
    write_junit(&junit, &report).expect("writing the JUnit report");
    let back: ClientsReport = serde_json::from_slice(&std::fs::read(&json).expect("JSON report")).expect("the JSON report parses");
    assert_eq!(back.cases.len(), report.cases.len());
    assert_eq!(back.summary, report.summary);
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("JSON report")).expect("JSON");
    for key in ["tool", "version", "seed", "summary", "cases", "complete"] {
        assert!(raw.get(key).is_some(), "the JSON report lacks {key}");
    }
    for key in ["id", "verdict", "level", "requirements", "source", "seed", "checks", "commands"] {
        assert!(raw["cases"][0].get(key).is_some(), "a JSON case lacks {key}");
    }
    let xml = std::fs::read_to_string(&junit).expect("JUnit report");
    assert_eq!(xml.matches("<testcase").count(), report.cases.len(), "{xml}");

    let wrong: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| {
            let pin = pinned.get(&c.case.id);
            let want = pin.map_or(Verdict::Pass, |e| e.verdict);
            (c.case.verdict != want).then(|| {
                format!(
                    "{}: got {} (baseline: {}{}): expected {:?}, observed {:?}",
                    c.case.id,
                    c.case.verdict.name(),
                    want.name(),
                    pin.map(|e| format!(", because {}", e.reason)).unwrap_or_default(),
                    c.case.expected,
                    c.case.observed
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{client}: verdicts differ from reports/baselines/clients/{client}.toml:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_verdicts_match_its_baseline() {
    grade_client("lego", Scope::Full).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certbot_verdicts_match_its_baseline() {
    grade_client("certbot", Scope::Full).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_tiny_verdicts_match_its_baseline() {
    grade_client("acme-tiny", Scope::Representative).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dehydrated_verdicts_match_its_baseline() {
    grade_client("dehydrated", Scope::Representative).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acmetool_verdicts_match_its_baseline() {
    grade_client("acmetool", Scope::Representative).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lacme_verdicts_match_its_baseline() {
    grade_client("lacme", Scope::Representative).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_acme_verdicts_match_its_baseline() {
    grade_client("python-acme", Scope::Representative).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_acme_verdicts_match_its_baseline() {
    grade_client("instant-acme", Scope::Representative).await;
}

/// (endpoint, nth, fault) of every fault that fired, and the verdict, per scenario.
fn fingerprint(report: &ClientsReport) -> Vec<(String, Verdict, Vec<String>)> {
    report
        .cases
        .iter()
        .map(|c| {
            let faults = c.faults_fired.iter().map(|f| format!("{:?}#{} {}", f.endpoint, f.nth, f.fault)).collect();
            (c.case.id.clone(), c.case.verdict, faults)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_replays_the_same_faults_and_verdicts() {
    require("lego");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let catalogue = catalogue();
    let adapter = adapter("lego");
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = |seed: u64, n: usize| {
        let (catalogue, adapter) = (&catalogue, &adapter);
        let dir = tmp.path().join(format!("run-{n}"));
        async move {
            let mut o = options(seed, &dir);
            o.filter = Some("client/6.5/bad-nonce-random-*".into());
            run_clients(catalogue, adapter, &o, |_| {}).await.expect("the run starts")
        }
    };
    // 10: the run seed under which the unpinned scenario draws faults too.
    let first = run(10, 1).await;
    let second = run(10, 2).await;
    assert_eq!(first.cases.len(), 2, "{}", table(&first));
    let (a, b) = (fingerprint(&first), fingerprint(&second));
    assert_eq!(a, b, "same seed, different faults or verdicts:\n{}\n---\n{}", table(&first), table(&second));
    assert!(a.iter().all(|(_, _, faults)| !faults.is_empty()), "a randomised scenario drew no fault: {a:?}");
    for c in &first.cases {
        let pinned = c.case.id.ends_with("-seeded");
        assert_eq!(c.seed, if pinned { 11 } else { 10 }, "{}", c.case.id);
    }
    // Another run seed changes the unpinned schedule and leaves the pinned one alone.
    let other = fingerprint(&run(1, 3).await);
    assert_eq!(other[0], a[0], "the pinned scenario follows its own seed");
    assert_ne!(other[1].2, a[1].2, "seed 1 and seed 10 drew the same faults");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_client_is_stopped_and_gets_error() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hanging = Adapter::parse(
        &PathBuf::from("hanging.toml"),
        r#"
name = "hanging"
version = ["echo", "hanging 1.0"]
[operations.issue-http-01]
argv = ["sleep", "1000"]
"#,
    )
    .expect("adapter parses");
    let catalogue = catalogue();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut o = options(1, tmp.path());
    o.filter = Some("client/8.3/issue-http-01".into());
    o.command_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let report = run_clients(&catalogue, &hanging, &o, |_| {}).await.expect("the run starts");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let c = &report.cases[0];
    assert_eq!(c.case.verdict, Verdict::Error, "{:?}", c.case.observed);
    assert_eq!(c.error_cause, Some(ErrorCause::Client));
    assert_eq!(c.outcome, Some(RunOutcome::Timeout));
    assert!(c.commands[0].timed_out);
    assert!(c.case.observed.as_deref().unwrap_or("").contains("did not finish within 2s"), "{:?}", c.case.observed);
    assert_eq!(report.client_version.as_deref(), Some("hanging 1.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_exiting_127_is_unsupported_and_a_crash_is_an_error() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = |script: &str| {
        Adapter::parse(
            &PathBuf::from("fake.toml"),
            &format!("name = \"fake\"\nversion = [\"true\"]\n[operations.issue-http-01]\nargv = [\"sh\", \"-c\", {script:?}]\n"),
        )
        .expect("adapter parses")
    };
    let catalogue = catalogue();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut o = options(1, tmp.path());
    o.filter = Some("client/8.3/issue-http-01".into());
    let unsupported = run_clients(&catalogue, &fake("exit 127"), &o, |_| {}).await.expect("run");
    assert_eq!(unsupported.cases[0].case.verdict, Verdict::Unsupported);
    let crashed = run_clients(&catalogue, &fake("kill -ABRT $$"), &o, |_| {}).await.expect("run");
    assert_eq!(crashed.cases[0].case.verdict, Verdict::Error);
    assert_eq!(crashed.cases[0].error_cause, Some(ErrorCause::Client));
    // A client that claims success without asking for anything never reached the scenario.
    let idle = run_clients(&catalogue, &fake("exit 0"), &o, |_| {}).await.expect("run");
    assert_eq!(idle.cases[0].case.verdict, Verdict::Error, "{:?}", idle.cases[0].case.observed);
    assert_eq!(idle.cases[0].error_cause, Some(ErrorCause::NotReached));
}

/// acme-tiny's adapter with `edit` applied to its text (a variant for one contract test).
fn acme_tiny_variant(edit: impl Fn(String) -> String) -> Adapter {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/clients/acme-tiny.toml");
    let text = edit(std::fs::read_to_string(&path).expect("acme-tiny adapter"));
    // Parsed under the real path, so that {adapter_dir} still finds acme-tiny/issue.sh.
    Adapter::parse(&path, &text).expect("the variant parses")
}

async fn run_one(adapter: &Adapter, filter: &str) -> acmespec::clients::run::ClientCaseResult {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut o = options(1, tmp.path());
    o.filter = Some(filter.into());
    let report = run_clients(&catalogue(), adapter, &o, |_| {}).await.expect("the run starts");
    assert_eq!(report.cases.len(), 1, "{}", table(&report));
    report.cases.into_iter().next().expect("one case")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_only_the_system_bundle_is_given_the_root_there() {
    require("acme-tiny");
    let without_env = |t: String| t.replace("[env]\nSSL_CERT_FILE = \"{ca_bundle}\"\n", "");
    let untrusting = acme_tiny_variant(without_env);
    let c = run_one(&untrusting, "client/8.3/issue-http-01").await;
    assert_eq!(c.case.verdict, Verdict::Error, "{:?}", c.case.observed);
    assert_eq!(c.error_cause, Some(ErrorCause::Adapter), "no request reached the CA: the adapter's fault, not the client's");
    assert!(c.case.observed.as_deref().unwrap_or("").contains("made no request to the mock CA"), "{:?}", c.case.observed);
    let system = acme_tiny_variant(|t| without_env(t).replace("[operations.issue-http-01]", "trust = \"system-bundle\"\n\n[operations.issue-http-01]"));
    let c = run_one(&system, "client/8.3/issue-http-01").await;
    assert_eq!(c.case.verdict, Verdict::Pass, "{:?}", c.case.observed);
    assert_eq!(c.commands[0].argv[0], "unshare", "run in a mount namespace of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_written_outside_the_webroot_is_an_adapter_error() {
    require("acme-tiny");
    let wrong = acme_tiny_variant(|t| t.replace("\"{webroot}/.well-known/acme-challenge\"", "\"{webroot}\""));
    let c = run_one(&wrong, "client/8.3/issue-http-01").await;
    assert_eq!(c.case.verdict, Verdict::Error, "{:?}", c.case.observed);
    assert_eq!(c.error_cause, Some(ErrorCause::Adapter));
    let observed = c.case.observed.as_deref().unwrap_or("");
    assert!(observed.contains("wrong directory") && observed.contains("/webroot/"), "{observed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_needing_eab_is_unsupported_without_eab_flags() {
    let c = run_one(&adapter("acme-tiny"), "client/7.3.4/eab-required").await;
    assert_eq!(c.case.verdict, Verdict::Unsupported, "{:?}", c.case.observed);
    assert!(c.commands.is_empty(), "nothing ran");
    assert!(c.case.observed.as_deref().unwrap_or("").contains("eab_flags"), "{:?}", c.case.observed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_is_a_clear_error() {
    let missing = Adapter::parse(
        &PathBuf::from("missing.toml"),
        "name = \"missing\"\nversion = [\"true\"]\n[operations.issue-http-01]\nargv = [\"acmespec-no-such-client\", \"{directory}\"]\n",
    )
    .expect("adapter parses");
    let c = run_one(&missing, "client/8.3/issue-http-01").await;
    assert_eq!(c.case.verdict, Verdict::Error);
    assert_eq!(c.outcome, Some(RunOutcome::NotStarted));
    assert!(c.case.observed.as_deref().unwrap_or("").contains("acmespec-no-such-client not found on PATH"), "{:?}", c.case.observed);
}

/// certbot's manual mode with `{http_hook}` as its hooks: the hook writes the token file,
/// the harness serves it from the webroot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_hook_serves_a_client_in_manual_mode() {
    require("certbot");
    let manual = Adapter::parse(
        &PathBuf::from("certbot-manual.toml"),
        r#"
name = "certbot-manual"
version = ["certbot", "--version"]
domain_flag = "-d"
[env]
REQUESTS_CA_BUNDLE = "{ca_bundle}"
[operations.issue-http-01]
argv = [
  "certbot", "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
  "--server", "{directory}", "--config-dir", "{workdir}/c", "--work-dir", "{workdir}/w", "--logs-dir", "{workdir}/l",
  "--manual", "--preferred-challenges", "http",
  "--manual-auth-hook", "{http_hook} present", "--manual-cleanup-hook", "{http_hook} cleanup", "{domains_flags}",
]
"#,
    )
    .expect("adapter parses");
    let c = run_one(&manual, "client/8.3/issue-http-01").await;
    assert_eq!(c.case.verdict, Verdict::Pass, "{:?}\n{:?}", c.case.observed, c.commands);
}

/// A client that exits 0 for an operation the CA never saw (a revocation only noted
/// down) never reached the scenario; one that never uses the endpoint a fault waits on
/// (acmetool takes its nonces from other answers) is unsupported for that scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_and_faults_the_ca_never_saw_are_not_graded_as_passes() {
    require("acme-tiny");
    let noting = acme_tiny_variant(|t| format!("{t}\n[operations.revoke]\nargv = [\"true\"]\n"));
    let c = run_one(&noting, "client/7.6/revoke").await;
    assert_eq!(c.case.verdict, Verdict::Error, "{:?}", c.case.observed);
    assert_eq!(c.error_cause, Some(ErrorCause::NotReached));
    assert!(c.case.observed.as_deref().unwrap_or("").contains("no revokeCert request reached the mock CA"), "{:?}", c.case.observed);

    require("acmetool");
    let c = run_one(&adapter("acmetool"), "client/6.6/unavailable-new-nonce-once").await;
    assert_eq!(c.case.verdict, Verdict::Unsupported, "{:?}", c.case.observed);
    assert!(c.case.observed.as_deref().unwrap_or("").contains("never requested NewNonce"), "{:?}", c.case.observed);
}
