//! Authoritative-for-everything DNS responder (dns-01, CAA, address steering).
//!
//! A CA validating dns-01 needs a TXT record, but a CA under test also resolves
//! A/AAAA (http-01, tls-alpn-01) and CAA (RFC 8659) for the same names. Instead
//! of modelling zones, this server answers *every* name: A queries get the
//! default IPv4 address (127.0.0.1 unless changed) so a CA such as Pebble can
//! use it as its only resolver (`-dnsserver`) and reach the other responders;
//! AAAA is empty unless configured, so such CAs don't try an unreachable v6
//! path. Missing records are NOERROR with an empty answer, never NXDOMAIN, so a
//! CA reports a clean "no TXT record" problem rather than a resolution error,
//! and TTLs are 0 so that records changed mid-test are never served stale.
//!
//! UDP and TCP share one port because validating resolvers retry truncated
//! answers over TCP. Malformed packets are handled by hickory-server (dropped or
//! FORMERR); nothing here can panic on peer input.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::caa::KeyValue;
use hickory_server::proto::rr::rdata::{A, AAAA, CAA, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};

use super::{
    CONNECTION_TIMEOUT, History, RequestRecord, ResponderError, ResponderKind, lock,
    normalize_name,
};

/// The name's labels as sent, joined by dots: a label with characters a host name has
/// not (an IPv6 address's colons, from a CA querying an address as a name) shows as the
/// CA wrote it, not in master-file escapes.
fn literal_name(name: &Name) -> String {
    name.iter().map(String::from_utf8_lossy).collect::<Vec<_>>().join(".")
}

/// TTL of every answer: 0 so resolvers never cache what a test may change.
const TTL: u32 = 0;

/// The transport a DNS query arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsTransport {
    /// Plain UDP.
    Udp,
    /// Plain TCP.
    Tcp,
    /// Anything else hickory may report (not registered by this responder).
    Other,
}

impl From<Protocol> for DnsTransport {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Udp => DnsTransport::Udp,
            Protocol::Tcp => DnsTransport::Tcp,
            #[allow(unreachable_patterns)]
            _ => DnsTransport::Other,
        }
    }
}

impl fmt::Display for DnsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsTransport::Udp => "udp",
            DnsTransport::Tcp => "tcp",
            DnsTransport::Other => "other",
        })
    }
}

/// One DNS query seen by the [`DnsResponder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQueryRecord {
    /// When the query arrived.
    pub at: SystemTime,
    /// The remote address.
    pub peer: SocketAddr,
    /// UDP or TCP.
    pub transport: DnsTransport,
    /// The queried name, lowercased, without trailing dot. For a message with
    /// other than exactly one question, the names joined by `,`.
    pub name: String,
    /// The queried type; `None` when the message did not carry exactly one
    /// question.
    pub qtype: Option<RecordType>,
    /// The response code that was sent.
    pub rcode: ResponseCode,
    /// The answers sent, rendered as text (e.g. the TXT value or an address).
    pub answers: Vec<String>,
}

impl From<&DnsQueryRecord> for RequestRecord {
    fn from(r: &DnsQueryRecord) -> Self {
        let qtype = r.qtype.map_or_else(|| "?".to_owned(), |t| t.to_string());
        RequestRecord {
            at: r.at,
            kind: ResponderKind::Dns,
            peer: r.peer,
            summary: format!(
                "{} {} {} -> {} [{}]",
                r.transport,
                r.name,
                qtype,
                r.rcode,
                r.answers.join(", ")
            ),
        }
    }
}

/// The configured data. Keys are normalised names.
#[derive(Debug)]
struct Zone {
    txt: HashMap<String, Vec<String>>,
    caa: HashMap<String, Vec<CAA>>,
    a: HashMap<String, Vec<Ipv4Addr>>,
    aaaa: HashMap<String, Vec<Ipv6Addr>>,
    servfail: HashSet<String>,
    default_ipv4: Option<Ipv4Addr>,
    default_ipv6: Option<Ipv6Addr>,
}

impl Default for Zone {
    fn default() -> Self {
        Self {
            txt: HashMap::new(),
            caa: HashMap::new(),
            a: HashMap::new(),
            aaaa: HashMap::new(),
            servfail: HashSet::new(),
            default_ipv4: Some(Ipv4Addr::LOCALHOST),
            default_ipv6: None,
        }
    }
}

