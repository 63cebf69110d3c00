//! `acmespec fuzz ...`: the fuzzing commands that need no libFuzzer (corpus seeding and
//! replay), so a crash file from a campaign can be checked on any machine.

use super::live::{self, LiveOptions, LiveReport};
use super::{Target, replay_files};
use crate::mockca::{Defect, MockCa, MockCaConfig};
use crate::protocol::http::{ClientOptions, read_ca_certs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Fuzzing subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum FuzzCommand {
    /// Write each target's generated seed inputs under DIR/<target>/ (e.g. fixtures/corpus).
    Seeds {
        /// Corpus root directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run inputs through a target's oracle without libFuzzer: the given files, or the
    /// target's committed corpus and regressions under --fixtures.
    Replay {
        /// Target name (jws_parse, jws_verify, jwk_thumbprint, csr, server_response, wfe_request).
        target: String,
        /// Input files; without any, the committed corpus and regressions.
        files: Vec<PathBuf>,
        /// The fixtures directory holding corpus/ and regressions/.
        #[arg(long, default_value = "fixtures")]
        fixtures: PathBuf,
    },
    /// Fuzz a live ACME server on a loopback address: valid requests to its real
    /// resources with seeded mutations, judged by oracles every answer must satisfy.
    Live(Box<LiveArgs>),
}

/// Options of `acmespec fuzz live`.
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
    /// Requests to send (at most 1,000,000).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Time budget in seconds (at most 86,400).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Write the JSON report here (rewritten after every finding and at the end).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Switch on a defect of the built-in mock CA (repeatable; only without --directory).
    #[arg(long = "defect", value_name = "NAME", conflicts_with = "directory")]
    defects: Vec<Defect>,
}

/// Runs a fuzzing subcommand: 0 when all went well, 1 when an input broke an oracle,
/// 2 on bad usage or I/O trouble.
/// The in-process targets run their own runtimes, so this must not be called from
/// inside one; `live` gets a runtime of its own here.
pub fn run(command: FuzzCommand) -> ExitCode {
    match command {
        FuzzCommand::Live(args) => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(run_live(*args)),
            Err(e) => {
                eprintln!("acmespec: cannot start the async runtime: {e}");
                ExitCode::from(2)
            }
        },
        FuzzCommand::Seeds { out } => {
            for target in Target::ALL {
                let dir = out.join(target.name());
                for (name, data) in target.generated_seeds() {
                    let path = dir.join(name);
                    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, data)) {
                        eprintln!("acmespec: cannot write {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                    println!("{}", path.display());
                }
            }
            ExitCode::SUCCESS
        }
        FuzzCommand::Replay { target, files, fixtures } => {
            let Some(t) = Target::from_name(&target) else {
                let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
                eprintln!("acmespec: unknown fuzz target {target:?}; targets: {}", names.join(", "));
                return ExitCode::from(2);
            };
            let files = if files.is_empty() {
                match replay_files(&fixtures, t) {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("acmespec: cannot read {}: {e}", fixtures.display());
                        return ExitCode::from(2);
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
                        eprintln!("acmespec: cannot read {}: {e}", file.display());
                        return ExitCode::from(2);
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

async fn run_live(args: LiveArgs) -> ExitCode {
    let usage = |e: String| {
        eprintln!("acmespec: {e}");
        ExitCode::from(2)
    };
    let mut client = ClientOptions { timeout: Duration::from_secs(args.timeout), ..ClientOptions::default() };
    if let Some(path) = &args.ca_cert {
        match read_ca_certs(path) {
            Ok(certs) => client.ca_certs = certs,
            Err(e) => return usage(e),
        }
    }
    let mut embedded = None;
    let directory_url = match &args.directory {
        Some(d) => d.clone(),
        None => {
            let ca = match MockCa::start(MockCaConfig { defects: args.defects.clone(), ..MockCaConfig::default() }).await {
                Ok(ca) => ca,
                Err(e) => return usage(e.to_string()),
            };
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
    };
    println!("seed {}", options.seed);
    let json = args.json.clone();
    let result = live::run(&options, |so_far, f| {
        println!("FINDING  request {} [{}] {}: {} ({})", f.request, f.mutations.join(", "), f.oracle, f.detail, f.rfc);
        if let Some(path) = &json {
            let _ = crate::report::write_json(path, so_far);
        }
    })
    .await;
    drop(embedded);
    let report: LiveReport = match result {
        Ok(r) => r,
        Err(e) => return usage(e.to_string()),
    };
    if let Some(path) = json
        && let Err(e) = crate::report::write_json(&path, &report)
    {
        return usage(format!("cannot write {}: {e}", path.display()));
    }
    println!(
        "{} requests, {} findings, seed {}{}",
        report.requests,
        report.findings.len(),
        report.seed,
        report.stopped.as_deref().map(|s| format!("; stopped early: {s}")).unwrap_or_default()
    );
    if report.findings.is_empty() && report.complete { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
