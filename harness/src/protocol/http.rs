//! The instrumented HTTP client every engine talks to an ACME server through.
//!
//! A conformance verdict is only as convincing as its evidence, so every exchange is
//! recorded for the transcript (JWS bodies decoded when the transcript is read: most
//! cases pass and never show theirs), and every way a hostile or broken
//! server can hurt the harness is bounded: connect and total time, body size, and the
//! number of nonces kept.

use crate::protocol::b64;
use crate::protocol::wire::Problem;
use bytes::{Bytes, BytesMut};
use reqwest::Method;
use reqwest::header::HeaderMap;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How the client connects and what it tolerates.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Roots to trust for HTTPS; empty means the platform's roots.
    pub ca_certs: Vec<CertificateDer<'static>>,
    /// Upper bound on one whole exchange, body included.
    pub timeout: Duration,
    /// Upper bound on establishing the connection.
    pub connect_timeout: Duration,
    /// Largest response body accepted; a larger one is an error, not a truncation.
    pub max_body: usize,
    /// The User-Agent sent on every request (RFC 8555 §6.1 asks clients to send one).
    pub user_agent: String,
    /// Keep every exchange and every received nonce as evidence. The load generator
    /// turns this off: there they would cost time and only grow.
    pub record: bool,
    /// Speak HTTP/1.1 only, as clients on HTTP/1.1 libraries (certbot) do, instead of
    /// taking HTTP/2 when the server offers it.
    pub http1_only: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            ca_certs: Vec::new(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body: 1 << 20,
            user_agent: concat!("acmespec/", env!("CARGO_PKG_VERSION")).to_owned(),
            record: true,
            http1_only: false,
        }
    }
}

/// Why an exchange produced no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL could not be parsed.
    #[error("invalid URL {0:?}")]
    BadUrl(String),
    /// No connection could be made (refused, unreachable, DNS).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The exchange took longer than the configured timeout.
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
    /// The response body exceeded the configured limit.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Any other transport failure, TLS errors included.
    #[error("transport error: {0}")]
    Transport(String),
    /// The HTTP client could not be built (bad CA certificate, ...).
    #[error("cannot build HTTP client: {0}")]
    Setup(String),
}

/// A parsed `Link` header entry (RFC 8288), its URL resolved against the request URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The target URL.
    pub url: String,
    /// The `rel` parameter.
    pub rel: String,
}

/// A parsed `Retry-After` header (RFC 9110 §10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// A number of seconds.
    Seconds(u64),
    /// An HTTP date.
    Date(SystemTime),
}

impl RetryAfter {
    /// Parses the header value; `None` when it is neither form.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<u64>() {
            return Some(RetryAfter::Seconds(secs));
        }
        httpdate::parse_http_date(text).ok().map(RetryAfter::Date)
    }

    /// How long to wait from now.
    pub fn delay(&self) -> Duration {
        match self {
            RetryAfter::Seconds(s) => Duration::from_secs(*s),
            RetryAfter::Date(t) => t.duration_since(SystemTime::now()).unwrap_or_default(),
        }
    }
}

/// A complete response, body read within the configured bounds.
#[derive(Debug, Clone)]
pub struct Response {
    /// The request method.
    pub method: Method,
    /// The request URL.
    pub url: String,
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
    /// The HTTP version the response came over.
    pub version: reqwest::Version,
}

impl Response {
    /// What a server developer needs to find this answer in their logs: the request, the
    /// status and, for an error, the problem's type and detail (from any JSON body: a
    /// problem served with the wrong media type is still what the server said).
    pub fn summary(&self) -> String {
        let mut out = format!("HTTP {} to {} {}", self.status, self.method, self.url);
        if self.status >= 400
            && let Ok(body) = self.json()
        {
            let member = |k: &str| body.get(k).and_then(Value::as_str);
            match (member("type"), member("detail")) {
                (None, None) => {}
                (kind, detail) => {
                    out += &format!(": {}", kind.unwrap_or("(no type)"));
                    if let Some(detail) = detail {
                        out += &format!(" {detail:?}");
                    }
                }
            }
        }
        out
    }

