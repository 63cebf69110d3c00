//! acmespec's own ACME client: a small, well-behaved RFC 8555 client core that can be
//! switched, defect by defect, into a misbehaving one.
//!
//! Its job is self-validation of the client grading (issue 4): graded clean, it must
//! pass every client check; graded with a [`ClientDefect`], it must fail exactly the
//! checks the defect declares. It is also usable as a client in its own right
//! (`acmespec client issue ...`).
//!
//! It speaks through the shared protocol core (the instrumented
//! [`HttpClient`](crate::protocol::http::HttpClient) with its nonce pool and Retry-After
//! parsing, the JWS and JWK code, the wire types) and answers challenges with the
//! in-process [`Responders`], which it provisions itself. What a well-written client
//! does, it does: a User-Agent and `application/jose+json` on every request,
//! POST-as-GET for every fetch, badNonce retried with the error's fresh nonce (at most
//! [`MAX_BAD_NONCE_RETRIES`] times), 429/503 waited out per Retry-After (at most
//! [`RETRY_BUDGET`] in all), the authorization polled (never the challenge re-POSTed)
//! and the order polled while `processing`, both per Retry-After, a CSR on a fresh key
//! naming exactly the order's identifiers, authorizations already valid left alone,
//! the preferred chain looked for among the `rel="alternate"` ones, renewal when the
//! CA's renewal information (RFC 9773) says it is due, and every operation bounded by
//! [`ClientConfig::timeout`].

mod defects;
mod session;

pub mod cli;

pub use defects::ClientDefect;
pub use crate::protocol::session::MAX_BAD_NONCE_RETRIES;
pub use session::{RETRY_BUDGET, USER_AGENT};
pub(crate) use session::{ok_or_problem, problem_error};

use crate::protocol::b64;
use crate::protocol::http::{HttpError, NonceError};
use crate::protocol::jwk::{dns01_txt_value, key_authorization};
use crate::protocol::jws::Algorithm;
use crate::protocol::keys::{KeyError, SigningKey};
use crate::protocol::wire::{Account, Authorization, Challenge, ChallengeType, Identifier, Order, Problem, RenewalInfo};
use crate::responders::{AlpnIdentifier, ResponderError, Responders};
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};
use crate::protocol::session::Signer;
use session::{Fetched, Req, Session};
use std::net::IpAddr;
use std::time::Duration;

/// What the client is to do and how.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The CA's directory URL.
    pub directory_url: String,
    /// Roots to trust for the CA's HTTPS; empty means the platform's roots.
    pub ca_certs: Vec<CertificateDer<'static>>,
    /// The identifiers to order a certificate for (`dns` or `ip`).
    pub identifiers: Vec<Identifier>,
    /// The challenge type to answer.
    pub challenge: ChallengeType,
    /// The responders the client provisions for its challenges (and cleans up after).
    pub responders: Responders,
    /// The algorithm of a freshly generated account key.
    pub key_alg: Algorithm,
    /// An existing account key to use instead of generating one (newAccount then
    /// returns the existing account).
    pub account_key: Option<SigningKey>,
    /// Defects switched on (empty: the well-behaved client).
    pub defects: Vec<ClientDefect>,
    /// Prefer the certificate chain whose topmost certificate was issued by this Subject
    /// CN, looking through the `rel="alternate"` chains (RFC 8555 §7.4.2) when the
    /// default one is another.
    pub preferred_chain: Option<String>,
    /// The certificate profile to ask for in newOrder (draft-ietf-acme-profiles); one the
    /// directory does not advertise is refused before anything is ordered.
    pub profile: Option<String>,
    /// Upper bound on one whole operation (issue, revoke, ...), polling and retries included.
    pub timeout: Duration,
}

impl ClientConfig {
    /// A well-behaved http-01 client with a fresh ES256 account key and a 90 s bound.
    pub fn new(directory_url: impl Into<String>, identifiers: Vec<Identifier>, responders: Responders) -> Self {
        ClientConfig {
            directory_url: directory_url.into(),
            ca_certs: Vec::new(),
            identifiers,
            challenge: ChallengeType::Http01,
            responders,
            key_alg: Algorithm::Es256,
            account_key: None,
            defects: Vec::new(),
            preferred_chain: None,
            profile: None,
            timeout: Duration::from_secs(90),
        }
    }
}

