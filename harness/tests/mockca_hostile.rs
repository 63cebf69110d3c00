//! The mock CA against hostile clients: the JWS attack classes of the prior-art notes
//! (§C) and plain bad input, over real HTTPS. Every answer must be the problem document
//! RFC 8555 asks for (status, `application/problem+json`, the exact `type`, a
//! `Replay-Nonce`), never a panic or a hang, and the server must keep serving.
//!
//! Each test starts its own mock CA, builds a valid request with the protocol core and
//! breaks exactly one thing. Variants are checked softly and reported together, so one
//! failing variant does not hide the others.

use acmespec::mockca::{MockCa, MockCaConfig};
use acmespec::protocol::b64;
use acmespec::protocol::http::{ClientOptions, HttpClient, Response, install_crypto_provider};
use acmespec::protocol::jws::{Algorithm, FlattenedJws, KeyId, acme_protected_header};
use acmespec::protocol::keys::SigningKey;
use reqwest::Method;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Status, headers, header length and content length of a raw HTTP/1.1 response.
type ParsedHead = (u16, Vec<(String, String)>, usize, usize);
/// A named way of breaking a request body.
type BodyMutation = Box<dyn Fn(Vec<u8>) -> Vec<u8>>;

const ERROR_NS: &str = "urn:ietf:params:acme:error:";
const JOSE: &str = "application/jose+json";
const ACCOUNT: &[u8] = br#"{"termsOfServiceAgreed":true}"#;
const ORDER: &[u8] = br#"{"identifiers":[{"type":"dns","value":"example.com"}]}"#;
/// How long a stalled connection may stay open before the test calls it a hang.
const STALL_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------
// Soft assertions
// ---------------------------------------------------------------------------------

/// Collects failed checks and reports them all at the end of a test.
#[derive(Default)]
struct Soft(Vec<String>);

impl Soft {
    fn check(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            self.0.push(e);
        }
    }
    fn problem(&mut self, r: &Response, status: u16, kind: &str, what: &str) -> Option<Value> {
        match problem(r, status, kind, what) {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }
    fn bad_alg(&mut self, r: &Response, what: &str) {
        self.check(bad_alg(r, what));
    }
    #[track_caller]
    fn finish(self) {
        assert!(self.0.is_empty(), "{} check(s) failed:\n  - {}", self.0.len(), self.0.join("\n  - "));
    }
}

fn show(r: &Response) -> String {
    format!(
        "{} {} content-type={:?} body={}",
        r.status,
        r.url,
        r.header("content-type"),
        String::from_utf8_lossy(&r.body[..r.body.len().min(600)])
    )
}

/// Checks that `r` is the RFC 8555 §6.7 problem document for `kind` with `status`,
/// carrying a Replay-Nonce (§6.5: on every response, errors included).
fn problem(r: &Response, status: u16, kind: &str, what: &str) -> Result<Value, String> {
    let fail = |why: String| Err(format!("{what}: {why}; got {}", show(r)));
    if r.status != status {
        return fail(format!("status {} instead of {status}", r.status));
    }
    if r.media_type().as_deref() != Some("application/problem+json") {
        return fail("Content-Type is not application/problem+json".into());
    }
    match r.replay_nonce() {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {}
        other => return fail(format!("Replay-Nonce {other:?} missing or not base64url")),
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&r.body) else {
        return fail("the body is not JSON".into());
    };
    let want = format!("{ERROR_NS}{kind}");
    if doc.get("type").and_then(Value::as_str) != Some(want.as_str()) {
        return fail(format!("type {:?} instead of {want:?}", doc.get("type")));
    }
    if let Some(s) = doc.get("status")
        && s.as_u64() != Some(status as u64)
    {
        return fail(format!("problem status member {s} disagrees with HTTP {status}"));
    }
    if doc.get("detail").and_then(Value::as_str).is_none_or(|d| d.is_empty()) {
        return fail("no detail".into());
    }
    Ok(doc)
}

/// badSignatureAlgorithm with the `algorithms` array §6.2 requires.
fn bad_alg(r: &Response, what: &str) -> Result<(), String> {
    let doc = problem(r, 400, "badSignatureAlgorithm", what)?;
    let Some(algs) = doc.get("algorithms").and_then(Value::as_array) else {
        return Err(format!("{what}: badSignatureAlgorithm without an algorithms array: {doc}"));
    };
    let names: Vec<&str> = algs.iter().filter_map(Value::as_str).collect();
    if names.len() != algs.len() || !names.contains(&"ES256") || names.iter().any(|a| a.eq_ignore_ascii_case("none") || a.starts_with("HS")) {
        return Err(format!("{what}: algorithms must be alg names including ES256 and no none/MAC: {algs:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// JWS building blocks
// ---------------------------------------------------------------------------------

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg).expect("key generation")
}

fn enc(v: &impl serde::Serialize) -> String {
    b64::encode(serde_json::to_vec(v).expect("serializes"))
}

/// Signs the exact transmitted `protected.payload` strings with `key`.
fn sig(key: &SigningKey, protected: &str, payload: &str) -> String {
    b64::encode(key.sign(format!("{protected}.{payload}").as_bytes()))
}

fn jws(protected: &str, payload: &str, signature: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "protected": protected, "payload": payload, "signature": signature })).unwrap()
}

/// Signs a protected header given as raw JSON text (for duplicate members and the like).
fn jws_raw_header(key: &SigningKey, header_json: &str, payload: &[u8]) -> Vec<u8> {
    let p = b64::encode(header_json);
    let pl = b64::encode(payload);
    let s = sig(key, &p, &pl);
    jws(&p, &pl, &s)
}

fn signed(key: &SigningKey, header: &Map<String, Value>, payload: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&FlattenedJws::sign(key, header, payload).to_value()).unwrap()
}

fn hmac(alg: ring::hmac::Algorithm, secret: &[u8], protected: &str, payload: &str) -> String {
    let k = ring::hmac::Key::new(alg, secret);
    b64::encode(ring::hmac::sign(&k, format!("{protected}.{payload}").as_bytes()).as_ref())
}

fn json_str(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

// ---------------------------------------------------------------------------------
// A mock CA and a client for it
// ---------------------------------------------------------------------------------

struct Ca {
    ca: MockCa,
    http: HttpClient,
    dir: Value,
}

impl Ca {
    async fn start() -> Ca {
        let ca = MockCa::start(MockCaConfig { always_valid: true, ..Default::default() }).await.expect("mock CA starts");
        let http = HttpClient::new(ClientOptions {
            ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())],
            timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        })
        .unwrap();
        let r = http.get(&ca.directory_url()).await.expect("directory");
        assert_eq!(r.status, 200, "{}", show(&r));
        let dir = r.json().expect("directory JSON");
        Ca { ca, http, dir }
    }

    fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap_or_else(|| panic!("directory has no {name}")).to_owned()
    }

    fn base(&self) -> String {
        self.ca.directory_url().trim_end_matches("/directory").to_owned()
    }

    async fn nonce(&self) -> String {
        let r = self.http.head(&self.url("newNonce")).await.expect("newNonce");
        r.replay_nonce().expect("newNonce gives a Replay-Nonce").to_owned()
    }

    async fn send(&self, method: Method, url: &str, content_type: Option<&str>, body: Option<Vec<u8>>) -> Response {
        let headers: Vec<(String, String)> = content_type.map(|c| ("content-type".to_owned(), c.to_owned())).into_iter().collect();
        self.http
            .send(method.clone(), url, &headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: no response: {e}"))
    }

    async fn post(&self, url: &str, body: impl Into<Vec<u8>>) -> Response {
        self.send(Method::POST, url, Some(JOSE), Some(body.into())).await
    }

    /// A valid §6.2 protected header with a fresh nonce.
    async fn header(&self, key: &SigningKey, id: KeyId, url: &str) -> Map<String, Value> {
        let nonce = self.nonce().await;
        acme_protected_header(key.alg(), &id, Some(&nonce), url)
    }

    async fn jwk_header(&self, key: &SigningKey, url: &str) -> Map<String, Value> {
        self.header(key, KeyId::Jwk(key.jwk().clone()), url).await
    }

    async fn kid_header(&self, key: &SigningKey, kid: &str, url: &str) -> Map<String, Value> {
        self.header(key, KeyId::Kid(kid.to_owned()), url).await
    }

    /// Creates an account for `key`, returning its URL (the kid).
    async fn new_account(&self, key: &SigningKey) -> String {
        let url = self.url("newAccount");
        let h = self.jwk_header(key, &url).await;
        let r = self.post(&url, signed(key, &h, ACCOUNT)).await;
        assert_eq!(r.status, 201, "newAccount: {}", show(&r));
        r.location().expect("newAccount gives a Location")
    }

    /// The account's orders list (POST-as-GET), to prove an attack created nothing.
    async fn orders(&self, key: &SigningKey, kid: &str) -> Vec<Value> {
        let h = self.kid_header(key, kid, kid).await;
        let r = self.post(kid, signed(key, &h, b"")).await;
        assert_eq!(r.status, 200, "account: {}", show(&r));
        let orders_url = r.json().unwrap()["orders"].as_str().expect("account has orders").to_owned();
        let h = self.kid_header(key, kid, &orders_url).await;
        let r = self.post(&orders_url, signed(key, &h, b"")).await;
        assert_eq!(r.status, 200, "orders: {}", show(&r));
        r.json().unwrap()["orders"].as_array().cloned().expect("orders array")
    }

    /// The server still answers a normal directory GET and still creates an account.
    async fn assert_alive(&self) {
        let r = self.http.get(&self.ca.directory_url()).await.expect("directory after the attack");
        assert_eq!(r.status, 200, "directory after the attack: {}", show(&r));
        assert_eq!(r.json().unwrap()["newNonce"], self.dir["newNonce"]);
        self.new_account(&key(Algorithm::Es256)).await;
    }

    fn tls_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca.https_root_der().to_vec())).unwrap();
        let mut cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }

    /// A raw TLS connection, for what reqwest will not send.
    async fn tls(&self, alpn: &[&[u8]]) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.ca.addr()).await.expect("TCP connect");
        let name = ServerName::try_from("localhost").unwrap().to_owned();
        tokio_rustls::TlsConnector::from(self.tls_config(alpn)).connect(name, tcp).await.expect("TLS handshake")
    }

    fn host(&self) -> String {
        self.ca.addr().to_string()
    }
}

