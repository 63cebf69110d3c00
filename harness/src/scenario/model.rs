//! The vocabulary of case files: what a scenario author may write, as Rust types.
//!
//! Every struct refuses unknown fields, so a typo in a case file is an error with a
//! line number instead of an expectation that silently never runs.

use crate::protocol::jws::Algorithm;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The requirement level a case or expectation checks (RFC 2119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// MUST, MUST NOT, REQUIRED, SHALL: a miss is a failure.
    #[serde(rename = "MUST")]
    Must,
    /// SHOULD, SHOULD NOT, RECOMMENDED: a miss is non-strict.
    #[serde(rename = "SHOULD")]
    Should,
    /// MAY, OPTIONAL: a miss means the feature is not offered.
    #[serde(rename = "MAY")]
    May,
}

/// An optional server feature a case needs; without it the case is `unsupported`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// The directory lists `keyChange`.
    KeyChange,
    /// The directory lists `revokeCert`.
    RevokeCert,
    /// The directory lists `renewalInfo` (RFC 9773).
    RenewalInfo,
    /// The directory lists `newAuthz` (pre-authorization).
    NewAuthz,
    /// The directory `meta` has `termsOfService`.
    TermsOfService,
    /// The server offers the http-01 challenge.
    #[serde(rename = "http-01")]
    Http01,
    /// The server offers the dns-01 challenge.
    #[serde(rename = "dns-01")]
    Dns01,
    /// The server offers the tls-alpn-01 challenge (RFC 8737).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// The server issues for wildcard names.
    Wildcard,
    /// The server accepts `ip` identifiers (RFC 8738).
    IpIdentifiers,
    /// The server verifies external account bindings (RFC 8555 §7.3.4); needs `--eab` credentials.
    Eab,
    /// The server requires an external account binding in newAccount (RFC 8555 §7.3.4).
    EabRequired,
    /// The server refuses accounts that do not agree to its terms of service (RFC 8555 §7.3).
    TermsRequired,
    /// The capabilities file names a trigger that changes the terms of service for one
    /// account, which must then agree again (RFC 8555 §7.3.3).
    TosChange,
    /// The capabilities file declares a rate limit a fresh account reaches (RFC 8555 §6.6).
    RateLimit,
    /// The server refuses accounts without a contact URL (a policy RFC 8555 §7.3 leaves to
    /// it): the run's `--contact` goes on every account, and a step that creates one
    /// without a contact makes its case `unsupported`.
    ContactRequired,
    /// The directory advertises certificate profiles (`meta.profiles`,
    /// draft-ietf-acme-profiles).
    Profiles,
    /// The capabilities file names a profile for DNS names only (`[profiles] dns-only`):
    /// an order for an ip identifier under it is incompatible.
    ProfileDnsOnly,
    /// The capabilities file names a profile and a `profile-withdrawal` trigger that makes
    /// the server stop issuing under it (`[profiles] withdrawn`).
    ProfileWithdrawal,
}

/// What a step does. Each action is implemented once, in Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// An unsigned HTTP request (`method`, `target`, `headers`, `body`).
    Http,
    /// Create or look up an account (newAccount).
    NewAccount,
    /// Update the account's contact or send a custom payload.
    UpdateAccount,
    /// Deactivate the account (§7.3.6).
    DeactivateAccount,
    /// Roll the account key over (§7.3.5), with inner-JWS mutations.
    KeyChange,
    /// Create an order (newOrder).
    NewOrder,
    /// POST-as-GET a resource.
    Fetch,
    /// A signed POST with a custom payload to any target.
    SignedPost,
    /// Solve every authorization of the order with one challenge type and wait for validity.
    Solve,
    /// POST to one challenge (optionally without provisioning the response).
    RespondChallenge,
    /// Serve one challenge's response now, later than the POST that answered it.
    Provision,
    /// Wait until the CA made `queries` http-01 validation queries for one challenge.
    AwaitValidation,
    /// POST-as-GET a resource until its status is one of `until`.
    Poll,
    /// Deactivate an authorization (§7.5.2).
    DeactivateAuthz,
    /// Send the CSR to the order's finalize URL.
    Finalize,
    /// Ask for a pre-authorization (§7.4.1); the result is held like an order whose
    /// only authorization it is, so the authorization steps work on it unchanged.
    NewAuthz,
    /// POST-as-GET the certificate chain.
    DownloadCertificate,
    /// Revoke the order's certificate (§7.6).
    Revoke,
    /// Wait for a bounded time.
    Sleep,
    /// Ask the server, through a trigger its capabilities file declares, to do what no
    /// ACME request can (e.g. change the terms of service for the account).
    Trigger,
    /// Send requests to the resource of the declared rate limit up to the limit (each
    /// must succeed), then the one request past it, whose response is checked.
    ExceedRateLimit,
    /// Check every answer of the whole run for one requirement (`audit`); a case with
    /// such a step runs after all the others.
    AuditRun,
}

