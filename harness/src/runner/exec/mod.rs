//! Executing one case: the step primitives, the request mutations, and the state a
//! case builds up (accounts, orders, certificates) as it goes.
//!
//! Each primitive exists once; scenario files combine them. A primitive that meets a
//! server response it cannot continue from reports it as a failure of that step (the
//! server broke the flow), while transport trouble is a harness `error`.

mod accounts;
mod challenges;
mod orders;
mod requests;

use crate::protocol::b64;
use crate::protocol::http::{HttpClient, HttpError, Response};
use crate::protocol::jwk::{dns01_txt_value, key_authorization};
use crate::protocol::jws::{Algorithm, FlattenedJws, KeyId, acme_protected_header};
use crate::protocol::keys::SigningKey;
use crate::protocol::wire::{Authorization, Directory, Identifier, Order};
use crate::responders::{AlpnIdentifier, Http01Variant, Responders};
use crate::runner::RateLimitedEndpoint;
use crate::runner::eab;
use crate::runner::expect::{self, CheckContext, Mismatch};
use crate::runner::validation;
use crate::scenario::{
    Action, AuthMutation, CsrSpec, Expect, Feature, HttpMethod, KeyChoice, Mutation, NonceMutation, Provision,
    ProvisionVariant, Refusable, RevokeBy, SignatureMutation, Step, Target, UrlMutation,
};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What stops a step.
#[derive(Debug, Clone)]
pub(crate) enum StepError {
    /// The server's behaviour broke a requirement or the flow.
    Fail(Vec<Mismatch>),
    /// The server does not offer what the step needs.
    Unsupported(String),
    /// The harness could not carry out the step.
    Error(String),
    /// A challenge became valid (or invalid) without the CA's validation request
    /// reaching the responders: the case that judges validation of this kind (`key`)
    /// fails on it, the rest are blocked.
    Unproven {
        /// The kind of step that validates (`solve:http-01`).
        key: String,
        /// What was required and seen.
        mismatch: Mismatch,
    },
}

impl From<HttpError> for StepError {
    fn from(e: HttpError) -> Self {
        StepError::Error(format!("no usable response: {e}"))
    }
}

fn fail(expected: impl Into<String>, observed: impl Into<String>) -> StepError {
    StepError::Fail(vec![Mismatch { expected: expected.into(), observed: observed.into() }])
}


type StepResult<T> = Result<T, StepError>;