/// An account: its key and its URL (the `kid`).
#[derive(Debug, Clone)]
pub struct AccountCredentials {
    /// The account URL.
    pub url: String,
    /// The account key.
    pub key: SigningKey,
}

/// What a successful issuance produced.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate chain as downloaded (`application/pem-certificate-chain`).
    pub certificate_pem: String,
    /// The certificate's private key (a fresh P-256 key).
    pub certificate_key: SigningKey,
    /// The account URL.
    pub account_url: String,
    /// The account, key included (for revoke, key rollover, deactivation).
    pub account: AccountCredentials,
    /// The order URL.
    pub order_url: String,
}

impl Issued {
    /// The DER of the first (end-entity) certificate of the chain.
    pub fn leaf_der(&self) -> Result<Vec<u8>, ClientError> {
        first_certificate_der(&self.certificate_pem)
    }
}

/// Who signs a revocation (RFC 8555 §7.6).
#[derive(Debug, Clone, Copy)]
pub enum RevokeAs<'a> {
    /// The account that holds the certificate (or authorizations for its names): `kid`.
    Account(&'a AccountCredentials),
    /// The certificate's own key: `jwk`.
    CertificateKey(&'a SigningKey),
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration cannot work (no identifiers, a bad IP identifier, ...).
    #[error("configuration: {0}")]
    Config(String),
    /// No response came back.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// No nonce could be obtained.
    #[error(transparent)]
    Nonce(#[from] NonceError),
    /// The CA answered with an error status.
    #[error("{url} answered {status}{}", describe_problem(.problem))]
    Problem {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// The problem document, when the answer carried one.
        problem: Option<Box<Problem>>,
    },
    /// The CA answered something the client cannot use (missing Location, not JSON, ...).
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// No authorization offered the configured challenge type.
    #[error("the authorization for {identifier} offers no {challenge} challenge")]
    NoChallenge {
        /// The identifier.
        identifier: String,
        /// The challenge type looked for.
        challenge: ChallengeType,
    },
    /// An authorization or the order became invalid.
    #[error("{what} is invalid{}", describe_problem(.problem))]
    Invalid {
        /// What became invalid (`authorization for a.test`, `order`).
        what: String,
        /// The error the CA gave, if any.
        problem: Option<Box<Problem>>,
    },
    /// The operation did not finish within its bound.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A key could not be generated or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The CSR could not be built.
    #[error("CSR: {0}")]
    Csr(String),
    /// A responder could not be provisioned.
    #[error(transparent)]
    Responder(#[from] ResponderError),
}

impl ClientError {
    /// The ACME error name (`badNonce`, `orderNotReady`, ...) of a problem answer.
    pub fn acme_error(&self) -> Option<&str> {
        match self {
            ClientError::Problem { problem: Some(p), .. } | ClientError::Invalid { problem: Some(p), .. } => p.acme_name(),
            _ => None,
        }
    }
}

fn describe_problem(problem: &Option<Box<Problem>>) -> String {
    match problem {
        None => String::new(),
        Some(p) => {
            let kind = p.acme_name().or(p.kind.as_deref()).unwrap_or("problem");
            match &p.detail {
                Some(d) => format!(": {kind}: {d}"),
                None => format!(": {kind}"),
            }
        }
    }
}

/// Runs `op` within the configured bound, so that nothing the CA does can hang it.
async fn bounded<T>(config: &ClientConfig, what: &str, op: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
    // The inner deadline normally ends the operation first, with a precise message;
    // this one only catches an exchange that outlives it.
    let grace = Duration::from_secs(2);
    match tokio::time::timeout(config.timeout + grace, op).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::Timeout(format!("{what} did not finish within {:?}", config.timeout))),
    }
}

/// Obtains a certificate for `config.identifiers`: newNonce, newAccount, newOrder,
/// each authorization answered with `config.challenge` and polled until valid, the
/// order polled until ready, finalized with a CSR on a fresh key, polled while
/// processing, and the certificate downloaded (RFC 8555 §7.1–§7.5).
pub async fn issue(config: &ClientConfig) -> Result<Issued, ClientError> {
    bounded(config, "issuance", async {
        let mut s = Session::connect(config).await?;
        let account = new_account(&mut s, config).await?;
        issue_with(&mut s, config, account).await
    })
    .await
}

/// Creates an account (or finds the one of `config.account_key`) with newAccount
/// (RFC 8555 §7.3), agreeing to the terms of service.
pub async fn create_account(config: &ClientConfig) -> Result<AccountCredentials, ClientError> {
    bounded(config, "newAccount", async {
        let mut s = Session::connect(config).await?;
        new_account(&mut s, config).await
    })
    .await
}

/// Looks up the account of `key` with `onlyReturnExisting` (RFC 8555 §7.3.1).
pub async fn find_account(config: &ClientConfig, key: SigningKey) -> Result<AccountCredentials, ClientError> {
    bounded(config, "account lookup", async {
        let mut s = Session::connect(config).await?;
        let url = s.endpoint("newAccount")?;
        let resp = s.post_json(Req::NewAccount, &url, Signer::Jwk(&key), &json!({ "onlyReturnExisting": true })).await?;
        let url = resp.location().ok_or_else(|| ClientError::Protocol("newAccount answered without a Location".into()))?;
        Ok(AccountCredentials { url, key })
    })
    .await
}

/// Revokes a certificate (RFC 8555 §7.6), signed by its account or its own key.
pub async fn revoke(config: &ClientConfig, by: RevokeAs<'_>, certificate_der: &[u8], reason: Option<u8>) -> Result<(), ClientError> {
    bounded(config, "revocation", async {
        let mut s = Session::connect(config).await?;
        revoke_with(&mut s, by, certificate_der, reason).await
    })
    .await
}

/// Replaces the account key with `new_key` (RFC 8555 §7.3.5); returns the account
/// with its new key.
pub async fn key_rollover(config: &ClientConfig, account: &AccountCredentials, new_key: SigningKey) -> Result<AccountCredentials, ClientError> {
    bounded(config, "key rollover", async {
        let mut s = Session::connect(config).await?;
        key_rollover_with(&mut s, account, new_key).await
    })
    .await
}

/// Deactivates the account (RFC 8555 §7.3.6).
pub async fn deactivate_account(config: &ClientConfig, account: &AccountCredentials) -> Result<(), ClientError> {
    bounded(config, "account deactivation", async {
        let mut s = Session::connect(config).await?;
        deactivate_with(&mut s, account).await
    })
    .await
}

/// What [`exercise`] did.
#[derive(Debug, Clone)]
pub struct Exercised {
    /// The issuance.
    pub issued: Issued,
    /// The account after the key rollover (now deactivated).
    pub account: AccountCredentials,
}

/// Every operation once, in one session, for grading: issue, a renewal if the CA's
/// renewal information says it is due, key rollover to a fresh key of
/// `config.key_alg`, revocation of the (latest) certificate by the account (with its
/// new key), account deactivation. Stops at the first error.
pub async fn exercise(config: &ClientConfig) -> Result<Exercised, ClientError> {
    bounded(config, "issue, renewal if due, key rollover, revoke and deactivate", async {
        let mut s = Session::connect(config).await?;
        let account = new_account(&mut s, config).await?;
        let mut issued = issue_with(&mut s, config, account).await?;
        if renewal_due(&mut s, &issued).await? {
            issued = issue_with(&mut s, config, issued.account.clone()).await?;
        }
        let new_key = SigningKey::generate(config.key_alg)?;
        let account = key_rollover_with(&mut s, &issued.account, new_key).await?;
        revoke_with(&mut s, RevokeAs::Account(&account), &issued.leaf_der()?, None).await?;
        deactivate_with(&mut s, &account).await?;
        Ok(Exercised { issued, account })
    })
    .await
}

/// `resp`'s body as a `what`, or why it is not one.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(resp: &crate::protocol::http::Response, what: &str) -> Result<T, ClientError> {
    serde_json::from_slice(&resp.body).map_err(|e| ClientError::Protocol(format!("{what} from {}: {e}", resp.url)))
}

