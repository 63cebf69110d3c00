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
    AcceptReusedNonce = "accept-reused-nonce", fails = [];
    /// Sends no Replay-Nonce on error responses (RFC 8555 §6.5).
    OmitNonceOnErrors = "omit-nonce-on-errors", fails = [];
    /// Lets newNonce responses be cached instead of Cache-Control: no-store (RFC 8555 §7.2).
    NonceCacheable = "nonce-cacheable", fails = [];
    /// Accepts a JWS whose url differs from the request URL (RFC 8555 §6.4).
    AcceptUrlMismatch = "accept-url-mismatch", fails = [];
    /// Accepts a protected header with both jwk and kid (RFC 8555 §6.2).
    AcceptJwkAndKid = "accept-jwk-and-kid", fails = [];
    /// Accepts POSTs whose Content-Type is not application/jose+json (RFC 8555 §6.2).
    AcceptAnyContentType = "accept-any-content-type", fails = [];
    /// Accepts base64url with '=' padding (RFC 8555 §6.1).
    AcceptPaddedBase64 = "accept-padded-base64", fails = [];
    /// Accepts the b64/crit unencoded-payload option (RFC 8555 §6.2).
    AcceptUnencodedPayload = "accept-unencoded-payload", fails = [];
    /// Accepts a JWS with an unprotected header (RFC 8555 §6.2).
    AcceptUnprotectedHeader = "accept-unprotected-header", fails = [];
    /// Does not verify JWS signatures (RFC 8555 §6.2).
    SkipSignatureCheck = "skip-signature-check", fails = [];
    /// Leaves the algorithms list out of badSignatureAlgorithm problems (RFC 8555 §6.2).
    OmitSupportedAlgorithms = "omit-supported-algorithms", fails = [];
    /// Serves problem documents as application/json (RFC 8555 §6.7).
    ProblemAsPlainJson = "problem-as-plain-json", fails = [];
    /// Sends no Access-Control-Allow-Origin header (RFC 8555 §6.1).
    OmitCors = "omit-cors", fails = [];
    /// Omits the Location header of created and fetched resources (RFC 8555 §7.3, §7.4).
    OmitLocation = "omit-location", fails = [];
    /// Omits Link rel="up" on challenge responses (RFC 8555 §7.5.1).
    OmitLinkUp = "omit-link-up", fails = [];
    /// Serves a directory meta that is not an object (RFC 8555 §7.1.1).
    MetaNotObject = "meta-not-object", fails = [];
    /// Lists newAuthz in the directory without supporting pre-authorization (RFC 8555 §7.1.1).
    AdvertiseNewAuthz = "advertise-new-authz", fails = [];
    /// Keeps serving requests signed by a deactivated account (RFC 8555 §7.3.6).
    AcceptDeactivatedAccount = "accept-deactivated-account", fails = [];
    /// Accepts mailto contacts with hfields (RFC 8555 §7.3).
    AcceptMailtoHfields = "accept-mailto-hfields", fails = [];
    /// Answers account creation with 200 instead of 201 (RFC 8555 §7.3).
    NewAccount200 = "new-account-200", fails = [];
    /// Answers newAccount for an existing key with 201 instead of 200 (RFC 8555 §7.3.1).
    ExistingAccount201 = "existing-account-201", fails = [];
    /// Echoes unknown newAccount fields such as onlyReturnExisting in the account object (RFC 8555 §7.3).
    EchoUnknownAccountFields = "echo-unknown-account-fields", fails = [];
    /// Lets any account read, change and revoke other accounts' resources (RFC 8555 §6.3, §7.6).
    SkipOwnershipCheck = "skip-ownership-check", fails = [];
    /// Returns the orders list as a bare array instead of {"orders": [...]} (RFC 8555 §7.1.2.1).
    OrdersListBareArray = "orders-list-bare-array", fails = [];
    /// Does not verify the inner JWS of a key change (RFC 8555 §7.3.5).
    KeyChangeSkipInnerSignature = "key-change-skip-inner-signature", fails = [];
    /// Does not compare the inner and outer url of a key change (RFC 8555 §7.3.5).
    KeyChangeSkipInnerUrl = "key-change-skip-inner-url", fails = [];
    /// Does not check the account named in a key change (RFC 8555 §7.3.5).
    KeyChangeSkipAccountCheck = "key-change-skip-account-check", fails = [];
    /// Does not check oldKey in a key change (RFC 8555 §7.3.5).
    KeyChangeSkipOldKey = "key-change-skip-old-key", fails = [];
    /// Answers order creation with 200 instead of 201 (RFC 8555 §7.4).
    NewOrder200 = "new-order-200", fails = [];
    /// Keeps the '*.' prefix in a wildcard authorization's identifier (RFC 8555 §7.1.4).
    WildcardAuthzKeepsPrefix = "wildcard-authz-keeps-prefix", fails = [];
    /// Finalizes orders whose authorizations are still pending (RFC 8555 §7.4).
    FinalizePendingOrder = "finalize-pending-order", fails = [];
    /// Issues for a CSR with names beyond the order's (RFC 8555 §7.4).
    IssueExtraNames = "issue-extra-names", fails = [];
    /// Issues for a CSR whose key is an account key (RFC 8555 §11.1).
    AcceptAccountKeyInCsr = "accept-account-key-in-csr", fails = [];
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