/// What an `audit-run` step checks in every answer of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Audit {
    /// Every problem `type` in the ACME namespace, in every answer, is registered
    /// (RFC 8555 §6.7).
    RegisteredTypes,
    /// Every successful answer to a POST carries a Replay-Nonce (RFC 8555 §6.5).
    ReplayNonce,
    /// No challenge token is handed out for two different challenges (RFC 8555 §8.3:
    /// at least 128 bits of entropy).
    UniqueTokens,
}

/// The resource a step addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// The directory URL.
    Directory,
    /// A resource listed in the directory, by its directory name (`newNonce`, `keyChange`, ...).
    DirectoryEntry(String),
    /// The account URL.
    Account,
    /// The account's orders list URL.
    OrdersList,
    /// The order URL.
    Order,
    /// The order's finalize URL.
    Finalize,
    /// The order's certificate URL.
    Certificate,
    /// An authorization of the order (`authz` index).
    Authz,
    /// A challenge of an authorization (`authz` index, `challenge` type).
    Challenge,
    /// A path relative to the directory URL, e.g. `path:/no-such-resource`.
    Path(String),
    /// A URL given with placeholders, e.g. `url:{account_url:victim}`: another account's
    /// resource, addressed by a request signed as the step's account.
    Url(String),
    /// The RenewalInfo resource of the order's certificate (RFC 9773 §4.1).
    RenewalInfo,
}

const DIRECTORY_ENTRIES: &[&str] =
    &["newNonce", "newAccount", "newOrder", "newAuthz", "revokeCert", "keyChange", "renewalInfo"];

impl TryFrom<String> for Target {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "directory" => Target::Directory,
            "account" => Target::Account,
            "orders-list" => Target::OrdersList,
            "order" => Target::Order,
            "finalize" => Target::Finalize,
            "certificate" => Target::Certificate,
            "authz" => Target::Authz,
            "challenge" => Target::Challenge,
            "renewal-info" => Target::RenewalInfo,
            entry if DIRECTORY_ENTRIES.contains(&entry) => Target::DirectoryEntry(s),
            other => match other.strip_prefix("path:") {
                Some(p) if p.starts_with('/') => Target::Path(p.to_owned()),
                _ if other.starts_with("url:{") => Target::Url(other["url:".len()..].to_owned()),
                _ => {
                    return Err(format!(
                        "unknown target {other:?}; expected directory, account, orders-list, order, finalize, \
                         certificate, authz, challenge, renewal-info, path:/..., url:{{placeholder}}, or one of \
                         {DIRECTORY_ENTRIES:?}"
                    ));
                }
            },
        })
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        match t {
            Target::Directory => "directory".into(),
            Target::DirectoryEntry(e) => e,
            Target::Account => "account".into(),
            Target::OrdersList => "orders-list".into(),
            Target::Order => "order".into(),
            Target::Finalize => "finalize".into(),
            Target::Certificate => "certificate".into(),
            Target::Authz => "authz".into(),
            Target::Challenge => "challenge".into(),
            Target::RenewalInfo => "renewal-info".into(),
            Target::Path(p) => format!("path:{p}"),
            Target::Url(u) => format!("url:{u}"),
        }
    }
}

/// An HTTP method for `http` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
}

/// Which key a step signs with or puts in a CSR: a fresh key for a JWS algorithm
/// (`"ES256"`, `"ES384"`, `"RS256"`, `"PS256"`, `"EdDSA"`), or `"account"`, the
/// account's own key (for CSRs: the forbidden case of §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyChoice {
    /// A fresh key for this algorithm (RSA keys are 2048 bits).
    Fresh(Algorithm),
    /// The account's own key.
    Account,
}

impl TryFrom<String> for KeyChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "account" {
            return Ok(KeyChoice::Account);
        }
        Algorithm::from_name(&s).map(KeyChoice::Fresh).ok_or_else(|| {
            let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            format!("unknown key {s:?}; expected \"account\" or one of {names:?}")
        })
    }
}

impl From<KeyChoice> for String {
    fn from(k: KeyChoice) -> String {
        match k {
            KeyChoice::Fresh(alg) => alg.name().to_owned(),
            KeyChoice::Account => "account".to_owned(),
        }
    }
}

