//! The mock CA as fuzz targets: its CSR checks, its front end and its order state
//! machine read what any client sends, so they must never panic, and each has an
//! oracle beyond that: the CSR's names read as an independent parser reads them, every
//! answer shaped as RFC 8555 §6 requires, every status as a separate model of §7.1.6
//! computes it.

use super::ca::{CsrError, ParsedCsr, parse_csr, parse_csr_unverified};
use crate::protocol::jws::Algorithm;
use crate::protocol::keys::SigningKey;
use axum::http;

/// Runs one DER input through the mock CA's CSR parser; panics when [`check_csr`] fails.
pub fn fuzz_csr(data: &[u8]) {
    if let Err(broken) = check_csr(data, parse_csr, parse_csr_unverified) {
        panic!("{broken}");
    }
}

/// The CSR oracle: a CSR `verified` accepts reads the same with `unverified` (the
/// signature check off, as a CA that skips it would read it), and, when
/// rcgen's parser (a separate reading of the same DER) also accepts it, with the same
/// DNS names and IP addresses in the same order.
fn check_csr(data: &[u8], verified: impl Fn(&[u8]) -> Result<ParsedCsr, CsrError>, unverified: impl Fn(&[u8]) -> Result<ParsedCsr, CsrError>) -> Result<(), String> {
    let Ok(parsed) = verified(data) else { return Ok(()) };
    match unverified(data) {
        Ok(u) if u == parsed => {}
        Ok(_) => return Err("verified and unverified CSR parses disagree".into()),
        Err(e) => return Err(format!("a CSR that verifies fails the unverified parse: {e}")),
    }
    let der = rustls_pki_types::CertificateSigningRequestDer::from(data);
    let Ok(independent) = rcgen::CertificateSigningRequestParams::from_der(&der) else { return Ok(()) };
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for san in &independent.params.subject_alt_names {
        match san {
            rcgen::SanType::DnsName(name) => dns.push(name.as_str().to_ascii_lowercase()),
            rcgen::SanType::IpAddress(ip) => ips.push(*ip),
            _ => {}
        }
    }
    if (dns.as_slice(), ips.as_slice()) != (parsed.dns_names.as_slice(), parsed.ip_addrs.as_slice()) {
        return Err(format!("the CSR names {:?} {:?}, rcgen reads {dns:?} {ips:?}", parsed.dns_names, parsed.ip_addrs));
    }
    Ok(())
}

/// Well-formed CSRs (one name, several names with an IP, a commonName) signed by the
/// fixture P-256 key.
pub fn csr_seeds() -> Vec<(String, Vec<u8>)> {
    use crate::protocol::wire::Identifier;
    let Ok(key) = SigningKey::from_pkcs8_pem(Algorithm::Es256, include_str!("../../../fixtures/keys/ec-p256.pk8.pem")) else {
        return Vec::new();
    };
    let one = [Identifier::dns("a.acmespec.test")];
    let several = [Identifier::dns("a.acmespec.test"), Identifier::dns("*.b.acmespec.test"), Identifier::ip("127.0.0.1")];
    [
        ("one-name.der", key.csr_der(&one, None)),
        ("names-and-ip.der", key.csr_der(&several, None)),
        ("common-name.der", key.csr_der(&one, Some("a.acmespec.test"))),
    ]
    .into_iter()
    .filter_map(|(name, der)| Some((name.to_owned(), der.ok()?)))
    .collect()
}

/// An in-process mock CA with one account and one order, and the paths of its real
/// resources, built once per fuzzing process.
struct WfeHarness {
    runtime: tokio::runtime::Runtime,
    wfe: std::sync::Arc<super::wfe::Wfe>,
    key: SigningKey,
    account_url: String,
    paths: Vec<String>,
}

const BASE_URL: &str = "https://acme.test";

async fn call(wfe: &std::sync::Arc<super::wfe::Wfe>, method: http::Method, path: &str, headers: &http::HeaderMap, body: Vec<u8>) -> (u16, http::HeaderMap, Vec<u8>) {
    let resp = wfe.handle(method, path, headers, axum::body::Body::from(body)).await;
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 22).await.map(|b| b.to_vec()).unwrap_or_default();
    (parts.status.as_u16(), parts.headers, bytes)
}