async fn new_account(s: &mut Session, config: &ClientConfig) -> Result<AccountCredentials, ClientError> {
    let key = match &config.account_key {
        Some(k) => k.clone(),
        None => SigningKey::generate(config.key_alg)?,
    };
    let url = s.endpoint("newAccount")?;
    let resp = s.post_json(Req::NewAccount, &url, Signer::Jwk(&key), &json!({ "termsOfServiceAgreed": true })).await?;
    let account: Account = parse(&resp, "account")?;
    if let Some(status) = account.status.as_deref().filter(|st| *st != "valid") {
        return Err(ClientError::Protocol(format!("the account is {status}")));
    }
    let url = resp.location().ok_or_else(|| ClientError::Protocol("newAccount answered without a Location".into()))?;
    Ok(AccountCredentials { url, key })
}

/// Removes what the client provisioned, however the flow ends (even when cancelled).
struct Provisioned {
    responders: Responders,
    http_tokens: Vec<String>,
    txt_names: Vec<String>,
    alpn: Vec<AlpnIdentifier>,
}

impl Drop for Provisioned {
    fn drop(&mut self) {
        for t in &self.http_tokens {
            self.responders.http01().remove(t);
        }
        for n in &self.txt_names {
            self.responders.dns().clear_txt(n);
        }
        for a in &self.alpn {
            self.responders.tls_alpn().remove(a);
        }
    }
}