/// How a revocation request is authorized (§7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeBy {
    /// Signed by the account that holds authorizations (kid).
    Account,
    /// Signed by the certificate's own key (jwk).
    CertificateKey,
}

/// How the CSR of a `finalize` step is built.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsrSpec {
    /// Names to request instead of the order's identifiers (placeholders allowed).
    pub names: Option<Vec<String>>,
    /// The CSR key; defaults to a fresh ES256 key.
    pub key: Option<KeyChoice>,
    /// Flip a bit of the CSR signature.
    #[serde(default)]
    pub corrupt_signature: bool,
    /// The subject commonName (placeholders allowed); without it the subject is empty.
    pub common_name: Option<String>,
    /// Use the key of this other account of the case as the CSR key (§11.1).
    pub key_of: Option<String>,
}

/// How the inner JWS of a key change is broken (§7.3.5 checks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnerMutation {
    /// Put this URL in the inner header instead of the keyChange URL (`"other"` = the directory URL).
    pub url: Option<String>,
    /// Put this account URL in the inner payload (`"other"` = a different, invented URL).
    pub account: Option<String>,
    /// Put a different key than the account's current one in `oldKey`.
    #[serde(default)]
    pub wrong_old_key: bool,
    /// Sign the inner JWS with the old key instead of the new one.
    #[serde(default)]
    pub sign_with_old_key: bool,
    /// Add a nonce to the inner header.
    #[serde(default)]
    pub add_nonce: bool,
    /// Use the key of this other account as the new key (already in use).
    pub new_key_of: Option<String>,
    /// Use the account's current key as the new key.
    #[serde(default)]
    pub same_key: bool,
    /// Send the inner JWS in the compact serialization instead of as a JWS object (check 2).
    #[serde(default)]
    pub compact: bool,
    /// Leave `jwk` out of the inner header and put the new key in the keyChange object as
    /// a draft-era `newKey` member instead (check 3).
    #[serde(default)]
    pub new_key_in_payload: bool,
    /// Sign this object as the inner payload instead of the keyChange object (check 5;
    /// placeholders allowed).
    pub payload: Option<toml::Table>,
}

/// The external account binding of a `new-account` step (RFC 8555 §7.3.4), and how it is
/// broken. Without one, a step binds with the run's `--eab` credentials when there are some.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EabSpec {
    /// Send no binding even though the run has credentials.
    #[serde(default)]
    pub omit: bool,
    /// Put this key identifier in the binding instead of the run's.
    pub kid: Option<String>,
    /// Compute the MAC with a fresh random key instead of the run's MAC key.
    #[serde(default)]
    pub wrong_mac_key: bool,
    /// Put a nonce in the binding's protected header.
    #[serde(default)]
    pub nonce: bool,
    /// Put this URL in the binding's header instead of the newAccount URL (`"other"` = the directory URL).
    pub url: Option<String>,
    /// Bind a fresh key instead of the account key.
    #[serde(default)]
    pub other_key: bool,
    /// Put this `alg` in the binding's header (the MAC stays HMAC-SHA256).
    pub alg: Option<String>,
    /// Leave out the binding's `signature` member, so it is no well-formed JWS.
    #[serde(default)]
    pub no_signature: bool,
}

/// How the outer request of a signed step is broken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    /// `omit`, `reuse` (a nonce already used), `invented` (never issued), `bad-encoding`.
    pub nonce: Option<NonceMutation>,
    /// `omit`, `other` (another resource's URL), `trailing-slash`, `uppercase-host`, `explicit-port`, `percent-encoded`.
    pub url: Option<UrlMutation>,
    /// Put this `alg` in the header (the signature stays that of the real key).
    pub alg: Option<String>,
    /// Which key identification to send: `jwk`, `kid`, `both` or `none`.
    pub auth: Option<AuthMutation>,
    /// Send this `kid` value instead of the account URL.
    pub kid: Option<String>,
    /// Send this Content-Type (`omit` for none).
    pub content_type: Option<String>,
    /// Add an unprotected `header` member with this content.
    pub unprotected_header: Option<toml::Table>,
    /// Send the general serialization (`signatures` array) instead of the flattened one.
    #[serde(default)]
    pub general_serialization: bool,
    /// Send the compact serialization (`protected.payload.signature`, RFC 7515 §7.1).
    #[serde(default)]
    pub compact_serialization: bool,
    /// Extra protected header members (e.g. `b64 = false`, `crit = ["b64"]`).
    pub protected_extra: Option<toml::Table>,
    /// `corrupt` (flip a bit), `empty`, or `other-key` (signed by a fresh unrelated key).
    pub signature: Option<SignatureMutation>,
    /// Append `=` padding to the protected member.
    #[serde(default)]
    pub pad_base64: bool,
    /// Send this text as the payload instead of JSON.
    pub payload_raw: Option<String>,
    /// Send this exact body instead of any JWS.
    pub body_raw: Option<String>,
    /// Protected header members to leave out (after every other header mutation), e.g. `["alg"]`.
    #[serde(default)]
    pub protected_omit: Vec<String>,
    /// Protected header members to move into an unprotected `header` member, e.g. `["url"]`.
    #[serde(default)]
    pub to_unprotected: Vec<String>,
    /// Send the general serialization with a second, equally valid signature by the same key.
    #[serde(default)]
    pub second_signature: bool,
    /// Leave the `payload` member out, as a detached-content JWS does (RFC 7515 Appendix F).
    #[serde(default)]
    pub detach_payload: bool,
}

