//! The interop matrix: every client adapter against every server, one issuance per
//! challenge type in each cell, in the spirit of quic-interop-runner's grid.
//!
//! Conformance grading asks "does this client follow the RFC under faults"; the matrix
//! asks the question an operator has first: "does this client get a certificate from
//! this CA at all, with each challenge type". Against the built-in mock CA a cell is a
//! client scenario without faults, so it is graded as well; against Pebble (started
//! here) or a server the user runs, a cell is the client's own verdict on its run.
//! Cells run one after the other: every client binds the same challenge ports.

pub mod cli;
mod render;

pub use render::{to_html, to_markdown};

use crate::protocol::wire::ChallengeType;
use crate::clients::adapter::{Adapter, AdapterOp};
use crate::clients::run::{
    ClientRunOptions, ClientWorkspace, CommandRun, RunOutcome, ServerSide, WorkDir, client_version, reserve_challenge_ports, run_scenario,
};
use crate::clients::scenario::{ClientScenario, ClientScenarioDef, ExpectedOutcome, Operation};
use crate::peers::{Pebble, PebbleOptions};
use crate::responders::DnsResponder;
use crate::runner::Verdict;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

/// A server of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// The built-in mock CA, fresh for every cell, which also grades the client.
    Mock,
    /// Pebble (the `pebble` on PATH), started for the run with real validation.
    Pebble,
    /// A server the user runs, by its directory URL.
    Url(String),
}

impl Server {
    /// How the matrix names the server.
    pub fn name(&self) -> String {
        match self {
            Server::Mock => "mock".into(),
            Server::Pebble => "pebble".into(),
            Server::Url(url) => url.clone(),
        }
    }
}

impl std::str::FromStr for Server {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mock" => Ok(Server::Mock),
            "pebble" => Ok(Server::Pebble),
            url if url.starts_with("https://") => Ok(Server::Url(url.to_owned())),
            other => Err(format!("{other:?} is no server: use mock, pebble or an https:// directory URL")),
        }
    }
}

/// How a matrix run is set up.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    /// The servers, in column order.
    pub servers: Vec<Server>,
    /// The challenge types tried in every cell.
    pub challenges: Vec<ChallengeType>,
    /// PEM with the root of a `Server::Url`'s HTTPS.
    pub ca_cert: Option<PathBuf>,
    /// The port a `Server::Url`'s VA connects to for http-01 (the client serves it on
    /// 127.0.0.1).
    pub url_http_port: u16,
    /// The port a `Server::Url`'s VA connects to for tls-alpn-01.
    pub url_tls_port: u16,
    /// Where the DNS server a `Server::Url` asks listens (dns-01 records go there).
    pub url_dns_listen: SocketAddr,
    /// Client command bounds, work directories, seed (as for `acmespec clients`).
    pub client: ClientRunOptions,
}

/// How one issuance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellOutcome {
    /// The client's commands succeeded: it holds a certificate.
    Issued,
    /// The client reported failure.
    Failed,
    /// The client (or its adapter) does not offer this challenge type.
    Unsupported,
    /// The client hung, crashed or could not be started, or the harness could not set
    /// the cell up.
    Error,
}

/// One issuance: a client, a server, a challenge type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// The adapter's client name.
    pub client: String,
    /// The server's name in the matrix (`mock`, `pebble`, a URL).
    pub server: String,
    /// The challenge type the client was asked to use.
    pub challenge: ChallengeType,
    /// How it ended.
    pub outcome: CellOutcome,
    /// Wall time of the issuance, set-up included.
    pub duration_ms: u64,
    /// One line on why it did not issue, or what grading found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The mock CA's grading: the verdict of the cell's scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graded: Option<Verdict>,
    /// The first request the mock CA refused, as its journal shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_refused: Option<String>,
    /// The client's commands with their output tails.
    pub commands: Vec<CommandRun>,
}

/// A client of the matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixClient {
    /// The adapter's client name.
    pub name: String,
    /// What the client's version command printed.
    pub version: Option<String>,
    /// The adapter file.
    pub adapter: String,
}

/// A whole matrix run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixReport {
    /// Always `acmespec`.
    pub tool: String,
    /// acmespec's version.
    pub version: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time (absent while running).
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The seed of the names and the mock CA.
    pub seed: u64,
    /// The clients, in row order.
    pub clients: Vec<MatrixClient>,
    /// The servers, in column order.
    pub servers: Vec<String>,
    /// The challenge types tried in every cell.
    pub challenges: Vec<ChallengeType>,
    /// Every issuance, in run order.
    pub cells: Vec<Cell>,
}