/// Without expectations of its own, a step must get the status its action succeeds with.
/// The ordinary success of a step nobody checks: any 2xx. RFC 8555 names the usual
/// status of each answer (200, 201) without a keyword, so only the class is required.
fn expect_ok(resp: Response, checked: bool) -> StepResult<Response> {
    if checked || (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    Err(fail(format!("a success (2xx) for {}", resp.url), resp.summary()))
}

/// `refusable`: an error answer the RFC lets the server give means it does not offer
/// what the case needs.
fn refused(step: &Step, resp: &Response) -> StepResult<()> {
    let Some(refusable) = &step.refusable else { return Ok(()) };
    if resp.status < 400 {
        return Ok(());
    }
    let kind = resp.json().ok().and_then(|b| b.get("type").and_then(Value::as_str).map(str::to_owned));
    let allowed = match refusable {
        Refusable::Any(any) => *any,
        Refusable::Problems(types) => {
            kind.as_deref().is_some_and(|k| types.iter().any(|t| expect::problem_urn(t) == k))
        }
    };
    if allowed {
        return Err(StepError::Unsupported(format!("the server refused, as the RFC lets it: {}", resp.summary())));
    }
    Ok(())
}

/// Everything shared by the cases of one run (each case gets its own `client`).
#[derive(Clone)]
pub(crate) struct Env {
    pub(crate) client: HttpClient,
    pub(crate) directory_url: String,
    pub(crate) directory: Directory,
    pub(crate) responders: Responders,
    pub(crate) domain_suffix: String,
    pub(crate) eab: Option<crate::runner::EabCredentials>,
    pub(crate) capabilities: crate::runner::Capabilities,
    /// Contact URLs for accounts whose step names none (`--contact`).
    pub(crate) contacts: Vec<String>,
    /// How long a rate-limited request may wait for its Retry-After (`--max-wait`).
    pub(crate) max_wait: Duration,
    /// Who publishes challenge responses the responders do not (`--http01-webroot`, ...).
    pub(crate) solvers: crate::runner::Solvers,
    /// Every answer of the run, for the requirements that bind them all; kept only when
    /// a selected case audits them.
    pub(crate) audit: Option<std::sync::Arc<crate::runner::audit::RunAudit>>,
}

struct AccountState {
    key: SigningKey,
    url: Option<String>,
}

struct OrderState {
    account: String,
    url: String,
    object: Order,
    cert_key: Option<SigningKey>,
    cert_pem: Option<String>,
    /// A newAuthz result: `url` is the authorization's and `object` lists only it.
    pre_authorization: bool,
}

enum Provisioned {
    Http(String),
    Dns(String),
    TlsAlpn(AlpnIdentifier),
    /// Published by an external solver: (challenge type, identifier, token, value).
    External(crate::runner::ExternalSolver, [String; 4]),
}

/// The state of one running case.
pub(crate) struct CaseRun<'e> {
    env: &'e Env,
    requires: &'e [Feature],
    placeholders: Vec<(String, String)>,
    accounts: HashMap<String, AccountState>,
    orders: HashMap<String, OrderState>,
    used_nonces: Vec<String>,
    provisioned: Vec<Provisioned>,
    /// The external account binding the last new-account step sent (`{eab_binding}`).
    last_binding: Option<Value>,
    /// Bodies kept by `save`, by name.
    saved: HashMap<String, Vec<u8>>,
    /// When the case started: older responder records belong to other cases.
    started: std::time::SystemTime,
    /// The challenges the case answered, to attribute responder records to it.
    attempted: validation::Attempted,
    /// The responder records of this case, taken for a step with a `validation` check.
    observed: validation::Observed,
    /// The Retry-After of the latest response, for a `sleep` step with `retry_after`.
    last_retry_after: Option<Duration>,
    /// The step sends requests to reach a declared rate limit: its 429 is the answer
    /// it checks, not one to wait out.
    probing_rate_limit: bool,
    /// An external solver answers the challenges whose solving this case judges: its
    /// `validation` expectations are left out (nothing of the CA's reaches the responders).
    pub(crate) unobserved: bool,
    /// Challenge, authorization and order URLs whose challenge POST the server answered
    /// with an error: a server validating inside that POST has already decided them.
    decided_in_post: Vec<String>,
    /// Challenge URL → its authorization's URL: a challenge is polled by reading its
    /// authorization, since some servers take any POST to a challenge, even a
    /// POST-as-GET, as a new response (which rfc8555/6.3/challenge-fetch-starts-no-validation judges).
    authz_of_challenge: HashMap<String, String>,
}

const DEFAULT: &str = "default";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(250);
const POLL_INTERVAL_MAX: Duration = Duration::from_secs(3);
/// The longest a `sleep` step with `retry_after` waits, whatever the server asked.
const MAX_RETRY_AFTER_SLEEP: Duration = Duration::from_secs(60);

/// Writes `url` differently but equivalently; the URL parser would normalise the
/// difference away, so the spelling is changed on the text.
fn respell_url(url: &str, respell: impl Fn(&url::Url) -> String) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => respell(&parsed),
        Err(_) => url.to_owned(),
    }
}

/// The RFC 9773 §4.1 certificate identifier of the first certificate of a PEM chain.
fn cert_id(pem: &str) -> Option<String> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()?;
    cert_id_of_der(&der)
}