/// Reads until the peer closes (EOF or error), giving up after `limit`.
async fn read_until_closed<S: AsyncRead + Unpin>(s: &mut S, limit: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Err(got),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A response read off a raw HTTP/1.1 connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    /// As a protocol-core Response, so the same problem checks apply.
    fn into_response(self, url: &str) -> Response {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (reqwest::header::HeaderName::from_bytes(k.as_bytes()), reqwest::header::HeaderValue::from_str(v)) {
                headers.append(k, v);
            }
        }
        Response {
            method: reqwest::Method::POST,
            url: url.to_owned(),
            status: self.status,
            headers,
            body: self.body.into(),
            version: reqwest::Version::HTTP_11,
        }
    }
}

/// Reads one HTTP/1.1 response (Content-Length framed) within `limit`.
async fn read_response<S: AsyncRead + Unpin>(s: &mut S, limit: Duration) -> Result<RawResponse, String> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let mut parsed: Option<ParsedHead> = None;
    loop {
        if parsed.is_none()
            && let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap_or("");
            let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(format!("bad status line {status_line:?}"))?;
            let headers: Vec<(String, String)> =
                lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
            let len = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            parsed = Some((status, headers, end + 4, len));
        }
        if let Some((status, headers, start, len)) = &parsed
            && got.len() >= start + len
        {
            return Ok(RawResponse { status: *status, headers: headers.clone(), body: got[*start..start + len].to_vec() });
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Err(format!("no complete response within {limit:?}; got {:?}", String::from_utf8_lossy(&got))),
            Ok(Ok(0)) => return Err(format!("connection closed before a complete response; got {:?}", String::from_utf8_lossy(&got))),
            Ok(Err(e)) => return Err(format!("read error {e} before a complete response; got {:?}", String::from_utf8_lossy(&got))),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

// =================================================================================
// 1. JWS attack classes
// =================================================================================

/// `alg: none` (Wycheproof tcId 16) in every spelling, with and without a signature,
/// on a jwk resource and a kid resource: badSignatureAlgorithm with `algorithms`.
#[tokio::test]
async fn alg_none_is_bad_signature_algorithm() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let kid = ca.new_account(&k).await;
    let (new_account, new_order) = (ca.url("newAccount"), ca.url("newOrder"));
    let attacker = key(Algorithm::Es256);
    for (alg, signature) in [("none", ""), ("none", "AA"), ("None", ""), ("NONE", "AA"), ("nOnE", "")] {
        let mut h = ca.jwk_header(&attacker, &new_account).await;
        h.insert("alg".into(), alg.into());
        let r = ca.post(&new_account, jws(&enc(&h), &b64::encode(ACCOUNT), signature)).await;
        soft.bad_alg(&r, &format!("newAccount alg {alg:?} signature {signature:?}"));

        let mut h = ca.kid_header(&k, &kid, &new_order).await;
        h.insert("alg".into(), alg.into());
        let r = ca.post(&new_order, jws(&enc(&h), &b64::encode(ORDER), signature)).await;
        soft.bad_alg(&r, &format!("newOrder (kid) alg {alg:?} signature {signature:?}"));
    }
    soft.check(if ca.orders(&k, &kid).await.is_empty() { Ok(()) } else { Err("an alg:none newOrder created an order".into()) });
    ca.assert_alive().await;
    soft.finish();
}

/// MAC algorithms (§6.2 forbids them) and unregistered or mis-cased names are
/// badSignatureAlgorithm; a missing or non-string alg is malformed.
#[tokio::test]
async fn mac_and_unknown_algorithms_are_refused() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let url = ca.url("newAccount");
    let payload = b64::encode(ACCOUNT);
    for (name, alg) in [("HS256", ring::hmac::HMAC_SHA256), ("HS384", ring::hmac::HMAC_SHA384), ("HS512", ring::hmac::HMAC_SHA512)] {
        let mut h = ca.jwk_header(&k, &url).await;
        h.insert("alg".into(), name.into());
        let p = enc(&h);
        let r = ca.post(&url, jws(&p, &payload, &hmac(alg, b"attacker-chosen secret", &p, &payload))).await;
        soft.bad_alg(&r, &format!("newAccount alg {name}"));
    }
    for name in ["es256", "ES256 ", "", "RS1", "ES512", "PS512", "Ed25519", "ES256K"] {
        let mut h = ca.jwk_header(&k, &url).await;
        h.insert("alg".into(), name.into());
        let p = enc(&h);
        let r = ca.post(&url, jws(&p, &payload, &sig(&k, &p, &payload))).await;
        soft.bad_alg(&r, &format!("newAccount alg {name:?}"));
    }
    for (label, alg) in [("absent", None), ("numeric", Some(json!(256))), ("null", Some(Value::Null)), ("array", Some(json!(["ES256"])))] {
        let mut h = ca.jwk_header(&k, &url).await;
        match alg {
            None => h.remove("alg"),
            Some(v) => h.insert("alg".into(), v),
        };
        let p = enc(&h);
        let r = ca.post(&url, jws(&p, &payload, &sig(&k, &p, &payload))).await;
        soft.problem(&r, 400, "malformed", &format!("newAccount alg {label}"));
    }
    ca.assert_alive().await;
    soft.finish();
}

