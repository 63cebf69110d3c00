//! Switchable client defects: each one makes acmespec's own client break one
//! client-side requirement, so that every client check can be shown to fail.
//!
//! A defect is narrow on purpose: it touches one request (or one kind of request)
//! and leaves the rest of the flow well-behaved, so that grading the run fails the
//! declared checks and no others. The JWS-shape defects act on newOrder, the first
//! request signed with the account's `kid`; the nonce, retry, reuse and renewal
//! defects need a fault script on the mock CA (a badNonce, a Retry-After, a reused
//! authorization, a renewal window that has passed) to become visible, and the chain
//! defect a preferred chain.

crate::defect_list::defect_list! {
    /// A way acmespec's own ACME client can be made to deviate from RFC 8555.
    ClientDefect,
    name_doc = "The kebab-case name used on the command line (`--client-defect NAME`).",
    fails_doc = "The client check ids this defect must make fail (and no others).";
    /// Signs newOrder with the nonce it already used for newAccount, although each nonce may be used once only (RFC 8555 §6.5).
    ReuseNonce = "reuse-nonce", fails = ["client/6.5/nonce-fresh"];
    /// Sends an empty User-Agent, although clients MUST send a User-Agent naming the client (RFC 8555 §6.1).
    NoUserAgent = "no-user-agent", fails = ["client/6.1/user-agent"];
    /// Sends its JWS with `Content-Type: application/json` instead of `application/jose+json` (RFC 8555 §6.2).
    WrongContentType = "wrong-content-type", fails = ["client/6.2/content-type"];
    /// Fetches authorizations with a plain GET (falling back to POST-as-GET on 405), although ACME resources other than the directory and newNonce are fetched with POST-as-GET (RFC 8555 §6.3).
    PlainGet = "plain-get", fails = ["client/6.3/no-plain-get"];
    /// Sends `{}` as the payload of POST-as-GET requests instead of the empty payload (RFC 8555 §6.3).
    FetchWithEmptyObject = "fetch-with-empty-object", fails = ["client/6.3/post-as-get-empty-payload"];
    /// Identifies itself with `jwk` instead of the account's `kid` on newOrder (RFC 8555 §6.2).
    JwkInsteadOfKid = "jwk-instead-of-kid", fails = ["client/6.2/jwk-or-kid-by-resource"];
    /// Puts the newAccount URL in the JWS `url` of newOrder instead of the URL the request is sent to (RFC 8555 §6.4).
    UrlMismatch = "url-mismatch", fails = ["client/6.4/url-matches-request"];
    /// Answers a challenge with `{"keyAuthorization": ...}` (the pre-RFC draft form) instead of the empty object (RFC 8555 §7.5.1).
    LegacyKeyAuthorization = "legacy-key-authorization", fails = ["client/7.5.1/challenge-response-empty-object"];
    /// Finalizes the order right after creating it, before it is `ready` (RFC 8555 §7.4), then carries on properly.
    FinalizeBeforeReady = "finalize-before-ready", fails = ["client/7.4/finalize-when-ready"];
    /// Puts a name the order does not hold into the CSR, although the CSR must name exactly the order's identifiers (RFC 8555 §7.4).
    CsrExtraName = "csr-extra-name", fails = ["client/7.4/csr-names-match-order"];
    /// Signs the CSR with the account key, although the certificate key must differ from the account key (RFC 8555 §11.1).
    CsrAccountKey = "csr-account-key", fails = ["client/7.4/csr-key-not-account-key"];
    /// Re-POSTs `{}` to the challenge to follow the validation instead of polling the authorization with POST-as-GET (RFC 8555 §7.5.1).
    RepostChallenge = "repost-challenge", fails = ["client/7.5.1/polls-authorization"];
    /// Ignores Retry-After, retrying 429/503 answers and polling pending or processing resources at once (RFC 8555 §6.6, §7.5.1).
    IgnoreRetryAfter = "ignore-retry-after", fails = ["client/6.6/honours-retry-after", "client/7.5.1/polling-respects-retry-after"];
    /// Gives up on the first badNonce instead of retrying with the fresh nonce from the error response (RFC 8555 §6.5).
    NoBadNonceRetry = "no-bad-nonce-retry", fails = ["client/6.5/retries-bad-nonce"];
    /// Takes the finalize answer as final and looks for the certificate there, without polling a `processing` order until it is `valid` (RFC 8555 §7.4).
    DownloadWhileProcessing = "download-while-processing", fails = ["client/7.4/waits-for-valid"];
    /// Puts a nonce into the inner JWS of a key rollover, which must carry neither nonce nor kid (RFC 8555 §7.3.5).
    InnerJwsNonce = "inner-jws-nonce", fails = ["client/7.3.5/key-change-inner-jws"];
    /// Sends newOrder in the general JWS JSON serialization (`signatures`) instead of the flattened one (RFC 8555 §6.2).
    GeneralJws = "general-jws", fails = ["client/6.2/flattened-jws"];
    /// Leaves `url` out of the protected header of newOrder, although alg, nonce, url and jwk or kid are required (RFC 8555 §6.2).
    MissingUrl = "missing-url", fails = ["client/6.2/protected-header-fields"];
    /// Signs newOrder with the newAccount URL as `kid` instead of its account URL (RFC 8555 §6.2).
    WrongKid = "wrong-kid", fails = ["client/6.2/kid-is-account-url"];
    /// Sends newOrder with `alg: none` and no signature, an algorithm ACME forbids (RFC 8555 §6.2).
    AlgNone = "alg-none", fails = ["client/6.2/alg-allowed"];
    /// Answers a challenge of an authorization that is already valid (one the CA reused) instead of going on to finalize the ready order (RFC 8555 §7.1.3, §7.5).
    AnswerValidAuthorization = "answer-valid-authorization", fails = ["client/7.5/no-challenge-for-valid-authorization"];
    /// Keeps the default chain without fetching the `rel="alternate"` chains, although it was asked to prefer another chain (RFC 8555 §7.4.2).
    IgnorePreferredChain = "ignore-preferred-chain", fails = ["client/7.4.2/fetches-preferred-chain"];
    /// Leaves `profile` out of newOrder although it was asked for a certificate profile (draft-ietf-acme-profiles §4).
    IgnoreProfile = "ignore-profile", fails = ["client/7.4/sends-requested-profile"];
    /// Names in newOrder the profile it was asked for with `-v2` appended, a name the directory does not advertise, without looking at meta.profiles (draft-ietf-acme-profiles §4).
    UnadvertisedProfile = "unadvertised-profile", fails = ["client/7.4/no-unadvertised-profile", "client/7.4/sends-requested-profile"];
    /// Reads the renewal information but keeps its certificate although the suggested window has already passed, instead of renewing at once (RFC 9773 §4.2).
    IgnoreRenewalWindow = "ignore-renewal-window", fails = ["client/9773-4.2/renews-when-window-passed"];
}

impl ClientDefect {
    /// Looks a defect up by its kebab-case name.
    pub fn from_name(name: &str) -> Option<ClientDefect> {
        ClientDefect::ALL.iter().copied().find(|d| d.name() == name)
    }
}

impl std::str::FromStr for ClientDefect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ClientDefect::from_name(s)
            .ok_or_else(|| format!("unknown client defect {s:?}; `acmespec client list-defects` lists them"))
    }
}

impl std::fmt::Display for ClientDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_defect_declares_a_check() {
        for d in ClientDefect::ALL {
            assert_eq!(d.name().parse::<ClientDefect>(), Ok(*d));
            assert!(!d.fails().is_empty(), "{d}");
            assert!(d.description().contains("RFC") || d.description().contains("draft-ietf-acme-"), "{d}");
            assert!(d.fails().iter().all(|c| c.starts_with("client/")), "{d}");
        }
        assert!("no-such-defect".parse::<ClientDefect>().is_err());
    }
}
