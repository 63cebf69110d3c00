//! Mock CA features no conformance case drives: external account binding (RFC 8555
//! §7.3.4), orders-list pagination (§7.1.2.1), alternate chains (§7.4.2), the
//! management listener, renewalInfo (RFC 9773 §4), certificate profiles
//! (draft-ietf-acme-profiles) and the `serve` command line.
//!
//! Each test starts its own mock CA and talks to it over real HTTPS, building requests
//! with the protocol core the way `mockca_hostile.rs` does. Checks are soft where a
//! test covers several variants, so one failure does not hide the others.

use acmespec::mockca::{Defect, MockCa, MockCaConfig};
use acmespec::protocol::b64;
use acmespec::protocol::http::{ClientOptions, HttpClient, Response};
use acmespec::protocol::jws::{Algorithm, FlattenedJws, KeyId, acme_protected_header};
use acmespec::protocol::keys::SigningKey;
use reqwest::Method;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::X509Certificate;

const ERROR_NS: &str = "urn:ietf:params:acme:error:";
const JOSE: &str = "application/jose+json";
const EAB_KID: &str = "kid-1";
const EAB_KEY: &[u8] = b"an HMAC key of thirty-two bytes!";

// ---------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------

/// Collects failed checks and reports them all at the end of a test.
#[derive(Default)]
struct Soft(Vec<String>);

impl Soft {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
    fn problem(&mut self, r: &Response, status: u16, kind: &str, what: &str) -> Option<Value> {
        problem(r, status, kind, what).map_err(|e| self.0.push(e)).ok()
    }
    #[track_caller]
    fn finish(self) {
        assert!(self.0.is_empty(), "{} check(s) failed:\n  - {}", self.0.len(), self.0.join("\n  - "));
    }
}

fn show(r: &Response) -> String {
    let body = String::from_utf8_lossy(&r.body[..r.body.len().min(600)]).into_owned();
    format!("{} {} content-type={:?} body={body}", r.status, r.url, r.header("content-type"))
}

/// The RFC 8555 §6.7 problem document for `kind` with `status` (`kind` None: any type).
fn problem_any(r: &Response, status: u16, kind: Option<&str>, what: &str) -> Result<Value, String> {
    let fail = |why: String| Err(format!("{what}: {why}; got {}", show(r)));
    if r.status != status {
        return fail(format!("status {} instead of {status}", r.status));
    }
    if r.media_type().as_deref() != Some("application/problem+json") {
        return fail("Content-Type is not application/problem+json".into());
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&r.body) else { return fail("the body is not JSON".into()) };
    let Some(kind_got) = doc.get("type").and_then(Value::as_str) else { return fail("the problem has no type".into()) };
    if let Some(kind) = kind
        && kind_got != format!("{ERROR_NS}{kind}")
    {
        return fail(format!("type {kind_got:?} instead of {ERROR_NS}{kind}"));
    }
    Ok(doc)
}

fn problem(r: &Response, status: u16, kind: &str, what: &str) -> Result<Value, String> {
    problem_any(r, status, Some(kind), what)
}

#[track_caller]
fn expect_status(r: &Response, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", show(r));
    r.json().unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------
// JWS and certificate building blocks
// ---------------------------------------------------------------------------------

fn key() -> SigningKey {
    SigningKey::generate(Algorithm::Es256).expect("key generation")
}

fn enc(v: &impl serde::Serialize) -> String {
    b64::encode(serde_json::to_vec(v).expect("serializes"))
}

fn signed(key: &SigningKey, header: &Map<String, Value>, payload: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&FlattenedJws::sign(key, header, payload).to_value()).unwrap()
}

fn hmac(alg: ring::hmac::Algorithm, secret: &[u8], protected: &str, payload: &str) -> String {
    b64::encode(ring::hmac::sign(&ring::hmac::Key::new(alg, secret), format!("{protected}.{payload}").as_bytes()).as_ref())
}

/// An external account binding JWS (§7.3.4) with the given protected header and payload.
fn eab(header: &Value, payload: &Value, mac_key: &[u8]) -> Value {
    let (p, pl) = (enc(header), enc(payload));
    let signature = hmac(ring::hmac::HMAC_SHA256, mac_key, &p, &pl);
    json!({ "protected": p, "payload": pl, "signature": signature })
}

/// The certificates of a PEM chain, in order.
fn pem_chain(body: &[u8]) -> Vec<Vec<u8>> {
    CertificateDer::pem_slice_iter(body).map(|c| c.expect("PEM certificate").to_vec()).collect()
}