    /// The first value of a header, if it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of the body, without parameters, lowercased.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The problem document, when the body is `application/problem+json` and parses.
    pub fn problem(&self) -> Option<Problem> {
        if self.media_type().as_deref() != Some("application/problem+json") {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// The `Location` header resolved against the request URL.
    pub fn location(&self) -> Option<String> {
        self.header("location").map(|l| resolve(&self.url, l))
    }

    /// The `Replay-Nonce` header.
    pub fn replay_nonce(&self) -> Option<&str> {
        self.header("replay-nonce")
    }

    /// Every `Link` entry of every `Link` header.
    pub fn links(&self) -> Vec<Link> {
        self.headers
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| parse_links(v, &self.url))
            .collect()
    }

    /// The URLs of `Link` entries with the given `rel`.
    pub fn links_with_rel(&self, rel: &str) -> Vec<String> {
        self.links().into_iter().filter(|l| l.rel.eq_ignore_ascii_case(rel)).map(|l| l.url).collect()
    }

    /// The `Retry-After` header, parsed.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.header("retry-after").and_then(RetryAfter::parse)
    }
}

/// Resolves a relative reference against `base`; an absolute URL is kept exactly as the
/// server wrote it, because RFC 8555 §6.4 has the server compare the JWS `url` with the
/// URL it handed out as strings, and parsing would normalise case and default ports.
fn resolve(base: &str, reference: &str) -> String {
    if url::Url::parse(reference).is_ok() {
        return reference.to_owned();
    }
    url::Url::parse(base)
        .and_then(|b| b.join(reference))
        .map(|u| u.to_string())
        .unwrap_or_else(|_| reference.to_owned())
}

/// Parses one `Link` header value: `<url>;rel="a", <url2>; rel=b`.
pub fn parse_links(value: &str, base: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else { break };
        let target = &rest[start + 1..start + end];
        let after = &rest[start + end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let params = &after[..params_end];
        for param in params.split(';') {
            let param = param.trim().trim_end_matches(',').trim();
            if let Some((name, val)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("rel") {
                    for rel in val.trim().trim_matches('"').split_whitespace() {
                        links.push(Link { url: resolve(base, target), rel: rel.to_owned() });
                    }
                }
        }
        rest = &after[params_end..];
    }
    links
}

/// The request half of a recorded exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Request URL.
    pub url: String,
    /// Request headers (name, value).
    pub headers: Vec<(String, String)>,
    /// The body: decoded JWS (`protected`, `payload`), JSON, or text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// The response half of a recorded exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// Status code.
    pub status: u16,
    /// Response headers (name, value).
    pub headers: Vec<(String, String)>,
    /// The body as JSON when it parses, else as (possibly shortened) text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// One request and what came of it, for transcripts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    /// What was sent.
    pub request: RecordedRequest,
    /// What came back, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    /// The transport error, if no response came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the exchange.
    pub elapsed_ms: u64,
}

const RECORDED_BODY_LIMIT: usize = 16 * 1024;
const NONCE_POOL_LIMIT: usize = 64;

fn record_body(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
        return Some(decode_jws_for_record(&json).unwrap_or(json));
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(RECORDED_BODY_LIMIT)]).into_owned();
    let suffix = if bytes.len() > RECORDED_BODY_LIMIT { format!("… ({} bytes in all)", bytes.len()) } else { String::new() };
    Some(Value::String(text + &suffix))
}

/// Shows a JWS body with its protected header and payload decoded, the raw members kept.
fn decode_jws_for_record(json: &Value) -> Option<Value> {
    let obj = json.as_object()?;
    let protected = b64::decode(obj.get("protected")?.as_str()?).ok()?;
    let payload = b64::decode(obj.get("payload")?.as_str()?).ok()?;
    let mut out = obj.clone();
    out.insert(
        "decoded_protected".into(),
        serde_json::from_slice(&protected).unwrap_or_else(|_| String::from_utf8_lossy(&protected).into()),
    );
    out.insert(
        "decoded_payload".into(),
        if payload.is_empty() {
            Value::String(String::new())
        } else {
            serde_json::from_slice(&payload).unwrap_or_else(|_| String::from_utf8_lossy(&payload).into())
        },
    );
    Some(Value::Object(out))
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}

