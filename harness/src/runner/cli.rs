//! `acmespec run` and `acmespec list`: the server catalogue on the command line.
//!
//! The flags say where the server is, how the runner reaches it and is reached
//! (listeners, responder addresses, external solvers), what it may spend (orders, wait)
//! and where the results go; everything else is the runner's.

use crate::cli_support::{closing_status, load_catalogue, load_expectations, usage_error, write_rendered_reports, write_reports};
use crate::load::CpuMeter;
use crate::protocol::http::ClientOptions;
use crate::report::Redactor;
use crate::responders::Responders;
use crate::runner::{self, RunOptions, RunReport};
use clap::ValueEnum;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args)]
/// `acmespec run`.
#[allow(missing_docs)]
pub struct RunArgs {
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
    solver_exec_for: Vec<crate::protocol::wire::ChallengeType>,
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
    defects: Vec<crate::mockca::Defect>,
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
/// `acmespec list`.
#[allow(missing_docs)]
pub struct ListArgs {
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

/// Runs the catalogue against the server (or the built-in mock CA) and writes the reports.
pub async fn run(args: RunArgs) -> ExitCode {
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
            eprintln!("acmespec: {}", crate::load::server_pid_ignored(pid));
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
        match crate::protocol::http::read_ca_certs(path) {
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
            let reference = match crate::defect_matrix::Reference::start(&responders, &args.defects).await {
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
    let mut live_json = args.json.as_deref().map(crate::report::LiveJsonReport::new);
    let mut stream = match args.jsonl.as_deref().map(crate::report::ResultStream::create).transpose() {
        Ok(s) => s,
        Err(e) => return usage_error(format!("--jsonl: {e}")),
    };
    let selected = runner::select(&catalogue, options.filter.as_deref()).map(|c| c.len()).unwrap_or_default();
    let progress = Arc::new(Mutex::new(crate::report::Progress::new(selected)));
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
        let all = crate::protocol::wire::ChallengeType::ALL;
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

/// Prints the catalogue.
pub fn list(args: ListArgs) -> ExitCode {
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