fn x509(der: &[u8]) -> X509Certificate<'_> {
    x509_parser::parse_x509_certificate(der).expect("certificate parses").1
}

fn aki_key_id(cert: &X509Certificate<'_>) -> Vec<u8> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
            _ => None,
        })
        .expect("the certificate has an AKI keyIdentifier")
}

/// A CSR for `names` under a fresh key, with an empty subject.
fn csr_der(names: &[&str]) -> Vec<u8> {
    let csr_key = key();
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(csr_key.pkcs8_der().to_vec());
    let key_pair = rcgen::KeyPair::try_from(&pkcs8).expect("CSR key");
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.serialize_request(&key_pair).expect("CSR").der().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------
// A mock CA and a client for it
// ---------------------------------------------------------------------------------

struct Ca {
    ca: MockCa,
    http: HttpClient,
    dir: Value,
}

/// What `Ca::issue` produced.
struct Issued {
    cert_url: String,
    response: Response,
    chain: Vec<Vec<u8>>,
}

impl Ca {
    async fn start(config: MockCaConfig) -> Ca {
        let ca = MockCa::start(config).await.expect("mock CA starts");
        let http = HttpClient::new(ClientOptions {
            ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())],
            timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        })
        .unwrap();
        let r = http.get(&ca.directory_url()).await.expect("directory");
        let dir = expect_status(&r, 200, "directory");
        Ca { ca, http, dir }
    }

    async fn valid(config: MockCaConfig) -> Ca {
        Ca::start(MockCaConfig { always_valid: true, ..config }).await
    }

    fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap_or_else(|| panic!("directory has no {name}")).to_owned()
    }

    async fn nonce(&self) -> String {
        let r = self.http.head(&self.url("newNonce")).await.expect("newNonce");
        r.replay_nonce().expect("newNonce gives a Replay-Nonce").to_owned()
    }

    async fn send(&self, method: Method, url: &str, content_type: Option<&str>, body: Option<Vec<u8>>) -> Response {
        let headers: Vec<(String, String)> = content_type.map(|c| ("content-type".to_owned(), c.to_owned())).into_iter().collect();
        self.http.send(method.clone(), url, &headers, body).await.unwrap_or_else(|e| panic!("{method} {url}: no response: {e}"))
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Response {
        self.send(Method::POST, url, Some(JOSE), Some(body)).await
    }

    /// A JWS with a fresh nonce, identified by jwk (`kid` None) or kid.
    async fn post_signed(&self, key: &SigningKey, kid: Option<&str>, url: &str, payload: &[u8]) -> Response {
        let id = match kid {
            Some(k) => KeyId::Kid(k.to_owned()),
            None => KeyId::Jwk(key.jwk().clone()),
        };
        let h = acme_protected_header(key.alg(), &id, Some(&self.nonce().await), url);
        self.post(url, signed(key, &h, payload)).await
    }

    async fn post_json(&self, key: &SigningKey, kid: Option<&str>, url: &str, payload: &Value) -> Response {
        self.post_signed(key, kid, url, &serde_json::to_vec(payload).unwrap()).await
    }

    /// POST-as-GET (§6.3).
    async fn fetch(&self, key: &SigningKey, kid: &str, url: &str) -> Response {
        self.post_signed(key, Some(kid), url, b"").await
    }

    /// Creates an account for `key`, returning its URL (the kid).
    async fn new_account(&self, key: &SigningKey) -> String {
        let r = self.post_json(key, None, &self.url("newAccount"), &json!({ "termsOfServiceAgreed": true })).await;
        expect_status(&r, 201, "newAccount");
        r.location().expect("newAccount gives a Location")
    }

    /// `onlyReturnExisting` for `key`: the response proves whether an account exists.
    async fn lookup(&self, key: &SigningKey) -> Response {
        self.post_json(key, None, &self.url("newAccount"), &json!({ "onlyReturnExisting": true })).await
    }

    /// Creates an order for `names`, returning its URL and object.
    async fn new_order(&self, key: &SigningKey, kid: &str, names: &[&str]) -> (String, Value) {
        let r = self.request_order(key, kid, names, None).await;
        let order = expect_status(&r, 201, "newOrder");
        (r.location().expect("newOrder gives a Location"), order)
    }

    /// newOrder for `names` (an address becomes an ip identifier), naming `profile` if given.
    async fn request_order(&self, key: &SigningKey, kid: &str, names: &[&str], profile: Option<&str>) -> Response {
        let kind = |n: &str| if n.parse::<std::net::IpAddr>().is_ok() { "ip" } else { "dns" };
        let ids: Vec<Value> = names.iter().map(|n| json!({ "type": kind(n), "value": n })).collect();
        let mut payload = json!({ "identifiers": ids });
        if let Some(p) = profile {
            payload["profile"] = p.into();
        }
        self.post_json(key, Some(kid), &self.url("newOrder"), &payload).await
    }

    /// Orders, validates (always_valid), finalizes and downloads a certificate.
    async fn issue(&self, key: &SigningKey, kid: &str, names: &[&str]) -> Issued {
        self.issue_under(key, kid, names, None).await.1
    }

    /// [`Ca::issue`] naming `profile` in newOrder; also returns the order object.
    async fn issue_under(&self, key: &SigningKey, kid: &str, names: &[&str], profile: Option<&str>) -> (Value, Issued) {
        let r = self.request_order(key, kid, names, profile).await;
        let order = expect_status(&r, 201, "newOrder");
        let order_url = r.location().expect("newOrder gives a Location");
        let created = order.clone();
        let mut order = expect_status(&self.validate_and_finalize(key, kid, &order, names).await, 200, "finalize");
        for _ in 0..50 {
            if order["status"] != "processing" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            order = expect_status(&self.fetch(key, kid, &order_url).await, 200, "order");
        }
        assert_eq!(order["status"], "valid", "order after finalize: {order}");
        let cert_url = order["certificate"].as_str().expect("certificate url").to_owned();
        let response = self.fetch(key, kid, &cert_url).await;
        expect_status(&response, 200, "certificate");
        let chain = pem_chain(&response.body);
        assert!(!chain.is_empty(), "empty certificate chain: {}", show(&response));
        (created, Issued { cert_url, response, chain })
    }

    /// Answers the order's challenges (always_valid) and sends its finalize request.
    async fn validate_and_finalize(&self, key: &SigningKey, kid: &str, order: &Value, names: &[&str]) -> Response {
        for authz_url in order["authorizations"].as_array().expect("authorizations") {
            let authz = expect_status(&self.fetch(key, kid, authz_url.as_str().unwrap()).await, 200, "authz");
            let challenge = authz["challenges"][0]["url"].as_str().expect("challenge url").to_owned();
            expect_status(&self.post_json(key, Some(kid), &challenge, &json!({})).await, 200, "challenge");
        }
        let finalize = order["finalize"].as_str().expect("finalize url");
        self.post_json(key, Some(kid), finalize, &json!({ "csr": b64::encode(csr_der(names)) })).await
    }
}

