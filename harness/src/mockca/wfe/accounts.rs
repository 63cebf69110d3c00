//! Accounts (RFC 8555 §7.3): creation with its contact, terms and external account
//! binding rules, updates, the orders list, key rollover and the terms-change trigger.

use super::*;

impl Wfe {
    /// §7.3.3: the account must agree to changed terms before anything else.
    pub(super) fn terms_changed(&self, account_id: &str) -> Fault {
        let mut f = fault(StatusCode::FORBIDDEN, ProblemType::UserActionRequired, "the terms of service have changed");
        if !self.has(Defect::TermsChangeBareProblem) {
            let version = self.terms_version.load(std::sync::atomic::Ordering::Relaxed);
            let linked = if self.has(Defect::TermsChangeStaleLink) { version.saturating_sub(1).max(1) } else { version };
            f.link = Some((self.terms_url(linked), "terms-of-service"));
            f.problem.extra.insert("instance".into(), self.url(&format!("/terms/agree?account={account_id}")).into());
        }
        f
    }

    pub(super) fn terms_url(&self, version: u32) -> String {
        self.url(&format!("/terms/v{version}"))
    }

    pub(super) fn current_terms_url(&self) -> String {
        self.terms_url(self.terms_version.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Publishes a new version of the terms and marks the account's agreement outdated
    /// (the management API's `/change-terms`); other accounts keep working under the
    /// terms they agreed to, so concurrent cases are not disturbed. `false` when there is
    /// no such account.
    pub(crate) fn change_terms(&self, account_url: &str) -> bool {
        let id = account_url.strip_prefix(&self.url("/account/")).unwrap_or_default();
        match self.db.account(id) {
            Some(mut account) => {
                self.terms_version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                account.terms_outdated = true;
                self.db.update_account(account);
                true
            }
            None => false,
        }
    }

    pub(super) fn account_json(&self, a: &Account) -> Value {
        let mut v = json!({
            "status": a.status,
            "contact": a.contact,
            "termsOfServiceAgreed": a.terms_of_service_agreed,
            "orders": self.url(&format!("/account/{}/orders/0", a.id)),
        });
        if let Some(eab) = &a.external_account_binding {
            v["externalAccountBinding"] = eab.clone();
        }
        v
    }

    pub(super) fn validate_contacts(&self, payload: &Value) -> Result<Option<Vec<String>>, Fault> {
        let Some(contact) = payload.get("contact") else { return Ok(None) };
        let list = contact.as_array().ok_or_else(|| malformed("contact must be an array"))?;
        let refuse = |kind: ProblemType, detail: String| {
            let kind = if self.has(Defect::ContactErrorsMalformed) { ProblemType::Malformed } else { kind };
            fault(StatusCode::BAD_REQUEST, kind, detail)
        };
        let mut out = Vec::new();
        for c in list {
            let c = c.as_str().ok_or_else(|| malformed("contact entries must be strings"))?;
            let Some(address) = c.strip_prefix("mailto:").filter(|_| !self.has(Defect::MailtoUnsupported)) else {
                return Err(refuse(ProblemType::UnsupportedContact, format!("only mailto: contacts are supported, not {c:?}")));
            };
            let single = address.split('@').count() == 2 && !address.contains(',') && !address.contains('%');
            if !single || (address.contains('?') && !self.has(Defect::AcceptMailtoHfields)) {
                return Err(refuse(ProblemType::InvalidContact, format!("{c:?} must be one address without hfields")));
            }
            out.push(c.to_owned());
        }
        Ok(Some(out))
    }

    pub(super) fn new_account(&self, s: Signed) -> Handled {
        let payload = s.payload.ok_or_else(|| malformed("newAccount needs a payload"))?;
        if !payload.is_object() {
            return Err(malformed("the payload must be an object"));
        }
        let lookup_only = payload.get("onlyReturnExisting") == Some(&Value::Bool(true));
        if let Some(existing) = self.db.account_by_thumbprint(&s.key.thumbprint())
            && (lookup_only || !self.has(Defect::DuplicateKeyAccounts))
        {
            let status = if self.has(Defect::ExistingAccount201) { StatusCode::CREATED } else { StatusCode::OK };
            return Ok(Reply::json(status, self.account_json(&existing)).at(self.account_url(&existing.id)));
        }
        if payload.get("onlyReturnExisting") == Some(&Value::Bool(true)) && !self.has(Defect::OnlyReturnExistingCreates) {
            return Err(fault(StatusCode::BAD_REQUEST, ProblemType::AccountDoesNotExist, "no account has this key"));
        }
        let agreed = payload.get("termsOfServiceAgreed") == Some(&Value::Bool(true));
        if self.config.terms_required && !agreed && !self.has(Defect::TermsNotEnforced) {
            return Err(malformed(format!("agree to the terms of service at {} (termsOfServiceAgreed: true)", self.current_terms_url())));
        }
        let contact = self.validate_contacts(&payload)?.unwrap_or_default();
        if contact.is_empty() && self.config.contact_required {
            return Err(fault(StatusCode::BAD_REQUEST, ProblemType::InvalidContact, "Contact information is missing: this CA requires a mailto: contact"));
        }
        let eab = self.check_eab(&payload, &s.key)?;
        let account = Account {
            id: self.resource_id(),
            key: s.key,
            status: AccountStatus::Valid,
            contact,
            terms_of_service_agreed: agreed,
            terms_outdated: false,
            external_account_binding: eab,
        };
        self.db.add_account(account.clone());
        let mut body = self.account_json(&account);
        if self.has(Defect::EabNotEchoed)
            && let Some(b) = body.as_object_mut()
        {
            b.remove("externalAccountBinding");
        }
        if self.has(Defect::EchoUnknownAccountFields) {
            reflect(&mut body, &payload, false);
        }
        if self.has(Defect::AccountOrdersFromClient)
            && let (Some(b), Some(orders)) = (body.as_object_mut(), payload.get("orders"))
        {
            b.insert("orders".into(), orders.clone());
        }
        Ok(Reply::json(StatusCode::CREATED, body).at(self.account_url(&account.id)))
    }

    /// External account binding (§7.3.4): required when keys are configured.
    pub(super) fn check_eab(&self, payload: &Value, outer_key: &Jwk) -> Result<Option<Value>, Fault> {
        let Some(eab) = payload.get("externalAccountBinding") else {
            if self.config.eab_keys.is_empty() || self.has(Defect::EabOptional) {
                return Ok(None);
            }
            let kind = if self.has(Defect::EabMissingMalformed) { ProblemType::Malformed } else { ProblemType::ExternalAccountRequired };
            return Err(fault(StatusCode::BAD_REQUEST, kind, "this CA requires external account binding"));
        };
        if self.config.eab_keys.is_empty() {
            return Ok(None);
        }
        if self.has(Defect::EabSkipVerification) {
            return Ok(Some(eab.clone()));
        }
        let obj = eab.as_object().ok_or_else(|| malformed("externalAccountBinding must be a JWS object"))?;
        let part = |name: &str| obj.get(name).and_then(Value::as_str).ok_or_else(|| malformed(format!("externalAccountBinding lacks {name}")));
        let (protected, inner_payload, signature) = (part("protected")?, part("payload")?, part("signature")?);
        let header_bytes = b64::decode(protected).map_err(|e| malformed(format!("externalAccountBinding protected: {e}")))?;
        let header: Value = strict_json::parse(&header_bytes).map_err(|e| malformed(format!("externalAccountBinding header: {e}")))?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let hmac_alg = match alg {
            "HS256" => ring::hmac::HMAC_SHA256,
            "HS384" => ring::hmac::HMAC_SHA384,
            "HS512" => ring::hmac::HMAC_SHA512,
            _ if self.has(Defect::EabAnyAlg) => ring::hmac::HMAC_SHA256,
            _ => return Err(malformed(format!("externalAccountBinding alg {alg:?} is not an HMAC algorithm"))),
        };
        if header.get("nonce").is_some() && !self.has(Defect::EabAcceptNonce) {
            return Err(malformed("externalAccountBinding must not carry a nonce"));
        }
        if header.get("url").and_then(Value::as_str) != Some(self.url("/new-account").as_str()) && !self.has(Defect::EabSkipUrl) {
            return Err(malformed("externalAccountBinding url must be the newAccount URL"));
        }
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
        let keys = &self.config.eab_keys;
        let (_, mac_key) = keys
            .iter()
            .find(|(k, _)| k == kid)
            .or_else(|| keys.first().filter(|_| self.has(Defect::EabAnyKid)))
            .ok_or_else(|| unauthorized(format!("unknown external account key id {kid:?}")))?;
        let key = ring::hmac::Key::new(hmac_alg, mac_key);
        let mac = b64::decode(signature).map_err(|e| malformed(format!("externalAccountBinding signature: {e}")))?;
        if ring::hmac::verify(&key, format!("{protected}.{inner_payload}").as_bytes(), &mac).is_err() && !self.has(Defect::EabSkipMac) {
            return Err(unauthorized("the external account binding MAC does not verify"));
        }
        let bound = b64::decode(inner_payload).ok().and_then(|p| strict_json::parse(&p).ok());
        let bound_key = bound.as_ref().and_then(|v| Jwk::from_value(v).ok());
        if bound_key.map(|k| k.thumbprint()) != Some(outer_key.thumbprint()) && !self.has(Defect::EabSkipKeyMatch) {
            return Err(malformed("externalAccountBinding payload is not the account key"));
        }
        Ok(Some(eab.clone()))
    }

    pub(super) fn own_account(&self, s: &Signed, owner: &str) -> Result<Account, Fault> {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        if account.id != owner && !self.has(Defect::SkipOwnershipCheck) {
            return Err(unauthorized("this resource belongs to another account"));
        }
        Ok(account)
    }

    pub(super) fn account(&self, s: Signed, id: &str) -> Handled {
        let mut account = self.own_account(&s, id)?;
        let prior = account.clone();
        if s.payload.is_none() && self.has(Defect::AccountRequiresPayload) {
            return Err(malformed("an account request needs a JSON object as payload"));
        }
        if let Some(payload) = &s.payload {
            if !payload.is_object() {
                return Err(malformed("the payload must be an object"));
            }
            if let Some(contact) = self.validate_contacts(payload)? {
                if contact.is_empty() && self.config.contact_required {
                    return Err(fault(StatusCode::BAD_REQUEST, ProblemType::InvalidContact, "this CA requires a contact on every account"));
                }
                account.contact = contact;
            }
            // §7.3.2: a status other than deactivated (§7.3.6) is ignored.
            match payload.get("status") {
                None => {}
                Some(status) if status.as_str() == Some("deactivated") => account.status = AccountStatus::Deactivated,
                Some(_) if self.has(Defect::UpdateRejectsStatus) => {
                    return Err(malformed("an account update may only set status to deactivated"));
                }
                Some(_) => {}
            }
            self.db.update_account(account.clone());
        }
        let contact_update = s.payload.as_ref().is_some_and(|p| p.get("contact").is_some());
        let answered = if contact_update && self.has(Defect::UpdateAnswersPriorAccount) { &prior } else { &account };
        let mut body = self.account_json(answered);
        if let Some(payload) = &s.payload
            && self.has(Defect::UpdateAppliesProtectedFields)
        {
            reflect(&mut body, payload, true);
        }
        Ok(Reply::ok(body).at(self.account_url(&account.id)))
    }

    pub(super) fn orders_list(&self, s: Signed, id: &str, page: &str) -> Handled {
        self.own_account(&s, id)?;
        let page: usize = page.parse().map_err(|_| not_found("no such page"))?;
        let now = OffsetDateTime::now_utc();
        let urls: Vec<String> = self
            .db
            .orders_of(id)
            .iter()
            .filter(|o| self.order_status(o, now) != OrderStatus::Invalid || self.has(Defect::OrdersListIncludesInvalid))
            .map(|o| self.url(&format!("/order/{}", o.id)))
            .collect();
        let per_page = self.config.orders_per_page.max(1);
        let slice: Vec<&String> = urls.iter().skip(page * per_page).take(per_page).collect();
        let body = if self.has(Defect::OrdersListBareArray) { json!(slice) } else { json!({ "orders": slice }) };
        let mut reply = Reply::ok(body);
        if urls.len() > (page + 1) * per_page {
            reply = reply.link(self.url(&format!("/account/{id}/orders/{}", page + 1)), "next");
        }
        Ok(reply)
    }

    pub(super) fn key_change(&self, s: Signed, url: &str) -> Handled {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        let payload = s.payload.ok_or_else(|| malformed("keyChange needs the inner JWS as payload"))?;
        let inner_bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let inner = ParsedJws::parse(&inner_bytes).map_err(|e| malformed(format!("inner JWS: {e}")))?;
        let body = inner.payload_json().and_then(Result::ok).ok_or_else(|| malformed("the inner payload is not JSON"))?;
        // A draft-era keyChange object carried the new key as "newKey".
        let legacy_key = || {
            body.get("newKey").filter(|_| self.has(Defect::KeyChangeNewKeyFromPayload)).and_then(|k| Jwk::from_value(k).ok())
        };
        let new_key = inner.header.jwk.clone().or_else(legacy_key).ok_or_else(|| malformed("the inner JWS needs a jwk"))?;
        if inner.header.kid.is_some() || inner.header.nonce.is_some() {
            return Err(malformed("the inner JWS must carry neither kid nor nonce"));
        }
        if !self.has(Defect::KeyChangeSkipInnerSignature) {
            inner.verify(&new_key).map_err(|e| malformed(format!("inner JWS signature: {e}")))?;
        }
        if inner.header.url.as_deref() != Some(url) && !self.has(Defect::KeyChangeSkipInnerUrl) {
            return Err(malformed("the inner JWS url differs from the outer one"));
        }
        let claimed = body.get("account").and_then(Value::as_str).unwrap_or("");
        if claimed != self.account_url(&account.id) && !self.has(Defect::KeyChangeSkipAccountCheck) {
            return Err(unauthorized("the inner payload names another account"));
        }
        let old_key = body.get("oldKey").map(Jwk::from_value).transpose().map_err(|e| malformed(format!("oldKey: {e}")))?;
        let old_key_optional = old_key.is_none() && self.has(Defect::KeyChangeOldKeyOptional);
        if old_key.map(|k| k.thumbprint()) != Some(account.key.thumbprint())
            && !self.has(Defect::KeyChangeSkipOldKey)
            && !old_key_optional
        {
            return Err(unauthorized("oldKey is not the account's current key"));
        }
        if let Some(holder) = self.db.account_by_thumbprint(&new_key.thumbprint())
            && !(holder.id == account.id && self.has(Defect::KeyChangeSameKeyAccepted))
        {
            let mut f = fault(StatusCode::CONFLICT, ProblemType::Malformed, "the new key is already in use by an account");
            f.location = Some(self.account_url(&holder.id));
            return Err(f);
        }
        let mut updated = account;
        updated.key = new_key;
        if self.has(Defect::KeyChangeResetsAccount) {
            updated.contact.clear();
            updated.terms_of_service_agreed = false;
        }
        self.db.update_account(updated.clone());
        if self.has(Defect::KeyChangeInvalidatesAuthzs) {
            for authz in self.db.authzs_of_account(&updated.id) {
                self.db.modify_authz(&authz.id, |a| {
                    if a.status == AuthzStatus::Pending {
                        a.status = AuthzStatus::Deactivated;
                    }
                });
            }
        }
        Ok(Reply::ok(self.account_json(&updated)).at(self.account_url(&updated.id)))
    }
}