async fn fresh_nonce(wfe: &std::sync::Arc<super::wfe::Wfe>) -> String {
    let (_, headers, _) = call(wfe, http::Method::HEAD, "/new-nonce", &http::HeaderMap::new(), Vec::new()).await;
    headers.get("replay-nonce").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn jose_headers(content_type: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    h
}

async fn signed(wfe: &std::sync::Arc<super::wfe::Wfe>, key: &SigningKey, kid: Option<&str>, path: &str, payload: &[u8]) -> (u16, http::HeaderMap, Vec<u8>) {
    use crate::protocol::jws::{FlattenedJws, KeyId, acme_protected_header};
    let key_id = kid.map_or_else(|| KeyId::Jwk(key.jwk().clone()), |k| KeyId::Kid(k.to_owned()));
    let header = acme_protected_header(key.alg(), &key_id, Some(&fresh_nonce(wfe).await), &format!("{BASE_URL}{path}"));
    let body = serde_json::to_vec(&FlattenedJws::sign(key, &header, payload).to_value()).unwrap_or_default();
    call(wfe, http::Method::POST, path, &jose_headers("application/jose+json"), body).await
}

fn wfe_harness() -> &'static WfeHarness {
    static HARNESS: std::sync::OnceLock<WfeHarness> = std::sync::OnceLock::new();
    HARNESS.get_or_init(|| WfeHarness::new(Vec::new()))
}

