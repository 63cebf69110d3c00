//! Scripted, deterministic faults: what real CAs do to clients (rate limits, outages,
//! nonce rejections, slow issuance, failed validations), at exactly the request a
//! scenario names, or at random from a printed seed so a run can be replayed.

use crate::mockca::journal::Endpoint;
use crate::seeded::SplitMix64;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer 400 `badNonce` (with a fresh Replay-Nonce, as §6.5 requires).
    BadNonce,
    /// Answer 429 `rateLimited`, with `Retry-After: retry_after` when given.
    RateLimited,
    /// Answer 503 with `Retry-After: retry_after` when given.
    Unavailable,
    /// Answer 500 `serverInternal`.
    ServerInternal,
    /// Answer normally, `ms` milliseconds late.
    Delay,
    /// Answer 200 with an empty body.
    EmptyOk,
    /// Answer 200 with a body that is not JSON.
    InvalidJson,
    /// On finalize: the order stays `processing` for `polls` fetches (with Retry-After) before it is valid.
    StayProcessing,
    /// On a challenge response: the validation fails with a problem and subproblems.
    ChallengeInvalid,
    /// On a challenge response: the validation takes `ms` milliseconds, so the client
    /// must poll while the challenge is `processing`.
    SlowValidation,
    /// On newOrder: the order gets the account's still-valid authorizations from earlier
    /// orders for the identifiers they cover, as a CA reusing authorizations does (RFC 8555
    /// §7.1.3, §7.4.1), so an order for names validated before is `ready` at once.
    ReuseAuthz,
    /// On renewalInfo: the suggestedWindow has already passed, so a client following
    /// RFC 9773 §4.2 renews at once.
    RenewalWindowPassed,
}

/// One rule of a fault script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The resource whose requests the rule watches.
    pub endpoint: Endpoint,
    /// Fire on this (1-based) request to the endpoint; absent: on any request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
    /// Fire at most this many times (default 1 with `nth`, unlimited without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Fire with this probability, drawn from the run's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// What happens.
    pub action: FaultKind,
    /// Seconds for Retry-After (rate-limited, unavailable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
    /// Milliseconds of delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// Order fetches that still show `processing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polls: Option<u32>,
}

/// Longest delay a rule may ask for, so a script cannot stall a run indefinitely.
pub const MAX_DELAY_MS: u64 = 30_000;

impl FaultRule {
    /// Checks the parameters the action needs; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let needs = |present: bool, what: &str| if present { Ok(()) } else { Err(format!("action {:?} needs `{what}`", self.action)) };
        match self.action {
            FaultKind::RateLimited | FaultKind::Unavailable => {}
            FaultKind::Delay => needs(self.ms.is_some_and(|ms| ms <= MAX_DELAY_MS), "ms (at most 30000)")?,
            FaultKind::StayProcessing => {
                needs(self.polls.is_some(), "polls")?;
                if self.endpoint != Endpoint::Finalize {
                    return Err("stay-processing applies to the finalize endpoint".into());
                }
            }
            FaultKind::ChallengeInvalid | FaultKind::SlowValidation if self.endpoint != Endpoint::Challenge => {
                return Err(format!("{:?} applies to the challenge endpoint", self.action));
            }
            FaultKind::SlowValidation => needs(self.ms.is_some_and(|ms| ms <= MAX_DELAY_MS), "ms (at most 30000)")?,
            FaultKind::ReuseAuthz if self.endpoint != Endpoint::NewOrder => {
                return Err("reuse-authz applies to the new-order endpoint".into());
            }
            FaultKind::RenewalWindowPassed if self.endpoint != Endpoint::RenewalInfo => {
                return Err("renewal-window-passed applies to the renewal-info endpoint".into());
            }
            _ => {}
        }
        if self.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
            return Err("probability must be between 0 and 1".into());
        }
        if self.nth == Some(0) {
            return Err("nth counts from 1".into());
        }
        Ok(())
    }
}