/// A nonce mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum NonceMutation {
    Omit,
    Reuse,
    Invented,
    BadEncoding,
    /// A fresh nonce with `=` appended: what was issued, but not valid base64url.
    Padded,
}

/// A `url` header mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum UrlMutation {
    Omit,
    Other,
    TrailingSlash,
    /// The same URL with the host name in upper case (equal as a URL, not as a string).
    UppercaseHost,
    /// The same URL with the scheme in upper case (`HTTPS://`, equal per RFC 3986 §6.2.2.1).
    UppercaseScheme,
    /// The same URL with the scheme's default port written out.
    ExplicitPort,
    /// The same URL with the first letter of its path percent-encoded (equal per RFC 3986 §6.2.2.2).
    PercentEncoded,
}

/// Which key identification a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum AuthMutation {
    Jwk,
    Kid,
    Both,
    None,
}

/// A signature mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum SignatureMutation {
    Corrupt,
    Empty,
    OtherKey,
}

/// What a step's response must look like. Every listed item is checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The requirement ids (of the case's `requirements`) whose keyword these
    /// expectations enforce: the table's level (the case's for `expect`, SHOULD for
    /// `should`) is theirs, and coverage counts a requirement only when some table rests
    /// on it. Nested `if_error` / `if_status` tables rest on their parent's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rests_on: Vec<String>,
    /// The HTTP status, or one of several.
    pub status: Option<StatusSet>,
    /// The media type of the body (parameters ignored).
    pub content_type: Option<String>,
    /// The problem type: a short ACME name (`badNonce`) or a full URI.
    pub problem: Option<String>,
    /// A subproblem with this type must be present (short name or URI).
    pub subproblem: Option<String>,
    /// Headers that must be present.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub absent_headers: Vec<String>,
    /// Header name → text its value must contain (case-insensitive).
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
    /// `Link` relations that must be present.
    #[serde(default)]
    pub links: Vec<String>,
    /// `Link` relation → the URL a Link of that relation must name (placeholders allowed,
    /// e.g. `{saved:directory:/meta/termsOfService}`); URLs compare after parsing.
    #[serde(default)]
    pub link_urls: BTreeMap<String, String>,
    /// JSON pointer → exact value.
    #[serde(default)]
    pub fields: BTreeMap<String, toml::Value>,
    /// JSON pointer → allowed values.
    #[serde(default)]
    pub one_of: BTreeMap<String, Vec<toml::Value>>,
    /// JSON pointer → a value the member must not have (absent is fine), e.g. an
    /// account that must not have become `deactivated`.
    #[serde(default)]
    pub not_equal: BTreeMap<String, toml::Value>,
    /// JSON pointer → JSON type (`string`, `array`, `object`, `number`, `boolean`, `null`, `url`,
    /// `timestamp`, `base64url`, `token`: base64url of at least 128 bits, RFC 8555 §8.3, or
    /// `identifier`: an object with string `type` and `value`, RFC 8555 §9.7.7).
    #[serde(default)]
    pub types: BTreeMap<String, String>,
    /// JSON pointers that must be absent.
    #[serde(default)]
    pub absent: Vec<String>,
    /// The body must be empty.
    pub empty_body: Option<bool>,
    /// The `Location` header must equal the URL of this target.
    pub location_is: Option<Target>,
    /// The body is a PEM chain of at least this many certificates.
    pub pem_chain_min: Option<usize>,
    /// The response Replay-Nonce must differ from every nonce seen before in the case.
    pub fresh_nonce: Option<bool>,
    /// JSON pointer → a value the array there must contain.
    #[serde(default)]
    pub contains: BTreeMap<String, toml::Value>,
    /// The exact `Location` header (placeholders allowed, e.g. `{account_url:other}`).
    pub location: Option<String>,
    /// JSON pointer → JSON type, checked only when the member is present.
    #[serde(default)]
    pub optional_types: BTreeMap<String, String>,
    /// Checked only when the response is an error (status ≥ 400): what the error must be.
    pub if_error: Option<Box<Expect>>,
    /// Body `/status` value → expectations checked only when the body shows that status
    /// (e.g. what a `processing` challenge must carry, RFC 8555 §8.2).
    #[serde(default)]
    pub if_status: BTreeMap<String, Expect>,
    /// The body holds nothing but RFC 7468 strict `CERTIFICATE` blocks (RFC 8555 §9.1, MUST).
    pub pem_chain_strict: Option<bool>,
    /// Each certificate of the PEM chain is signed by the next one (RFC 8555 §9.1, SHOULD).
    pub chain_certifies: Option<bool>,
    /// The names the first certificate holds (subjectAltName DNS names and IP addresses,
    /// and the subject commonName) are exactly this set: RFC 8555 §7.4 fixes the names
    /// issued, not where in the certificate they go.
    pub leaf_names: Option<Vec<String>>,
    /// Every name the first certificate holds (subjectAltName DNS names and IP addresses,
    /// subject commonName) is in this set; none at all is fine (RFC 8555 §7.4: no
    /// "contents other than those requested").
    pub leaf_names_within: Option<Vec<String>>,
    /// What the runner's responders saw of the CA validating this case's challenges.
    pub validation: Option<ValidationExpect>,
    /// The body is UTF-8 and a `charset` parameter, if any, says so (RFC 8555 §5).
    pub utf8: Option<bool>,
    /// The request URL, `Location`, every `Link` URL and every URL in the body outside
    /// `/meta` use https (RFC 8555 §6.1).
    pub https_urls: Option<bool>,
    /// Every problem type in the ACME namespace, top level and subproblems, is registered
    /// with IANA (RFC 8555 §6.7).
    pub registered_types: Option<bool>,
    /// A URL (placeholders allowed) the `Location` header must differ from in a run of at
    /// least 8 characters: a heuristic for an unpredictable component (RFC 8555 §10.5).
    pub location_unlike: Option<String>,
    /// JSON pointer → name of a body saved by an earlier step (`save`): the value there
    /// equals the value at the same pointer of the saved body (both absent counts as equal).
    #[serde(default)]
    pub same_as: BTreeMap<String, String>,
    /// The first certificate of the PEM body is the first certificate of this saved body.
    pub leaf_same_as: Option<String>,
    /// `Retry-After` is present and is delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    pub retry_after: Option<bool>,
    /// JSON pointer → a value the array there must not contain.
    #[serde(default)]
    pub excludes: BTreeMap<String, toml::Value>,
    /// JSON pointer → members: the array there holds an object with at least these members.
    #[serde(default)]
    pub contains_match: BTreeMap<String, toml::Table>,
    /// JSON pointer → members: no object in the array there has all these members.
    #[serde(default)]
    pub lacks_match: BTreeMap<String, toml::Table>,
    /// JSON pointer → pointer of an earlier timestamp: both are RFC 3339 timestamps and
    /// the first is strictly later (`{ "/suggestedWindow/end" = "/suggestedWindow/start" }`).
    #[serde(default)]
    pub after: BTreeMap<String, String>,
}