impl Provisioned {
    fn provision(&mut self, kind: ChallengeType, identifier: &Identifier, token: &str, key_auth: &str) -> Result<(), ClientError> {
        match kind {
            ChallengeType::Http01 => {
                self.responders.http01().provision(token, key_auth);
                self.http_tokens.push(token.to_owned());
            }
            ChallengeType::Dns01 => {
                let name = format!("_acme-challenge.{}", identifier.value);
                self.responders.dns().add_txt(&name, &dns01_txt_value(key_auth));
                self.txt_names.push(name);
            }
            ChallengeType::TlsAlpn01 => {
                let id = if identifier.kind == "ip" {
                    let ip: IpAddr = identifier
                        .value
                        .parse()
                        .map_err(|_| ClientError::Protocol(format!("ip identifier {:?} is not an address", identifier.value)))?;
                    AlpnIdentifier::Ip(ip)
                } else {
                    AlpnIdentifier::dns(identifier.value.clone())
                };
                self.responders.tls_alpn().provision(&id, key_auth)?;
                self.alpn.push(id);
            }
        }
        Ok(())
    }
}

async fn issue_with(s: &mut Session, config: &ClientConfig, account: AccountCredentials) -> Result<Issued, ClientError> {
    if config.identifiers.is_empty() {
        return Err(ClientError::Config("no identifiers to order a certificate for".into()));
    }
    let kid = Signer::Kid(&account.key, &account.url);
    let new_order = s.endpoint("newOrder")?;
    let mut payload = json!({ "identifiers": config.identifiers });
    if let Some(profile) = config.profile.as_deref().filter(|_| !s.has(ClientDefect::IgnoreProfile)) {
        if s.has(ClientDefect::UnadvertisedProfile) {
            payload["profile"] = format!("{profile}-v2").into();
        } else if s.advertises_profile(profile) {
            payload["profile"] = profile.into();
        } else {
            // draft-ietf-acme-profiles §4: a client SHOULD NOT request a profile the
            // directory does not advertise.
            return Err(ClientError::Config(format!("the CA does not advertise the certificate profile {profile:?}")));
        }
    }
    let resp = s.post_json(Req::NewOrder, &new_order, kid, &payload).await?;
    let order_url = resp.location().ok_or_else(|| ClientError::Protocol("newOrder answered without a Location".into()))?;
    let mut order: Order = parse(&resp, "order")?;
    let finalize_url = order.finalize.clone().ok_or_else(|| ClientError::Protocol("the order has no finalize URL".into()))?;

    let certificate_key = if s.has(ClientDefect::CsrAccountKey) { account.key.clone() } else { SigningKey::generate(Algorithm::Es256)? };
    let csr = csr_der(&config.identifiers, s.has(ClientDefect::CsrExtraName), &certificate_key)?;
    let finalize_payload = json!({ "csr": b64::encode(&csr) });

    if s.has(ClientDefect::FinalizeBeforeReady) {
        // A speculative finalize; orderNotReady is expected and shrugged off.
        match s.post_json(Req::Finalize, &finalize_url, kid, &finalize_payload).await {
            Ok(r) => order = parse(&r, "order")?,
            Err(e) => tracing::debug!("premature finalize refused: {e}"),
        }
    }

    let mut provisioned =
        Provisioned { responders: config.responders.clone(), http_tokens: Vec::new(), txt_names: Vec::new(), alpn: Vec::new() };
    for authz_url in order.authorizations.clone() {
        authorize(s, config, &account, &authz_url, &mut provisioned).await?;
    }
    drop(provisioned);

    // Wait for `ready` (RFC 8555 §7.4): every authorization is valid, but the order
    // status is the CA's to change.
    loop {
        let resp = s.fetch(Fetched::Order, &order_url, kid).await?;
        order = parse(&resp, "order")?;
        match order.status.as_deref() {
            Some("ready" | "processing" | "valid") => break,
            Some("pending") => s.sleep_within_deadline(s.poll_wait(&resp), "waiting for the order to be ready").await?,
            other => return Err(invalid_order(&order, other)),
        }
    }
    let mut wait = session::DEFAULT_POLL;
    if order.status.as_deref() == Some("ready") {
        let resp = s.post_json(Req::Finalize, &finalize_url, kid, &finalize_payload).await?;
        order = parse(&resp, "order")?;
        wait = s.poll_wait(&resp);
    }

    if s.has(ClientDefect::DownloadWhileProcessing) {
        // Takes the finalize answer as final: no polling, whatever its status.
    } else {
        loop {
            match order.status.as_deref() {
                Some("valid") => break,
                Some("processing") => {
                    s.sleep_within_deadline(wait, "waiting for the order to be valid").await?;
                    let resp = s.fetch(Fetched::Order, &order_url, kid).await?;
                    order = parse(&resp, "order")?;
                    wait = s.poll_wait(&resp);
                }
                other => return Err(invalid_order(&order, other)),
            }
        }
    }
    let status = order.status.as_deref().unwrap_or("without status");
    let certificate_url = order
        .certificate
        .clone()
        .ok_or_else(|| ClientError::Protocol(format!("the order is {status} and has no certificate URL")))?;
    let resp = s.fetch(Fetched::Certificate, &certificate_url, kid).await?;
    let mut certificate_pem = chain_text(&resp)?;
    let preferred = config.preferred_chain.as_deref().filter(|_| !s.has(ClientDefect::IgnorePreferredChain));
    if let Some(wanted) = preferred
        && top_issuer(&certificate_pem).as_deref() != Some(wanted)
    {
        for alternate in resp.links_with_rel("alternate") {
            let pem = chain_text(&s.fetch(Fetched::Certificate, &alternate, kid).await?)?;
            if top_issuer(&pem).as_deref() == Some(wanted) {
                certificate_pem = pem;
                break;
            }
        }
    }
    Ok(Issued { certificate_pem, certificate_key, account_url: account.url.clone(), account, order_url })
}

