//! `acmespec load ...`: the load generator on the command line, against a server URL
//! or, without one, the built-in mock CA (every challenge valid) in this process.

use crate::cli_support::usage_error;
use super::{LoadOptions, LoadReport};
use crate::mockca::{MockCa, MockCaConfig};
use crate::protocol::http::{ClientOptions, read_ca_certs};
use rustls_pki_types::CertificateDer;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `acmespec load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Directory URL of the server (loopback only); without it, the built-in mock CA
    /// with every challenge valid. The server must validate without contacting anyone
    /// (Pebble: PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0).
    #[arg(long)]
    pub directory: Option<String>,
    /// PEM file with the root(s) to trust for the server's HTTPS.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Issuance flows to run (at most 1,000,000).
    #[arg(long, default_value_t = 200)]
    pub flows: u64,
    /// Flows in flight at once, each worker with its own account (at most 1024).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Stop starting flows after this many seconds (at most 3600).
    #[arg(long, default_value_t = 300)]
    pub duration: u64,
    /// Bound on one HTTP exchange, in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The server's process id: report its CPU time per flow and peak memory (Linux).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Speak HTTP/1.1, as clients on HTTP/1.1 libraries (certbot) do, instead of taking
    /// HTTP/2 when the server offers it.
    #[arg(long)]
    pub http1: bool,
}

/// Runs `acmespec load`: 0 when every flow completed, 1 when any failed, 2 when the
/// run could not start or the report could not be written.
pub async fn run(args: LoadArgs) -> ExitCode {
    let mut client = ClientOptions {
        timeout: Duration::from_secs(args.timeout.max(1)),
        http1_only: args.http1,
        ..ClientOptions::default()
    };
    if let Some(path) = &args.ca_cert {
        match read_ca_certs(path) {
            Ok(certs) => client.ca_certs = certs,
            Err(e) => return usage_error(e),
        }
    }
    let mut server_pid = args.server_pid;
    let mut embedded_note = None;
    let mut _embedded = None;
    let directory_url = match &args.directory {
        Some(url) => url.clone(),
        None => {
            let ca = match MockCa::start(MockCaConfig {
                always_valid: true,
                ..MockCaConfig::default()
            })
            .await
            {
                Ok(ca) => ca,
                Err(e) => return usage_error(format!("cannot start the built-in mock CA: {e}")),
            };
            client.ca_certs = vec![CertificateDer::from(ca.https_root_der().to_vec())];
            println!(
                "no --directory: loading the built-in mock CA at {}",
                ca.directory_url()
            );
            if let Some(pid) = server_pid.take() {
                embedded_note = Some(super::server_pid_ignored(pid));
            }
            let url = ca.directory_url();
            _embedded = Some(ca);
            url
        }
    };
    let options = LoadOptions {
        directory_url,
        client,
        flows: args.flows,
        concurrency: args.concurrency,
        duration: Duration::from_secs(args.duration),
        server_pid,
    };
    let mut report = match super::run(&options).await {
        Ok(r) => r,
        Err(e) => return usage_error(e.to_string()),
    };
    report.notes.extend(embedded_note);
    print!("{}", render_text(&report));
    if let Some(path) = &args.json
        && let Err(e) = crate::report::write_json(path, &report)
    {
        return usage_error(format!("cannot write {}: {e}", path.display()));
    }
    if report.flows_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The report as the terminal shows it.
pub fn render_text(report: &LoadReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} flows completed, {} failed, in {:.1} s: {:.1} flows/s (concurrency {}, {}, {} accounts, {} badNonce retries)",
        report.flows_completed,
        report.flows_failed,
        report.wall_ms / 1000.0,
        report.flows_per_second,
        report.concurrency,
        report.http_version,
        report.accounts_created,
        report.bad_nonce_retries
    );
    if let Some(why) = &report.stopped_early {
        let _ = writeln!(out, "stopped early: {why}");
    }
    let _ = writeln!(
        out,
        "{:<16}{:>9}{:>11}{:>11}{:>11}{:>11}",
        "step (ms)", "samples", "p50", "p90", "p99", "max"
    );
    for l in &report.latency {
        let _ = writeln!(
            out,
            "{:<16}{:>9}{:>11.2}{:>11.2}{:>11.2}{:>11.2}",
            l.step, l.samples, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    }
    for e in &report.errors {
        let _ = writeln!(
            out,
            "FAILED {:>7} x {}: {} (e.g. {})",
            e.count, e.step, e.kind, e.example
        );
    }
    let per_flow = |ms: Option<f64>| {
        ms.map(|ms| format!(", {ms:.2} ms per flow"))
            .unwrap_or_default()
    };
    if let Some(s) = &report.server {
        let rss = s
            .peak_rss_kib
            .map(|k| format!(", peak RSS {:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "server (pid {}): {:.0} ms CPU{}{rss}",
            s.pid,
            s.cpu_ms,
            per_flow(s.cpu_ms_per_flow)
        );
        // At most ten points of the curve; the JSON report has every sample.
        let step = s.memory.len().div_ceil(10).max(1);
        let points: Vec<String> = s
            .memory
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i + 1 == s.memory.len())
            .map(|(_, m)| format!("{} flows {:.1}", m.flows_completed, m.rss_kib as f64 / 1024.0))
            .collect();
        if !points.is_empty() {
            let _ = writeln!(out, "server RSS MiB: {}", points.join(", "));
        }
    }
    if let Some(h) = &report.harness {
        let _ = writeln!(
            out,
            "harness: {:.0} ms CPU{}",
            h.cpu_ms,
            per_flow(h.cpu_ms_per_flow)
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
