//! `--expect`, `acmespec expect` and `acmespec diff` end to end: the built binary run
//! against the built-in mock CA, clean and with the `accept-reused-nonce` defect, whose
//! declared failing cases are the expected failures and the regressions.

use acmespec::mockca::Defect;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DEFECT: Defect = Defect::AcceptReusedNonce;
/// The section holding every case the defect fails; runs filtered to it stay short.
const FILTER: &str = "rfc8555/6.5/*";

fn acmespec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .args(args)
        .output()
        .expect("the acmespec binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs the catalogue (filtered unless `filter` is None) against the mock CA, with the
/// defect when `broken`, passing `extra` arguments.
fn run(broken: bool, filter: Option<&str>, extra: &[&str]) -> Output {
    let mut args = vec!["run"];
    if broken {
        args.extend(["--defect", DEFECT.name()]);
    }
    if let Some(f) = filter {
        args.extend(["--filter", f]);
    }
    args.extend(extra);
    acmespec(&args)
}

/// An expectation file listing `ids` as failing, each with a reason and a link.
fn expect_file(dir: &Path, name: &str, ids: &[&str]) -> PathBuf {
    let body: String = ids
        .iter()
        .map(|id| format!("[[expect]]\nid = \"{id}\"\nverdict = \"fail\"\nreason = \"RFC 8555 §6.5: accepts a used nonce\"\nlink = \"https://bugs.example/nonce\"\n\n"))
        .collect();
    let file = dir.join(name);
    std::fs::write(&file, body).unwrap();
    file
}

/// The ids listed under `heading (N):` in `acmespec diff` output, one per indented line.
fn section(output: &str, heading: &str) -> Vec<String> {
    let mut lines = output
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{heading} (")));
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let ids: Vec<String> = lines
        .take_while(|l| l.starts_with("    "))
        .map(|l| l.trim().split(':').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(head, format!("{heading} ({}):", ids.len()), "{output}");
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn declared() -> Vec<String> {
    sorted(DEFECT.fails().iter().map(|s| s.to_string()).collect())
}

#[test]
fn a_stale_expectation_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let stale = DEFECT.fails()[0];
    let file = expect_file(dir.path(), "expect.toml", &[stale]);
    let out = run(false, Some(FILTER), &["--expect", path(&file)]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "stale expectation: {stale} now passes; remove it from {}",
            file.display()
        )),
        "{log}"
    );
    assert!(
        log.contains("0 expected, 1 stale, 0 mismatched, 0 unexpected: FAILED"),
        "{log}"
    );
}

#[test]
fn unlisted_failures_fail_the_run_and_listed_ones_are_expected() {
    let dir = tempfile::tempdir().unwrap();
    let fails = DEFECT.fails();
    assert!(
        fails.len() >= 2,
        "the defect fails several cases: {fails:?}"
    );
    let (unlisted, listed) = fails.split_last().unwrap();
    let partial = expect_file(dir.path(), "partial.toml", listed);
    let out = run(true, Some(FILTER), &["--expect", path(&partial)]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "{unlisted}: fail and not listed in {}",
            partial.display()
        )),
        "{log}"
    );
    for id in listed {
        assert!(
            log.contains(&format!("EXPECTED    {id} (fail)")),
            "{id}: {log}"
        );
    }

    // A listed case outside the filter is ignored, and said so.
    let catalogue = acmespec::scenario::embedded_catalogue().unwrap();
    let outside = &catalogue
        .cases
        .iter()
        .find(|c| !c.def.id.starts_with("rfc8555/6.5/"))
        .unwrap()
        .def
        .id;
    let mut all: Vec<&str> = fails.to_vec();
    all.push(outside);
    let complete = expect_file(dir.path(), "complete.toml", &all);
    let out = run(true, Some(FILTER), &["--expect", path(&complete)]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    for id in fails {
        assert!(log.contains(&format!("EXPECTED    {id} (fail): RFC 8555 §6.5: accepts a used nonce <https://bugs.example/nonce>")), "{id}: {log}");
    }
    assert!(
        log.contains(&format!(
            "ignored 1 listed case(s) that did not run (filtered out): {outside}"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "{} expected, 0 stale, 0 mismatched, 0 unexpected: ok",
            fails.len()
        )),
        "{log}"
    );
}