impl Zone {
    /// Response code and answer data for one question.
    fn answer(&self, name: &str, qtype: RecordType) -> (ResponseCode, Vec<RData>) {
        if self.servfail.contains(name) {
            return (ResponseCode::ServFail, Vec::new());
        }
        let rdata = match qtype {
            RecordType::TXT => self
                .txt
                .get(name)
                .map(|values| values.iter().map(|v| RData::TXT(txt_rdata(v))).collect())
                .unwrap_or_default(),
            RecordType::A => match self.a.get(name) {
                Some(addrs) => addrs.iter().map(|ip| RData::A(A(*ip))).collect(),
                None => self.default_ipv4.map(|ip| RData::A(A(ip))).into_iter().collect(),
            },
            RecordType::AAAA => match self.aaaa.get(name) {
                Some(addrs) => addrs.iter().map(|ip| RData::AAAA(AAAA(*ip))).collect(),
                None => self
                    .default_ipv6
                    .map(|ip| RData::AAAA(AAAA(ip)))
                    .into_iter()
                    .collect(),
            },
            RecordType::CAA => self
                .caa
                .get(name)
                .map(|records| records.iter().cloned().map(RData::CAA).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        (ResponseCode::NoError, rdata)
    }
}

/// A TXT record for one logical value; values longer than a DNS
/// character-string (255 bytes) are split, as resolvers concatenate them.
fn txt_rdata(value: &str) -> TXT {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return TXT::from_bytes(vec![&[][..]]);
    }
    TXT::from_bytes(bytes.chunks(255).collect())
}

fn render(rdata: &RData) -> String {
    match rdata {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        other => other.to_string(),
    }
}

#[derive(Debug)]
struct Shared {
    zone: Mutex<Zone>,
    history: History<DnsQueryRecord>,
}

struct Handler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let peer = request.src();
        let transport = DnsTransport::from(request.protocol());
        // Answer EDNS with EDNS (RFC 6891 §7), advertising the common safe size.
        let response_edns = request.edns.as_ref().map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &response_edns {
            builder.edns(edns);
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        metadata.recursion_available = false;

        let question = match request.request_info() {
            Ok(info) if request.metadata.op_code == OpCode::Query => Some(info.query),
            _ => None,
        };
        let Some(query) = question else {
            let rcode = if request.metadata.op_code == OpCode::Query {
                ResponseCode::FormErr
            } else {
                ResponseCode::NotImp
            };
            let names: Vec<String> = request
                .queries
                .queries()
                .iter()
                .map(|q| normalize_name(&literal_name(q.name())))
                .collect();
            self.shared.history.push(DnsQueryRecord {
                at: SystemTime::now(),
                peer,
                transport,
                name: names.join(","),
                qtype: None,
                rcode,
                answers: Vec::new(),
            });
            metadata.response_code = rcode;
            let response = builder.build_no_records(metadata);
            return send(&mut response_handle, response, metadata).await;
        };

        let name = normalize_name(&literal_name(&Name::from(query.name().clone())));
        let qtype = query.query_type();
        let (rcode, rdata) = if query.query_class() == DNSClass::IN {
            lock(&self.shared.zone).answer(&name, qtype)
        } else {
            (ResponseCode::NoError, Vec::new())
        };
        let owner = Name::from(query.name().clone());
        let answers: Vec<Record> = rdata
            .into_iter()
            .map(|rdata| Record::from_rdata(owner.clone(), TTL, rdata))
            .collect();
        self.shared.history.push(DnsQueryRecord {
            at: SystemTime::now(),
            peer,
            transport,
            name,
            qtype: Some(qtype),
            rcode,
            answers: answers.iter().map(|r| render(&r.data)).collect(),
        });
        metadata.response_code = rcode;
        let response = builder.build(
            metadata,
            answers.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        send(&mut response_handle, response, metadata).await
    }
}

async fn send<'a, R: ResponseHandler>(
    response_handle: &mut R,
    response: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    metadata: Metadata,
) -> ResponseInfo {
    match response_handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "dns responder failed to send a response");
            let mut metadata = metadata;
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}

struct Inner {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    // Dropping the server drops its JoinSet, which aborts the UDP/TCP tasks.
    server: Server<Handler>,
}

