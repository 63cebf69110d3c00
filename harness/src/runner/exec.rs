//! Executing one case: the step primitives, the request mutations, and the state a
//! case builds up (accounts, orders, certificates) as it goes.
//!
//! Each primitive exists once; scenario files combine them. A primitive that meets a
//! server response it cannot continue from reports it as a failure of that step (the
//! server broke the flow), while transport trouble is a harness `error`.

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
const MAX_BAD_NONCE_RETRIES: usize = 3;
const POLL_INTERVAL: Duration = Duration::from_millis(250);
const POLL_INTERVAL_MAX: Duration = Duration::from_secs(3);
/// The longest a `sleep` step with `retry_after` waits, whatever the server asked.
const MAX_RETRY_AFTER_SLEEP: Duration = Duration::from_secs(60);

fn random_label() -> String {
    let mut bytes = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("system RNG");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
            ("{name}".to_owned(), format!("{}.{}", random_label(), env.domain_suffix)),
            ("{name2}".to_owned(), format!("{}.{}", random_label(), env.domain_suffix)),
            ("{name3}".to_owned(), format!("{}.{}", random_label(), env.domain_suffix)),
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

    async fn refresh_order(&mut self, step: &Step) -> StepResult<Order> {
        let name = self.order_name(step);
        let (account, url) = {
            let o = self.order_state(&name)?;
            (o.account.clone(), o.url.clone())
        };
        let resp = self.signed(&account, &url, Payload::Empty, None).await?;
        let resp = expect_ok(resp, false)?;
        let order: Order = serde_json::from_slice(&resp.body).map_err(|e| fail("order object", e.to_string()))?;
        if let Some(o) = self.orders.get_mut(&name) {
            o.object = order.clone();
        }
        Ok(order)
    }

    fn absorb_order(&mut self, step: &Step, url: &str, resp: &Response) {
        let name = self.order_name(step);
        if let Some(o) = self.orders.get_mut(&name)
            && o.url == url && resp.status == 200 && !o.pre_authorization
                && let Ok(order) = serde_json::from_slice::<Order>(&resp.body) {
                    o.object = order;
                }
    }

    async fn nonce(&mut self, mutation: Option<NonceMutation>) -> StepResult<Option<String>> {
        Ok(match mutation {
            None => Some(self.fresh_nonce().await?),
            Some(NonceMutation::Omit) => None,
            Some(NonceMutation::Reuse) => Some(self.used_nonces.last().cloned().ok_or_else(|| {
                StepError::Error("mutation nonce = \"reuse\" needs an earlier signed request in the case".into())
            })?),
            Some(NonceMutation::Invented) => Some(b64::encode(random_label().repeat(2))),
            Some(NonceMutation::BadEncoding) => Some("not+base64url/==".to_owned()),
            Some(NonceMutation::Padded) => Some(format!("{}=", self.fresh_nonce().await?)),
        })
    }

    async fn fresh_nonce(&self) -> StepResult<String> {
        let url = self.directory_entry("newNonce")?;
        self.env.client.nonce(&url).await.map_err(|e| StepError::Error(e.to_string()))
    }

    /// Sends a signed request as `account` (which must exist) to `url`.
    async fn signed(&mut self, account: &str, url: &str, payload: Payload, m: Option<&Mutation>) -> StepResult<Response> {
        let state = self.account_state(account)?;
        let key = state.key.clone();
        let kid = state.url.clone();
        let key_id = match kid {
            Some(kid) => KeyId::Kid(kid),
            None => KeyId::Jwk(key.jwk().clone()),
        };
        self.signed_with(&key, key_id, url, payload, m).await
    }

    async fn signed_with(
        &mut self,
        key: &SigningKey,
        key_id: KeyId,
        url: &str,
        payload: Payload,
        m: Option<&Mutation>,
    ) -> StepResult<Response> {
        let retries = if m.is_some() { 0 } else { MAX_BAD_NONCE_RETRIES };
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            let resp = self.signed_once(key, &key_id, url, &payload, m).await?;
            let bad_nonce = resp.status == 400
                && resp.problem().and_then(|p| p.acme_name().map(str::to_owned)).as_deref() == Some("badNonce");
            if bad_nonce && attempt < retries {
                attempt += 1;
                continue;
            }
            if resp.status == 429 && !self.probing_rate_limit {
                waited += self.wait_out_rate_limit(&resp, waited).await?;
                continue;
            }
            return Ok(resp);
        }
    }

    /// A 429 (RFC 8555 §6.6): waits the Retry-After the server asked for, when the
    /// request's waits stay within `--max-wait`, and returns the time waited; otherwise
    /// the case cannot go on, with the server's rate-limit detail. Never a tight retry:
    /// a 429 without Retry-After is not retried.
    async fn wait_out_rate_limit(&self, resp: &Response, waited: Duration) -> StepResult<Duration> {
        let limit = self.env.max_wait;
        let Some(delay) = resp.retry_after().map(|r| r.delay()) else {
            return Err(StepError::Error(format!("rate limited without Retry-After, so not retried: {}", resp.summary())));
        };
        // At least a second: an HTTP-date already past is no invitation to hammer.
        let delay = delay.max(Duration::from_secs(1));
        if waited + delay > limit {
            return Err(StepError::Error(format!(
                "rate limited: {}; waiting {}s more would pass --max-wait {}s",
                resp.summary(),
                delay.as_secs(),
                limit.as_secs()
            )));
        }
        tokio::time::sleep(delay).await;
        Ok(delay)
    }

    async fn signed_once(
        &mut self,
        key: &SigningKey,
        key_id: &KeyId,
        url: &str,
        payload: &Payload,
        m: Option<&Mutation>,
    ) -> StepResult<Response> {
        let default = Mutation::default();
        let m = m.unwrap_or(&default);
        let nonce = self.nonce(m.nonce).await?;
        let header_url = match m.url {
            None => Some(url.to_owned()),
            Some(UrlMutation::Omit) => None,
            Some(UrlMutation::Other) => Some(if url == self.env.directory_url {
                self.directory_entry("newNonce")?
            } else {
                self.env.directory_url.clone()
            }),
            Some(UrlMutation::TrailingSlash) => Some(format!("{url}/")),
            Some(UrlMutation::UppercaseHost) => Some(respell_url(url, |u| {
                let host = u.host_str().unwrap_or_default().to_ascii_uppercase();
                u.as_str().replacen(&format!("//{}", u.host_str().unwrap_or_default()), &format!("//{host}"), 1)
            })),
            Some(UrlMutation::UppercaseScheme) => Some(respell_url(url, |u| {
                u.as_str().replacen(u.scheme(), &u.scheme().to_ascii_uppercase(), 1)
            })),
            Some(UrlMutation::PercentEncoded) => Some(respell_url(url, |u| {
                let path = u.path();
                match path.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
                    Some((i, c)) => {
                        let encoded = format!("{}%{:02X}{}", &path[..i], c as u32, &path[i + 1..]);
                        u.as_str().replacen(path, &encoded, 1)
                    }
                    None => u.as_str().to_owned(),
                }
            })),
            Some(UrlMutation::ExplicitPort) => Some(respell_url(url, |u| match (u.port(), u.port_or_known_default()) {
                (None, Some(port)) => {
                    let host = u.host_str().unwrap_or_default();
                    u.as_str().replacen(&format!("//{host}"), &format!("//{host}:{port}"), 1)
                }
                _ => u.as_str().to_owned(),
            })),
        };
        let key_id = match (m.auth, key_id) {
            (None, k) => k.clone(),
            (Some(AuthMutation::Jwk), _) => KeyId::Jwk(key.jwk().clone()),
            (Some(AuthMutation::Kid), KeyId::Kid(k)) => KeyId::Kid(k.clone()),
            (Some(AuthMutation::Kid), KeyId::Jwk(_)) => KeyId::Kid(format!("{}/acct/does-not-exist", self.env.directory_url)),
            (Some(AuthMutation::Both | AuthMutation::None), k) => k.clone(),
        };
        let mut header = acme_protected_header(key.alg(), &key_id, nonce.as_deref(), header_url.as_deref().unwrap_or(""));
        if header_url.is_none() {
            header.remove("url");
        }
        match m.auth {
            Some(AuthMutation::Both) => {
                header.insert("jwk".into(), key.jwk().to_value());
                let kid = match &key_id {
                    KeyId::Kid(k) => k.clone(),
                    KeyId::Jwk(_) => format!("{}/acct/unknown", self.env.directory_url),
                };
                header.insert("kid".into(), kid.into());
            }
            Some(AuthMutation::None) => {
                header.remove("jwk");
                header.remove("kid");
            }
            _ => {}
        }
        if let Some(kid) = &m.kid {
            header.remove("jwk");
            header.insert("kid".into(), self.expand(kid, None).into());
        }
        if let Some(alg) = &m.alg {
            header.insert("alg".into(), alg.clone().into());
        }
        if let Some(extra) = &m.protected_extra {
            for (k, v) in extra {
                header.insert(k.clone(), toml_to_json(v));
            }
        }
        for member in &m.protected_omit {
            header.remove(member);
        }
        let moved: Map<String, Value> =
            m.to_unprotected.iter().filter_map(|k| header.remove(k).map(|v| (k.clone(), v))).collect();
        let payload_bytes = match (&m.payload_raw, payload) {
            (Some(raw), _) => raw.clone().into_bytes(),
            (None, Payload::Empty) => Vec::new(),
            (None, Payload::Raw(bytes)) => bytes.clone(),
            (None, Payload::Json(v)) => serde_json::to_vec(v).expect("JSON serializes"),
        };
        let mut jws = FlattenedJws::sign(key, &header, &payload_bytes);
        match m.signature {
            None => {}
            Some(SignatureMutation::Corrupt) => {
                let mut sig = b64::decode(&jws.signature).expect("own signature decodes");
                let mid = sig.len() / 2;
                sig[mid] ^= 0x01;
                jws.signature = b64::encode(sig);
            }
            Some(SignatureMutation::Empty) => jws.signature = String::new(),
            Some(SignatureMutation::OtherKey) => {
                let other = SigningKey::generate(key.alg()).map_err(|e| StepError::Error(e.to_string()))?;
                jws.signature = b64::encode(other.sign(format!("{}.{}", jws.protected, jws.payload).as_bytes()));
            }
        }
        if m.pad_base64 {
            jws.protected.push('=');
        }
        let mut body = jws.to_value();
        let mut unprotected = m.unprotected_header.as_ref().map(|h| toml_to_json(&toml::Value::Table(h.clone())));
        if !moved.is_empty() {
            let header = unprotected.get_or_insert_with(|| json!({}));
            if let Some(h) = header.as_object_mut() {
                h.extend(moved);
            }
        }
        if let Some(h) = unprotected {
            body["header"] = h;
        }
        if m.general_serialization || m.second_signature {
            let mut signatures = vec![json!({"protected": jws.protected, "signature": jws.signature})];
            if m.second_signature {
                // ECDSA signatures are randomised: a second signature by the same key over the
                // same input differs from the first and verifies just as well.
                let again = key.sign(format!("{}.{}", jws.protected, jws.payload).as_bytes());
                signatures.push(json!({"protected": jws.protected, "signature": b64::encode(again)}));
            }
            body = json!({ "payload": jws.payload, "signatures": signatures });
        }
        if m.detach_payload
            && let Some(b) = body.as_object_mut()
        {
            b.remove("payload");
        }
        let bytes = match &m.body_raw {
            Some(raw) => raw.clone().into_bytes(),
            None if m.compact_serialization => format!("{}.{}.{}", jws.protected, jws.payload, jws.signature).into_bytes(),
            None => serde_json::to_vec(&body).expect("JSON serializes"),
        };
        let mut headers = Vec::new();
        match m.content_type.as_deref() {
            None => headers.push(("content-type".to_owned(), "application/jose+json".to_owned())),
            Some("omit") => {}
            Some(ct) => headers.push(("content-type".to_owned(), ct.to_owned())),
        }
        let resp = self.env.client.send(Method::POST, url, &headers, Some(bytes)).await?;
        if let Some(n) = nonce {
            self.used_nonces.push(n);
        }
        Ok(resp)
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

    fn fresh_key(&self, choice: Option<KeyChoice>, current: Option<&SigningKey>) -> StepResult<SigningKey> {
        let alg = match choice.unwrap_or(KeyChoice::Fresh(Algorithm::Es256)) {
            KeyChoice::Fresh(alg) => alg,
            KeyChoice::Account => {
                return current
                    .cloned()
                    .ok_or_else(|| StepError::Error("key = \"account\" needs an existing account".into()));
            }
        };
        SigningKey::generate(alg).map_err(|e| StepError::Error(e.to_string()))
    }

    async fn new_account(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let name = step.bind.clone().unwrap_or_else(|| DEFAULT.to_owned());
        let key = match &step.reuse_key_of {
            Some(other) => self.account_state(other)?.key.clone(),
            None => self.fresh_key(step.key, None)?,
        };
        let payload = match &step.payload {
            Some(p) => self.payload_of(p, None),
            None => {
                let mut p = Map::new();
                p.insert("termsOfServiceAgreed".into(), step.terms_of_service_agreed.unwrap_or(true).into());
                if let Some(c) = &step.contact {
                    p.insert("contact".into(), json!(self.expand_list(Some(c), &name)));
                }
                if let Some(true) = step.only_return_existing {
                    p.insert("onlyReturnExisting".into(), true.into());
                }
                Payload::Json(Value::Object(p))
            }
        };
        let payload = self.with_run_contacts(payload)?;
        let url = self.directory_entry("newAccount")?;
        let payload = self.bind_external_account(step, payload, &key, &url).await?;
        let resp = self.signed_with(&key, KeyId::Jwk(key.jwk().clone()), &url, payload, step.mutate.as_ref()).await?;
        let location = resp.location();
        if (200..300).contains(&resp.status) && location.is_some() {
            self.accounts.insert(name, AccountState { key, url: location });
        } else if !checked {
            return Err(fail("a success (2xx) with a Location header from newAccount", resp.summary()));
        } else {
            self.accounts.entry(name).or_insert(AccountState { key, url: None });
        }
        Ok(resp)
    }

    /// Gives a newAccount payload that creates an account and names no contact the run's `--contact` URLs; a
    /// server declared to require a contact makes a step that still sends none
    /// `unsupported`, since the refusal would be policy, not a deviation.
    fn with_run_contacts(&self, payload: Payload) -> StepResult<Payload> {
        let Payload::Json(Value::Object(mut p)) = payload else { return Ok(payload) };
        if p.get("onlyReturnExisting") == Some(&Value::Bool(true)) {
            // A lookup creates no account.
            return Ok(Payload::Json(Value::Object(p)));
        }
        if !p.contains_key("contact") && !self.env.contacts.is_empty() {
            p.insert("contact".into(), json!(self.env.contacts));
        }
        let has_contact = p.get("contact").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
        if !has_contact && self.env.capabilities.declared(Feature::ContactRequired) == Some(true) {
            return Err(StepError::Unsupported(
                "the server requires a contact on every account (capabilities: contact-required) and this step creates one without"
                    .into(),
            ));
        }
        Ok(Payload::Json(Value::Object(p)))
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

    /// Sends as many requests as the declared rate limit allows, each of which must
    /// succeed, then the one past the limit, whose response the step's expectations judge
    /// (RFC 8555 §6.6). Every request orders a fresh name, so that no server can answer
    /// with an order it already has instead of creating one.
    async fn exceed_rate_limit(&mut self, step: &Step) -> StepResult<Response> {
        let limit = self
            .env
            .capabilities
            .rate_limit
            .ok_or_else(|| StepError::Unsupported("the capabilities file declares no [rate-limit]".into()))?;
        let account = self.account_name(step);
        let url = match limit.endpoint {
            RateLimitedEndpoint::NewOrder => self.directory_entry("newOrder")?,
        };
        let env = self.env;
        let fresh_order = || {
            let name = format!("{}.{}", random_label(), env.domain_suffix);
            Payload::Json(json!({ "identifiers": [Identifier { kind: "dns".into(), value: name }] }))
        };
        self.probing_rate_limit = true;
        let probe = async {
            for n in 1..=limit.requests {
                let resp = self.signed(&account, &url, fresh_order(), None).await?;
                if !(200..300).contains(&resp.status) {
                    let expected = format!("a success (2xx) for request {n} of the {} the declared rate limit allows", limit.requests);
                    return Err(fail(expected, resp.summary()));
                }
            }
            self.signed(&account, &url, fresh_order(), None).await
        };
        let result = probe.await;
        self.probing_rate_limit = false;
        result
    }

    /// Adds the step's external account binding (§7.3.4) to a newAccount payload that
    /// has none.
    async fn bind_external_account(&mut self, step: &Step, payload: Payload, key: &SigningKey, url: &str) -> StepResult<Payload> {
        let Payload::Json(Value::Object(mut p)) = payload else { return Ok(payload) };
        if p.contains_key("externalAccountBinding") {
            return Ok(Payload::Json(Value::Object(p)));
        }
        let nonce = match step.eab.as_ref().is_some_and(|e| e.nonce) {
            true => self.nonce(None).await?,
            false => None,
        };
        let cx = eab::BindingContext { url, directory_url: &self.env.directory_url, account_key: key.jwk(), nonce };
        let binding = eab::binding(self.env.eab.as_ref(), step.eab.as_ref(), &cx).map_err(StepError::Unsupported)?;
        if let Some(b) = &binding {
            p.insert("externalAccountBinding".into(), b.clone());
        }
        self.last_binding = binding;
        Ok(Payload::Json(Value::Object(p)))
    }

    async fn new_order(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = step.bind.clone().unwrap_or_else(|| DEFAULT.to_owned());
        let payload = match &step.payload {
            Some(p) => self.payload_of(p, Some(&account)),
            None => {
                let ids: Vec<Identifier> = step
                    .identifiers
                    .iter()
                    .flatten()
                    .map(|i| {
                        let (kind, value) = i.split_once(':').expect("validated at load");
                        Identifier { kind: kind.to_owned(), value: self.expand(value, Some(&account)) }
                    })
                    .collect();
                let mut p = json!({ "identifiers": ids });
                if let Some(nb) = &step.not_before {
                    p["notBefore"] = nb.clone().into();
                }
                if let Some(na) = &step.not_after {
                    p["notAfter"] = na.clone().into();
                }
                if let Some(replaces) = &step.replaces {
                    p["replaces"] = self.expand(replaces, Some(&account)).into();
                }
                if let Some(profile) = &step.profile {
                    p["profile"] = self.expand(profile, Some(&account)).into();
                }
                Payload::Json(p)
            }
        };
        let url = self.directory_entry("newOrder")?;
        let resp = self.signed(&account, &url, payload, step.mutate.as_ref()).await?;
        let parsed = serde_json::from_slice::<Order>(&resp.body);
        match (resp.status, resp.location(), parsed) {
            (200..300, Some(url), Ok(object)) => {
                let state = OrderState { account, url, object, cert_key: None, cert_pem: None, pre_authorization: false };
                self.orders.insert(name, state);
            }
            _ if checked => {}
            _ if self.rejects_optional_identifier(&resp) => {
                return Err(StepError::Unsupported(format!("the server refused the identifiers: {}", resp.summary())));
            }
            (200..300, Some(_), Err(e)) => return Err(fail("an order object (§7.1.3)", format!("unparseable order: {e}"))),
            _ => return Err(fail("a success (2xx) with a Location header from newOrder", resp.summary())),
        }
        Ok(resp)
    }

    /// newAuthz (§7.4.1). The authorization is kept as an order named by `as` whose only
    /// authorization it is, so `solve`, `respond-challenge` and `authz` targets reach it.
    async fn new_authz(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = step.bind.clone().unwrap_or_else(|| DEFAULT.to_owned());
        let payload = match (&step.payload, step.identifiers.as_deref()) {
            (Some(p), _) => self.payload_of(p, Some(&account)),
            (None, Some([id])) => {
                let (kind, value) = id.split_once(':').expect("validated at load");
                let identifier = Identifier { kind: kind.to_owned(), value: self.expand(value, Some(&account)) };
                Payload::Json(json!({ "identifier": identifier }))
            }
            (None, _) => return Err(StepError::Error("new-authz needs one identifier or a payload".into())),
        };
        let url = self.directory_entry("newAuthz")?;
        let resp = self.signed(&account, &url, payload, step.mutate.as_ref()).await?;
        match (resp.status, resp.location()) {
            (200..300, Some(authz_url)) => {
                let object = Order { authorizations: vec![authz_url.clone()], ..Order::default() };
                let state =
                    OrderState { account, url: authz_url, object, cert_key: None, cert_pem: None, pre_authorization: true };
                self.orders.insert(name, state);
            }
            _ if checked => {}
            _ => return Err(fail("a success (2xx) with a Location header from newAuthz (§7.4.1)", resp.summary())),
        }
        Ok(resp)
    }

    /// A refusal of a wildcard or IP identifier in a case that needs one means the
    /// server does not offer that optional feature.
    fn rejects_optional_identifier(&self, resp: &Response) -> bool {
        let optional = self.requires.iter().any(|f| matches!(f, Feature::Wildcard | Feature::IpIdentifiers));
        let refusal = resp
            .problem()
            .and_then(|p| p.acme_name().map(str::to_owned))
            .is_some_and(|n| n == "unsupportedIdentifier" || n == "rejectedIdentifier");
        optional && refusal
    }

    async fn fetch_authz(&mut self, account: &str, url: &str) -> StepResult<(Response, Authorization)> {
        let resp = self.signed(account, url, Payload::Empty, None).await?;
        let resp = expect_ok(resp, false)?;
        let authz: Authorization =
            serde_json::from_slice(&resp.body).map_err(|e| fail("an authorization object (§7.1.4)", e.to_string()))?;
        Ok((resp, authz))
    }

    async fn challenge_of(&mut self, step: &Step) -> StepResult<(String, Authorization, crate::protocol::wire::Challenge)> {
        let account = self.account_name(step);
        let authz_url = self.resolve_known(step, &Target::Authz).map_err(StepError::Error)?;
        let (_, authz) = self.fetch_authz(&account, &authz_url).await?;
        let chall = match &step.challenge {
            Some(kind) => authz.challenges.iter().find(|c| &c.kind == kind).cloned().ok_or_else(|| {
                let offered: Vec<&str> = authz.challenges.iter().map(|c| c.kind.as_str()).collect();
                StepError::Unsupported(format!("the server offered no {kind} challenge (offered: {offered:?})"))
            })?,
            None => authz.challenges.first().cloned().ok_or_else(|| fail("at least one challenge", "no challenges"))?,
        };
        self.authz_of_challenge.insert(chall.url.clone(), authz_url.clone());
        Ok((authz_url, authz, chall))
    }

    /// The kind of `step` for `judges`, with the address family of an order for IP
    /// addresses on validating steps (RFC 8738 validation is judged apart).
    pub(crate) fn setup_key(&self, step: &Step) -> String {
        let key = step.setup_key();
        if key.starts_with("solve:") { format!("{key}{}", self.address_family(step)) } else { key }
    }

    /// `:ipv4` or `:ipv6` for the order of `step` when it is for IP addresses (of one
    /// family), empty otherwise.
    fn address_family(&self, step: &Step) -> &'static str {
        let Some(order) = self.orders.get(&self.order_name(step)) else { return "" };
        let ids = &order.object.identifiers;
        let family = |i: &Identifier| match i.value.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) if i.kind == "ip" => ":ipv4",
            Ok(std::net::IpAddr::V6(_)) if i.kind == "ip" => ":ipv6",
            _ => "",
        };
        match ids.first().map(family) {
            Some(f) if ids.iter().all(|i| family(i) == f) => f,
            _ => "",
        }
    }

    /// Every challenge of `authz` that is valid must have been validated: the CA's
    /// request (http-01 GET of the token, TXT query, acme-tls/1 handshake) reached the
    /// responders since the case began. A server that marks a challenge valid without
    /// looking cannot pass a case on it.
    async fn require_evidence(&self, step: &Step, authz: &Authorization) -> StepResult<()> {
        let Some(identifier) = &authz.identifier else { return Ok(()) };
        // An external solver answered: there is nothing of the CA's to see.
        let observable = |c: &&crate::protocol::wire::Challenge| self.env.solvers.for_kind(&c.kind).is_none();
        for chall in authz.challenges.iter().filter(|c| c.status.as_deref() == Some("valid")).filter(observable) {
            let seen =
                validation::validation_seen(&self.env.responders, self.started, &chall.kind, identifier, chall.token.as_deref()).await;
            if seen == Some(false) {
                return Err(StepError::Unproven {
                    key: format!("solve:{}{}", chall.kind, self.address_family(step)),
                    mismatch: Mismatch {
                        expected: format!(
                            "the CA's {} validation request for {} reaching the runner's responders before the challenge turned valid (RFC 8555 §8: the server verifies the response)",
                            chall.kind, identifier.value
                        ),
                        observed: format!("challenge {} is valid, but no validation request for it reached the responders", chall.url),
                    },
                });
            }
        }
        Ok(())
    }

    /// What the responders saw so far that the step's MUST-level `validation` checks hold
    /// against the CA.
    async fn validation_evidence(&mut self, step: &Step) -> Vec<Mismatch> {
        let Some(v) = step.expect.as_ref().and_then(|e| e.validation.as_ref()) else { return Vec::new() };
        self.observed = validation::observe(&self.env.responders, self.started, &self.attempted, v.checks_tls()).await;
        let account = self.account_name(step);
        validation::evidence_against(v, &self.observed, &|text: &str| self.expand(text, Some(&account)))
    }

    /// What the responders saw of this case's challenges, for a verdict's observation.
    pub(crate) fn responders_saw(&self) -> Vec<String> {
        validation::seen_lines(&self.env.responders, self.started, &self.attempted)
    }

    /// Notes a challenge the case is about to answer, for `validation` checks.
    fn attempt(&mut self, authz: &Authorization, chall: &crate::protocol::wire::Challenge) {
        if let Some(id) = &authz.identifier {
            self.attempted.add(id, chall.token.as_deref());
        }
    }

    async fn provision(
        &mut self,
        account: &str,
        authz: &Authorization,
        chall: &crate::protocol::wire::Challenge,
        variant: Option<ProvisionVariant>,
    ) -> StepResult<()> {
        let token = chall.token.clone().ok_or_else(|| fail("challenge with a token (§8.3)", "no token"))?;
        let key = &self.account_state(account)?.key;
        let key_auth = key_authorization(&token, key.jwk());
        let id = authz.identifier.clone().ok_or_else(|| fail("authorization with an identifier", "none"))?;
        if let Some(solver) = self.env.solvers.for_kind(&chall.kind) {
            if variant.is_some() {
                return Err(StepError::Unsupported(format!(
                    "{} answers {} here; serving a response in a particular way takes the runner's responders",
                    solver.describe(),
                    chall.kind
                )));
            }
            let value = if chall.kind == "dns-01" { dns01_txt_value(&key_auth) } else { key_auth };
            solver.present(&chall.kind, &id.value, &token, &value).await.map_err(StepError::Error)?;
            self.provisioned.push(Provisioned::External(solver.clone(), [chall.kind.clone(), id.value.clone(), token, value]));
            return Ok(());
        }
        let r = &self.env.responders;
        let unusable = |v: ProvisionVariant| {
            let v = serde_json::to_string(&v).unwrap_or_default();
            StepError::Error(format!("provision = {v} does not apply to {} challenges", chall.kind))
        };
        match chall.kind.as_str() {
            "http-01" => {
                let served = match variant {
                    None => Http01Variant::Exact,
                    Some(ProvisionVariant::TrailingWhitespace) => Http01Variant::TrailingWhitespace,
                    Some(ProvisionVariant::Redirect) => Http01Variant::Redirect,
                    Some(v @ ProvisionVariant::UppercaseSan) => return Err(unusable(v)),
                };
                r.http01().provision_variant(&token, &key_auth, served);
                self.provisioned.push(Provisioned::Http(token));
            }
            _ if variant.is_some_and(|v| !(chall.kind == "tls-alpn-01" && v == ProvisionVariant::UppercaseSan)) => {
                return Err(unusable(variant.unwrap_or(ProvisionVariant::UppercaseSan)));
            }
            "dns-01" => {
                let base = id.value.trim_start_matches("*.");
                let name = format!("_acme-challenge.{base}");
                r.dns().add_txt(&name, &dns01_txt_value(&key_auth));
                self.provisioned.push(Provisioned::Dns(name));
            }
            "tls-alpn-01" => {
                let alpn_id = match id.kind.as_str() {
                    "ip" => AlpnIdentifier::ip(
                        id.value.parse().map_err(|_| fail("an IP address identifier", id.value.clone()))?,
                    ),
                    _ if variant == Some(ProvisionVariant::UppercaseSan) => {
                        AlpnIdentifier::dns(id.value.to_ascii_uppercase())
                    }
                    _ => AlpnIdentifier::dns(id.value.clone()),
                };
                r.tls_alpn().provision(&alpn_id, &key_auth).map_err(|e| StepError::Error(e.to_string()))?;
                self.provisioned.push(Provisioned::TlsAlpn(alpn_id));
            }
            other => return Err(StepError::Unsupported(format!("acmespec cannot answer {other} challenges"))),
        }
        Ok(())
    }

    async fn solve(&mut self, step: &Step) -> StepResult<Response> {
        let account = self.account_name(step);
        let kind = step.challenge.clone().expect("validated at load");
        let authzs = self.order_state(&self.order_name(step))?.object.authorizations.clone();
        let mut pending = Vec::new();
        for url in &authzs {
            let (_, authz) = self.fetch_authz(&account, url).await?;
            if authz.status.as_deref() == Some("valid") {
                continue;
            }
            let chall = authz.challenges.iter().find(|c| c.kind == kind).cloned().ok_or_else(|| {
                let offered: Vec<&str> = authz.challenges.iter().map(|c| c.kind.as_str()).collect();
                StepError::Unsupported(format!("the server offered no {kind} challenge (offered: {offered:?})"))
            })?;
            self.provision(&account, &authz, &chall, None).await?;
            self.attempt(&authz, &chall);
            pending.push((url.clone(), chall));
        }
        for (_, chall) in &pending {
            let resp = self.signed(&account, &chall.url, Payload::Json(json!({})), None).await?;
            expect_ok(resp, false)?;
        }
        for (url, chall) in &pending {
            let resp = self.poll_until(&account, url, &["valid", "invalid", "deactivated", "expired", "revoked"], step).await?;
            let body = resp.json().unwrap_or_default();
            let authz = serde_json::from_value::<Authorization>(body.clone()).ok();
            if let Some(authz) = &authz {
                self.require_evidence(step, authz).await?;
            }
            if body["status"] != "valid" {
                let error = body["challenges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|c| c.get("error"))
                    .map(|e| format!(", challenge error {e}"))
                    .unwrap_or_default();
                // What an external solver published is out of the runner's sight: the
                // solver may as well be at fault as the server.
                if let Some(solver) = self.env.solvers.for_kind(&kind) {
                    return Err(StepError::Error(format!(
                        "authorization {url} is {}{error} after {} published the {kind} response: check what it published",
                        body["status"],
                        solver.describe()
                    )));
                }
                // The CA's request never arrived. Unless what the responders did see shows
                // the CA at fault (the step's own validation checks: an address identifier
                // looked up in the DNS, say), it cannot reach the runner from where it runs,
                // which is the set-up's fault, not a failure of its validation.
                let identifier = authz.as_ref().and_then(|a| a.identifier.as_ref());
                if let Some(identifier) = identifier
                    && validation::validation_seen(&self.env.responders, self.started, &kind, identifier, chall.token.as_deref()).await
                        == Some(false)
                {
                    let evidence = self.validation_evidence(step).await;
                    if !evidence.is_empty() {
                        return Err(StepError::Fail(evidence));
                    }
                    return Err(StepError::Error(format!(
                        "authorization {url} is {}{error}, and no {kind} validation request for {} reached the runner's responders: \
                         the CA cannot reach them from where it runs (a CA off this machine: README, \"Testing a CA on the internet\")",
                        body["status"], identifier.value
                    )));
                }
                return Err(fail(
                    format!("authorization {url} valid after {kind} validation"),
                    format!("status {}{error}", body["status"]),
                ));
            }
        }
        let state = self.order_state(&self.order_name(step))?;
        let (order_url, pre_authorization) = (state.url.clone(), state.pre_authorization);
        let resp = self.poll_until(&account, &order_url, &["ready", "valid", "invalid", "processing"], step).await?;
        self.absorb_order(step, &order_url, &resp);
        let status = resp.json().ok().and_then(|b| b.get("status").and_then(Value::as_str).map(str::to_owned));
        // A pre-authorization is held as an order whose URL is the authorization's own.
        let (wanted, what) = if pre_authorization { ("valid", "pre-authorization") } else { ("ready", "order") };
        if !step.is_checked() && status.as_deref() != Some(wanted) {
            return Err(fail(
                format!("{what} {order_url} {wanted} once its authorizations are valid (§7.1.6)"),
                format!("{what} status {status:?}"),
            ));
        }
        Ok(resp)
    }

    async fn respond_challenge(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let (authz_url, authz, chall) = self.challenge_of(step).await?;
        let provision = step.provision.unwrap_or(Provision::Plain(true));
        match provision {
            Provision::Plain(false) => {}
            Provision::Plain(true) => self.provision(&account, &authz, &chall, None).await?,
            Provision::Variant(v) => self.provision(&account, &authz, &chall, Some(v)).await?,
        }
        self.attempt(&authz, &chall);
        let payload = match &step.payload {
            Some(p) => self.payload_of(p, Some(&account)),
            None => Payload::Json(json!({})),
        };
        let resp = self.signed(&account, &chall.url, payload, step.mutate.as_ref()).await?;
        if resp.status >= 400 && step.mutate.is_none() && step.payload.is_none() {
            // An error to a well-formed response is a validation done inside the POST
            // (RFC 8555 lets the server validate when it likes): its outcome is decided.
            let order_url = self.order_state(&self.order_name(step)).ok().map(|o| o.url.clone());
            self.decided_in_post.extend([chall.url.clone(), authz_url].into_iter().chain(order_url));
        }
        // A response served unprovisioned, or in a variant, may fail validation; a server
        // validating inside the POST then answers with that failure, which the case's
        // later steps judge on the challenge itself.
        let may_fail = provision != Provision::Plain(true);
        expect_ok(resp, checked || may_fail)
    }

    /// Waits until the CA made `queries` http-01 validation queries for the challenge's
    /// token (the responder records each request once it has answered it).
    async fn await_validation(&mut self, step: &Step) -> StepResult<()> {
        let (_, _, chall) = self.challenge_of(step).await?;
        if chall.kind != "http-01" {
            return Err(StepError::Error(format!("await-validation counts http-01 queries, not {} ones", chall.kind)));
        }
        let token = chall.token.clone().ok_or_else(|| fail("challenge with a token (§8.3)", "no token"))?;
        let wanted = step.queries.unwrap_or(1);
        let timeout = step.timeout_s.map(Duration::from_secs).unwrap_or(DEFAULT_TIMEOUT);
        let started = Instant::now();
        let mut last_look = Instant::now();
        loop {
            let seen = validation::http_queries_for(&self.env.responders, self.started, &token);
            if seen >= wanted {
                return Ok(());
            }
            if seen > 0 && self.decided_in_post.contains(&chall.url) {
                return Err(StepError::Unsupported(format!(
                    "the server validated inside the challenge POST and answered with the failure: it does not retry the failed query (RFC 8555 §8.2, SHOULD), so there is no query {} to wait for",
                    seen + 1
                )));
            }
            // Once a second, see whether the server has already finished with the
            // challenge: one that decided without the awaited queries will send none.
            if last_look.elapsed() >= Duration::from_secs(1) {
                last_look = Instant::now();
                let (_, authz) = self.fetch_authz(&self.account_name(step), &self.resolve_known(step, &Target::Authz).map_err(StepError::Error)?).await?;
                let status = authz.challenges.iter().find(|c| c.token == chall.token).and_then(|c| c.status.clone());
                match status.as_deref() {
                    Some("valid" | "invalid") if seen == 0 => {
                        return Err(StepError::Unproven {
                            key: format!("solve:http-01{}", self.address_family(step)),
                            mismatch: Mismatch {
                                expected: "the CA's http-01 validation request reaching the runner's responder before the challenge is decided (RFC 8555 §8.3)".into(),
                                observed: format!("challenge {} is {} and no validation request for it reached the responder", chall.url, status.unwrap_or_default()),
                            },
                        });
                    }
                    Some("valid" | "invalid") => {
                        return Err(StepError::Unsupported(format!(
                            "the server decided the challenge ({}) after {seen} of the {wanted} validation queries awaited: it does not retry a failed query (RFC 8555 §8.2, SHOULD)",
                            status.unwrap_or_default()
                        )));
                    }
                    _ => {}
                }
            }
            if started.elapsed() >= timeout && seen > 0 {
                // A failed first query is retried only by a server that follows a SHOULD
                // (§8.2), which rfc8555/8.2/retry-after-failed-query judges.
                return Err(StepError::Unsupported(format!(
                    "the server made {seen} of the {wanted} http-01 validation queries awaited within {}s: it does not retry a failed query (RFC 8555 §8.2, SHOULD)",
                    timeout.as_secs()
                )));
            }
            if started.elapsed() >= timeout {
                return Err(StepError::Error(format!(
                    "no http-01 validation query reached the responder within the case's {}s; RFC 8555 sets no deadline",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(POLL_INTERVAL / 5).await;
        }
    }

    /// POST-as-GET of `url`; a challenge is read from its authorization (the answer is
    /// the authorization's, its body the challenge object), unless it is not listed there.
    async fn read(&mut self, account: &str, url: &str) -> StepResult<Response> {
        if let Some(authz_url) = self.authz_of_challenge.get(url).cloned() {
            let resp = self.signed(account, &authz_url, Payload::Empty, None).await?;
            let listed = resp.json().ok().and_then(|authz| {
                authz.get("challenges")?.as_array()?.iter().find(|c| c.get("url").and_then(Value::as_str) == Some(url)).cloned()
            });
            if resp.status != 200 {
                return Ok(resp);
            }
            if let Some(challenge) = listed {
                return Ok(Response { body: serde_json::to_vec(&challenge).expect("JSON serializes").into(), ..resp });
            }
        }
        self.signed(account, url, Payload::Empty, None).await
    }

    async fn poll(&mut self, step: &Step, url: &str, until: &[String]) -> StepResult<Response> {
        let account = self.account_name(step);
        let until: Vec<&str> = until.iter().map(String::as_str).collect();
        self.poll_until(&account, url, &until, step).await
    }

    async fn poll_until(&mut self, account: &str, url: &str, until: &[&str], step: &Step) -> StepResult<Response> {
        let timeout = step.timeout_s.map(Duration::from_secs).unwrap_or(DEFAULT_TIMEOUT);
        let started = Instant::now();
        loop {
            let resp = self.read(account, url).await?;
            let resp = expect_ok(resp, false)?;
            let body = resp.json().map_err(|e| fail(format!("a JSON object from {url}"), e.to_string()))?;
            let status = body.get("status").and_then(Value::as_str).unwrap_or("");
            // A challenge the server decided inside its POST will not change: the case
            // judges it as it is.
            if until.contains(&status) || self.decided_in_post.iter().any(|u| u == url) {
                return Ok(resp);
            }
            if started.elapsed() >= timeout {
                // RFC 8555 sets no deadline (§8.2: "The precise retry schedule is up to the
                // server"), so a slow server is not a deviation: the case could not finish.
                return Err(StepError::Error(format!(
                    "{url} did not reach status {} within the case's {}s (status still {status:?}); RFC 8555 sets no deadline",
                    until.join("|"),
                    timeout.as_secs()
                )));
            }
            let wait = resp.retry_after().map(|r| r.delay()).unwrap_or(POLL_INTERVAL);
            let wait = wait.clamp(POLL_INTERVAL, POLL_INTERVAL_MAX).min(timeout.saturating_sub(started.elapsed()));
            tokio::time::sleep(wait).await;
        }
    }

    fn csr(&self, step: &Step, spec: &CsrSpec) -> StepResult<(Vec<u8>, SigningKey)> {
        let account = self.account_name(step);
        let order = self.order_state(&self.order_name(step))?;
        let names: Vec<String> = match &spec.names {
            Some(n) => n.iter().map(|s| self.expand(s, Some(&account))).collect(),
            None => order.object.identifiers.iter().map(|i| i.value.clone()).collect(),
        };
        let key = match &spec.key_of {
            Some(other) => self.account_state(other)?.key.clone(),
            None => {
                let current = self.account_state(&account).ok().map(|a| a.key.clone());
                self.fresh_key(spec.key, current.as_ref())?
            }
        };
        let identifiers: Vec<Identifier> =
            names.into_iter().map(|n| if n.parse::<std::net::IpAddr>().is_ok() { Identifier::ip(n) } else { Identifier::dns(n) }).collect();
        let common_name = spec.common_name.as_ref().map(|cn| self.expand(cn, Some(&account)));
        let mut der = key.csr_der(&identifiers, common_name.as_deref()).map_err(StepError::Error)?;
        if spec.corrupt_signature {
            let last = der.len() - 1;
            der[last] ^= 0x01;
        }
        Ok((der, key))
    }

    async fn finalize(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = self.order_name(step);
        let (der, key) = self.csr(step, &step.csr.clone().unwrap_or_default())?;
        let url = self.resolve(step, &Target::Finalize).await?;
        let payload = Payload::Json(json!({ "csr": b64::encode(&der) }));
        let resp = self.signed(&account, &url, payload, step.mutate.as_ref()).await?;
        if resp.status == 200
            && let Some(o) = self.orders.get_mut(&name) {
                o.cert_key = Some(key);
                if let Ok(order) = serde_json::from_slice::<Order>(&resp.body) {
                    o.object = order;
                }
            }
        let resp = expect_ok(resp, checked)?;
        if step.wait.unwrap_or(false) {
            let order_url = self.order_state(&name)?.url.clone();
            let polled = self.poll_until(&account, &order_url, &["valid", "invalid"], step).await?;
            self.absorb_order(step, &order_url, &polled);
            let status = self.order_state(&name)?.object.status.clone().unwrap_or_default();
            if status != "valid" {
                return Err(fail("order valid after finalize (§7.4)", format!("order status {status:?}")));
            }
        }
        Ok(resp)
    }

    async fn download_certificate(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = self.order_name(step);
        let mut url = self.resolve(step, &Target::Certificate).await?;
        if let Some(n) = step.alternate {
            let default = expect_ok(self.signed(&account, &url, Payload::Empty, None).await?, false)?;
            let alternates = default.links_with_rel("alternate");
            url = alternates.get(n).cloned().ok_or_else(|| {
                StepError::Unsupported(format!(
                    "the server offers {} alternate chain(s) (Link rel=\"alternate\", §7.4.2), not #{n}",
                    alternates.len()
                ))
            })?;
        }
        let resp = self.signed(&account, &url, Payload::Empty, step.mutate.as_ref()).await?;
        if resp.status == 200
            && step.alternate.is_none()
            && let Some(o) = self.orders.get_mut(&name) {
                o.cert_pem = Some(String::from_utf8_lossy(&resp.body).into_owned());
            }
        expect_ok(resp, checked)
    }

    async fn leaf_der(&mut self, step: &Step) -> StepResult<Vec<u8>> {
        let name = self.order_name(step);
        if self.order_state(&name)?.cert_pem.is_none() {
            let download = Step { expect: None, should: None, mutate: None, ..step.clone() };
            self.download_certificate(&download, false).await?;
        }
        let pem = self.order_state(&name)?.cert_pem.clone().unwrap_or_default();
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .map(|c| c.to_vec())
            .ok_or_else(|| fail("a PEM certificate chain (§7.4.2)", "no certificate in the download"))
    }

    async fn revoke(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = self.order_name(step);
        let der = self.leaf_der(step).await?;
        let mut payload = json!({ "certificate": b64::encode(&der) });
        if let Some(reason) = step.reason {
            payload["reason"] = reason.into();
        }
        let url = self.directory_entry("revokeCert")?;
        let resp = match step.by.unwrap_or(RevokeBy::Account) {
            RevokeBy::Account => self.signed(&account, &url, Payload::Json(payload), step.mutate.as_ref()).await?,
            RevokeBy::CertificateKey => {
                let key = self.order_state(&name)?.cert_key.clone().ok_or_else(|| {
                    StepError::Error("revocation by certificate key needs the order finalized in this case".into())
                })?;
                let key_id = KeyId::Jwk(key.jwk().clone());
                self.signed_with(&key, key_id, &url, Payload::Json(payload), step.mutate.as_ref()).await?
            }
        };
        expect_ok(resp, checked)
    }

    async fn key_change(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let url = self.directory_entry("keyChange")?;
        let account_url = self.account_url(&account)?;
        let old_key = self.account_state(&account)?.key.clone();
        let inner = step.inner.clone().unwrap_or_default();
        let new_key = if inner.same_key {
            old_key.clone()
        } else if let Some(other) = &inner.new_key_of {
            self.account_state(other)?.key.clone()
        } else {
            self.fresh_key(step.new_key, None)?
        };
        let inner_url = match inner.url.as_deref() {
            None => url.clone(),
            Some("other") => self.env.directory_url.clone(),
            Some(u) => self.expand(u, Some(&account)),
        };
        let mut header = acme_protected_header(new_key.alg(), &KeyId::Jwk(new_key.jwk().clone()), None, &inner_url);
        if inner.add_nonce {
            let nonce = self.nonce(None).await?.unwrap_or_default();
            header.insert("nonce".into(), nonce.into());
        }
        let inner_account = match inner.account.as_deref() {
            None => account_url.clone(),
            Some("other") => format!("{account_url}-other"),
            Some(a) => self.expand(a, Some(&account)),
        };
        let old_jwk = if inner.wrong_old_key {
            self.fresh_key(Some(KeyChoice::Fresh(Algorithm::Es256)), None)?.jwk().to_value()
        } else {
            old_key.jwk().to_value()
        };
        let mut inner_payload = match &inner.payload {
            Some(table) => self.expand_json(toml_to_json(&toml::Value::Table(table.clone())), Some(&account)),
            None => json!({ "account": inner_account, "oldKey": old_jwk }),
        };
        if inner.new_key_in_payload {
            header.remove("jwk");
            inner_payload["newKey"] = new_key.jwk().to_value();
        }
        let signer = if inner.sign_with_old_key { &old_key } else { &new_key };
        let jws = FlattenedJws::sign(signer, &header, &serde_json::to_vec(&inner_payload).expect("JSON"));
        let outer_payload = if inner.compact {
            Payload::Raw(format!("{}.{}.{}", jws.protected, jws.payload, jws.signature).into_bytes())
        } else {
            Payload::Json(jws.to_value())
        };
        let resp = self.signed(&account, &url, outer_payload, step.mutate.as_ref()).await?;
        if resp.status == 200
            && let Some(a) = self.accounts.get_mut(&account) {
                a.key = new_key;
            }
        expect_ok(resp, checked)
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
