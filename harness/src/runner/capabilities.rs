//! What a server declares it offers, for the features its directory cannot tell.
//!
//! Whether a CA requires agreement to its terms, verifies external account bindings
//! or lets a test change its terms is policy, invisible on the wire until a case
//! fails. Inferring "unsupported" from a failure would hide real bugs, so such cases
//! run only when the operator declares the feature (`acmespec run --capabilities
//! FILE`); a declaration also overrides what the directory says.
//!
//! A rate limit is the same kind of policy: no request reveals it, and a tester that
//! guessed one would either send requests without end or blame a server for a limit it
//! never had. So the rate-limit cases run only against a limit the file declares, and
//! send exactly one request more than it allows.

use crate::scenario::Feature;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The contents of a capabilities file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Feature → offered or not, overriding what the directory says.
    #[serde(default)]
    pub features: HashMap<Feature, bool>,
    /// Named out-of-band actions a case may ask for (`tos-change`).
    #[serde(default)]
    pub triggers: BTreeMap<String, Trigger>,
    /// A rate limit a fresh account reaches (`[rate-limit]`), for the RFC 8555 §6.6 cases.
    #[serde(default, rename = "rate-limit")]
    pub rate_limit: Option<RateLimit>,
    /// What the server's certificate profiles do that its directory cannot say
    /// (`[profiles]`), for the draft-ietf-acme-profiles cases.
    #[serde(default)]
    pub profiles: ProfilePolicy,
}

/// Profiles the server treats specially (draft-ietf-acme-profiles §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfilePolicy {
    /// A profile for DNS names only: an order for an ip identifier under it is
    /// incompatible (declares [`Feature::ProfileDnsOnly`]).
    pub dns_only: Option<String>,
    /// The profile the `profile-withdrawal` trigger withdraws (declares
    /// [`Feature::ProfileWithdrawal`]).
    pub withdrawn: Option<String>,
}

/// A rate limit the server enforces per account: `requests` requests to `endpoint`
/// within its window succeed, the next one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The limited resource.
    pub endpoint: RateLimitedEndpoint,
    /// How many requests of one account succeed within the window (1 to
    /// [`MAX_RATE_LIMIT_REQUESTS`]).
    pub requests: u32,
}

/// A resource a declared rate limit counts requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RateLimitedEndpoint {
    /// newOrder: each request creates an order for a fresh name.
    #[serde(rename = "newOrder")]
    NewOrder,
}

/// The largest declarable limit: a case sends the limit plus one requests, and a run
/// should not turn into a load test.
pub const MAX_RATE_LIMIT_REQUESTS: u32 = 99;

/// An HTTP request that makes the server under test do something no ACME request can
/// (e.g. publish new terms of service for one account).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// HTTP method (default POST).
    #[serde(default = "default_method")]
    pub method: String,
    /// The URL; placeholders such as `{account_url}` are expanded.
    pub url: String,
    /// The request body; placeholders are expanded.
    #[serde(default)]
    pub body: Option<String>,
}

fn default_method() -> String {
    "POST".into()
}

/// The trigger of [`Feature::TosChange`].
pub const TOS_CHANGE: &str = "tos-change";
/// The trigger of [`Feature::ProfileWithdrawal`].
pub const PROFILE_WITHDRAWAL: &str = "profile-withdrawal";