impl WfeHarness {
    fn new(defects: Vec<super::Defect>) -> WfeHarness {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime builds");
        let config = super::MockCaConfig { always_valid: true, defects, ..super::MockCaConfig::default() };
        let ca = super::ca::CertificateAuthority::new(1).expect("the CA's certificates generate");
        let wfe = super::build_wfe(&config, BASE_URL.to_owned(), ca, None);
        let key = SigningKey::from_pkcs8_pem(Algorithm::Es256, include_str!("../../../fixtures/keys/ec-p256.pk8.pem"))
            .expect("fixture key loads");
        let (account_url, paths) = runtime.block_on(async {
            let (_, headers, _) = signed(&wfe, &key, None, "/new-account", br#"{"termsOfServiceAgreed":true}"#).await;
            let account_url = headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let order = br#"{"identifiers":[{"type":"dns","value":"fuzz.acmespec.test"}]}"#;
            let (_, headers, body) = signed(&wfe, &key, Some(&account_url), "/new-order", order).await;
            let order_url = headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let order: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let mut urls = vec![account_url.clone(), order_url];
            for pointer in ["/authorizations/0", "/finalize"] {
                urls.extend(order.pointer(pointer).and_then(serde_json::Value::as_str).map(str::to_owned));
            }
            let paths: Vec<String> = urls.iter().filter_map(|u| u.strip_prefix(BASE_URL).map(str::to_owned)).collect();
            (account_url, paths)
        });
        let mut all: Vec<String> = ["/directory", "/new-nonce", "/new-account", "/new-order", "/new-authz", "/key-change", "/revoke-cert", "/renewal-info/AAAA.AAAA", "/certificate/x", "/nowhere"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        all.extend(paths);
        WfeHarness { runtime, wfe, key, account_url, paths: all }
    }
}

/// One request into the mock CA's front end; panics when an answer breaks what every
/// answer must satisfy: no 5xx, errors as problem documents with a registered ACME type
/// (or a non-ACME URI), and a Replay-Nonce on every answer to a POST.
pub fn fuzz_wfe_request(data: &[u8]) {
    if let Err(broken) = check_wfe_request(wfe_harness(), data) {
        panic!("{broken}");
    }
}

fn check_wfe_request(h: &WfeHarness, data: &[u8]) -> Result<(), String> {
    let [method, path, mode, rest @ ..] = data else { return Ok(()) };
    let methods = [http::Method::POST, http::Method::POST, http::Method::POST, http::Method::GET, http::Method::HEAD, http::Method::PUT, http::Method::DELETE];
    let method = methods[usize::from(*method) % methods.len()].clone();
    let path = if usize::from(*path) < h.paths.len() {
        h.paths[usize::from(*path)].clone()
    } else {
        format!("/{}", String::from_utf8_lossy(&rest[..rest.len().min(40)]))
    };
    let (status, headers, body) = h.runtime.block_on(async {
        if method == http::Method::POST && mode & 1 == 1 {
            let kid = (mode & 2 == 0).then_some(h.account_url.as_str());
            signed(&h.wfe, &h.key, kid, &path, rest).await
        } else {
            let content_type = if mode & 4 == 0 { "application/jose+json" } else { "application/json" };
            call(&h.wfe, method.clone(), &path, &jose_headers(content_type), rest.to_vec()).await
        }
    });
    if status >= 500 {
        return Err(format!("{method} {path} answered {status}: {}", String::from_utf8_lossy(&body)));
    }
    if status >= 400 && method != http::Method::HEAD {
        let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !content_type.starts_with("application/problem+json") {
            return Err(format!("{method} {path}: error {status} as {content_type:?}"));
        }
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let kind = problem.get("type").and_then(serde_json::Value::as_str).unwrap_or_default();
        if kind.is_empty() || !crate::protocol::wire::is_registered_or_foreign_error(kind) {
            return Err(format!("{method} {path}: problem type {kind:?}"));
        }
    }
    if method == http::Method::POST && !headers.contains_key("replay-nonce") {
        return Err(format!("{method} {path}: answer {status} without Replay-Nonce"));
    }
    Ok(())
}

/// Seeds: a signed POST-as-GET and a signed payload to each real resource, and raw bodies.
pub fn wfe_request_seeds() -> Vec<(String, Vec<u8>)> {
    let h = wfe_harness();
    let mut seeds = Vec::new();
    for (i, path) in h.paths.iter().enumerate() {
        let slug: String = path.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        seeds.push((format!("post-as-get{slug}"), vec![0, i as u8, 1]));
        seeds.push((format!("signed-payload{slug}"), [&[0, i as u8, 1][..], br#"{"status":"deactivated","csr":"AAAA"}"#].concat()));
        seeds.push((format!("raw{slug}"), [&[0, i as u8, 0][..], br#"{"protected":"e30","payload":"","signature":"AA"}"#].concat()));
    }
    seeds
}

/// The reference the order-state target holds the mock CA to: RFC 8555 §7.1.6's
/// diagram written as plain tables, sharing no code with `core`.
mod reference {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Chall {
        Pending,
        Processing,
        Valid,
        Invalid,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Authz {
        Pending,
        Valid,
        Invalid,
        Deactivated,
        Expired,
    }

    #[derive(Debug, Clone)]
    pub(super) struct Model {
        /// Per authorization: the stored status, its expiry (seconds) and its challenges.
        pub(super) authz: Vec<(Authz, i64, Vec<Chall>)>,
        pub(super) order_expires: i64,
        /// None: not finalized; Some(n): n polls left of processing (0 = issued).
        pub(super) finalized: Option<u32>,
        pub(super) now: i64,
    }

    impl Model {
        pub(super) fn authz_status(&self, i: usize) -> Authz {
            let (stored, expires, _) = &self.authz[i];
            if matches!(stored, Authz::Pending | Authz::Valid) && self.now >= *expires { Authz::Expired } else { *stored }
        }

        pub(super) fn order_status(&self) -> &'static str {
            match self.finalized {
                Some(0) => return "valid",
                Some(_) => return "processing",
                None => {}
            }
            let all: Vec<Authz> = (0..self.authz.len()).map(|i| self.authz_status(i)).collect();
            if self.now >= self.order_expires || all.iter().any(|a| !matches!(a, Authz::Pending | Authz::Valid)) {
                "invalid"
            } else if all.iter().all(|a| *a == Authz::Valid) {
                "ready"
            } else {
                "pending"
            }
        }

        pub(super) fn respond(&mut self, a: usize, c: usize) {
            if self.authz_status(a) == Authz::Pending && self.authz[a].2[c] == Chall::Pending {
                self.authz[a].2[c] = Chall::Processing;
            }
        }

        /// `outcome`: 0 valid, 1 failed with a retry to come, 2 failed for good.
        pub(super) fn query(&mut self, a: usize, c: usize, outcome: u8, valid_lifetime: i64) {
            if self.authz_status(a) != Authz::Pending || self.authz[a].2[c] != Chall::Processing {
                return;
            }
            match outcome {
                0 => {
                    self.authz[a].2[c] = Chall::Valid;
                    self.authz[a].0 = Authz::Valid;
                    self.authz[a].1 = self.now + valid_lifetime;
                }
                1 => {}
                _ => {
                    self.authz[a].2[c] = Chall::Invalid;
                    self.authz[a].0 = Authz::Invalid;
                }
            }
        }

        pub(super) fn deactivate(&mut self, a: usize) -> bool {
            let ok = matches!(self.authz_status(a), Authz::Pending | Authz::Valid);
            if ok {
                self.authz[a].0 = Authz::Deactivated;
            }
            ok
        }

        pub(super) fn finalize(&mut self, polls: u32) -> bool {
            let ok = self.order_status() == "ready";
            if ok {
                self.finalized = Some(polls);
            }
            ok
        }

        pub(super) fn poll(&mut self) {
            if let Some(n) = self.finalized.filter(|n| *n > 0) {
                self.finalized = Some(n - 1);
            }
        }
    }
}

/// Events into the mock CA's order and authorization state machine (`core`) and into
/// the reference; after each one every status must agree and the invariants of
/// §7.1.6 hold: no way out of a terminal state, `ready` only with every authorization
/// valid, `valid` only with a certificate, a valid authorization has one valid challenge.
pub fn fuzz_order_state(data: &[u8]) {
    order_state_with(data, |_, _| {});
}

/// [`fuzz_order_state`] with `planted` run on the authorizations after each event's
/// transition (given the event kind), so a test can plant a bug in the transitions.
fn order_state_with(data: &[u8], planted: impl Fn(u8, &mut [super::core::Authorization])) {
    use super::core::{Authorization, AuthzStatus, Challenge, ChallengeStatus, Finalization, Order, OrderStatus, Progress, VALID_AUTHZ_LIFETIME};
    use crate::protocol::wire::{Identifier, Problem};
    use reference::{Authz, Chall, Model};
    use time::{Duration, OffsetDateTime};

    let [shape, rest @ ..] = data else { return };
    let (authz_count, challenge_count) = (1 + usize::from(shape & 3), 1 + usize::from((shape >> 2) & 3));
    let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    let lifetime = 86_400;
    let challenge_id = |a: usize, c: usize| format!("{a}-{c}");
    let mut authz: Vec<Authorization> = (0..authz_count)
        .map(|a| Authorization {
            id: a.to_string(),
            account_id: "acct".into(),
            identifier: Identifier::dns(format!("n{a}.acmespec.test")),
            wildcard: false,
            pre_authorization: false,
            status: AuthzStatus::Pending,
            expires: t0 + Duration::seconds(lifetime),
            challenges: (0..challenge_count)
                .map(|c| Challenge {
                    id: challenge_id(a, c),
                    kind: "http-01".into(),
                    token: String::new(),
                    status: ChallengeStatus::Pending,
                    validated: None,
                    error: None,
                })
                .collect(),
        })
        .collect();
    let mut order = Order {
        id: "o".into(),
        account_id: "acct".into(),
        identifiers: authz.iter().map(|a| a.identifier.clone()).collect(),
        authorization_ids: authz.iter().map(|a| a.id.clone()).collect(),
        not_before: None,
        not_after: None,
        expires: t0 + Duration::seconds(lifetime),
        finalization: Finalization::NotRequested,
        replaces: None,
            profile: None,
    };
    let mut model = Model {
        authz: (0..authz_count).map(|_| (Authz::Pending, lifetime, vec![Chall::Pending; challenge_count])).collect(),
        order_expires: lifetime,
        finalized: None,
        now: 0,
    };
    let mut now = t0;
    let mut previous_order = OrderStatus::Pending;
    for event in rest.chunks_exact(3).take(200) {
        let (a, c) = (usize::from(event[1]) % authz_count, usize::from(event[2]) % challenge_count);
        match event[0] % 6 {
            0 => {
                authz[a].respond(&challenge_id(a, c), now);
                model.respond(a, c);
            }
            1 => {
                let outcome = event[1] % 3;
                let progress = match outcome {
                    0 => Progress::Valid,
                    1 => Progress::Retrying(Some(Problem::default())),
                    _ => Progress::Invalid(Problem::default()),
                };
                authz[a].record(&challenge_id(a, c), progress, true, now);
                model.query(a, c, outcome, VALID_AUTHZ_LIFETIME.whole_seconds());
            }
            2 => assert_eq!(authz[a].deactivate(now), model.deactivate(a), "deactivation allowed differently"),
            3 => {
                let statuses: Vec<AuthzStatus> = authz.iter().map(|x| x.status_at(now)).collect();
                let polls = u32::from(event[2] % 4);
                let ready = order.status(&statuses, now) == OrderStatus::Ready;
                if ready {
                    order.finalization = if polls == 0 {
                        Finalization::Issued { certificate_id: "cert".into() }
                    } else {
                        Finalization::Processing { certificate_id: "cert".into(), polls_left: polls }
                    };
                }
                assert_eq!(ready, model.finalize(polls), "finalization allowed differently");
            }
            4 => {
                order.poll();
                model.poll();
            }
            _ => {
                let seconds = i64::from(u16::from_le_bytes([event[1], event[2]])) * 16;
                now += Duration::seconds(seconds);
                model.now += seconds;
            }
        }
        planted(event[0] % 6, &mut authz);
        for (i, x) in authz.iter().enumerate() {
            let want = match model.authz_status(i) {
                Authz::Pending => AuthzStatus::Pending,
                Authz::Valid => AuthzStatus::Valid,
                Authz::Invalid => AuthzStatus::Invalid,
                Authz::Deactivated => AuthzStatus::Deactivated,
                Authz::Expired => AuthzStatus::Expired,
            };
            assert_eq!(x.status_at(now), want, "authorization {i} status");
            for (j, ch) in x.challenges.iter().enumerate() {
                let want = match model.authz[i].2[j] {
                    Chall::Pending => ChallengeStatus::Pending,
                    Chall::Processing => ChallengeStatus::Processing,
                    Chall::Valid => ChallengeStatus::Valid,
                    Chall::Invalid => ChallengeStatus::Invalid,
                };
                assert_eq!(ch.status, want, "challenge {i}-{j} status");
            }
            let valid = x.challenges.iter().filter(|c| c.status == ChallengeStatus::Valid).count();
            if x.status == AuthzStatus::Valid {
                assert_eq!(valid, 1, "a valid authorization has exactly one valid challenge");
            }
            assert!(valid <= 1, "two challenges of one authorization became valid");
        }
        let statuses: Vec<AuthzStatus> = authz.iter().map(|x| x.status_at(now)).collect();
        let status = order.status(&statuses, now);
        assert_eq!(status.name(), model.order_status(), "order status");
        if status == OrderStatus::Ready {
            assert!(statuses.iter().all(|s| *s == AuthzStatus::Valid), "ready with an authorization not valid");
        }
        if status == OrderStatus::Valid {
            assert!(matches!(order.finalization, Finalization::Issued { .. }), "valid without a certificate");
        }
        if matches!(previous_order, OrderStatus::Valid | OrderStatus::Invalid) {
            assert_eq!(status, previous_order, "the order left a terminal state");
        }
        previous_order = status;
    }
}

/// Seeds: an issuance with every step in order, a failed validation, a deactivation
/// after validation, an expiry, a retried validation.
pub fn order_state_seeds() -> Vec<(String, Vec<u8>)> {
    vec![
        ("issue-one-name".into(), vec![0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 4, 0, 0]),
        ("issue-slowly".into(), vec![0, 0, 0, 0, 1, 0, 0, 3, 0, 3, 4, 0, 0, 4, 0, 0, 4, 0, 0]),
        ("validation-fails".into(), vec![1, 0, 0, 0, 1, 2, 0, 3, 0, 0]),
        ("retry-then-valid".into(), vec![4, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1]),
        ("deactivate-after-valid".into(), vec![1, 0, 1, 0, 1, 0, 1, 2, 1, 0, 3, 0, 0]),
        ("order-expires".into(), vec![0, 0, 0, 0, 5, 0xff, 0xff, 5, 0xff, 0xff, 3, 0, 0]),
    ]
}

/// Each oracle catches the bug it guards against: a defect of the mock CA switched on,
/// or a planted copy of the code it checks.
#[cfg(test)]
mod planted {
    use super::*;
    use crate::mockca::Defect;

    fn failures(defects: Vec<Defect>) -> Vec<String> {
        let h = WfeHarness::new(defects);
        wfe_request_seeds().iter().filter_map(|(_, input)| check_wfe_request(&h, input).err()).collect()
    }

    #[test]
    fn the_front_end_oracles_catch_a_missing_nonce_and_a_plain_json_error() {
        assert_eq!(failures(Vec::new()), Vec::<String>::new());
        let nonces = failures(vec![Defect::OmitNonceOnErrors]);
        assert!(!nonces.is_empty() && nonces.iter().all(|f| f.ends_with("without Replay-Nonce")), "{nonces:#?}");
        let plain = failures(vec![Defect::ProblemAsPlainJson]);
        assert!(plain.iter().any(|f| f.contains("as \"application/json\"")), "{plain:#?}");
    }

    #[test]
    fn csr_parsers_that_drop_ip_addresses_are_caught() {
        let drop_ips = |parse: fn(&[u8]) -> Result<ParsedCsr, CsrError>| {
            move |der: &[u8]| {
                parse(der).map(|mut p| {
                    p.ip_addrs.clear();
                    p
                })
            }
        };
        let seeds = csr_seeds();
        let caught = |verified: &dyn Fn(&[u8]) -> Result<ParsedCsr, CsrError>, unverified: &dyn Fn(&[u8]) -> Result<ParsedCsr, CsrError>| {
            seeds.iter().filter_map(|(_, der)| check_csr(der, verified, unverified).err()).collect::<Vec<String>>()
        };
        assert_eq!(caught(&parse_csr, &parse_csr_unverified), Vec::<String>::new());
        // Only the unverified path loses them: the two parses disagree.
        assert_eq!(caught(&parse_csr, &drop_ips(parse_csr_unverified)), ["verified and unverified CSR parses disagree"]);
        // Both lose them: rcgen's reading of the same DER still has them.
        let both = caught(&drop_ips(parse_csr), &drop_ips(parse_csr_unverified));
        assert!(matches!(both.as_slice(), [one] if one.contains("rcgen reads")), "{both:#?}");
    }

    #[test]
    fn a_state_machine_that_lets_invalid_become_valid_is_caught() {
        use crate::mockca::core::{AuthzStatus, ChallengeStatus};
        // The bug: responding to a challenge of an invalid authorization revives it.
        let revive = |kind: u8, authz: &mut [crate::mockca::core::Authorization]| {
            for a in authz.iter_mut().filter(|a| kind == 0 && a.status == AuthzStatus::Invalid) {
                a.status = AuthzStatus::Valid;
                if let Some(c) = a.challenges.iter_mut().find(|c| c.status == ChallengeStatus::Invalid) {
                    c.status = ChallengeStatus::Valid;
                }
            }
        };
        let caught = |input: &[u8]| {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| order_state_with(input, revive)));
            run.err().and_then(|p| p.downcast_ref::<String>().cloned())
        };
        // Every seed, then one more challenge response: only the failed validation trips it.
        let found: Vec<(String, String)> = order_state_seeds()
            .into_iter()
            .filter_map(|(name, mut input)| {
                fuzz_order_state(&input);
                input.extend([0, 0, 0]);
                caught(&input).map(|message| (name, message))
            })
            .collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "validation-fails");
        assert!(found[0].1.contains("authorization 0 status"), "{}", found[0].1);
    }
}
