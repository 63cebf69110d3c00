//! The mock CA's in-memory store: one lock, narrow methods, nothing else.
//!
//! Handlers never hold the lock across an await; each method takes it, does one
//! thing and returns owned copies, so the WFE reads as a sequence of plain steps.
//!
//! A load test or a week-long fuzzing campaign creates orders without end, so the store
//! keeps only the newest [`ORDERS_KEPT`] orders: past that, the oldest order goes, with
//! the authorizations no newer order shares and the certificate it issued. Accounts and
//! pre-authorizations (newAuthz) are kept.

use crate::mockca::core::{Account, Authorization, Certificate, Finalization, Order};
use crate::protocol::wire::Identifier;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many orders the store keeps before it evicts the oldest.
pub(crate) const ORDERS_KEPT: usize = 10_000;

#[derive(Default)]
struct Store {
    accounts: HashMap<String, Account>,
    account_by_thumbprint: HashMap<String, String>,
    orders: HashMap<String, Order>,
    /// Order ids, oldest first: the eviction queue.
    order_queue: VecDeque<String>,
    orders_by_account: HashMap<String, VecDeque<String>>,
    /// How many stored orders name each authorization.
    authz_orders: HashMap<String, usize>,
    authzs: HashMap<String, Authorization>,
    /// Authorization ids by account and identifier, so that newOrder finds one to
    /// reuse without scanning every authorization the store holds.
    authzs_by_subject: HashMap<(String, Identifier), Vec<String>>,
    challenge_authz: HashMap<String, String>,
    certificates: HashMap<String, Certificate>,
    certificate_by_serial: HashMap<String, String>,
}

impl Store {
    /// Drops an order, the authorizations only it named, and its certificate.
    fn evict_order(&mut self, id: &str) {
        let Some(order) = self.orders.remove(id) else { return };
        if let Some(ids) = self.orders_by_account.get_mut(&order.account_id) {
            // The evicted order is the account's oldest but one in rare interleavings.
            match ids.front() {
                Some(front) if front == id => {
                    ids.pop_front();
                }
                _ => ids.retain(|o| o != id),
            }
        }
        for authz_id in &order.authorization_ids {
            let left = self.authz_orders.get_mut(authz_id).map(|n| {
                *n = n.saturating_sub(1);
                *n
            });
            if left == Some(0) {
                self.authz_orders.remove(authz_id);
                if let Some(a) = self.authzs.remove(authz_id) {
                    for c in &a.challenges {
                        self.challenge_authz.remove(&c.id);
                    }
                    let subject = (a.account_id, a.identifier);
                    if let Some(ids) = self.authzs_by_subject.get_mut(&subject) {
                        ids.retain(|id| id != authz_id);
                        if ids.is_empty() {
                            self.authzs_by_subject.remove(&subject);
                        }
                    }
                }
            }
        }
        if let Finalization::Issued { certificate_id } | Finalization::Processing { certificate_id, .. } = &order.finalization
            && let Some(cert) = self.certificates.remove(certificate_id)
        {
            self.certificate_by_serial.remove(&cert.issued.serial_hex);
        }
    }
}

/// The store. Every method is one short critical section.
#[derive(Default)]
pub(crate) struct Db {
    store: Mutex<Store>,
}

impl Db {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add_account(&self, account: Account) {
        let mut s = self.lock();
        s.account_by_thumbprint.insert(account.key.thumbprint(), account.id.clone());
        s.accounts.insert(account.id.clone(), account);
    }

    pub(crate) fn account(&self, id: &str) -> Option<Account> {
        self.lock().accounts.get(id).cloned()
    }

    pub(crate) fn account_by_thumbprint(&self, thumbprint: &str) -> Option<Account> {
        let s = self.lock();
        s.account_by_thumbprint.get(thumbprint).and_then(|id| s.accounts.get(id)).cloned()
    }

