//! Orders (RFC 8555 §7.4, RFC 9773 §5, draft-ietf-acme-profiles): identifiers and
//! profile checks at newOrder, pre-authorization, the order object and its status, and
//! finalization with its CSR rules.

use super::*;

impl Wfe {
    /// The subproblem of a refused newOrder identifier (§6.7.1).
    pub(super) fn identifier_problem(&self, kind: ProblemType, detail: String, id: Identifier) -> Problem {
        let mut p = Problem { kind: Some(kind.urn()), detail: Some(detail), ..Problem::default() };
        if self.has(Defect::SubproblemIdentifierString) {
            p.extra.insert("identifier".into(), format!("{}:{}", id.kind, id.value).into());
        } else {
            p.identifier = Some(id);
        }
        p
    }

    /// §6.6: an order past the account's limit is refused with rateLimited, a
    /// Retry-After saying when the same request may succeed, and a `help` link to the
    /// limit's documentation.
    pub(super) fn admit_new_order(&self, account_id: &str) -> Result<(), Fault> {
        let Some(limiter) = &self.new_order_limit else { return Ok(()) };
        if self.has(Defect::RateLimitNotEnforced) {
            return Ok(());
        }
        let Err(wait) = limiter.admit(account_id, std::time::Instant::now()) else { return Ok(()) };
        let limit = limiter.limit();
        let detail = format!("more than {} new orders within {}s", limit.requests, limit.window.as_secs());
        let mut f = fault(StatusCode::TOO_MANY_REQUESTS, ProblemType::RateLimited, detail);
        if self.has(Defect::RateLimitDraftType) {
            f.problem.kind = Some("urn:acme:error:rateLimited".into());
        }
        if !self.has(Defect::RateLimitNoRetryAfter) {
            f.retry_after = Some(wait);
        }
        if !self.has(Defect::RateLimitNoHelpLink) {
            f.link = Some((self.url("/rate-limits"), "help"));
        }
        Err(f)
    }

