//! ACME resources as they travel (RFC 8555 §7.1, RFC 8738, RFC 9773).
//!
//! Every field a server may omit is an `Option`, and members this crate does not know
//! are kept in `extra`: a conformance tool must be able to read a broken or extended
//! object, not fail to deserialize it and lose the evidence.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The problem type namespace of RFC 8555 §6.7.
pub const ERROR_NS: &str = "urn:ietf:params:acme:error:";

macro_rules! problem_types {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, )*) => {
        /// The error types IANA registers in the ACME namespace: RFC 8555 §9.7, RFC 8739
        /// §6.5 (STAR auto-renewal), RFC 9773's alreadyReplaced and the profiles draft's
        /// invalidProfile. A server may use other URIs, but not invent names inside the
        /// ACME namespace (RFC 8555 §6.7). One list for every engine: the mock CA answers
        /// with these, the runner and the client checks recognise them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ProblemType {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ProblemType {
            /// Every registered type.
            pub const ALL: &'static [ProblemType] = &[$(ProblemType::$variant),*];

            /// The name after [`ERROR_NS`], e.g. `badNonce`.
            pub fn name(self) -> &'static str {
                match self { $(ProblemType::$variant => $name,)* }
            }
        }
    };
}

problem_types! {
    /// The request names an account that does not exist.
    AccountDoesNotExist = "accountDoesNotExist",
    /// The certificate is already revoked.
    AlreadyRevoked = "alreadyRevoked",
    /// The CSR is unacceptable.
    BadCsr = "badCSR",
    /// The nonce is unacceptable.
    BadNonce = "badNonce",
    /// The JWS was signed by a key type the server does not support.
    BadPublicKey = "badPublicKey",
    /// The revocation reason is not allowed.
    BadRevocationReason = "badRevocationReason",
    /// The JWS was signed with an algorithm the server does not support.
    BadSignatureAlgorithm = "badSignatureAlgorithm",
    /// CAA records forbid issuance.
    Caa = "caa",
    /// Several errors; see the subproblems.
    Compound = "compound",
    /// The server could not connect to the validation target.
    Connection = "connection",
    /// A DNS lookup failed during validation.
    Dns = "dns",
    /// The request must include an external account binding.
    ExternalAccountRequired = "externalAccountRequired",
    /// The response received did not match the challenge's requirements.
    IncorrectResponse = "incorrectResponse",
    /// A contact URL is invalid.
    InvalidContact = "invalidContact",
    /// The request message is malformed.
    Malformed = "malformed",
    /// The order is not ready for the request (finalization).
    OrderNotReady = "orderNotReady",
    /// The request exceeds a rate limit.
    RateLimited = "rateLimited",
    /// The server will not issue for the identifier.
    RejectedIdentifier = "rejectedIdentifier",
    /// The server experienced an internal error.
    ServerInternal = "serverInternal",
    /// The TLS connection of a validation failed.
    Tls = "tls",
    /// The client lacks sufficient authorization.
    Unauthorized = "unauthorized",
    /// A contact URL scheme is not supported.
    UnsupportedContact = "unsupportedContact",
    /// An identifier type is not supported.
    UnsupportedIdentifier = "unsupportedIdentifier",
    /// The user must visit the instance URL and take action (RFC 8555 §7.3.3).
    UserActionRequired = "userActionRequired",
    /// RFC 8739: the certificate is no longer being auto-renewed.
    AutoRenewalCanceled = "autoRenewalCanceled",
    /// RFC 8739: the auto-renewal period has ended.
    AutoRenewalExpired = "autoRenewalExpired",
    /// RFC 8739: the cancellation request was invalid.
    AutoRenewalCancellationInvalid = "autoRenewalCancellationInvalid",
    /// RFC 8739: the CA does not revoke auto-renewed certificates.
    AutoRenewalRevocationNotSupported = "autoRenewalRevocationNotSupported",
    /// RFC 9773 §5: the certificate was already replaced by another order.
    AlreadyReplaced = "alreadyReplaced",
    /// draft-ietf-acme-profiles: the profile is not advertised, or does not fit the
    /// request, or is no longer issued under.
    InvalidProfile = "invalidProfile",
}

impl ProblemType {
    /// The registered type of `name` (after [`ERROR_NS`]).
    pub fn from_name(name: &str) -> Option<ProblemType> {
        ProblemType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The full `type` URN, e.g. `urn:ietf:params:acme:error:badNonce`.
    pub fn urn(self) -> String {
        format!("{ERROR_NS}{}", self.name())
    }
}

impl std::fmt::Display for ProblemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a problem `type` is acceptable under RFC 8555 §6.7: outside the ACME
/// namespace, or one of its registered names.
pub fn is_registered_or_foreign_error(kind: &str) -> bool {
    kind.strip_prefix(ERROR_NS).is_none_or(|name| ProblemType::from_name(name).is_some())
}

/// The directory object (RFC 8555 §7.1.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// URL of the newNonce resource.
    pub new_nonce: Option<String>,
    /// URL of the newAccount resource.
    pub new_account: Option<String>,
    /// URL of the newOrder resource.
    pub new_order: Option<String>,
    /// URL of the newAuthz resource (pre-authorization), if offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_authz: Option<String>,
    /// URL of the revokeCert resource.
    pub revoke_cert: Option<String>,
    /// URL of the keyChange resource.
    pub key_change: Option<String>,
    /// URL prefix of the renewalInfo resource (RFC 9773), if offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_info: Option<String>,
    /// The `meta` object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<DirectoryMeta>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The directory `meta` object (RFC 8555 §7.1.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    /// URL of the current terms of service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service: Option<String>,
    /// URL of the CA's website.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// CAA issuer domains the CA recognises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caa_identities: Option<Vec<String>>,
    /// Whether newAccount requires external account binding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_account_required: Option<bool>,
    /// Certificate profiles offered (name → description, draft-ietf-acme-profiles §3);
    /// kept as sent, so that a server sending another shape can be told so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Value>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The challenge types (RFC 8555 §8.3, §8.4; RFC 8737): what a client answers, a
/// scenario or solver names, a runner step solves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
pub enum ChallengeType {
    /// http-01 (RFC 8555 §8.3).
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// dns-01 (RFC 8555 §8.4).
    #[serde(rename = "dns-01")]
    Dns01,
    /// tls-alpn-01 (RFC 8737).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl ChallengeType {
    /// Every challenge type.
    pub const ALL: [ChallengeType; 3] = [ChallengeType::Http01, ChallengeType::Dns01, ChallengeType::TlsAlpn01];