/// HMAC-with-public-key confusion (Wycheproof tcId 31): HS256 keyed with the account's
/// public key in the forms a confused verifier might use. Must be
/// badSignatureAlgorithm, and no order may come of it.
#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let kid = ca.new_account(&k).await;
    let new_order = ca.url("newOrder");
    let jwk = k.jwk().to_value();
    let point = [&[4u8][..], &b64::decode(jwk["x"].as_str().unwrap()).unwrap(), &b64::decode(jwk["y"].as_str().unwrap()).unwrap()].concat();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("JWK JSON", json_str(&jwk).into_bytes()),
        ("SEC1 point", point),
        ("RFC 7638 thumbprint", k.jwk().thumbprint().into_bytes()),
    ];
    let payload = b64::encode(ORDER);
    for (label, secret) in &secrets {
        let mut h = ca.kid_header(&k, &kid, &new_order).await;
        h.insert("alg".into(), "HS256".into());
        let p = enc(&h);
        let r = ca.post(&new_order, jws(&p, &payload, &hmac(ring::hmac::HMAC_SHA256, secret, &p, &payload))).await;
        soft.bad_alg(&r, &format!("newOrder HS256 keyed with the account's {label}"));
    }
    // The same on newAccount with an RSA jwk: HMAC keyed with the modulus bytes.
    let rsa = key(Algorithm::Rs256);
    let n = b64::decode(rsa.jwk().to_value()["n"].as_str().unwrap()).unwrap();
    let url = ca.url("newAccount");
    let mut h = ca.jwk_header(&rsa, &url).await;
    h.insert("alg".into(), "HS256".into());
    let p = enc(&h);
    let pl = b64::encode(ACCOUNT);
    let r = ca.post(&url, jws(&p, &pl, &hmac(ring::hmac::HMAC_SHA256, &n, &p, &pl))).await;
    soft.bad_alg(&r, "newAccount HS256 keyed with the RSA jwk's modulus");
    soft.check(if ca.orders(&k, &kid).await.is_empty() { Ok(()) } else { Err("an HMAC-confused newOrder created an order".into()) });
    ca.assert_alive().await;
    soft.finish();
}