/// In-memory DNS server answering TXT, CAA, A and AAAA for any name, on UDP and
/// TCP of the same port. Every query is recorded.
///
/// Names are case-insensitive and may be given with or without a trailing dot.
/// Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct DnsResponder {
    inner: Arc<Inner>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl DnsResponder {
    /// Binds UDP and TCP on `addr` (with port 0, one free port for both) and
    /// starts serving in the background.
    ///
    /// # Errors
    ///
    /// Any bind error of the UDP socket or the TCP listener.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let (udp, tcp) = bind_pair(addr).await?;
        let local_addr = udp.local_addr()?;
        let shared = Arc::new(Shared {
            zone: Mutex::new(Zone::default()),
            history: History::new(),
        });
        let mut server = Server::new(Handler {
            shared: shared.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, CONNECTION_TIMEOUT, 32);
        Ok(Self {
            inner: Arc::new(Inner {
                local_addr,
                shared,
                server,
            }),
        })
    }

    /// The address (UDP and TCP) the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    fn zone(&self) -> std::sync::MutexGuard<'_, Zone> {
        lock(&self.inner.shared.zone)
    }

    /// Replaces the TXT values of `name` (each value is one TXT record).
    pub fn set_txt(&self, name: &str, values: Vec<String>) {
        self.zone().txt.insert(normalize_name(name), values);
    }

    /// Adds one TXT value to `name`, keeping existing ones (RFC 8555 §8.4
    /// allows several, e.g. for a wildcard and its base name).
    pub fn add_txt(&self, name: &str, value: &str) {
        self.zone()
            .txt
            .entry(normalize_name(name))
            .or_default()
            .push(value.to_owned());
    }

    /// Removes all TXT values of `name`.
    pub fn clear_txt(&self, name: &str) {
        self.zone().txt.remove(&normalize_name(name));
    }

    /// Sets the A answer given to names without an explicit [`set_a`](Self::set_a);
    /// `None` makes such A queries return an empty NOERROR. Default: 127.0.0.1.
    pub fn set_default_ipv4(&self, addr: Option<Ipv4Addr>) {
        self.zone().default_ipv4 = addr;
    }

    /// Sets the AAAA answer given to names without an explicit
    /// [`set_aaaa`](Self::set_aaaa). Default: `None` (empty NOERROR).
    pub fn set_default_ipv6(&self, addr: Option<Ipv6Addr>) {
        self.zone().default_ipv6 = addr;
    }

    /// Overrides the A records of `name` (an empty list means "no A records").
    pub fn set_a(&self, name: &str, addrs: Vec<Ipv4Addr>) {
        self.zone().a.insert(normalize_name(name), addrs);
    }

    /// Overrides the AAAA records of `name` (an empty list means "no AAAA").
    pub fn set_aaaa(&self, name: &str, addrs: Vec<Ipv6Addr>) {
        self.zone().aaaa.insert(normalize_name(name), addrs);
    }

    /// Drops the A/AAAA overrides of `name`, so the defaults apply again.
    pub fn clear_addresses(&self, name: &str) {
        let key = normalize_name(name);
        let mut zone = self.zone();
        zone.a.remove(&key);
        zone.aaaa.remove(&key);
    }

    /// Adds a CAA `issue` record (RFC 8659) to `name`.
    ///
    /// `issuer` is the record value: an issuer domain, optionally followed by
    /// `; key=value` parameters (`"ca.test; accounturi=https://…"`); an empty
    /// domain (`";"`) forbids issuance.
    ///
    /// # Errors
    ///
    /// [`ResponderError::InvalidIdentifier`] if the issuer domain is not a
    /// valid DNS name or a parameter is not `key=value`.
    pub fn add_caa(&self, name: &str, issuer: &str) -> Result<(), ResponderError> {
        let mut parts = issuer.split(';');
        let domain = parts.next().unwrap_or("").trim();
        let issuer_name = if domain.is_empty() {
            None
        } else {
            Some(
                Name::from_ascii(domain).map_err(|e| ResponderError::InvalidIdentifier {
                    identifier: domain.to_owned(),
                    reason: e.to_string(),
                })?,
            )
        };
        let mut params = Vec::new();
        for part in parts.map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) =
                part.split_once('=')
                    .ok_or_else(|| ResponderError::InvalidIdentifier {
                        identifier: issuer.to_owned(),
                        reason: format!("CAA parameter {part:?} is not key=value"),
                    })?;
            params.push(KeyValue::new(key.trim(), value.trim()));
        }
        self.add_caa_record(name, CAA::new_issue(false, issuer_name, params));
        Ok(())
    }

    /// Adds an arbitrary CAA record (e.g. `issuewild`, `iodef`, critical flag).
    pub fn add_caa_record(&self, name: &str, caa: CAA) {
        self.zone()
            .caa
            .entry(normalize_name(name))
            .or_default()
            .push(caa);
    }

    /// Removes all CAA records of `name`.
    pub fn clear_caa(&self, name: &str) {
        self.zone().caa.remove(&normalize_name(name));
    }

    /// Makes every query for `name` (any type) answer SERVFAIL.
    pub fn set_servfail(&self, name: &str) {
        self.zone().servfail.insert(normalize_name(name));
    }

    /// Undoes [`set_servfail`](Self::set_servfail).
    pub fn clear_servfail(&self, name: &str) {
        self.zone().servfail.remove(&normalize_name(name));
    }

    /// Removes all TXT, CAA, address overrides and SERVFAIL names; restores
    /// the default addresses (A 127.0.0.1, no AAAA).
    pub fn reset(&self) {
        *self.zone() = Zone::default();
    }

    /// The queries seen so far, oldest first.
    pub fn history(&self) -> Vec<DnsQueryRecord> {
        self.inner.shared.history.snapshot()
    }

    /// Forgets the recorded queries.
    pub fn clear_history(&self) {
        self.inner.shared.history.clear();
    }

    /// Stops serving now, even if other clones exist.
    pub fn shutdown(&self) {
        self.inner.server.shutdown_token().cancel();
    }
}

/// Binds a UDP socket and a TCP listener on the same port. With port 0 the
/// port picked for UDP may be taken for TCP, so a few attempts are made.
async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let attempts = if addr.port() == 0 { 16 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("could not bind DNS UDP+TCP pair")))
}
