//! Challenge steps: serving a response (the runner's responders or an external
//! solver), answering and solving challenges, waiting for validation, and the evidence
//! a validation case needs from the responders' record.

use super::*;

impl CaseRun<'_> {
    pub(super) async fn fetch_authz(&mut self, account: &str, url: &str) -> StepResult<(Response, Authorization)> {
        let resp = self.signed(account, url, Payload::Empty, None).await?;
        let resp = expect_ok(resp, false)?;
        let authz: Authorization =
            serde_json::from_slice(&resp.body).map_err(|e| fail("an authorization object (§7.1.4)", e.to_string()))?;
        Ok((resp, authz))
    }

    pub(super) async fn challenge_of(&mut self, step: &Step) -> StepResult<(String, Authorization, crate::protocol::wire::Challenge)> {
        let account = self.account_name(step);
        let authz_url = self.resolve_known(step, &Target::Authz).map_err(StepError::Error)?;
        let (_, authz) = self.fetch_authz(&account, &authz_url).await?;
        let chall = match &step.challenge {
            Some(kind) => authz.challenges.iter().find(|c| &c.kind == kind).cloned().ok_or_else(|| {
                let offered: Vec<&str> = authz.challenges.iter().map(|c| c.kind.as_str()).collect();
                StepError::Unsupported(format!("the server offered no {kind} challenge (offered: {offered:?})"))
            })?,
            None => authz.challenges.first().cloned().ok_or_else(|| fail("at least one challenge", "no challenges"))?,
        };
        self.authz_of_challenge.insert(chall.url.clone(), authz_url.clone());
        Ok((authz_url, authz, chall))
    }

    /// `:ipv4` or `:ipv6` for the order of `step` when it is for IP addresses (of one
    /// family), empty otherwise.
    pub(super) fn address_family(&self, step: &Step) -> &'static str {
        let Some(order) = self.orders.get(&self.order_name(step)) else { return "" };
        let ids = &order.object.identifiers;
        let family = |i: &Identifier| match i.value.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) if i.kind == "ip" => ":ipv4",
            Ok(std::net::IpAddr::V6(_)) if i.kind == "ip" => ":ipv6",
            _ => "",
        };
        match ids.first().map(family) {
            Some(f) if ids.iter().all(|i| family(i) == f) => f,
            _ => "",
        }
    }

    /// Every challenge of `authz` that is valid must have been validated: the CA's
    /// request (http-01 GET of the token, TXT query, acme-tls/1 handshake) reached the
    /// responders since the case began. A server that marks a challenge valid without
    /// looking cannot pass a case on it.
    pub(super) async fn require_evidence(&self, step: &Step, authz: &Authorization) -> StepResult<()> {
        let Some(identifier) = &authz.identifier else { return Ok(()) };
        // An external solver answered: there is nothing of the CA's to see.
        let observable = |c: &&crate::protocol::wire::Challenge| self.env.solvers.for_kind(&c.kind).is_none();
        for chall in authz.challenges.iter().filter(|c| c.status.as_deref() == Some("valid")).filter(observable) {
            let seen =
                validation::validation_seen(&self.env.responders, self.started, &chall.kind, identifier, chall.token.as_deref()).await;
            if seen == Some(false) {
                return Err(StepError::Unproven {
                    key: format!("solve:{}{}", chall.kind, self.address_family(step)),
                    mismatch: Mismatch {
                        expected: format!(
                            "the CA's {} validation request for {} reaching the runner's responders before the challenge turned valid (RFC 8555 §8: the server verifies the response)",
                            chall.kind, identifier.value
                        ),
                        observed: format!("challenge {} is valid, but no validation request for it reached the responders", chall.url),
                    },
                });
            }
        }
        Ok(())
    }

    /// What the responders saw so far that the step's MUST-level `validation` checks hold
    /// against the CA.
    pub(super) async fn validation_evidence(&mut self, step: &Step) -> Vec<Mismatch> {
        let Some(v) = step.expect.as_ref().and_then(|e| e.validation.as_ref()) else { return Vec::new() };
        self.observed = validation::observe(&self.env.responders, self.started, &self.attempted, v.checks_tls()).await;
        let account = self.account_name(step);
        validation::evidence_against(v, &self.observed, &|text: &str| self.expand(text, Some(&account)))
    }

    /// What the responders saw of this case's challenges, for a verdict's observation.
    pub(crate) fn responders_saw(&self) -> Vec<String> {
        validation::seen_lines(&self.env.responders, self.started, &self.attempted)
    }

    /// Notes a challenge the case is about to answer, for `validation` checks.
    pub(super) fn attempt(&mut self, authz: &Authorization, chall: &crate::protocol::wire::Challenge) {
        if let Some(id) = &authz.identifier {
            self.attempted.add(id, chall.token.as_deref());
        }
    }

    pub(super) async fn provision(
        &mut self,
        account: &str,
        authz: &Authorization,
        chall: &crate::protocol::wire::Challenge,
        variant: Option<ProvisionVariant>,
    ) -> StepResult<()> {
        let token = chall.token.clone().ok_or_else(|| fail("challenge with a token (§8.3)", "no token"))?;
        let key = &self.account_state(account)?.key;
        let key_auth = key_authorization(&token, key.jwk());
        let id = authz.identifier.clone().ok_or_else(|| fail("authorization with an identifier", "none"))?;
        if let Some(solver) = self.env.solvers.for_kind(&chall.kind) {
            if variant.is_some() {
                return Err(StepError::Unsupported(format!(
                    "{} answers {} here; serving a response in a particular way takes the runner's responders",
                    solver.describe(),
                    chall.kind
                )));
            }
            let value = if chall.kind == "dns-01" { dns01_txt_value(&key_auth) } else { key_auth };
            solver.present(&chall.kind, &id.value, &token, &value).await.map_err(StepError::Error)?;
            self.provisioned.push(Provisioned::External(solver.clone(), [chall.kind.clone(), id.value.clone(), token, value]));
            return Ok(());
        }
        let r = &self.env.responders;
        let unusable = |v: ProvisionVariant| {
            let v = serde_json::to_string(&v).unwrap_or_default();
            StepError::Error(format!("provision = {v} does not apply to {} challenges", chall.kind))
        };
        match chall.kind.as_str() {
            "http-01" => {
                let served = match variant {
                    None => Http01Variant::Exact,
                    Some(ProvisionVariant::TrailingWhitespace) => Http01Variant::TrailingWhitespace,
                    Some(ProvisionVariant::Redirect) => Http01Variant::Redirect,
                    Some(v @ ProvisionVariant::UppercaseSan) => return Err(unusable(v)),
                };
                r.http01().provision_variant(&token, &key_auth, served);
                self.provisioned.push(Provisioned::Http(token));
            }
            _ if variant.is_some_and(|v| !(chall.kind == "tls-alpn-01" && v == ProvisionVariant::UppercaseSan)) => {
                return Err(unusable(variant.unwrap_or(ProvisionVariant::UppercaseSan)));
            }
            "dns-01" => {
                let base = id.value.trim_start_matches("*.");
                let name = format!("_acme-challenge.{base}");
                r.dns().add_txt(&name, &dns01_txt_value(&key_auth));
                self.provisioned.push(Provisioned::Dns(name));
            }
            "tls-alpn-01" => {
                let alpn_id = match id.kind.as_str() {
                    "ip" => AlpnIdentifier::ip(
                        id.value.parse().map_err(|_| fail("an IP address identifier", id.value.clone()))?,
                    ),
                    _ if variant == Some(ProvisionVariant::UppercaseSan) => {
                        AlpnIdentifier::dns(id.value.to_ascii_uppercase())
                    }
                    _ => AlpnIdentifier::dns(id.value.clone()),
                };
                r.tls_alpn().provision(&alpn_id, &key_auth).map_err(|e| StepError::Error(e.to_string()))?;
                self.provisioned.push(Provisioned::TlsAlpn(alpn_id));
            }
            other => return Err(StepError::Unsupported(format!("acmespec cannot answer {other} challenges"))),
        }
        Ok(())
    }

    pub(super) async fn solve(&mut self, step: &Step) -> StepResult<Response> {
        let account = self.account_name(step);
        let kind = step.challenge.clone().expect("validated at load");
        let authzs = self.order_state(&self.order_name(step))?.object.authorizations.clone();
        let mut pending = Vec::new();
        for url in &authzs {
            let (_, authz) = self.fetch_authz(&account, url).await?;
            if authz.status.as_deref() == Some("valid") {
                continue;
            }
            let chall = authz.challenges.iter().find(|c| c.kind == kind).cloned().ok_or_else(|| {
                let offered: Vec<&str> = authz.challenges.iter().map(|c| c.kind.as_str()).collect();
                StepError::Unsupported(format!("the server offered no {kind} challenge (offered: {offered:?})"))
            })?;
            self.provision(&account, &authz, &chall, None).await?;
            self.attempt(&authz, &chall);
            pending.push((url.clone(), chall));
        }
        for (_, chall) in &pending {
            let resp = self.signed(&account, &chall.url, Payload::Json(json!({})), None).await?;
            expect_ok(resp, false)?;
        }
        for (url, chall) in &pending {
            let resp = self.poll_until(&account, url, &["valid", "invalid", "deactivated", "expired", "revoked"], step).await?;
            let body = resp.json().unwrap_or_default();
            let authz = serde_json::from_value::<Authorization>(body.clone()).ok();
            if let Some(authz) = &authz {
                self.require_evidence(step, authz).await?;
            }
            if body["status"] != "valid" {
                let error = body["challenges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|c| c.get("error"))
                    .map(|e| format!(", challenge error {e}"))
                    .unwrap_or_default();
                // What an external solver published is out of the runner's sight: the
                // solver may as well be at fault as the server.
                if let Some(solver) = self.env.solvers.for_kind(&kind) {
                    return Err(StepError::Error(format!(
                        "authorization {url} is {}{error} after {} published the {kind} response: check what it published",
                        body["status"],
                        solver.describe()
                    )));
                }
                // The CA's request never arrived. Unless what the responders did see shows
                // the CA at fault (the step's own validation checks: an address identifier
                // looked up in the DNS, say), it cannot reach the runner from where it runs,
                // which is the set-up's fault, not a failure of its validation.
                let identifier = authz.as_ref().and_then(|a| a.identifier.as_ref());
                if let Some(identifier) = identifier
                    && validation::validation_seen(&self.env.responders, self.started, &kind, identifier, chall.token.as_deref()).await
                        == Some(false)
                {
                    let evidence = self.validation_evidence(step).await;
                    if !evidence.is_empty() {
                        return Err(StepError::Fail(evidence));
                    }
                    return Err(StepError::Error(format!(
                        "authorization {url} is {}{error}, and no {kind} validation request for {} reached the runner's responders: \
                         the CA cannot reach them from where it runs (a CA off this machine: README, \"Testing a CA on the internet\")",
                        body["status"], identifier.value
                    )));
                }
                return Err(fail(
                    format!("authorization {url} valid after {kind} validation"),
                    format!("status {}{error}", body["status"]),
                ));
            }
        }
        let state = self.order_state(&self.order_name(step))?;
        let (order_url, pre_authorization) = (state.url.clone(), state.pre_authorization);
        let resp = self.poll_until(&account, &order_url, &["ready", "valid", "invalid", "processing"], step).await?;
        self.absorb_order(step, &order_url, &resp);
        let status = resp.json().ok().and_then(|b| b.get("status").and_then(Value::as_str).map(str::to_owned));
        // A pre-authorization is held as an order whose URL is the authorization's own.
        let (wanted, what) = if pre_authorization { ("valid", "pre-authorization") } else { ("ready", "order") };
        if !step.is_checked() && status.as_deref() != Some(wanted) {
            return Err(fail(
                format!("{what} {order_url} {wanted} once its authorizations are valid (§7.1.6)"),
                format!("{what} status {status:?}"),
            ));
        }
        Ok(resp)
    }

    pub(super) async fn respond_challenge(&mut self, step: &Step, checked: bool) -> StepResult<Response> {
        let account = self.account_name(step);
        let (authz_url, authz, chall) = self.challenge_of(step).await?;
        let provision = step.provision.unwrap_or(Provision::Plain(true));
        match provision {
            Provision::Plain(false) => {}
            Provision::Plain(true) => self.provision(&account, &authz, &chall, None).await?,
            Provision::Variant(v) => self.provision(&account, &authz, &chall, Some(v)).await?,
        }
        self.attempt(&authz, &chall);
        let payload = match &step.payload {
            Some(p) => self.payload_of(p, Some(&account)),
            None => Payload::Json(json!({})),
        };
        let resp = self.signed(&account, &chall.url, payload, step.mutate.as_ref()).await?;
        if resp.status >= 400 && step.mutate.is_none() && step.payload.is_none() {
            // An error to a well-formed response is a validation done inside the POST
            // (RFC 8555 lets the server validate when it likes): its outcome is decided.
            let order_url = self.order_state(&self.order_name(step)).ok().map(|o| o.url.clone());
            self.decided_in_post.extend([chall.url.clone(), authz_url].into_iter().chain(order_url));
        }
        // A response served unprovisioned, or in a variant, may fail validation; a server
        // validating inside the POST then answers with that failure, which the case's
        // later steps judge on the challenge itself.
        let may_fail = provision != Provision::Plain(true);
        expect_ok(resp, checked || may_fail)
    }

    /// Waits until the CA made `queries` http-01 validation queries for the challenge's
    /// token (the responder records each request once it has answered it).
    pub(super) async fn await_validation(&mut self, step: &Step) -> StepResult<()> {
        let (_, _, chall) = self.challenge_of(step).await?;
        if chall.kind != "http-01" {
            return Err(StepError::Error(format!("await-validation counts http-01 queries, not {} ones", chall.kind)));
        }
        let token = chall.token.clone().ok_or_else(|| fail("challenge with a token (§8.3)", "no token"))?;
        let wanted = step.queries.unwrap_or(1);
        let timeout = step.timeout_s.map(Duration::from_secs).unwrap_or(DEFAULT_TIMEOUT);
        let started = Instant::now();
        let mut last_look = Instant::now();
        loop {
            let seen = validation::http_queries_for(&self.env.responders, self.started, &token);
            if seen >= wanted {
                return Ok(());
            }
            if seen > 0 && self.decided_in_post.contains(&chall.url) {
                return Err(StepError::Unsupported(format!(
                    "the server validated inside the challenge POST and answered with the failure: it does not retry the failed query (RFC 8555 §8.2, SHOULD), so there is no query {} to wait for",
                    seen + 1
                )));
            }
            // Once a second, see whether the server has already finished with the
            // challenge: one that decided without the awaited queries will send none.
            if last_look.elapsed() >= Duration::from_secs(1) {
                last_look = Instant::now();
                let (_, authz) = self.fetch_authz(&self.account_name(step), &self.resolve_known(step, &Target::Authz).map_err(StepError::Error)?).await?;
                let status = authz.challenges.iter().find(|c| c.token == chall.token).and_then(|c| c.status.clone());
                match status.as_deref() {
                    Some("valid" | "invalid") if seen == 0 => {
                        return Err(StepError::Unproven {
                            key: format!("solve:http-01{}", self.address_family(step)),
                            mismatch: Mismatch {
                                expected: "the CA's http-01 validation request reaching the runner's responder before the challenge is decided (RFC 8555 §8.3)".into(),
                                observed: format!("challenge {} is {} and no validation request for it reached the responder", chall.url, status.unwrap_or_default()),
                            },
                        });
                    }
                    Some("valid" | "invalid") => {
                        return Err(StepError::Unsupported(format!(
                            "the server decided the challenge ({}) after {seen} of the {wanted} validation queries awaited: it does not retry a failed query (RFC 8555 §8.2, SHOULD)",
                            status.unwrap_or_default()
                        )));
                    }
                    _ => {}
                }
            }
            if started.elapsed() >= timeout && seen > 0 {
                // A failed first query is retried only by a server that follows a SHOULD
                // (§8.2), which rfc8555/8.2/retry-after-failed-query judges.
                return Err(StepError::Unsupported(format!(
                    "the server made {seen} of the {wanted} http-01 validation queries awaited within {}s: it does not retry a failed query (RFC 8555 §8.2, SHOULD)",
                    timeout.as_secs()
                )));
            }
            if started.elapsed() >= timeout {
                return Err(StepError::Error(format!(
                    "no http-01 validation query reached the responder within the case's {}s; RFC 8555 sets no deadline",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(POLL_INTERVAL / 5).await;
        }
    }
}
