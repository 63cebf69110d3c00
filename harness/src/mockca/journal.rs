//! Every request a client makes, as the mock CA saw it and answered it.
//!
//! Grading a client means judging what it sent and how it reacted to what it got
//! back, so the journal keeps both halves, in order, with the fault (if any) that
//! shaped the answer. It is bounded so a runaway client cannot exhaust memory.
//!
//! Every request is recorded, but the journal is read only when a client is graded,
//! so an exchange is kept as it was (nothing parsed) and interpreted into an [`Entry`]
//! when read: serving stays fast under load. Its request headers and body are copied
//! out of the connection's buffers first: over HTTP/1.1 they are slices of the read
//! buffer, and a kept slice keeps the whole buffer alive (the server's peak memory
//! doubled under load before the copy).

use crate::protocol::jws::{JwsFault, ParsedJws};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The ACME resource a request addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// The directory.
    Directory,
    /// newNonce.
    NewNonce,
    /// newAccount.
    NewAccount,
    /// An account URL.
    Account,
    /// An account's orders list.
    OrdersList,
    /// newOrder.
    NewOrder,
    /// An order URL.
    Order,
    /// An order's finalize URL.
    Finalize,
    /// An authorization URL.
    Authz,
    /// A challenge URL.
    Challenge,
    /// A certificate URL (any chain).
    Certificate,
    /// revokeCert.
    RevokeCert,
    /// keyChange.
    KeyChange,
    /// renewalInfo.
    RenewalInfo,
    /// Anything else.
    Unknown,
}

impl Endpoint {
    /// Classifies a request path of the mock CA.
    pub fn of_path(path: &str) -> Endpoint {
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        match segments.as_slice() {
            ["directory"] => Endpoint::Directory,
            ["new-nonce"] => Endpoint::NewNonce,
            ["new-account"] => Endpoint::NewAccount,
            ["account", _] => Endpoint::Account,
            ["account", _, "orders", _] => Endpoint::OrdersList,
            ["new-order"] => Endpoint::NewOrder,
            ["order", _] => Endpoint::Order,
            ["order", _, "finalize"] => Endpoint::Finalize,
            ["authz", _] => Endpoint::Authz,
            ["challenge", _] => Endpoint::Challenge,
            ["certificate", _] | ["certificate", _, _] => Endpoint::Certificate,
            ["revoke-cert"] => Endpoint::RevokeCert,
            ["key-change"] => Endpoint::KeyChange,
            ["renewal-info", _] => Endpoint::RenewalInfo,
            _ => Endpoint::Unknown,
        }
    }
}

/// The JWS of a request, as far as it parsed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JwsView {
    /// Why the body was not a valid flattened JWS, if it was not.
    pub parse_error: Option<String>,
    /// Which rule that error broke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_fault: Option<JwsFault>,
    /// The protected header, decoded.
    pub protected: Option<Value>,
    /// The payload: `None` for an empty payload (POST-as-GET), the JSON otherwise.
    pub payload: Option<Value>,
    /// The payload was present but not JSON.
    pub payload_not_json: bool,
    /// The body carried members besides protected, payload and signature.
    pub extra_members: Vec<String>,
}

impl JwsView {
    pub(crate) fn of(body: &[u8]) -> Option<JwsView> {
        if body.is_empty() {
            return None;
        }
        let extra_members = serde_json::from_slice::<serde_json::Map<String, Value>>(body)
            .map(|m| m.keys().filter(|k| !["protected", "payload", "signature"].contains(&k.as_str())).cloned().collect())
            .unwrap_or_default();
        Some(match ParsedJws::parse(body) {
            Ok(jws) => {
                let payload = jws.payload_json();
                JwsView {
                    parse_error: None,
                    parse_fault: None,
                    protected: Some(Value::Object(jws.header.raw.clone())),
                    payload_not_json: matches!(payload, Some(Err(_))),
                    payload: payload.and_then(Result::ok),
                    extra_members,
                }
            }
            Err(e) => JwsView { parse_error: Some(e.to_string()), parse_fault: Some(e.fault()), extra_members, ..JwsView::default() },
        })
    }

    /// A member of the protected header as text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.protected.as_ref()?.get(name)?.as_str()
    }
}

/// One request and the answer it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the journal, from 0.
    pub seq: usize,
    /// Time since the mock CA started.
    #[serde(with = "millis")]
    pub at: Duration,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The resource addressed.
    pub endpoint: Endpoint,
    /// 1-based count of requests to this endpoint so far, this one included.
    pub nth: u32,
    /// Request headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The JWS, for requests with a body.
    pub jws: Option<JwsView>,
    /// Response status.
    pub status: u16,
    /// Response problem type, for errors.
    pub problem: Option<String>,
    /// Response Retry-After, in seconds.
    pub retry_after: Option<u64>,
    /// Response Replay-Nonce.
    pub nonce_issued: Option<String>,
    /// The order or authorization status in the response body, if any.
    pub resource_status: Option<String>,
    /// The fault that shaped the answer, if any.
    pub fault: Option<String>,
}

