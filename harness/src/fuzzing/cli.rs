//! `acmespec fuzz`: live campaigns against a server and the replay of their findings,
//! plus the corpus tools that need no libFuzzer (seeding, replaying inputs), so a crash
//! file from a libFuzzer campaign can be checked on any machine.

use crate::cli_support::usage_error;
use super::live::{self, LiveOptions, LiveReport};
use super::live_report;
use super::{Target, replay_files};
use crate::mockca::{Defect, MockCa, MockCaConfig};
use crate::protocol::http::{ClientOptions, read_ca_certs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `acmespec fuzz`: with options, a live campaign against a server (or the built-in
/// mock CA); with a subcommand, the libFuzzer corpus tools.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FuzzArgs {
    #[command(subcommand)]
    command: Option<FuzzCommand>,
    #[command(flatten)]
    live: Box<LiveArgs>,
}

/// The libFuzzer corpus tools.
#[derive(Debug, clap::Subcommand)]
pub enum FuzzCommand {
    /// Write each target's generated seed inputs under DIR/<target>/ (e.g. fixtures/corpus).
    Seeds {
        /// Corpus root directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run libFuzzer inputs through a target's oracle without libFuzzer: the given files,
    /// or the target's committed corpus and regressions under --fixtures.
    Replay {
        /// Target name (jws_parse, jws_verify, jwk_thumbprint, csr, server_response, wfe_request, order_state).
        target: String,
        /// Input files; without any, the committed corpus and regressions.
        files: Vec<PathBuf>,
        /// The fixtures directory holding corpus/ and regressions/.
        #[arg(long, default_value = "fixtures")]
        fixtures: PathBuf,
    },
}

/// Options of a live campaign (`acmespec fuzz --directory URL ...`).
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// Directory URL (127.0.0.1, [::1] or localhost only); without it, the built-in mock CA.
    #[arg(long)]
    directory: Option<String>,
    /// PEM file with the root(s) to trust for the server's HTTPS.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Seed of the request sequence; the same seed sends the same requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Requests to send, minimisation of findings included (at most 1,000,000).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Time budget in seconds (at most 86,400).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// An answer slower than this many milliseconds is a finding.
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// Write the JSON report here (rewritten after every new finding and at the end).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write report.json (every finding), report.md, report.html, junit.xml and
    /// findings/*.json (one replayable file per root cause) here, rewritten after every
    /// new finding and at the end.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Send a saved root cause's reproducer (a findings/*.json file) again instead of a
    /// campaign; exits 1 when it still breaks its oracle, 0 when it no longer does.
    #[arg(long, value_name = "FINDING")]
    replay: Option<PathBuf>,
    /// Switch on a defect of the built-in mock CA (repeatable; only without --directory).
    #[arg(long = "defect", value_name = "NAME", conflicts_with = "directory")]
    defects: Vec<Defect>,
}

/// Runs a fuzzing subcommand: 0 when all went well, 1 when an input broke an oracle,
/// 2 on bad usage or I/O trouble.
/// The in-process targets run their own runtimes, so this must not be called from
/// inside one; `live` gets a runtime of its own here.
pub fn run(args: FuzzArgs) -> ExitCode {
    let Some(command) = args.command else {
        return match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(run_live(*args.live)),
            Err(e) => {
                usage_error(format!("cannot start the async runtime: {e}"))
            }
        };
    };
    match command {
        FuzzCommand::Seeds { out } => {
            for target in Target::ALL {
                let dir = out.join(target.name());
                for (name, data) in target.generated_seeds() {
                    let path = dir.join(name);
                    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, data)) {
                        return usage_error(format!("cannot write {}: {e}", path.display()));
                    }
                    println!("{}", path.display());
                }
            }
            ExitCode::SUCCESS
        }
        FuzzCommand::Replay { target, files, fixtures } => {
            let Some(t) = Target::from_name(&target) else {
                let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
                return usage_error(format!("unknown fuzz target {target:?}; targets: {}", names.join(", ")));
            };
            let files = if files.is_empty() {
                match replay_files(&fixtures, t) {
                    Ok(f) => f,
                    Err(e) => {
                        return usage_error(format!("cannot read {}: {e}", fixtures.display()));
                    }
                }
            } else {
                files
            };
            let mut broken = 0;
            for file in &files {
                let data = match std::fs::read(file) {
                    Ok(d) => d,
                    Err(e) => {
                        return usage_error(format!("cannot read {}: {e}", file.display()));
                    }
                };
                if std::panic::catch_unwind(|| t.run(&data)).is_err() {
                    broken += 1;
                    println!("BROKEN  {}", file.display());
                } else {
                    println!("ok      {}", file.display());
                }
            }
            println!("{} inputs, {broken} broke the {} oracle", files.len(), t.name());
            if broken == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
    }
}

/// The server a campaign or replay talks to: the given URL, or a built-in mock CA
/// (with the requested defects) that lives as long as this value.
struct Server {
    options: LiveOptions,
    _embedded: Option<MockCa>,
}

