//! What the subcommands' bodies share: a usage error's exit status, the catalogue and
//! expectation files they load, the reports they write and the exit status of a run.
//!
//! Each engine keeps its own subcommands in its `cli.rs`; this is the one place their
//! common plumbing lives, so that `run` and `clients` end a run the same way.

use crate::report::{Expectations, PinnedVerdict, Redactor};
use crate::runner::{RunReport, Verdict};
use crate::scenario::{Catalogue, Requirement, embedded_catalogue};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("acmespec: {msg}");
    ExitCode::from(2)
}

pub(crate) fn load_catalogue(dir: Option<&Path>) -> Result<Catalogue, String> {
    match dir {
        Some(d) => Catalogue::load_dir(d).map_err(|e| e.to_string()),
        None => embedded_catalogue().map_err(|e| format!("built-in catalogue: {e}")),
    }
}

/// Reads `--expect FILE` and refuses ids the catalogue (`known`) does not have.
pub(crate) fn load_expectations<'a>(
    path: Option<&Path>,
    known: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Expectations>, String> {
    let Some(path) = path else { return Ok(None) };
    let expectations = Expectations::load(path)?;
    expectations.check_known(known)?;
    Ok(Some(expectations))
}

/// The exit status of a finished run: judged against the expectations (and the
/// judgement printed) when there are some, else 1 on any fail or error (or non-strict
/// with `strict`).
pub(crate) fn closing_status<'a>(
    expectations: Option<&Expectations>,
    results: impl IntoIterator<Item = (&'a str, Verdict)>,
    strict: bool,
) -> ExitCode {
    let failed = match expectations {
        Some(expectations) => {
            let judgement = expectations.judge(results, strict);
            print!("{judgement}");
            !judgement.passed()
        }
        None => results.into_iter().any(|(_, verdict)| verdict.is_failure(strict)),
    };
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

pub(crate) fn write_reports(report: &RunReport, json: Option<&Path>, junit: Option<&Path>) {
    if let Some(p) = json
        && let Err(e) = crate::report::write_json(p, report) {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
    if let Some(p) = junit
        && let Err(e) = crate::report::write_junit(p, report) {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
}

/// Writes the Markdown and HTML reports of `report` where asked.
pub(crate) fn write_rendered_reports(
    report: &RunReport,
    md: Option<&Path>,
    html: Option<&Path>,
    requirements: &BTreeMap<String, Requirement>,
    known: &BTreeMap<String, PinnedVerdict>,
    redactor: &Redactor,
) {
    type Render = fn(&RunReport, &BTreeMap<String, Requirement>, &BTreeMap<String, PinnedVerdict>, &Redactor) -> String;
    let outputs: [(Option<&Path>, Render); 2] = [(md, crate::report::to_markdown), (html, crate::report::to_html)];
    for (path, render) in outputs {
        if let Some(p) = path
            && let Err(e) = crate::report::write_text(p, &render(report, requirements, known, redactor))
        {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
    }
}