/// base64url(authorityKeyIdentifier keyIdentifier) "." base64url(serial number DER
/// content), RFC 9773 §4.1.
fn cert_id_of_der(der: &[u8]) -> Option<String> {
    use x509_parser::extensions::ParsedExtension;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let aki = cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    })?;
    Some(format!("{}.{}", b64::encode(aki), b64::encode(cert.tbs_certificate.raw_serial())))
}

fn toml_to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Drop for CaseRun<'_> {
    fn drop(&mut self) {
        for p in self.provisioned.drain(..) {
            match p {
                Provisioned::Http(token) => {
                    self.env.responders.http01().remove(&token);
                }
                Provisioned::Dns(name) => self.env.responders.dns().clear_txt(&name),
                Provisioned::TlsAlpn(id) => {
                    self.env.responders.tls_alpn().remove(&id);
                }
                // A drop cannot wait: the cleanup runs on its own.
                Provisioned::External(solver, [kind, id, token, value]) => {
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(async move { solver.cleanup(&kind, &id, &token, &value).await });
                    }
                }
            }
        }
    }
}

/// `{profile}` (the first profile the directory advertises), `{unadvertised_profile}`
/// (a name it does not), and the capabilities file's `{dns_only_profile}` and
/// `{withdrawn_profile}`.
fn profile_placeholders(env: &Env) -> Vec<(String, String)> {
    let advertised: Vec<&str> = env
        .directory
        .meta
        .as_ref()
        .and_then(|m| m.profiles.as_ref())
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut unadvertised = "acmespec-unadvertised".to_owned();
    while advertised.contains(&unadvertised.as_str()) {
        unadvertised.push_str("-x");
    }
    let policy = &env.capabilities.profiles;
    [
        ("{profile}", advertised.first().map(|p| (*p).to_owned())),
        ("{unadvertised_profile}", Some(unadvertised)),
        ("{dns_only_profile}", policy.dns_only.clone()),
        ("{withdrawn_profile}", policy.withdrawn.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.unwrap_or_default()))
    .collect()
}

/// The body a signed request carries.
enum Payload {
    Json(Value),
    Empty,
    /// Bytes that are not JSON (a compact-serialized inner JWS).
    Raw(Vec<u8>),
}

impl<'e> CaseRun<'e> {
    pub(crate) fn new(env: &'e Env, requires: &'e [Feature]) -> Self {
        let mut placeholders = vec![
            ("{name}".to_owned(), format!("{}.{}", crate::protocol::random::hex(6), env.domain_suffix)),
            ("{name2}".to_owned(), format!("{}.{}", crate::protocol::random::hex(6), env.domain_suffix)),
            ("{name3}".to_owned(), format!("{}.{}", crate::protocol::random::hex(6), env.domain_suffix)),
            ("{directory_url}".to_owned(), env.directory_url.clone()),
        ];
        placeholders.extend(profile_placeholders(env));
        CaseRun {
            env,
            requires,
            placeholders,
            accounts: HashMap::new(),
            orders: HashMap::new(),
            used_nonces: Vec::new(),
            provisioned: Vec::new(),
            last_binding: None,
            saved: HashMap::new(),
            started: std::time::SystemTime::now(),
            attempted: validation::Attempted::default(),
            observed: validation::Observed::default(),
            last_retry_after: None,
            probing_rate_limit: false,
            unobserved: false,
            decided_in_post: Vec::new(),
            authz_of_challenge: HashMap::new(),
        }
    }

