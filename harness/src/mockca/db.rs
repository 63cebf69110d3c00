//! The mock CA's in-memory store: one lock, narrow methods, nothing else.
//!
//! Handlers never hold the lock across an await; each method takes it, does one
//! thing and returns owned copies, so the WFE reads as a sequence of plain steps.

use crate::mockca::core::{Account, Authorization, Certificate, Order};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Store {
    accounts: HashMap<String, Account>,
    account_by_thumbprint: HashMap<String, String>,
    orders: HashMap<String, Order>,
    orders_by_account: HashMap<String, Vec<String>>,
    authzs: HashMap<String, Authorization>,
    challenge_authz: HashMap<String, String>,
    certificates: HashMap<String, Certificate>,
    certificate_by_serial: HashMap<String, String>,
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
        s.orders_by_account.entry(order.account_id.clone()).or_default().push(order.id.clone());
        s.orders.insert(order.id.clone(), order);
    }

    /// Stores an authorization of its own (a newAuthz pre-authorization) or of an order.
    pub(crate) fn add_authz(&self, a: Authorization) {
        let mut s = self.lock();
        for c in &a.challenges {
            s.challenge_authz.insert(c.id.clone(), a.id.clone());
        }
        s.authzs.insert(a.id.clone(), a);
    }

    pub(crate) fn order(&self, id: &str) -> Option<Order> {
        self.lock().orders.get(id).cloned()
    }

    pub(crate) fn update_order(&self, order: Order) {
        self.lock().orders.insert(order.id.clone(), order);
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

    /// Every authorization of an account, for revocation by an authorized account.
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
