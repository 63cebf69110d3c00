//! `acmespec clients`: a real client graded against the mock CA on the command line.

use crate::cli_support::{closing_status, load_expectations, usage_error, write_rendered_reports};
use crate::report::Redactor;
use crate::runner::Verdict;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args)]
/// `acmespec clients`.
#[allow(missing_docs)]
pub struct ClientsArgs {
    /// The client's adapter file (e.g. fixtures/clients/lego.toml).
    #[arg(long)]
    adapter: PathBuf,
    /// Run only scenarios whose id matches this glob, e.g. 'client/6.5/*'.
    #[arg(long)]
    filter: Option<String>,
    /// Write the JSON report here (rewritten after every scenario).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the Markdown report here (as `run --md`), at the end.
    #[arg(long)]
    md: Option<PathBuf>,
    /// Write the self-contained HTML report here (as `run --html`), at the end.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Seed of the randomised faults of scenarios that pin none [default: random, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Read scenario files from this scenarios directory instead of the built-in ones.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Seconds each client command may run before its process group is killed.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Keep each scenario's work directory (client state and output) under this directory.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Count SHOULD-level misses (non-strict) as failures in the exit status.
    #[arg(long)]
    strict: bool,
    /// Expected failures: a baseline file of `[[expect]]` id, verdict, reason, link. A
    /// listed case getting its verdict does not fail the run; one that passes now, or
    /// gets another verdict, does (see README, "Output").
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
}

/// Grades the adapter's client through the client scenarios.
pub async fn clients(args: ClientsArgs) -> ExitCode {
    use crate::clients::adapter::Adapter;
    use crate::clients::run::{self as client_run, ClientRunOptions, ClientsReport};
    use crate::clients::scenario::ClientCatalogue;
    let adapter = match Adapter::load(&args.adapter) {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    let loaded = match args.scenarios.as_deref() {
        Some(dir) => ClientCatalogue::load_dir(dir),
        None => ClientCatalogue::embedded().map_err(|e| crate::scenario::LoadError {
            message: format!("built-in scenarios: {}", e.message),
            ..e
        }),
    };
    let catalogue = match loaded {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    if let Err(e) = catalogue.select(args.filter.as_deref()) {
        return usage_error(e);
    }
    let expectations = match load_expectations(args.expect.as_deref(), catalogue.scenarios.iter().map(|s| s.def.id.as_str())) {
        Ok(e) => e,
        Err(e) => return usage_error(e),
    };
    if args.timeout == 0 {
        return usage_error("--timeout must be at least 1 second");
    }
    let seed = args.seed.unwrap_or_else(client_run::random_seed);
    println!("client {} ({}); seed {seed} (replay with --seed {seed})", adapter.name, args.adapter.display());
    let mut options = ClientRunOptions::new(seed);
    options.filter = args.filter.clone();
    options.command_timeout = Duration::from_secs(args.timeout);
    options.workdir = args.workdir.clone();
    let write = |report: &ClientsReport, junit: bool| {
        if let Some(p) = &args.json
            && let Err(e) = client_run::write_json(p, report)
        {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
        if junit
            && let Some(p) = &args.junit
            && let Err(e) = client_run::write_junit(p, report)
        {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
        if junit {
            let known = expectations.as_ref().map(|e| e.listed().clone()).unwrap_or_default();
            let run = report.to_run_report();
            write_rendered_reports(&run, args.md.as_deref(), args.html.as_deref(), &catalogue.requirements, &known, &Redactor::default());
        }
    };
    let latest: Arc<Mutex<Option<ClientsReport>>> = Arc::default();
    let mut printed = 0;
    let sink = |report: &ClientsReport| {
        if printed == 0 && !report.cases.is_empty() {
            println!("version: {}", report.client_version.as_deref().unwrap_or("(unknown)"));
        }
        for c in &report.cases[printed..] {
            let tag = c.case.verdict.name().to_ascii_uppercase();
            let outcome = c.outcome.map(|o| serde_json::to_value(o).unwrap_or_default());
            let outcome = outcome.as_ref().and_then(|o| o.as_str()).unwrap_or("not run");
            println!("{tag:<11} {} ({} ms, seed {}, client outcome: {outcome})", c.case.id, c.case.duration_ms, c.seed);
            if c.case.verdict != Verdict::Pass {
                if let Some(e) = &c.case.expected {
                    println!("            expected: {e}");
                }
                if let Some(o) = &c.case.observed {
                    println!("            observed: {o}");
                }
            }
        }
        printed = report.cases.len();
        write(report, false);
        *latest.lock().expect("report lock") = Some(report.clone());
    };
    let outcome = tokio::select! {
        r = client_run::run_clients(&catalogue, &adapter, &options, sink) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let report = match outcome {
        Some(Ok(report)) => report,
        Some(Err(e)) => return usage_error(e),
        None => {
            eprintln!("acmespec: interrupted; the reports hold the scenarios that finished (seed {seed})");
            if let Some(r) = latest.lock().expect("report lock").clone() {
                write(&r, true);
            }
            return ExitCode::from(130);
        }
    };
    write(&report, true);
    println!("{} (client {}, seed {seed})", report.summary, report.client);
    closing_status(expectations.as_ref(), report.cases.iter().map(|c| (c.case.id.as_str(), c.case.verdict)), args.strict)
}