    pub(super) fn new_order(&self, s: Signed, fired: Option<Fired>) -> Handled {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        let payload = s.payload.ok_or_else(|| malformed("newOrder needs a payload"))?;
        let raw = payload.get("identifiers").and_then(Value::as_array).ok_or_else(|| malformed("identifiers must be an array"))?;
        if raw.is_empty() {
            return Err(malformed("identifiers must not be empty"));
        }
        let mut identifiers: Vec<Identifier> = Vec::new();
        let mut problems: Vec<Problem> = Vec::new();
        for v in raw {
            let id: Identifier = match serde_json::from_value(v.clone()) {
                Ok(i) => i,
                Err(e) => return Err(malformed(format!("identifier {v}: {e}"))),
            };
            match check_identifier(&id, &self.defects) {
                Ok(id) => {
                    if !identifiers.contains(&id) {
                        identifiers.push(id);
                    }
                }
                Err((kind, why)) => problems.push(self.identifier_problem(kind, why, id)),
            }
        }
        if !problems.is_empty() {
            let kind = if problems.len() == 1 { problems[0].problem_type().unwrap_or(ProblemType::RejectedIdentifier) } else { ProblemType::RejectedIdentifier };
            let mut f = fault(StatusCode::BAD_REQUEST, kind, format!("{} identifier(s) refused", problems.len()));
            if self.has(Defect::ProblemIdentifierTopLevel) {
                f.problem.identifier = problems[0].identifier.clone();
            }
            f.problem.subproblems = problems;
            return Err(f);
        }
        let time_field = |name: &str| -> Result<Option<OffsetDateTime>, Fault> {
            payload
                .get(name)
                .map(|v| {
                    v.as_str()
                        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                        .ok_or_else(|| malformed(format!("{name} must be an RFC 3339 timestamp")))
                })
                .transpose()
        };
        let (not_before, not_after) = (time_field("notBefore")?, time_field("notAfter")?);
        let profile = self.order_profile(payload.get("profile"), &identifiers)?;
        let replaces = payload
            .get("replaces")
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| malformed("replaces must be a string")))
            .transpose()?;
        if let Some(cert_id) = &replaces {
            self.check_replaces(&account.id, &identifiers, cert_id)?;
        }
        if let (Some(nb), Some(na)) = (not_before, not_after)
            && na <= nb
        {
            return Err(malformed("notAfter must be later than notBefore"));
        }
        let now = OffsetDateTime::now_utc();
        let expires = now + PENDING_LIFETIME;
        let reuse = fired.is_some_and(|f| f.kind == FaultKind::ReuseAuthz);
        let mut authorization_ids = Vec::new();
        let mut authzs: Vec<Authorization> = Vec::new();
        for id in &identifiers {
            let reusable = self.valid_authz_for(&account.id, id, now).filter(|a| reuse || a.pre_authorization);
            match reusable {
                Some(valid) if self.has(Defect::ReusedAuthzNotListed) => {
                    let copy = self.copy_authz(&valid);
                    authorization_ids.push(copy.id.clone());
                    authzs.push(copy);
                }
                Some(valid) => authorization_ids.push(valid.id),
                None => {
                    let fresh = self.new_authz(&account.id, id, expires);
                    authorization_ids.push(fresh.id.clone());
                    authzs.push(fresh);
                }
            }
        }
        let order = Order {
            id: self.resource_id(),
            account_id: account.id,
            identifiers,
            authorization_ids,
            not_before,
            not_after,
            expires,
            finalization: Finalization::NotRequested,
            replaces,
            profile,
        };
        self.admit_new_order(&order.account_id)?;
        self.db.add_order(order.clone(), authzs);
        let mut reply = Reply::json(StatusCode::CREATED, self.order_json(&order)).at(self.url(&format!("/order/{}", order.id)));
        if self.has(Defect::NonceRepeatedOnNewOrder) {
            reply.repeat_nonce = Some(s.nonce.clone());
        }
        Ok(reply)
    }

    /// The profile a new order issues under (draft-ietf-acme-profiles §4): the one it
    /// names, or the default. A CA without profiles ignores the field, as an RFC 8555
    /// server does any member it does not know.
    pub(super) fn order_profile(&self, named: Option<&Value>, identifiers: &[Identifier]) -> Result<Option<String>, Fault> {
        if !self.profiles.offers_any() {
            return Ok(None);
        }
        let has_ip = identifiers.iter().any(|i| i.kind == "ip");
        let Some(named) = named else {
            let default = self.profiles.default_for(has_ip).filter(|_| !self.has(Defect::NoDefaultProfile));
            return Ok(default.map(|p| p.name.clone()));
        };
        let name = named.as_str().ok_or_else(|| malformed("profile must be a string"))?;
        let refused = |why: String| Err(fault(StatusCode::BAD_REQUEST, ProblemType::InvalidProfile, why));
        match self.profiles.select(name, has_ip) {
            Ok(p) => Ok(Some(p.name.clone())),
            Err(Refusal::NotAdvertised) if self.has(Defect::UnadvertisedProfileAccepted) => Ok(Some(name.to_owned())),
            Err(Refusal::NotAdvertised) if self.has(Defect::UnadvertisedProfileMalformed) => Err(malformed(format!("unknown profile {name:?}"))),
            Err(Refusal::NotAdvertised) => refused(format!("profile {name:?} is not one this CA advertises")),
            Err(Refusal::Incompatible(_)) if self.has(Defect::IncompatibleProfileAccepted) => Ok(Some(name.to_owned())),
            Err(Refusal::Incompatible(why)) => refused(why),
        }
    }

    /// A still-valid authorization of the account for the order identifier `id`, for the
    /// `reuse-authz` fault.
    pub(super) fn valid_authz_for(&self, account_id: &str, id: &Identifier, now: OffsetDateTime) -> Option<Authorization> {
        let wildcard = id.kind == "dns" && id.value.starts_with("*.");
        let base = Identifier { kind: id.kind.clone(), value: id.value.trim_start_matches("*.").to_owned() };
        self.db
            .authzs_for(account_id, &base)
            .into_iter()
            .find(|a| a.status_at(now) == AuthzStatus::Valid && a.wildcard == wildcard)
    }

    /// The same authorization under new URLs, for the `reused-authz-not-listed` defect.
    pub(super) fn copy_authz(&self, a: &Authorization) -> Authorization {
        let mut copy = a.clone();
        copy.id = random_id();
        copy.pre_authorization = false;
        for c in &mut copy.challenges {
            c.id = random_id();
        }
        copy
    }

    /// newAuthz (§7.4.1): refuse what the CA would not issue for (403), else a new
    /// pending authorization.
    pub(super) fn new_pre_authorization(&self, s: Signed) -> Handled {
        let account = s.account.clone().ok_or_else(|| malformed("a kid is required"))?;
        let payload = s.payload.ok_or_else(|| malformed("newAuthz needs a payload"))?;
        let raw = payload.get("identifier").ok_or_else(|| malformed("newAuthz needs an identifier"))?;
        let id: Identifier = serde_json::from_value(raw.clone()).map_err(|e| malformed(format!("identifier {raw}: {e}")))?;
        let id = if self.has(Defect::NewAuthzAcceptsAnything) {
            id
        } else {
            if id.kind == "dns" && id.value.starts_with("*.") {
                return Err(fault(StatusCode::FORBIDDEN, ProblemType::RejectedIdentifier, "pre-authorization cannot cover a wildcard name"));
            }
            let status = if self.has(Defect::NewAuthzRefusal400) { StatusCode::BAD_REQUEST } else { StatusCode::FORBIDDEN };
            check_identifier(&id, &self.defects).map_err(|(kind, why)| fault(status, kind, why))?
        };
        let mut authz = self.new_authz(&account.id, &id, OffsetDateTime::now_utc() + PENDING_LIFETIME);
        authz.pre_authorization = true;
        if self.has(Defect::NewAuthzValid) {
            authz.status = AuthzStatus::Valid;
        }
        self.db.add_authz(authz.clone());
        Ok(Reply::json(StatusCode::CREATED, self.authz_json(&authz)).at(self.url(&format!("/authz/{}", authz.id))))
    }

    pub(super) fn order_status(&self, o: &Order, now: OffsetDateTime) -> OrderStatus {
        let deactivated_counts = self.has(Defect::DeactivatedAuthzCounts);
        let authz: Vec<AuthzStatus> = self
            .db
            .authzs(&o.authorization_ids)
            .iter()
            .map(|a| match a.status_at(now) {
                AuthzStatus::Deactivated if deactivated_counts => AuthzStatus::Valid,
                status => status,
            })
            .collect();
        o.status(&authz, now)
    }

    pub(super) fn order_json(&self, o: &Order) -> Value {
        let now = OffsetDateTime::now_utc();
        let status = self.order_status(o, now);
        let mut v = json!({
            "status": status.name(),
            "identifiers": o.identifiers,
            "authorizations": self.order_authz_urls(o, now),
            "finalize": self.url(&format!("/order/{}/finalize", o.id)),
        });
        if !(status == OrderStatus::Pending && self.has(Defect::OrderWithoutExpires)) {
            v["expires"] = rfc3339(o.expires).into();
        }
        if let Some(nb) = o.not_before {
            v["notBefore"] = rfc3339(nb).into();
        }
        if let Some(na) = o.not_after {
            v["notAfter"] = rfc3339(na).into();
        }
        if let Some(r) = &o.replaces
            && !self.has(Defect::ReplacesNotEchoed)
        {
            v["replaces"] = r.clone().into();
        }
        if let Some(p) = &o.profile {
            v["profile"] = p.clone().into();
        }
        if let Finalization::Issued { certificate_id } = &o.finalization { v["certificate"] = self.url(&format!("/certificate/{certificate_id}")).into() }
        v
    }

    pub(super) fn order_authz_urls(&self, o: &Order, now: OffsetDateTime) -> Vec<String> {
        let moved = self.has(Defect::AuthzUrlChangesWhenValid);
        self.db
            .authzs(&o.authorization_ids)
            .iter()
            .map(|a| match a.status_at(now) {
                AuthzStatus::Valid if moved => self.url(&format!("/authz/{}?final", a.id)),
                _ => self.url(&format!("/authz/{}", a.id)),
            })
            .collect()
    }

    pub(super) fn order(&self, s: Signed, id: &str) -> Handled {
        let mut order = self.db.order(id).ok_or_else(|| not_found("no such order"))?;
        self.own_account(&s, &order.account_id)?;
        if s.payload.is_some() {
            return Err(malformed("fetch an order with POST-as-GET (an empty payload)"));
        }
        // A scripted slow issuance: this fetch still shows `processing`, and each one
        // uses up a poll until the order is valid.
        if matches!(order.finalization, Finalization::Processing { .. }) {
            let mut reply = Reply::ok(self.order_json(&order));
            reply.retry_after = Some(RETRY_AFTER_SECS);
            order.poll();
            self.db.update_order(order);
            return Ok(reply);
        }
        Ok(Reply::ok(self.order_json(&order)))
    }

    pub(super) fn finalize(&self, s: Signed, id: &str, fired: Option<Fired>) -> Handled {
        let mut order = self.db.order(id).ok_or_else(|| not_found("no such order"))?;
        let account = self.own_account(&s, &order.account_id)?;
        let now = OffsetDateTime::now_utc();
        let status = self.order_status(&order, now);
        let finalizable = status == OrderStatus::Ready
            || (status == OrderStatus::Pending && self.has(Defect::FinalizePendingOrder))
            || (status == OrderStatus::Valid && self.has(Defect::RefinalizeValidOrder));
        if !finalizable {
            return Err(fault(StatusCode::FORBIDDEN, ProblemType::OrderNotReady, format!("the order is {}, not ready", status.name())));
        }
        let profile = order.profile.as_deref().and_then(|p| self.profiles.get(p));
        if let Some(p) = profile
            && !self.profiles.issues_under(&p.name)
            && !self.has(Defect::FinalizeWithdrawnProfile)
        {
            let why = format!("the CA no longer issues under profile {}", p.name);
            return Err(fault(StatusCode::BAD_REQUEST, ProblemType::InvalidProfile, why));
        }
        let shape = profile.map_or(CLASSIC, |p| p.shape);
        let payload = s.payload.ok_or_else(|| malformed("finalize needs a payload with a csr"))?;
        let csr_text = payload.get("csr").and_then(Value::as_str).ok_or_else(|| malformed("the payload needs a csr string"))?;
        let bad_csr = |why: String| fault(StatusCode::BAD_REQUEST, ProblemType::BadCsr, why);
        let unusable_csr = |why: String| if self.has(Defect::CsrErrorMalformed) { malformed(why) } else { bad_csr(why) };
        let der = b64::decode(csr_text).map_err(|e| unusable_csr(format!("csr: {e}")))?;
        let csr = parse_csr(&der).map_err(|e| unusable_csr(format!("csr: {e}")))?;
        let mut requested: Vec<Identifier> = csr.dns_names.iter().map(|n| Identifier::dns(n.clone())).collect();
        requested.extend(csr.ip_addrs.iter().map(|ip| Identifier::ip(ip.to_string())));
        if let Some(cn) = csr.common_name.as_ref().filter(|_| !self.has(Defect::CsrIgnoresCommonName)) {
            let cn_id = match cn.parse::<IpAddr>() {
                Ok(ip) => Identifier::ip(ip.to_string()),
                Err(_) => Identifier::dns(cn.to_ascii_lowercase()),
            };
            if !requested.contains(&cn_id) {
                requested.push(cn_id);
            }
        }
        let mut want: Vec<Identifier> = order.identifiers.clone();
        want.sort_by(|a, b| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)));
        requested.sort_by(|a, b| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)));
        requested.dedup();
        let within = |a: &[Identifier], b: &[Identifier]| a.iter().all(|i| b.contains(i));
        let names_ok = requested == want
            || (self.has(Defect::IssueExtraNames) && within(&want, &requested))
            || (self.has(Defect::IssueMissingNames) && within(&requested, &want));
        if !names_ok {
            return Err(bad_csr("the CSR's names differ from the order's identifiers".into()));
        }
        if csr.public_key.thumbprint() == account.key.thumbprint() && !self.has(Defect::AcceptAccountKeyInCsr) {
            return Err(bad_csr("the CSR key is the account key".into()));
        }
        if self.db.account_by_thumbprint(&csr.public_key.thumbprint()).is_some()
            && !self.has(Defect::AcceptAccountKeyInCsr)
            && !self.has(Defect::AcceptOtherAccountKeyInCsr)
        {
            return Err(bad_csr("the CSR key is an account key".into()));
        }
        let leaf_omits_wildcard = self.has(Defect::LeafOmitsWildcard);
        let dns_name = |value: &str| if leaf_omits_wildcard { value.trim_start_matches("*.") } else { value }.to_owned();
        let mut names = IssuanceNames {
            dns: requested.iter().filter(|i| i.kind == "dns").map(|i| dns_name(&i.value)).collect(),
            ips: requested.iter().filter(|i| i.kind == "ip").filter_map(|i| i.value.parse().ok()).collect(),
        };
        if let Some(cn) = csr.common_name.as_ref().map(|cn| cn.to_ascii_lowercase()) {
            // A commercial CA's "free www": the commonName's www. name, which nobody ordered.
            if self.has(Defect::LeafWwwBonus) {
                names.dns.push(format!("www.{cn}"));
            }
            // The commonName left out of the names check still goes into the certificate.
            if self.has(Defect::CsrIgnoresCommonName) && cn.parse::<IpAddr>().is_err() && !names.dns.contains(&cn) {
                names.dns.insert(0, cn);
            }
        }
        let not_before = order.not_before.unwrap_or(now);
        let not_after = order.not_after.unwrap_or(not_before + shape.lifetime);
        let issued = self
            .ca
            .issue(&csr, &names, (not_before, not_after), shape.common_name)
            .map_err(|e| server_internal(format!("issuance failed: {e}")))?;
        let cert = Certificate {
            id: random_id(),
            account_id: account.id.clone(),
            issued,
            identifiers: requested,
            revoked: None,
        };
        order.finalization = match fired {
            Some(f) if f.kind == FaultKind::StayProcessing && f.polls > 0 => {
                Finalization::Processing { certificate_id: cert.id.clone(), polls_left: f.polls }
            }
            _ => Finalization::Issued { certificate_id: cert.id.clone() },
        };
        self.db.add_certificate(cert);
        self.db.update_order(order.clone());
        let mut body = self.order_json(&order);
        if self.has(Defect::FinalizePartialOrder) {
            body = json!({ "status": body["status"] });
        }
        Ok(Reply::ok(body).at(self.url(&format!("/order/{}", order.id))))
    }
}