// =================================================================================
// 1. External account binding (RFC 8555 §7.3.4)
// =================================================================================

/// With EAB keys configured: the directory says so, newAccount without a binding is
/// externalAccountRequired, a correct binding creates the account and is echoed, and
/// every broken binding is refused without creating an account.
#[tokio::test]
async fn external_account_binding_is_required_and_checked() {
    let ca = Ca::valid(MockCaConfig { eab_keys: vec![(EAB_KID.into(), EAB_KEY.to_vec())], ..Default::default() }).await;
    let mut soft = Soft::default();
    soft.check(ca.dir["meta"]["externalAccountRequired"] == json!(true), || {
        format!("meta.externalAccountRequired must be true, directory: {}", ca.dir)
    });
    let new_account = ca.url("newAccount");

    // No binding at all.
    let k = key();
    let r = ca.post_json(&k, None, &new_account, &json!({ "termsOfServiceAgreed": true })).await;
    soft.problem(&r, 400, "externalAccountRequired", "newAccount without externalAccountBinding");
    soft.problem(&ca.lookup(&k).await, 400, "accountDoesNotExist", "lookup after a newAccount without binding");

    // Broken bindings: (label, binding for key k, expected status, expected type).
    let k = key();
    let jwk = k.jwk().to_value();
    let other = key();
    let good_header = json!({ "alg": "HS256", "kid": EAB_KID, "url": new_account });
    let with = |member: &str, v: Value| {
        let mut h = good_header.clone();
        h[member] = v;
        h
    };
    let es256 = {
        let h = with("alg", "ES256".into());
        let (p, pl) = (enc(&h), enc(&jwk));
        json!({ "protected": p, "payload": pl, "signature": b64::encode(k.sign(format!("{p}.{pl}").as_bytes())) })
    };
    let alg_none = json!({ "protected": enc(&with("alg", "none".into())), "payload": enc(&jwk), "signature": "" });
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("wrong MAC key", eab(&good_header, &jwk, b"not the key the CA holds"), 403, "unauthorized"),
        ("unknown kid", eab(&with("kid", "kid-2".into()), &jwk, EAB_KEY), 403, "unauthorized"),
        ("nonce in the binding", eab(&with("nonce", ca.nonce().await.into()), &jwk, EAB_KEY), 400, "malformed"),
        ("url other than newAccount", eab(&with("url", ca.url("newOrder").into()), &jwk, EAB_KEY), 400, "malformed"),
        ("no url", eab(&json!({ "alg": "HS256", "kid": EAB_KID }), &jwk, EAB_KEY), 400, "malformed"),
        ("payload is another key", eab(&good_header, &other.jwk().to_value(), EAB_KEY), 400, "malformed"),
        ("alg ES256 signed by the account key", es256, 400, "malformed"),
        ("alg none", alg_none, 400, "malformed"),
        ("binding is not a JWS object", json!("not a JWS"), 400, "malformed"),
    ];
    for (label, binding, status, kind) in cases {
        let payload = json!({ "termsOfServiceAgreed": true, "externalAccountBinding": binding });
        let r = ca.post_json(&k, None, &new_account, &payload).await;
        soft.problem(&r, status, kind, &format!("EAB {label}"));
        soft.problem(&ca.lookup(&k).await, 400, "accountDoesNotExist", &format!("lookup after EAB {label}"));
    }

    // The correct binding.
    let binding = eab(&good_header, &jwk, EAB_KEY);
    let r = ca.post_json(&k, None, &new_account, &json!({ "termsOfServiceAgreed": true, "externalAccountBinding": binding })).await;
    soft.check(r.status == 201 && r.location().is_some(), || format!("newAccount with a correct EAB: 201 with Location expected; got {}", show(&r)));
    let account = r.json().unwrap_or(Value::Null);
    soft.check(account["externalAccountBinding"] == binding, || {
        format!("the account's externalAccountBinding must equal the one sent ({binding}); account: {account}")
    });
    let r = ca.lookup(&k).await;
    soft.check(r.status == 200, || format!("onlyReturnExisting after a bound newAccount: 200 expected; got {}", show(&r)));
    soft.finish();
}