impl Entry {
    /// A request header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Largest number of entries kept; later requests are counted but not stored.
pub const JOURNAL_LIMIT: usize = 20_000;

pub(crate) struct Journal {
    started: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    exchanges: Vec<Exchange>,
    counts: std::collections::HashMap<Endpoint, u32>,
}

/// One request and its answer, as they were; [`Exchange::interpret`] makes the entry.
pub(crate) struct Exchange {
    pub(crate) at: Duration,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) nth: u32,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) status: u16,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) retry_after: Option<HeaderValue>,
    pub(crate) nonce: Option<HeaderValue>,
    pub(crate) response_body: Bytes,
    pub(crate) fault: Option<String>,
}

impl Exchange {
    /// This exchange with its request headers and body in storage of their own, sharing
    /// nothing with the connection they came in on.
    fn detached(self) -> Exchange {
        let headers = self
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let mut copy = HeaderValue::from_bytes(value.as_bytes()).ok()?;
                copy.set_sensitive(value.is_sensitive());
                Some((name.clone(), copy))
            })
            .collect();
        Exchange { headers, body: Bytes::copy_from_slice(&self.body), ..self }
    }

    /// The response headers an [`Exchange`] keeps: Content-Type, Retry-After, Replay-Nonce.
    pub(crate) fn response_headers(headers: &HeaderMap) -> [Option<HeaderValue>; 3] {
        [header::CONTENT_TYPE, header::RETRY_AFTER, header::HeaderName::from_static("replay-nonce")]
            .map(|name| headers.get(name).cloned())
    }

    fn interpret(&self, seq: usize) -> Entry {
        let text = |v: &Option<HeaderValue>| v.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
        let json: Option<Value> = serde_json::from_slice(&self.response_body).ok();
        let field = |k: &str| json.as_ref().and_then(|j| j.get(k)).and_then(Value::as_str).map(str::to_owned);
        let is_problem = text(&self.content_type).as_deref() == Some("application/problem+json");
        Entry {
            seq,
            at: self.at,
            method: self.method.to_string(),
            path: self.path.clone(),
            endpoint: self.endpoint,
            nth: self.nth,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            jws: JwsView::of(&self.body),
            status: self.status,
            problem: if is_problem { field("type") } else { None },
            retry_after: text(&self.retry_after).and_then(|v| v.parse().ok()),
            nonce_issued: text(&self.nonce),
            resource_status: if is_problem { None } else { field("status") },
            fault: self.fault.clone(),
        }
    }
}

impl Journal {
    pub(crate) fn new() -> Self {
        Journal { started: Instant::now(), inner: Mutex::default() }
    }

    /// Counts a request to `endpoint` and returns its 1-based number there.
    pub(crate) fn count(&self, endpoint: Endpoint) -> u32 {
        let mut inner = self.lock();
        let n = inner.counts.entry(endpoint).or_default();
        *n += 1;
        *n
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Keeps the exchange `build` makes, unless [`JOURNAL_LIMIT`] of them are kept
    /// already: then it is never built, and a full journal costs a request nothing.
    pub(crate) fn push(&self, build: impl FnOnce() -> Exchange) {
        let mut inner = self.lock();
        if inner.exchanges.len() < JOURNAL_LIMIT {
            inner.exchanges.push(build().detached());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every entry so far, interpreted now.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        self.lock().exchanges.iter().enumerate().map(|(seq, e)| e.interpret(seq)).collect()
    }

    /// Forgets everything (between scenarios on a reused server).
    pub(crate) fn clear(&self) {
        *self.lock() = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::{Endpoint, Exchange, Journal};
    use axum::http::{HeaderMap, HeaderValue, Method, header};
    use bytes::Bytes;
    use std::time::Duration;

    /// Over HTTP/1.1 a request's header values and body are slices of the connection's
    /// read buffer; the journal must keep copies, or every kept exchange pins a buffer.
    #[test]
    fn kept_exchanges_share_no_connection_buffer() {
        let read_buffer = Bytes::from(vec![b'a'; 8192]);
        let mut headers = HeaderMap::new();
        let mut agent = HeaderValue::from_maybe_shared(read_buffer.slice(100..120)).unwrap();
        agent.set_sensitive(true);
        headers.append(header::USER_AGENT, agent);
        headers.append(header::ACCEPT, HeaderValue::from_maybe_shared(read_buffer.slice(200..210)).unwrap());
        headers.append(header::ACCEPT, HeaderValue::from_static("application/json"));
        let body = read_buffer.slice(0..64);
        let journal = Journal::new();
        journal.push(|| Exchange {
            at: Duration::ZERO,
            method: Method::POST,
            path: "/new-order".into(),
            endpoint: Endpoint::NewOrder,
            nth: 1,
            headers: headers.clone(),
            body: body.clone(),
            status: 201,
            content_type: None,
            retry_after: None,
            nonce: None,
            response_body: Bytes::new(),
            fault: None,
        });
        let inner = journal.lock();
        let kept = &inner.exchanges[0];
        let within = |p: *const u8| read_buffer.as_ptr_range().contains(&p);
        assert_eq!(kept.body, body);
        assert!(!within(kept.body.as_ptr()), "the body still points into the read buffer");
        assert_eq!(kept.headers, headers, "same headers, multiple values and order kept");
        for value in kept.headers.values() {
            assert!(!within(value.as_bytes().as_ptr()), "{value:?} still points into the read buffer");
        }
        assert!(kept.headers[header::USER_AGENT].is_sensitive());
    }
}
