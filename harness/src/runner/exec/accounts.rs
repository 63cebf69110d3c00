//! Account steps: new-account (with the run's contacts and external account binding,
//! RFC 8555 §7.3, §7.3.4) and key-change (§7.3.5), with the keys they sign with.

use super::*;

impl CaseRun<'_> {
    pub(super) fn fresh_key(&self, choice: Option<KeyChoice>, current: Option<&SigningKey>) -> StepResult<SigningKey> {
        let alg = match choice.unwrap_or(KeyChoice::Fresh(Algorithm::Es256)) {
            KeyChoice::Fresh(alg) => alg,
            KeyChoice::Account => {
                return current
                    .cloned()
                    .ok_or_else(|| StepError::Error("key = \"account\" needs an existing account".into()));
            }
        };
        SigningKey::generate(alg).map_err(|e| StepError::Error(e.to_string()))
    }

    pub(super) async fn new_account(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let name = step.bind.clone().unwrap_or_else(|| DEFAULT.to_owned());
        let key = match &step.reuse_key_of {
            Some(other) => self.account_state(other)?.key.clone(),
            None => self.fresh_key(step.key, None)?,
        };
        let payload = match &step.payload {
            Some(p) => self.payload_of(p, None),
            None => {
                let mut p = Map::new();
                p.insert("termsOfServiceAgreed".into(), step.terms_of_service_agreed.unwrap_or(true).into());
                if let Some(c) = &step.contact {
                    p.insert("contact".into(), json!(self.expand_list(Some(c), &name)));
                }
                if let Some(true) = step.only_return_existing {
                    p.insert("onlyReturnExisting".into(), true.into());
                }
                Payload::Json(Value::Object(p))
            }
        };
        let payload = self.with_run_contacts(payload)?;
        let url = self.directory_entry("newAccount")?;
        let payload = self.bind_external_account(step, payload, &key, &url).await?;
        let resp = self.signed_with(&key, KeyId::Jwk(key.jwk().clone()), &url, payload, step.mutate.as_ref()).await?;
        let location = resp.location();
        if (200..300).contains(&resp.status) && location.is_some() {
            self.accounts.insert(name, AccountState { key, url: location });
        } else if !checked {
            return Err(fail("a success (2xx) with a Location header from newAccount", resp.summary()));
        } else {
            self.accounts.entry(name).or_insert(AccountState { key, url: None });
        }
        Ok(resp)
    }

    /// Gives a newAccount payload that creates an account and names no contact the run's `--contact` URLs; a
    /// server declared to require a contact makes a step that still sends none
    /// `unsupported`, since the refusal would be policy, not a deviation.
    pub(super) fn with_run_contacts(&self, payload: Payload) -> StepResult<Payload> {
        let Payload::Json(Value::Object(mut p)) = payload else { return Ok(payload) };
        if p.get("onlyReturnExisting") == Some(&Value::Bool(true)) {
            // A lookup creates no account.
            return Ok(Payload::Json(Value::Object(p)));
        }
        if !p.contains_key("contact") && !self.env.contacts.is_empty() {
            p.insert("contact".into(), json!(self.env.contacts));
        }
        let has_contact = p.get("contact").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
        if !has_contact && self.env.capabilities.declared(Feature::ContactRequired) == Some(true) {
            return Err(StepError::Unsupported(
                "the server requires a contact on every account (capabilities: contact-required) and this step creates one without"
                    .into(),
            ));
        }
        Ok(Payload::Json(Value::Object(p)))
    }

    /// Adds the step's external account binding (§7.3.4) to a newAccount payload that
    /// has none.
    pub(super) async fn bind_external_account(&mut self, step: &Step, payload: Payload, key: &SigningKey, url: &str) -> StepResult<Payload> {
        let Payload::Json(Value::Object(mut p)) = payload else { return Ok(payload) };
        if p.contains_key("externalAccountBinding") {
            return Ok(Payload::Json(Value::Object(p)));
        }
        let nonce = match step.eab.as_ref().is_some_and(|e| e.nonce) {
            true => self.nonce(None).await?,
            false => None,
        };
        let cx = eab::BindingContext { url, directory_url: &self.env.directory_url, account_key: key.jwk(), nonce };
        let binding = eab::binding(self.env.eab.as_ref(), step.eab.as_ref(), &cx).map_err(StepError::Unsupported)?;
        if let Some(b) = &binding {
            p.insert("externalAccountBinding".into(), b.clone());
        }
        self.last_binding = binding;
        Ok(Payload::Json(Value::Object(p)))
    }

    pub(super) async fn key_change(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let url = self.directory_entry("keyChange")?;
        let account_url = self.account_url(&account)?;
        let old_key = self.account_state(&account)?.key.clone();
        let inner = step.inner.clone().unwrap_or_default();
        let new_key = if inner.same_key {
            old_key.clone()
        } else if let Some(other) = &inner.new_key_of {
            self.account_state(other)?.key.clone()
        } else {
            self.fresh_key(step.new_key, None)?
        };
        let inner_url = match inner.url.as_deref() {
            None => url.clone(),
            Some("other") => self.env.directory_url.clone(),
            Some(u) => self.expand(u, Some(&account)),
        };
        let mut header = acme_protected_header(new_key.alg(), &KeyId::Jwk(new_key.jwk().clone()), None, &inner_url);
        if inner.add_nonce {
            let nonce = self.nonce(None).await?.unwrap_or_default();
            header.insert("nonce".into(), nonce.into());
        }
        let inner_account = match inner.account.as_deref() {
            None => account_url.clone(),
            Some("other") => format!("{account_url}-other"),
            Some(a) => self.expand(a, Some(&account)),
        };
        let old_jwk = if inner.wrong_old_key {
            self.fresh_key(Some(KeyChoice::Fresh(Algorithm::Es256)), None)?.jwk().to_value()
        } else {
            old_key.jwk().to_value()
        };
        let mut inner_payload = match &inner.payload {
            Some(table) => self.expand_json(toml_to_json(&toml::Value::Table(table.clone())), Some(&account)),
            None => json!({ "account": inner_account, "oldKey": old_jwk }),
        };
        if inner.new_key_in_payload {
            header.remove("jwk");
            inner_payload["newKey"] = new_key.jwk().to_value();
        }
        let signer = if inner.sign_with_old_key { &old_key } else { &new_key };
        let jws = FlattenedJws::sign(signer, &header, &serde_json::to_vec(&inner_payload).expect("JSON"));
        let outer_payload = if inner.compact {
            Payload::Raw(format!("{}.{}.{}", jws.protected, jws.payload, jws.signature).into_bytes())
        } else {
            Payload::Json(jws.to_value())
        };
        let resp = self.signed(&account, &url, outer_payload, step.mutate.as_ref()).await?;
        if resp.status == 200
            && let Some(a) = self.accounts.get_mut(&account) {
                a.key = new_key;
            }
        expect_ok(resp, checked)
    }
}