    fn expand(&self, text: &str, account: Option<&str>) -> String {
        let mut out = text.to_owned();
        for (k, v) in &self.placeholders {
            out = out.replace(k, v);
        }
        if out.contains("{cert_id}") {
            out = out.replace("{cert_id}", &format!("{{cert_id:{DEFAULT}}}"));
        }
        while let Some(start) =
            out.find("{account_url:").or_else(|| out.find("{order_url:")).or_else(|| out.find("{cert_id:")).or_else(|| out.find("{authz_url:"))
        {
            let Some(len) = out[start..].find('}') else { break };
            let token = out[start + 1..start + len].to_owned();
            let (kind, name) = token.split_once(':').unwrap_or_default();
            let url = match kind {
                "account_url" => self.accounts.get(name).and_then(|a| a.url.clone()),
                "cert_id" => self.orders.get(name).and_then(|o| o.cert_pem.as_deref()).and_then(cert_id),
                "authz_url" => self.orders.get(name).and_then(|o| o.object.authorizations.first().cloned()),
                _ => self.orders.get(name).map(|o| o.url.clone()),
            };
            out.replace_range(start..=start + len, &url.unwrap_or_default());
        }
        while let Some(start) = out.find("{saved:") {
            let Some(len) = out[start..].find('}') else { break };
            let (name, pointer) = out[start + "{saved:".len()..start + len].split_once(':').unwrap_or_default();
            let value = self
                .saved
                .get(name)
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .and_then(|b| b.pointer(pointer).and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| format!("(no string at {pointer} of the body saved as {name:?})"));
            out.replace_range(start..=start + len, &value);
        }
        if out.contains("{order_url}") {
            let url = self.orders.get(DEFAULT).map(|o| o.url.clone()).unwrap_or_default();
            out = out.replace("{order_url}", &url);
        }
        if out.contains("{account_url}") {
            let url = self
                .accounts
                .get(account.unwrap_or(DEFAULT))
                .and_then(|a| a.url.clone())
                .unwrap_or_default();
            out = out.replace("{account_url}", &url);
        }
        out
    }