/// How the CA's validation of the case's challenges must have looked to the runner's
/// responders (records are attributed to the case by token, SNI and DNS name).
/// "Every" checks also need at least one record, so they cannot pass vacuously.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationExpect {
    /// Every http-01 request carried this `Host` (port and IPv6 brackets aside; DNS
    /// names compared without regard to case; placeholders allowed).
    pub http_host: Option<String>,
    /// Every http-01 and tls-alpn-01 connection was made to this IP address.
    pub connected_to: Option<String>,
    /// Whether the redirect of a `provision = "redirect"` token was followed.
    pub redirect_followed: Option<bool>,
    /// Every tls-alpn-01 ClientHello carried this SNI (compared without regard to case).
    pub tls_sni: Option<String>,
    /// Every tls-alpn-01 ClientHello offered exactly these ALPN protocols, in order.
    pub alpn_offered: Option<Vec<String>>,
    /// After every completed acme-tls/1 handshake the CA sent no application data.
    pub tls_no_data_after_handshake: Option<bool>,
    /// After every completed acme-tls/1 handshake the CA closed within this many ms.
    pub tls_closed_within_ms: Option<u64>,
    /// Whether any DNS query about the case's identifiers (the name, `_acme-challenge.`
    /// the name, an address or its reverse name) reached the runner's DNS server.
    pub dns_queried: Option<bool>,
    /// Every such DNS query used this transport: `udp` or `tcp`.
    pub dns_transport: Option<DnsTransportName>,
    /// Whether an A or AAAA query for an identifier's own value (a name, or an address
    /// written as one) was seen: RFC 8738 §4 skips "their initial DNS resolution step"
    /// for IP identifiers, while a reverse (PTR) lookup is no resolution of the identifier.
    pub dns_address_lookup: Option<bool>,
    /// Whether a TXT query for an identifier's `_acme-challenge` name was seen (the
    /// dns-01 validation query, RFC 8555 §8.4).
    pub dns_txt_queried: Option<bool>,
    /// At least this many http-01 validation queries for the case's tokens (a query is a
    /// burst of requests for one token, one per vantage point).
    pub http_queries_min: Option<usize>,
    /// At most this many http-01 validation queries for the case's tokens.
    pub http_queries_max: Option<usize>,
    /// The response's `/error` holds at least one entry per http-01 validation query seen
    /// for the case's tokens: a subproblem each, a problem without subproblems counting as
    /// one (RFC 8555 §8.2: an entry per failed validation query).
    pub error_entries_cover_queries: Option<bool>,
}

