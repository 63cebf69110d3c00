//! The mock CA's resources and their state machines (RFC 8555 §7.1.6).
//!
//! An order's status is never stored: like Pebble, it is derived from its
//! authorizations, its finalization and the clock, so the rules live in one pure
//! function the order-state fuzzer and model tests can drive directly.

use crate::protocol::jwk::Jwk;
use crate::protocol::wire::{Identifier, Problem};
use serde::Serialize;
use time::OffsetDateTime;

/// Account status (§7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AccountStatus {
    Valid,
    Deactivated,
}

/// Authorization status (§7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthzStatus {
    Pending,
    Valid,
    Invalid,
    Deactivated,
    Expired,
}

/// Challenge status (§7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ChallengeStatus {
    Pending,
    Processing,
    Valid,
    Invalid,
}

/// Order status (§7.1.6), always derived by [`order_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

impl OrderStatus {
    pub(crate) fn name(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Ready => "ready",
            OrderStatus::Processing => "processing",
            OrderStatus::Valid => "valid",
            OrderStatus::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) key: Jwk,
    pub(crate) status: AccountStatus,
    pub(crate) contact: Vec<String>,
    pub(crate) terms_of_service_agreed: bool,
    /// The terms changed since the account agreed (management `/change-terms`, §7.3.3).
    pub(crate) terms_outdated: bool,
    pub(crate) external_account_binding: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct Challenge {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) token: String,
    pub(crate) status: ChallengeStatus,
    pub(crate) validated: Option<OffsetDateTime>,
    pub(crate) error: Option<Problem>,
}

#[derive(Debug, Clone)]
pub(crate) struct Authorization {
    pub(crate) id: String,
    pub(crate) account_id: String,
    /// The identifier without any `*.` prefix (§7.1.4).
    pub(crate) identifier: Identifier,
    pub(crate) wildcard: bool,
    pub(crate) status: AuthzStatus,
    pub(crate) expires: OffsetDateTime,
    pub(crate) challenges: Vec<Challenge>,
    /// Created by newAuthz (§7.4.1): once valid, later orders for the identifier use it.
    pub(crate) pre_authorization: bool,
}

impl Authorization {
    /// The status as of `now`: a pending or valid authorization past `expires` is expired.
    pub(crate) fn status_at(&self, now: OffsetDateTime) -> AuthzStatus {
        match self.status {
            AuthzStatus::Pending | AuthzStatus::Valid if now >= self.expires => AuthzStatus::Expired,
            s => s,
        }
    }
}

/// How long a valid authorization may be reused.
pub(crate) const VALID_AUTHZ_LIFETIME: time::Duration = time::Duration::days(30);

/// The state of a challenge after one validation query (RFC 8555 §8.2).
#[derive(Debug, Clone)]
pub(crate) enum Progress {
    Valid,
    /// The query failed and another follows; the challenge stays `processing`
    /// and shows this error (none under `Defect::RetryNoError`).
    Retrying(Option<Problem>),
    /// The server gave up: the challenge becomes `invalid` with this error.
    Invalid(Problem),
}

impl Authorization {
    /// A client's response to a challenge (§7.5.1): a pending challenge of a pending
    /// authorization starts processing. False when the response changes nothing.
    pub(crate) fn respond(&mut self, challenge_id: &str, now: OffsetDateTime) -> bool {
        if self.status_at(now) != AuthzStatus::Pending {
            return false;
        }
        match self.challenges.iter_mut().find(|c| c.id == challenge_id && c.status == ChallengeStatus::Pending) {
            Some(c) => {
                c.status = ChallengeStatus::Processing;
                true
            }
            None => false,
        }
    }

    /// Records a validation query's outcome on a processing challenge (§7.1.6, §8.2);
    /// `with_error: false` drops the error (a defect). True when the challenge is
    /// still processing afterwards, false once it is settled or no longer applies
    /// (its authorization was deactivated or expired meanwhile).
    pub(crate) fn record(&mut self, challenge_id: &str, progress: Progress, with_error: bool, now: OffsetDateTime) -> bool {
        if self.status_at(now) != AuthzStatus::Pending {
            return false;
        }
        let Some(c) = self.challenges.iter_mut().find(|c| c.id == challenge_id && c.status == ChallengeStatus::Processing)
        else {
            return false;
        };
        match progress {
            Progress::Valid => {
                c.status = ChallengeStatus::Valid;
                c.validated = Some(now);
                self.status = AuthzStatus::Valid;
                self.expires = now + VALID_AUTHZ_LIFETIME;
                false
            }
            Progress::Retrying(error) => {
                c.error = error.filter(|_| with_error);
                true
            }
            Progress::Invalid(error) => {
                c.status = ChallengeStatus::Invalid;
                c.error = with_error.then_some(error);
                self.status = AuthzStatus::Invalid;
                false
            }
        }
    }