    /// Replaces an account; re-indexes its key when it changed.
    pub(crate) fn update_account(&self, account: Account) {
        let mut s = self.lock();
        if let Some(old) = s.accounts.get(&account.id) {
            let old_tp = old.key.thumbprint();
            if old_tp != account.key.thumbprint() {
                s.account_by_thumbprint.remove(&old_tp);
            }
        }
        s.account_by_thumbprint.insert(account.key.thumbprint(), account.id.clone());
        s.accounts.insert(account.id.clone(), account);
    }

    pub(crate) fn add_order(&self, order: Order, authzs: Vec<Authorization>) {
        for a in authzs {
            self.add_authz(a);
        }
        let mut s = self.lock();
        s.orders_by_account.entry(order.account_id.clone()).or_default().push_back(order.id.clone());
        for id in &order.authorization_ids {
            *s.authz_orders.entry(id.clone()).or_default() += 1;
        }
        s.order_queue.push_back(order.id.clone());
        s.orders.insert(order.id.clone(), order);
        while s.order_queue.len() > ORDERS_KEPT {
            if let Some(oldest) = s.order_queue.pop_front() {
                s.evict_order(&oldest);
            }
        }
    }

    /// Stores an authorization of its own (a newAuthz pre-authorization) or of an order.
    pub(crate) fn add_authz(&self, a: Authorization) {
        let mut s = self.lock();
        for c in &a.challenges {
            s.challenge_authz.insert(c.id.clone(), a.id.clone());
        }
        s.authzs_by_subject.entry((a.account_id.clone(), a.identifier.clone())).or_default().push(a.id.clone());
        s.authzs.insert(a.id.clone(), a);
    }

    pub(crate) fn order(&self, id: &str) -> Option<Order> {
        self.lock().orders.get(id).cloned()
    }

    /// Replaces a stored order; one evicted meanwhile stays gone.
    pub(crate) fn update_order(&self, order: Order) {
        if let Some(stored) = self.lock().orders.get_mut(&order.id) {
            *stored = order;
        }
    }

    /// The account's orders, oldest first.
    pub(crate) fn orders_of(&self, account_id: &str) -> Vec<Order> {
        let s = self.lock();
        s.orders_by_account
            .get(account_id)
            .into_iter()
            .flatten()
            .filter_map(|id| s.orders.get(id).cloned())
            .collect()
    }

    pub(crate) fn authz(&self, id: &str) -> Option<Authorization> {
        self.lock().authzs.get(id).cloned()
    }

    pub(crate) fn authzs(&self, ids: &[String]) -> Vec<Authorization> {
        let s = self.lock();
        ids.iter().filter_map(|id| s.authzs.get(id).cloned()).collect()
    }

    /// Applies `change` to an authorization under the lock; returns the result.
    pub(crate) fn modify_authz(&self, id: &str, change: impl FnOnce(&mut Authorization)) -> Option<Authorization> {
        let mut s = self.lock();
        let a = s.authzs.get_mut(id)?;
        change(a);
        Some(a.clone())
    }

    /// The authorization holding a challenge.
    pub(crate) fn authz_of_challenge(&self, challenge_id: &str) -> Option<Authorization> {
        let s = self.lock();
        s.challenge_authz.get(challenge_id).and_then(|id| s.authzs.get(id)).cloned()
    }

    /// The account's authorizations for one identifier (its value without `*.`).
    pub(crate) fn authzs_for(&self, account_id: &str, identifier: &Identifier) -> Vec<Authorization> {
        let s = self.lock();
        s.authzs_by_subject
            .get(&(account_id.to_owned(), identifier.clone()))
            .into_iter()
            .flatten()
            .filter_map(|id| s.authzs.get(id).cloned())
            .collect()
    }

    /// Every authorization of an account: a scan of the whole store, for the one defect
    /// that touches them all.
    pub(crate) fn authzs_of_account(&self, account_id: &str) -> Vec<Authorization> {
        self.lock().authzs.values().filter(|a| a.account_id == account_id).cloned().collect()
    }