/// A downloaded chain as text, holding at least one certificate.
fn chain_text(resp: &crate::protocol::http::Response) -> Result<String, ClientError> {
    let pem = String::from_utf8(resp.body.to_vec()).map_err(|_| ClientError::Protocol("the certificate chain is not text".into()))?;
    first_certificate_der(&pem)?;
    Ok(pem)
}

/// The issuer CN of the topmost (last) certificate of a PEM chain: what a preferred
/// chain is named by.
fn top_issuer(pem: &str) -> Option<String> {
    use rustls_pki_types::pem::PemObject;
    let top = CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok).last()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&top).ok()?;
    cert.issuer().iter_common_name().next()?.as_str().ok().map(str::to_owned)
}

/// Whether the CA's renewal information says `issued` is due (RFC 9773 §4.2): a
/// uniformly random instant of the suggested window has passed. A CA that offers no
/// renewal information, or a window whose end is not after its start, says nothing.
async fn renewal_due(s: &mut Session, issued: &Issued) -> Result<bool, ClientError> {
    let Some(base) = s.dir.renewal_info.clone() else { return Ok(false) };
    let url = format!("{}/{}", base.trim_end_matches('/'), renewal_info_id(&issued.leaf_der()?)?);
    let resp = session::ok_or_problem(s.get(&url).await?)?;
    let info: RenewalInfo = parse(&resp, "renewal information")?;
    let window = info.suggested_window.ok_or_else(|| ClientError::Protocol(format!("{url} has no suggestedWindow")))?;
    let instant = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| ClientError::Protocol(format!("{url}: suggestedWindow time {t:?}: {e}")))
    };
    let (start, end) = (instant(&window.start)?, instant(&window.end)?);
    if end <= start || s.has(ClientDefect::IgnoreRenewalWindow) {
        return Ok(false);
    }
    let fraction = (crate::protocol::random::u64() >> 11) as f64 / (1u64 << 53) as f64;
    Ok(start + (end - start) * fraction <= time::OffsetDateTime::now_utc())
}