#[test]
fn a_starting_file_from_a_run_is_accepted_by_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("defect.json");
    let out = run(true, Some(FILTER), &["--json", path(&results)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let file = dir.path().join("expect.toml");
    let out = acmespec(&["expect", "--from", path(&results), "--out", path(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = acmespec::report::read_baseline(&file).unwrap();
    assert_eq!(sorted(listed.keys().cloned().collect()), declared());
    assert!(
        listed
            .values()
            .all(|e| e.reason.starts_with("TODO: why — observed: HTTP 20")),
        "{listed:?}"
    );
    let out = run(true, Some(FILTER), &["--expect", path(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn diff_names_exactly_the_defects_cases() {
    let dir = tempfile::tempdir().unwrap();
    let (clean, broken) = (
        dir.path().join("clean.json"),
        dir.path().join("defect.json"),
    );
    // The whole catalogue both ways, so "exactly" covers every case; side by side.
    let clean_run = std::thread::scope(|s| {
        let clean_run = s.spawn(|| run(false, None, &["--json", path(&clean)]));
        let broken_run = run(true, None, &["--json", path(&broken)]);
        assert_eq!(broken_run.status.code(), Some(1), "{}", text(&broken_run));
        clean_run.join().unwrap()
    });
    assert_eq!(clean_run.status.code(), Some(0), "{}", text(&clean_run));

    let md = dir.path().join("diff.md");
    let out = acmespec(&["diff", path(&clean), path(&broken), "--md", path(&md)]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_eq!(sorted(section(&log, "newly failing")), declared(), "{log}");
    for other in [
        "newly passing",
        "other verdict changes",
        "new cases",
        "removed cases",
    ] {
        assert!(section(&log, other).is_empty(), "{other}: {log}");
    }
    assert!(
        log.ends_with(&format!("{} regression(s)\n", declared().len())),
        "{log}"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains(&format!("### Newly failing ({})", declared().len())),
        "{md}"
    );
    for id in declared() {
        assert!(md.contains(&format!("- `{id}`: pass → fail")), "{id}: {md}");
    }

    let out = acmespec(&["diff", path(&broken), path(&clean)]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(sorted(section(&log, "newly passing")), declared(), "{log}");
    assert!(section(&log, "newly failing").is_empty(), "{log}");
    assert!(log.ends_with("no regressions\n"), "{log}");
}

#[test]
fn an_expectation_file_also_judges_client_runs() {
    // lego's adapter has no key-rollover command, so the scenario is unsupported
    // without running lego.
    let dir = tempfile::tempdir().unwrap();
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/clients/lego.toml");
    let file = dir.path().join("lego.toml");
    let clients = |verdict: &str| {
        let body = format!(
            "[[expect]]\nid = \"client/7.3.5/key-rollover\"\nverdict = \"{verdict}\"\nreason = \"no rollover command\"\n"
        );
        std::fs::write(&file, body).unwrap();
        acmespec(&[
            "clients",
            "--adapter",
            path(&adapter),
            "--filter",
            "client/7.3.5/key-rollover",
            "--expect",
            path(&file),
        ])
    };
    let out = clients("unsupported");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out)
            .contains("EXPECTED    client/7.3.5/key-rollover (unsupported): no rollover command"),
        "{}",
        text(&out)
    );
    let out = clients("fail");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("client/7.3.5/key-rollover: expected fail, got unsupported"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_inputs_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = dir.path().join("malformed.toml");
    std::fs::write(&malformed, "[[expect]]\nid = \"rfc8555/6.5/reused-nonce-bad-nonce\"\nverdict = \"broken\"\nreason = \"r\"\n").unwrap();
    let out = run(false, Some(FILTER), &["--expect", path(&malformed)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{}:3: unknown variant `broken`",
            malformed.display()
        )),
        "{}",
        text(&out)
    );

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        "\n[[expect]]\nid = \"rfc8555/6.5/no-such-case\"\nverdict = \"fail\"\nreason = \"r\"\n",
    )
    .unwrap();
    let out = run(false, Some(FILTER), &["--expect", path(&unknown)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{}:3: unknown case id rfc8555/6.5/no-such-case",
            unknown.display()
        )),
        "{}",
        text(&out)
    );

    let missing = dir.path().join("missing.json");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json\n").unwrap();
    for args in [
        vec!["diff", path(&missing), path(&garbage)],
        vec!["diff", path(&garbage), path(&missing)],
        vec!["expect", "--from", path(&missing)],
    ] {
        let out = acmespec(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let first_bad = if args[1] == path(&garbage) {
            format!("{}:1:", garbage.display())
        } else {
            missing.display().to_string()
        };
        assert!(text(&out).contains(&first_bad), "{args:?}: {}", text(&out));
    }
}
