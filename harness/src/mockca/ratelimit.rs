//! The optional newOrder rate limit (RFC 8555 §6.6).
//!
//! Off unless configured: a limit would refuse clients and cases that know nothing of
//! it. When on, it counts per account, so that cases, which each make their own
//! accounts, cannot use up each other's allowance, and only orders actually created
//! count, so that a refused request does not push the moment of relief further away.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `requests` orders per account within `window`; the next newOrder is refused
/// with `rateLimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrderLimit {
    /// Orders one account may create within the window (at least 1).
    pub requests: u32,
    /// The sliding window (at least one second).
    pub window: Duration,
}

impl FromStr for NewOrderLimit {
    type Err = String;

    /// Parses `REQUESTS/SECONDS`, e.g. `5/3600`.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("{s:?} is not REQUESTS/SECONDS with both at least 1, e.g. 5/3600");
        let (requests, seconds) = s.split_once('/').ok_or_else(usage)?;
        let requests: u32 = requests.trim().parse().map_err(|_| usage())?;
        let seconds: u64 = seconds.trim().parse().map_err(|_| usage())?;
        if requests == 0 || seconds == 0 {
            return Err(usage());
        }
        Ok(NewOrderLimit {
            requests,
            window: Duration::from_secs(seconds),
        })
    }
}

/// The orders each account created within the window, oldest first.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: NewOrderLimit,
    created: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    pub(crate) fn new(limit: NewOrderLimit) -> Self {
        Limiter {
            limit,
            created: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn limit(&self) -> NewOrderLimit {
        self.limit
    }

    /// Counts one more order of `account` at `now`, or refuses it with the whole seconds
    /// (at least 1) until the oldest counted order leaves the window.
    pub(crate) fn admit(&self, account: &str, now: Instant) -> Result<(), u32> {
        let mut created = self
            .created
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let times = created.entry(account.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.limit.window)
        {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= self.limit.requests as usize => {
                let left = self
                    .limit
                    .window
                    .saturating_sub(now.saturating_duration_since(*oldest));
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                Err(u32::try_from(secs).unwrap_or(u32::MAX).max(1))
            }
            _ => {
                times.push_back(now);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_per_seconds() {
        assert_eq!(
            "5/3600".parse(),
            Ok(NewOrderLimit {
                requests: 5,
                window: Duration::from_secs(3600)
            })
        );
        for bad in ["5", "0/60", "5/0", "five/60", "5/-1", "5/60/1", ""] {
            assert!(bad.parse::<NewOrderLimit>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counts_per_account_within_the_window() {
        let limiter = Limiter::new(NewOrderLimit {
            requests: 2,
            window: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        assert_eq!(limiter.admit("a", t0), Ok(()));
        assert_eq!(limiter.admit("a", t0 + Duration::from_secs(4)), Ok(()));
        assert_eq!(
            limiter.admit("b", t0 + Duration::from_secs(4)),
            Ok(()),
            "another account has its own count"
        );
        assert_eq!(
            limiter.admit("a", t0 + Duration::from_millis(5500)),
            Err(5),
            "4.5 s left, rounded up"
        );
        assert_eq!(
            limiter.admit("a", t0 + Duration::from_millis(5500)),
            Err(5),
            "a refusal is not counted"
        );
        assert_eq!(
            limiter.admit("a", t0 + Duration::from_secs(10)),
            Ok(()),
            "the oldest left the window"
        );
        assert_eq!(limiter.admit("a", t0 + Duration::from_secs(10)), Err(4));
    }
}
