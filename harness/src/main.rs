//! The `acmespec` command line.

use acmespec::load::CpuMeter;
use acmespec::mockca::{MockCa, MockCaConfig};
use acmespec::protocol::http::ClientOptions;
use acmespec::report::{PinnedVerdict, Redactor};
use acmespec::responders::Responders;
use acmespec::runner::{self, RunOptions, RunReport, Verdict};
use acmespec::scenario::{Catalogue, Requirement, embedded_catalogue};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "acmespec", version, about = "Conformance and fuzz test harness for ACME (RFC 8555)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance catalogue against an ACME server.
    Run(Box<RunArgs>),
    /// List the catalogue: id, level, requirement ids, title.
    List(ListArgs),
    /// Serve the mock CA (the reference RFC 8555 server), optionally with defects.
    Serve(Box<ServeArgs>),
    /// Requirement coverage of the server suite, per RFC, section and level.
    Coverage(CoverageArgs),
    /// Render a saved run (a --json report or a --jsonl stream, possibly cut short) as
    /// Markdown, self-contained HTML or JUnit XML.
    Report(ReportArgs),
    /// Grade a real ACME client (through its adapter file) against the mock CA, one
    /// client scenario at a time, with scripted faults.
    Clients(Box<ClientsArgs>),
    /// Run the catalogue against the mock CA clean and with each defect; report which
    /// cases each defect fails and which cases no defect can fail.
    DefectMatrix(MatrixArgs),
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
    Expect(ExpectArgs),
    /// Compare two saved runs: newly failing, newly passing and other verdict changes;
    /// exit 1 when a verdict got worse.
    Diff(DiffArgs),
}