impl Capabilities {
    /// Reads a capabilities file; the error names the file and the problem.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--capabilities {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("--capabilities {}: {e}", path.display()))
    }

    /// Parses the TOML text of a capabilities file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let caps: Capabilities = toml::from_str(text).map_err(|e| e.to_string())?;
        for (name, t) in &caps.triggers {
            if name != TOS_CHANGE && name != PROFILE_WITHDRAWAL {
                return Err(format!("unknown trigger {name:?}; known: {TOS_CHANGE:?}, {PROFILE_WITHDRAWAL:?}"));
            }
            if reqwest::Method::from_bytes(t.method.as_bytes()).is_err() {
                return Err(format!(
                    "trigger {name}: {:?} is not an HTTP method",
                    t.method
                ));
            }
            if url::Url::parse(&t.url).is_err() {
                return Err(format!("trigger {name}: {:?} is not a URL", t.url));
            }
        }
        if caps.features.get(&Feature::TosChange) == Some(&true)
            && !caps.triggers.contains_key(TOS_CHANGE)
        {
            return Err(format!(
                "feature tos-change needs a [triggers.{TOS_CHANGE}] table saying how to change the terms"
            ));
        }
        if caps.profiles.withdrawn.is_some() != caps.triggers.contains_key(PROFILE_WITHDRAWAL) {
            return Err(format!(
                "[profiles] withdrawn and [triggers.{PROFILE_WITHDRAWAL}] go together: the trigger withdraws that profile"
            ));
        }
        for f in [Feature::ProfileDnsOnly, Feature::ProfileWithdrawal] {
            if caps.features.contains_key(&f) {
                return Err(format!("declare {} with the [profiles] table, not in [features]", serde_json::to_string(&f).unwrap_or_default()));
            }
        }
        if let Some(limit) = &caps.rate_limit
            && !(1..=MAX_RATE_LIMIT_REQUESTS).contains(&limit.requests)
        {
            return Err(format!(
                "rate-limit.requests must be between 1 and {MAX_RATE_LIMIT_REQUESTS}, not {}",
                limit.requests
            ));
        }
        match (caps.features.get(&Feature::RateLimit), &caps.rate_limit) {
            (Some(true), None) => {
                return Err("feature rate-limit needs a [rate-limit] table saying which limit a test can reach".into());
            }
            (Some(false), Some(_)) => {
                return Err("feature rate-limit = false contradicts the [rate-limit] table".into());
            }
            _ => {}
        }
        Ok(caps)
    }

    /// What the file says about a feature, if anything; a `[rate-limit]` table declares
    /// [`Feature::RateLimit`], a `[profiles]` table the profile features.
    pub fn declared(&self, f: Feature) -> Option<bool> {
        let by_table = match f {
            Feature::RateLimit => self.rate_limit.is_some(),
            Feature::ProfileDnsOnly => self.profiles.dns_only.is_some(),
            Feature::ProfileWithdrawal => self.profiles.withdrawn.is_some(),
            _ => false,
        };
        self.features.get(&f).copied().or(by_table.then_some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_features_and_triggers() {
        let caps = Capabilities::parse(
            r#"
[features]
eab = true
terms-required = true
tls-alpn-01 = false
tos-change = true

[triggers.tos-change]
url = "http://127.0.0.1:1/change-terms"
body = '{"account": "{account_url}"}'
"#,
        )
        .unwrap();
        assert_eq!(caps.declared(Feature::Eab), Some(true));
        assert_eq!(caps.declared(Feature::TlsAlpn01), Some(false));
        assert_eq!(caps.declared(Feature::Wildcard), None);
        assert_eq!(caps.triggers[TOS_CHANGE].method, "POST");
        assert_eq!(caps.rate_limit, None);
        assert_eq!(caps.declared(Feature::RateLimit), None);
    }

    #[test]
    fn a_rate_limit_table_declares_the_feature() {
        let caps = Capabilities::parse("[rate-limit]\nendpoint = \"newOrder\"\nrequests = 5\n").unwrap();
        assert_eq!(caps.rate_limit, Some(RateLimit { endpoint: RateLimitedEndpoint::NewOrder, requests: 5 }));
        assert_eq!(caps.declared(Feature::RateLimit), Some(true));
        let explicit = "[features]\nrate-limit = true\n[rate-limit]\nendpoint = \"newOrder\"\nrequests = 99\n";
        assert_eq!(Capabilities::parse(explicit).unwrap().declared(Feature::RateLimit), Some(true));
        let off = Capabilities::parse("[features]\nrate-limit = false\n").unwrap();
        assert_eq!(off.declared(Feature::RateLimit), Some(false));
    }

    #[test]
    fn a_profiles_table_declares_the_profile_features() {
        let text = "[profiles]\ndns-only = \"tlsserver\"\nwithdrawn = \"shortlived\"\n\
                    [triggers.profile-withdrawal]\nurl = \"http://127.0.0.1:1/withdraw-profile\"\n";
        let caps = Capabilities::parse(text).unwrap();
        assert_eq!(caps.profiles, ProfilePolicy { dns_only: Some("tlsserver".into()), withdrawn: Some("shortlived".into()) });
        assert_eq!((caps.declared(Feature::ProfileDnsOnly), caps.declared(Feature::ProfileWithdrawal)), (Some(true), Some(true)));
        let none = Capabilities::parse("").unwrap();
        assert_eq!((none.declared(Feature::ProfileDnsOnly), none.declared(Feature::Profiles)), (None, None));
    }

    #[test]
    fn refuses_unknown_and_inconsistent_entries() {
        for (text, needle) in [
            ("[features]\nbogus = true\n", "bogus"),
            ("[feature]\neab = true\n", "feature"),
            (
                "[features]\ntos-change = true\n",
                "needs a [triggers.tos-change]",
            ),
            ("[triggers.other]\nurl = \"http://x/\"\n", "unknown trigger"),
            ("[triggers.tos-change]\nurl = \"not a url\"\n", "not a URL"),
            (
                "[triggers.tos-change]\nmethod = \"BAD METHOD\"\nurl = \"http://x/\"\n",
                "not an HTTP method",
            ),
            ("[features]\nrate-limit = true\n", "needs a [rate-limit] table"),
            (
                "[features]\nrate-limit = false\n[rate-limit]\nendpoint = \"newOrder\"\nrequests = 5\n",
                "contradicts",
            ),
            ("[rate-limit]\nendpoint = \"newOrder\"\nrequests = 0\n", "between 1 and 99"),
            ("[rate-limit]\nendpoint = \"newOrder\"\nrequests = 100\n", "between 1 and 99"),
            ("[rate-limit]\nendpoint = \"newAccount\"\nrequests = 5\n", "newAccount"),
            ("[rate-limit]\nendpoint = \"newOrder\"\n", "requests"),
            ("[rate-limit]\nendpoint = \"newOrder\"\nrequests = 5\nwindow = 60\n", "window"),
            ("[profiles]\nwithdrawn = \"x\"\n", "go together"),
            ("[triggers.profile-withdrawal]\nurl = \"http://x/\"\n", "go together"),
            ("[features]\nprofile-dns-only = true\n", "with the [profiles] table"),
            ("[profiles]\nretired = \"x\"\n", "retired"),
        ] {
            let e = Capabilities::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
