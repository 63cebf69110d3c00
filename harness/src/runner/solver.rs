//! Publishing challenge responses where the runner's own responders cannot answer.
//!
//! A CA that is not on this machine may not be able to reach the runner at all: its
//! http-01 request goes to a web server the user runs, its dns-01 query to the user's
//! DNS. For those runs the response is published by an external solver instead
//! (`--http01-webroot`, `--solver-exec`, `--dns-rfc2136`). The responders then see nothing of the CA's
//! validation, so the cases that judge what the CA's requests looked like cannot run
//! (see [`Solvers::hides`]); every other case runs unchanged.

use crate::protocol::wire::ChallengeType;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// How long a solver command may take by default.
pub const DEFAULT_SOLVER_TIMEOUT: Duration = Duration::from_secs(60);

/// One way to publish a challenge response other than the runner's responders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalSolver {
    /// http-01: the key authorization goes into `DIR/.well-known/acme-challenge/TOKEN`,
    /// for a web server the user runs (as certbot's webroot plugin does).
    Webroot(PathBuf),
    /// Any type: `PATH present|cleanup TYPE IDENTIFIER TOKEN VALUE`, where VALUE is the
    /// key authorization (http-01, tls-alpn-01) or the TXT record value (dns-01): lego's
    /// exec-provider style, one argument more.
    Exec {
        /// The program.
        path: PathBuf,
        /// Upper bound of one call.
        timeout: Duration,
        /// Wait after `present` for the response to reach the CA's vantage points.
        propagation: Duration,
    },
    /// dns-01: TXT records added to and removed from an authoritative DNS server by
    /// RFC 2136 dynamic update.
    Rfc2136 {
        /// The server and its key.
        server: super::Rfc2136,
        /// Wait after `present` for the record to reach the zone's other servers.
        propagation: Duration,
    },
}

impl ExternalSolver {
    /// How reports name it.
    pub fn describe(&self) -> String {
        match self {
            ExternalSolver::Webroot(dir) => format!("webroot {}", dir.display()),
            ExternalSolver::Exec { path, .. } => format!("solver-exec {}", path.display()),
            ExternalSolver::Rfc2136 { server, .. } => server.describe(),
        }
    }

    /// Publishes the response; the error names the solver and what it said.
    pub(crate) async fn present(&self, kind: &str, identifier: &str, token: &str, value: &str) -> Result<(), String> {
        match self {
            ExternalSolver::Webroot(dir) => {
                let file = webroot_file(dir, token)?;
                let written = std::fs::create_dir_all(file.parent().unwrap_or(dir)).and_then(|()| std::fs::write(&file, value));
                written.map_err(|e| format!("{}: cannot write {}: {e}", self.describe(), file.display()))
            }
            ExternalSolver::Exec { path, timeout, propagation } => {
                exec(path, *timeout, ["present", kind, identifier, token, value]).await?;
                tokio::time::sleep(*propagation).await;
                Ok(())
            }
            ExternalSolver::Rfc2136 { server, propagation } => {
                server.present(identifier, value).await?;
                tokio::time::sleep(*propagation).await;
                Ok(())
            }
        }
    }

    /// Removes what `present` published; failures are only logged (the case is decided).
    pub(crate) async fn cleanup(&self, kind: &str, identifier: &str, token: &str, value: &str) {
        let result = match self {
            ExternalSolver::Webroot(dir) => {
                webroot_file(dir, token).and_then(|f| std::fs::remove_file(&f).map_err(|e| format!("{}: {e}", f.display())))
            }
            ExternalSolver::Exec { path, timeout, .. } => exec(path, *timeout, ["cleanup", kind, identifier, token, value]).await,
            ExternalSolver::Rfc2136 { server, .. } => server.cleanup(identifier, value).await,
        };
        if let Err(e) = result {
            tracing::warn!("cleaning up a {kind} response for {identifier}: {e}");
        }
    }
}

/// The webroot file of `token`; a token that is no single base64url segment is refused.
fn webroot_file(dir: &std::path::Path, token: &str) -> Result<PathBuf, String> {
    crate::responders::webroot_token_path(dir, token)
        .ok_or_else(|| format!("the server's token {token:?} is no base64url string; not written into the webroot"))
}

/// The last lines of a solver's output.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Runs the solver program, bounded by `timeout` (its process group is killed then).
async fn exec<const N: usize>(path: &std::path::Path, timeout: Duration, args: [&str; N]) -> Result<(), String> {
    let name = format!("solver-exec {}", path.display());
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| format!("{name}: cannot start it: {e}"))?;
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let said = [tail(&out.stderr), tail(&out.stdout)].into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" | ");
            Err(format!("{name} {} exited {}: {said}", args.first().unwrap_or(&""), out.status))
        }
        Ok(Err(e)) => Err(format!("{name}: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                crate::peers::kill_process_group(pid);
            }
            Err(format!("{name} {} did not finish within {}s; its process group was killed", args.first().unwrap_or(&""), timeout.as_secs()))
        }
    }
}

/// The external solvers of a run, by challenge type; a type without one is answered by
/// the runner's responders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Solvers {
    /// For http-01.
    pub http01: Option<ExternalSolver>,
    /// For dns-01.
    pub dns01: Option<ExternalSolver>,
    /// For tls-alpn-01.
    pub tls_alpn01: Option<ExternalSolver>,
}

impl Solvers {
    /// The external solver for challenges of type `kind` (`http-01`, ...), if any.
    pub fn for_kind(&self, kind: &str) -> Option<&ExternalSolver> {
        match kind {
            "http-01" => self.http01.as_ref(),
            "dns-01" => self.dns01.as_ref(),
            "tls-alpn-01" => self.tls_alpn01.as_ref(),
            _ => None,
        }
    }

    /// Which path answers each challenge type, for the report.
    pub fn paths(&self) -> Vec<String> {
        ChallengeType::ALL
            .into_iter()
            .map(|kind| {
                let path = self.for_kind(kind.name()).map_or_else(|| "the runner's responders".to_owned(), ExternalSolver::describe);
                format!("{kind}: {path}")
            })
            .collect()
    }

    /// The solver slot of challenge type `kind`.
    pub fn slot_mut(&mut self, kind: ChallengeType) -> &mut Option<ExternalSolver> {
        match kind {
            ChallengeType::Http01 => &mut self.http01,
            ChallengeType::Dns01 => &mut self.dns01,
            ChallengeType::TlsAlpn01 => &mut self.tls_alpn01,
        }
    }

    /// Why a case that uses challenges of type `kind` and observes the CA's validation
    /// requests cannot run: the responders are not the ones answering.
    pub fn hides(&self, kind: &str) -> Option<String> {
        self.for_kind(kind).map(|s| {
            format!("{kind} is answered by {} here, so the runner cannot see the CA's validation requests this case judges", s.describe())
        })
    }
}