/// A fault that fired, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fired {
    pub(crate) kind: FaultKind,
    pub(crate) retry_after: Option<u32>,
    pub(crate) ms: u64,
    pub(crate) polls: u32,
}

/// The rules of a run, with how often each fired and the seeded generator.
pub(crate) struct FaultPlan {
    state: Mutex<State>,
}

struct State {
    rules: Vec<FaultRule>,
    fired: Vec<u32>,
    rng: SplitMix64,
    seed: u64,
}

impl FaultPlan {
    pub(crate) fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        let fired = vec![0; rules.len()];
        FaultPlan { state: Mutex::new(State { rules, fired, rng: SplitMix64::new(seed), seed }) }
    }

    /// Replaces the rules (management API); counts start over, the seed stays.
    pub(crate) fn replace(&self, rules: Vec<FaultRule>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.fired = vec![0; rules.len()];
        s.rng = SplitMix64::new(s.seed);
        s.rules = rules;
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).rules.clone()
    }

    pub(crate) fn seed(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).seed
    }

    /// The first rule that fires for the `nth` request to `endpoint`, if any.
    pub(crate) fn decide(&self, endpoint: Endpoint, nth: u32) -> Option<Fired> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..s.rules.len() {
            let rule = &s.rules[i];
            if rule.endpoint != endpoint || rule.nth.is_some_and(|n| n != nth) {
                continue;
            }
            let limit = rule.times.unwrap_or(if rule.nth.is_some() { 1 } else { u32::MAX });
            if s.fired[i] >= limit {
                continue;
            }
            if let Some(p) = rule.probability
                && s.rng.unit() >= p
            {
                continue;
            }
            let rule = s.rules[i].clone();
            s.fired[i] += 1;
            return Some(Fired {
                kind: rule.action,
                retry_after: rule.retry_after,
                ms: rule.ms.unwrap_or(0),
                polls: rule.polls.unwrap_or(0),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(endpoint: Endpoint, nth: Option<u32>, action: FaultKind) -> FaultRule {
        FaultRule { endpoint, nth, times: None, probability: None, action, retry_after: Some(2), ms: None, polls: None }
    }

    #[test]
    fn nth_rules_fire_once_at_their_request() {
        let plan = FaultPlan::new(vec![rule(Endpoint::NewOrder, Some(2), FaultKind::BadNonce)], 1);
        assert_eq!(plan.decide(Endpoint::NewOrder, 1), None);
        assert_eq!(plan.decide(Endpoint::NewOrder, 2).map(|f| f.kind), Some(FaultKind::BadNonce));
        assert_eq!(plan.decide(Endpoint::NewOrder, 2), None);
        assert_eq!(plan.decide(Endpoint::Finalize, 2), None);
    }

    #[test]
    fn the_same_seed_replays_the_same_schedule() {
        let mut r = rule(Endpoint::NewNonce, None, FaultKind::BadNonce);
        r.probability = Some(0.3);
        let run = |seed| {
            let plan = FaultPlan::new(vec![r.clone()], seed);
            (1..200).map(|n| plan.decide(Endpoint::NewNonce, n).is_some()).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        let fired = run(42).iter().filter(|f| **f).count();
        assert!((30..90).contains(&fired), "{fired} of 199 at p = 0.3");
    }

    #[test]
    fn parameters_are_checked() {
        let mut r = rule(Endpoint::Order, None, FaultKind::StayProcessing);
        assert!(r.validate().is_err());
        r.endpoint = Endpoint::Finalize;
        r.polls = Some(3);
        assert!(r.validate().is_ok());
        let mut d = rule(Endpoint::Order, None, FaultKind::Delay);
        d.ms = Some(MAX_DELAY_MS + 1);
        assert!(d.validate().is_err());
        for (kind, home) in [(FaultKind::ReuseAuthz, Endpoint::NewOrder), (FaultKind::RenewalWindowPassed, Endpoint::RenewalInfo)] {
            assert!(rule(Endpoint::Order, None, kind).validate().is_err(), "{kind:?}");
            assert!(rule(home, Some(2), kind).validate().is_ok(), "{kind:?}");
        }
    }
}
