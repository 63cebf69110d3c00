//! `acmespec client ...`: the own client on the command line, for client adapters
//! and by hand.
//!
//! Keys travel as PKCS#8 PEM files, so that one invocation can issue and save the
//! account and certificate keys and later ones can revoke, roll over or deactivate.

use super::{AccountCredentials, ClientConfig, ClientDefect, RevokeAs};
use crate::protocol::wire::ChallengeType;
use crate::protocol::http::{parse_pem_certificates, read_ca_certs};
use crate::protocol::jws::Algorithm;
use crate::protocol::keys::SigningKey;
use crate::protocol::wire::Identifier;
use crate::responders::Responders;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The operations of `acmespec client`.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Obtain a certificate (newAccount, newOrder, challenges, finalize, download).
    Issue(Box<IssueArgs>),
    /// Revoke a certificate, signed by its own key or by an account.
    Revoke(Box<RevokeArgs>),
    /// Replace an account's key with a fresh one.
    KeyRollover(Box<KeyRolloverArgs>),
    /// Deactivate an account.
    Deactivate(Box<DeactivateArgs>),
    /// List the client defects and the client checks each must fail.
    ListDefects,
}

/// Options every operation takes.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// The CA's directory URL.
    #[arg(long)]
    pub directory: String,
    /// PEM file with the root(s) to trust for the CA's HTTPS.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Switch on a client defect (repeatable); see `acmespec client list-defects`.
    #[arg(long = "client-defect", value_name = "NAME")]
    pub client_defects: Vec<ClientDefect>,
    /// Bound on the whole operation, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Algorithm of newly generated account keys (ES256, ES384, RS256, PS256, EdDSA).
    #[arg(long, default_value = "ES256", value_parser = parse_alg)]
    pub key_alg: Algorithm,
}

/// `acmespec client issue`.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
    /// A name to order (repeatable); an IP address becomes an `ip` identifier (RFC 8738).
    #[arg(long = "domain", value_name = "NAME", required = true)]
    pub domains: Vec<String>,
    /// The challenge type to answer.
    #[arg(long, default_value = "http-01")]
    pub challenge: ChallengeType,
    /// Ask for this certificate profile (draft-ietf-acme-profiles); one the directory's
    /// meta.profiles does not advertise is refused before anything is ordered.
    #[arg(long)]
    pub profile: Option<String>,
    /// Where the http-01 responder listens [default: 127.0.0.1:5002 for http-01, else a free port].
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// Where the tls-alpn-01 responder listens [default: 127.0.0.1:5001 for tls-alpn-01, else a free port].
    #[arg(long)]
    pub tls_alpn_listen: Option<SocketAddr>,
    /// Where the DNS responder listens, UDP and TCP [default: 127.0.0.1:8053 for dns-01, else a free port].
    #[arg(long)]
    pub dns_listen: Option<SocketAddr>,
    /// Write the certificate chain (PEM) here instead of to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the certificate's private key (PKCS#8 PEM) here.
    #[arg(long)]
    pub key_out: Option<PathBuf>,
    /// Use this account key (PKCS#8 PEM) instead of generating one.
    #[arg(long)]
    pub account_key: Option<PathBuf>,
    /// Write the account key (PKCS#8 PEM) here.
    #[arg(long)]
    pub account_key_out: Option<PathBuf>,
}

/// `acmespec client revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
    /// The certificate (PEM; the first certificate of the file is revoked).
    #[arg(long)]
    pub cert: PathBuf,
    /// Sign with the certificate's key (PKCS#8 PEM).
    #[arg(long, conflicts_with = "account_key", required_unless_present = "account_key")]
    pub key: Option<PathBuf>,
    /// Sign as the account of this key (PKCS#8 PEM).
    #[arg(long)]
    pub account_key: Option<PathBuf>,
    /// The revocation reason code (RFC 5280 §5.3.1).
    #[arg(long)]
    pub reason: Option<u8>,
}

/// `acmespec client key-rollover`.
#[derive(Debug, clap::Args)]
pub struct KeyRolloverArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
    /// The current account key (PKCS#8 PEM); without it, a new account is created first.
    #[arg(long)]
    pub account_key: Option<PathBuf>,
    /// Write the new account key (PKCS#8 PEM) here.
    #[arg(long)]
    pub new_key_out: Option<PathBuf>,
}

/// `acmespec client deactivate`.
#[derive(Debug, clap::Args)]
pub struct DeactivateArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
    /// The account key (PKCS#8 PEM).
    #[arg(long)]
    pub account_key: PathBuf,
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(s).ok_or_else(|| format!("unknown algorithm {s:?}; use ES256, ES384, RS256, PS256 or EdDSA"))
}