/// Without EAB keys: the directory says EAB is not required, and a binding in
/// newAccount (even one no key could verify) is ignored.
#[tokio::test]
async fn external_account_binding_ignored_when_not_configured() {
    let ca = Ca::valid(MockCaConfig::default()).await;
    let mut soft = Soft::default();
    soft.check(ca.dir["meta"]["externalAccountRequired"] == json!(false), || {
        format!("meta.externalAccountRequired must be false, directory: {}", ca.dir)
    });
    let k = key();
    let new_account = ca.url("newAccount");
    let binding = eab(&json!({ "alg": "HS256", "kid": "nobody", "url": new_account }), &k.jwk().to_value(), b"whatever");
    let r = ca.post_json(&k, None, &new_account, &json!({ "termsOfServiceAgreed": true, "externalAccountBinding": binding })).await;
    soft.check(r.status == 201, || format!("newAccount with an unrequested EAB: 201 expected; got {}", show(&r)));
    let account = r.json().unwrap_or(Value::Null);
    soft.check(account.get("externalAccountBinding").is_none(), || {
        format!("an ignored binding must not appear in the account: {account}")
    });
    let k2 = key();
    let r = ca.post_json(&k2, None, &new_account, &json!({ "termsOfServiceAgreed": true })).await;
    soft.check(r.status == 201, || format!("newAccount without EAB: 201 expected; got {}", show(&r)));
    soft.finish();
}

// =================================================================================
// 2. Orders list pagination (RFC 8555 §7.1.2.1)
// =================================================================================

#[tokio::test]
async fn orders_list_is_paginated_with_link_next() {
    let ca = Ca::valid(MockCaConfig { orders_per_page: 2, ..Default::default() }).await;
    let mut soft = Soft::default();
    let k = key();
    let kid = ca.new_account(&k).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(ca.new_order(&k, &kid, &[&format!("o{i}.example.com")]).await.0);
    }
    let account = expect_status(&ca.fetch(&k, &kid, &kid).await, 200, "account");
    let orders_url = account["orders"].as_str().expect("the account has an orders URL").to_owned();

    let mut seen: Vec<String> = Vec::new();
    let mut pages = 0;
    let mut next = Some(orders_url.clone());
    while let Some(url) = next.take() {
        pages += 1;
        assert!(pages <= 10, "more than 10 pages for 5 orders; seen {seen:?}");
        let r = ca.fetch(&k, &kid, &url).await;
        let page = expect_status(&r, 200, &format!("orders page {pages}"));
        let list = page["orders"].as_array().unwrap_or_else(|| panic!("page {pages} has no orders array: {page}"));
        soft.check(list.len() <= 2, || format!("page {pages} holds {} orders, more than orders_per_page 2", list.len()));
        seen.extend(list.iter().map(|u| u.as_str().expect("order URL string").to_owned()));
        let links = r.links_with_rel("next");
        soft.check(links.len() <= 1, || format!("page {pages} has several next links: {links:?}"));
        next = links.into_iter().next();
    }
    soft.check(pages == 3, || format!("5 orders at 2 per page must take 3 pages, took {pages}"));
    for url in &created {
        let n = seen.iter().filter(|s| *s == url).count();
        soft.check(n == 1, || format!("order {url} listed {n} times; listed: {seen:?}"));
    }
    soft.check(seen.len() == created.len(), || format!("{} URLs listed for {} orders: {seen:?}", seen.len(), created.len()));

    let k2 = key();
    let kid2 = ca.new_account(&k2).await;
    let r = ca.fetch(&k2, &kid2, &orders_url).await;
    soft.problem(&r, 403, "unauthorized", "another account's orders list");
    soft.finish();
}