/// An attacker-embedded jwk (CVE-2018-0114, Wycheproof tcId 32) on resources that
/// §6.2 says need a kid: malformed, never "verified with the key it brought".
#[tokio::test]
async fn embedded_jwk_on_kid_resources_is_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let victim = key(Algorithm::Es256);
    let kid = ca.new_account(&victim).await;
    let attacker = key(Algorithm::Es256);
    let new_order = ca.url("newOrder");

    let h = ca.jwk_header(&attacker, &new_order).await;
    let r = ca.post(&new_order, signed(&attacker, &h, ORDER)).await;
    soft.problem(&r, 400, "malformed", "newOrder with an attacker's jwk instead of a kid");

    let h = ca.jwk_header(&victim, &new_order).await;
    let r = ca.post(&new_order, signed(&victim, &h, ORDER)).await;
    soft.problem(&r, 400, "malformed", "newOrder with the account's own jwk instead of its kid");

    let h = ca.jwk_header(&attacker, &kid).await;
    let r = ca.post(&kid, signed(&attacker, &h, br#"{"status":"deactivated"}"#)).await;
    soft.problem(&r, 400, "malformed", "account deactivation with an attacker's jwk");

    let key_change = ca.url("keyChange");
    let h = ca.jwk_header(&attacker, &key_change).await;
    let r = ca.post(&key_change, signed(&attacker, &h, b"{}")).await;
    soft.problem(&r, 400, "malformed", "keyChange with an attacker's jwk");

    soft.check(if ca.orders(&victim, &kid).await.is_empty() { Ok(()) } else { Err("an embedded-jwk newOrder created an order".into()) });
    ca.assert_alive().await;
    soft.finish();
}

/// jwk and kid together: §6.2 "Servers MUST reject requests that contain both".
#[tokio::test]
async fn jwk_and_kid_together_are_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let kid = ca.new_account(&k).await;
    for (resource, payload) in [("newAccount", ACCOUNT), ("newOrder", ORDER), ("revokeCert", br#"{"certificate":"AA"}"#.as_slice())] {
        let url = ca.url(resource);
        let mut h = ca.kid_header(&k, &kid, &url).await;
        h.insert("jwk".into(), k.jwk().to_value());
        let r = ca.post(&url, signed(&k, &h, payload)).await;
        soft.problem(&r, 400, "malformed", &format!("{resource} with both jwk and kid"));
    }
    ca.assert_alive().await;
    soft.finish();
}

/// Private key material in the embedded jwk (a MixedKeySet): badPublicKey.
#[tokio::test]
async fn private_key_material_in_jwk_is_bad_public_key() {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PrivateKeyParts;
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");

    // EC: a "d" member next to the public key.
    let ec = key(Algorithm::Es256);
    let mut jwk = ec.jwk().to_value();
    jwk["d"] = b64::encode([7u8; 32]).into();
    let mut h = ca.jwk_header(&ec, &url).await;
    h.insert("jwk".into(), jwk);
    let r = ca.post(&url, signed(&ec, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "badPublicKey", "ES256 jwk with a d member");

    // RSA: the real private exponent and primes of the signing key.
    let pem = include_str!("../../fixtures/keys/rsa2048.pk8.pem");
    let rsa_key = SigningKey::from_pkcs8_pem(Algorithm::Rs256, pem).unwrap();
    let private = rsa::PrivateKey::from_pkcs8_pem(pem).unwrap();
    let mut jwk = rsa_key.jwk().to_value();
    jwk["d"] = b64::encode(private.d().to_be_bytes()).into();
    jwk["p"] = b64::encode(private.primes()[0].to_be_bytes()).into();
    jwk["q"] = b64::encode(private.primes()[1].to_be_bytes()).into();
    let mut h = ca.jwk_header(&rsa_key, &url).await;
    h.insert("jwk".into(), jwk);
    let r = ca.post(&url, signed(&rsa_key, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "badPublicKey", "RS256 jwk with d, p, q");

    // A symmetric key (kty oct, k) offered as the account key.
    let mut h = ca.jwk_header(&ec, &url).await;
    h.insert("jwk".into(), json!({"kty": "oct", "k": b64::encode(b"secret")}));
    let r = ca.post(&url, signed(&ec, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "badPublicKey", "jwk of kty oct");
    ca.assert_alive().await;
    soft.finish();
}

/// The unencoded payload option (RFC 7797, forbidden by §6.2) and `crit`: malformed.
#[tokio::test]
async fn b64_false_and_crit_are_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let url = ca.url("newAccount");
    let raw_payload = std::str::from_utf8(ACCOUNT).unwrap();

    // b64:false with crit, signed as RFC 7797 prescribes (payload not encoded).
    let mut h = ca.jwk_header(&k, &url).await;
    h.insert("b64".into(), false.into());
    h.insert("crit".into(), json!(["b64"]));
    let p = enc(&h);
    let s = b64::encode(k.sign(format!("{p}.{raw_payload}").as_bytes()));
    let r = ca.post(&url, jws(&p, raw_payload, &s)).await;
    soft.problem(&r, 400, "malformed", "b64:false + crit with an unencoded payload");

    // b64:false + crit with an encoded payload (to reach the header check itself).
    let mut h = ca.jwk_header(&k, &url).await;
    h.insert("b64".into(), false.into());
    h.insert("crit".into(), json!(["b64"]));
    let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "malformed", "b64:false + crit with an encoded payload");

    // b64:false without crit.
    let mut h = ca.jwk_header(&k, &url).await;
    h.insert("b64".into(), false.into());
    let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "malformed", "b64:false without crit");

    // crit alone: naming an unknown extension (present), a missing one, and empty.
    for (label, crit, extra) in [
        ("crit naming an unknown extension", json!(["urn:example:ext"]), Some(("urn:example:ext", json!(1)))),
        ("crit naming an absent parameter", json!(["exp"]), None),
        ("crit naming b64 without b64", json!(["b64"]), None),
        ("empty crit", json!([]), None),
        ("crit that is not an array", json!("b64"), None),
    ] {
        let mut h = ca.jwk_header(&k, &url).await;
        h.insert("crit".into(), crit);
        if let Some((name, v)) = extra {
            h.insert(name.into(), v);
        }
        let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
        soft.problem(&r, 400, "malformed", label);
    }
    ca.assert_alive().await;
    soft.finish();
}

/// Duplicate member names (jwx#2234, boulder#82): in the protected header, at the top
/// level of the JWS, and in the payload. Each is malformed, whatever order.
#[tokio::test]
async fn duplicate_members_are_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let kid = ca.new_account(&k).await;
    let url = ca.url("newAccount");
    let jwk = json_str(&k.jwk().to_value());
    let other_jwk = json_str(&key(Algorithm::Es256).jwk().to_value());

    let cases: Vec<(&str, String)> = {
        let (n1, n2, n3, n4) = (ca.nonce().await, ca.nonce().await, ca.nonce().await, ca.nonce().await);
        vec![
            ("alg twice (none first)", format!(r#"{{"alg":"none","alg":"ES256","jwk":{jwk},"nonce":"{n1}","url":"{url}"}}"#)),
            ("alg twice (none last)", format!(r#"{{"alg":"ES256","alg":"none","jwk":{jwk},"nonce":"{n2}","url":"{url}"}}"#)),
            ("nonce twice", format!(r#"{{"alg":"ES256","jwk":{jwk},"nonce":"{n3}","nonce":"{n4}","url":"{url}"}}"#)),
            ("url twice", {
                let n = ca.nonce().await;
                format!(r#"{{"alg":"ES256","jwk":{jwk},"nonce":"{n}","url":"https://evil.example/","url":"{url}"}}"#)
            }),
            ("jwk twice", {
                let n = ca.nonce().await;
                format!(r#"{{"alg":"ES256","jwk":{other_jwk},"jwk":{jwk},"nonce":"{n}","url":"{url}"}}"#)
            }),
            ("duplicate inside the jwk", {
                let n = ca.nonce().await;
                let v = k.jwk().to_value();
                let dup_jwk = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","x":"{}","y":"{}"}}"#, b64::encode([1u8; 32]), v["x"].as_str().unwrap(), v["y"].as_str().unwrap());
                format!(r#"{{"alg":"ES256","jwk":{dup_jwk},"nonce":"{n}","url":"{url}"}}"#)
            }),
        ]
    };
    for (label, header) in &cases {
        let r = ca.post(&url, jws_raw_header(&k, header, ACCOUNT)).await;
        soft.problem(&r, 400, "malformed", &format!("protected header with {label}"));
    }

    // Top-level duplicates: the second copy of each member carries a different value.
    let h = ca.jwk_header(&k, &url).await;
    let good = FlattenedJws::sign(&k, &h, ACCOUNT);
    let other = FlattenedJws::sign(&k, &ca.jwk_header(&k, &url).await, br#"{"termsOfServiceAgreed":false}"#);
    for member in ["protected", "payload", "signature"] {
        let get = |j: &FlattenedJws| match member {
            "protected" => j.protected.clone(),
            "payload" => j.payload.clone(),
            _ => j.signature.clone(),
        };
        let body = format!(
            r#"{{"protected":"{}","payload":"{}","signature":"{}","{member}":"{}"}}"#,
            good.protected, good.payload, good.signature, get(&other)
        );
        let r = ca.post(&url, body).await;
        soft.problem(&r, 400, "malformed", &format!("top-level {member} twice"));
    }

    // A duplicate inside a signed payload.
    let new_order = ca.url("newOrder");
    let h = ca.kid_header(&k, &kid, &new_order).await;
    let payload = br#"{"identifiers":[{"type":"dns","value":"example.com"}],"identifiers":[{"type":"dns","value":"evil.example"}]}"#;
    let r = ca.post(&new_order, signed(&k, &h, payload)).await;
    soft.problem(&r, 400, "malformed", "newOrder payload with identifiers twice");
    soft.check(if ca.orders(&k, &kid).await.is_empty() { Ok(()) } else { Err("a duplicate-member newOrder created an order".into()) });
    ca.assert_alive().await;
    soft.finish();
}

/// Security parameters in the unprotected `header` (boulder#2940): malformed, even when
/// the protected header alone would be valid.
#[tokio::test]
async fn unprotected_header_is_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let kid = ca.new_account(&k).await;
    let url = ca.url("newAccount");
    let attacker = key(Algorithm::Es256);
    let fresh = ca.nonce().await;
    let cases = [
        ("nonce", json!({ "nonce": fresh })),
        ("alg none", json!({ "alg": "none" })),
        ("kid", json!({ "kid": kid })),
        ("jwk", json!({ "jwk": attacker.jwk().to_value() })),
        ("url", json!({ "url": "https://evil.example/" })),
        ("empty object", json!({})),
        ("non-object", json!("x")),
    ];
    for (label, header) in cases {
        let h = ca.jwk_header(&k, &url).await;
        let mut body = FlattenedJws::sign(&k, &h, ACCOUNT).to_value();
        body["header"] = header;
        let r = ca.post(&url, serde_json::to_vec(&body).unwrap()).await;
        soft.problem(&r, 400, "malformed", &format!("unprotected header with {label}"));
    }
    ca.assert_alive().await;
    soft.finish();
}

/// The general serialization (a `signatures` array), with one or two signatures and
/// with `header` beside it: malformed (§6.2: flattened only, one signature).
#[tokio::test]
async fn general_serialization_is_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let other = key(Algorithm::Es256);
    let url = ca.url("newAccount");

    let one = FlattenedJws::sign(&k, &ca.jwk_header(&k, &url).await, ACCOUNT);
    let body = json!({ "payload": one.payload, "signatures": [{ "protected": one.protected, "signature": one.signature }] });
    let r = ca.post(&url, serde_json::to_vec(&body).unwrap()).await;
    soft.problem(&r, 400, "malformed", "general serialization, one signature");

    let a = FlattenedJws::sign(&k, &ca.jwk_header(&k, &url).await, ACCOUNT);
    let b_header = ca.jwk_header(&other, &url).await;
    let b_protected = enc(&b_header);
    let b_sig = sig(&other, &b_protected, &a.payload);
    let body = json!({ "payload": a.payload, "signatures": [
        { "protected": a.protected, "signature": a.signature },
        { "protected": b_protected, "signature": b_sig },
    ]});
    let r = ca.post(&url, serde_json::to_vec(&body).unwrap()).await;
    soft.problem(&r, 400, "malformed", "general serialization, two signatures");

    let c = FlattenedJws::sign(&k, &ca.jwk_header(&k, &url).await, ACCOUNT);
    let body = json!({ "payload": c.payload, "header": { "alg": "none" },
        "signatures": [{ "protected": c.protected, "signature": c.signature }] });
    let r = ca.post(&url, serde_json::to_vec(&body).unwrap()).await;
    soft.problem(&r, 400, "malformed", "general serialization with a top-level header");

    // Flattened members and a signatures array in one body.
    let d = FlattenedJws::sign(&k, &ca.jwk_header(&k, &url).await, ACCOUNT);
    let mut body = d.to_value();
    body["signatures"] = json!([{ "protected": d.protected, "signature": d.signature }]);
    let r = ca.post(&url, serde_json::to_vec(&body).unwrap()).await;
    soft.problem(&r, 400, "malformed", "flattened members beside a signatures array");

    // The compact serialization is not JSON at all.
    let e = FlattenedJws::sign(&k, &ca.jwk_header(&k, &url).await, ACCOUNT);
    let r = ca.post(&url, format!("{}.{}.{}", e.protected, e.payload, e.signature)).await;
    soft.problem(&r, 400, "malformed", "compact serialization");
    ca.assert_alive().await;
    soft.finish();
}

/// Parser differentials (boulder#82): trailing data, a byte-order mark, a second
/// object. Malformed. Trailing whitespace is still valid JSON and must be accepted.
#[tokio::test]
async fn trailing_data_and_bom_are_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");
    let mut variants: Vec<(&str, BodyMutation)> = vec![
        ("trailing garbage", Box::new(|b| [b, b" x".to_vec()].concat())),
        ("a second object", Box::new(|b| [b.clone(), b].concat())),
        ("trailing NUL", Box::new(|b| [b, vec![0]].concat())),
        ("a UTF-8 BOM prefix", Box::new(|b| [b"\xef\xbb\xbf".to_vec(), b].concat())),
        ("a UTF-16 BOM prefix", Box::new(|b| [b"\xfe\xff".to_vec(), b].concat())),
    ];
    for (label, mutate) in variants.drain(..) {
        let k = key(Algorithm::Es256);
        let h = ca.jwk_header(&k, &url).await;
        let r = ca.post(&url, mutate(signed(&k, &h, ACCOUNT))).await;
        soft.problem(&r, 400, "malformed", &format!("JWS body with {label}"));
    }
    // Inside the protected header too (it is JSON of its own).
    let k = key(Algorithm::Es256);
    let h = ca.jwk_header(&k, &url).await;
    for (label, header) in [("trailing garbage", format!("{} x", json_str(&Value::Object(h.clone())))), ("a BOM", format!("\u{feff}{}", json_str(&Value::Object(h.clone()))))] {
        let r = ca.post(&url, jws_raw_header(&k, &header, ACCOUNT)).await;
        soft.problem(&r, 400, "malformed", &format!("protected header with {label}"));
    }
    // Control: trailing whitespace is legal JSON.
    let k = key(Algorithm::Es256);
    let h = ca.jwk_header(&k, &url).await;
    let r = ca.post(&url, [signed(&k, &h, ACCOUNT), b" \r\n".to_vec()].concat()).await;
    soft.check(if r.status == 201 { Ok(()) } else { Err(format!("trailing whitespace is valid JSON and must be accepted: {}", show(&r))) });
    ca.assert_alive().await;
    soft.finish();
}

/// Padded base64url and the standard alphabet in each member (RFC 7515 §2): malformed.
#[tokio::test]
async fn padded_or_standard_base64_is_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");
    let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
    // protected: add trailing spaces to the header JSON until its encoding needs padding.
    let k = key(Algorithm::Es256);
    let h = ca.jwk_header(&k, &url).await;
    let mut text = json_str(&Value::Object(h));
    while text.len().is_multiple_of(3) {
        text.push(' ');
    }
    let p = pad(&b64::encode(&text));
    let pl = b64::encode(ACCOUNT);
    let r = ca.post(&url, jws(&p, &pl, &sig(&k, &p, &pl))).await;
    soft.problem(&r, 400, "malformed", "padded protected");
    // payload: 29 bytes, so its encoding needs one '='.
    assert_ne!(ACCOUNT.len() % 3, 0);
    let k = key(Algorithm::Es256);
    let p = enc(&ca.jwk_header(&k, &url).await);
    let pl = pad(&b64::encode(ACCOUNT));
    let r = ca.post(&url, jws(&p, &pl, &sig(&k, &p, &pl))).await;
    soft.problem(&r, 400, "malformed", "padded payload");
    // signature: 64 bytes, so two '='.
    let k = key(Algorithm::Es256);
    let p = enc(&ca.jwk_header(&k, &url).await);
    let pl = b64::encode(ACCOUNT);
    let r = ca.post(&url, jws(&p, &pl, &pad(&sig(&k, &p, &pl)))).await;
    soft.problem(&r, 400, "malformed", "padded signature");
    // signature in the standard alphabet (retry until it has a '+' or '/').
    use base64::Engine as _;
    let k = key(Algorithm::Es256);
    let p = enc(&ca.jwk_header(&k, &url).await);
    let std_sig = (0..200)
        .map(|_| base64::engine::general_purpose::STANDARD_NO_PAD.encode(k.sign(format!("{p}.{pl}").as_bytes())))
        .find(|s| s.contains('+') || s.contains('/'))
        .expect("some ECDSA signature has + or / in standard base64");
    let r = ca.post(&url, jws(&p, &pl, &std_sig)).await;
    soft.problem(&r, 400, "malformed", "signature in the standard base64 alphabet");
    // padding inside the jwk: badPublicKey or malformed are both refusals of the key;
    // RFC 8555 §6.2 names badPublicKey for a jwk the server will not use.
    let k = key(Algorithm::Es256);
    let mut h = ca.jwk_header(&k, &url).await;
    let mut jwk = k.jwk().to_value();
    let x = jwk["x"].as_str().unwrap().to_owned();
    assert_ne!(x.len() % 4, 0, "a 32-byte coordinate encodes to 43 characters");
    jwk["x"] = pad(&x).into();
    h.insert("jwk".into(), jwk);
    let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "badPublicKey", "jwk x with padding");
    ca.assert_alive().await;
    soft.finish();
}

/// An alg that does not fit the embedded key: badPublicKey (§6.2 examples).
#[tokio::test]
async fn alg_key_mismatch_is_bad_public_key() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");
    for (alg, signer) in [
        (Algorithm::Es256, Algorithm::Es384),
        (Algorithm::Es384, Algorithm::Es256),
        (Algorithm::Rs256, Algorithm::Es256),
        (Algorithm::Es256, Algorithm::EdDsa),
        (Algorithm::EdDsa, Algorithm::Es256),
        (Algorithm::Es256, Algorithm::Rs256),
    ] {
        let k = key(signer);
        let mut h = ca.jwk_header(&k, &url).await;
        h.insert("alg".into(), alg.name().into());
        let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
        soft.problem(&r, 400, "badPublicKey", &format!("alg {} with a {} jwk", alg.name(), k.jwk().describe()));
    }
    ca.assert_alive().await;
    soft.finish();
}

/// Keys the server must refuse as badPublicKey (§6.2's own examples and Wycheproof's
/// json_web_key_test): an ES256 point not on P-256, Ed448, RSA with e = 1, bad lengths.
#[tokio::test]
async fn invalid_public_keys_are_bad_public_key() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");

    let ec = key(Algorithm::Es256);
    let off_curve = json!({"crv":"P-256","kty":"EC","x":b64::encode([1u8; 32]),"y":b64::encode([2u8; 32])});
    let mut short = ec.jwk().to_value();
    short["x"] = b64::encode([1u8; 31]).into();
    let cases = [
        ("an ES256 jwk that is not a P-256 point", Algorithm::Es256, off_curve),
        ("an ES256 jwk with a 31-byte x", Algorithm::Es256, short),
        ("an ES256 jwk on P-521", Algorithm::Es256, json!({"crv":"P-521","kty":"EC","x":b64::encode([1u8; 66]),"y":b64::encode([2u8; 66])})),
        ("an EdDSA jwk on Ed448", Algorithm::EdDsa, json!({"crv":"Ed448","kty":"OKP","x":b64::encode([3u8; 57])})),
        ("a jwk of unknown kty", Algorithm::Es256, json!({"kty":"XYZ","x":"AA"})),
        ("a jwk without kty", Algorithm::Es256, json!({"crv":"P-256","x":b64::encode([1u8; 32]),"y":b64::encode([2u8; 32])})),
        ("a jwk that is a string", Algorithm::Es256, json!("not a key")),
    ];
    for (label, alg, jwk) in cases {
        let signer = if alg == Algorithm::EdDsa { key(Algorithm::EdDsa) } else { ec.clone() };
        let mut h = ca.jwk_header(&signer, &url).await;
        h.insert("jwk".into(), jwk);
        let r = ca.post(&url, signed(&signer, &h, ACCOUNT)).await;
        soft.problem(&r, 400, "badPublicKey", label);
    }

    // RSA with e = 1 (Wycheproof "exponent one"): the signature is the padded message
    // itself, which verifies textbook-style; the key must be refused, not the signature.
    let pem = include_str!("../../fixtures/keys/rsa2048.pk8.pem");
    let rsa_key = SigningKey::from_pkcs8_pem(Algorithm::Rs256, pem).unwrap();
    let mut jwk = rsa_key.jwk().to_value();
    jwk["e"] = b64::encode([1u8]).into();
    let n_len = b64::decode(jwk["n"].as_str().unwrap()).unwrap().len();
    let mut h = ca.jwk_header(&rsa_key, &url).await;
    h.insert("jwk".into(), jwk);
    let p = enc(&h);
    let pl = b64::encode(ACCOUNT);
    let em = pkcs1_sha256_encoded(format!("{p}.{pl}").as_bytes(), n_len);
    let r = ca.post(&url, jws(&p, &pl, &b64::encode(em))).await;
    soft.problem(&r, 400, "badPublicKey", "an RSA jwk with e = 1");
    ca.assert_alive().await;
    soft.finish();
}

/// EMSA-PKCS1-v1_5 encoding of SHA-256(message) for a modulus of `k` bytes.
fn pkcs1_sha256_encoded(message: &[u8], k: usize) -> Vec<u8> {
    let t = sha256_digest_info(message);
    let mut em = vec![0x00, 0x01];
    em.extend(std::iter::repeat_n(0xff, k - t.len() - 3));
    em.push(0x00);
    em.extend(t);
    em
}

/// DER DigestInfo of SHA-256(message) (RFC 8017 §9.2 note 1).
fn sha256_digest_info(message: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 19] = [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];
    [&PREFIX[..], ring::digest::digest(&ring::digest::SHA256, message).as_ref()].concat()
}

/// A 1024-bit RSA key with a genuinely valid RS256 signature: badPublicKey (§6.2's
/// "modulus too small"), on newAccount and on revokeCert by certificate key.
#[tokio::test]
async fn rsa_1024_is_bad_public_key() {
    use rsa::traits::PublicKeyParts;
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let weak = tokio::task::spawn_blocking(|| rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).expect("RSA-1024"))
        .await
        .unwrap();
    let (n, e) = (weak.n_bytes(), weak.e_bytes());
    assert_eq!(n.len(), 128);
    let jwk = json!({ "e": b64::encode(&e), "kty": "RSA", "n": b64::encode(&n) });
    for (resource, payload) in [("newAccount", ACCOUNT), ("revokeCert", br#"{"certificate":"AA"}"#.as_slice())] {
        let url = ca.url(resource);
        let nonce = ca.nonce().await;
        let h = json!({ "alg": "RS256", "jwk": jwk, "nonce": nonce, "url": url });
        let p = enc(&h);
        let pl = b64::encode(payload);
        let input = format!("{p}.{pl}");
        let signature = weak.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &sha256_digest_info(input.as_bytes())).unwrap();
        // The signature really is valid, so only the key size can be refused.
        ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, input.as_bytes(), &signature)
            .expect("the RSA-1024 signature verifies");
        let r = ca.post(&url, jws(&p, &pl, &b64::encode(&signature))).await;
        soft.problem(&r, 400, "badPublicKey", &format!("{resource} with a 1024-bit RSA jwk"));
    }
    ca.assert_alive().await;
    soft.finish();
}