impl ValidationExpect {
    /// Whether any tls-alpn-01 observation is checked (they need the handshakes settled).
    pub fn checks_tls(&self) -> bool {
        self.tls_sni.is_some()
            || self.alpn_offered.is_some()
            || self.tls_no_data_after_handshake.is_some()
            || self.tls_closed_within_ms.is_some()
    }
}

/// A DNS transport, as a `validation` check names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum DnsTransportName {
    Udp,
    Tcp,
}

/// `provision` of a `respond-challenge` step: `true`/`false`, or a way of serving the
/// response that the RFCs tell validators to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Provision {
    /// Provision the exact response (`true`) or nothing (`false`).
    Plain(bool),
    /// Provision it in this variant.
    Variant(ProvisionVariant),
}

/// A variant way of serving a challenge response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProvisionVariant {
    /// http-01: the key authorization followed by whitespace (RFC 8555 §8.3).
    TrailingWhitespace,
    /// http-01: a 302 to another path serving the key authorization (RFC 8555 §8.3).
    Redirect,
    /// tls-alpn-01: the certificate's dNSName in upper case (RFC 8737 §3).
    UppercaseSan,
}

/// One status, a set of acceptable statuses, or a class (`"4xx"`) where the RFC only
/// says "reject" and fixes no status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusSet {
    /// Exactly this status.
    One(u16),
    /// Any of these.
    Any(Vec<u16>),
    /// Any status of the class: `"4xx"` or `"5xx"`.
    Class(StatusClass),
}

/// A status class written `"4xx"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StatusClass(u16);

impl TryFrom<String> for StatusClass {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "2xx" => Ok(StatusClass(2)),
            "4xx" => Ok(StatusClass(4)),
            "5xx" => Ok(StatusClass(5)),
            "error" => Ok(StatusClass(ERROR_CLASS)),
            other => Err(format!("status class {other:?} must be \"2xx\", \"4xx\", \"5xx\" or \"error\"")),
        }
    }
}

/// The class `"error"`: any status from 400 to 599.
const ERROR_CLASS: u16 = 0;

impl From<StatusClass> for String {
    fn from(c: StatusClass) -> String {
        if c.0 == ERROR_CLASS { "error".into() } else { format!("{}xx", c.0) }
    }
}

impl StatusSet {
    /// Whether `status` is acceptable.
    pub fn contains(&self, status: u16) -> bool {
        match self {
            StatusSet::One(s) => *s == status,
            StatusSet::Any(v) => v.contains(&status),
            StatusSet::Class(c) if c.0 == ERROR_CLASS => (400..600).contains(&status),
            StatusSet::Class(c) => status / 100 == c.0,
        }
    }

    /// Whether only successes (2xx) are acceptable.
    pub fn only_success(&self) -> bool {
        match self {
            StatusSet::One(s) => (200..300).contains(s),
            StatusSet::Any(v) => v.iter().all(|s| (200..300).contains(s)),
            StatusSet::Class(c) => c.0 == 2,
        }
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusSet::One(s) => write!(f, "{s}"),
            StatusSet::Any(v) => {
                let list: Vec<String> = v.iter().map(u16::to_string).collect();
                write!(f, "one of {}", list.join(", "))
            }
            StatusSet::Class(c) => write!(f, "{}", String::from(*c)),
        }
    }
}