    fn expand_json(&self, v: Value, account: Option<&str>) -> Value {
        match v {
            Value::String(s) => Value::String(self.expand(&s, account)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.expand_json(x, account)).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, x)| (k, self.expand_json(x, account))).collect())
            }
            other => other,
        }
    }

    /// Runs one step; returns the response its expectations apply to.
    pub(crate) async fn run_step(&mut self, step: &Step) -> StepResult<Option<Response>> {
        if self.skipped(step) {
            return Ok(None);
        }
        // A step whose answer decides whether the server offers what the case needs is
        // judged by that decision, not by the ordinary success check.
        let checked = step.is_checked() || step.offered_when.is_some() || step.refusable.is_some();
        let resp = match step.action {
            Action::Http => Some(self.http(step).await?),
            Action::NewAccount => Some(self.new_account(step, checked).await?),
            Action::UpdateAccount => {
                let account = self.account_name(step);
                let payload = match &step.payload {
                    Some(p) => self.payload_of(p, Some(&account)),
                    None => Payload::Json(json!({ "contact": self.expand_list(step.contact.as_deref(), &account) })),
                };
                let url = self.account_url(&account)?;
                Some(expect_ok(self.signed(&account, &url, payload, step.mutate.as_ref()).await?, checked)?)
            }
            Action::DeactivateAccount => {
                let account = self.account_name(step);
                let url = self.account_url(&account)?;
                let payload = Payload::Json(json!({"status": "deactivated"}));
                Some(expect_ok(self.signed(&account, &url, payload, step.mutate.as_ref()).await?, checked)?)
            }
            Action::KeyChange => Some(self.key_change(step, checked).await?),
            Action::NewOrder => Some(self.new_order(step, checked).await?),
            Action::Fetch => {
                let account = self.account_name(step);
                let url = self.resolve(step, step.target.as_ref().expect("validated at load")).await?;
                let resp = self.signed(&account, &url, Payload::Empty, step.mutate.as_ref()).await?;
                self.absorb_order(step, &url, &resp);
                Some(expect_ok(resp, checked)?)
            }
            Action::SignedPost => {
                let account = self.account_name(step);
                let url = self.resolve(step, step.target.as_ref().expect("validated at load")).await?;
                let payload = self.payload_of(step.payload.as_ref().expect("validated at load"), Some(&account));
                Some(self.signed(&account, &url, payload, step.mutate.as_ref()).await?)
            }
            Action::Solve => Some(self.solve(step).await?),
            Action::RespondChallenge => Some(self.respond_challenge(step, checked).await?),
            Action::Poll => {
                let target = step.target.as_ref().expect("validated at load");
                let url = self.resolve(step, target).await?;
                let until = step.until.clone().unwrap_or_default();
                let resp = self.poll(step, &url, &until).await?;
                self.absorb_order(step, &url, &resp);
                let valid = resp.json().ok().is_some_and(|b| b["status"] == "valid");
                if valid && matches!(target, Target::Challenge | Target::Authz) {
                    // A polled authorization is at hand; a challenge is judged on its own.
                    let polled = matches!(target, Target::Authz).then(|| serde_json::from_slice::<Authorization>(&resp.body).ok());
                    let authz = match polled.flatten() {
                        Some(a) => a,
                        None => {
                            let authz_url = self.resolve_known(step, &Target::Authz).map_err(StepError::Error)?;
                            self.fetch_authz(&self.account_name(step), &authz_url).await?.1
                        }
                    };
                    self.require_evidence(step, &authz).await?;
                }
                Some(resp)
            }
            Action::DeactivateAuthz => {
                let account = self.account_name(step);
                let url = self.resolve(step, &Target::Authz).await?;
                let payload = Payload::Json(json!({"status": "deactivated"}));
                Some(expect_ok(self.signed(&account, &url, payload, step.mutate.as_ref()).await?, checked)?)
            }
            Action::Finalize => Some(self.finalize(step, checked).await?),
            Action::NewAuthz => Some(self.new_authz(step, checked).await?),
            Action::DownloadCertificate => Some(self.download_certificate(step, checked).await?),
            Action::Revoke => Some(self.revoke(step, checked).await?),
            Action::Sleep => {
                let pause = match step.retry_after {
                    Some(true) => self
                        .last_retry_after
                        .ok_or_else(|| fail("a Retry-After on the previous response", "none"))?
                        .min(MAX_RETRY_AFTER_SLEEP),
                    _ => Duration::from_secs_f64(step.seconds.unwrap_or(0.0)),
                };
                tokio::time::sleep(pause).await;
                None
            }
            Action::Provision => {
                let account = self.account_name(step);
                let (_, authz, chall) = self.challenge_of(step).await?;
                self.provision(&account, &authz, &chall, None).await?;
                None
            }
            Action::AwaitValidation => {
                self.await_validation(step).await?;
                None
            }
            Action::Trigger => Some(self.trigger(step).await?),
            Action::ExceedRateLimit => Some(self.exceed_rate_limit(step).await?),
            Action::AuditRun => {
                let audit = self.env.audit.as_ref().expect("a selected case with an audit-run step makes the run keep its answers");
                audit.check(step.audit.expect("validated at load")).map_err(StepError::Fail)?;
                None
            }
        };
        let validations: Vec<&crate::scenario::ValidationExpect> = [&step.expect, &step.should]
            .into_iter()
            .flatten()
            .flat_map(|e| e.validation.iter().chain(e.if_status.values().filter_map(|n| n.validation.as_ref())))
            .collect();
        if !validations.is_empty() {
            let tls_checked = validations.iter().any(|v| v.checks_tls());
            self.observed = validation::observe(&self.env.responders, self.started, &self.attempted, tls_checked).await;
        }
        if let Some(resp) = &resp {
            self.last_retry_after = resp.retry_after().map(|r| r.delay());
            refused(step, resp)?;
            self.offered(step, resp)?;
            if let Some(name) = &step.save {
                self.saved.insert(name.clone(), resp.body.to_vec());
            }
        }
        Ok(resp)
    }

    /// `offered_when`: a response without those values means the server does not
    /// offer the optional behaviour the case is about.
    fn offered(&self, step: &Step, resp: &Response) -> StepResult<()> {
        let Some(conditions) = &step.offered_when else { return Ok(()) };
        let body = resp.json().unwrap_or(Value::Null);
        let account = self.account_name(step);
        for (ptr, want) in conditions {
            let want = self.expand_json(toml_to_json(want), Some(&account));
            let allowed = match &want {
                Value::Array(any_of) => any_of.clone(),
                one => vec![one.clone()],
            };
            if !body.pointer(ptr).is_some_and(|seen| allowed.contains(seen)) {
                let seen = body.pointer(ptr).map(Value::to_string).unwrap_or_else(|| "absent".into());
                return Err(StepError::Unsupported(format!(
                    "{}: it shows {ptr} = {seen}, not {want}, so it does not offer the behaviour this case checks",
                    resp.summary()
                )));
            }
        }
        Ok(())
    }

    /// Checks a step's expectations; MUST-level and SHOULD-level mismatches apart.
    pub(crate) fn check(&mut self, step: &Step, resp: Option<&Response>) -> (Vec<Mismatch>, Vec<Mismatch>) {
        if self.skipped(step) {
            return (Vec::new(), Vec::new());
        }
        let Some(resp) = resp else {
            let none = |e: &Option<Expect>| {
                e.as_ref()
                    .map(|_| vec![Mismatch { expected: "a response to check".into(), observed: "the step sent no request".into() }])
                    .unwrap_or_default()
            };
            return (none(&step.expect), none(&step.should));
        };
        // Nonces received before this response: the history ends with this response's own.
        let mut earlier = self.env.client.nonce_history();
        if earlier.last().map(String::as_str) == resp.replay_nonce() {
            earlier.pop();
        }
        let run = |e: &Option<Expect>, this: &Self| -> Vec<Mismatch> {
            let Some(e) = e else { return Vec::new() };
            let location_target = e.location_is.as_ref().map(|t| this.resolve_known(step, t));
            let account = this.account_name(step);
            let expand = |text: &str| this.expand(text, Some(&account));
            let json_placeholder = |text: &str| (text == "{eab_binding}").then(|| this.last_binding.clone()).flatten();
            let cx = CheckContext {
                location_target,
                earlier_nonces: &earlier,
                expand: &expand,
                json_placeholder: &json_placeholder,
                saved: &this.saved,
            };
            let mut mismatches = expect::check(e, resp, &cx);
            let body = resp.json().ok();
            if let Some(v) = e.validation.as_ref().filter(|_| !this.unobserved) {
                mismatches.extend(validation::check(v, &this.observed, &expand, body.as_ref()));
            }
            for (status, nested) in expect::status_branches(e, resp).filter(|_| !this.unobserved) {
                if let Some(v) = &nested.validation {
                    let nested_mismatches = validation::check(v, &this.observed, &expand, body.as_ref());
                    mismatches.extend(nested_mismatches.into_iter().map(|m| Mismatch {
                        expected: format!("with status {status:?}, {}", m.expected),
                        observed: m.observed,
                    }));
                }
            }
            mismatches
        };
        let must = run(&step.expect, self);
        let should = run(&step.should, self);
        (must, should)
    }

    /// Whether the step is left out, with its expectations: it names (`if_listed`) a
    /// directory entry the server does not list, or wants (`when_order`) the order in a
    /// status it is not in.
    fn skipped(&self, step: &Step) -> bool {
        let unlisted = step.if_listed.as_deref().is_some_and(|entry| self.directory_entry(entry).is_err());
        let order_elsewhere = step.when_order.as_ref().is_some_and(|wanted| {
            let status = self.orders.get(&self.order_name(step)).and_then(|o| o.object.status.clone());
            !status.is_some_and(|s| wanted.contains(&s))
        });
        unlisted || order_elsewhere
    }

    fn account_name(&self, step: &Step) -> String {
        step.account.clone().unwrap_or_else(|| DEFAULT.to_owned())
    }

    fn order_name(&self, step: &Step) -> String {
        step.order.clone().unwrap_or_else(|| DEFAULT.to_owned())
    }

    fn expand_list(&self, list: Option<&[String]>, account: &str) -> Vec<String> {
        list.unwrap_or_default().iter().map(|s| self.expand(s, Some(account))).collect()
    }

    fn payload_of(&self, p: &toml::Value, account: Option<&str>) -> Payload {
        match p.as_str() {
            Some("") => Payload::Empty,
            _ => Payload::Json(self.expand_json(toml_to_json(p), account)),
        }
    }

    fn account_state(&self, name: &str) -> StepResult<&AccountState> {
        self.accounts
            .get(name)
            .ok_or_else(|| StepError::Error(format!("case uses account {name:?} before a new-account step created it")))
    }

    fn account_url(&self, name: &str) -> StepResult<String> {
        self.account_state(name)?
            .url
            .clone()
            .ok_or_else(|| StepError::Error(format!("account {name:?} has no URL (its creation failed)")))
    }

    fn order_state(&self, name: &str) -> StepResult<&OrderState> {
        self.orders
            .get(name)
            .ok_or_else(|| StepError::Error(format!("case uses order {name:?} before a new-order step created it")))
    }

    fn directory_entry(&self, name: &str) -> StepResult<String> {
        let dir = serde_json::to_value(&self.env.directory).unwrap_or_default();
        let entry = dir
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| StepError::Unsupported(format!("the directory has no {name}")))?;
        if url::Url::parse(entry).is_ok() {
            // The exact string: §6.4 has the JWS url repeat it without re-encoding.
            return Ok(entry.to_owned());
        }
        // A relative entry (which directory cases flag) is still followed, as a client would.
        Ok(url::Url::parse(&self.env.directory_url)
            .and_then(|base| base.join(entry))
            .map(String::from)
            .unwrap_or_else(|_| entry.to_owned()))
    }

    /// Resolves targets that need no request (for `location_is`).
    fn resolve_known(&self, step: &Step, target: &Target) -> Result<String, String> {
        let order = || self.order_state(&self.order_name(step)).map_err(|e| format!("{e:?}"));
        match target {
            Target::Directory => Ok(self.env.directory_url.clone()),
            Target::DirectoryEntry(e) => self.directory_entry(e).map_err(|e| format!("{e:?}")),
            Target::Account => self.account_url(&self.account_name(step)).map_err(|e| format!("{e:?}")),
            Target::Order => Ok(order()?.url.clone()),
            Target::Finalize => order()?.object.finalize.clone().ok_or_else(|| "order has no finalize URL".into()),
            Target::Certificate => order()?.object.certificate.clone().ok_or_else(|| "order has no certificate URL".into()),
            Target::Authz => {
                let idx = step.authz.unwrap_or(0);
                order()?.object.authorizations.get(idx).cloned().ok_or_else(|| format!("order has no authorization #{idx}"))
            }
            Target::Path(p) => url::Url::parse(&self.env.directory_url)
                .and_then(|u| u.join(p))
                .map(|u| u.to_string())
                .map_err(|e| e.to_string()),
            Target::Url(u) => Ok(self.expand(u, Some(&self.account_name(step)))),
            Target::OrdersList | Target::Challenge | Target::RenewalInfo => {
                Err("this target needs a request to resolve".into())
            }
        }
    }

    async fn resolve(&mut self, step: &Step, target: &Target) -> StepResult<String> {
        match target {
            Target::OrdersList => {
                let account = self.account_name(step);
                let url = self.account_url(&account)?;
                let resp = self.signed(&account, &url, Payload::Empty, None).await?;
                let body = resp.json().map_err(|e| fail("account object as JSON", e.to_string()))?;
                // §7.1.2 lists `orders` as "required" in lowercase: no keyword binds a server
                // to it, so one without an orders list cannot be judged on it.
                body.get("orders").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
                    StepError::Unsupported(format!("the account object has no orders URL (§7.1.2): {body}"))
                })
            }
            Target::Certificate => {
                let name = self.order_name(step);
                if self.order_state(&name)?.object.certificate.is_none() {
                    self.refresh_order(step).await?;
                }
                self.resolve_known(step, target).map_err(|e| fail("order with a certificate URL", e))
            }
            Target::Challenge => {
                let (_, authz, chall) = self.challenge_of(step).await?;
                // The case's tokens are its own: whatever the CA does with them (even on a
                // mere fetch) belongs in this case's validation records.
                self.attempt(&authz, &chall);
                Ok(chall.url)
            }
            Target::RenewalInfo => {
                let base = self.directory_entry("renewalInfo")?;
                // Boxed: fetching the certificate resolves the certificate target in turn.
                let leaf = Box::pin(self.leaf_der(step)).await?;
                let id = cert_id_of_der(&leaf).ok_or_else(|| {
                    fail("a certificate with an authorityKeyIdentifier (RFC 9773 §4.1)", "none in the leaf certificate")
                })?;
                Ok(format!("{}/{id}", base.trim_end_matches('/')))
            }
            Target::DirectoryEntry(e) => self.directory_entry(e),
            other => self.resolve_known(step, other).map_err(StepError::Error),
        }
    }

    async fn http(&mut self, step: &Step) -> StepResult<Response> {
        let url = self.resolve(step, step.target.as_ref().expect("validated at load")).await?;
        let method = match step.method.unwrap_or(HttpMethod::Get) {
            HttpMethod::Get => Method::GET,
            HttpMethod::Head => Method::HEAD,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Delete => Method::DELETE,
            HttpMethod::Options => Method::OPTIONS,
        };
        let headers: Vec<(String, String)> =
            step.headers.iter().flatten().map(|(k, v)| (k.clone(), self.expand(v, None))).collect();
        let body = step.body.as_ref().map(|b| self.expand(b, None).into_bytes());
        let resp = self.env.client.send(method, &url, &headers, body).await?;
        Ok(resp)
    }

    /// Fires a trigger of the capabilities file; the server's answer to it is not under
    /// test, so anything but a 2xx is a harness error.
    async fn trigger(&mut self, step: &Step) -> StepResult<Response> {
        let name = step.trigger.clone().unwrap_or_default();
        let trigger = self.env.capabilities.triggers.get(&name).cloned().ok_or_else(|| {
            StepError::Unsupported(format!("the capabilities file declares no trigger {name:?}"))
        })?;
        let account = self.account_name(step);
        let method = Method::from_bytes(trigger.method.as_bytes()).map_err(|e| StepError::Error(e.to_string()))?;
        let url = self.expand(&trigger.url, Some(&account));
        let body = trigger.body.as_ref().map(|b| self.expand(b, Some(&account)).into_bytes());
        let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        let resp = self.env.client.send(method, &url, &headers, body).await?;
        if !(200..300).contains(&resp.status) {
            return Err(StepError::Error(format!("trigger {name} ({url}) answered {}", resp.summary())));
        }
        Ok(resp)
    }

    /// The kind of `step` for `judges`, with the address family of an order for IP
    /// addresses on validating steps (RFC 8738 validation is judged apart).
    pub(crate) fn setup_key(&self, step: &Step) -> String {
        let key = step.setup_key();
        if key.starts_with("solve:") { format!("{key}{}", self.address_family(step)) } else { key }
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9773 §4.1's example: AKI keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
    /// and serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
    #[test]
    fn cert_id_is_aki_dot_serial_der_content() {
        let issuer = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_identifier_method =
            rcgen::KeyIdMethod::PreSpecified(vec![0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4]);
        let ca = ca_params.self_signed(&issuer).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, issuer);
        let mut leaf = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        leaf.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x87, 0x65, 0x43, 0x21]));
        leaf.use_authority_key_identifier_extension = true;
        let leaf = leaf.signed_by(&rcgen::KeyPair::generate().unwrap(), &issuer).unwrap();
        assert_eq!(cert_id(&format!("{}{}", leaf.pem(), ca.pem())).as_deref(), Some("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"));
        assert_eq!(cert_id_of_der(ca.der()), None, "a self-signed root without AKI has no identifier");
        assert_eq!(cert_id("no PEM here"), None);
    }
}