/// The certificate's renewalInfo id (RFC 9773 §4.1): base64url of the authority key
/// identifier's keyIdentifier, ".", base64url of the serial number's DER content octets.
fn renewal_info_id(leaf_der: &[u8]) -> Result<String, ClientError> {
    use x509_parser::extensions::ParsedExtension;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf_der)
        .map_err(|e| ClientError::Protocol(format!("the certificate does not parse: {e}")))?;
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| ClientError::Protocol("the certificate has no authority key identifier".into()))?;
    Ok(format!("{}.{}", b64::encode(aki), b64::encode(cert.raw_serial())))
}

fn invalid_order(order: &Order, status: Option<&str>) -> ClientError {
    match status {
        Some("invalid") => ClientError::Invalid { what: "the order".into(), problem: order.error.clone().map(Box::new) },
        other => ClientError::Protocol(format!("unexpected order status {other:?}")),
    }
}

/// Answers one authorization and waits until it is valid (RFC 8555 §7.5, §7.5.1).
async fn authorize(
    s: &mut Session,
    config: &ClientConfig,
    account: &AccountCredentials,
    authz_url: &str,
    provisioned: &mut Provisioned,
) -> Result<(), ClientError> {
    let kid = Signer::Kid(&account.key, &account.url);
    let resp = s.fetch(Fetched::Authz, authz_url, kid).await?;
    let authz: Authorization = parse(&resp, "authorization")?;
    let identifier = authz.identifier.clone().ok_or_else(|| ClientError::Protocol(format!("{authz_url} has no identifier")))?;
    let what = format!("the authorization for {}", identifier.value);
    match authz.status.as_deref() {
        Some("valid") if !s.has(ClientDefect::AnswerValidAuthorization) => return Ok(()),
        Some("pending" | "valid") => {}
        Some("invalid") => return Err(ClientError::Invalid { what, problem: challenge_error(&authz) }),
        other => return Err(ClientError::Protocol(format!("{what} is {other:?}"))),
    }
    let challenge = authz
        .challenges
        .iter()
        .find(|c| c.kind == config.challenge.name())
        .cloned()
        .ok_or_else(|| ClientError::NoChallenge { identifier: identifier.value.clone(), challenge: config.challenge })?;
    let token = challenge.token.clone().ok_or_else(|| ClientError::Protocol(format!("{} has no token", challenge.url)))?;
    let key_auth = key_authorization(&token, account.key.jwk());
    provisioned.provision(config.challenge, &identifier, &token, &key_auth)?;

    let response = if s.has(ClientDefect::LegacyKeyAuthorization) { json!({ "keyAuthorization": key_auth }) } else { json!({}) };
    let resp = s.post_json(Req::ChallengeResponse, &challenge.url, kid, &response).await?;
    let answered: Challenge = parse(&resp, "challenge")?;
    if answered.status.as_deref() == Some("invalid") {
        return Err(ClientError::Invalid { what, problem: answered.error.map(Box::new) });
    }
    // Poll the authorization (§7.5.1), first at once, then per Retry-After.
    loop {
        let (status, problem, resp) = if s.has(ClientDefect::RepostChallenge) {
            let resp = s.post_json(Req::ChallengeResponse, &challenge.url, kid, &json!({})).await?;
            let c: Challenge = parse(&resp, "challenge")?;
            (c.status, c.error.map(Box::new), resp)
        } else {
            let resp = s.fetch(Fetched::Authz, authz_url, kid).await?;
            let a: Authorization = parse(&resp, "authorization")?;
            let problem = challenge_error(&a);
            (a.status, problem, resp)
        };
        match status.as_deref() {
            Some("valid") => return Ok(()),
            Some("pending" | "processing") => s.sleep_within_deadline(s.poll_wait(&resp), &format!("waiting for {what}")).await?,
            Some("invalid") => return Err(ClientError::Invalid { what, problem }),
            other => return Err(ClientError::Protocol(format!("{what} is {other:?}"))),
        }
    }
}