/// One step of a case. Which fields an action reads is checked at load time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the step does.
    pub action: Action,
    /// Name to bind the created account or order to (default `default`).
    #[serde(rename = "as")]
    pub bind: Option<String>,
    /// Which account signs (default `default`).
    pub account: Option<String>,
    /// Which order the step is about (default `default`).
    pub order: Option<String>,
    /// The resource addressed.
    pub target: Option<Target>,
    /// HTTP method of an `http` step.
    pub method: Option<HttpMethod>,
    /// Extra request headers of an `http` step.
    pub headers: Option<BTreeMap<String, String>>,
    /// Body of an `http` step.
    pub body: Option<String>,
    /// Key algorithm of a new account.
    pub key: Option<KeyChoice>,
    /// Reuse the key of this account for a new account request.
    pub reuse_key_of: Option<String>,
    /// Contact URLs.
    pub contact: Option<Vec<String>>,
    /// `termsOfServiceAgreed` of newAccount (default true).
    pub terms_of_service_agreed: Option<bool>,
    /// `onlyReturnExisting` of newAccount.
    pub only_return_existing: Option<bool>,
    /// The external account binding of newAccount and how it is broken.
    pub eab: Option<EabSpec>,
    /// `replaces` of a new order (RFC 9773 §5), e.g. `{cert_id:old}`.
    pub replaces: Option<String>,
    /// `profile` of a new order (draft-ietf-acme-profiles §4), e.g. `{profile}`.
    pub profile: Option<String>,
    /// A payload replacing the one the action would build (a table, or `""` for POST-as-GET).
    pub payload: Option<toml::Value>,
    /// Identifiers of a new order: `dns:NAME` or `ip:ADDR`, with placeholders.
    pub identifiers: Option<Vec<String>>,
    /// `notBefore` of a new order.
    pub not_before: Option<String>,
    /// `notAfter` of a new order.
    pub not_after: Option<String>,
    /// Challenge type (`http-01`, `dns-01`, `tls-alpn-01`).
    pub challenge: Option<String>,
    /// Index of the authorization in the order (default 0).
    pub authz: Option<usize>,
    /// Whether and how to provision the challenge response before responding (default true).
    pub provision: Option<Provision>,
    /// Statuses that end a poll.
    pub until: Option<Vec<String>>,
    /// How many http-01 validation queries for the challenge's token an
    /// `await-validation` step waits for (up to `timeout_s`).
    pub queries: Option<usize>,
    /// A `sleep` step sleeps for the previous response's Retry-After (at most 60 s).
    pub retry_after: Option<bool>,
    /// Upper bound on a poll or solve, seconds (default 30).
    pub timeout_s: Option<u64>,
    /// CSR of a finalize step.
    pub csr: Option<CsrSpec>,
    /// After finalize, wait for the order to become valid.
    pub wait: Option<bool>,
    /// How a revocation is authorized.
    pub by: Option<RevokeBy>,
    /// Revocation reason code.
    pub reason: Option<u8>,
    /// Algorithm of the new key in a key change.
    pub new_key: Option<KeyChoice>,
    /// Key change inner-JWS mutations.
    pub inner: Option<InnerMutation>,
    /// Seconds to sleep.
    pub seconds: Option<f64>,
    /// The capabilities trigger a `trigger` step fires (`tos-change`).
    pub trigger: Option<String>,
    /// What an `audit-run` step checks.
    pub audit: Option<Audit>,
    /// A directory entry (`newAuthz`): when the directory does not list it, the step is
    /// skipped with its expectations.
    pub if_listed: Option<String>,
    /// Which alternate chain (`Link: rel="alternate"` of the default one, 0-based) to download.
    pub alternate: Option<usize>,
    /// Keep the response body under this name for later `same_as` / `leaf_same_as`.
    pub save: Option<String>,
    /// JSON pointer → value (an array: any of its values) the response shows when the
    /// server offers the optional behaviour the case is about; otherwise the case is
    /// `unsupported`.
    pub offered_when: Option<BTreeMap<String, toml::Value>>,
    /// Where the RFC lets the server refuse the request ("if the server accepts..."): an
    /// error answer (`true`), or one of these problem types only, makes the case
    /// `unsupported` with the server's reason instead of failing it.
    pub refusable: Option<Refusable>,
    /// Runs the step (and checks its expectations) only when the order's last seen
    /// status is one of these; otherwise it is skipped.
    pub when_order: Option<Vec<String>>,
    /// Request mutations of a signed step.
    pub mutate: Option<Mutation>,
    /// Expectations at the case's level.
    pub expect: Option<Expect>,
    /// Expectations at SHOULD level.
    pub should: Option<Expect>,
}

