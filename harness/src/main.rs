//! The `acmespec` command line: parses the arguments and hands each subcommand to its
//! engine's `cli` module.

use acmespec::{clients, coverage, defect_matrix, mockca, report, runner};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "acmespec", version, about = "Conformance and fuzz test harness for ACME (RFC 8555)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance catalogue against an ACME server.
    Run(Box<runner::cli::RunArgs>),
    /// List the catalogue: id, level, requirement ids, title.
    List(runner::cli::ListArgs),
    /// Serve the mock CA (the reference RFC 8555 server), optionally with defects.
    Serve(Box<mockca::cli::ServeArgs>),
    /// Requirement coverage of the server suite, per RFC, section and level.
    Coverage(coverage::cli::CoverageArgs),
    /// Render a saved run (a --json report or a --jsonl stream, possibly cut short) as
    /// Markdown, self-contained HTML or JUnit XML.
    Report(report::cli::ReportArgs),
    /// Grade a real ACME client (through its adapter file) against the mock CA, one
    /// client scenario at a time, with scripted faults.
    Clients(Box<clients::cli::ClientsArgs>),
    /// Run the catalogue against the mock CA clean and with each defect; report which
    /// cases each defect fails and which cases no defect can fail.
    DefectMatrix(defect_matrix::cli::MatrixArgs),
    /// The interop matrix: every client adapter against every server (the mock CA,
    /// Pebble, a URL), one issuance per challenge type each, as JSON, Markdown, HTML.
    Matrix(Box<acmespec::interop::cli::MatrixArgs>),
    /// acmespec's own ACME client (issue, revoke, key-rollover, deactivate), with
    /// switchable defects for validating the client checks.
    #[command(subcommand)]
    Client(acmespec::client::cli::ClientCommand),
    /// Live protocol fuzzing of a server URL (or the built-in mock CA), replay of its
    /// findings, and the libFuzzer corpus tools (seeds, replay of inputs).
    Fuzz(acmespec::fuzzing::cli::FuzzArgs),
    /// Load generator: complete issuance flows against a server (or the built-in mock
    /// CA), with flows per second, per-step latency percentiles, errors and CPU cost.
    Load(Box<acmespec::load::cli::LoadArgs>),
    /// Write a starting expectation file for --expect from a saved run: every non-pass
    /// case with its verdict and a reason to fill in.
    Expect(report::cli::ExpectArgs),
    /// Compare two saved runs: newly failing, newly passing and other verdict changes;
    /// exit 1 when a verdict got worse.
    Diff(report::cli::DiffArgs),
}

fn main() -> ExitCode {
    stop_quietly_when_stdout_closes();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("acmespec: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::List(args) => runner::cli::list(args),
        Command::Run(args) => rt.block_on(runner::cli::run(*args)),
        Command::Serve(args) => rt.block_on(mockca::cli::serve(*args)),
        Command::DefectMatrix(args) => rt.block_on(defect_matrix::cli::defect_matrix(args)),
        Command::Coverage(args) => coverage::cli::coverage(args),
        Command::Report(args) => report::cli::report(args),
        Command::Clients(args) => rt.block_on(clients::cli::clients(*args)),
        Command::Matrix(args) => rt.block_on(acmespec::interop::cli::run(*args)),
        Command::Client(command) => rt.block_on(acmespec::client::cli::run(command)),
        Command::Fuzz(command) => acmespec::fuzzing::cli::run(command),
        Command::Load(args) => rt.block_on(acmespec::load::cli::run(*args)),
        Command::Expect(args) => report::cli::expect(args),
        Command::Diff(args) => report::cli::diff(args),
    }
}

/// `acmespec list | head`: when the reader of stdout goes away, end as other Unix tools
/// do, with the status of a process killed by SIGPIPE (141) and no message, instead of
/// the panic `println!` raises on a broken pipe.
fn stop_quietly_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let broken_pipe = info
            .payload_as_str()
            .is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe"));
        if broken_pipe {
            std::process::exit(141);
        }
        default(info);
    }));
}
