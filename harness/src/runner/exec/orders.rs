//! Order steps: new-order and new-authz, finalize with the CSR a step describes,
//! download-certificate, revoke, and the rate-limit probe's run of newOrder requests.

use super::*;

impl CaseRun<'_> {
    pub(super) async fn refresh_order(&mut self, step: &Step) -> StepResult<Order> {
        let name = self.order_name(step);
        let (account, url) = {
            let o = self.order_state(&name)?;
            (o.account.clone(), o.url.clone())
        };
        let resp = self.signed(&account, &url, Payload::Empty, None).await?;
        let resp = expect_ok(resp, false)?;
        let order: Order = serde_json::from_slice(&resp.body).map_err(|e| fail("order object", e.to_string()))?;
        if let Some(o) = self.orders.get_mut(&name) {
            o.object = order.clone();
        }
        Ok(order)
    }

    pub(super) fn absorb_order(&mut self, step: &Step, url: &str, resp: &Response) {
        let name = self.order_name(step);
        if let Some(o) = self.orders.get_mut(&name)
            && o.url == url && resp.status == 200 && !o.pre_authorization
                && let Ok(order) = serde_json::from_slice::<Order>(&resp.body) {
                    o.object = order;
                }
    }

    /// Sends as many requests as the declared rate limit allows, each of which must
    /// succeed, then the one past the limit, whose response the step's expectations judge
    /// (RFC 8555 §6.6). Every request orders a fresh name, so that no server can answer
    /// with an order it already has instead of creating one.
    pub(super) async fn exceed_rate_limit(&mut self, step: &Step) -> StepResult<Response> {
        let limit = self
            .env
            .capabilities
            .rate_limit
            .ok_or_else(|| StepError::Unsupported("the capabilities file declares no [rate-limit]".into()))?;
        let account = self.account_name(step);
        let url = match limit.endpoint {
            RateLimitedEndpoint::NewOrder => self.directory_entry("newOrder")?,
        };
        let env = self.env;
        let fresh_order = || {
            let name = format!("{}.{}", crate::protocol::random::hex(6), env.domain_suffix);
            Payload::Json(json!({ "identifiers": [Identifier { kind: "dns".into(), value: name }] }))
        };
        self.probing_rate_limit = true;
        let probe = async {
            for n in 1..=limit.requests {
                let resp = self.signed(&account, &url, fresh_order(), None).await?;
                if !(200..300).contains(&resp.status) {
                    let expected = format!("a success (2xx) for request {n} of the {} the declared rate limit allows", limit.requests);
                    return Err(fail(expected, resp.summary()));
                }
            }
            self.signed(&account, &url, fresh_order(), None).await
        };
        let result = probe.await;
        self.probing_rate_limit = false;
        result
    }

    pub(super) async fn new_order(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = step.bind.clone().unwrap_or_else(|| DEFAULT.to_owned());
        let payload = match &step.payload {
            Some(p) => self.payload_of(p, Some(&account)),
            None => {
                let ids: Vec<Identifier> = step
                    .identifiers
                    .iter()
                    .flatten()
                    .map(|i| {
                        let (kind, value) = i.split_once(':').expect("validated at load");
                        Identifier { kind: kind.to_owned(), value: self.expand(value, Some(&account)) }
                    })
                    .collect();
                let mut p = json!({ "identifiers": ids });
                if let Some(nb) = &step.not_before {
                    p["notBefore"] = nb.clone().into();
                }
                if let Some(na) = &step.not_after {
                    p["notAfter"] = na.clone().into();
                }
                if let Some(replaces) = &step.replaces {
                    p["replaces"] = self.expand(replaces, Some(&account)).into();
                }
                if let Some(profile) = &step.profile {
                    p["profile"] = self.expand(profile, Some(&account)).into();
                }
                Payload::Json(p)
            }
        };
        let url = self.directory_entry("newOrder")?;
        let resp = self.signed(&account, &url, payload, step.mutate.as_ref()).await?;
        let parsed = serde_json::from_slice::<Order>(&resp.body);
        match (resp.status, resp.location(), parsed) {
            (200..300, Some(url), Ok(object)) => {
                let state = OrderState { account, url, object, cert_key: None, cert_pem: None, pre_authorization: false };
                self.orders.insert(name, state);
            }
            _ if checked => {}
            _ if self.rejects_optional_identifier(&resp) => {
                return Err(StepError::Unsupported(format!("the server refused the identifiers: {}", resp.summary())));
            }
            (200..300, Some(_), Err(e)) => return Err(fail("an order object (§7.1.3)", format!("unparseable order: {e}"))),
            _ => return Err(fail("a success (2xx) with a Location header from newOrder", resp.summary())),
        }
        Ok(resp)
    }

    /// newAuthz (§7.4.1). The authorization is kept as an order named by `as` whose only
    /// authorization it is, so `solve`, `respond-challenge` and `authz` targets reach it.
    pub(super) async fn new_authz(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = step.bind.clone().unwrap_or_else(|| DEFAULT.to_owned());
        let payload = match (&step.payload, step.identifiers.as_deref()) {
            (Some(p), _) => self.payload_of(p, Some(&account)),
            (None, Some([id])) => {
                let (kind, value) = id.split_once(':').expect("validated at load");
                let identifier = Identifier { kind: kind.to_owned(), value: self.expand(value, Some(&account)) };
                Payload::Json(json!({ "identifier": identifier }))
            }
            (None, _) => return Err(StepError::Error("new-authz needs one identifier or a payload".into())),
        };
        let url = self.directory_entry("newAuthz")?;
        let resp = self.signed(&account, &url, payload, step.mutate.as_ref()).await?;
        match (resp.status, resp.location()) {
            (200..300, Some(authz_url)) => {
                let object = Order { authorizations: vec![authz_url.clone()], ..Order::default() };
                let state =
                    OrderState { account, url: authz_url, object, cert_key: None, cert_pem: None, pre_authorization: true };
                self.orders.insert(name, state);
            }
            _ if checked => {}
            _ => return Err(fail("a success (2xx) with a Location header from newAuthz (§7.4.1)", resp.summary())),
        }
        Ok(resp)
    }

    /// A refusal of a wildcard or IP identifier in a case that needs one means the
    /// server does not offer that optional feature.
    pub(super) fn rejects_optional_identifier(&self, resp: &Response) -> bool {
        let optional = self.requires.iter().any(|f| matches!(f, Feature::Wildcard | Feature::IpIdentifiers));
        let refusal = resp
            .problem()
            .and_then(|p| p.acme_name().map(str::to_owned))
            .is_some_and(|n| n == "unsupportedIdentifier" || n == "rejectedIdentifier");
        optional && refusal
    }

    pub(super) fn csr(&self, step: &Step, spec: &CsrSpec) -> StepResult<(Vec<u8>, SigningKey)> {
        let account = self.account_name(step);
        let order = self.order_state(&self.order_name(step))?;
        let names: Vec<String> = match &spec.names {
            Some(n) => n.iter().map(|s| self.expand(s, Some(&account))).collect(),
            None => order.object.identifiers.iter().map(|i| i.value.clone()).collect(),
        };
        let key = match &spec.key_of {
            Some(other) => self.account_state(other)?.key.clone(),
            None => {
                let current = self.account_state(&account).ok().map(|a| a.key.clone());
                self.fresh_key(spec.key, current.as_ref())?
            }
        };
        let identifiers: Vec<Identifier> =
            names.into_iter().map(|n| if n.parse::<std::net::IpAddr>().is_ok() { Identifier::ip(n) } else { Identifier::dns(n) }).collect();
        let common_name = spec.common_name.as_ref().map(|cn| self.expand(cn, Some(&account)));
        let mut der = key.csr_der(&identifiers, common_name.as_deref()).map_err(StepError::Error)?;
        if spec.corrupt_signature {
            let last = der.len() - 1;
            der[last] ^= 0x01;
        }
        Ok((der, key))
    }

    pub(super) async fn finalize(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = self.order_name(step);
        let (der, key) = self.csr(step, &step.csr.clone().unwrap_or_default())?;
        let url = self.resolve(step, &Target::Finalize).await?;
        let payload = Payload::Json(json!({ "csr": b64::encode(&der) }));
        let resp = self.signed(&account, &url, payload, step.mutate.as_ref()).await?;
        if resp.status == 200
            && let Some(o) = self.orders.get_mut(&name) {
                o.cert_key = Some(key);
                if let Ok(order) = serde_json::from_slice::<Order>(&resp.body) {
                    o.object = order;
                }
            }
        let resp = expect_ok(resp, checked)?;
        if step.wait.unwrap_or(false) {
            let order_url = self.order_state(&name)?.url.clone();
            let polled = self.poll_until(&account, &order_url, &["valid", "invalid"], step).await?;
            self.absorb_order(step, &order_url, &polled);
            let status = self.order_state(&name)?.object.status.clone().unwrap_or_default();
            if status != "valid" {
                return Err(fail("order valid after finalize (§7.4)", format!("order status {status:?}")));
            }
        }
        Ok(resp)
    }

    pub(super) async fn download_certificate(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = self.order_name(step);
        let mut url = self.resolve(step, &Target::Certificate).await?;
        if let Some(n) = step.alternate {
            let default = expect_ok(self.signed(&account, &url, Payload::Empty, None).await?, false)?;
            let alternates = default.links_with_rel("alternate");
            url = alternates.get(n).cloned().ok_or_else(|| {
                StepError::Unsupported(format!(
                    "the server offers {} alternate chain(s) (Link rel=\"alternate\", §7.4.2), not #{n}",
                    alternates.len()
                ))
            })?;
        }
        let resp = self.signed(&account, &url, Payload::Empty, step.mutate.as_ref()).await?;
        if resp.status == 200
            && step.alternate.is_none()
            && let Some(o) = self.orders.get_mut(&name) {
                o.cert_pem = Some(String::from_utf8_lossy(&resp.body).into_owned());
            }
        expect_ok(resp, checked)
    }

    pub(super) async fn leaf_der(&mut self, step: &Step) -> StepResult<Vec<u8>> {
        let name = self.order_name(step);
        if self.order_state(&name)?.cert_pem.is_none() {
            let download = Step { expect: None, should: None, mutate: None, ..step.clone() };
            self.download_certificate(&download, false).await?;
        }
        let pem = self.order_state(&name)?.cert_pem.clone().unwrap_or_default();
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .map(|c| c.to_vec())
            .ok_or_else(|| fail("a PEM certificate chain (§7.4.2)", "no certificate in the download"))
    }

    pub(super) async fn revoke(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let name = self.order_name(step);
        let der = self.leaf_der(step).await?;
        let mut payload = json!({ "certificate": b64::encode(&der) });
        if let Some(reason) = step.reason {
            payload["reason"] = reason.into();
        }
        let url = self.directory_entry("revokeCert")?;
        let resp = match step.by.unwrap_or(RevokeBy::Account) {
            RevokeBy::Account => self.signed(&account, &url, Payload::Json(payload), step.mutate.as_ref()).await?,
            RevokeBy::CertificateKey => {
                let key = self.order_state(&name)?.cert_key.clone().ok_or_else(|| {
                    StepError::Error("revocation by certificate key needs the order finalized in this case".into())
                })?;
                let key_id = KeyId::Jwk(key.jwk().clone());
                self.signed_with(&key, key_id, &url, Payload::Json(payload), step.mutate.as_ref()).await?
            }
        };
        expect_ok(resp, checked)
    }
}