#[derive(clap::Args)]
struct CoverageArgs {
    /// Read case files from this scenarios directory instead of the built-in catalogue.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CoverageFormat::Md)]
    format: CoverageFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum CoverageFormat {
    Md,
    Json,
}

#[derive(clap::Args)]
struct MatrixArgs {
    /// Read case files from this scenarios directory instead of the built-in catalogue.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Write the matrix as Markdown here (e.g. reports/defect-matrix.md).
    #[arg(long)]
    md: Option<PathBuf>,
    /// Suite runs in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where the ACME HTTPS listener binds.
    #[arg(long, default_value = "127.0.0.1:14000")]
    listen: SocketAddr,
    /// Where the plain-HTTP management listener binds (roots, certificate status, defects).
    #[arg(long)]
    management_listen: Option<SocketAddr>,
    /// Write the PEM a client must trust for the HTTPS listener here.
    #[arg(long)]
    ca_cert_out: Option<PathBuf>,
    /// Mark every challenge valid without validating it.
    #[arg(long)]
    always_valid: bool,
    /// Port the validation authority connects to for http-01.
    #[arg(long, default_value_t = 80)]
    va_http_port: u16,
    /// Port the validation authority connects to for tls-alpn-01.
    #[arg(long, default_value_t = 443)]
    va_tls_port: u16,
    /// DNS server the validation authority resolves names with (default: the system's).
    #[arg(long)]
    va_resolver: Option<SocketAddr>,
    /// Let the validation authority connect to non-loopback addresses (an SSRF risk).
    #[arg(long)]
    va_allow_remote: bool,
    /// Serve DNS here (A 127.0.0.1 for every name; TXT records set through the management
    /// listener's challtestsrv-style /set-txt and /clear-txt) and validate through it.
    #[arg(long)]
    dns_listen: Option<SocketAddr>,
    /// Switch on a defect (repeatable); see --list-defects.
    #[arg(long = "defect", value_name = "NAME")]
    defects: Vec<acmespec::mockca::Defect>,
    /// Require external account binding with this key: KID:BASE64URL-HMAC-KEY (repeatable).
    #[arg(long = "eab-key", value_name = "KID:KEY")]
    eab_keys: Vec<String>,
    /// Alternate certificate chains offered besides the primary one.
    #[arg(long, default_value_t = 1)]
    alternate_chains: usize,
    /// Refuse accounts without a contact URL (invalidContact), as many enterprise CAs do.
    #[arg(long)]
    require_contact: bool,
    /// Refuse newOrder with rateLimited past REQUESTS orders per account within SECONDS
    /// (RFC 8555 §6.6); declare it to `acmespec run` with a [rate-limit] table.
    #[arg(long, value_name = "REQUESTS/SECONDS")]
    rate_limit: Option<acmespec::mockca::NewOrderLimit>,
    /// Advertise this certificate profile in meta.profiles (draft-ietf-acme-profiles;
    /// repeatable, the first is the default), issuing as the classic profile does,
    /// instead of the default set: classic (90 days, common name), tlsserver (no common
    /// name, DNS names only) and shortlived (160 hours). The management listener's
    /// `POST /withdraw-profile {"profile": NAME}` withdraws one.
    #[arg(long = "profile", value_name = "NAME=DESCRIPTION", conflicts_with = "no_profiles")]
    profiles: Vec<acmespec::mockca::Profile>,
    /// Advertise no profiles, as a CA without the extension.
    #[arg(long)]
    no_profiles: bool,
    /// Print the defects with the cases each must fail, and exit.
    #[arg(long)]
    list_defects: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Directory URL of the server under test; without it, the built-in mock CA is tested.
    #[arg(long)]
    directory: Option<String>,
    /// PEM file with the root(s) to trust for the server's HTTPS (e.g. Pebble's).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Where the http-01 responder listens (the CA must reach it) [default: 127.0.0.1:5002; a free port when testing the built-in mock CA].
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// Where the tls-alpn-01 responder listens [default: 127.0.0.1:5001; a free port when testing the built-in mock CA].
    #[arg(long)]
    tls_alpn_listen: Option<SocketAddr>,
    /// Where the DNS responder listens (UDP and TCP); point the CA's resolver here [default: 127.0.0.1:8053; a free port when testing the built-in mock CA].
    #[arg(long)]
    dns_listen: Option<SocketAddr>,
    /// The address the built-in DNS gives every test name (A for IPv4, AAAA for IPv6;
    /// at most one of each) instead of 127.0.0.1, so that a CA sent to the runner by a
    /// delegated zone connects to its listeners there. Without --http-listen and
    /// --tls-alpn-listen those then listen on every address of the family ([::] when an
    /// IPv6 one is given), on their usual port.
    #[arg(long = "responder-address", value_name = "IP")]
    responder_addresses: Vec<std::net::IpAddr>,
    /// Answer http-01 by writing `DIR/.well-known/acme-challenge/TOKEN` for a web server
    /// you run, instead of the runner's responder. Cases that judge the CA's validation
    /// requests then are `unsupported`.
    #[arg(long, value_name = "DIR")]
    http01_webroot: Option<PathBuf>,
    /// Publish challenge responses with this program, called
    /// `PATH present|cleanup TYPE IDENTIFIER TOKEN VALUE` (VALUE: the key authorization,
    /// or for dns-01 the TXT value), for the types of --solver-exec-for. Cases that judge
    /// the CA's validation requests then are `unsupported`.
    #[arg(long, value_name = "PATH")]
    solver_exec: Option<PathBuf>,
    /// Challenge types --solver-exec answers (http-01, dns-01, tls-alpn-01) [default:
    /// every type --http01-webroot and --dns-rfc2136 do not].
    #[arg(long, value_name = "TYPE")]
    solver_exec_for: Vec<acmespec::client::ChallengeType>,
    /// Answer dns-01 by adding TXT records to this authoritative DNS server (IP or
    /// IP:PORT, port 53 by default) by RFC 2136 dynamic update over TCP, instead of the
    /// runner's DNS. Cases that judge the CA's validation queries then are `unsupported`.
    #[arg(long, value_name = "SERVER")]
    dns_rfc2136: Option<String>,
    /// The TSIG key --dns-rfc2136 signs its updates with, as NAME:ALGORITHM:SECRET
    /// (hmac-sha256, hmac-sha384 or hmac-sha512; the base64 secret tsig-keygen prints).
    /// Without it updates go unsigned.
    #[arg(long, value_name = "NAME:ALG:SECRET", env = "ACMESPEC_TSIG", hide_env_values = true)]
    tsig: Option<runner::TsigKey>,
    /// Seconds one --solver-exec call or --dns-rfc2136 exchange may take before it is
    /// given up.
    #[arg(long, value_name = "SECONDS", default_value_t = runner::DEFAULT_SOLVER_TIMEOUT.as_secs())]
    solver_timeout: u64,
    /// Seconds to wait after --solver-exec or --dns-rfc2136 published a response, for it
    /// to reach the CA.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    solver_propagation: u64,
    /// Run only cases whose id matches this glob, e.g. 'rfc8555/7.3*'.
    #[arg(long)]
    filter: Option<String>,
    /// Write the JSON report here (rewritten as cases finish, at most four times a second,
    /// and at the end; --jsonl keeps each case the moment it finishes).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Append each case's result to this JSON Lines file as it finishes; a run cut short
    /// leaves every finished case there (`acmespec report` renders it, marked incomplete).
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a Markdown report here (for a pull-request comment): summary, matrix by RFC
    /// section, and every case that did not pass with its redacted transcript.
    #[arg(long, value_name = "PATH")]
    md: Option<PathBuf>,
    /// Write the same report as one self-contained HTML page here (no external assets).
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Read case files from this scenarios directory instead of the built-in catalogue.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Parent domain of the random test names the runner orders certificates for.
    #[arg(long, default_value = "acmespec.test")]
    domain_suffix: String,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Per-case timeout in seconds.
    #[arg(long, default_value_t = 120)]
    case_timeout: u64,
    /// Largest response body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    /// Count SHOULD-level misses (non-strict) as failures in the exit status.
    #[arg(long)]
    strict: bool,
    /// Expected failures: a baseline file of `[[expect]]` id, verdict, reason, link. A
    /// listed case getting its verdict does not fail the run; one that passes now, or
    /// gets another verdict, does (see README, "Output").
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// The server's process id: print its CPU time per request next to the harness's
    /// own (Linux).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Cases in flight at once (1 runs them one after another; results are still
    /// reported in catalogue order).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Switch on a defect of the built-in mock CA (repeatable; only without --directory),
    /// to see a case fail the way it should.
    #[arg(long = "defect", value_name = "NAME", conflicts_with = "directory")]
    defects: Vec<acmespec::mockca::Defect>,
    /// External account binding credentials the server handed out: every new account is
    /// bound with them, and the EAB cases run (RFC 8555 §7.3.4).
    #[arg(long, value_name = "KID:BASE64URL_KEY", requires = "directory")]
    eab: Option<runner::EabCredentials>,
    /// TOML file declaring the optional features the server offers or not (see
    /// scenarios/README.md, "Capabilities"); cases needing an undeclared policy feature
    /// are unsupported.
    #[arg(long, value_name = "FILE", requires = "directory")]
    capabilities: Option<PathBuf>,
    /// A contact URL (e.g. mailto:you@example.org) for every account the run makes,
    /// except in cases about contacts themselves (repeatable); for CAs that require one.
    #[arg(long = "contact", value_name = "URL")]
    contacts: Vec<String>,
    /// Refuse to start when the selected cases could create more orders than this (the
    /// plan printed before the first request says how many); for shared staging CAs.
    #[arg(long, value_name = "N")]
    max_orders: Option<usize>,
    /// Seconds a request answered 429 may wait in all for its Retry-After before its case
    /// is `error` with the server's rate-limit detail (a 429 without Retry-After is not
    /// retried).
    #[arg(long, value_name = "SECONDS", default_value_t = runner::DEFAULT_MAX_WAIT.as_secs())]
    max_wait: u64,
}

#[derive(clap::Args)]
struct ListArgs {
    /// Read case files from this scenarios directory instead of the built-in catalogue.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Only cases whose id matches this glob.
    #[arg(long)]
    filter: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("acmespec: {msg}");
    ExitCode::from(2)
}

fn load_catalogue(dir: Option<&Path>) -> Result<Catalogue, String> {
    match dir {
        Some(d) => Catalogue::load_dir(d).map_err(|e| e.to_string()),
        None => embedded_catalogue().map_err(|e| format!("built-in catalogue: {e}")),
    }
}

fn main() -> ExitCode {
    stop_quietly_when_stdout_closes();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return usage_error(format!("cannot start the async runtime: {e}")),
    };
    match cli.command {
        Command::List(args) => list(args),
        Command::Run(args) => rt.block_on(run(*args)),
        Command::Serve(args) => rt.block_on(serve(*args)),
        Command::DefectMatrix(args) => rt.block_on(defect_matrix(args)),
        Command::Coverage(args) => coverage(args),
        Command::Report(args) => report(args),
        Command::Clients(args) => rt.block_on(clients(*args)),
        Command::Matrix(args) => rt.block_on(acmespec::interop::cli::run(*args)),
        Command::Client(command) => rt.block_on(acmespec::client::cli::run(command)),
        Command::Fuzz(command) => acmespec::fuzzing::cli::run(command),
        Command::Load(args) => rt.block_on(acmespec::load::cli::run(*args)),
        Command::Expect(args) => expect(args),
        Command::Diff(args) => diff(args),
    }
}

