//! What a run will create on the server, known before its first request.
//!
//! A shared staging CA counts accounts, orders and certificates against rate limits
//! that other people depend on too; an operator pointing acmespec at one wants to know
//! the bill in advance and to cap it (`--max-orders`). The counts are upper bounds read
//! from the selected cases' steps: a case the server turns out not to support creates
//! less.

use super::Capabilities;
use crate::scenario::{Action, Case, Feature};
use std::fmt;

/// Upper bounds of what the selected cases create.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// Cases selected.
    pub cases: usize,
    /// Accounts (newAccount requests that may create one), the preflight's included.
    pub accounts: usize,
    /// Orders (newOrder requests), the requests a declared rate limit takes included.
    pub orders: usize,
    /// Pre-authorizations (newAuthz requests).
    pub authorizations: usize,
    /// Certificates (finalize requests).
    pub certificates: usize,
    /// Revocations.
    pub revocations: usize,
}

impl Plan {
    /// The plan of `cases` against a server declaring `capabilities`.
    pub fn of(cases: &[&Case], capabilities: &Capabilities) -> Plan {
        // The preflight makes one account before any case.
        let mut plan = Plan { cases: cases.len(), accounts: 1, ..Plan::default() };
        for case in cases {
            for step in case.def.steps.iter().map(|s| s.get_ref()) {
                match step.action {
                    Action::NewAccount if step.only_return_existing != Some(true) => plan.accounts += 1,
                    Action::NewOrder => plan.orders += 1,
                    Action::NewAuthz => plan.authorizations += 1,
                    Action::Finalize => plan.certificates += 1,
                    Action::Revoke => plan.revocations += 1,
                    Action::ExceedRateLimit if case.def.requires.contains(&Feature::RateLimit) => {
                        plan.orders += capabilities.rate_limit.map_or(0, |l| l.requests as usize + 1);
                    }
                    _ => {}
                }
            }
        }
        plan
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cases creating at most {} accounts, {} orders, {} pre-authorizations, {} certificates and {} revocations",
            self.cases, self.accounts, self.orders, self.authorizations, self.certificates, self.revocations
        )
    }
}
