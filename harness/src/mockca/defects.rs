//! Switchable defects: each one makes the mock CA break one specific requirement.
//!
//! A conformance case that no defect can make fail proves nothing, so every defect
//! declares the cases it must fail, and the defect-matrix test holds it to exactly
//! that list (and every case to at least one defect).

use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::RwLock;

macro_rules! defects {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, fails = [$($case:literal),* $(,)?]; )*) => {
        /// A way the mock CA can be made to deviate from the RFCs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[non_exhaustive]
        pub enum Defect {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Defect {
            /// Every defect.
            pub const ALL: &'static [Defect] = &[$(Defect::$variant),*];

            /// The name used on the command line and in the management API.
            pub fn name(self) -> &'static str {
                match self { $(Defect::$variant => $name,)* }
            }

            /// What the defect breaks, in one sentence.
            pub fn description(self) -> &'static str {
                match self { $(Defect::$variant => concat!($($doc),*).trim_ascii(),)* }
            }

            /// The case ids this defect must make fail (and no others).
            pub fn fails(self) -> &'static [&'static str] {
                match self { $(Defect::$variant => &[$($case),*],)* }
            }
        }
    };
}

defects! {
    /// Accepts a nonce that was already used once (RFC 8555 §6.5).
    AcceptReusedNonce = "accept-reused-nonce", fails = [
        "rfc8555/6.5/bad-nonce-fresh-replay-nonce",
        "rfc8555/6.5/invented-nonce-bad-nonce",
        "rfc8555/6.5/reused-nonce-bad-nonce",
    ];
    /// Answers a request without a nonce with malformed instead of badNonce (RFC 8555 §6.5).
    MissingNonceMalformed = "missing-nonce-malformed", fails = [
        "rfc8555/6.5/missing-nonce-bad-nonce",
    ];
    /// Fails with 500 serverInternal on a nonce that is not base64url instead of refusing it as a client error (RFC 8555 §6.5.2).
    BadNonceEncoding500 = "bad-nonce-encoding-500", fails = [
        "rfc8555/6.5/bad-encoding-nonce-rejected",
    ];
    /// Sends no Replay-Nonce on error responses (RFC 8555 §6.5).
    OmitNonceOnErrors = "omit-nonce-on-errors", fails = [
        "rfc8555/6.5/bad-nonce-fresh-replay-nonce",
        "rfc8555/6.5/error-replay-nonce",
    ];
    /// Lets newNonce responses be cached instead of Cache-Control: no-store (RFC 8555 §7.2).
    NonceCacheable = "nonce-cacheable", fails = [
        "rfc8555/7.2/new-nonce-get",
        "rfc8555/7.2/new-nonce-head",
    ];
    /// Accepts a JWS whose url differs from the request URL (RFC 8555 §6.4).
    AcceptUrlMismatch = "accept-url-mismatch", fails = [
        "rfc8555/6.4/url-mismatch-unauthorized",
        "rfc8555/6.4/url-string-inequality-unauthorized",
        "rfc8555/6.7/error-problem-document",
    ];
    /// Accepts a JWS whose protected header has no url (RFC 8555 §6.4).
    AcceptMissingUrl = "accept-missing-url", fails = [
        "rfc8555/6.2/missing-url-rejected",
    ];
    /// Accepts a protected header with both jwk and kid (RFC 8555 §6.2).
    AcceptJwkAndKid = "accept-jwk-and-kid", fails = [
        "rfc8555/6.2/jwk-and-kid-rejected",
    ];
    /// Serves requests of an existing account identified by jwk instead of kid (RFC 8555 §6.2).
    AcceptJwkForKidResources = "accept-jwk-for-kid-resources", fails = [
        "rfc8555/6.2/kid-required",
    ];
    /// Accepts a newAccount identified by an existing account's kid instead of a jwk (RFC 8555 §6.2).
    NewAccountAcceptsKid = "new-account-accepts-kid", fails = [
        "rfc8555/6.2/new-account-requires-jwk",
    ];
    /// Accepts a JWS in the general JSON serialization (RFC 8555 §6.2).
    AcceptGeneralSerialization = "accept-general-serialization", fails = [
        "rfc8555/6.2/general-serialization-rejected",
    ];
    /// Accepts POSTs whose Content-Type is not application/jose+json (RFC 8555 §6.2).
    AcceptAnyContentType = "accept-any-content-type", fails = [
        "rfc8555/6.2/content-type-415",
        "rfc8555/6.5/error-replay-nonce",
        "rfc8555/6.7/error-problem-document",
    ];
    /// Accepts base64url with '=' padding (RFC 8555 §6.1).
    AcceptPaddedBase64 = "accept-padded-base64", fails = [
        "rfc8555/6.1/base64url-padding-rejected",
    ];
    /// Accepts the b64/crit unencoded-payload option (RFC 8555 §6.2).
    AcceptUnencodedPayload = "accept-unencoded-payload", fails = [
        "rfc8555/6.2/unencoded-payload-rejected",
    ];
    /// Accepts a JWS with an unprotected header (RFC 8555 §6.2).
    AcceptUnprotectedHeader = "accept-unprotected-header", fails = [
        "rfc8555/6.2/unprotected-header-rejected",
    ];
    /// Does not verify JWS signatures (RFC 8555 §6.2).
    SkipSignatureCheck = "skip-signature-check", fails = [
        "rfc8555/6.2/alg-key-mismatch-bad-public-key",
        "rfc8555/6.2/corrupt-signature-rejected",
        "rfc8555/6.2/jwk-not-signing-key-rejected",
        "rfc8555/6.2/kid-signature-other-key-rejected",
        "rfc8555/6.5/error-replay-nonce",
        "rfc8555/7.3.6/deactivation-needs-account-key",
    ];
    /// Leaves the algorithms list out of badSignatureAlgorithm problems (RFC 8555 §6.2).
    OmitSupportedAlgorithms = "omit-supported-algorithms", fails = [
        "rfc8555/6.2/alg-hs256-rejected",
        "rfc8555/6.2/alg-none-rejected",
    ];
    /// Serves the problem documents of routing errors (404, 405) as application/json (RFC 8555 §6.7).
    ProblemAsPlainJson = "problem-as-plain-json", fails = [
        "rfc8555/6.3/plain-get-405",
        "rfc8555/6.7/error-problem-document",
    ];
    /// Refuses POST-as-GET on the directory and newNonce, allowing only GET (RFC 8555 §6.3).
    NoPostAsGetDirectory = "no-post-as-get-directory", fails = [
        "rfc8555/6.3/post-as-get-directory-and-nonce",
    ];
    /// Refuses a POST-as-GET of the account, demanding a JSON payload (RFC 8555 §6.3).
    AccountRequiresPayload = "account-requires-payload", fails = [
        "rfc8555/6.2/eddsa-account",
        "rfc8555/6.2/es256-account",
        "rfc8555/6.2/rs256-account",
        "rfc8555/6.3/post-as-get-fetches",
        "rfc8555/6.5/bad-nonce-fresh-replay-nonce",
        "rfc8555/6.5/successful-post-replay-nonce",
        "rfc8555/7.1.2.1/orders-list-empty",
        "rfc8555/7.1.2.1/orders-list-object",
        "rfc8555/7.3.2/contact-update",
        "rfc8555/7.3.2/update-ignores-status",
        "rfc8555/7.3.5/key-rollover",
        "rfc8555/7.3.5/new-key-in-use",
        "rfc8555/7.3.6/deactivation-needs-account-key",
    ];
    /// Sends no Access-Control-Allow-Origin header (RFC 8555 §6.1).
    OmitCors = "omit-cors", fails = [
        "rfc8555/6.1/cors-allow-origin",
    ];
    /// Omits the Location header when newAccount finds an existing account (RFC 8555 §7.3.1).
    OmitLocationExistingAccount = "omit-location-existing-account", fails = [
        "rfc8555/7.3.1/existing-key-returns-account",
        "rfc8555/7.3.1/only-return-existing-known-key",
        "rfc8555/7.3.5/inner-account-mismatch",
        "rfc8555/7.3.5/inner-signed-with-old-key",
        "rfc8555/7.3.5/inner-url-mismatch",
        "rfc8555/7.3.5/key-rollover",
        "rfc8555/7.3.5/new-key-in-use",
        "rfc8555/7.3.5/wrong-old-key",
    ];
    /// Omits Link rel="up" on challenge responses (RFC 8555 §7.5.1).
    OmitLinkUp = "omit-link-up", fails = [
        "rfc8555/7.5.1/challenge-response",
    ];
    /// Serves a directory meta that is not an object (RFC 8555 §7.1.1).
    MetaNotObject = "meta-not-object", fails = [
        "rfc8555/7.1.1/directory-meta-object",
    ];
    /// Lists newAuthz, as a relative path, without supporting pre-authorization (RFC 8555 §7.1.1).
    AdvertiseNewAuthz = "advertise-new-authz", fails = [
        "rfc8555/7.1.1/directory-get",
    ];
    /// Keeps serving requests signed by a deactivated account, newAccount with its key included (RFC 8555 §7.3.6).
    AcceptDeactivatedAccount = "accept-deactivated-account", fails = [
        "rfc8555/7.3.5/deactivated-account",
        "rfc8555/7.3.6/deactivate-account",
        "rfc8555/7.3.6/deactivated-key-new-account",
    ];
    /// Accepts mailto contacts with hfields (RFC 8555 §7.3).
    AcceptMailtoHfields = "accept-mailto-hfields", fails = [
        "rfc8555/7.3/mailto-hfields-rejected",
    ];
    /// Refuses unsupported and invalid contacts with malformed instead of unsupportedContact or invalidContact (RFC 8555 §7.3).
    ContactErrorsMalformed = "contact-errors-malformed", fails = [
        "rfc8555/7.3/invalid-mailto-contact",
        "rfc8555/7.3/mailto-hfields-rejected",
        "rfc8555/7.3/mailto-several-recipients-rejected",
        "rfc8555/7.3/unsupported-contact-scheme",
    ];
    /// Creates an account for an unknown key despite onlyReturnExisting (RFC 8555 §7.3.1).
    OnlyReturnExistingCreates = "only-return-existing-creates", fails = [
        "rfc8555/7.3.1/only-return-existing-unknown-key",
        "rfc8555/7.3.5/key-rollover",
    ];
    /// Accepts a contact update but keeps the old contacts (RFC 8555 §7.3.2).
    IgnoreContactUpdate = "ignore-contact-update", fails = [
        "rfc8555/7.3.2/contact-update",
    ];
    /// Reflects every member of an account update, orders and unknown fields included, in the account object (RFC 8555 §7.3.2).
    UpdateAppliesProtectedFields = "update-applies-protected-fields", fails = [
        "rfc8555/7.3.2/update-ignores-protected-fields",
        "rfc8555/7.3.2/update-ignores-status",
    ];
    /// Refuses an account update whose status is neither absent nor deactivated instead of ignoring it, as Pebble does (RFC 8555 §7.3.2).
    UpdateRejectsStatus = "update-rejects-status", fails = [
        "rfc8555/7.3.2/update-ignores-status",
    ];
    /// Answers account creation with 200 instead of 201 (RFC 8555 §7.3).
    NewAccount200 = "new-account-200", fails = [
        "rfc8555/6.2/eddsa-account",
        "rfc8555/6.2/es256-account",
        "rfc8555/6.2/rs256-account",
        "rfc8555/6.5/replay-nonce-unique",
        "rfc8555/6.5/successful-post-replay-nonce",
        "rfc8555/7.3/new-account-created",
        "rfc8555/7.3/new-account-unknown-field-not-echoed",
    ];
    /// Answers newAccount for an existing key with 201 instead of 200 (RFC 8555 §7.3.1).
    ExistingAccount201 = "existing-account-201", fails = [
        "rfc8555/7.3.1/existing-key-returns-account",
        "rfc8555/7.3.1/only-return-existing-known-key",
        "rfc8555/7.3.5/inner-account-mismatch",
        "rfc8555/7.3.5/inner-signed-with-old-key",
        "rfc8555/7.3.5/inner-url-mismatch",
        "rfc8555/7.3.5/key-rollover",
        "rfc8555/7.3.5/new-key-in-use",
        "rfc8555/7.3.5/wrong-old-key",
    ];
    /// Echoes unknown newAccount fields such as onlyReturnExisting in the account object (RFC 8555 §7.3).
    EchoUnknownAccountFields = "echo-unknown-account-fields", fails = [
        "rfc8555/7.3/new-account-unknown-field-not-echoed",
    ];
    /// Lets any account read, change and revoke other accounts' resources (RFC 8555 §6.3, §7.6).
    SkipOwnershipCheck = "skip-ownership-check", fails = [
        "rfc8555/6.3/post-as-get-access-control",
        "rfc8555/7.5.2/deactivate-authz",
        "rfc8555/7.6/revoke-unrelated-account",
    ];
    /// Returns the orders list as a bare array instead of {"orders": [...]} (RFC 8555 §7.1.2.1).
    OrdersListBareArray = "orders-list-bare-array", fails = [
        "rfc8555/7.1.2.1/orders-list-empty",
        "rfc8555/7.1.2.1/orders-list-object",
    ];
    /// Does not verify the inner JWS of a key change (RFC 8555 §7.3.5).
    KeyChangeSkipInnerSignature = "key-change-skip-inner-signature", fails = [
        "rfc8555/7.3.5/inner-signed-with-old-key",
    ];
    /// Does not compare the inner and outer url of a key change (RFC 8555 §7.3.5).
    KeyChangeSkipInnerUrl = "key-change-skip-inner-url", fails = [
        "rfc8555/7.3.5/inner-url-mismatch",
    ];
    /// Does not check the account named in a key change (RFC 8555 §7.3.5).
    KeyChangeSkipAccountCheck = "key-change-skip-account-check", fails = [
        "rfc8555/7.3.5/inner-account-mismatch",
    ];
    /// Does not check oldKey in a key change (RFC 8555 §7.3.5).
    KeyChangeSkipOldKey = "key-change-skip-old-key", fails = [
        "rfc8555/7.3.5/wrong-old-key",
    ];
    /// Deactivates the account's pending authorizations when its key rolls over (RFC 8555 §7.3.5).
    KeyChangeInvalidatesAuthzs = "key-change-invalidates-authzs", fails = [
        "rfc8555/7.3.5/key-rollover-keeps-orders",
    ];
    /// Accepts a key change to the account's own current key instead of answering 409 (RFC 8555 §7.3.5).
    KeyChangeSameKeyAccepted = "key-change-same-key-accepted", fails = [
        "rfc8555/7.3.5/same-key-conflict",
    ];
    /// Leaves `expires` out of pending orders (RFC 8555 §7.1.3).
    OrderWithoutExpires = "order-without-expires", fails = [
        "rfc8555/7.4/multi-identifier-order",
        "rfc8555/7.4/new-order-created",
        "rfc8555/7.4/new-order-fetch",
    ];
    /// Answers a method the resource does not allow with 404 instead of 405 (RFC 8555 §6.3).
    MethodNotAllowed404 = "method-not-allowed-404", fails = [
        "rfc8555/6.3/plain-get-405",
        "rfc8555/6.7/method-not-allowed-405",
    ];
    /// Keeps the '*.' prefix in a wildcard authorization's identifier (RFC 8555 §7.1.4).
    WildcardAuthzKeepsPrefix = "wildcard-authz-keeps-prefix", fails = [
        "rfc8555/7.1.3/wildcard-authorization",
    ];
    /// Finalizes orders whose authorizations are still pending (RFC 8555 §7.4).
    FinalizePendingOrder = "finalize-pending-order", fails = [
        "rfc8555/6.5/error-replay-nonce",
        "rfc8555/6.7/error-problem-document",
        "rfc8555/7.4/finalize-not-ready",
    ];
    /// Issues for a CSR with names beyond the order's (RFC 8555 §7.4).
    IssueExtraNames = "issue-extra-names", fails = [
        "rfc8555/7.4/finalize-after-refused-csr",
        "rfc8555/7.4/finalize-csr-extra-name",
    ];
    /// Issues for a CSR whose key is an account key (RFC 8555 §11.1).
    AcceptAccountKeyInCsr = "accept-account-key-in-csr", fails = [
        "rfc8555/11.1/finalize-csr-account-key",
    ];
    /// Issues for a CSR that lacks some of the order's names (RFC 8555 §7.4).
    IssueMissingNames = "issue-missing-names", fails = [
        "rfc8555/7.4/finalize-csr-missing-name",
    ];
    /// Does not verify the CSR's self-signature (RFC 8555 §7.4).
    SkipCsrSignatureCheck = "skip-csr-signature-check", fails = [
        "rfc8555/7.4/finalize-csr-bad-signature",
    ];
    /// Answers finalize with only the order's status instead of the whole order object (RFC 8555 §7.4).
    FinalizePartialOrder = "finalize-partial-order", fails = [
        "rfc8555/7.4/finalize-valid",
    ];
    /// Issues a wildcard order's certificate for the base name instead of the wildcard name (RFC 8555 §7.1.3).
    LeafOmitsWildcard = "leaf-omits-wildcard", fails = [
        "rfc8555/7.1.3/wildcard-issuance-dns-01",
    ];
    /// Puts explanatory text before the PEM certificate chain (RFC 8555 §9.1).
    PemChainWithText = "pem-chain-with-text", fails = [
        "rfc8555/7.1.3/wildcard-issuance-dns-01",
        "rfc8555/7.4.2/certificate-pem-chain",
        "rfc8555/7.4/multi-identifier-order",
        "rfc8555/8.3/http-01-issuance",
        "rfc8555/8.4/dns-01-issuance",
        "rfc8737/3/tls-alpn-01-issuance",
    ];
    /// Offers no alternate chains, the optional Link rel="alternate" of RFC 8555 §7.4.2.
    NoAlternateLinks = "no-alternate-links", fails = [
        "rfc8555/7.4.2/certificate-alternate-links",
    ];
    /// Puts "wildcard": false in authorizations that do not come from a wildcard identifier (RFC 8555 §7.1.4).
    AuthzWildcardFalse = "authz-wildcard-false", fails = [
        "rfc8555/7.5/authz-object",
    ];
    /// Hands out challenge tokens of 64 bits instead of at least 128 (RFC 8555 §8.3, §8.4, RFC 8737 §3).
    ShortTokens = "short-tokens", fails = [
        "rfc8555/8.3/http-01-token",
        "rfc8555/8.4/dns-01-token",
        "rfc8737/3/tls-alpn-01-token",
    ];
    /// Takes a POST-as-GET of a challenge for the client's response and starts validating (RFC 8555 §7.5.1).
    ChallengeFetchResponds = "challenge-fetch-responds", fails = [
        "rfc8555/7.1.5/challenge-object-fields",
        "rfc8555/8.4/dns-01-issuance",
        "rfc8737/3/tls-alpn-01-issuance",
    ];
    /// Refuses challenge responses that carry fields the challenge type does not define (RFC 8555 §7.5.1).
    RejectUnknownChallengeFields = "reject-unknown-challenge-fields", fails = [
        "rfc8555/7.5.1/challenge-response-legacy-keyauthorization",
        "rfc8555/7.5.1/challenge-response-unknown-fields",
    ];
    /// Marks every answered challenge valid without validating it, like Pebble's PEBBLE_VA_ALWAYS_VALID (RFC 8555 §8).
    VaAlwaysValid = "va-always-valid", fails = [
        "rfc8555/8/challenge-failure-invalid",
        "rfc8737/3/tls-alpn-01-unprovisioned-invalid",
    ];
    /// Sets failed challenges to invalid without an error (RFC 8555 §8).
    ChallengeErrorOmitted = "challenge-error-omitted", fails = [
        "rfc8555/8/challenge-failure-invalid",
        "rfc8737/3/tls-alpn-01-unprovisioned-invalid",
    ];
    /// Expects the dns-01 TXT record to hold the digest of the token instead of the key authorization (RFC 8555 §8.4).
    Dns01DigestOfToken = "dns-01-digest-of-token", fails = [
        "rfc8555/7.1.3/wildcard-issuance-dns-01",
        "rfc8555/8.4/dns-01-issuance",
    ];
    /// Expects the tls-alpn-01 acmeIdentifier to hold the digest of the token instead of the key authorization (RFC 8737 §3).
    TlsAlpn01DigestOfToken = "tls-alpn-01-digest-of-token", fails = [
        "rfc8737/3/tls-alpn-01-issuance",
    ];
    /// Counts deactivated authorizations as valid when deciding whether an order is ready (RFC 8555 §7.5.2).
    DeactivatedAuthzCounts = "deactivated-authz-counts", fails = [
        "rfc8555/7.5.2/deactivated-authz-not-sufficient",
    ];
    /// Refuses revocation requests signed by an account, accepting only the certificate key (RFC 8555 §7.6).
    RevokeRefusesAccount = "revoke-refuses-account", fails = [
        "rfc8555/7.6/revoke-already-revoked",
        "rfc8555/7.6/revoke-bad-reason",
        "rfc8555/7.6/revoke-by-account",
        "rfc8555/7.6/revoke-by-authorized-account",
        "rfc8555/7.6/revoke-unrelated-account",
    ];
    /// Refuses revocation requests signed by the certificate's own key (RFC 8555 §7.6).
    RevokeRefusesCertificateKey = "revoke-refuses-certificate-key", fails = [
        "rfc8555/7.6/revoke-by-certificate-key",
    ];
    /// Lets only the issuing account revoke, not other accounts holding authorizations for every name (RFC 8555 §7.6).
    RevokeOnlyByIssuer = "revoke-only-by-issuer", fails = [
        "rfc8555/7.6/revoke-by-authorized-account",
    ];
    /// Answers the revocation of an already revoked certificate with 200 instead of alreadyRevoked (RFC 8555 §7.6).
    RevokeTwiceOk = "revoke-twice-ok", fails = [
        "rfc8555/7.6/revoke-already-revoked",
    ];
    /// Accepts revocation reason codes RFC 5280 §5.3.1 does not define (RFC 8555 §7.6).
    AcceptAnyRevocationReason = "accept-any-revocation-reason", fails = [
        "rfc8555/7.6/revoke-bad-reason",
    ];
}

impl Defect {
    /// Looks a defect up by name.
    pub fn from_name(name: &str) -> Option<Defect> {
        Defect::ALL.iter().copied().find(|d| d.name() == name)
    }
}

impl std::str::FromStr for Defect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Defect::from_name(s).ok_or_else(|| format!("unknown defect {s:?}; `acmespec serve --list-defects` lists them"))
    }
}

/// The defects switched on, changeable while the server runs.
#[derive(Debug, Default)]
pub(crate) struct DefectSet(RwLock<BTreeSet<Defect>>);

impl DefectSet {
    pub(crate) fn new(defects: impl IntoIterator<Item = Defect>) -> Self {
        DefectSet(RwLock::new(defects.into_iter().collect()))
    }

    pub(crate) fn has(&self, d: Defect) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).contains(&d)
    }

    pub(crate) fn replace(&self, defects: BTreeSet<Defect>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = defects;
    }

    pub(crate) fn list(&self) -> Vec<Defect> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).iter().copied().collect()
    }
}
