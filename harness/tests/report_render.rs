//! Every rendering of one fixed results file, pinned as reviewed snapshots (JSON, JUnit,
//! Markdown, HTML), so that a change to any report shows up as a diff in review; plus
//! the properties no snapshot review should have to catch by eye: text from a hostile
//! server stays text, secrets never reach a rendered report, and `acmespec report`
//! renders saved runs and refuses unreadable ones.
//!
//! The fixture is a real run against `acmespec serve` with two nonce defects, edited
//! for hostile content as fixtures/results/README.md describes.

use acmespec::report::{self, Redactor};
use acmespec::runner::{RunReport, Verdict};
use acmespec::scenario::{Requirement, embedded_catalogue};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const SECRETS_IN_FIXTURE: [&str; 2] = ["private-d-must-not-appear", "cookie-must-not-appear"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/results")
        .join(name)
}

fn results(name: &str) -> RunReport {
    report::read_results(&fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn requirements() -> BTreeMap<String, Requirement> {
    embedded_catalogue()
        .expect("built-in catalogue")
        .requirements
}

fn markdown(report: &RunReport) -> String {
    report::to_markdown(report, &requirements(), &Default::default(), &Redactor::default())
}

fn html(report: &RunReport) -> String {
    report::to_html(report, &requirements(), &Default::default(), &Redactor::default())
}

#[test]
fn json_snapshot() {
    let json =
        serde_json::to_string_pretty(&results("mock-nonce-defects.json")).expect("serialise");
    insta::assert_snapshot!("json", json);
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(
        "junit",
        report::to_junit(&results("mock-nonce-defects.json"))
    );
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("markdown", markdown(&results("mock-nonce-defects.json")));
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!("html", html(&results("mock-nonce-defects.json")));
}

#[test]
fn an_interrupted_stream_renders_as_incomplete() {
    let report = results("mock-nonce-defects-interrupted.jsonl");
    assert!(!report.complete);
    let md = markdown(&report);
    assert!(
        md.contains("- **Complete:** **incomplete**: the run was cut short"),
        "{md}"
    );
    assert!(md.contains("not finished"), "{md}");
    insta::assert_snapshot!("markdown_incomplete", md);
    let page = html(&report);
    assert!(
        page.contains("<span class=\"incomplete\">incomplete</span>"),
        "{page}"
    );
}

#[test]
fn every_non_pass_case_is_shown_with_its_requirements_and_no_pass_case_is() {
    let report = results("mock-nonce-defects.json");
    let (md, page) = (markdown(&report), html(&report));
    let requirements = requirements();
    for case in &report.cases {
        let shown = md.contains(&format!("`{}`", case.id));
        assert_eq!(
            shown,
            case.verdict != Verdict::Pass,
            "{} in the Markdown",
            case.id
        );
        assert_eq!(
            page.contains(&format!("<code>{}</code>", case.id)),
            shown,
            "{} in the HTML",
            case.id
        );
        if shown {
            for id in &case.requirements {
                let paraphrase = &requirements[id].text;
                assert!(
                    md.contains(paraphrase.as_str()),
                    "{id} paraphrase in the Markdown"
                );
            }
        }
    }
    assert!(
        md.contains("**6 passed, 3 failed, 0 blocked, 1 non-strict, 3 unsupported, 0 errors** (13 cases)"),
        "{md}"
    );
    assert!(md.contains("| rfc8555/6.5 | 4 | 3 | 0 | 1 | 0 | 0 |"), "{md}");
    assert!(page.contains("<td class=\"n fail\">3</td>"), "{page}");
}

#[test]
fn text_from_the_server_stays_text() {
    let report = results("mock-nonce-defects.json");
    let fixture_text =
        std::fs::read_to_string(fixture("mock-nonce-defects.json")).expect("fixture");
    assert!(
        fixture_text.contains("<script>alert('detail')</script>"),
        "the fixture must carry the injection"
    );
    let page = html(&report);
    for tag in ["<script", "<img", "</pre></details>"] {
        assert!(!page.contains(tag), "{tag} reached the HTML unescaped");
    }
    assert!(page.contains(
        "&lt;/pre&gt;&lt;/details&gt;&lt;script&gt;alert(&#39;detail&#39;)&lt;/script&gt;"
    ));
    assert!(page.contains("acmespec-mock &lt;img src=x onerror=alert(1)&gt;"));
    // In Markdown, raw HTML may only appear inside code blocks, where it is literal.
    let md = markdown(&report);
    let outside_code: String = md.split("\n```").step_by(2).collect();
    for tag in ["<script", "<img"] {
        assert!(
            !outside_code.contains(tag),
            "{tag} outside a code block in the Markdown"
        );
    }
    assert!(
        md.contains("problem type &lt;script&gt;alert('type')&lt;/script&gt;"),
        "{md}"
    );
}

#[test]
fn the_html_page_is_self_contained_and_scriptless() {
    let page = html(&results("mock-nonce-defects.json"));
    for external in [
        "<link", " src=\"", " href=\"", "@import", "url(", "<script", "<iframe", "<object",
    ] {
        assert!(
            !page.contains(external),
            "{external} in a page that must stand alone"
        );
    }
    assert!(page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"));
    assert!(page.contains("<details><summary>HTTP transcript (3 exchanges)</summary>"));
}

#[test]
fn secrets_never_reach_a_rendered_report() {
    let fixture_text =
        std::fs::read_to_string(fixture("mock-nonce-defects.json")).expect("fixture");
    let report = results("mock-nonce-defects.json");
    for rendered in [markdown(&report), html(&report)] {
        for secret in SECRETS_IN_FIXTURE {
            assert!(
                fixture_text.contains(secret),
                "the fixture must carry {secret}"
            );
            assert!(!rendered.contains(secret), "{secret} in a rendered report");
        }
        assert!(
            rendered.contains("\"d\": \"[redacted]\"")
                || rendered.contains("&quot;d&quot;: &quot;[redacted]&quot;")
        );
        assert!(rendered.contains("set-cookie: [redacted]"));
    }
}

#[test]
fn the_eab_mac_key_the_run_used_is_redacted() {
    let mut report = results("mock-nonce-defects.json");
    let key = b"eab-mac-key-bytes";
    let echoed = acmespec::protocol::b64::encode(key);
    let failed = report
        .cases
        .iter_mut()
        .find(|c| c.verdict == Verdict::Fail)
        .expect("a failed case");
    failed.observed = Some(format!("the server echoed {echoed}"));
    let md = report::to_markdown(&report, &requirements(), &Default::default(), &Redactor::with_mac_key(key));
    assert!(!md.contains(&echoed), "{md}");
    assert!(md.contains("the server echoed \\[redacted\\]"), "{md}");
}

fn acmespec(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .args(args)
        .output()
        .expect("run acmespec")
}

#[test]
fn acmespec_report_renders_each_format_to_stdout_or_a_file() {
    let input = fixture("mock-nonce-defects.json");
    let input = input.to_str().expect("utf-8 path");
    let report = results("mock-nonce-defects.json");
    let expected = [
        ("md", markdown(&report)),
        ("html", html(&report)),
        ("junit", report::to_junit(&report)),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (format, rendered) in expected {
        let out = acmespec(&["report", input, "--format", format]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            rendered,
            "{format} on stdout"
        );
        let path = dir.path().join(format!("report.{format}"));
        let out = acmespec(&[
            "report",
            input,
            "--format",
            format,
            "--out",
            path.to_str().expect("utf-8 path"),
        ]);
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{format} --out"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("written report"),
            rendered,
            "{format} in --out"
        );
    }
}

#[test]
fn acmespec_report_warns_about_an_incomplete_run() {
    let input = fixture("mock-nonce-defects-interrupted.jsonl");
    let out = acmespec(&[
        "report",
        input.to_str().expect("utf-8 path"),
        "--format",
        "md",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is an incomplete run"), "{stderr}");
}

#[test]
fn acmespec_report_refuses_unreadable_input_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "this is not a results file\n").expect("write");
    let missing = dir.path().join("missing.json");
    for (path, why) in [
        (&garbage, "garbage.json:1: not an acmespec results line"),
        (&missing, "missing.json"),
    ] {
        let out = acmespec(&[
            "report",
            path.to_str().expect("utf-8 path"),
            "--format",
            "html",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cannot read the results") && stderr.contains(why),
            "{stderr}"
        );
    }
}