/// Runs one `acmespec client` command: 0 on success, 1 when the operation failed,
/// 2 on a usage error.
pub async fn run(command: ClientCommand) -> ExitCode {
    let result = match command {
        ClientCommand::ListDefects => {
            for d in ClientDefect::ALL {
                println!("{:<28} {}", d.name(), d.description());
                for check in d.fails() {
                    println!("{:<28}   fails {check}", "");
                }
            }
            return ExitCode::SUCCESS;
        }
        ClientCommand::Issue(args) => issue(*args).await,
        ClientCommand::Revoke(args) => revoke(*args).await,
        ClientCommand::KeyRollover(args) => key_rollover(*args).await,
        ClientCommand::Deactivate(args) => deactivate(*args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("acmespec client: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Operation(e)) => {
            eprintln!("acmespec client: {e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Operation(String),
}

impl From<super::ClientError> for Failure {
    fn from(e: super::ClientError) -> Self {
        Failure::Operation(e.to_string())
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn config(
    common: &CommonArgs,
    identifiers: Vec<Identifier>,
    challenge: ChallengeType,
    listen: [SocketAddr; 3],
) -> Result<ClientConfig, Failure> {
    if url::Url::parse(&common.directory).is_err() {
        return Err(Failure::Usage(format!("--directory {:?} is not a URL", common.directory)));
    }
    let ca_certs = match &common.ca_cert {
        Some(p) => read_ca_certs(p).map_err(Failure::Usage)?,
        None => Vec::new(),
    };
    let [http, tls, dns] = listen;
    let responders = Responders::start(http, tls, dns)
        .await
        .map_err(|e| Failure::Usage(format!("cannot start the challenge responders: {e}")))?;
    Ok(ClientConfig {
        ca_certs,
        challenge,
        key_alg: common.key_alg,
        defects: common.client_defects.clone(),
        timeout: Duration::from_secs(common.timeout),
        ..ClientConfig::new(common.directory.clone(), identifiers, responders)
    })
}

/// A config for the operations that answer no challenge: responders on free ports.
async fn plain_config(common: &CommonArgs) -> Result<ClientConfig, Failure> {
    config(common, Vec::new(), ChallengeType::Http01, [loopback(0); 3]).await
}

async fn issue(args: IssueArgs) -> Result<(), Failure> {
    let identifiers = args
        .domains
        .iter()
        .map(|d| if d.parse::<IpAddr>().is_ok() { Identifier::ip(d.clone()) } else { Identifier::dns(d.clone()) })
        .collect();
    let pick = |given: Option<SocketAddr>, kind: ChallengeType, default: u16| {
        given.unwrap_or_else(|| loopback(if args.challenge == kind { default } else { 0 }))
    };
    let listen = [
        pick(args.http_listen, ChallengeType::Http01, 5002),
        pick(args.tls_alpn_listen, ChallengeType::TlsAlpn01, 5001),
        pick(args.dns_listen, ChallengeType::Dns01, 8053),
    ];
    let mut config = config(&args.common, identifiers, args.challenge, listen).await?;
    config.profile = args.profile.clone();
    if let Some(path) = &args.account_key {
        config.account_key = Some(read_key(path, args.common.key_alg)?);
    }
    let issued = super::issue(&config).await?;
    eprintln!("account: {}", issued.account_url);
    eprintln!("order: {}", issued.order_url);
    if let Some(path) = &args.account_key_out {
        write_key(path, &issued.account.key)?;
    }
    if let Some(path) = &args.key_out {
        write_key(path, &issued.certificate_key)?;
    }
    match &args.out {
        Some(path) => write_file(path, issued.certificate_pem.as_bytes())?,
        None => print!("{}", issued.certificate_pem),
    }
    Ok(())
}

async fn revoke(args: RevokeArgs) -> Result<(), Failure> {
    let config = plain_config(&args.common).await?;
    let pem = std::fs::read(&args.cert).map_err(|e| Failure::Usage(format!("--cert {}: {e}", args.cert.display())))?;
    let der = parse_pem_certificates(&pem)
        .map_err(|e| Failure::Usage(format!("--cert {}: {e}", args.cert.display())))?
        .remove(0)
        .to_vec();
    match (&args.key, &args.account_key) {
        (Some(path), _) => {
            let key = read_key(path, args.common.key_alg)?;
            super::revoke(&config, RevokeAs::CertificateKey(&key), &der, args.reason).await?;
        }
        (None, Some(path)) => {
            let account = super::find_account(&config, read_key(path, args.common.key_alg)?).await?;
            super::revoke(&config, RevokeAs::Account(&account), &der, args.reason).await?;
        }
        (None, None) => return Err(Failure::Usage("give --key or --account-key".into())),
    }
    eprintln!("revoked");
    Ok(())
}

async fn key_rollover(args: KeyRolloverArgs) -> Result<(), Failure> {
    let config = plain_config(&args.common).await?;
    let account = match &args.account_key {
        Some(path) => super::find_account(&config, read_key(path, args.common.key_alg)?).await?,
        None => {
            let created = super::create_account(&config).await?;
            eprintln!("created account {}", created.url);
            created
        }
    };
    let new_key = SigningKey::generate(args.common.key_alg).map_err(|e| Failure::Operation(e.to_string()))?;
    let rolled: AccountCredentials = super::key_rollover(&config, &account, new_key).await?;
    eprintln!("account {} has a new key", rolled.url);
    if let Some(path) = &args.new_key_out {
        write_key(path, &rolled.key)?;
    }
    Ok(())
}

async fn deactivate(args: DeactivateArgs) -> Result<(), Failure> {
    let config = plain_config(&args.common).await?;
    let account = super::find_account(&config, read_key(&args.account_key, args.common.key_alg)?).await?;
    super::deactivate_account(&config, &account).await?;
    eprintln!("account {} deactivated", account.url);
    Ok(())
}

/// Loads a PKCS#8 PEM key, trying `preferred` first, then every other algorithm
/// (an RSA key loads as RS256 unless PS256 is preferred).
fn read_key(path: &Path, preferred: Algorithm) -> Result<SigningKey, Failure> {
    let pem = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    std::iter::once(preferred)
        .chain(Algorithm::ALL)
        .find_map(|alg| SigningKey::from_pkcs8_pem(alg, &pem).ok())
        .ok_or_else(|| Failure::Usage(format!("{}: not a PKCS#8 PEM key of a supported algorithm", path.display())))
}

fn write_key(path: &Path, key: &SigningKey) -> Result<(), Failure> {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(key.pkcs8_der());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in text.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(path).and_then(|mut f| std::io::Write::write_all(&mut f, pem.as_bytes()));
    written.map_err(|e| Failure::Operation(format!("cannot write {}: {e}", path.display())))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::Operation(format!("cannot write {}: {e}", path.display())))
}