fn list(args: ListArgs) -> ExitCode {
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let cases = match runner::select(&catalogue, args.filter.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    match args.format {
        ListFormat::Text => {
            for c in cases {
                let level = serde_json::to_value(c.def.level).unwrap_or_default();
                println!(
                    "{:<55} {:<6} {:<30} {}",
                    c.def.id,
                    level.as_str().unwrap_or(""),
                    c.def.requirements.join(","),
                    c.def.title
                );
            }
        }
        ListFormat::Json => {
            let rows: Vec<_> = cases
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.def.id, "level": c.def.level, "requirements": c.def.requirements,
                        "title": c.def.title, "requires": c.def.requires,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        }
    }
    ExitCode::SUCCESS
}

fn write_reports(report: &RunReport, json: Option<&Path>, junit: Option<&Path>) {
    if let Some(p) = json
        && let Err(e) = acmespec::report::write_json(p, report) {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
    if let Some(p) = junit
        && let Err(e) = acmespec::report::write_junit(p, report) {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
}

/// Writes the Markdown and HTML reports of `report` where asked.
fn write_rendered_reports(
    report: &RunReport,
    md: Option<&Path>,
    html: Option<&Path>,
    requirements: &BTreeMap<String, Requirement>,
    known: &BTreeMap<String, PinnedVerdict>,
    redactor: &Redactor,
) {
    type Render = fn(&RunReport, &BTreeMap<String, Requirement>, &BTreeMap<String, PinnedVerdict>, &Redactor) -> String;
    let outputs: [(Option<&Path>, Render); 2] = [(md, acmespec::report::to_markdown), (html, acmespec::report::to_html)];
    for (path, render) in outputs {
        if let Some(p) = path
            && let Err(e) = acmespec::report::write_text(p, &render(report, requirements, known, redactor))
        {
            eprintln!("acmespec: cannot write {}: {e}", p.display());
        }
    }
}

fn parse_eab_keys(specs: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    specs
        .iter()
        .map(|spec| {
            let (kid, key) = spec.split_once(':').ok_or_else(|| format!("--eab-key {spec:?} must be KID:BASE64URL-KEY"))?;
            let key = acmespec::protocol::b64::decode(key).map_err(|e| format!("--eab-key {kid}: {e}"))?;
            Ok((kid.to_owned(), key))
        })
        .collect()
}

fn coverage(args: CoverageArgs) -> ExitCode {
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let cov = acmespec::coverage::Coverage::of(&catalogue);
    match args.format {
        CoverageFormat::Md => print!("{}", cov.to_markdown(&catalogue)),
        CoverageFormat::Json => println!("{}", serde_json::to_string_pretty(&cov).unwrap_or_default()),
    }
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
struct ReportArgs {
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

fn report(args: ReportArgs) -> ExitCode {
    let results = match acmespec::report::read_results(&args.results) {
        Ok(r) => r,
        Err(e) => return usage_error(format!("cannot read the results: {e}")),
    };
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let known = match args.expect.as_deref().map(acmespec::report::read_baseline).transpose() {
        Ok(known) => known.unwrap_or_default(),
        Err(e) => return usage_error(e),
    };
    let redactor = Redactor::default();
    let text = match args.format {
        ReportFormat::Md => acmespec::report::to_markdown(&results, &catalogue.requirements, &known, &redactor),
        ReportFormat::Html => acmespec::report::to_html(&results, &catalogue.requirements, &known, &redactor),
        ReportFormat::Junit => acmespec::report::to_junit(&results),
    };
    match &args.out {
        Some(path) => {
            if let Err(e) = acmespec::report::write_text(path, &text) {
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

async fn defect_matrix(args: MatrixArgs) -> ExitCode {
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let matrix = match acmespec::matrix::DefectMatrix::run(&catalogue, args.concurrency).await {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    println!("clean: {}", matrix.clean.summary);
    for (d, failing) in &matrix.broken {
        println!("{}:", d.name());
        for (id, n) in failing {
            let by = n.blocked_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            println!("    {id} ({}{by})", n.verdict.name());
        }
    }
    if let Some(path) = &args.md
        && let Err(e) = std::fs::write(path, matrix.to_markdown(&catalogue))
    {
        return usage_error(format!("--md {}: {e}", path.display()));
    }
    let uncovered = matrix.uncovered(&catalogue);
    let mut mismatches = matrix.declaration_mismatches();
    mismatches.extend(matrix.blocked_mismatches());
    for id in &uncovered {
        println!("no defect fails {id}");
    }
    for m in &mismatches {
        println!("{m}");
    }
    let clean_ok = matrix.clean.summary.pass == matrix.clean.summary.total;
    if clean_ok && uncovered.is_empty() && mismatches.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

async fn serve(args: ServeArgs) -> ExitCode {
    if args.list_defects {
        for d in acmespec::mockca::Defect::ALL {
            println!("{:<34} {}", d.name(), d.description());
            for case in d.fails() {
                println!("{:<34}   fails {case}", "");
            }
        }
        return ExitCode::SUCCESS;
    }
    let eab_keys = match parse_eab_keys(&args.eab_keys) {
        Ok(k) => k,
        Err(e) => return usage_error(e),
    };
    if let Some((_, p)) = args.profiles.iter().enumerate().find(|(i, p)| args.profiles[..*i].iter().any(|q| q.name == p.name)) {
        return usage_error(format!("--profile {}: given more than once", p.name));
    }
    let config = MockCaConfig {
        listen: args.listen,
        management_listen: args.management_listen,
        always_valid: args.always_valid,
        va_http_port: args.va_http_port,
        va_tls_port: args.va_tls_port,
        va_resolver: args.va_resolver,
        va_allow_remote: args.va_allow_remote,
        dns_listen: args.dns_listen,
        defects: args.defects.clone(),
        eab_keys,
        alternate_chains: args.alternate_chains,
        new_order_limit: args.rate_limit,
        contact_required: args.require_contact,
        profiles: match (&args.profiles[..], args.no_profiles) {
            (_, true) => Vec::new(),
            ([], false) => acmespec::mockca::Profile::default_set(),
            (given, false) => given.to_vec(),
        },
        ..MockCaConfig::default()
    };
    let ca = match MockCa::start(config).await {
        Ok(ca) => ca,
        Err(e) => return usage_error(e),
    };
    if let Some(path) = &args.ca_cert_out
        && let Err(e) = std::fs::write(path, ca.https_root_pem())
    {
        return usage_error(format!("--ca-cert-out {}: {e}", path.display()));
    }
    println!("acmespec mock CA: directory {}", ca.directory_url());
    if let Some(m) = ca.management_url() {
        println!("management: {m}");
    }
    if let Some(dns) = ca.dns() {
        println!("dns: {}", dns.local_addr());
    }
    if !args.defects.is_empty() {
        let names: Vec<&str> = args.defects.iter().map(|d| d.name()).collect();
        println!("defects: {}", names.join(", "));
    }
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

async fn run(args: RunArgs) -> ExitCode {
    if let Some(directory) = &args.directory
        && url::Url::parse(directory).is_err()
    {
        return usage_error(format!("--directory {directory:?} is not a URL"));
    }
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let expectations = match load_expectations(args.expect.as_deref(), catalogue.cases.iter().map(|c| c.def.id.as_str())) {
        Ok(e) => e,
        Err(e) => return usage_error(e),
    };
    let mut capabilities = match args.capabilities.as_deref().map(runner::Capabilities::load).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return usage_error(e),
    };
    let server_cpu = match args.server_pid {
        Some(pid) if args.directory.is_none() => {
            eprintln!("acmespec: {}", acmespec::load::server_pid_ignored(pid));
            None
        }
        Some(pid) => match CpuMeter::start(Some(pid)) {
            Ok(meter) => Some((pid, meter)),
            Err(e) => return usage_error(format!("--server-pid {pid}: {e}")),
        },
        None => None,
    };
    let mut eab = args.eab.clone();
    let mut client = ClientOptions {
        timeout: Duration::from_secs(args.timeout),
        max_body: args.max_body,
        ..ClientOptions::default()
    };
    if let Some(path) = &args.ca_cert {
        match acmespec::protocol::http::read_ca_certs(path) {
            Ok(certs) => client.ca_certs = certs,
            Err(e) => return usage_error(e),
        }
    }
    let answered = match responder_addresses(&args.responder_addresses) {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    // A server of the user's own is configured to reach the well-known ports; the
    // built-in mock CA is told the ports, so any free ones do. Listeners for addresses
    // the DNS hands out listen on every address of the family.
    let listen_ip: std::net::IpAddr = match answered {
        (_, Some(_)) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        (Some(_), None) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        (None, None) => std::net::Ipv4Addr::LOCALHOST.into(),
    };
    let port = |given: Option<SocketAddr>, default: u16, ip: std::net::IpAddr| {
        given.unwrap_or_else(|| {
            let port = if args.directory.is_some() { default } else { 0 };
            SocketAddr::new(ip, port)
        })
    };
    let loopback = std::net::Ipv4Addr::LOCALHOST.into();
    let (http, tls, dns) =
        (port(args.http_listen, 5002, listen_ip), port(args.tls_alpn_listen, 5001, listen_ip), port(args.dns_listen, 8053, loopback));
    let responders = match Responders::start(http, tls, dns).await {
        Ok(r) => r,
        Err(e) => return usage_error(format!("cannot start the challenge responders: {e}")),
    };
    if answered != (None, None) {
        responders.dns().set_default_ipv4(answered.0);
        responders.dns().set_default_ipv6(answered.1);
    }
    // Without --directory the built-in mock CA is the server under test, validating
    // against this run's own responders, with its own EAB credentials and capabilities.
    let mut embedded = None;
    let directory = match args.directory.clone() {
        Some(d) => d,
        None => {
            let reference = match acmespec::matrix::Reference::start(&responders, &args.defects).await {
                Ok(r) => r,
                Err(e) => return usage_error(e),
            };
            let ca = &reference.ca;
            client.ca_certs = vec![rustls_pki_types::CertificateDer::from(ca.https_root_der().to_vec())];
            println!("no --directory: testing the built-in mock CA at {}", ca.directory_url());
            let url = ca.directory_url();
            eab = Some(reference.eab.clone());
            capabilities = reference.capabilities.clone();
            embedded = Some(reference);
            url
        }
    };
    let options = RunOptions {
        directory_url: directory,
        client,
        filter: args.filter.clone(),
        domain_suffix: args.domain_suffix.clone(),
        case_timeout: Duration::from_secs(args.case_timeout),
        concurrency: usize::from(args.concurrency),
        eab,
        capabilities,
        contacts: args.contacts.clone(),
        max_orders: args.max_orders,
        max_wait: Duration::from_secs(args.max_wait),
        solvers: match solvers(&args) {
            Ok(s) => s,
            Err(e) => return usage_error(e),
        },
    };
    // The bill comes before the first request (the directory included).
    match runner::plan(&catalogue, &options) {
        Ok(plan) => println!("plan: {plan} (under --domain-suffix {}, fresh random names)", options.domain_suffix),
        Err(e) => return usage_error(e),
    }
    let harness_cpu = CpuMeter::start(None).ok();
    let latest: Arc<Mutex<Option<RunReport>>> = Arc::default();
    let mut live_json = args.json.as_deref().map(acmespec::report::LiveJsonReport::new);
    let mut stream = match args.jsonl.as_deref().map(acmespec::report::ResultStream::create).transpose() {
        Ok(s) => s,
        Err(e) => return usage_error(format!("--jsonl: {e}")),
    };
    let selected = runner::select(&catalogue, options.filter.as_deref()).map(|c| c.len()).unwrap_or_default();
    let progress = Arc::new(Mutex::new(acmespec::report::Progress::new(selected)));
    let sink = {
        let latest = latest.clone();
        let progress = progress.clone();
        move |report: &RunReport| {
            progress.lock().expect("progress lock").update(&report.cases);
            if let Some(stream) = stream.as_mut()
                && let Err(e) = stream.update(report)
            {
                eprintln!("acmespec: --jsonl: {e}");
            }
            if let Some(live) = live_json.as_mut()
                && let Err(e) = live.update(report)
            {
                eprintln!("acmespec: --json: {e}");
            }
            let mut latest = latest.lock().expect("report lock");
            match latest.as_mut() {
                Some(kept) => kept.catch_up(report),
                None => *latest = Some(report.clone()),
            }
        }
    };
    let redactor = options.eab.as_ref().map_or_else(Redactor::default, |eab| Redactor::with_mac_key(&eab.mac_key));
    let known = expectations.as_ref().map(|e| e.listed().clone()).unwrap_or_default();
    let write_rendered = |report: &RunReport| {
        write_rendered_reports(report, args.md.as_deref(), args.html.as_deref(), &catalogue.requirements, &known, &redactor);
    };
    let outcome = tokio::select! {
        r = runner::run(&catalogue, &options, &responders, sink) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let embedded_ran = embedded.is_some();
    drop(embedded);
    let report = match outcome {
        Some(Ok(report)) => report,
        Some(Err(e)) => return usage_error(e),
        None => {
            eprintln!("acmespec: interrupted; the reports hold the cases that finished");
            let partial = latest.lock().expect("report lock").clone();
            if let Some(r) = partial {
                write_reports(&r, args.json.as_deref(), args.junit.as_deref());
                write_rendered(&r);
            }
            return ExitCode::from(130);
        }
    };
    write_reports(&report, args.json.as_deref(), args.junit.as_deref());
    write_rendered(&report);
    progress.lock().expect("progress lock").finish(&report.summary.to_string());
    print_cost(&report, harness_cpu, server_cpu, embedded_ran);
    closing_status(expectations.as_ref(), report.cases.iter().map(|c| (c.id.as_str(), c.verdict)), args.strict)
}

/// The external solvers the flags name, by challenge type.
fn solvers(args: &RunArgs) -> Result<runner::Solvers, String> {
    let mut solvers = runner::Solvers::default();
    if let Some(dir) = &args.http01_webroot {
        if !dir.is_dir() {
            return Err(format!("--http01-webroot {}: not a directory", dir.display()));
        }
        solvers.http01 = Some(runner::ExternalSolver::Webroot(dir.clone()));
    }
    if args.tsig.is_some() && args.dns_rfc2136.is_none() {
        return Err("--tsig needs --dns-rfc2136".into());
    }
    if let Some(server) = &args.dns_rfc2136 {
        let server = dns_server_address(server).map_err(|e| format!("--dns-rfc2136 {server}: {e}"))?;
        let timeout = Duration::from_secs(args.solver_timeout);
        let server = runner::Rfc2136 { server, key: args.tsig.clone(), timeout };
        solvers.dns01 = Some(runner::ExternalSolver::Rfc2136 { server, propagation: Duration::from_secs(args.solver_propagation) });
    }
    if !args.solver_exec_for.is_empty() && args.solver_exec.is_none() {
        return Err("--solver-exec-for needs --solver-exec".into());
    }
    if let Some(path) = &args.solver_exec {
        let exec = runner::ExternalSolver::Exec {
            path: path.clone(),
            timeout: Duration::from_secs(args.solver_timeout),
            propagation: Duration::from_secs(args.solver_propagation),
        };
        let all = acmespec::client::ChallengeType::ALL;
        let types = if args.solver_exec_for.is_empty() { all.to_vec() } else { args.solver_exec_for.clone() };
        for kind in types {
            let slot = solvers.slot_mut(kind);
            match slot {
                Some(other) if args.solver_exec_for.contains(&kind) => {
                    let flag = if matches!(other, runner::ExternalSolver::Webroot(_)) { "--http01-webroot" } else { "--dns-rfc2136" };
                    return Err(format!("--solver-exec-for {kind}: {flag} answers it already"));
                }
                Some(_) => {}
                None => *slot = Some(exec.clone()),
            }
        }
    }
    Ok(solvers)
}

/// `IP` or `IP:PORT` (`[IPv6]:PORT`) of a DNS server, port 53 by default.
fn dns_server_address(given: &str) -> Result<SocketAddr, String> {
    given
        .parse::<SocketAddr>()
        .or_else(|_| given.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| "not an IP address or IP:PORT".to_owned())
}

/// The `--responder-address` values as (IPv4, IPv6): at most one of each, each an
/// address a CA can connect to.
fn responder_addresses(given: &[std::net::IpAddr]) -> Result<(Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>), String> {
    let (mut v4, mut v6) = (None, None);
    for ip in given {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(format!("--responder-address {ip}: not an address a CA can connect to"));
        }
        let taken = match ip {
            std::net::IpAddr::V4(a) => v4.replace(*a).is_some(),
            std::net::IpAddr::V6(a) => v6.replace(*a).is_some(),
        };
        if taken {
            return Err(format!("--responder-address {ip}: give at most one IPv4 and one IPv6 address"));
        }
    }
    Ok((v4, v6))
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

/// What the run cost: requests sent, the harness's CPU time per request and, with
/// `--server-pid`, the server's.
fn print_cost(report: &RunReport, harness: Option<CpuMeter>, server: Option<(u32, CpuMeter)>, embedded: bool) {
    let requests: usize = report.cases.iter().map(|c| c.requests).sum();
    let spent = |meter: &CpuMeter| {
        let (ms, per_request) = meter.spent(requests as u64).ok()?;
        let per_request = per_request.map(|r| format!(", {r:.2} ms per request")).unwrap_or_default();
        Some(format!("{ms:.0} ms CPU{per_request}"))
    };
    let mut line = format!("{requests} requests");
    if let Some(harness) = harness.as_ref().and_then(spent) {
        let with_server = if embedded { " (the built-in mock CA included)" } else { "" };
        line += &format!("; harness{with_server} {harness}");
    }
    if let Some((pid, server)) = server.and_then(|(pid, meter)| Some((pid, spent(&meter)?))) {
        line += &format!("; server (pid {pid}) {server}");
    }
    println!("{line}");
}

#[derive(clap::Args)]
struct ClientsArgs {
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

async fn clients(args: ClientsArgs) -> ExitCode {
    use acmespec::clients::adapter::Adapter;
    use acmespec::clients::run::{self as client_run, ClientRunOptions, ClientsReport};
    use acmespec::clients::scenario::ClientCatalogue;
    let adapter = match Adapter::load(&args.adapter) {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    let loaded = match args.scenarios.as_deref() {
        Some(dir) => ClientCatalogue::load_dir(dir),
        None => ClientCatalogue::embedded().map_err(|e| acmespec::scenario::LoadError {
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

/// Reads `--expect FILE` and refuses ids the catalogue (`known`) does not have.
fn load_expectations<'a>(
    path: Option<&Path>,
    known: impl IntoIterator<Item = &'a str>,
) -> Result<Option<acmespec::report::Expectations>, String> {
    let Some(path) = path else { return Ok(None) };
    let expectations = acmespec::report::Expectations::load(path)?;
    expectations.check_known(known)?;
    Ok(Some(expectations))
}

/// The exit status of a finished run: judged against the expectations (and the
/// judgement printed) when there are some, else 1 on any fail or error (or non-strict
/// with `strict`).
fn closing_status<'a>(
    expectations: Option<&acmespec::report::Expectations>,
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

#[derive(clap::Args)]
struct ExpectArgs {
    /// The saved run: a --json report or --jsonl stream of `acmespec run`, or a --json
    /// report of `acmespec clients`.
    #[arg(long, value_name = "RESULTS")]
    from: PathBuf,
    /// Write the expectation file here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn expect(args: ExpectArgs) -> ExitCode {
    let report = match acmespec::report::read_results(&args.from) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let (text, errors) = match acmespec::report::starting_expectations(&report, &args.from) {
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
struct DiffArgs {
    /// The earlier run (a --json report or --jsonl stream of `acmespec run`, or a --json
    /// report of `acmespec clients`).
    old: PathBuf,
    /// The later run, in the same forms.
    new: PathBuf,
    /// Also write the comparison as Markdown here, for a release note.
    #[arg(long, value_name = "PATH")]
    md: Option<PathBuf>,
}

fn diff(args: DiffArgs) -> ExitCode {
    use acmespec::report::read_results;
    let (old, new) = match (read_results(&args.old), read_results(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    let diff = acmespec::report::RunDiff::of(&args.old.display().to_string(), &old, &args.new.display().to_string(), &new);
    print!("{}", diff.to_text());
    if let Some(path) = &args.md
        && let Err(e) = std::fs::write(path, diff.to_markdown())
    {
        return usage_error(format!("--md {}: {e}", path.display()));
    }
    if diff.regressed() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