fn classify(err: &reqwest::Error, timeout: Duration) -> HttpError {
    if err.is_timeout() {
        return HttpError::Timeout(timeout);
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if err.is_connect() { HttpError::Connect(text) } else { HttpError::Transport(text) }
}

/// An exchange as it was captured: shared buffers, interpreted only when read.
#[derive(Debug)]
struct Captured {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
    outcome: Result<(u16, HeaderMap, Bytes), String>,
    elapsed_ms: u64,
}

impl Captured {
    fn decode(self) -> Exchange {
        let request = RecordedRequest {
            method: self.method.to_string(),
            url: self.url,
            headers: self.headers,
            body: self.body.as_deref().and_then(record_body),
        };
        match self.outcome {
            Ok((status, headers, body)) => Exchange {
                request,
                response: Some(RecordedResponse { status, headers: header_pairs(&headers), body: record_body(&body) }),
                error: None,
                elapsed_ms: self.elapsed_ms,
            },
            Err(error) => Exchange { request, response: None, error: Some(error), elapsed_ms: self.elapsed_ms },
        }
    }
}

/// The exchanges a client recorded, decoded into [`Exchange`]s only when asked for.
#[derive(Debug, Default)]
pub struct Transcript(Vec<Captured>);

impl Transcript {
    /// How many requests were sent.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no request was sent.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every exchange, oldest first, bodies decoded.
    pub fn decode(self) -> Vec<Exchange> {
        self.0.into_iter().map(Captured::decode).collect()
    }

    /// The latest exchange alone, decoded.
    pub fn decode_last(mut self) -> Option<Exchange> {
        self.0.pop().map(Captured::decode)
    }

    /// Every exchange that got an answer, undecoded, oldest first.
    pub fn answers(&self) -> impl Iterator<Item = Answer<'_>> {
        self.0.iter().filter_map(|c| match &c.outcome {
            Ok((status, headers, body)) => Some(Answer { method: &c.method, url: &c.url, status: *status, headers, body }),
            Err(_) => None,
        })
    }
}

/// One answered exchange of a [`Transcript`], as captured.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'t> {
    /// The request method.
    pub method: &'t Method,
    /// The request URL.
    pub url: &'t str,
    /// The response status.
    pub status: u16,
    /// The response headers.
    pub headers: &'t HeaderMap,
    /// The response body.
    pub body: &'t [u8],
}

/// An HTTP client with a nonce pool and an exchange recorder.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    options: ClientOptions,
    transcript: Arc<Mutex<Vec<Captured>>>,
    nonces: Arc<Mutex<VecDeque<String>>>,
    issued: Arc<Mutex<Vec<String>>>,
}

/// The certificates of a PEM text: at least one CERTIFICATE block, nothing malformed.
pub fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".into());
    }
    Ok(certs)
}

/// Reads the roots a `--ca-cert` option names; the error names the option and the file.
pub fn read_ca_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
    parse_pem_certificates(&bytes).map_err(|e| format!("--ca-cert {}: {e}", path.display()))
}