async fn server(args: &LiveArgs) -> Result<Server, String> {
    let mut client = ClientOptions { timeout: Duration::from_secs(args.timeout), ..ClientOptions::default() };
    if let Some(path) = &args.ca_cert {
        client.ca_certs = read_ca_certs(path)?;
    }
    let mut embedded = None;
    let directory_url = match &args.directory {
        Some(d) => d.clone(),
        None => {
            let ca = MockCa::start(MockCaConfig { defects: args.defects.clone(), ..MockCaConfig::default() })
                .await
                .map_err(|e| e.to_string())?;
            client.ca_certs = vec![rustls_pki_types::CertificateDer::from(ca.https_root_der().to_vec())];
            println!("no --directory: fuzzing the built-in mock CA at {}", ca.directory_url());
            let url = ca.directory_url();
            embedded = Some(ca);
            url
        }
    };
    let options = LiveOptions {
        directory_url,
        client,
        seed: args.seed,
        requests: args.requests,
        duration: Duration::from_secs(args.duration),
        slow: Duration::from_millis(args.slow_ms),
    };
    Ok(Server { options, _embedded: embedded })
}

/// The command line that sends the reproducer saved at `path` to the same server again.
fn replay_command(args: &LiveArgs, path: &Path) -> String {
    let mut cmd = format!("acmespec fuzz --replay {}", path.display());
    match &args.directory {
        Some(url) => {
            cmd += &format!(" --directory {url}");
            if let Some(ca) = &args.ca_cert {
                cmd += &format!(" --ca-cert {}", ca.display());
            }
        }
        None => {
            for d in &args.defects {
                cmd += &format!(" --defect {}", d.name());
            }
        }
    }
    cmd
}

async fn run_live(args: LiveArgs) -> ExitCode {
    let server = match server(&args).await {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    if let Some(file) = &args.replay {
        return replay_finding(&server.options, file).await;
    }
    let options = &server.options;
    println!("seed {}", options.seed);
    let write = |report: &LiveReport| -> Result<(), String> {
        if let Some(path) = &args.json {
            crate::report::write_json(path, report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        if let Some(dir) = &args.out {
            live_report::write_dir(dir, report, &|p| replay_command(&args, p)).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        }
        Ok(())
    };
    let result = live::run(options, |so_far, f| {
        let cluster = &so_far.clusters[f.cluster];
        if cluster.findings.len() == 1 {
            let title = live_report::cluster_title(cluster);
            println!("FINDING  #{} request {} {title}: {} ({})", f.cluster + 1, f.first_request, f.broken.detail, f.broken.rfc);
        }
        if let Err(e) = write(so_far) {
            eprintln!("acmespec: {e}");
        }
    })
    .await;
    let report: LiveReport = match result {
        Ok(r) => r,
        Err(e) => return usage_error(e.to_string()),
    };
    if let Err(e) = write(&report) {
        return usage_error(e);
    }
    let repeats: usize = report.findings.iter().map(|f| f.occurrences).sum();
    println!(
        "{} requests ({} minimising), {} root causes ({} distinct findings, {repeats} occurrences), seed {}{}",
        report.requests,
        report.minimisation_requests,
        report.clusters.len(),
        report.findings.len(),
        report.seed,
        report.stopped.as_deref().map(|s| format!("; stopped early: {s}")).unwrap_or_default()
    );
    for (i, cluster) in report.clusters.iter().enumerate() {
        println!("  #{} {}", i + 1, live_report::describe(&report, cluster));
    }
    if report.findings.is_empty() && report.complete { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Sends a saved root cause's reproducer again: 1 when it still breaks its oracle (for
/// that root cause or another), 0 when it no longer does.
async fn replay_finding(options: &LiveOptions, file: &Path) -> ExitCode {
    let saved: Result<live_report::SavedCluster, String> = std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| format!("not a saved finding: {e}")));
    let saved = match saved {
        Ok(s) => s,
        Err(e) => {
            return usage_error(format!("{}: {e}", file.display()));
        }
    };
    let outcome = match live::replay(options, &saved.reproducer.replay).await {
        Ok(o) => o,
        Err(e) => {
            return usage_error(e);
        }
    };
    let spec = &saved.reproducer.replay;
    println!("replayed {} [{}] with seed {}", spec.endpoint, spec.mutations.join(", "), spec.seed);
    for b in &outcome.broken {
        println!("BROKEN  {}: {} ({})", b.oracle, b.detail, b.rfc);
    }
    if let Some(exchange) = &outcome.exchange {
        println!("{}", serde_json::to_string_pretty(exchange).unwrap_or_default());
    }
    let title = live_report::cluster_title(&saved.cluster);
    match outcome.broken.iter().zip(&outcome.causes).find(|(b, _)| b.oracle == saved.cluster.oracle) {
        Some((_, cause)) if *cause == saved.cluster.cause => {
            println!("still reproduces: {title}");
            ExitCode::from(1)
        }
        Some((b, cause)) => {
            println!("another root cause: {} {cause} (the saved one, {title}, no longer shows)", b.oracle);
            ExitCode::from(1)
        }
        None => {
            println!("no longer reproduces: {title}");
            ExitCode::SUCCESS
        }
    }
}
