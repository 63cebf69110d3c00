//! `acmespec matrix`: the interop matrix on the command line.

use super::{MatrixOptions, Server, run_matrix, to_html, to_markdown};
use crate::protocol::wire::ChallengeType;
use crate::clients::adapter::Adapter;
use crate::clients::run::{ClientRunOptions, random_seed};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `acmespec matrix`.
#[derive(Debug, clap::Args)]
pub struct MatrixArgs {
    /// Client adapter files (default: every fixtures/clients/*.toml).
    #[arg(long = "clients", num_args = 1..)]
    pub clients: Vec<PathBuf>,
    /// A server: `mock` (the built-in mock CA, which also grades), `pebble` (started
    /// here), or an https:// directory URL (with --ca-cert). Repeatable; default mock.
    #[arg(long = "server")]
    pub servers: Vec<String>,
    /// PEM with the HTTPS root of the URL servers.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Challenge types each cell tries (http-01, dns-01, tls-alpn-01) [default: all three].
    #[arg(long = "challenge")]
    pub challenges: Vec<ChallengeType>,
    /// For URL servers: the port their VA connects to for http-01 (the client serves it).
    #[arg(long, default_value_t = 5002)]
    pub http_port: u16,
    /// For URL servers: the port their VA connects to for tls-alpn-01.
    #[arg(long, default_value_t = 5001)]
    pub tls_port: u16,
    /// For URL servers: where the DNS server they ask listens (dns-01 records go there).
    #[arg(long, default_value = "127.0.0.1:8053")]
    pub dns_listen: SocketAddr,
    /// Seconds each client command may run.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Seed for names and the mock CA [default: random, printed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep each cell's work directory under this directory.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Write the matrix as JSON here (rewritten after every cell).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the matrix as Markdown here.
    #[arg(long)]
    pub md: Option<PathBuf>,
    /// Write the matrix as one self-contained HTML page here.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

fn default_adapters() -> Vec<PathBuf> {
    let dir = PathBuf::from("fixtures/clients");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs `acmespec matrix`; exit 0 when every cell ran (whatever the clients did), 2 on
/// bad arguments or a server that could not be set up.
pub async fn run(args: MatrixArgs) -> ExitCode {
    let files = if args.clients.is_empty() { default_adapters() } else { args.clients.clone() };
    if files.is_empty() {
        eprintln!("acmespec matrix: no adapter files (give --clients, or run from the repository root)");
        return ExitCode::from(2);
    }
    let mut adapters = Vec::new();
    for f in &files {
        match Adapter::load(f) {
            Ok(a) => adapters.push(a),
            Err(e) => {
                eprintln!("acmespec matrix: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let servers: Result<Vec<Server>, String> =
        if args.servers.is_empty() { Ok(vec![Server::Mock]) } else { args.servers.iter().map(|s| s.parse()).collect() };
    let servers = match servers {
        Ok(s) => s,
        Err(e) => {
            eprintln!("acmespec matrix: --server {e}");
            return ExitCode::from(2);
        }
    };
    let challenges = if args.challenges.is_empty() { ChallengeType::ALL.to_vec() } else { args.challenges.clone() };
    let seed = args.seed.unwrap_or_else(random_seed);
    eprintln!("interop matrix: {} clients × {} servers × {} challenge types; seed {seed}", adapters.len(), servers.len(), challenges.len());
    let mut client = ClientRunOptions::new(seed);
    client.command_timeout = std::time::Duration::from_secs(args.timeout);
    client.workdir = args.workdir.clone();
    let options = MatrixOptions {
        servers,
        challenges,
        ca_cert: args.ca_cert.clone(),
        url_http_port: args.http_port,
        url_tls_port: args.tls_port,
        url_dns_listen: args.dns_listen,
        client,
    };
    let json = args.json.clone();
    let mut printed = 0;
    let result = run_matrix(&adapters, &options, |report| {
        for c in &report.cells[printed..] {
            eprintln!("{:<14} {:<24} {:<12} {:?} ({} ms)", c.client, c.server, c.challenge.name(), c.outcome, c.duration_ms);
        }
        printed = report.cells.len();
        if let Some(path) = &json
            && let Err(e) = crate::report::write_json(path, report)
        {
            eprintln!("acmespec matrix: writing {}: {e}", path.display());
        }
    })
    .await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("acmespec matrix: {e}");
            return ExitCode::from(2);
        }
    };
    for (path, text) in [(&args.md, args.md.as_ref().map(|_| to_markdown(&report))), (&args.html, args.html.as_ref().map(|_| to_html(&report)))] {
        if let (Some(path), Some(text)) = (path, text)
            && let Err(e) = std::fs::write(path, text)
        {
            eprintln!("acmespec matrix: writing {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
