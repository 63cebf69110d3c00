//! Certificate profiles (draft-ietf-acme-profiles): what the CA advertises in
//! `meta.profiles`, which profile an order gets, and what each issues.
//!
//! The default set is shaped like a public CA's (Let's Encrypt advertises `classic`,
//! `tlsserver` and `shortlived`), so that clients meet the names they will meet in
//! production and cases can tell the profiles apart on the issued certificate: only
//! `classic` carries a common name, `shortlived` lasts 160 hours instead of 90 days, and
//! `tlsserver` is for DNS names only, which makes it the profile an ip identifier is
//! incompatible with. A profile can be withdrawn while orders for it are open, the
//! situation the draft's last MUST is about.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use time::Duration;

/// How a profile's certificates differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateShape {
    /// The subject carries CN = the first name.
    pub common_name: bool,
    /// Validity when the order asks for none.
    pub lifetime: Duration,
    /// Orders with ip identifiers may use it.
    pub ip_identifiers: bool,
}

/// The classic shape: what the CA issued before it had profiles.
pub(crate) const CLASSIC: CertificateShape = CertificateShape { common_name: true, lifetime: Duration::days(90), ip_identifiers: true };

/// One advertised profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Its name in `meta.profiles` and in orders.
    pub name: String,
    /// The human-readable description the directory gives.
    pub description: String,
    /// What it issues.
    pub shape: CertificateShape,
}

impl Profile {
    /// The set a public CA offers; the first is the default.
    pub fn default_set() -> Vec<Profile> {
        let profile = |name: &str, description: &str, shape| Profile { name: name.into(), description: description.into(), shape };
        vec![
            profile("classic", "90 days, subject common name, any identifier (the default)", CLASSIC),
            profile(
                "tlsserver",
                "90 days, no subject common name, DNS names only",
                CertificateShape { common_name: false, ip_identifiers: false, ..CLASSIC },
            ),
            profile(
                "shortlived",
                "160 hours, no subject common name",
                CertificateShape { common_name: false, lifetime: Duration::hours(160), ip_identifiers: true },
            ),
        ]
    }
}

/// `NAME=DESCRIPTION`, a profile that issues as the classic one does (a common name, 90
/// days, any identifier).
impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, description) = s.split_once('=').ok_or_else(|| format!("{s:?}: give a profile as NAME=DESCRIPTION"))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(format!("{name:?}: a profile name is letters, digits, '-', '_' and '.'"));
        }
        Ok(Profile { name: name.to_owned(), description: description.trim().to_owned(), shape: CLASSIC })
    }
}

/// Why an order cannot have the profile it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not advertised (never, or no longer).
    NotAdvertised,
    /// Advertised, but not for these identifiers.
    Incompatible(String),
}

/// The CA's profiles and which of them it no longer issues under.
#[derive(Debug, Default)]
pub(crate) struct Profiles {
    offered: Vec<Profile>,
    withdrawn: Mutex<BTreeSet<String>>,
}

impl Profiles {
    pub(crate) fn new(offered: Vec<Profile>) -> Self {
        Profiles { offered, withdrawn: Mutex::default() }
    }

    fn is_withdrawn(&self, name: &str) -> bool {
        self.withdrawn.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(name)
    }

    /// Whether the CA has profiles at all (withdrawn ones count: it still has the extension).
    pub(crate) fn offers_any(&self) -> bool {
        !self.offered.is_empty()
    }

    /// `meta.profiles`: name → description of every profile still issued under; `None`
    /// for a CA without profiles.
    pub(crate) fn advertised(&self) -> Option<Map<String, Value>> {
        self.offers_any().then(|| {
            self.offered
                .iter()
                .filter(|p| !self.is_withdrawn(&p.name))
                .map(|p| (p.name.clone(), Value::String(p.description.clone())))
                .collect()
        })
    }

    /// The profile an order that names none gets: the first still advertised one that
    /// fits its identifiers.
    pub(crate) fn default_for(&self, has_ip: bool) -> Option<&Profile> {
        self.offered.iter().find(|p| !self.is_withdrawn(&p.name) && (p.shape.ip_identifiers || !has_ip))
    }

    /// The profile `name` for an order with (`has_ip`) or without ip identifiers.
    pub(crate) fn select(&self, name: &str, has_ip: bool) -> Result<&Profile, Refusal> {
        let profile = self.get(name).filter(|p| !self.is_withdrawn(&p.name)).ok_or(Refusal::NotAdvertised)?;
        if has_ip && !profile.shape.ip_identifiers {
            return Err(Refusal::Incompatible(format!("profile {name} is for DNS names only")));
        }
        Ok(profile)
    }

    /// The profile `name`, withdrawn or not.
    pub(crate) fn get(&self, name: &str) -> Option<&Profile> {
        self.offered.iter().find(|p| p.name == name)
    }

    /// Whether the CA still issues under `name`.
    pub(crate) fn issues_under(&self, name: &str) -> bool {
        self.get(name).is_some() && !self.is_withdrawn(name)
    }

    /// Stops issuing under `name`; false for a profile the CA never had.
    pub(crate) fn withdraw(&self, name: &str) -> bool {
        self.get(name).is_some() && {
            self.withdrawn.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_owned());
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_withdrawal_and_defaults() {
        let profiles = Profiles::new(Profile::default_set());
        assert_eq!(profiles.advertised().unwrap().keys().collect::<Vec<_>>(), ["classic", "tlsserver", "shortlived"]);
        assert_eq!(profiles.select("tlsserver", false).unwrap().name, "tlsserver");
        assert!(matches!(profiles.select("tlsserver", true), Err(Refusal::Incompatible(_))));
        assert_eq!(profiles.select("nope", false), Err(Refusal::NotAdvertised));
        assert_eq!(profiles.default_for(true).unwrap().name, "classic");
        assert!(profiles.withdraw("classic") && !profiles.withdraw("nope"));
        assert_eq!(profiles.select("classic", false), Err(Refusal::NotAdvertised));
        assert!(!profiles.issues_under("classic") && profiles.get("classic").is_some());
        assert_eq!(profiles.default_for(false).unwrap().name, "tlsserver");
        assert_eq!(profiles.default_for(true).unwrap().name, "shortlived");
        assert!(!profiles.advertised().unwrap().contains_key("classic"));
        assert_eq!(Profiles::new(Vec::new()).advertised(), None);
    }

    #[test]
    fn a_profile_parses_from_the_command_line() {
        let p: Profile = "short = six days".parse().unwrap();
        assert_eq!((p.name.as_str(), p.description.as_str(), p.shape), ("short", "six days", CLASSIC));
        assert!("no-description".parse::<Profile>().is_err());
        assert!("bad name=x".parse::<Profile>().is_err());
    }
}
