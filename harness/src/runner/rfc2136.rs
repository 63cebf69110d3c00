//! Publishing dns-01 TXT records by RFC 2136 dynamic update, signed with TSIG (RFC 8945).
//!
//! Every authoritative DNS server accepts dynamic updates (BIND, Knot, PowerDNS, the
//! cloud DNS services behind a gateway), and lego and certbot ship the same provider, so
//! a CA whose resolvers only see public DNS can still be given dns-01 records by the
//! runner: the user delegates the test zone to a server they own and hands over a key.
//!
//! The exchange goes over TCP (no truncation or retransmission to handle), one message
//! each way, bounded by the solver timeout. The zone to update is the one the server
//! itself names in the SOA of its answer for the record's name, as certbot's plugin finds
//! it, so no zone flag is needed. Answers to a signed request must be signed with the same
//! key, or the update is not trusted to have happened.

use hickory_proto::op::{Message, MessageType, Query, ResponseCode, update_message};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::{DNSClass, Name, RData, RecordSet, RecordType, TSigner};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// TTL of the TXT records the runner adds: short, as the record lives for one validation.
const TXT_TTL: u32 = 60;
/// Allowed clock difference for TSIG (RFC 8945 §10 recommends 300 seconds).
const TSIG_FUDGE: u16 = 300;

/// A TSIG key as BIND's `tsig-keygen` prints it: `NAME:ALGORITHM:BASE64-SECRET`.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    name: String,
    algorithm: String,
    secret: Vec<u8>,
}

impl TsigKey {
    /// The key's name, which reports show (never the secret).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn signer(&self) -> Result<TSigner, String> {
        let name = Name::from_ascii(&self.name).map_err(|e| format!("TSIG key name {:?}: {e}", self.name))?;
        let algorithm = TsigAlgorithm::from_name(Name::from_ascii(&self.algorithm).map_err(|e| e.to_string())?);
        TSigner::new(self.secret.clone(), algorithm, name, TSIG_FUDGE).map_err(|e| format!("TSIG key {}: {e}", self.name))
    }
}

/// Keeps the secret out of logs and debug output.
impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TsigKey({}, {})", self.name, self.algorithm)
    }
}

/// The algorithms ring computes; BIND's `tsig-keygen` default is hmac-sha256.
const TSIG_ALGORITHMS: [&str; 3] = ["hmac-sha256", "hmac-sha384", "hmac-sha512"];

impl FromStr for TsigKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        let (Some(name), Some(algorithm), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("give the key as NAME:ALGORITHM:SECRET, e.g. acme-key:hmac-sha256:<base64 secret>".into());
        };
        let algorithm = algorithm.trim_end_matches('.').to_ascii_lowercase();
        if !TSIG_ALGORITHMS.contains(&algorithm.as_str()) {
            return Err(format!("TSIG algorithm {algorithm:?} is not one of {}", TSIG_ALGORITHMS.join(", ")));
        }
        use base64::Engine as _;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|e| format!("the TSIG secret is no base64 (as tsig-keygen prints it): {e}"))?;
        if name.is_empty() || secret.is_empty() {
            return Err("the TSIG key needs a name and a secret".into());
        }
        let key = TsigKey { name: name.to_owned(), algorithm, secret };
        key.signer()?;
        Ok(key)
    }
}

/// An authoritative DNS server that takes dynamic updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc2136 {
    /// Where its updates go (TCP).
    pub server: SocketAddr,
    /// The key updates are signed with; without one they go unsigned (servers that allow
    /// updates by address).
    pub key: Option<TsigKey>,
    /// Upper bound of one exchange.
    pub timeout: Duration,
}

impl Rfc2136 {
    /// How reports name it.
    pub fn describe(&self) -> String {
        match &self.key {
            Some(key) => format!("rfc2136 {} (TSIG key {})", self.server, key.name()),
            None => format!("rfc2136 {} (unsigned)", self.server),
        }
    }

    /// Adds `value` to the TXT records of `_acme-challenge.IDENTIFIER`.
    pub(crate) async fn present(&self, identifier: &str, value: &str) -> Result<(), String> {
        let (name, zone) = self.record_and_zone(identifier).await?;
        let update = update_message::append(txt(&name, value, TXT_TTL), zone, false, false);
        self.update(update, &name, "adding").await
    }

    /// Removes the TXT record `present` added, leaving any others of the name.
    pub(crate) async fn cleanup(&self, identifier: &str, value: &str) -> Result<(), String> {
        let (name, zone) = self.record_and_zone(identifier).await?;
        let update = update_message::delete_by_rdata(txt(&name, value, 0), zone, false);
        self.update(update, &name, "removing").await
    }