    /// The registered name (`http-01`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ChallengeType::Http01 => "http-01",
            ChallengeType::Dns01 => "dns-01",
            ChallengeType::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

impl std::str::FromStr for ChallengeType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ChallengeType::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown challenge type {s:?}; use http-01, dns-01 or tls-alpn-01"))
    }
}

impl std::fmt::Display for ChallengeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An identifier (RFC 8555 §7.1.3, RFC 8738 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identifier {
    /// `dns` or `ip`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name or address.
    pub value: String,
}

impl Identifier {
    /// A `dns` identifier.
    pub fn dns(name: impl Into<String>) -> Self {
        Identifier { kind: "dns".into(), value: name.into() }
    }
    /// An `ip` identifier (RFC 8738).
    pub fn ip(addr: impl Into<String>) -> Self {
        Identifier { kind: "ip".into(), value: addr.into() }
    }
}

/// The account object (RFC 8555 §7.1.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// `valid`, `deactivated` or `revoked`.
    pub status: Option<String>,
    /// Contact URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Vec<String>>,
    /// Whether the terms of service were agreed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service_agreed: Option<bool>,
    /// URL of the account's orders list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<String>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The order object (RFC 8555 §7.1.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// `pending`, `ready`, `processing`, `valid` or `invalid`.
    pub status: Option<String>,
    /// When the order expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The identifiers the order is for.
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    /// Requested notBefore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Requested notAfter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// The error that made the order invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
    /// Authorization URLs.
    #[serde(default)]
    pub authorizations: Vec<String>,
    /// Finalize URL.
    pub finalize: Option<String>,
    /// Certificate URL, once issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The authorization object (RFC 8555 §7.1.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// The identifier being authorized.
    pub identifier: Option<Identifier>,
    /// `pending`, `valid`, `invalid`, `deactivated`, `expired` or `revoked`.
    pub status: Option<String>,
    /// When the authorization expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The challenges offered.
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    /// Whether this authorization is for a wildcard name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wildcard: Option<bool>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A challenge object (RFC 8555 §7.1.5, §8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    /// `http-01`, `dns-01`, `tls-alpn-01`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The challenge URL.
    pub url: String,
    /// `pending`, `processing`, `valid` or `invalid`.
    pub status: Option<String>,
    /// The token (§8.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When it was validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated: Option<String>,
    /// The error of a failed validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A problem document (RFC 7807, RFC 8555 §6.7), with subproblems (§6.7.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The problem type URI.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Human-readable detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// HTTP status repeated in the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The identifier a subproblem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// Subproblems (§6.7.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Problem>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Problem {
    /// The short ACME error name (`badNonce`) when the type is in the ACME namespace.
    pub fn acme_name(&self) -> Option<&str> {
        self.kind.as_deref()?.strip_prefix(ERROR_NS)
    }

    /// The registered type of the problem, when it is one.
    pub fn problem_type(&self) -> Option<ProblemType> {
        self.acme_name().and_then(ProblemType::from_name)
    }
}

/// The orders list (RFC 8555 §7.1.2.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrdersList {
    /// Order URLs.
    pub orders: Vec<String>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A renewalInfo response (RFC 9773 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalInfo {
    /// The suggested renewal window.
    pub suggested_window: Option<SuggestedWindow>,
    /// A page explaining the suggestion.
    #[serde(rename = "explanationURL", skip_serializing_if = "Option::is_none")]
    pub explanation_url: Option<String>,
    /// Members not listed above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The window of a renewalInfo response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuggestedWindow {
    /// Window start (RFC 3339).
    pub start: String,
    /// Window end (RFC 3339).
    pub end: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_members_are_kept() {
        let order: Order = serde_json::from_value(json!({
            "status": "pending", "identifiers": [{"type":"dns","value":"a.test"}],
            "authorizations": ["https://ca/a/1"], "finalize": "https://ca/f/1", "profile": "short"
        }))
        .unwrap();
        assert_eq!(order.extra["profile"], "short");
        assert_eq!(serde_json::to_value(&order).unwrap()["profile"], "short");
        let p: Problem = serde_json::from_value(json!({"type": "urn:ietf:params:acme:error:badNonce"})).unwrap();
        assert_eq!(p.acme_name(), Some("badNonce"));
    }
}