/// Nonce abuse (§6.5): reused, invented, missing → badNonce; not base64url → malformed.
/// The badNonce answer's own Replay-Nonce must be usable for the retry (§6.5).
#[tokio::test]
async fn nonce_abuse() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");

    // Reused: the first use succeeds, the second is badNonce.
    let nonce = ca.nonce().await;
    let (a, b) = (key(Algorithm::Es256), key(Algorithm::Es256));
    let r = ca.post(&url, signed(&a, &acme_protected_header(a.alg(), &KeyId::Jwk(a.jwk().clone()), Some(&nonce), &url), ACCOUNT)).await;
    assert_eq!(r.status, 201, "first use of a nonce: {}", show(&r));
    let r = ca.post(&url, signed(&b, &acme_protected_header(b.alg(), &KeyId::Jwk(b.jwk().clone()), Some(&nonce), &url), ACCOUNT)).await;
    if soft.problem(&r, 400, "badNonce", "reused nonce").is_some() {
        // The retry with the nonce of the badNonce response goes through.
        let fresh = r.replay_nonce().unwrap().to_owned();
        let r = ca.post(&url, signed(&b, &acme_protected_header(b.alg(), &KeyId::Jwk(b.jwk().clone()), Some(&fresh), &url), ACCOUNT)).await;
        soft.check(if r.status == 201 { Ok(()) } else { Err(format!("retry with the badNonce response's Replay-Nonce failed: {}", show(&r))) });
    }

    // Reused concurrently: exactly one of two racing requests may win.
    let nonce = ca.nonce().await;
    let (c, d) = (key(Algorithm::Es256), key(Algorithm::Es256));
    let body_c = signed(&c, &acme_protected_header(c.alg(), &KeyId::Jwk(c.jwk().clone()), Some(&nonce), &url), ACCOUNT);
    let body_d = signed(&d, &acme_protected_header(d.alg(), &KeyId::Jwk(d.jwk().clone()), Some(&nonce), &url), ACCOUNT);
    let (rc, rd) = tokio::join!(ca.post(&url, body_c), ca.post(&url, body_d));
    let mut statuses = [rc.status, rd.status];
    statuses.sort();
    soft.check(if statuses == [201, 400] { Ok(()) } else { Err(format!("one nonce, two racing requests: statuses {statuses:?}, want [201, 400]")) });
    let loser = if rc.status == 400 { &rc } else { &rd };
    if statuses == [201, 400] {
        soft.problem(loser, 400, "badNonce", "the racing request that lost");
    }

    // Invented and missing.
    let k = key(Algorithm::Es256);
    let invented = b64::encode([0x42u8; 16]);
    let r = ca.post(&url, signed(&k, &acme_protected_header(k.alg(), &KeyId::Jwk(k.jwk().clone()), Some(&invented), &url), ACCOUNT)).await;
    soft.problem(&r, 400, "badNonce", "invented nonce");
    let r = ca.post(&url, signed(&k, &acme_protected_header(k.alg(), &KeyId::Jwk(k.jwk().clone()), None, &url), ACCOUNT)).await;
    soft.problem(&r, 400, "badNonce", "missing nonce");

    // Not base64url (§6.5.2: malformed).
    for bad in ["not base64url!", "a+b/c", "AAAA==", "Zm9v.YmFy", "\u{00e9}t\u{00e9}"] {
        let r = ca.post(&url, signed(&k, &acme_protected_header(k.alg(), &KeyId::Jwk(k.jwk().clone()), Some(bad), &url), ACCOUNT)).await;
        soft.problem(&r, 400, "malformed", &format!("nonce {bad:?}"));
    }
    // A nonce that is not a string at all.
    let mut h = acme_protected_header(k.alg(), &KeyId::Jwk(k.jwk().clone()), None, &url);
    h.insert("nonce".into(), json!(12345));
    let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "malformed", "numeric nonce");
    ca.assert_alive().await;
    soft.finish();
}