// =================================================================================
// 3. Alternate chains (RFC 8555 §7.4.2)
// =================================================================================

async fn alternate_chains(n: usize) {
    let ca = Ca::valid(MockCaConfig { alternate_chains: n, ..Default::default() }).await;
    let mut soft = Soft::default();
    let k = key();
    let kid = ca.new_account(&k).await;
    let primary = ca.issue(&k, &kid, &["alt.example.com"]).await;
    let root_issuer = |chain: &[Vec<u8>]| x509(chain.last().unwrap()).issuer().to_string();
    let primary_root = root_issuer(&primary.chain);
    let alternates = primary.response.links_with_rel("alternate");
    soft.check(alternates.len() == n, || format!("{n} alternate chain(s) configured but {} Link rel=alternate: {alternates:?}", alternates.len()));
    let mut issuers = vec![primary_root.clone()];
    for url in &alternates {
        soft.check(*url != primary.cert_url, || format!("the primary certificate URL is listed as its own alternate: {url}"));
        let r = ca.fetch(&k, &kid, url).await;
        if r.status != 200 || r.media_type().as_deref() != Some("application/pem-certificate-chain") {
            soft.0.push(format!("alternate {url}: 200 application/pem-certificate-chain expected; got {}", show(&r)));
            continue;
        }
        let chain = pem_chain(&r.body);
        soft.check(chain.first() == primary.chain.first(), || format!("alternate {url}: its first certificate is not the primary's leaf"));
        for (i, pair) in chain.windows(2).enumerate() {
            let ok = x509(&pair[0]).verify_signature(Some(x509(&pair[1]).public_key())).is_ok();
            soft.check(ok, || format!("alternate {url}: certificate {} is not signed by certificate {}", i + 1, i + 2));
        }
        let issuer = root_issuer(&chain);
        soft.check(!issuers.contains(&issuer), || format!("alternate {url} leads to {issuer:?}, a root already offered ({issuers:?})"));
        issuers.push(issuer);
        // The alternate links back to the primary (and any other alternate).
        let back = r.links_with_rel("alternate");
        soft.check(back.contains(&primary.cert_url), || format!("alternate {url} does not link back to the primary: {back:?}"));
    }
    soft.finish();
}

#[tokio::test]
async fn one_alternate_chain() {
    alternate_chains(1).await;
}

#[tokio::test]
async fn two_alternate_chains() {
    alternate_chains(2).await;
}

// =================================================================================
// 4. The management listener
// =================================================================================

