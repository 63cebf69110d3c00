//! `acmespec load`: complete ACME issuance flows, many at once, timed per step.
//!
//! A conformance verdict says a server is right; an operator also needs to know how
//! it behaves under many clients: how many issuances per second, which step is slow,
//! what fails first and what it costs the server in CPU and memory. The generator is
//! bounded like every other engine (flow count, wall time, per-request timeout,
//! loopback servers only), so it cannot be turned into a tool against someone
//! else's CA.

mod flow;
mod process;
mod stats;

pub mod cli;

pub use process::{CpuMeter, HarnessUsage, MemorySample, ServerUsage, server_pid_ignored};
pub use stats::{ErrorCount, Latency};

use crate::protocol::http::{ClientOptions, HttpClient};
use crate::protocol::wire::Directory;
use crate::protocol::session::Session;
use flow::{Endpoints, StepFailure, Worker};
use serde::Serialize;
use stats::Recorder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most flows one run may attempt.
pub const MAX_FLOWS: u64 = 1_000_000;
/// The most flows in flight at once.
pub const MAX_CONCURRENCY: usize = 1024;
/// The longest a run may last.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The longest one flow may take, polling included, before it counts as failed.
const FLOW_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the server's memory is sampled.
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Flows in a row that could not connect after which the server counts as gone and
/// no more flows start (rather than a million quick failures).
const GONE_AFTER_REFUSED_FLOWS: u64 = 20;

/// A step of an issuance flow, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// newAccount (once per worker, not per flow).
    NewAccount,
    /// newOrder for one name.
    NewOrder,
    /// The POST-as-GET of the order's authorization.
    Authorization,
    /// The POST of `{}` to the http-01 challenge.
    Challenge,
    /// Polling the authorization until it is valid.
    ValidationWait,
    /// finalize with a CSR (the certificate key generated in it).
    Finalize,
    /// Polling the order until it is valid.
    IssuanceWait,
    /// The POST-as-GET of the certificate.
    Certificate,
    /// A whole flow, newOrder to certificate (the account excluded).
    Flow,
}

impl Step {
    /// Every step in flow order, the whole flow last.
    pub const ALL: [Step; 9] = [
        Step::NewAccount,
        Step::NewOrder,
        Step::Authorization,
        Step::Challenge,
        Step::ValidationWait,
        Step::Finalize,
        Step::IssuanceWait,
        Step::Certificate,
        Step::Flow,
    ];

    /// The name in reports (`newOrder`, `validationWait`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Step::NewAccount => "newAccount",
            Step::NewOrder => "newOrder",
            Step::Authorization => "authorization",
            Step::Challenge => "challenge",
            Step::ValidationWait => "validationWait",
            Step::Finalize => "finalize",
            Step::IssuanceWait => "issuanceWait",
            Step::Certificate => "certificate",
            Step::Flow => "flow",
        }
    }
}

/// What to run against which server.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server's directory URL (loopback only).
    pub directory_url: String,
    /// Roots and per-request timeout.
    pub client: ClientOptions,
    /// Flows to attempt, at most [`MAX_FLOWS`].
    pub flows: u64,
    /// Flows in flight at once, each worker with its own account; at most [`MAX_CONCURRENCY`].
    pub concurrency: usize,
    /// Stop starting flows after this long, at most [`MAX_DURATION`].
    pub duration: Duration,
    /// The server's process id, to read its CPU time and peak memory (Linux `/proc`).
    pub server_pid: Option<u32>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The directory URL does not name a loopback host.
    #[error("{0} is not a loopback URL; load runs only against a server on this machine")]
    NotLoopback(String),
    /// A bound was out of range (zero flows, too many, too long).
    #[error("{0}")]
    OutOfRange(String),
    /// The HTTP client could not be built, or the directory not read.
    #[error("{0}")]
    Setup(String),
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The server's directory URL.
    pub directory_url: String,
    /// Flows asked for.
    pub flows_requested: u64,
    /// Flows in flight at once.
    pub concurrency: usize,
    /// Flows that ended with a downloaded certificate.
    pub flows_completed: u64,
    /// Flows that failed (each counted once, under its first error).
    pub flows_failed: u64,
    /// Accounts created (one per worker; a failed creation is retried on the next flow).
    pub accounts_created: u64,
    /// badNonce answers retried with a fresh nonce (not failures).
    pub bad_nonce_retries: u64,
    /// Wall time of the run, in milliseconds.
    pub wall_ms: f64,
    /// Completed flows per second of wall time.
    pub flows_per_second: f64,
    /// The HTTP version the server answered the directory over (every worker's client
    /// is built alike, so every flow used it too).
    pub http_version: String,
    /// Why the run stopped before attempting every flow, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Latency per step over the completed flows (newAccount over the accounts created).
    pub latency: Vec<Latency>,
    /// Failures by step and kind, most frequent first.
    pub errors: Vec<ErrorCount>,
    /// The server's CPU time and peak memory, when `server_pid` was given and readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerUsage>,
    /// This process's own CPU time, when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness: Option<HarnessUsage>,
    /// What the usage figures do not cover (unreadable `/proc`, server in this process, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn check_bounds(options: &LoadOptions) -> Result<(), LoadError> {
    if !crate::fuzzing::live::is_loopback_url(&options.directory_url) {
        return Err(LoadError::NotLoopback(options.directory_url.clone()));
    }
    if options.flows == 0 || options.flows > MAX_FLOWS {
        return Err(LoadError::OutOfRange(format!(
            "--flows must be between 1 and {MAX_FLOWS}, not {}",
            options.flows
        )));
    }
    if options.concurrency == 0 || options.concurrency > MAX_CONCURRENCY {
        return Err(LoadError::OutOfRange(format!(
            "--concurrency must be between 1 and {MAX_CONCURRENCY}, not {}",
            options.concurrency
        )));
    }
    if options.duration.is_zero() || options.duration > MAX_DURATION {
        return Err(LoadError::OutOfRange(format!(
            "--duration must be between 1 and {} seconds, not {}",
            MAX_DURATION.as_secs(),
            options.duration.as_secs()
        )));
    }
    Ok(())
}