    /// Deactivation by the client (§7.5.2): only a pending or valid authorization.
    pub(crate) fn deactivate(&mut self, now: OffsetDateTime) -> bool {
        let allowed = matches!(self.status_at(now), AuthzStatus::Pending | AuthzStatus::Valid);
        if allowed {
            self.status = AuthzStatus::Deactivated;
        }
        allowed
    }
}

/// How far finalization got.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Finalization {
    NotRequested,
    /// Issued, but the order shows `processing` for `polls_left` more fetches (a scripted fault).
    Processing { certificate_id: String, polls_left: u32 },
    Issued { certificate_id: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) identifiers: Vec<Identifier>,
    pub(crate) authorization_ids: Vec<String>,
    pub(crate) not_before: Option<OffsetDateTime>,
    pub(crate) not_after: Option<OffsetDateTime>,
    pub(crate) expires: OffsetDateTime,
    pub(crate) finalization: Finalization,
    /// The certificate identifier of RFC 9773 §5 `replaces`.
    pub(crate) replaces: Option<String>,
    /// The certificate profile it issues under (draft-ietf-acme-profiles).
    pub(crate) profile: Option<String>,
}

impl Order {
    /// The status of §7.1.6 given its authorizations' statuses as of `now`.
    pub(crate) fn status(&self, authz: &[AuthzStatus], now: OffsetDateTime) -> OrderStatus {
        order_status(&self.finalization, self.expires, authz, now)
    }

    /// A fetch of a `processing` order uses up one poll of a scripted slow issuance;
    /// the last one makes it `valid`.
    pub(crate) fn poll(&mut self) {
        if let Finalization::Processing { certificate_id, polls_left } = &self.finalization {
            self.finalization = if *polls_left <= 1 {
                Finalization::Issued { certificate_id: certificate_id.clone() }
            } else {
                Finalization::Processing { certificate_id: certificate_id.clone(), polls_left: polls_left - 1 }
            };
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) issued: crate::mockca::ca::IssuedCertificate,
    /// The identifiers the certificate was issued for, as in the order.
    pub(crate) identifiers: Vec<Identifier>,
    pub(crate) revoked: Option<u8>,
}

/// The order status of §7.1.6 from its parts. `authz` are the order's authorization
/// statuses as of `now`.
pub(crate) fn order_status(
    finalization: &Finalization,
    expires: OffsetDateTime,
    authz: &[AuthzStatus],
    now: OffsetDateTime,
) -> OrderStatus {
    match finalization {
        Finalization::Issued { .. } => return OrderStatus::Valid,
        Finalization::Processing { .. } => return OrderStatus::Processing,
        Finalization::NotRequested => {}
    }
    if now >= expires {
        return OrderStatus::Invalid;
    }
    if authz.iter().any(|s| !matches!(s, AuthzStatus::Pending | AuthzStatus::Valid)) {
        return OrderStatus::Invalid;
    }
    if authz.iter().all(|s| *s == AuthzStatus::Valid) {
        OrderStatus::Ready
    } else {
        OrderStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn order_status_follows_authorizations_and_finalization() {
        let now = OffsetDateTime::now_utc();
        let later = now + Duration::hours(1);
        let none = Finalization::NotRequested;
        use AuthzStatus::*;
        assert_eq!(order_status(&none, later, &[Pending, Valid], now), OrderStatus::Pending);
        assert_eq!(order_status(&none, later, &[Valid, Valid], now), OrderStatus::Ready);
        assert_eq!(order_status(&none, later, &[Valid, Invalid], now), OrderStatus::Invalid);
        assert_eq!(order_status(&none, later, &[Deactivated], now), OrderStatus::Invalid);
        assert_eq!(order_status(&none, now, &[Valid], now), OrderStatus::Invalid);
        let processing = Finalization::Processing { certificate_id: "c".into(), polls_left: 2 };
        assert_eq!(order_status(&processing, later, &[Valid], now), OrderStatus::Processing);
        let issued = Finalization::Issued { certificate_id: "c".into() };
        assert_eq!(order_status(&issued, now, &[Expired], now), OrderStatus::Valid);
    }

    #[test]
    fn authorizations_expire() {
        let now = OffsetDateTime::now_utc();
        let mut a = Authorization {
            id: "a".into(),
            account_id: "x".into(),
            identifier: Identifier::dns("a.test"),
            wildcard: false,
            status: AuthzStatus::Valid,
            expires: now,
            challenges: vec![],
            pre_authorization: false,
        };
        assert_eq!(a.status_at(now), AuthzStatus::Expired);
        a.status = AuthzStatus::Deactivated;
        assert_eq!(a.status_at(now), AuthzStatus::Deactivated);
    }
}