#[tokio::test]
async fn management_api() {
    let ca = Ca::valid(MockCaConfig { management_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))), ..Default::default() }).await;
    let mut soft = Soft::default();
    let m = ca.ca.management_url().expect("management URL");
    let plain = HttpClient::new(ClientOptions::default()).unwrap();
    let get = |path: String| {
        let plain = plain.clone();
        async move { plain.get(&path).await.unwrap_or_else(|e| panic!("GET {path}: {e}")) }
    };

    // Roots and intermediates.
    let root = get(format!("{m}/roots/0")).await;
    let root_chain = pem_chain(&root.body);
    assert!(root.status == 200 && root_chain.len() == 1, "GET /roots/0: one PEM certificate expected; got {}", show(&root));
    let intermediate = get(format!("{m}/intermediates/0")).await;
    let intermediate_chain = pem_chain(&intermediate.body);
    assert!(intermediate.status == 200 && intermediate_chain.len() == 1, "GET /intermediates/0: one PEM certificate expected; got {}", show(&intermediate));
    let (root_cert, int_cert) = (x509(&root_chain[0]), x509(&intermediate_chain[0]));
    soft.check(root_cert.is_ca() && root_cert.verify_signature(None).is_ok(), || "root 0 is not a self-signed CA certificate".into());
    soft.check(int_cert.verify_signature(Some(root_cert.public_key())).is_ok(), || "intermediate 0 is not signed by root 0".into());
    for path in ["/roots/99", "/intermediates/99"] {
        let r = get(format!("{m}{path}")).await;
        soft.check(r.status == 404, || format!("GET {path}: 404 expected; got {}", show(&r)));
    }

    // Certificate status by serial, before and after revocation.
    let k = key();
    let kid = ca.new_account(&k).await;
    let issued = ca.issue(&k, &kid, &["status.example.com"]).await;
    soft.check(issued.chain.get(1) == Some(&intermediate_chain[0]), || "the primary chain's intermediate is not /intermediates/0".into());
    let serial = hex(x509(&issued.chain[0]).raw_serial());
    let status_url = format!("{m}/cert-status-by-serial/{serial}");
    let r = get(status_url.clone()).await;
    let st = r.json().unwrap_or(Value::Null);
    soft.check(r.status == 200 && st["status"] == "valid", || format!("status of a fresh certificate: valid expected; got {}", show(&r)));
    let revoke = json!({ "certificate": b64::encode(&issued.chain[0]), "reason": 4 });
    let r = ca.post_json(&k, Some(&kid), &ca.url("revokeCert"), &revoke).await;
    assert_eq!(r.status, 200, "revokeCert: {}", show(&r));
    let r = get(status_url).await;
    let st = r.json().unwrap_or(Value::Null);
    soft.check(r.status == 200 && st["status"] == "revoked" && st["reason"] == 4, || {
        format!("status after revocation with reason 4: revoked/4 expected; got {}", show(&r))
    });
    let r = get(format!("{m}/cert-status-by-serial/0123456789abcdef0123456789abcdef")).await;
    soft.check(r.status == 404, || format!("status of an unknown serial: 404 expected; got {}", show(&r)));

    // Defects switched at runtime.
    let defects = |r: &Response| r.json().unwrap_or(Value::Null);
    let r = get(format!("{m}/defects")).await;
    soft.check(r.status == 200 && defects(&r) == json!([]), || format!("GET /defects: [] expected; got {}", show(&r)));
    let put = |body: Value| {
        let plain = plain.clone();
        let url = format!("{m}/defects");
        async move {
            let headers = [("content-type".to_owned(), "application/json".to_owned())];
            plain.send(Method::PUT, &url, &headers, Some(serde_json::to_vec(&body).unwrap())).await.expect("PUT /defects")
        }
    };
    // One newAccount JWS, replayed with its (then used) nonce.
    let replayed = key();
    let new_account = ca.url("newAccount");
    let h = acme_protected_header(replayed.alg(), &KeyId::Jwk(replayed.jwk().clone()), Some(&ca.nonce().await), &new_account);
    let body = signed(&replayed, &h, br#"{"termsOfServiceAgreed":true}"#);
    let r = ca.post(&new_account, body.clone()).await;
    assert_eq!(r.status, 201, "newAccount with a fresh nonce: {}", show(&r));
    soft.problem(&ca.post(&new_account, body.clone()).await, 400, "badNonce", "reused nonce before any defect");

    let r = put(json!(["accept-reused-nonce"])).await;
    soft.check(r.status == 200 && defects(&r) == json!(["accept-reused-nonce"]), || format!("PUT [accept-reused-nonce]: {}", show(&r)));
    soft.check(ca.ca.defects() == vec![Defect::AcceptReusedNonce], || format!("defects after PUT: {:?}", ca.ca.defects()));
    let r = get(format!("{m}/defects")).await;
    soft.check(defects(&r) == json!(["accept-reused-nonce"]), || format!("GET /defects after PUT: {}", show(&r)));
    let r = ca.post(&new_account, body.clone()).await;
    soft.check(r.status == 200, || format!("reused nonce under accept-reused-nonce: 200 (existing account) expected; got {}", show(&r)));

    let r = put(json!([])).await;
    soft.check(r.status == 200 && defects(&r) == json!([]), || format!("PUT []: {}", show(&r)));
    soft.problem(&ca.post(&new_account, body.clone()).await, 400, "badNonce", "reused nonce after PUT []");

    let r = put(json!(["no-such-defect"])).await;
    soft.check(r.status == 400, || format!("PUT an unknown defect: 400 expected; got {}", show(&r)));
    let r = put(json!({ "not": "an array" })).await;
    soft.check(r.status == 400, || format!("PUT a non-array: 400 expected; got {}", show(&r)));
    soft.check(ca.ca.defects().is_empty(), || format!("a refused PUT changed the defects: {:?}", ca.ca.defects()));
    soft.finish();
}