/// A url header that is not the request URL (§6.4): unauthorized. A missing url is
/// malformed.
#[tokio::test]
async fn url_mismatch_is_unauthorized() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");
    let port = ca.ca.addr().port();
    let wrong = [
        ("another resource's URL", ca.url("newOrder")),
        ("a trailing slash", format!("{url}/")),
        ("http instead of https", url.replacen("https://", "http://", 1)),
        ("localhost instead of 127.0.0.1", format!("https://localhost:{port}/new-account")),
        ("a different case", url.replace("new-account", "New-Account")),
        ("a query string", format!("{url}?x=1")),
        ("a relative path", "/new-account".to_owned()),
        ("another host", "https://evil.example/new-account".to_owned()),
    ];
    for (label, u) in &wrong {
        let k = key(Algorithm::Es256);
        let h = ca.jwk_header(&k, u).await;
        let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
        soft.problem(&r, 403, "unauthorized", &format!("url with {label}"));
    }
    // The request URL carries a query the signed url does not (§6.4: the request URL
    // is what is compared, so a query added in transit must not pass).
    let k = key(Algorithm::Es256);
    let h = ca.jwk_header(&k, &url).await;
    let r = ca.post(&format!("{url}?added=in-transit"), signed(&k, &h, ACCOUNT)).await;
    soft.problem(&r, 403, "unauthorized", "request URL with a query the signed url lacks");

    let k = key(Algorithm::Es256);
    let mut h = ca.jwk_header(&k, &url).await;
    h.remove("url");
    let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "malformed", "no url");
    let mut h = ca.jwk_header(&k, &url).await;
    h.insert("url".into(), json!([url]));
    let r = ca.post(&url, signed(&k, &h, ACCOUNT)).await;
    soft.problem(&r, 400, "malformed", "url that is not a string");
    ca.assert_alive().await;
    soft.finish();
}

/// A kid that names no account: accountDoesNotExist.
#[tokio::test]
async fn unknown_kid_is_account_does_not_exist() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let real = ca.new_account(&k).await;
    let new_order = ca.url("newOrder");
    let base = ca.base();
    for (label, kid) in [
        ("a nonexistent account id", format!("{base}/account/doesnotexist")),
        ("the account URL with a suffix", format!("{real}/orders/0")),
        ("the account URL with a trailing slash", format!("{real}/")),
        ("an account URL on another host", real.replace("127.0.0.1", "localhost")),
        ("a non-URL kid", "1".to_owned()),
        ("an empty kid", String::new()),
    ] {
        let h = ca.kid_header(&k, &kid, &new_order).await;
        let r = ca.post(&new_order, signed(&k, &h, ORDER)).await;
        soft.problem(&r, 400, "accountDoesNotExist", &format!("newOrder with {label}"));
    }
    soft.check(if ca.orders(&k, &real).await.is_empty() { Ok(()) } else { Err("an unknown-kid newOrder created an order".into()) });
    ca.assert_alive().await;
    soft.finish();
}

// =================================================================================
// 2. Bad input
// =================================================================================

