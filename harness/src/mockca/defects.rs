//! Switchable defects: each one makes the mock CA break one specific requirement.
//!
//! A conformance case that no defect can make fail proves nothing, so every defect
//! declares the cases it must fail, and the defect-matrix test holds it to exactly
//! that list (and every case to at least one defect).

use std::collections::BTreeSet;
use std::sync::RwLock;

crate::defect_list::defect_list! {
    /// A way the mock CA can be made to deviate from the RFCs.
    Defect,
    name_doc = "The name used on the command line and in the management API.",
    fails_doc = "The case ids this defect must make fail (and no others).";
    /// Creates orders past the configured newOrder rate limit instead of refusing them with rateLimited (RFC 8555 §6.6).
    RateLimitNotEnforced = "rate-limit-not-enforced", fails = [
        "rfc8555/6.6/rate-limited-help-link",
        "rfc8555/6.6/rate-limited-problem",
        "rfc8555/6.6/rate-limited-retry-after",
    ];
    /// Refuses an order past the rate limit with the pre-RFC type urn:acme:error:rateLimited (RFC 8555 §6.6).
    RateLimitDraftType = "rate-limit-draft-type", fails = [
        "rfc8555/6.6/rate-limited-problem",
    ];
    /// Sends no Retry-After with a rateLimited error (RFC 8555 §6.6).
    RateLimitNoRetryAfter = "rate-limit-no-retry-after", fails = [
        "rfc8555/6.6/rate-limited-retry-after",
    ];
    /// Sends no Link rel="help" to the rate limit's documentation with a rateLimited error (RFC 8555 §6.6).
    RateLimitNoHelpLink = "rate-limit-no-help-link", fails = [
        "rfc8555/6.6/rate-limited-help-link",
    ];
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
        "rfc8555/6.5.2/padded-nonce-rejected",
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
    /// Answers a successful newOrder with the nonce its request spent, handing it out a
    /// second time (RFC 8555 §6.5.1: a nonce is never repeated).
    NonceRepeatedOnNewOrder = "nonce-repeated-on-new-order", fails = [
        "rfc8555/6.1/base64url-unpadded",
        "rfc8555/6.5/replay-nonce-unique",
    ];
    /// Accepts a JWS whose url differs from the request URL (RFC 8555 §6.4).
    AcceptUrlMismatch = "accept-url-mismatch", fails = [
        "rfc8555/6.4/url-equivalent-spelling-unauthorized",
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
        "rfc8555/6.2/two-signatures-rejected",
    ];
    /// Accepts POSTs whose Content-Type is not application/jose+json (RFC 8555 §6.2).
    AcceptAnyContentType = "accept-any-content-type", fails = [
        "rfc8555/6.2/content-type-415",
        "rfc8555/6.7/error-problem-document",
    ];
    /// Accepts base64url with '=' padding (RFC 8555 §6.1).
    AcceptPaddedBase64 = "accept-padded-base64", fails = [
        "rfc8555/6.1/base64url-padding-rejected",
        "rfc8555/6.5.2/padded-nonce-rejected",
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
        "rfc8555/7.3.6/deactivation-needs-account-key",
    ];
    /// Leaves the algorithms list out of badSignatureAlgorithm problems (RFC 8555 §6.2).
    OmitSupportedAlgorithms = "omit-supported-algorithms", fails = [
        "rfc8555/6.2/alg-hs256-rejected",
        "rfc8555/6.2/alg-none-rejected",
    ];
    /// Serves the problem documents of routing errors (404, 405) as application/json (RFC 8555 §6.7).
    ProblemAsPlainJson = "problem-as-plain-json", fails = [
        "rfc8555/6.7/error-problem-document",
    ];
    /// Refuses POST-as-GET on the directory and newNonce, allowing only GET (RFC 8555 §6.3).
    NoPostAsGetDirectory = "no-post-as-get-directory", fails = [
        "rfc8555/6.3/post-as-get-directory-and-nonce",
    ];
    /// Refuses a POST-as-GET of the account, demanding a JSON payload (RFC 8555 §6.3).
    AccountRequiresPayload = "account-requires-payload", fails = [
        "rfc8555/6.1/https-urls",
        "rfc8555/6.2/eddsa-account",
        "rfc8555/6.2/es256-account",
        "rfc8555/6.2/rs256-account",
        "rfc8555/6.3/post-as-get-fetches",
        "rfc8555/6.5/bad-nonce-fresh-replay-nonce",
        "rfc8555/6.5/successful-post-replay-nonce",
        "rfc8555/7.1.2.1/orders-list-empty",
        "rfc8555/7.1.2.1/orders-list-object",
        "rfc8555/7.1.2.1/orders-list-omits-invalid",
        "rfc8555/7.3.2/contact-update",
        "rfc8555/7.3.2/update-ignores-status",
        "rfc8555/7.3.5/key-rollover",
        "rfc8555/7.3.5/new-key-in-use",
        "rfc8555/7.3.6/deactivation-needs-account-key",
        "rfc8555/7.3.6/deactivation-of-another-account-refused",
        "rfc8555/7.3/new-account-unknown-field-not-echoed",
    ];
    /// Sends no Access-Control-Allow-Origin header (RFC 8555 §6.1).
    OmitCors = "omit-cors", fails = [
        "rfc8555/6.1/cors-allow-origin",
    ];
    /// Omits the Location header when newAccount finds an existing account (RFC 8555 §7.3.1).
    OmitLocationExistingAccount = "omit-location-existing-account", fails = [
        "rfc8555/7.3.1/existing-key-returns-account",
        "rfc8555/7.3.1/only-return-existing-known-key",
    ];
    /// Serves a directory meta that is not an object (RFC 8555 §7.1.1).
    MetaNotObject = "meta-not-object", fails = [
        "rfc8555/7.1.1/directory-meta-object",
        "rfc8555/7.1.1/directory-meta-offered",
        "rfc8555/7.3.3/changed-terms-user-action-required",
        "rfc8555/7.3.4/directory-external-account-required",
        "rfc8555/7.3/terms-required-url",
        // Without a meta object there is no meta.profiles: the profile cases find no profiles.
        "draft-ietf-acme-profiles/3/directory-profiles",
        "draft-ietf-acme-profiles/4/unadvertised-profile-refused",
        "draft-ietf-acme-profiles/4/incompatible-profile-refused",
        "draft-ietf-acme-profiles/4/profile-selected-without-request",
        "draft-ietf-acme-profiles/4/finalize-withdrawn-profile-refused",
    ];
    /// Lists newAuthz, as a relative path, without supporting pre-authorization (RFC 8555 §7.1.1).
    AdvertiseNewAuthz = "advertise-new-authz", fails = [
        "rfc8555/7.1.1/directory-get",
        "rfc8555/7.1.1/new-authz-only-if-supported",
        "rfc8555/7.1.3/pre-authorization-in-order",
        "rfc8555/7.4.1/new-authz-pending",
        "rfc8555/7.4.1/new-authz-refused",
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
        "rfc8555/7.3/terms-not-agreed-refused",
    ];
    /// Applies a contact update but answers it with the account object as it was before, not the resulting one (RFC 8555 §7.3.2).
    UpdateAnswersPriorAccount = "update-answers-prior-account", fails = [
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
    /// Takes the 'orders' value a newAccount request supplies instead of ignoring it (RFC 8555 §7.3).
    AccountOrdersFromClient = "account-orders-from-client", fails = [
        "rfc8555/7.3/new-account-created",
    ];
    /// Answers newAccount for an existing key with 201 instead of 200 (RFC 8555 §7.3.1).
    ExistingAccount201 = "existing-account-201", fails = [
        "rfc8555/7.3.1/existing-key-returns-account",
        "rfc8555/7.3.1/only-return-existing-known-key",
        "rfc8555/7.3.5/key-rollover",
    ];
    /// Echoes unknown newAccount fields such as onlyReturnExisting in the account object (RFC 8555 §7.3).
    EchoUnknownAccountFields = "echo-unknown-account-fields", fails = [
        "rfc8555/7.3/new-account-unknown-field-not-echoed",
    ];
    /// Lets any account read, change and revoke other accounts' resources (RFC 8555 §6.3, §7.6).
    SkipOwnershipCheck = "skip-ownership-check", fails = [
        "rfc8555/7.3.6/deactivation-of-another-account-refused",
        "rfc8555/7.5.2/deactivate-authz",
        "rfc8555/7.6/revoke-unrelated-account",
    ];
    /// Returns the orders list as a bare array instead of {"orders": [...]} (RFC 8555 §7.1.2.1).
    OrdersListBareArray = "orders-list-bare-array", fails = [
        "rfc8555/7.1.2.1/orders-list-empty",
        "rfc8555/7.1.2.1/orders-list-object",
        "rfc8555/7.1.2.1/orders-list-omits-invalid",
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
        "rfc8555/7.3.5/inner-payload-not-key-change",
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
    /// Parses a keyChange payload holding the inner JWS in the compact serialization, which is no JWS object (RFC 8555 §7.3.5 check 2).
    KeyChangeAcceptsCompactInner = "key-change-accepts-compact-inner", fails = [
        "rfc8555/7.3.5/inner-compact-serialization",
    ];
    /// Takes the new key from a draft-era `newKey` member when the inner JWS has no jwk (RFC 8555 §7.3.5 check 3).
    KeyChangeNewKeyFromPayload = "key-change-new-key-from-payload", fails = [
        "rfc8555/7.3.5/inner-without-jwk",
    ];
    /// Accepts a keyChange object without oldKey (RFC 8555 §7.3.5 check 5).
    KeyChangeOldKeyOptional = "key-change-old-key-optional", fails = [
        "rfc8555/7.3.5/inner-payload-not-key-change",
    ];
    /// Resets the account when its key rolls over: clears its contacts and its agreement to the terms (RFC 8555 §7.3.5).
    KeyChangeResetsAccount = "key-change-resets-account", fails = [
        "rfc8555/7.3.5/rollover-keeps-account",
    ];
    /// Lists invalid orders in the orders list (RFC 8555 §7.1.2.1).
    OrdersListIncludesInvalid = "orders-list-includes-invalid", fails = [
        "rfc8555/7.1.2.1/orders-list-omits-invalid",
    ];
    /// Lists an order's valid authorizations under other URLs than while they were pending (RFC 8555 §7.1.3).
    AuthzUrlChangesWhenValid = "authz-url-changes-when-valid", fails = [
        "rfc8555/7.1.3/order-arrays-immutable",
        "rfc8555/7.1.3/pre-authorization-in-order",
    ];
    /// Fulfils an order with a valid pre-authorization but lists a fresh copy of it under a new URL (RFC 8555 §7.1.3).
    ReusedAuthzNotListed = "reused-authz-not-listed", fails = [
        "rfc8555/7.1.3/pre-authorization-in-order",
    ];
    /// Accepts dns identifiers written with U-labels (raw Unicode) instead of A-labels (RFC 8555 §7.1.4).
    AcceptULabels = "accept-u-labels", fails = [
        "rfc8555/7.1.4/u-label-refused",
    ];
    /// Does not check that xn-- labels are valid IDNA encodings (RFC 8555 §7.1.4).
    AcceptInvalidALabels = "accept-invalid-a-labels", fails = [
        "rfc8555/7.1.4/invalid-a-label-refused",
    ];
    /// Refuses mailto contacts as an unsupported scheme (RFC 8555 §7.3).
    MailtoUnsupported = "mailto-unsupported", fails = [
        "rfc8555/7.3.2/contact-update",
        "rfc8555/7.3.2/update-ignores-protected-fields",
        "rfc8555/7.3.2/update-ignores-status",
        "rfc8555/7.3/invalid-mailto-contact",
        "rfc8555/7.3/mailto-contact-supported",
        "rfc8555/7.3/mailto-hfields-rejected",
        "rfc8555/7.3/mailto-several-recipients-rejected",
    ];
    /// Checks only the CSR's subjectAltName request against the order, yet issues the certificate for its subject commonName too (RFC 8555 §7.4).
    CsrIgnoresCommonName = "csr-ignores-common-name", fails = [
        "rfc8555/7.4/csr-common-name-only",
        "rfc8555/7.4/csr-common-name-outside-order",
    ];
    /// Checks a CSR's key only against the requesting account's key, not other accounts' (RFC 8555 §11.1).
    AcceptOtherAccountKeyInCsr = "accept-other-account-key-in-csr", fails = [
        "rfc8555/11.1/csr-other-account-key",
    ];
    /// Creates a second account for a key that already backs one, instead of returning that account (RFC 8555 §7.3.1, §11.1).
    DuplicateKeyAccounts = "duplicate-key-accounts", fails = [
        "rfc8555/7.3.1/existing-key-returns-account",
    ];
    /// Takes a challenge response that is not a JSON object as a request to validate (RFC 8555 §7.5.1).
    ChallengeAcceptsAnyPayload = "challenge-accepts-any-payload", fails = [
        "rfc8555/7.5.1/challenge-response-not-object",
    ];
    /// Removes failed (invalid) challenges from their authorization (RFC 8555 §7.5.1).
    DropInvalidChallenges = "drop-invalid-challenges", fails = [
        "rfc8555/7.5.1/invalid-challenge-kept",
    ];
    /// Serves alternate chains without the end-entity certificate (RFC 8555 §7.4.2).
    AlternateChainWithoutLeaf = "alternate-chain-without-leaf", fails = [
        "rfc8555/7.4.2/alternate-chain-same-leaf",
    ];
    /// Creates pre-authorizations already valid, without any validation (RFC 8555 §7.4.1).
    NewAuthzValid = "new-authz-valid", fails = [
        "rfc8555/7.4.1/new-authz-pending",
    ];
    /// Refuses a newAuthz identifier it will not issue for with 400 instead of 403 (RFC 8555 §7.4.1).
    NewAuthzRefusal400 = "new-authz-refusal-400", fails = [
        "rfc8555/7.4.1/new-authz-refused",
    ];
    /// Creates a pre-authorization for any identifier, of any type (RFC 8555 §7.4.1).
    NewAuthzAcceptsAnything = "new-authz-accepts-anything", fails = [
        "rfc8555/7.4.1/new-authz-refused",
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
        "rfc8555/7.1.3/wildcard-issuance-dns-01",
    ];
    /// Finalizes orders whose authorizations are still pending (RFC 8555 §7.4).
    FinalizePendingOrder = "finalize-pending-order", fails = [
        "rfc8555/6.7/error-problem-document",
        "rfc8555/7.4/finalize-not-ready",
    ];
    /// Issues for a CSR with names beyond the order's (RFC 8555 §7.4).
    IssueExtraNames = "issue-extra-names", fails = [
        "rfc8555/7.4/csr-common-name-outside-order",
        "rfc8555/7.4/finalize-after-refused-csr",
        "rfc8555/7.4/finalize-csr-extra-name",
    ];
    /// Issues for a CSR whose key is an account key (RFC 8555 §11.1).
    AcceptAccountKeyInCsr = "accept-account-key-in-csr", fails = [
        "rfc8555/11.1/csr-other-account-key",
        "rfc8555/11.1/finalize-csr-account-key",
    ];
    /// Issues for a CSR that lacks some of the order's names (RFC 8555 §7.4).
    IssueMissingNames = "issue-missing-names", fails = [
        "rfc8555/7.4/finalize-csr-missing-name",
    ];
    /// Refuses a CSR it cannot parse or verify with malformed instead of badCSR (RFC 8555 §7.4).
    CsrErrorMalformed = "csr-error-malformed", fails = [
        "rfc8555/7.4/finalize-csr-bad-signature",
    ];
    /// Finalizes an order that is already valid again, issuing a second certificate, instead of refusing with orderNotReady (RFC 8555 §7.4).
    RefinalizeValidOrder = "refinalize-valid-order", fails = [
        "rfc8555/7.4/finalize-twice-not-ready",
    ];
    /// Adds the www. name of a CSR's commonName to the certificate, a "free" name nobody ordered (RFC 8555 §7.4).
    LeafWwwBonus = "leaf-www-bonus", fails = [
        "rfc8555/7.4/csr-common-name-and-san",
        "rfc8555/7.4/csr-common-name-only",
    ];
    /// Leaves validated out of valid challenges (RFC 8555 §8: REQUIRED when the status is valid).
    ChallengeWithoutValidated = "challenge-without-validated", fails = [
        "rfc8555/7.5.1/challenge-response",
    ];
    /// Leaves url out of a challenge object read with POST-as-GET (RFC 8555 §6.3, §7.1.5).
    ChallengeReadWithoutUrl = "challenge-read-without-url", fails = [
        "rfc8555/7.1.5/challenge-object-fields",
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
        "rfc8555/7.4.2/certificate-pem-chain",
    ];
    /// Offers no alternate chains, the optional Link rel="alternate" of RFC 8555 §7.4.2.
    NoAlternateLinks = "no-alternate-links", fails = [
        "rfc8555/7.4.2/alternate-chain-same-leaf",
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
        "rfc8555/6.3/challenge-fetch-starts-no-validation",
    ];
    /// Refuses challenge responses that carry fields the challenge type does not define (RFC 8555 §7.5.1).
    RejectUnknownChallengeFields = "reject-unknown-challenge-fields", fails = [
        "rfc8555/7.5.1/challenge-response-legacy-keyauthorization",
        "rfc8555/7.5.1/challenge-response-unknown-fields",
    ];
    /// Marks every answered challenge valid without validating it, like Pebble's PEBBLE_VA_ALWAYS_VALID (RFC 8555 §8).
    VaAlwaysValid = "va-always-valid", fails = [
        "rfc8555/7.1.2.1/orders-list-omits-invalid",
        "rfc8555/8.3/http-01-issuance",
        "rfc8555/8.4/dns-01-issuance",
        "rfc8737/3/tls-alpn-01-issuance",
        "rfc8738/5/http-01-ipv4",
        "rfc8738/5/http-01-ipv6",
        "rfc8738/6/tls-alpn-01-ipv4",
        "rfc8738/6/tls-alpn-01-ipv6",
    ];
    /// Sets failed challenges to invalid without an error (RFC 8555 §8).
    ChallengeErrorOmitted = "challenge-error-omitted", fails = [
        "rfc8555/8.2/error-entry-per-query",
        "rfc8555/8.2/retry-state-exposed",
        "rfc8555/8/challenge-failure-invalid",
        "rfc8737/3/tls-alpn-01-unprovisioned-invalid",
    ];
    /// Marks a challenge invalid after its first failed validation query instead of retrying it (RFC 8555 §8.2).
    VaNoRetry = "va-no-retry", fails = [
        "rfc8555/8.2/error-entry-per-query",
        "rfc8555/8.2/repost-rate-limited",
        "rfc8555/8.2/repost-retries-at-once",
        "rfc8555/8.2/retry-after-failed-query",
        "rfc8555/8.2/retry-after-past-next-query",
        "rfc8555/8.2/retry-state-exposed",
    ];
    /// Shows only the latest failed query as the challenge error instead of adding an entry per query (RFC 8555 §8.2).
    RetryErrorReplaced = "retry-error-replaced", fails = [
        "rfc8555/8.2/error-entry-per-query",
    ];
    /// Shows no challenge error while it retries a failed validation (RFC 8555 §8.2).
    RetryNoError = "retry-no-error", fails = [
        "rfc8555/8.2/error-entry-per-query",
        "rfc8555/8.2/retry-state-exposed",
    ];
    /// Sends no Retry-After on a challenge it is retrying (RFC 8555 §8.2).
    RetryNoRetryAfter = "retry-no-retry-after", fails = [
        "rfc8555/8.2/retry-state-exposed",
    ];
    /// Sends Retry-After: 0 on a challenge it is retrying, before its next validation query (RFC 8555 §8.2).
    RetryAfterTooEarly = "retry-after-too-early", fails = [
        "rfc8555/8.2/retry-after-past-next-query",
    ];
    /// Ignores a client's new POST to a challenge it is retrying instead of retrying at once (RFC 8555 §8.2).
    RepostIgnored = "repost-ignored", fails = [
        "rfc8555/8.2/repost-retries-at-once",
    ];
    /// Retries at once on every client POST to a challenge it is retrying, without a rate limit (RFC 8555 §8.2).
    RepostNotRateLimited = "repost-not-rate-limited", fails = [
        "rfc8555/8.2/repost-rate-limited",
    ];
    /// Expects the dns-01 TXT record to hold the digest of the token instead of the key authorization (RFC 8555 §8.4).
    Dns01DigestOfToken = "dns-01-digest-of-token", fails = [
        "rfc8555/8.4/dns-01-issuance",
    ];
    /// Expects the tls-alpn-01 acmeIdentifier to hold the digest of the token instead of the key authorization (RFC 8737 §3).
    TlsAlpn01DigestOfToken = "tls-alpn-01-digest-of-token", fails = [
        "rfc8737/3/tls-alpn-01-issuance",
        "rfc8737/3/tls-alpn-01-uppercase-san",
        "rfc8738/6/tls-alpn-01-ipv4",
        "rfc8738/6/tls-alpn-01-ipv6",
    ];
    /// Counts deactivated authorizations as valid when deciding whether an order is ready (RFC 8555 §7.5.2).
    DeactivatedAuthzCounts = "deactivated-authz-counts", fails = [
        "rfc8555/7.5.2/deactivated-authz-not-sufficient",
    ];
    /// Refuses revocation requests signed by an account, accepting only the certificate key (RFC 8555 §7.6).
    RevokeRefusesAccount = "revoke-refuses-account", fails = [
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
    /// Accepts revocation reason codes RFC 5280 §5.3.1 does not define (RFC 8555 §7.6).
    AcceptAnyRevocationReason = "accept-any-revocation-reason", fails = [
        "rfc8555/7.6/revoke-bad-reason",
    ];
    /// Compares the http-01 body with its trailing whitespace instead of ignoring it (RFC 8555 §8.3).
    VaNoWhitespaceTrim = "va-no-whitespace-trim", fails = [
        "rfc8555/8.3/http-01-trailing-whitespace",
    ];
    /// Does not follow redirects during http-01 validation (RFC 8555 §8.3).
    VaNoRedirects = "va-no-redirects", fails = [
        "rfc8555/8.3/http-01-redirect",
    ];
    /// Sends validation DNS queries over UDP instead of TCP (RFC 8555 §11.2).
    DnsOverUdp = "dns-over-udp", fails = [
        "rfc8555/11.2/dns-queries-over-tcp",
    ];
    /// Offers tls-alpn-01 validation a ClientHello with "h2" besides acme-tls/1 (RFC 8737 §3).
    TlsAlpn01ExtraAlpn = "tls-alpn-01-extra-alpn", fails = [
        "rfc8737/3/tls-alpn-01-client-hello",
    ];
    /// Matches the tls-alpn-01 certificate's dNSName against the identifier case-sensitively (RFC 8737 §3).
    VaCaseSensitiveSan = "va-case-sensitive-san", fails = [
        "rfc8737/3/tls-alpn-01-uppercase-san",
    ];
    /// Sends application data after the acme-tls/1 handshake (RFC 8737 §4).
    TlsAlpn01DataAfterHandshake = "tls-alpn-01-data-after-handshake", fails = [
        "rfc8737/4/tls-alpn-01-close-after-handshake",
    ];
    /// Keeps the acme-tls/1 connection open for seconds after the handshake instead of closing it (RFC 8737 §4).
    TlsAlpn01Lingers = "tls-alpn-01-lingers", fails = [
        "rfc8737/4/tls-alpn-01-close-after-handshake",
    ];
    /// Writes IPv6 identifiers of authorizations uncompressed instead of in RFC 5952 form (RFC 8738 §3).
    IpAuthzExpanded = "ip-authz-expanded", fails = [
        "rfc8738/3/ipv6-authorization-canonical",
    ];
    /// Looks ip identifiers up in the DNS like names and connects to the answer (RFC 8738 §4).
    VaResolvesIpIdentifiers = "va-resolves-ip-identifiers", fails = [
        "rfc8738/5/http-01-ipv4",
        "rfc8738/5/http-01-ipv6",
        "rfc8738/6/tls-alpn-01-ipv4",
        "rfc8738/6/tls-alpn-01-ipv6",
    ];
    /// Writes the address in the Host header of http-01 requests for ip identifiers in a non-canonical form (RFC 8738 §5).
    Http01IpHostNoncanonical = "http-01-ip-host-noncanonical", fails = [
        "rfc8738/5/http-01-ipv4",
        "rfc8738/5/http-01-ipv6",
    ];
    /// Puts the address itself instead of its reverse name in the tls-alpn-01 SNI, which TLS stacks then leave out (RFC 8738 §6).
    TlsAlpn01IpLiteralSni = "tls-alpn-01-ip-literal-sni", fails = [
        "rfc8738/6/tls-alpn-01-ipv4",
        "rfc8738/6/tls-alpn-01-ipv6",
    ];
    /// Offers dns-01 in authorizations for ip identifiers (RFC 8738 §7).
    OfferDns01ForIp = "offer-dns-01-for-ip", fails = [
        "rfc8738/7/no-dns-01-for-ip",
    ];
    /// Sends problem documents with non-ASCII text in ISO-8859-1 instead of UTF-8 (RFC 8555 §5).
    Latin1ProblemDetails = "latin1-problem-details", fails = [
        "rfc8555/5/utf-8-responses",
    ];
    /// Advertises the directory in Link rel="index" with an http:// URL, as a server behind a TLS-terminating proxy may (RFC 8555 §6.1).
    HttpIndexLink = "http-index-link", fails = [
        "rfc8555/6.1/https-urls",
    ];
    /// Hands out dns-01 and tls-alpn-01 challenge tokens with '=' padding (RFC 8555 §6.1).
    PaddedTokens = "padded-tokens", fails = [
        "rfc8555/6.1/base64url-unpadded",
        "rfc8555/8.4/dns-01-token",
        "rfc8737/3/tls-alpn-01-token",
    ];
    /// Accepts a JWS without a payload member, as if the payload were empty (RFC 8555 §6.2).
    AcceptDetachedPayload = "accept-detached-payload", fails = [
        "rfc8555/6.2/detached-payload-rejected",
    ];
    /// Accepts a protected header without alg, taking it for ES256 (RFC 8555 §6.2).
    AcceptMissingAlg = "accept-missing-alg", fails = [
        "rfc8555/6.2/missing-alg-rejected",
    ];
    /// Takes the account from the requested account URL when the header has neither jwk nor kid (RFC 8555 §6.2).
    InferAccountFromUrl = "infer-account-from-url", fails = [
        "rfc8555/6.2/no-jwk-no-kid-rejected",
    ];
    /// Leaves the detail out of badPublicKey problems (RFC 8555 §6.2).
    BadPublicKeyWithoutDetail = "bad-public-key-without-detail", fails = [
        "rfc8555/6.2/bad-public-key-detail",
    ];
    /// Compares the JWS url with the request URL as URLs, not as strings (RFC 8555 §6.4).
    UrlComparedAsUrl = "url-compared-as-url", fails = [
        "rfc8555/6.4/url-equivalent-spelling-unauthorized",
    ];
    /// Accepts an unprotected header and takes the parameters the protected one lacks from it (RFC 8555 §6.4.1, §6.5.2).
    MergeUnprotectedHeader = "merge-unprotected-header", fails = [
        "rfc8555/6.2/unprotected-header-rejected",
        "rfc8555/6.4.1/url-in-unprotected-header-rejected",
        "rfc8555/6.5.2/nonce-in-unprotected-header-rejected",
    ];
    /// Skips the url check when url is not a string (RFC 8555 §6.4.1).
    SkipNonStringUrl = "skip-non-string-url", fails = [
        "rfc8555/6.4.1/url-not-string-rejected",
    ];
    /// Answers 404 with the unregistered type urn:ietf:params:acme:error:notFound (RFC 8555 §6.7).
    UnregisteredNotFoundType = "unregistered-not-found-type", fails = [
        "rfc8555/6.7/registered-error-types",
    ];
    /// Repeats the refused identifier at the top level of a newOrder problem document (RFC 8555 §6.7.1).
    ProblemIdentifierTopLevel = "problem-identifier-top-level", fails = [
        "rfc8555/6.7.1/no-top-level-identifier",
    ];
    /// Writes a subproblem's identifier as a "type:value" string instead of an identifier object (RFC 8555 §6.7.1).
    SubproblemIdentifierString = "subproblem-identifier-string", fails = [
        "rfc8555/6.7.1/no-top-level-identifier",
        "rfc8555/6.7.1/subproblem-per-identifier",
    ];
    /// Answers HEAD on newNonce with 204 instead of 200 (RFC 8555 §7.2).
    NewNonceHead204 = "new-nonce-head-204", fails = [
        "rfc8555/7.2/new-nonce-head",
    ];
    /// Numbers accounts and orders 1, 2, 3, ... instead of giving them random ids (RFC 8555 §10.5).
    SequentialIds = "sequential-ids", fails = [
        "rfc8555/10.5/unpredictable-urls",
    ];
    /// Says externalAccountRequired false in the directory while requiring a binding (RFC 8555 §7.3.4).
    EabMetaNotRequired = "eab-meta-not-required", fails = [
        "rfc8555/7.3.4/directory-external-account-required",
    ];
    /// Creates accounts without an external account binding although it requires one (RFC 8555 §7.3.4).
    EabOptional = "eab-optional", fails = [
        "rfc8555/7.3.4/binding-demanded",
        "rfc8555/7.3.4/missing-binding-error-type",
    ];
    /// Refuses a newAccount without binding as malformed instead of externalAccountRequired (RFC 8555 §7.3.4).
    EabMissingMalformed = "eab-missing-malformed", fails = [
        "rfc8555/7.3.4/missing-binding-error-type",
    ];
    /// Accepts any external account binding without verifying it, and echoes it in the account (RFC 8555 §7.3.4).
    EabSkipVerification = "eab-skip-verification", fails = [
        "rfc8555/7.3.4/binding-alg-not-mac",
        "rfc8555/7.3.4/binding-not-jws",
        "rfc8555/7.3.4/binding-other-key",
        "rfc8555/7.3.4/binding-unknown-kid",
        "rfc8555/7.3.4/binding-url-mismatch",
        "rfc8555/7.3.4/binding-with-nonce",
        "rfc8555/7.3.4/binding-wrong-mac",
        "rfc8555/7.3.4/unverified-binding-not-echoed",
    ];
    /// Verifies a binding whose alg is not a MAC algorithm as HS256 (RFC 8555 §7.3.4 check 2).
    EabAnyAlg = "eab-any-alg", fails = [
        "rfc8555/7.3.4/binding-alg-not-mac",
    ];
    /// Accepts a binding whose protected header carries a nonce (RFC 8555 §7.3.4 check 2).
    EabAcceptNonce = "eab-accept-nonce", fails = [
        "rfc8555/7.3.4/binding-with-nonce",
    ];
    /// Does not compare the binding's url with the outer JWS url (RFC 8555 §7.3.4 check 2).
    EabSkipUrl = "eab-skip-url", fails = [
        "rfc8555/7.3.4/binding-url-mismatch",
    ];
    /// Verifies a binding with an unknown kid under the first MAC key it has (RFC 8555 §7.3.4 check 3).
    EabAnyKid = "eab-any-kid", fails = [
        "rfc8555/7.3.4/binding-unknown-kid",
    ];
    /// Does not verify the binding's MAC (RFC 8555 §7.3.4 check 4).
    EabSkipMac = "eab-skip-mac", fails = [
        "rfc8555/7.3.4/binding-wrong-mac",
    ];
    /// Does not check that the binding's payload is the account key (RFC 8555 §7.3.4 check 5).
    EabSkipKeyMatch = "eab-skip-key-match", fails = [
        "rfc8555/7.3.4/binding-other-key",
    ];
    /// Verifies the binding but leaves it out of the account object (RFC 8555 §7.3.4).
    EabNotEchoed = "eab-not-echoed", fails = [
        "rfc8555/7.3.4/binding-echoed",
    ];
    /// Creates accounts that did not agree to the terms of service it requires (RFC 8555 §7.3).
    TermsNotEnforced = "terms-not-enforced", fails = [
        "rfc8555/7.3/terms-not-agreed-refused",
    ];
    /// Requires agreement to terms of service without publishing meta.termsOfService (RFC 8555 §7.3).
    TermsUrlMissing = "terms-url-missing", fails = [
        "rfc8555/7.3.3/changed-terms-user-action-required",
        "rfc8555/7.3/terms-required-url",
    ];
    /// Keeps serving an account after its terms changed, without asking it to agree again (RFC 8555 §7.3.3).
    TermsChangeIgnored = "terms-change-ignored", fails = [
        "rfc8555/7.3.3/changed-terms-user-action-required",
    ];
    /// Sends userActionRequired for changed terms without Link rel="terms-of-service" or instance (RFC 8555 §7.3.3).
    TermsChangeBareProblem = "terms-change-bare-problem", fails = [
        "rfc8555/7.3.3/changed-terms-user-action-required",
    ];
    /// After a terms change, links the terms the account agreed to instead of the latest
    /// ones (RFC 8555 §7.3.3: "the latest terms-of-service URL").
    TermsChangeStaleLink = "terms-change-stale-link", fails = [
        "rfc8555/7.3.3/changed-terms-user-action-required",
    ];
    /// Leaves renewalInfo out of the directory (RFC 9773 §3).
    NoRenewalInfo = "no-renewal-info", fails = [
        "rfc9773/3/directory-renewal-info",
        "rfc9773/4.2/suggested-window",
    ];
    /// Serves a suggested renewal window that ends before it starts (RFC 9773 §4.2).
    RenewalWindowInverted = "renewal-window-inverted", fails = [
        "rfc9773/4.2/suggested-window",
    ];
    /// Accepts replaces in newOrder but leaves it out of the order object (RFC 9773 §5).
    ReplacesNotEchoed = "replaces-not-echoed", fails = [
        "rfc9773/5/replaces-echoed",
    ];
    /// Lets a certificate be replaced by a second live order (RFC 9773 §5).
    ReplacesTwice = "replaces-twice", fails = [
        "rfc9773/5/already-replaced",
    ];
    /// Refuses an already replaced certificate with 400 malformed instead of 409 alreadyReplaced (RFC 9773 §5).
    AlreadyReplaced400 = "already-replaced-400", fails = [
        "rfc9773/5/already-replaced",
    ];
    /// Lets an order replace another account's certificate (RFC 9773 §5).
    ReplacesAnyAccount = "replaces-any-account", fails = [
        "rfc9773/5/replaces-other-account",
    ];
    /// Lets an order replace a certificate it shares no identifier with (RFC 9773 §5).
    ReplacesAnyIdentifiers = "replaces-any-identifiers", fails = [
        "rfc9773/5/replaces-no-shared-identifier",
    ];
    /// Lists the profile names in meta.profiles as an array instead of an object of descriptions (draft-ietf-acme-profiles §3).
    ProfilesNotObject = "profiles-not-object", fails = [
        "draft-ietf-acme-profiles/3/directory-profiles",
    ];
    /// Accepts a newOrder naming a profile it does not advertise (draft-ietf-acme-profiles §4).
    UnadvertisedProfileAccepted = "unadvertised-profile-accepted", fails = [
        "draft-ietf-acme-profiles/4/unadvertised-profile-refused",
    ];
    /// Refuses a newOrder naming a profile it does not advertise with malformed instead of invalidProfile (draft-ietf-acme-profiles §4).
    UnadvertisedProfileMalformed = "unadvertised-profile-malformed", fails = [
        "draft-ietf-acme-profiles/4/unadvertised-profile-refused",
    ];
    /// Accepts a newOrder whose profile does not fit its identifiers (draft-ietf-acme-profiles §4).
    IncompatibleProfileAccepted = "incompatible-profile-accepted", fails = [
        "draft-ietf-acme-profiles/4/incompatible-profile-refused",
    ];
    /// Associates no profile with an order that names none (draft-ietf-acme-profiles §4, RECOMMENDED).
    NoDefaultProfile = "no-default-profile", fails = [
        "draft-ietf-acme-profiles/4/profile-selected-without-request",
    ];
    /// Finalizes an order under a profile it no longer issues under (draft-ietf-acme-profiles §4).
    FinalizeWithdrawnProfile = "finalize-withdrawn-profile", fails = [
        "draft-ietf-acme-profiles/4/finalize-withdrawn-profile-refused",
    ];
    /// Accepts a JWS in the compact serialization (RFC 8555 §6.2: flattened JSON only).
    AcceptCompactSerialization = "accept-compact-serialization", fails = [
        "rfc8555/6.2/compact-serialization-rejected",
    ];
    /// Takes the account the request URL names when the kid names no account or one whose key did not sign (RFC 8555 §6.2).
    KidFallsBackToUrlAccount = "kid-falls-back-to-url-account", fails = [
        "rfc8555/6.2/kid-unknown-account-rejected",
        "rfc8555/6.2/kid-of-another-account-rejected",
    ];
    /// Reports a failed validation in the challenge's error with the unregistered type urn:ietf:params:acme:error:validationFailed (RFC 8555 §6.7).
    ChallengeErrorUnregisteredType = "challenge-error-unregistered-type", fails = [
        "rfc8555/6.7/registered-error-types",
    ];
    /// Gives every challenge of an authorization the same token (RFC 8555 §8.3: 128 bits of entropy each).
    TokenPerAuthorization = "token-per-authorization", fails = [
        "rfc8555/8.3/token-per-challenge",
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