// =================================================================================
// 5. renewalInfo (RFC 9773 §4)
// =================================================================================

#[tokio::test]
async fn renewal_info() {
    let ca = Ca::valid(MockCaConfig::default()).await;
    let mut soft = Soft::default();
    let base = ca.url("renewalInfo");
    let k = key();
    let kid = ca.new_account(&k).await;
    let issued = ca.issue(&k, &kid, &["ari.example.com"]).await;
    let leaf = x509(&issued.chain[0]);
    let aki = b64::encode(aki_key_id(&leaf));
    let serial = b64::encode(leaf.raw_serial());
    let client = &ca;
    let get = |id: String| {
        let url = format!("{base}/{id}");
        async move { client.send(Method::GET, &url, None, None).await }
    };

    let r = get(format!("{aki}.{serial}")).await;
    assert_eq!(r.status, 200, "renewalInfo of an issued certificate: {}", show(&r));
    soft.check(r.media_type().as_deref() == Some("application/json"), || format!("renewalInfo Content-Type: {}", show(&r)));
    soft.check(r.retry_after().is_some(), || format!("renewalInfo has no valid Retry-After (RFC 9773 §4.3): {:?}", r.header("retry-after")));
    let info = r.json().expect("renewalInfo JSON");
    let time = |member: &str| {
        info["suggestedWindow"][member].as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    };
    match (time("start"), time("end")) {
        (Some(start), Some(end)) => {
            let (nb, na) = (leaf.validity().not_before.timestamp(), leaf.validity().not_after.timestamp());
            soft.check(start < end, || format!("suggestedWindow start {start} is not before end {end}"));
            soft.check(nb <= start.unix_timestamp() && end.unix_timestamp() <= na, || {
                format!("suggestedWindow {start}..{end} is not inside the validity {nb}..{na} (unix)")
            });
        }
        _ => soft.0.push(format!("suggestedWindow needs RFC 3339 start and end: {info}")),
    }

    // An unknown certificate: right AKI, a serial never issued; a known serial under
    // another authority key identifier names no certificate of this CA either.
    let r = get(format!("{aki}.{}", b64::encode([0x42u8; 16]))).await;
    if let Err(e) = problem_any(&r, 404, None, "renewalInfo of an unknown serial") {
        soft.0.push(e);
    }
    let r = get(format!("{}.{serial}", b64::encode([0x11u8; 20]))).await;
    soft.check(r.status == 404, || format!("renewalInfo with a known serial but a foreign AKI: 404 expected; got {}", show(&r)));

    for (label, id) in [
        ("no separator", format!("{aki}{serial}")),
        ("serial not base64url", format!("{aki}.!!!")),
        ("AKI not base64url", format!("!!!.{serial}")),
        ("empty AKI", format!(".{serial}")),
        ("empty serial", format!("{aki}.")),
        ("three parts", format!("{aki}.{serial}.{serial}")),
    ] {
        let r = get(id).await;
        soft.problem(&r, 400, "malformed", &format!("renewalInfo id with {label}"));
    }
    soft.finish();
}

// =================================================================================
// Certificate profiles (draft-ietf-acme-profiles)
// =================================================================================