fn challenge_error(authz: &Authorization) -> Option<Box<Problem>> {
    authz.challenges.iter().find_map(|c| c.error.clone()).map(Box::new)
}

/// A PKCS#10 CSR naming exactly `identifiers` (and, with `extra_name`, one name the
/// order does not have, for the client defect that asks for it).
fn csr_der(identifiers: &[Identifier], extra_name: bool, key: &SigningKey) -> Result<Vec<u8>, ClientError> {
    if let Some(bad) = identifiers.iter().find(|i| i.kind == "ip" && i.value.parse::<std::net::IpAddr>().is_err()) {
        return Err(ClientError::Config(format!("{:?} is not an IP address", bad.value)));
    }
    let mut names = identifiers.to_vec();
    if extra_name {
        let base = identifiers.iter().find(|i| i.kind == "dns").map(|i| i.value.trim_start_matches("*.")).unwrap_or("acmespec.test");
        names.push(Identifier::dns(format!("not-in-the-order.{base}")));
    }
    key.csr_der(&names, None).map_err(ClientError::Csr)
}

/// The DER of the first CERTIFICATE block of a PEM chain.
fn first_certificate_der(pem: &str) -> Result<Vec<u8>, ClientError> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .map(|c| c.to_vec())
        .ok_or_else(|| ClientError::Protocol("the certificate response holds no PEM certificate".into()))
}

async fn revoke_with(s: &mut Session, by: RevokeAs<'_>, certificate_der: &[u8], reason: Option<u8>) -> Result<(), ClientError> {
    let url = s.endpoint("revokeCert")?;
    let mut payload = json!({ "certificate": b64::encode(certificate_der) });
    if let Some(r) = reason {
        payload["reason"] = r.into();
    }
    let signer = match by {
        RevokeAs::Account(a) => Signer::Kid(&a.key, &a.url),
        RevokeAs::CertificateKey(k) => Signer::Jwk(k),
    };
    s.post_json(Req::Revoke, &url, signer, &payload).await?;
    Ok(())
}

async fn key_rollover_with(s: &mut Session, account: &AccountCredentials, new_key: SigningKey) -> Result<AccountCredentials, ClientError> {
    let url = s.endpoint("keyChange")?;
    let inner_payload = json!({ "account": account.url, "oldKey": account.key.jwk().to_value() });
    let inner = s.key_change_inner(&new_key, &url, &inner_payload).await?;
    s.post_json(Req::KeyChange, &url, Signer::Kid(&account.key, &account.url), &inner).await?;
    Ok(AccountCredentials { url: account.url.clone(), key: new_key })
}

async fn deactivate_with(s: &mut Session, account: &AccountCredentials) -> Result<(), ClientError> {
    let resp = s
        .post_json(Req::AccountUpdate, &account.url, Signer::Kid(&account.key, &account.url), &json!({ "status": "deactivated" }))
        .await?;
    let updated: Value = parse(&resp, "account")?;
    match updated.get("status").and_then(Value::as_str) {
        Some("deactivated") => Ok(()),
        other => Err(ClientError::Protocol(format!("the account is {other:?} after deactivation"))),
    }
}