    async fn update(&self, update: Message, name: &Name, doing: &str) -> Result<(), String> {
        let answer = self.exchange(update).await?;
        match answer.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            code => Err(format!("{}: {doing} the TXT record of {name} was refused: {}", self.describe(), refusal(code, &answer, false))),
        }
    }

    /// The record's name and the zone the server holds it in, from the SOA in its answer.
    async fn record_and_zone(&self, identifier: &str) -> Result<(Name, Name), String> {
        let name = Name::from_ascii(format!("_acme-challenge.{}.", identifier.trim_end_matches('.')))
            .map_err(|e| format!("{}: no DNS name for {identifier:?}: {e}", self.describe()))?;
        let mut query = Message::query();
        query.metadata.recursion_desired = false;
        query.add_query(Query::query(name.clone(), RecordType::SOA));
        let answer = self.exchange(query).await?;
        if !matches!(answer.metadata.response_code, ResponseCode::NoError | ResponseCode::NXDomain) {
            return Err(format!("{}: asked which zone holds {name}: {}", self.describe(), refusal(answer.metadata.response_code, &answer, true)));
        }
        let soa = answer.answers.iter().chain(&answer.authorities).find(|r| r.record_type() == RecordType::SOA);
        match soa {
            Some(soa) if soa.name.zone_of(&name) && answer.metadata.authoritative => Ok((name, soa.name.clone())),
            _ => Err(format!("{}: the server is not authoritative for {name} (its answer names no zone holding it)", self.describe())),
        }
    }

    /// Sends `message` (signed when there is a key) and returns the server's answer,
    /// whose signature is checked when the answer says the request succeeded.
    async fn exchange(&self, mut message: Message) -> Result<Message, String> {
        let who = self.describe();
        let mut verifier = None;
        if let Some(key) = &self.key {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            verifier = message.finalize(&key.signer()?, now).map_err(|e| format!("{who}: signing: {e}"))?;
        }
        let bytes = message.to_vec().map_err(|e| format!("{who}: encoding: {e}"))?;
        let talk = async {
            let mut stream = tokio::net::TcpStream::connect(self.server).await.map_err(|e| format!("cannot connect: {e}"))?;
            let length = u16::try_from(bytes.len()).map_err(|_| "the message is too long".to_owned())?;
            stream.write_all(&[&length.to_be_bytes()[..], &bytes].concat()).await.map_err(|e| format!("sending: {e}"))?;
            let mut length = [0u8; 2];
            stream.read_exact(&mut length).await.map_err(|e| format!("reading the answer: {e}"))?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut answer).await.map_err(|e| format!("reading the answer: {e}"))?;
            Ok::<_, String>(answer)
        };
        let answer = match tokio::time::timeout(self.timeout, talk).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(format!("{who}: {e}")),
            Err(_) => return Err(format!("{who}: no answer within {}s", self.timeout.as_secs())),
        };
        let parsed = Message::from_vec(&answer).map_err(|e| format!("{who}: the answer is no DNS message: {e}"))?;
        if parsed.metadata.id != message.metadata.id || parsed.metadata.message_type != MessageType::Response {
            return Err(format!("{who}: the answer is not a response to the request"));
        }
        if let Some(v) = verifier.as_mut().filter(|_| parsed.metadata.response_code == ResponseCode::NoError) {
            v.verify(&answer).map_err(|e| format!("{who}: the answer is not signed with the key: {e}"))?;
        }
        Ok(parsed)
    }
}

/// A TXT record set of one value.
fn txt(name: &Name, value: &str, ttl: u32) -> RecordSet {
    let mut set = RecordSet::with_ttl(name.clone(), RecordType::TXT, ttl);
    set.set_dns_class(DNSClass::IN);
    set.add_rdata(RData::TXT(TXT::new(vec![value.to_owned()])));
    set
}

/// What a refusal said: the response code, the TSIG error that explains most of them,
/// and what to check. `asking` is true for the query that finds the zone.
fn refusal(code: ResponseCode, answer: &Message, asking: bool) -> String {
    let tsig = answer.signature().and_then(|s| s.data.error.as_ref());
    let hint = match (code, tsig) {
        (_, Some(TsigError::BadTime)) => "the clocks of this machine and the server differ by more than 300 seconds",
        (_, Some(_)) => "the server does not accept the TSIG key (its name, algorithm or secret differ)",
        (ResponseCode::Refused | ResponseCode::NotAuth, None) if asking => {
            "the server holds no zone for this name: is --domain-suffix inside a zone it is primary for?"
        }
        (ResponseCode::Refused, None) => "the server does not allow this update: check its allow-update or update-policy",
        (ResponseCode::NotAuth, None) => "the server is not the zone's primary, or wants a TSIG key",
        _ => "",
    };
    let tsig = tsig.map(|e| format!(", TSIG error {e:?}")).unwrap_or_default();
    if hint.is_empty() { format!("{code}{tsig}") } else { format!("{code}{tsig}: {hint}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tsig_key_parses_as_tsig_keygen_prints_it() {
        let key: TsigKey = "acme-key:HMAC-SHA256.:c2VjcmV0IHNlY3JldCBzZWNyZXQ=".parse().unwrap();
        assert_eq!((key.name(), key.algorithm.as_str()), ("acme-key", "hmac-sha256"));
        assert_eq!(key.secret, b"secret secret secret");
        assert!(!format!("{key:?}").contains("c2Vj"), "Debug keeps the secret out");
        for (bad, says) in [
            ("acme-key:hmac-sha256", "NAME:ALGORITHM:SECRET"),
            ("acme-key:hmac-md5:c2VjcmV0", "not one of"),
            ("acme-key:hmac-sha256:***", "no base64"),
            (":hmac-sha256:c2VjcmV0", "a name and a secret"),
        ] {
            let err = bad.parse::<TsigKey>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