/// The default profiles: advertised, echoed, issuing certificates that differ (common
/// name, validity), refusing what they do not allow with invalidProfile, and withdrawn
/// through the management listener; a CA configured without profiles ignores the field.
#[tokio::test]
async fn certificate_profiles() {
    let management = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let ca = Ca::valid(MockCaConfig { management_listen: management, ..Default::default() }).await;
    let mut soft = Soft::default();
    let names: Vec<&str> = ca.dir["meta"]["profiles"].as_object().map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(names, ["classic", "tlsserver", "shortlived"], "meta.profiles: {}", ca.dir["meta"]);
    let k = key();
    let kid = ca.new_account(&k).await;
    let common_name = |issued: &Issued| x509(&issued.chain[0]).subject().iter_common_name().next().is_some();
    let lifetime_hours = |issued: &Issued| {
        let leaf = x509(&issued.chain[0]);
        (leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp()) / 3600
    };
    for (profile, echoed, cn, hours) in
        [(None, "classic", true, 90 * 24), (Some("tlsserver"), "tlsserver", false, 90 * 24), (Some("shortlived"), "shortlived", false, 160)]
    {
        let (order, issued) = ca.issue_under(&k, &kid, &["profile.example.com"], profile).await;
        soft.check(order["profile"] == echoed, || format!("order for {profile:?}: profile {} instead of {echoed}", order["profile"]));
        soft.check(common_name(&issued) == cn, || format!("{echoed}: a common name {}expected", if cn { "" } else { "not " }));
        soft.check(lifetime_hours(&issued) == hours, || format!("{echoed}: {} hours of validity, not {hours}", lifetime_hours(&issued)));
    }
    let r = ca.request_order(&k, &kid, &["profile.example.com"], Some("unknown")).await;
    soft.problem(&r, 400, "invalidProfile", "newOrder naming a profile not advertised");
    let r = ca.request_order(&k, &kid, &["127.0.0.1"], Some("tlsserver")).await;
    soft.problem(&r, 400, "invalidProfile", "newOrder for an address under tlsserver (DNS names only)");
    let r = ca.request_order(&k, &kid, &["127.0.0.1"], None).await;
    soft.check(r.status == 201 && r.json().is_ok_and(|o| o["profile"] == "classic"), || format!("an address without a profile gets classic: {}", show(&r)));

    // Withdrawn while an order for it is open: gone from the directory, new orders and the
    // open order's finalization refused.
    let r = ca.request_order(&k, &kid, &["withdrawn.example.com"], Some("shortlived")).await;
    let open = expect_status(&r, 201, "newOrder under shortlived");
    let m = ca.ca.management_url().expect("management URL");
    let plain = reqwest::Client::new();
    let withdraw = |name: &str| plain.post(format!("{m}/withdraw-profile")).body(json!({ "profile": name }).to_string()).send();
    soft.check(withdraw("shortlived").await.is_ok_and(|r| r.status() == 204), || "POST /withdraw-profile shortlived: 204 expected".into());
    soft.check(withdraw("nope").await.is_ok_and(|r| r.status() == 404), || "POST /withdraw-profile of an unknown profile: 404 expected".into());
    let dir = expect_status(&ca.send(Method::GET, &ca.ca.directory_url(), None, None).await, 200, "directory");
    soft.check(dir["meta"]["profiles"].get("shortlived").is_none(), || format!("shortlived still advertised: {}", dir["meta"]));
    let r = ca.validate_and_finalize(&k, &kid, &open, &["withdrawn.example.com"]).await;
    soft.problem(&r, 400, "invalidProfile", "finalize under a withdrawn profile");
    let r = ca.request_order(&k, &kid, &["withdrawn.example.com"], Some("shortlived")).await;
    soft.problem(&r, 400, "invalidProfile", "newOrder naming a withdrawn profile");

    // A CA without the extension ignores the field, as an RFC 8555 server does any member it does not know.
    let plain_ca = Ca::valid(MockCaConfig { profiles: Vec::new(), ..Default::default() }).await;
    soft.check(plain_ca.dir["meta"].get("profiles").is_none(), || format!("no profiles configured, yet meta.profiles: {}", plain_ca.dir["meta"]));
    let kid = plain_ca.new_account(&k).await;
    let r = plain_ca.request_order(&k, &kid, &["plain.example.com"], Some("anything")).await;
    soft.check(r.status == 201 && r.json().is_ok_and(|o| o.get("profile").is_none()), || format!("a CA without profiles: {}", show(&r)));
    soft.finish();
}

// =================================================================================
// 6. The `serve` command line
// =================================================================================

/// Runs the acmespec binary, killing it if it does not exit within 60 s.
fn run_cli(args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("acmespec runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("acmespec {args:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn serve_list_defects_and_unknown_defect() {
    let out = run_cli(&["serve", "--list-defects"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "serve --list-defects: {:?}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let mut missing = Vec::new();
    for d in Defect::ALL {
        let listed = stdout.lines().any(|l| l.split_whitespace().next() == Some(d.name()) && l.contains(d.description()));
        if !listed || d.description().is_empty() {
            missing.push(d.name());
        }
    }
    assert!(missing.is_empty(), "defects not listed with their description: {missing:?}\n{stdout}");

    let out = run_cli(&["serve", "--defect", "no-such"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "serve --defect no-such must exit 2; stderr: {stderr}");
    assert!(stderr.contains("no-such"), "the error must name the unknown defect: {stderr}");

    for (args, says) in [
        (&["serve", "--profile", "a=one", "--profile", "a=two"][..], "--profile a: given more than once"),
        (&["serve", "--profile", "no-description"][..], "NAME=DESCRIPTION"),
        (&["serve", "--profile", "a=one", "--no-profiles"][..], "cannot be used with"),
    ] {
        let out = run_cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} must exit 2; stderr: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
