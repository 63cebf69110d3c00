//! lego and certbot (the Debian packages) driven through every client scenario by
//! their adapters in `fixtures/clients/`, graded from the mock CA's journal, with the
//! reports written as `acmespec clients` writes them.
//!
//! Every verdict must match `reports/baselines/clients/<client>.toml`: a scenario
//! listed there must get exactly the listed verdict, every other one must pass, so a
//! change in a client, a scenario, a check or the harness is noticed. Besides, the
//! tests assert what the harness owes: every scenario gets a verdict, no `error` is the
//! harness's own, the reports parse, the same seed replays the same faults and
//! verdicts, and a hanging client is stopped.
//! They fail, never skip, when lego or certbot is missing: run `scripts/test`.

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

fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "{program} not found on PATH: grading it needs the real {program} (Debian package `{program}`); \
         run scripts/test, which installs it, or `apt-get install {program}`"
    );
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

/// Runs every scenario with `client`, writes both reports, checks what the harness
/// owes, and compares every verdict with the client's baseline.
async fn grade_client(client: &str) {
    require(client);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let catalogue = catalogue();
    assert!(catalogue.scenarios.len() >= 25, "only {} client scenarios", catalogue.scenarios.len());
    let pinned = baseline(client);
    for id in pinned.keys() {
        assert!(catalogue.scenarios.iter().any(|s| &s.def.id == id), "the {client} baseline names unknown scenario {id}");
    }
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
        assert_ne!(
            c.error_cause,
            Some(ErrorCause::Harness),
            "{}: an error of the harness's own: {:?}\n{}",
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
    grade_client("lego").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certbot_verdicts_match_its_baseline() {
    grade_client("certbot").await;
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