async fn read_endpoints(http: &HttpClient, directory_url: &str) -> Result<(Endpoints, reqwest::Version), LoadError> {
    let resp = http
        .get(directory_url)
        .await
        .map_err(|e| LoadError::Setup(format!("directory {directory_url}: {e}")))?;
    if resp.status != 200 {
        return Err(LoadError::Setup(format!(
            "directory {directory_url} answered {}",
            resp.status
        )));
    }
    let dir: Directory = serde_json::from_slice(&resp.body)
        .map_err(|e| LoadError::Setup(format!("directory {directory_url}: {e}")))?;
    let required = |field: Option<String>, name: &str| {
        field.ok_or_else(|| LoadError::Setup(format!("the directory has no {name}")))
    };
    let endpoints = Endpoints {
        new_nonce: required(dir.new_nonce, "newNonce")?,
        new_account: required(dir.new_account, "newAccount")?,
        new_order: required(dir.new_order, "newOrder")?,
    };
    Ok((endpoints, resp.version))
}

/// A fresh name under `acmespec.test`, so that no flow reuses another's authorization.
fn random_name() -> String {
    format!("load-{}.acmespec.test", crate::protocol::random::hex(8))
}

/// Runs up to `options.flows` issuance flows, `options.concurrency` at a time, until
/// done or `options.duration` has passed; failed flows are counted, never fatal.
pub async fn run(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    check_bounds(options)?;
    let mut notes = Vec::new();
    // A wrong --server-pid is said at once, not after a long run.
    let server_before = match options.server_pid {
        Some(pid) => Some(
            process::Usage::read(&pid.to_string())
                .map_err(|e| LoadError::Setup(format!("--server-pid {pid}: {e}")))?,
        ),
        None => None,
    };
    let harness_before = process::Usage::read("self");
    // Probe once, so that a wrong URL or root is one clear error, not N failed flows.
    let probe =
        HttpClient::new(options.client.clone()).map_err(|e| LoadError::Setup(e.to_string()))?;
    let (endpoints, http_version) = read_endpoints(&probe, &options.directory_url).await?;

    let started = Instant::now();
    let deadline = started + options.duration;
    let next_flow = Arc::new(AtomicU64::new(0));
    let refused_in_a_row = Arc::new(AtomicU64::new(0));
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let mut workers = tokio::task::JoinSet::new();
    // The recorded exchanges are evidence for conformance runs; here they would only
    // cost time and grow.
    let client = ClientOptions { record: false, ..options.client.clone() };
    for _ in 0..options.concurrency.min(options.flows as usize) {
        let http = HttpClient::new(client.clone()).map_err(|e| LoadError::Setup(e.to_string()))?;
        // Sleeps between polls may run until the last flow's own bound.
        let session = Session::new(http, endpoints.new_nonce.clone(), flow::pacing(), options.duration + FLOW_TIMEOUT);
        let mut worker = Worker { session, endpoints: endpoints.clone() };
        let (next_flow, refused_in_a_row, recorder, flows) = (
            next_flow.clone(),
            refused_in_a_row.clone(),
            recorder.clone(),
            options.flows,
        );
        workers.spawn(async move {
            let mut account = None;
            let server_gone =
                || refused_in_a_row.load(Ordering::Relaxed) >= GONE_AFTER_REFUSED_FLOWS;
            while Instant::now() < deadline
                && !server_gone()
                && next_flow.fetch_add(1, Ordering::Relaxed) < flows
            {
                let result = tokio::time::timeout(
                    FLOW_TIMEOUT,
                    one_flow(&mut worker, &mut account, &recorder),
                )
                .await;
                let failure = match result {
                    Ok(Ok(())) => {
                        refused_in_a_row.store(0, Ordering::Relaxed);
                        continue;
                    }
                    Ok(Err(f)) => {
                        if f.is_refused() {
                            refused_in_a_row.fetch_add(1, Ordering::Relaxed);
                        }
                        (f.step.name(), f.kind(), f.error.to_string())
                    }
                    Err(_) => (
                        "flow",
                        "flow timeout".to_owned(),
                        format!("the flow did not finish within {FLOW_TIMEOUT:?}"),
                    ),
                };
                lock(&recorder).fail(failure.0, failure.1, failure.2);
            }
            lock(&recorder).bad_nonce_retries += worker.session.bad_nonce_retries();
        });
    }
    let memory = Arc::new(Mutex::new(Vec::new()));
    let sample_memory = {
        let (recorder, memory) = (recorder.clone(), memory.clone());
        move |pid: u32| {
            let Some(rss_kib) = process::rss_kib(pid) else { return };
            let flows_completed = lock(&recorder).completed_flows();
            let sample = MemorySample { seconds: started.elapsed().as_secs_f64(), flows_completed, rss_kib };
            memory.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
        }
    };
    let sampler = options.server_pid.map(|pid| {
        let sample_memory = sample_memory.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MEMORY_SAMPLE_EVERY);
            loop {
                tick.tick().await;
                sample_memory(pid);
            }
        })
    });
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            notes.push(format!("a worker ended abnormally: {e}"));
        }
    }
    let wall = started.elapsed();
    if let Some((sampler, pid)) = sampler.zip(options.server_pid) {
        sampler.abort();
        sample_memory(pid);
    }
    let memory = std::mem::take(&mut *memory.lock().unwrap_or_else(|e| e.into_inner()));

    let server = match (options.server_pid, server_before) {
        (Some(pid), Some(before)) => match process::Usage::read(&pid.to_string()) {
            Ok(after) => Some(ServerUsage { memory, ..ServerUsage::between(pid, &before, &after) }),
            Err(e) => {
                notes.push(format!(
                    "server process {pid} gone by the end of the run: {e}"
                ));
                None
            }
        },
        _ => None,
    };
    let harness = match (harness_before, process::Usage::read("self")) {
        (Ok(before), Ok(after)) => Some(HarnessUsage::between(&before, &after)),
        (Err(e), _) | (_, Err(e)) => {
            notes.push(format!("own process: {e}"));
            None
        }
    };
    let recorder = std::mem::take(&mut *lock(&recorder));
    let attempted = next_flow.load(Ordering::Relaxed).min(options.flows);
    let stopped_early = (attempted < options.flows).then(|| {
        if refused_in_a_row.load(Ordering::Relaxed) >= GONE_AFTER_REFUSED_FLOWS {
            format!("the server stopped accepting connections ({GONE_AFTER_REFUSED_FLOWS} flows in a row) after {attempted} flows")
        } else {
            format!("--duration of {} s reached after {attempted} flows", options.duration.as_secs())
        }
    });
    let end = stats::RunEnd { wall, http_version: format!("{http_version:?}"), stopped_early, notes };
    Ok(recorder.into_report(options, end, server, harness))
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    // A worker that panicked mid-update leaves counters, not broken invariants: go on.
    recorder
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One flow: the worker's account (created on first use), then an issuance whose
/// step timings are recorded only if the whole flow completes.
async fn one_flow(
    worker: &mut Worker,
    account: &mut Option<flow::Account>,
    recorder: &Mutex<Recorder>,
) -> Result<(), StepFailure> {
    let account = match account {
        Some(a) => a,
        None => {
            let started = Instant::now();
            let created = worker.new_account().await?;
            lock(recorder).account_created(started.elapsed());
            account.insert(created)
        }
    };
    let started = Instant::now();
    let mut timings = Vec::with_capacity(Step::ALL.len());
    worker
        .issue(account, &random_name(), &mut |step, took| {
            timings.push((step, took))
        })
        .await?;
    timings.push((Step::Flow, started.elapsed()));
    lock(recorder).completed(&timings);
    Ok(())
}