/// Installs ring as the process-wide rustls provider; harmless when already done.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpClient {
    /// Builds a client; fails only on unusable options.
    pub fn new(options: ClientOptions) -> Result<Self, HttpError> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if options.http1_only {
            builder = builder.http1_only();
        }
        if !options.ca_certs.is_empty() {
            let certs = options
                .ca_certs
                .iter()
                .map(|c| reqwest::Certificate::from_der(c.as_ref()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| HttpError::Setup(e.to_string()))?;
            builder = builder.tls_certs_only(certs);
        }
        let client = builder.build().map_err(|e| HttpError::Setup(e.to_string()))?;
        Ok(HttpClient::over(client, options))
    }

    /// A client with a transcript and nonces of its own over this one's connections: a
    /// case run beside others keeps its evidence apart without paying for a TLS
    /// handshake of its own.
    pub fn session(&self) -> HttpClient {
        HttpClient::over(self.client.clone(), self.options.clone())
    }

    fn over(client: reqwest::Client, options: ClientOptions) -> HttpClient {
        HttpClient { client, options, transcript: Arc::default(), nonces: Arc::default(), issued: Arc::default() }
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Sends one request, records it, and harvests its `Replay-Nonce`.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, HttpError> {
        let body = body.map(Bytes::from);
        if !self.options.record {
            let result = self.send_unrecorded(method, url, headers, body).await;
            if let Some(nonce) = result.as_ref().ok().and_then(Response::replay_nonce) {
                self.push_nonce(nonce.to_owned());
            }
            return result;
        }
        let started = Instant::now();
        let result = self.send_unrecorded(method.clone(), url, headers, body.clone()).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let mut sent_headers = headers.to_vec();
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("user-agent")) {
            sent_headers.push(("user-agent".into(), self.options.user_agent.clone()));
        }
        let outcome = match &result {
            Ok(resp) => {
                if let Some(nonce) = resp.replay_nonce() {
                    self.push_nonce(nonce.to_owned());
                    self.issued.lock().expect("nonce history lock").push(nonce.to_owned());
                }
                Ok((resp.status, resp.headers.clone(), resp.body.clone()))
            }
            Err(e) => Err(e.to_string()),
        };
        let captured = Captured { method, url: url.to_owned(), headers: sent_headers, body, outcome, elapsed_ms };
        self.transcript.lock().expect("transcript lock").push(captured);
        result
    }

    async fn send_unrecorded(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<Bytes>,
    ) -> Result<Response, HttpError> {
        let parsed = url::Url::parse(url).map_err(|_| HttpError::BadUrl(url.to_owned()))?;
        let mut req = self.client.request(method.clone(), parsed);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let timeout = self.options.timeout;
        let mut resp = req.send().await.map_err(|e| classify(&e, timeout))?;
        let status = resp.status().as_u16();
        let version = resp.version();
        let headers = resp.headers().clone();
        let limit = self.options.max_body;
        if resp.content_length().is_some_and(|len| len > limit as u64) {
            return Err(HttpError::BodyTooLarge { limit });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e, timeout))? {
            if body.len() + chunk.len() > limit {
                return Err(HttpError::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response { method, url: url.to_owned(), status, headers, body: body.freeze(), version })
    }

    /// A plain GET.
    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.send(Method::GET, url, &[], None).await
    }

    /// A HEAD request.
    pub async fn head(&self, url: &str) -> Result<Response, HttpError> {
        self.send(Method::HEAD, url, &[], None).await
    }

    /// Adds a nonce to the pool (oldest dropped beyond a bound).
    pub fn push_nonce(&self, nonce: String) {
        let mut pool = self.nonces.lock().expect("nonce lock");
        if pool.len() >= NONCE_POOL_LIMIT {
            pool.pop_front();
        }
        pool.push_back(nonce);
    }

    /// Takes the freshest pooled nonce, if any.
    pub fn pop_nonce(&self) -> Option<String> {
        self.nonces.lock().expect("nonce lock").pop_back()
    }

    /// Empties the nonce pool.
    pub fn clear_nonces(&self) {
        self.nonces.lock().expect("nonce lock").clear();
    }

    /// A nonce from the pool, or a fresh one from `new_nonce_url` (HEAD).
    pub async fn nonce(&self, new_nonce_url: &str) -> Result<String, NonceError> {
        if let Some(n) = self.pop_nonce() {
            return Ok(n);
        }
        let resp = self.head(new_nonce_url).await?;
        self.pop_nonce().ok_or(NonceError::Missing { status: resp.status })
    }

    /// Takes and clears the recorded exchanges (and the nonce history that goes with them).
    pub fn take_transcript(&self) -> Transcript {
        self.issued.lock().expect("nonce history lock").clear();
        Transcript(std::mem::take(&mut *self.transcript.lock().expect("transcript lock")))
    }

    /// Every Replay-Nonce received since the transcript was last taken, oldest first.
    pub fn nonce_history(&self) -> Vec<String> {
        self.issued.lock().expect("nonce history lock").clone()
    }
}