/// Which refusals of a step the RFC allows (`refusable`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Refusable {
    /// `true`: any error answer.
    Any(bool),
    /// Only errors of these problem types (`badSignatureAlgorithm`, or full URNs): an
    /// unrelated refusal is no sign the feature is missing.
    Problems(Vec<String>),
}

impl Step {
    /// Whether the step has expectations (an `audit-run` step is one): it is what its
    /// case tests. A step without them only sets the case up and must succeed the
    /// ordinary way.
    pub fn is_checked(&self) -> bool {
        self.expect.is_some() || self.should.is_some() || self.action == Action::AuditRun
    }

    /// Whether the step sends no request of its own, so has no response to check.
    pub fn sends_nothing(&self) -> bool {
        matches!(self.action, Action::Provision | Action::AwaitValidation | Action::Sleep | Action::AuditRun)
    }

    /// Whether the step asks for nothing but its kind's ordinary inputs (a newOrder of one
    /// DNS name, a default CSR, the default key, no mutation, ...): its success is then
    /// a precondition, judged by the case that judges its kind, never the subject of
    /// the case that uses it.
    pub fn is_ordinary(&self) -> bool {
        let one_name = self.identifiers.as_deref().is_none_or(|ids| matches!(ids, [one] if one == "dns:{name}"));
        one_name
            && self.mutate.is_none()
            && self.key.is_none()
            && self.reuse_key_of.is_none()
            && self.payload.is_none()
            && self.contact.is_none()
            && self.terms_of_service_agreed.is_none()
            && self.only_return_existing.is_none()
            && self.eab.is_none()
            && self.replaces.is_none()
            && self.profile.is_none()
            && self.not_before.is_none()
            && self.not_after.is_none()
            && self.csr.is_none()
            && self.alternate.is_none()
            && self.refusable.is_none()
            && self.offered_when.is_none()
            && self.when_order.is_none()
    }

    /// What the step does, in the words cases use to say which setup steps they judge
    /// (`judges`): the action, with the challenge type of `solve` (validation differs
    /// by type) and the target of requests to a named resource (`solve:http-01`,
    /// `fetch:authz`). Steps
    /// that send nothing of their own share the key of what they are part of: serving
    /// a challenge response is half of responding to it, and a CA's first validation
    /// query is what solving waits for. Validating an IP address is judged apart from
    /// validating a name (RFC 8738), so at run time a `solve` key of an order for IP
    /// addresses gains `:ipv4` or `:ipv6` (see the runner).
    pub fn setup_key(&self) -> String {
        let action = toml::Value::try_from(self.action).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let challenge = self.challenge.as_deref().unwrap_or("any");
        match self.action {
            // Looking an account up, or asking again with its key, is a request of its own
            // (§7.3.1), judged apart from creating one.
            Action::NewAccount if self.only_return_existing == Some(true) => format!("{action}:lookup"),
            Action::NewAccount if self.reuse_key_of.is_some() => format!("{action}:existing-key"),
            Action::Solve => format!("{action}:{challenge}"),
            // Answering a challenge (§7.5.1) is the same request whatever its type.
            Action::RespondChallenge | Action::Provision => "respond-challenge".into(),
            Action::AwaitValidation => format!("solve:{challenge}"),
            Action::Fetch | Action::Poll | Action::SignedPost | Action::Http => match &self.target {
                Some(t) => format!("{action}:{}", String::from(t.clone())),
                None => action,
            },
            _ => action,
        }
    }
}

/// One conformance case as written in a case file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseDef {
    /// RFC-addressed id: `rfc8555/7.4/finalize-not-ready`.
    pub id: String,
    /// One line saying what is checked.
    pub title: String,
    /// The level of the requirement checked by `expect`.
    pub level: Level,
    /// Requirement ids from the catalogue.
    pub requirements: Vec<String>,
    /// Longer explanation, quoting the RFC where useful.
    #[serde(default)]
    pub description: Option<String>,
    /// Optional features without which the case is `unsupported`.
    #[serde(default)]
    pub requires: Vec<Feature>,
    /// The setup steps this case judges ([`Step::setup_key`]): when such a step,
    /// used only to set another case up, breaks there, that case is `blocked` by this one.
    #[serde(default)]
    pub judges: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<toml::Spanned<Step>>,
}