impl MatrixReport {
    /// The cells of one client and server, in challenge order.
    pub fn cells_of(&self, client: &str, server: &str) -> Vec<&Cell> {
        self.cells.iter().filter(|c| c.client == client && c.server == server).collect()
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A server set up for cells that are not the mock CA's: its side of the bindings, and
/// what must stay alive while the cells run.
struct Running {
    side: ServerSide,
    _dns: DnsResponder,
    _management: tokio::task::JoinHandle<()>,
    _pebble: Option<Pebble>,
}

/// Starts the DNS responder the CA asks (and its management API, which `{dns_hook}`
/// feeds) on `dns_listen`.
async fn dns_with_management(dns_listen: SocketAddr) -> Result<(DnsResponder, String, tokio::task::JoinHandle<()>), String> {
    let dns = DnsResponder::bind(dns_listen).await.map_err(|e| format!("DNS responder on {dns_listen}: {e}"))?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| format!("DNS management listener: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let router = crate::mockca::dns_router(dns.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((dns, format!("http://{addr}"), task))
}

async fn start_server(server: &Server, options: &MatrixOptions) -> Result<Option<Running>, String> {
    match server {
        Server::Mock => Ok(None),
        Server::Pebble => {
            let (dns, management, task) = dns_with_management(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            // Pebble's VA is told the ports before any client binds them.
            let reserved = reserve_challenge_ports().map_err(|e| format!("cannot reserve challenge ports: {e}"))?;
            let (http_port, tls_port) = (reserved.http, reserved.tls);
            let pebble = Pebble::start(PebbleOptions::new(http_port, tls_port).with_dns_server(dns.local_addr()))
                .await
                .map_err(|e| format!("starting Pebble: {e}"))?;
            drop(reserved);
            let side = ServerSide {
                directory: pebble.directory_url(),
                ca_root_pem: pebble.ca_cert_pem().to_owned(),
                http_port,
                tls_port,
                dns_server: dns.local_addr(),
                management,
            };
            Ok(Some(Running { side, _dns: dns, _management: task, _pebble: Some(pebble) }))
        }
        Server::Url(url) => {
            let path = options.ca_cert.as_ref().ok_or_else(|| format!("--server {url} needs --ca-cert (its HTTPS root)"))?;
            let ca_root_pem = std::fs::read_to_string(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
            let (dns, management, task) = dns_with_management(options.url_dns_listen).await?;
            let side = ServerSide {
                directory: url.clone(),
                ca_root_pem,
                http_port: options.url_http_port,
                tls_port: options.url_tls_port,
                dns_server: dns.local_addr(),
                management,
            };
            Ok(Some(Running { side, _dns: dns, _management: task, _pebble: None }))
        }
    }
}

/// The client scenario a mock CA cell runs: one issuance, no faults.
fn issuance(challenge: ChallengeType) -> ClientScenario {
    let name = challenge.name();
    ClientScenario {
        def: ClientScenarioDef {
            id: format!("matrix/issue-{name}"),
            title: format!("one issuance with {name}, no faults"),
            requirements: Vec::new(),
            description: Some("an interop matrix cell".into()),
            operation: Operation::Issue,
            challenge,
            identifiers: vec!["{name}".into()],
            seed: None,
            checks: Vec::new(),
            expect_outcome: ExpectedOutcome::Success,
            outcome_level: None,
            eab: false,
            preferred_chain: None,
            profile: None,
            faults: Vec::new(),
        },
        file: PathBuf::from("(interop matrix)"),
        line: 0,
    }
}

fn outcome_of(run: RunOutcome) -> CellOutcome {
    match run {
        RunOutcome::Success => CellOutcome::Issued,
        RunOutcome::Failure => CellOutcome::Failed,
        RunOutcome::Unsupported => CellOutcome::Unsupported,
        RunOutcome::Timeout | RunOutcome::Crashed | RunOutcome::NotStarted => CellOutcome::Error,
    }
}

async fn mock_cell(adapter: &Adapter, challenge: ChallengeType, options: &ClientRunOptions, index: usize) -> Cell {
    let started = Instant::now();
    let r = run_scenario(adapter, &issuance(challenge), options, index).await;
    let outcome = match (r.outcome, r.case.verdict) {
        (Some(o), _) => outcome_of(o),
        (None, Verdict::Unsupported) => CellOutcome::Unsupported,
        (None, _) => CellOutcome::Error,
    };
    let note = match (outcome, r.case.verdict) {
        (CellOutcome::Issued, Verdict::Pass) => None,
        (CellOutcome::Issued, _) => r.case.observed.clone(),
        (CellOutcome::Unsupported, _) => r.case.observed.clone(),
        _ => r.commands.last().map(CommandRun::summary).or_else(|| r.case.observed.clone()),
    };
    let first_refused = r.journal.as_ref().and_then(|lines| {
        lines.iter().find(|l| l.split(" -> ").nth(1).and_then(|s| s.get(..3)).and_then(|s| s.parse::<u16>().ok()).is_some_and(|s| s >= 400)).cloned()
    });
    Cell {
        client: adapter.name.clone(),
        server: Server::Mock.name(),
        challenge,
        outcome,
        duration_ms: started.elapsed().as_millis() as u64,
        note,
        graded: Some(r.case.verdict),
        first_refused,
        commands: r.commands,
    }
}

async fn server_cell(adapter: &Adapter, server: &Server, running: &Running, challenge: ChallengeType, options: &ClientRunOptions, index: usize) -> Cell {
    let started = Instant::now();
    let op = AdapterOp::issue(challenge);
    let mut cell = Cell {
        client: adapter.name.clone(),
        server: server.name(),
        challenge,
        outcome: CellOutcome::Unsupported,
        duration_ms: 0,
        note: None,
        graded: None,
        first_refused: None,
        commands: Vec::new(),
    };
    if adapter.template(op).is_none() {
        cell.note = Some(format!("the {} adapter has no `{}` command", adapter.name, op.name()));
        return cell;
    }
    let workdir = match WorkDir::create(options.workdir.as_deref(), &format!("{index:02}-{}-{}", adapter.name, challenge.name())) {
        Ok(w) => w,
        Err(why) => {
            cell.outcome = CellOutcome::Error;
            cell.note = Some(why);
            return cell;
        }
    };
    let dir = workdir.path();
    let workspace = ClientWorkspace::prepare(dir, adapter, &running.side);
    let workspace = match workspace {
        Ok(w) => w,
        Err(e) => {
            cell.outcome = CellOutcome::Error;
            cell.note = Some(format!("cannot write into {}: {e}", dir.display()));
            return cell;
        }
    };
    let label = crate::seeded::SplitMix64::new(options.seed.wrapping_add(index as u64)).next_u64() & 0xff_ffff;
    let name = format!("{}-{}-{label:06x}.{}", adapter.name, challenge.name(), options.domain_suffix);
    let bindings = workspace.bindings(adapter, &running.side, vec![name]);
    let (run, commands, _) = workspace.run(adapter, &[op], &bindings, options).await;
    cell.outcome = outcome_of(run);
    cell.duration_ms = started.elapsed().as_millis() as u64;
    if cell.outcome != CellOutcome::Issued {
        cell.note = commands.last().map(CommandRun::summary);
    }
    cell.commands = commands;
    cell
}

/// Runs every client against every server, `on_cell` after each cell (to stream the
/// report), and returns the whole matrix.
pub async fn run_matrix(
    adapters: &[Adapter],
    options: &MatrixOptions,
    mut on_cell: impl FnMut(&MatrixReport),
) -> Result<MatrixReport, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut clients = Vec::new();
    for a in adapters {
        clients.push(MatrixClient { name: a.name.clone(), version: client_version(a).await, adapter: a.file.display().to_string() });
    }
    let mut report = MatrixReport {
        tool: "acmespec".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: now(),
        finished_at: None,
        seed: options.client.seed,
        clients,
        servers: options.servers.iter().map(Server::name).collect(),
        challenges: options.challenges.clone(),
        cells: Vec::new(),
    };
    let mut index = 0;
    for server in &options.servers {
        let running = start_server(server, options).await?;
        for adapter in adapters {
            for &challenge in &options.challenges {
                index += 1;
                let cell = match &running {
                    None => mock_cell(adapter, challenge, &options.client, index).await,
                    Some(running) => server_cell(adapter, server, running, challenge, &options.client, index).await,
                };
                report.cells.push(cell);
                on_cell(&report);
            }
        }
    }
    report.finished_at = Some(now());
    on_cell(&report);
    Ok(report)
}
