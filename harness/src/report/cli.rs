//! `acmespec report`, `expect` and `diff`: what can be done with a saved run.

use crate::cli_support::{load_catalogue, usage_error};
use crate::report::Redactor;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
/// `acmespec report`.
#[allow(missing_docs)]
pub struct ReportArgs {
    /// The saved run: a --json report or a --jsonl stream of `acmespec run` (a stream
    /// cut short renders as an incomplete run), or a --json report of `acmespec clients`.
    results: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
    /// Write here instead of to standard output.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Read requirement paraphrases from this scenarios directory instead of the built-in catalogue.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// An expectation file (reports/baselines/ format): each listed non-pass case is
    /// shown with its reason and link.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Md,
    Html,
    Junit,
}

/// Renders a saved run.
pub fn report(args: ReportArgs) -> ExitCode {
    let results = match crate::report::read_results(&args.results) {
        Ok(r) => r,
        Err(e) => return usage_error(format!("cannot read the results: {e}")),
    };
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let known = match args.expect.as_deref().map(crate::report::read_baseline).transpose() {
        Ok(known) => known.unwrap_or_default(),
        Err(e) => return usage_error(e),
    };
    let redactor = Redactor::default();
    let text = match args.format {
        ReportFormat::Md => crate::report::to_markdown(&results, &catalogue.requirements, &known, &redactor),
        ReportFormat::Html => crate::report::to_html(&results, &catalogue.requirements, &known, &redactor),
        ReportFormat::Junit => crate::report::to_junit(&results),
    };
    match &args.out {
        Some(path) => {
            if let Err(e) = crate::report::write_text(path, &text) {
                return usage_error(format!("--out {}: {e}", path.display()));
            }
        }
        // A reader that stops early (`| head`) is not an error of the report.
        None => {
            use std::io::Write as _;
            if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return usage_error(format!("writing the report: {e}"));
            }
        }
    }
    if !results.complete {
        eprintln!("acmespec: warning: {} is an incomplete run; only the cases that finished are reported", args.results.display());
    }
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
/// `acmespec expect`.
#[allow(missing_docs)]
pub struct ExpectArgs {
    /// The saved run: a --json report or --jsonl stream of `acmespec run`, or a --json
    /// report of `acmespec clients`.
    #[arg(long, value_name = "RESULTS")]
    from: PathBuf,
    /// Write the expectation file here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Writes a starting expectation file from a saved run.
pub fn expect(args: ExpectArgs) -> ExitCode {
    let report = match crate::report::read_results(&args.from) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let (text, errors) = match crate::report::starting_expectations(&report, &args.from) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    for id in &errors {
        eprintln!("acmespec: warning: {id} got error and is not listed: an error must be fixed, not expected");
    }
    if !report.complete {
        eprintln!("acmespec: warning: {} is an incomplete run; cases that did not finish are not listed", args.from.display());
    }
    match &args.out {
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => eprintln!("acmespec: wrote {}; replace each TODO reason", path.display()),
            Err(e) => return usage_error(format!("--out {}: {e}", path.display())),
        },
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
/// `acmespec diff`.
#[allow(missing_docs)]
pub struct DiffArgs {
    /// The earlier run (a --json report or --jsonl stream of `acmespec run`, or a --json
    /// report of `acmespec clients`).
    old: PathBuf,
    /// The later run, in the same forms.
    new: PathBuf,
    /// Also write the comparison as Markdown here, for a release note.
    #[arg(long, value_name = "PATH")]
    md: Option<PathBuf>,
}

/// Compares two saved runs.
pub fn diff(args: DiffArgs) -> ExitCode {
    use crate::report::read_results;
    let (old, new) = match (read_results(&args.old), read_results(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    let diff = crate::report::RunDiff::of(&args.old.display().to_string(), &old, &args.new.display().to_string(), &new);
    print!("{}", diff.to_text());
    if let Some(path) = &args.md
        && let Err(e) = std::fs::write(path, diff.to_markdown())
    {
        return usage_error(format!("--md {}: {e}", path.display()));
    }
    if diff.regressed() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
