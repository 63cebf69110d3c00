//! A small command-line program around the instant-acme crate, so that acmespec can
//! grade the library like any other client (`fixtures/clients/instant-acme.toml`).
//!
//! It uses the crate as an application would and adds nothing to its protocol
//! behaviour: no retries, polling or key handling of its own beyond what instant-acme
//! does. What an application must bring itself, it brings in the plainest way: the
//! http-01 response is a file in the webroot the harness serves, the dns-01 record goes
//! through the harness's hook, and the tls-alpn-01 certificate is served by acmespec's
//! own responder on the port the scenario names. State (account credentials, the last
//! certificate) lives in `--state`, so renew, revoke, key rollover and deactivation run
//! as separate commands on the account and certificate of the issuance.

use std::path::{Path, PathBuf};
use std::time::Duration;

use acmespec::responders::{AlpnIdentifier, TlsAlpnResponder};
use clap::{Parser, Subcommand};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy, RevocationRequest,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

#[derive(Parser)]
#[command(about = "Drive instant-acme through one ACME operation (for acmespec's client grading)")]
struct Cli {
    /// Directory holding the account credentials and the last certificate.
    #[arg(long)]
    state: PathBuf,
    /// The CA's directory URL.
    #[arg(long)]
    directory: String,
    /// PEM file with the root the CA's HTTPS certificate chains to.
    #[arg(long)]
    ca: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Issue {
    /// http-01, dns-01 or tls-alpn-01.
    #[arg(long)]
    challenge: String,
    /// Where http-01 token files go (`<webroot>/.well-known/acme-challenge/TOKEN`).
    #[arg(long)]
    webroot: Option<PathBuf>,
    /// A hook called `present|cleanup FQDN VALUE` for dns-01 records.
    #[arg(long)]
    dns_hook: Option<PathBuf>,
    /// Where to serve tls-alpn-01 (`127.0.0.1:PORT`).
    #[arg(long)]
    tls_listen: Option<std::net::SocketAddr>,
    /// External account binding key id (with --eab-hmac, base64url).
    #[arg(long, requires = "eab_hmac")]
    eab_kid: Option<String>,
    #[arg(long)]
    eab_hmac: Option<String>,
    /// The certificate profile to ask for (NewOrder::profile).
    #[arg(long)]
    profile: Option<String>,
    /// Names to order.
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Obtain a certificate (with the stored account, or a new one).
    Issue(Issue),
    /// Obtain a new certificate for the names only if the CA's renewal information says
    /// the stored one is due (RFC 9773), replacing it.
    AriRenew(Issue),
    /// Revoke the stored certificate with the account key.
    Revoke,
    /// Roll the account key over (RFC 8555 §7.3.5).
    KeyRollover,
    /// Deactivate the account (RFC 8555 §7.3.6).
    Deactivate,
}

/// How long polling may take before the driver gives up.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

type Result<T> = std::result::Result<T, String>;

fn err(what: &str) -> impl Fn(instant_acme::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("instant-acme-driver: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    std::fs::create_dir_all(&cli.state).map_err(|e| format!("{}: {e}", cli.state.display()))?;
    match &cli.command {
        Command::Issue(issue) => {
            let account = account(&cli, issue).await?;
            obtain(&cli, &account, issue, None).await
        }
        Command::AriRenew(issue) => {
            let account = account(&cli, issue).await?;
            let cert = stored_certificate(&cli.state)?;
            let id = CertificateIdentifier::try_from(&cert)?;
            let (info, _) = account.renewal_info(&id).await.map_err(err("renewalInfo"))?;
            if info.suggested_window.start > time::OffsetDateTime::now_utc() {
                println!("not due: the suggested window starts {}", info.suggested_window.start);
                return Ok(());
            }
            obtain(&cli, &account, issue, Some(id)).await
        }
        Command::Revoke => {
            let account = stored_account(&cli).await?;
            let cert = stored_certificate(&cli.state)?;
            account.revoke(&RevocationRequest { certificate: &cert, reason: None }).await.map_err(err("revokeCert"))
        }
        Command::KeyRollover => {
            let mut account = stored_account(&cli).await?;
            let credentials = account.update_key().await.map_err(err("keyChange"))?;
            save_credentials(&cli.state, &credentials)
        }
        Command::Deactivate => stored_account(&cli).await?.deactivate().await.map_err(err("account deactivation")),
    }
}

fn credentials_path(state: &Path) -> PathBuf {
    state.join("account.json")
}

fn save_credentials(state: &Path, credentials: &AccountCredentials) -> Result<()> {
    let json = serde_json::to_vec(credentials).map_err(|e| e.to_string())?;
    std::fs::write(credentials_path(state), json).map_err(|e| format!("saving the account: {e}"))
}

async fn stored_account(cli: &Cli) -> Result<Account> {
    let path = credentials_path(&cli.state);
    let json = std::fs::read(&path).map_err(|e| format!("{}: {e} (no account issued yet?)", path.display()))?;
    let credentials: AccountCredentials = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    let builder = Account::builder_with_root(&cli.ca).map_err(err("trusting the CA root"))?;
    builder.from_credentials(credentials).await.map_err(err("restoring the account"))
}

/// The stored account, or a new one (with an external account binding when given).
async fn account(cli: &Cli, issue: &Issue) -> Result<Account> {
    if credentials_path(&cli.state).exists() {
        return stored_account(cli).await;
    }
    let eab = match (&issue.eab_kid, &issue.eab_hmac) {
        (Some(kid), Some(hmac)) => {
            let key = acmespec::protocol::b64::decode(hmac).map_err(|e| format!("--eab-hmac: {e}"))?;
            Some(ExternalAccountKey::new(kid.clone(), &key))
        }
        _ => None,
    };
    let builder = Account::builder_with_root(&cli.ca).map_err(err("trusting the CA root"))?;
    let new = NewAccount { contact: &[], terms_of_service_agreed: true, only_return_existing: false };
    let (account, credentials) =
        builder.create(&new, cli.directory.clone(), eab.as_ref()).await.map_err(err("newAccount"))?;
    save_credentials(&cli.state, &credentials)?;
    Ok(account)
}

fn stored_certificate(state: &Path) -> Result<CertificateDer<'static>> {
    let path = state.join("chain.pem");
    let pem = std::fs::read(&path).map_err(|e| format!("{}: {e} (no certificate issued yet?)", path.display()))?;
    CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| format!("{}: no certificate", path.display()))?
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Orders the names, answers every pending authorization with the chosen challenge,
/// finalizes and keeps the chain.
async fn obtain(cli: &Cli, account: &Account, issue: &Issue, replaces: Option<CertificateIdentifier<'_>>) -> Result<()> {
    let identifiers: Vec<Identifier> = issue.names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut new_order = NewOrder::new(&identifiers);
    if let Some(id) = replaces {
        new_order = new_order.replaces(id);
    }
    if let Some(profile) = &issue.profile {
        new_order = new_order.profile(profile);
    }
    let mut order = account.new_order(&new_order).await.map_err(err("newOrder"))?;
    let kind = match issue.challenge.as_str() {
        "http-01" => ChallengeType::Http01,
        "dns-01" => ChallengeType::Dns01,
        "tls-alpn-01" => ChallengeType::TlsAlpn01,
        other => return Err(format!("unknown challenge type {other}")),
    };
    let tls = match (&kind, issue.tls_listen) {
        (ChallengeType::TlsAlpn01, Some(addr)) => {
            Some(TlsAlpnResponder::bind(addr).await.map_err(|e| format!("serving tls-alpn-01 on {addr}: {e}"))?)
        }
        (ChallengeType::TlsAlpn01, None) => return Err("tls-alpn-01 needs --tls-listen".into()),
        _ => None,
    };
    let mut published = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(err("authorization"))?;
        if !matches!(authz.status, AuthorizationStatus::Pending) {
            continue;
        }
        let name = match authz.identifier().identifier {
            Identifier::Dns(name) => name.clone(),
            other => return Err(format!("unexpected identifier {other:?}")),
        };
        let mut challenge = authz.challenge(kind.clone()).ok_or_else(|| format!("no {kind:?} challenge for {name}"))?;
        let key_authorization = challenge.key_authorization();
        match kind {
            ChallengeType::Http01 => {
                let dir = issue.webroot.as_ref().ok_or("http-01 needs --webroot")?.join(".well-known/acme-challenge");
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let file = dir.join(&challenge.token);
                std::fs::write(&file, key_authorization.as_str()).map_err(|e| format!("{}: {e}", file.display()))?;
                published.push(Published::File(file));
            }
            ChallengeType::Dns01 => {
                let hook = issue.dns_hook.as_ref().ok_or("dns-01 needs --dns-hook")?;
                let fqdn = format!("_acme-challenge.{}.", name.trim_start_matches("*."));
                hook_call(hook, "present", &fqdn, &key_authorization.dns_value())?;
                published.push(Published::Record(hook.clone(), fqdn));
            }
            ChallengeType::TlsAlpn01 => {
                let responder = tls.as_ref().expect("bound above");
                responder
                    .provision(&AlpnIdentifier::dns(&name), key_authorization.as_str())
                    .map_err(|e| format!("tls-alpn-01 certificate for {name}: {e}"))?;
            }
            _ => unreachable!("only the three types above are chosen"),
        }
        challenge.set_ready().await.map_err(err("challenge response"))?;
    }
    let retry = RetryPolicy::new().timeout(POLL_TIMEOUT);
    let status = order.poll_ready(&retry).await.map_err(err("polling the order"));
    for p in published {
        p.remove();
    }
    match status? {
        OrderStatus::Ready => {}
        other => return Err(format!("the order ended {other:?}: {:?}", order.state().error)),
    }
    let key_pem = order.finalize().await.map_err(err("finalize"))?;
    let chain = order.poll_certificate(&retry).await.map_err(err("downloading the certificate"))?;
    std::fs::write(cli.state.join("key.pem"), key_pem).map_err(|e| format!("saving the key: {e}"))?;
    std::fs::write(cli.state.join("chain.pem"), chain).map_err(|e| format!("saving the chain: {e}"))
}

/// What was published for a challenge, removed once the order is decided.
enum Published {
    File(PathBuf),
    Record(PathBuf, String),
}

impl Published {
    fn remove(self) {
        match self {
            Published::File(f) => {
                let _ = std::fs::remove_file(f);
            }
            Published::Record(hook, fqdn) => {
                let _ = hook_call(&hook, "cleanup", &fqdn, "");
            }
        }
    }
}

fn hook_call(hook: &Path, action: &str, fqdn: &str, value: &str) -> Result<()> {
    let status = std::process::Command::new(hook)
        .args([action, fqdn, value])
        .status()
        .map_err(|e| format!("{}: {e}", hook.display()))?;
    if status.success() { Ok(()) } else { Err(format!("{} {action} {fqdn} exited {status}", hook.display())) }
}