/// Bodies that are not a JWS: malformed JSON, a truncated JWS, empty, non-objects,
/// missing or mistyped members, non-UTF-8. Each on a jwk and a kid resource.
#[tokio::test]
async fn bodies_that_are_not_a_jws_are_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let kid = ca.new_account(&k).await;
    let (new_account, new_order) = (ca.url("newAccount"), ca.url("newOrder"));
    let valid = signed(&k, &ca.kid_header(&k, &kid, &new_order).await, ORDER);
    let half = valid[..valid.len() / 2].to_vec();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", b"{\"protected\":".to_vec()),
        ("not JSON", b"hello, CA".to_vec()),
        ("a truncated JWS", half),
        ("a JWS cut one byte short", valid[..valid.len() - 1].to_vec()),
        ("an empty body", Vec::new()),
        ("whitespace only", b"   \n".to_vec()),
        ("a JSON array", b"[]".to_vec()),
        ("a JSON string", b"\"jws\"".to_vec()),
        ("a JSON number", b"42".to_vec()),
        ("JSON null", b"null".to_vec()),
        ("JSON true", b"true".to_vec()),
        ("an empty object", b"{}".to_vec()),
        ("members of the wrong type", br#"{"protected":1,"payload":[],"signature":null}"#.to_vec()),
        ("no signature member", serde_json::to_vec(&json!({"protected": enc(&json!({"alg":"ES256"})), "payload": ""})).unwrap()),
        ("non-UTF-8 bytes", b"\xff\xfe\xfd{\"protected\":\"\x80\x81\"}".to_vec()),
        ("a lone surrogate escape", br#"{"protected":"\ud800","payload":"","signature":"AA"}"#.to_vec()),
        ("a NUL byte", b"\0".to_vec()),
    ];
    for (label, body) in &bodies {
        for url in [&new_account, &new_order] {
            let r = ca.post(url, body.clone()).await;
            soft.problem(&r, 400, "malformed", &format!("{label} to {url}"));
        }
    }
    // A protected header whose decoded bytes are not UTF-8 / not JSON / not an object.
    for (label, header) in [("non-UTF-8", b"\xff\xfe{\"alg\":\"ES256\"}".to_vec()), ("not JSON", b"alg=ES256".to_vec()), ("a JSON array", b"[\"ES256\"]".to_vec())] {
        let p = b64::encode(&header);
        let pl = b64::encode(ACCOUNT);
        let r = ca.post(&new_account, jws(&p, &pl, &sig(&k, &p, &pl))).await;
        soft.problem(&r, 400, "malformed", &format!("protected header that is {label}"));
    }
    // A validly signed payload that is not JSON.
    let other = key(Algorithm::Es256);
    let h = ca.jwk_header(&other, &new_account).await;
    let r = ca.post(&new_account, signed(&other, &h, b"\xff not json")).await;
    soft.problem(&r, 400, "malformed", "signed payload that is not JSON");
    soft.check(if ca.orders(&k, &kid).await.is_empty() { Ok(()) } else { Err("a broken body created an order".into()) });
    ca.assert_alive().await;
    soft.finish();
}

/// Deeply nested JSON (100k levels, and as much as fits under the body limit) in the
/// body, the protected header and the signed payload: malformed, no stack overflow.
#[tokio::test]
async fn deeply_nested_json_is_malformed() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");
    let deep = |n: usize| "[".repeat(n);
    let deep_obj = |n: usize| "{\"a\":".repeat(n);
    for (label, body) in [
        ("60k '[' body", deep(60_000)),
        ("60k balanced [] body", format!("{}{}", deep(30_000), "]".repeat(30_000))),
        ("10k nested objects", deep_obj(10_000)),
        ("JWS whose protected member is nested", format!(r#"{{"protected":{}"#, deep(60_000))),
    ] {
        let r = ca.post(&url, body).await;
        soft.problem(&r, 400, "malformed", label);
    }
    // 100k levels exceed the 64 KiB body limit: refused by size, still a problem.
    let r = ca.post(&url, deep(100_000)).await;
    soft.problem(&r, 413, "malformed", "100k '[' body");
    // Inside the protected header and inside a validly signed payload.
    let k = key(Algorithm::Es256);
    let p = b64::encode(deep(40_000));
    let pl = b64::encode(ACCOUNT);
    let r = ca.post(&url, jws(&p, &pl, &sig(&k, &p, &pl))).await;
    soft.problem(&r, 400, "malformed", "40k '[' protected header");
    let h = ca.jwk_header(&k, &url).await;
    let r = ca.post(&url, signed(&k, &h, format!("{}{}", deep(20_000), "]".repeat(20_000)).as_bytes())).await;
    soft.problem(&r, 400, "malformed", "signed payload nested 20k deep");
    ca.assert_alive().await;
    soft.finish();
}

/// A 10 MiB body over HTTP/2 (reqwest), over HTTP/1.1 with Content-Length, and as an
/// endless chunked stream: 413 problem, answered within bounded time.
#[tokio::test]
async fn enormous_body_is_413() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");
    let ten_mib = {
        let mut b = br#"{"protected":""#.to_vec();
        b.resize(10 << 20, b'A');
        b
    };

    let started = Instant::now();
    match ca.http.send(Method::POST, &url, &[("content-type".into(), JOSE.into())], Some(ten_mib.clone())).await {
        Ok(r) => {
            soft.problem(&r, 413, "malformed", "10 MiB body via reqwest");
        }
        Err(e) => soft.0.push(format!("10 MiB body via reqwest: no response: {e}")),
    }
    soft.check(if started.elapsed() < STALL_LIMIT { Ok(()) } else { Err(format!("10 MiB body took {:?}", started.elapsed())) });

    // HTTP/1.1, Content-Length announced, body written while the answer is read.
    let started = Instant::now();
    let stream = ca.tls(&[b"http/1.1"]).await;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let head = format!("POST /new-account HTTP/1.1\r\nHost: {}\r\nContent-Type: {JOSE}\r\nContent-Length: {}\r\n\r\n", ca.host(), ten_mib.len());
    let body = ten_mib.clone();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        let _ = wr.flush().await;
        wr
    });
    match read_response(&mut rd, STALL_LIMIT).await {
        Ok(raw) => {
            soft.problem(&raw.into_response(&url), 413, "malformed", "10 MiB body via HTTP/1.1 Content-Length");
        }
        Err(e) => soft.0.push(format!("10 MiB body via HTTP/1.1 Content-Length: {e}")),
    }
    writer.abort();
    soft.check(if started.elapsed() < STALL_LIMIT { Ok(()) } else { Err(format!("HTTP/1.1 10 MiB body took {:?}", started.elapsed())) });

    // HTTP/1.1 chunked, no length announced, up to 10 MiB in 64 KiB chunks.
    let stream = ca.tls(&[b"http/1.1"]).await;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let head = format!("POST /new-account HTTP/1.1\r\nHost: {}\r\nContent-Type: {JOSE}\r\nTransfer-Encoding: chunked\r\n\r\n", ca.host());
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = [format!("{:x}\r\n", 65536).into_bytes(), vec![b'['; 65536], b"\r\n".to_vec()].concat();
        for _ in 0..160 {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = wr.write_all(b"0\r\n\r\n").await;
    });
    match read_response(&mut rd, STALL_LIMIT).await {
        Ok(raw) => {
            soft.problem(&raw.into_response(&url), 413, "malformed", "chunked 10 MiB body");
        }
        Err(e) => soft.0.push(format!("chunked 10 MiB body: {e}")),
    }
    writer.abort();
    ca.assert_alive().await;
    soft.finish();
}

/// Paths that are no resource: 404 with a malformed problem, for GET and POST.
#[tokio::test]
async fn unknown_paths_are_404() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let base = ca.base();
    let k = key(Algorithm::Es256);
    for path in ["/", "/nope", "/directory/extra", "/new-account/x", "/account", "/account/a/b", "/order/x/finalize/y", "/%00", "/.well-known/acme-challenge/x", "/directory/", "/new-nonce/x"] {
        let url = format!("{base}{path}");
        let r = ca.send(Method::GET, &url, None, None).await;
        soft.problem(&r, 404, "malformed", &format!("GET {path}"));
        let h = ca.jwk_header(&k, &url).await;
        let r = ca.post(&url, signed(&k, &h, b"")).await;
        soft.problem(&r, 404, "malformed", &format!("POST {path}"));
    }
    ca.assert_alive().await;
    soft.finish();
}