/// Validates one identifier of a newOrder; the error is (ACME error name, detail).
pub(super) fn check_identifier(id: &Identifier, defects: &DefectSet) -> Result<Identifier, (ProblemType, String)> {
    match id.kind.as_str() {
        "dns" => {
            let name = id.value.to_ascii_lowercase();
            let base = name.strip_prefix("*.").unwrap_or(&name);
            let labels: Vec<&str> = base.split('.').collect();
            let u_labels = defects.has(Defect::AcceptULabels);
            let ok = labels.len() >= 2
                && base.len() <= 253
                && labels.iter().all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || (u_labels && c.is_alphanumeric()))
                });
            if !ok {
                return Err((ProblemType::RejectedIdentifier, format!("{:?} is not a valid DNS name", id.value)));
            }
            // §7.1.4: an "xn--" label must be the A-label of a valid U-label.
            if labels.iter().any(|l| l.starts_with("xn--"))
                && url::Host::parse(base).is_err()
                && !defects.has(Defect::AcceptInvalidALabels)
            {
                return Err((ProblemType::RejectedIdentifier, format!("{:?} has an xn-- label that is no valid IDNA encoding", id.value)));
            }
            if base.parse::<IpAddr>().is_ok() {
                return Err((ProblemType::RejectedIdentifier, "an IP address must use the ip identifier type".into()));
            }
            Ok(Identifier::dns(name))
        }
        "ip" => match id.value.parse::<IpAddr>() {
            Ok(ip) if ip.to_string() == id.value => Ok(Identifier::ip(ip.to_string())),
            _ => Err((ProblemType::Malformed, format!("{:?} is not an IP address in canonical form (RFC 8738 §3)", id.value))),
        },
        other => Err((ProblemType::UnsupportedIdentifier, format!("identifier type {other:?} is not supported"))),
    }
}
