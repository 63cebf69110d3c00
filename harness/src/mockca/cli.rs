//! `acmespec serve`: the mock CA as a server of its own, for clients and for runs
//! against `--directory`.

use crate::cli_support::usage_error;
use crate::mockca::{MockCa, MockCaConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
/// `acmespec serve`.
#[allow(missing_docs)]
pub struct ServeArgs {
    /// Where the ACME HTTPS listener binds.
    #[arg(long, default_value = "127.0.0.1:14000")]
    listen: SocketAddr,
    /// Where the plain-HTTP management listener binds (roots, certificate status, defects).
    #[arg(long)]
    management_listen: Option<SocketAddr>,
    /// Write the PEM a client must trust for the HTTPS listener here.
    #[arg(long)]
    ca_cert_out: Option<PathBuf>,
    /// Mark every challenge valid without validating it.
    #[arg(long)]
    always_valid: bool,
    /// Port the validation authority connects to for http-01.
    #[arg(long, default_value_t = 80)]
    va_http_port: u16,
    /// Port the validation authority connects to for tls-alpn-01.
    #[arg(long, default_value_t = 443)]
    va_tls_port: u16,
    /// DNS server the validation authority resolves names with (default: the system's).
    #[arg(long)]
    va_resolver: Option<SocketAddr>,
    /// Let the validation authority connect to non-loopback addresses (an SSRF risk).
    #[arg(long)]
    va_allow_remote: bool,
    /// Serve DNS here (A 127.0.0.1 for every name; TXT records set through the management
    /// listener's challtestsrv-style /set-txt and /clear-txt) and validate through it.
    #[arg(long)]
    dns_listen: Option<SocketAddr>,
    /// Switch on a defect (repeatable); see --list-defects.
    #[arg(long = "defect", value_name = "NAME")]
    defects: Vec<crate::mockca::Defect>,
    /// Require external account binding with this key: KID:BASE64URL-HMAC-KEY (repeatable).
    #[arg(long = "eab-key", value_name = "KID:KEY")]
    eab_keys: Vec<String>,
    /// Alternate certificate chains offered besides the primary one.
    #[arg(long, default_value_t = 1)]
    alternate_chains: usize,
    /// Refuse accounts without a contact URL (invalidContact), as many enterprise CAs do.
    #[arg(long)]
    require_contact: bool,
    /// Refuse newOrder with rateLimited past REQUESTS orders per account within SECONDS
    /// (RFC 8555 §6.6); declare it to `acmespec run` with a [rate-limit] table.
    #[arg(long, value_name = "REQUESTS/SECONDS")]
    rate_limit: Option<crate::mockca::NewOrderLimit>,
    /// Advertise this certificate profile in meta.profiles (draft-ietf-acme-profiles;
    /// repeatable, the first is the default), issuing as the classic profile does,
    /// instead of the default set: classic (90 days, common name), tlsserver (no common
    /// name, DNS names only) and shortlived (160 hours). The management listener's
    /// `POST /withdraw-profile {"profile": NAME}` withdraws one.
    #[arg(long = "profile", value_name = "NAME=DESCRIPTION", conflicts_with = "no_profiles")]
    profiles: Vec<crate::mockca::Profile>,
    /// Advertise no profiles, as a CA without the extension.
    #[arg(long)]
    no_profiles: bool,
    /// Print the defects with the cases each must fail, and exit.
    #[arg(long)]
    list_defects: bool,
}

/// Serves the mock CA until interrupted.
pub async fn serve(args: ServeArgs) -> ExitCode {
    if args.list_defects {
        for d in crate::mockca::Defect::ALL {
            println!("{:<34} {}", d.name(), d.description());
            for case in d.fails() {
                println!("{:<34}   fails {case}", "");
            }
        }
        return ExitCode::SUCCESS;
    }
    let eab_keys = match parse_eab_keys(&args.eab_keys) {
        Ok(k) => k,
        Err(e) => return usage_error(e),
    };
    if let Some((_, p)) = args.profiles.iter().enumerate().find(|(i, p)| args.profiles[..*i].iter().any(|q| q.name == p.name)) {
        return usage_error(format!("--profile {}: given more than once", p.name));
    }
    let config = MockCaConfig {
        listen: args.listen,
        management_listen: args.management_listen,
        always_valid: args.always_valid,
        va_http_port: args.va_http_port,
        va_tls_port: args.va_tls_port,
        va_resolver: args.va_resolver,
        va_allow_remote: args.va_allow_remote,
        dns_listen: args.dns_listen,
        defects: args.defects.clone(),
        eab_keys,
        alternate_chains: args.alternate_chains,
        new_order_limit: args.rate_limit,
        contact_required: args.require_contact,
        profiles: match (&args.profiles[..], args.no_profiles) {
            (_, true) => Vec::new(),
            ([], false) => crate::mockca::Profile::default_set(),
            (given, false) => given.to_vec(),
        },
        ..MockCaConfig::default()
    };
    let ca = match MockCa::start(config).await {
        Ok(ca) => ca,
        Err(e) => return usage_error(e),
    };
    if let Some(path) = &args.ca_cert_out
        && let Err(e) = std::fs::write(path, ca.https_root_pem())
    {
        return usage_error(format!("--ca-cert-out {}: {e}", path.display()));
    }
    println!("acmespec mock CA: directory {}", ca.directory_url());
    if let Some(m) = ca.management_url() {
        println!("management: {m}");
    }
    if let Some(dns) = ca.dns() {
        println!("dns: {}", dns.local_addr());
    }
    if !args.defects.is_empty() {
        let names: Vec<&str> = args.defects.iter().map(|d| d.name()).collect();
        println!("defects: {}", names.join(", "));
    }
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

fn parse_eab_keys(specs: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    specs
        .iter()
        .map(|spec| {
            let (kid, key) = spec.split_once(':').ok_or_else(|| format!("--eab-key {spec:?} must be KID:BASE64URL-KEY"))?;
            let key = crate::protocol::b64::decode(key).map_err(|e| format!("--eab-key {kid}: {e}"))?;
            Ok((kid.to_owned(), key))
        })
        .collect()
}
