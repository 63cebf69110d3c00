//! Authorizations and challenges (RFC 8555 §7.5, §8): creating them for an order,
//! their objects, and answering a challenge by handing it to the validation authority.

use super::*;

impl Wfe {
    /// A fresh token for a challenge of type `kind`.
    pub(super) fn challenge_token(&self, kind: &str) -> String {
        let token = crate::protocol::random::b64url(if self.has(Defect::ShortTokens) { SHORT_TOKEN_BYTES } else { TOKEN_BYTES });
        // http-01 puts the token in a URL path, where the VA refuses padding itself.
        if self.has(Defect::PaddedTokens) && kind != "http-01" { format!("{token}=") } else { token }
    }

    pub(super) fn new_authz(&self, account_id: &str, id: &Identifier, expires: OffsetDateTime) -> Authorization {
        let wildcard = id.kind == "dns" && id.value.starts_with("*.");
        let mut identifier = Identifier { kind: id.kind.clone(), value: id.value.trim_start_matches("*.").to_owned() };
        if let Ok(IpAddr::V6(v6)) = identifier.value.parse::<IpAddr>()
            && self.has(Defect::IpAuthzExpanded)
        {
            identifier.value = v6.segments().iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":");
        }
        let kinds: &[&str] = match (id.kind.as_str(), wildcard) {
            (_, true) => &["dns-01"],
            ("ip", _) if self.has(Defect::OfferDns01ForIp) => &["http-01", "dns-01", "tls-alpn-01"],
            ("ip", _) => &["http-01", "tls-alpn-01"],
            _ => &["http-01", "dns-01", "tls-alpn-01"],
        };
        let shared_token = self.has(Defect::TokenPerAuthorization).then(|| self.challenge_token("http-01"));
        let challenges = kinds
            .iter()
            .map(|k| Challenge {
                id: random_id(),
                kind: (*k).to_owned(),
                token: shared_token.clone().unwrap_or_else(|| self.challenge_token(k)),
                status: ChallengeStatus::Pending,
                validated: None,
                error: None,
            })
            .collect();
        Authorization {
            id: random_id(),
            account_id: account_id.to_owned(),
            identifier: if self.has(Defect::WildcardAuthzKeepsPrefix) { id.clone() } else { identifier },
            wildcard,
            status: AuthzStatus::Pending,
            expires,
            challenges,
            pre_authorization: false,
        }
    }

    pub(super) fn challenge_json(&self, c: &Challenge) -> Value {
        let mut v = json!({
            "type": c.kind,
            "url": self.url(&format!("/challenge/{}", c.id)),
            "status": c.status,
            "token": c.token,
        });
        if let Some(t) = c.validated.filter(|_| !self.has(Defect::ChallengeWithoutValidated)) {
            v["validated"] = rfc3339(t).into();
        }
        if let Some(e) = &c.error {
            v["error"] = serde_json::to_value(e).unwrap_or_default();
            if self.has(Defect::ChallengeErrorUnregisteredType) {
                v["error"]["type"] = format!("{ERROR_NS}validationFailed").into();
            }
        }
        v
    }

    pub(super) fn authz_json(&self, a: &Authorization) -> Value {
        let now = OffsetDateTime::now_utc();
        let mut v = json!({
            "identifier": a.identifier,
            "status": a.status_at(now),
            "expires": rfc3339(a.expires),
            "challenges": a
                .challenges
                .iter()
                .filter(|c| !(c.status == ChallengeStatus::Invalid && self.has(Defect::DropInvalidChallenges)))
                .map(|c| self.challenge_json(c))
                .collect::<Vec<_>>(),
        });
        if a.wildcard || self.has(Defect::AuthzWildcardFalse) {
            v["wildcard"] = a.wildcard.into();
        }
        v
    }

    pub(super) fn authz(&self, s: Signed, id: &str) -> Handled {
        let authz = self.db.authz(id).ok_or_else(|| not_found("no such authorization"))?;
        self.own_account(&s, &authz.account_id)?;
        let Some(payload) = &s.payload else {
            let mut reply = Reply::ok(self.authz_json(&authz));
            reply.retry_after = (authz.status == AuthzStatus::Pending).then_some(RETRY_AFTER_SECS);
            return Ok(reply);
        };
        if payload.get("status").and_then(Value::as_str) != Some("deactivated") {
            return Err(malformed("an authorization update may only set status to deactivated"));
        }
        let now = OffsetDateTime::now_utc();
        let updated = self
            .db
            .modify_authz(id, |a| {
                a.deactivate(now);
            })
            .ok_or_else(|| not_found("no such authorization"))?;
        if updated.status != AuthzStatus::Deactivated {
            return Err(malformed("only pending or valid authorizations can be deactivated"));
        }
        Ok(Reply::ok(self.authz_json(&updated)))
    }

    pub(super) async fn challenge(self: &Arc<Self>, s: Signed, id: &str, fired: Option<Fired>) -> Handled {
        let authz = self.db.authz_of_challenge(id).ok_or_else(|| not_found("no such challenge"))?;
        let account = self.own_account(&s, &authz.account_id)?;
        let up = self.url(&format!("/authz/{}", authz.id));
        let find = |a: &Authorization| a.challenges.iter().find(|c| c.id == id).cloned();
        let mut chall = find(&authz).ok_or_else(|| not_found("no such challenge"))?;
        if let Some(payload) = &s.payload {
            let fields = match payload.as_object() {
                Some(fields) => fields.clone(),
                None if self.has(Defect::ChallengeAcceptsAnyPayload) => Map::new(),
                None => return Err(malformed("a challenge response must be a JSON object")),
            };
            // §7.5.1: fields the challenge type does not define are to be ignored.
            if !fields.is_empty() && self.has(Defect::RejectUnknownChallengeFields) {
                return Err(malformed(format!("{} challenge responses take no fields", chall.kind)));
            }
        }
        // A POST-as-GET (no payload) only fetches the challenge (§7.5.1, §6.3).
        let responded = s.payload.is_some() || self.has(Defect::ChallengeFetchResponds);
        let now = OffsetDateTime::now_utc();
        if responded && chall.status == ChallengeStatus::Pending && authz.status_at(now) == AuthzStatus::Pending {
            let updated = self.db.modify_authz(&authz.id, |a| {
                a.respond(id, now);
            });
            chall = updated.as_ref().and_then(find).unwrap_or(chall);
            let wfe = Arc::clone(self);
            let (authz_id, challenge_id) = (authz.id.clone(), chall.id.clone());
            let scripted_failure = fired.is_some_and(|f| f.kind == FaultKind::ChallengeInvalid);
            if scripted_failure || self.config.always_valid || self.has(Defect::VaAlwaysValid) {
                let progress =
                    if scripted_failure { Progress::Invalid(scripted_validation_problem(&authz.identifier)) } else { Progress::Valid };
                wfe.complete_validation(&authz_id, &challenge_id, progress);
                chall = self.db.authz(&authz_id).as_ref().and_then(find).unwrap_or(chall);
            } else {
                let digest_of_token = match chall.kind.as_str() {
                    "dns-01" => self.has(Defect::Dns01DigestOfToken),
                    "tls-alpn-01" => self.has(Defect::TlsAlpn01DigestOfToken),
                    _ => false,
                };
                // What the VA looks for: the digest defects hand it the bare token.
                let expected =
                    if digest_of_token { chall.token.clone() } else { key_authorization(&chall.token, &account.key) };
                let request = ValidationRequest {
                    identifier: authz.identifier.clone(),
                    challenge_type: chall.kind.clone(),
                    token: chall.token.clone(),
                    key_authorization: expected,
                };
                let slow = fired.filter(|f| f.kind == FaultKind::SlowValidation).map(|f| f.ms);
                let (mut queries, work) = self.va.validation_task(id, request, move |progress| {
                    wfe.complete_validation(&authz_id, &challenge_id, progress)
                });
                tokio::spawn(async move {
                    if let Some(ms) = slow {
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    }
                    work.await;
                });
                // A validation against a local responder takes milliseconds: waiting
                // briefly for the first query spares the client a Retry-After round; a
                // slow one goes on in the background and the client polls (§7.5.1).
                if slow.is_none() {
                    let _ = tokio::time::timeout(VALIDATION_GRACE, queries.changed()).await;
                }
                chall = self.db.authz(&authz.id).as_ref().and_then(find).unwrap_or(chall);
            }
        } else if s.payload.is_some() && chall.status == ChallengeStatus::Processing {
            // §8.2: a new POST asks for a retry, which the VA makes at once unless rate-limited.
            if let Some(mut queries) = self.va.retry_now(id) {
                let _ = tokio::time::timeout(VALIDATION_GRACE, queries.changed()).await;
                chall = self.db.authz(&authz.id).as_ref().and_then(find).unwrap_or(chall);
            }
        }
        let mut body = self.challenge_json(&chall);
        if s.payload.is_none() && self.has(Defect::ChallengeReadWithoutUrl) {
            body.as_object_mut().map(|o| o.remove("url"));
        }
        let mut reply = Reply::ok(body).link(up, "up");
        if chall.status == ChallengeStatus::Processing {
            reply.retry_after = self.va.retry_after(id, RETRY_AFTER_SECS);
        }
        Ok(reply)
    }

    /// Records a validation query's outcome; `false` once the challenge is no longer
    /// processing (its authorization was deactivated or expired meanwhile).
    pub(super) fn complete_validation(&self, authz_id: &str, challenge_id: &str, progress: Progress) -> bool {
        let now = OffsetDateTime::now_utc();
        let with_error = !self.has(Defect::ChallengeErrorOmitted);
        let mut processing = false;
        self.db.modify_authz(authz_id, |a| processing = a.record(challenge_id, progress, with_error, now));
        processing
    }
}

/// A failed validation as a CA with several vantage points reports it: a problem with
/// one subproblem per perspective (RFC 8555 §6.7.1).
pub(super) fn scripted_validation_problem(identifier: &Identifier) -> Problem {
    let sub = |detail: &str| Problem {
        kind: Some(format!("{ERROR_NS}incorrectResponse")),
        detail: Some(detail.to_owned()),
        identifier: Some(identifier.clone()),
        ..Problem::default()
    };
    Problem {
        kind: Some(format!("{ERROR_NS}incorrectResponse")),
        detail: Some("scripted fault: the validation failed from every vantage point".into()),
        subproblems: vec![sub("vantage point A saw the wrong key authorization"), sub("vantage point B saw the wrong key authorization")],
        ..Problem::default()
    }
}