/// Why no nonce could be obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    /// The newNonce request failed.
    #[error("newNonce request failed: {0}")]
    Http(#[from] HttpError),
    /// newNonce answered without a Replay-Nonce header.
    #[error("newNonce answered {status} without a Replay-Nonce header")]
    Missing {
        /// The status of the newNonce response.
        status: u16,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let links = parse_links(r#"<https://ca/dir>;rel="index", </authz/1>; rel=up, <https://ca/a>;rel="alternate next""#, "https://ca/chal/1");
        assert_eq!(links[0], Link { url: "https://ca/dir".into(), rel: "index".into() });
        assert_eq!(links[1], Link { url: "https://ca/authz/1".into(), rel: "up".into() });
        assert_eq!(links.len(), 4);
        assert!(parse_links("garbage <unterminated", "https://ca/").is_empty());
        // Absolute URLs stay exactly as written (RFC 8555 §6.4 compares strings).
        let spelled = parse_links("<HTTPS://CA:443/Dir>;rel=index", "https://ca/x");
        assert_eq!(spelled[0].url, "HTTPS://CA:443/Dir");
        assert_eq!(resolve("https://ca:443/x", "https://ca:443/acct/1"), "https://ca:443/acct/1");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(RetryAfter::parse(" 120 "), Some(RetryAfter::Seconds(120)));
        assert!(matches!(RetryAfter::parse("Wed, 21 Oct 2015 07:28:00 GMT"), Some(RetryAfter::Date(_))));
        assert_eq!(RetryAfter::parse("soon"), None);
        assert_eq!(RetryAfter::parse("-1"), None);
    }

    #[test]
    fn captured_exchanges_decode_when_read() {
        let protected = b64::encode(br#"{"alg":"ES256","nonce":"n1"}"#);
        let payload = b64::encode(br#"{"termsOfServiceAgreed":true}"#);
        let jws = format!(r#"{{"protected":"{protected}","payload":"{payload}","signature":"c2ln"}}"#);
        let mut headers = HeaderMap::new();
        headers.insert("replay-nonce", "n2".parse().unwrap());
        let sent = Captured {
            method: Method::POST,
            url: "https://ca/new-acct".into(),
            headers: vec![("user-agent".into(), "acmespec".into())],
            body: Some(Bytes::from(jws)),
            outcome: Ok((201, headers, Bytes::from_static(br#"{"status":"valid"}"#))),
            elapsed_ms: 7,
        };
        let failed = Captured {
            method: Method::GET,
            url: "https://ca/dir".into(),
            headers: Vec::new(),
            body: Some(Bytes::from_static(b"\xffraw")),
            outcome: Err("timed out".into()),
            elapsed_ms: 10_000,
        };
        let transcript = Transcript(vec![sent, failed]);
        assert_eq!(transcript.len(), 2);
        let exchanges = transcript.decode();
        let body = exchanges[0].request.body.as_ref().unwrap();
        assert_eq!(body["decoded_protected"]["nonce"], "n1");
        assert_eq!(body["decoded_payload"]["termsOfServiceAgreed"], true);
        assert_eq!(body["signature"], "c2ln");
        let response = exchanges[0].response.as_ref().unwrap();
        assert_eq!((response.status, response.body.as_ref().unwrap()["status"].as_str()), (201, Some("valid")));
        assert_eq!(response.headers, [("replay-nonce".to_owned(), "n2".to_owned())]);
        assert_eq!((exchanges[0].request.method.as_str(), exchanges[0].elapsed_ms), ("POST", 7));
        assert!(exchanges[1].response.is_none());
        assert_eq!(exchanges[1].error.as_deref(), Some("timed out"));
        assert_eq!(exchanges[1].request.body, Some(Value::String("\u{fffd}raw".into())));
    }
}