/// Methods a resource does not take: 405 with a malformed problem (§6.3 for GET on a
/// POST-only resource) and the Allow header RFC 9110 §15.5.6 requires.
#[tokio::test]
async fn wrong_methods_are_405() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let k = key(Algorithm::Es256);
    let kid = ca.new_account(&k).await;
    let base = ca.base();
    let post_only = [ca.url("newAccount"), ca.url("newOrder"), ca.url("revokeCert"), ca.url("keyChange"), kid.clone(), format!("{base}/order/x"), format!("{base}/authz/x"), format!("{base}/challenge/x"), format!("{base}/certificate/x")];
    for url in &post_only {
        let r = ca.send(Method::GET, url, None, None).await;
        if soft.problem(&r, 405, "malformed", &format!("GET {url}")).is_some() {
            soft.check(match r.header("allow") {
                Some(a) if a.contains("POST") && !a.contains("GET") => Ok(()),
                other => Err(format!("GET {url}: 405 needs an Allow header listing POST only, got {other:?}")),
            });
        }
    }
    for url in [ca.url("newAccount"), ca.url("newOrder"), ca.ca.directory_url(), ca.url("newNonce"), kid.clone()] {
        for method in [Method::PUT, Method::DELETE, Method::PATCH] {
            let body = signed(&k, &ca.kid_header(&k, &kid, &url).await, b"{}");
            let r = ca.send(method.clone(), &url, Some(JOSE), Some(body)).await;
            if soft.problem(&r, 405, "malformed", &format!("{method} {url}")).is_some() {
                soft.check(match r.header("allow") {
                    Some(a) if a.contains("POST") => Ok(()),
                    other => Err(format!("{method} {url}: 405 needs an Allow header, got {other:?}")),
                });
            }
        }
    }
    ca.assert_alive().await;
    soft.finish();
}

/// A POST whose Content-Type is not application/jose+json: 415 (§6.2), a problem.
#[tokio::test]
async fn wrong_content_type_is_415() {
    let ca = Ca::start().await;
    let mut soft = Soft::default();
    let url = ca.url("newAccount");
    for ct in [Some("application/json"), Some("text/plain"), Some("application/jose"), Some("application/jose+json-x"), Some("multipart/form-data; boundary=x"), Some(""), None] {
        let k = key(Algorithm::Es256);
        let h = ca.jwk_header(&k, &url).await;
        let r = ca.send(Method::POST, &url, ct, Some(signed(&k, &h, ACCOUNT))).await;
        soft.problem(&r, 415, "malformed", &format!("Content-Type {ct:?}"));
    }
    ca.assert_alive().await;
    soft.finish();
}

// ---------------------------------------------------------------------------------
// Slow and stalled clients
// ---------------------------------------------------------------------------------

/// Fails unless the server closes the connection within STALL_LIMIT; any bytes it sent
/// first (a 408, say) are returned.
async fn expect_closed<S: AsyncRead + Unpin>(s: &mut S, what: &str) -> Vec<u8> {
    let started = Instant::now();
    match read_until_closed(s, STALL_LIMIT).await {
        Ok(got) => got,
        Err(got) => panic!(
            "{what}: the server kept the connection open for {:?} (limit {STALL_LIMIT:?}); it had sent {:?}",
            started.elapsed(),
            String::from_utf8_lossy(&got)
        ),
    }
}

/// A client that sends half its headers and stalls is cut off.
#[tokio::test]
async fn stalled_headers_are_cut_off() {
    let ca = Ca::start().await;
    let mut s = ca.tls(&[b"http/1.1"]).await;
    s.write_all(format!("POST /new-account HTTP/1.1\r\nHost: {}\r\nContent-Type: {JOSE}\r\n", ca.host()).as_bytes()).await.unwrap();
    s.flush().await.unwrap();
    expect_closed(&mut s, "half-sent headers").await;
    ca.assert_alive().await;
}

/// A client that sends complete headers announcing a body, a few bytes of it, and
/// stalls, is cut off (with a 408 problem or a plain close).
#[tokio::test]
async fn stalled_body_is_cut_off() {
    let ca = Ca::start().await;
    let mut s = ca.tls(&[b"http/1.1"]).await;
    s.write_all(format!("POST /new-account HTTP/1.1\r\nHost: {}\r\nContent-Type: {JOSE}\r\nContent-Length: 1000\r\n\r\n{{\"prot", ca.host()).as_bytes())
        .await
        .unwrap();
    s.flush().await.unwrap();
    let got = expect_closed(&mut s, "complete headers, stalled body").await;
    if !got.is_empty() {
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408") || text.starts_with("HTTP/1.1 400"), "stalled body answered with {text:?}");
    }
    ca.assert_alive().await;
}

/// A connection that completes TLS and then says nothing is closed.
#[tokio::test]
async fn idle_connection_after_handshake_is_closed() {
    let ca = Ca::start().await;
    let mut s = ca.tls(&[b"http/1.1"]).await;
    expect_closed(&mut s, "TLS done, no request").await;
    ca.assert_alive().await;
}

/// A TCP connection that never starts TLS, and one that stalls mid-ClientHello, are
/// closed (the handshake timeout).
#[tokio::test]
async fn stalled_tls_handshake_is_closed() {
    let ca = Ca::start().await;
    let mut silent = TcpStream::connect(ca.ca.addr()).await.unwrap();
    let mut partial = TcpStream::connect(ca.ca.addr()).await.unwrap();
    // A TLS record header announcing 512 bytes of handshake, then five of them.
    partial.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]).await.unwrap();
    let (a, b) = tokio::join!(expect_closed(&mut silent, "TCP without TLS"), expect_closed(&mut partial, "half a ClientHello"));
    let _ = (a, b);
    ca.assert_alive().await;
}

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK "literal header field without indexing, indexed name" (RFC 7541 §6.2.2).
fn hpack_literal(name_index: u8, value: &str) -> Vec<u8> {
    let mut out = if name_index < 15 { vec![name_index] } else { vec![0x0f, name_index - 15] };
    assert!(value.len() < 127);
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

/// Over HTTP/2: a HEADERS frame announcing a body, then nothing. The stream (or the
/// connection) must be ended by the server within bounded time.
#[tokio::test]
async fn stalled_http2_stream_is_cut_off() {
    let ca = Ca::start().await;
    let mut s = ca.tls(&[b"h2"]).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the server negotiates h2");
    let mut block = vec![0x83, 0x87]; // :method POST, :scheme https
    block.extend(hpack_literal(4, "/new-account")); // :path
    block.extend(hpack_literal(1, &ca.host())); // :authority
    block.extend(hpack_literal(31, JOSE)); // content-type
    block.extend(hpack_literal(28, "1000")); // content-length
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(4, 0, 0, &[])); // SETTINGS
    out.extend(h2_frame(1, 0x4, 1, &block)); // HEADERS, END_HEADERS, no END_STREAM
    out.extend(h2_frame(0, 0, 1, b"{\"prot")); // a little DATA
    s.write_all(&out).await.unwrap();
    s.flush().await.unwrap();

    let deadline = tokio::time::Instant::now() + STALL_LIMIT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let outcome = 'read: loop {
        while buf.len() >= 9 {
            let len = ((buf[0] as usize) << 16) | ((buf[1] as usize) << 8) | buf[2] as usize;
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            buf.drain(..9 + len);
            match (kind, stream) {
                (4, 0) if flags & 1 == 0 => {
                    s.write_all(&h2_frame(4, 1, 0, &[])).await.unwrap(); // SETTINGS ACK
                }
                (3, 1) => break 'read format!("RST_STREAM on the stalled stream after {:?}", STALL_LIMIT - deadline.saturating_duration_since(tokio::time::Instant::now())),
                (7, _) => break 'read "GOAWAY".to_owned(),
                (1, 1) => break 'read "a response on the stalled stream".to_owned(),
                _ => {}
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => panic!("HTTP/2 stream with a stalled body: not ended by the server within {STALL_LIMIT:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => break "connection closed".to_owned(),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    eprintln!("stalled HTTP/2 stream: {outcome}");
    ca.assert_alive().await;
}