    pub(crate) fn add_certificate(&self, cert: Certificate) {
        let mut s = self.lock();
        s.certificate_by_serial.insert(cert.issued.serial_hex.clone(), cert.id.clone());
        s.certificates.insert(cert.id.clone(), cert);
    }

    pub(crate) fn certificate(&self, id: &str) -> Option<Certificate> {
        self.lock().certificates.get(id).cloned()
    }

    pub(crate) fn certificate_by_serial(&self, serial_hex: &str) -> Option<Certificate> {
        let s = self.lock();
        s.certificate_by_serial.get(serial_hex).and_then(|id| s.certificates.get(id)).cloned()
    }

    pub(crate) fn certificate_by_der(&self, der: &[u8]) -> Option<Certificate> {
        self.lock().certificates.values().find(|c| c.issued.der == der).cloned()
    }

    /// Marks a certificate revoked; `false` when it already was.
    pub(crate) fn revoke(&self, id: &str, reason: u8) -> bool {
        let mut s = self.lock();
        match s.certificates.get_mut(id) {
            Some(c) if c.revoked.is_none() => {
                c.revoked = Some(reason);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mockca::core::{AuthzStatus, Challenge, ChallengeStatus};
    use time::OffsetDateTime;

    fn authz(id: &str) -> Authorization {
        Authorization {
            id: id.into(),
            account_id: "acct".into(),
            identifier: Identifier::dns(format!("{id}.acmespec.test")),
            wildcard: false,
            pre_authorization: false,
            status: AuthzStatus::Pending,
            expires: OffsetDateTime::UNIX_EPOCH,
            challenges: vec![Challenge {
                id: format!("{id}-c"),
                kind: "http-01".into(),
                token: String::new(),
                status: ChallengeStatus::Pending,
                validated: None,
                error: None,
            }],
        }
    }

    fn order(id: &str, authz_ids: &[&str]) -> Order {
        Order {
            id: id.into(),
            account_id: "acct".into(),
            identifiers: Vec::new(),
            authorization_ids: authz_ids.iter().map(|a| (*a).to_owned()).collect(),
            not_before: None,
            not_after: None,
            expires: OffsetDateTime::UNIX_EPOCH,
            finalization: Finalization::NotRequested,
            replaces: None,
            profile: None,
        }
    }

    #[test]
    fn the_oldest_orders_go_with_the_authorizations_only_they_named() {
        let db = Db::default();
        // The first order's authorization is shared with the second (reused), the
        // second's own one is not shared.
        db.add_order(order("o0", &["a0"]), vec![authz("a0")]);
        db.add_order(order("o1", &["a0", "a1"]), vec![authz("a1")]);
        for i in 2..ORDERS_KEPT + 1 {
            db.add_order(order(&format!("o{i}"), &[]), Vec::new());
        }
        assert!(db.order("o0").is_none() && db.order("o1").is_some());
        assert!(db.authz("a0").is_some(), "still named by o1");
        assert_eq!(db.authzs_for("acct", &Identifier::dns("a0.acmespec.test")).len(), 1);
        db.add_order(order("last", &[]), Vec::new());
        assert!(db.order("o1").is_none());
        assert!(db.authz("a0").is_none() && db.authz("a1").is_none());
        assert!(db.authz_of_challenge("a1-c").is_none());
        assert!(db.authzs_for("acct", &Identifier::dns("a0.acmespec.test")).is_empty());
        assert_eq!(db.orders_of("acct").len(), ORDERS_KEPT);
        assert_eq!(db.orders_of("acct").first().map(|o| o.id.clone()).as_deref(), Some("o2"));
        // An update of an evicted order does not bring it back.
        db.update_order(order("o0", &[]));
        assert!(db.order("o0").is_none());
    }
}
