//! Certificates (RFC 8555 §7.4.2, §7.6, RFC 9773 §4): download with alternate chains,
//! revocation and who may ask for it, and renewal information.

use super::*;

impl Wfe {
    pub(super) fn certificate(&self, s: Signed, id: &str, chain: &str) -> Handled {
        let cert = self.db.certificate(id).ok_or_else(|| not_found("no such certificate"))?;
        self.own_account(&s, &cert.account_id)?;
        let index: usize = chain.parse().map_err(|_| not_found("no such chain"))?;
        let mut pem = self.ca.chain_pem(&cert.issued, index).ok_or_else(|| not_found("no such chain"))?;
        if index > 0
            && self.has(Defect::AlternateChainWithoutLeaf)
            && let Some(end) = pem.find("-----END CERTIFICATE-----")
        {
            pem.replace_range(..end + "-----END CERTIFICATE-----".len(), "");
            pem = pem.trim_start().to_owned();
        }
        if self.has(Defect::PemChainWithText) {
            pem.insert_str(0, &format!("Certificate {id}, chain {index}, issued by the acmespec mock CA\n"));
        }
        let mut reply = Reply { body: ReplyBody::Pem(pem), ..Reply::empty(StatusCode::OK) };
        if !self.has(Defect::NoAlternateLinks) {
            for other in (0..self.ca.chain_count()).filter(|c| *c != index) {
                let url = if other == 0 { self.url(&format!("/certificate/{id}")) } else { self.url(&format!("/certificate/{id}/{other}")) };
                reply = reply.link(url, "alternate");
            }
        }
        Ok(reply)
    }

    pub(super) fn revoke(&self, s: Signed) -> Handled {
        let payload = s.payload.ok_or_else(|| malformed("revokeCert needs a payload"))?;
        let text = payload.get("certificate").and_then(Value::as_str).ok_or_else(|| malformed("the payload needs a certificate"))?;
        let der = b64::decode(text).map_err(|e| malformed(format!("certificate: {e}")))?;
        let cert = self.db.certificate_by_der(&der).ok_or_else(|| not_found("this CA did not issue that certificate"))?;
        let reason = match payload.get("reason") {
            None => 0,
            Some(v) => {
                let r = v.as_u64().filter(|r| *r <= u8::MAX as u64).ok_or_else(|| malformed("reason must be a small integer"))? as u8;
                if !ALLOWED_REASONS.contains(&r) && !self.has(Defect::AcceptAnyRevocationReason) {
                    return Err(fault(StatusCode::BAD_REQUEST, ProblemType::BadRevocationReason, format!("reason {r} is not accepted; use one of {ALLOWED_REASONS:?}")));
                }
                r
            }
        };
        // §7.6: the certificate's own key, the issuing account, and any account holding
        // authorizations for every name of the certificate may revoke it.
        let allowed = match &s.account {
            None => !self.has(Defect::RevokeRefusesCertificateKey) && s.key.thumbprint() == cert.issued.public_key.thumbprint(),
            Some(_) if self.has(Defect::RevokeRefusesAccount) => false,
            Some(account) if account.id == cert.account_id => true,
            Some(account) => !self.has(Defect::RevokeOnlyByIssuer) && self.holds_authorizations(&account.id, &cert.identifiers),
        };
        if !allowed && !self.has(Defect::SkipOwnershipCheck) {
            return Err(unauthorized("the requester may not revoke this certificate"));
        }
        if !self.db.revoke(&cert.id, reason) {
            return Err(fault(StatusCode::BAD_REQUEST, ProblemType::AlreadyRevoked, "the certificate is already revoked"));
        }
        Ok(Reply::empty(StatusCode::OK))
    }

    /// Whether the account holds valid authorizations for every identifier (§7.6).
    pub(super) fn holds_authorizations(&self, account_id: &str, identifiers: &[Identifier]) -> bool {
        let now = OffsetDateTime::now_utc();
        identifiers.iter().all(|id| {
            let base = Identifier { kind: id.kind.clone(), value: id.value.trim_start_matches("*.").to_owned() };
            self.db.authzs_for(account_id, &base).iter().any(|a| a.status_at(now) == AuthzStatus::Valid)
        })
    }

    /// RFC 9773 §4.1: the id is base64url(AKI keyIdentifier) "." base64url(serial), and
    /// names a certificate only when both halves match one this CA issued. An id of the
    /// wrong form is refused; `None` means no such certificate.
    pub(super) fn certificate_by_cert_id(&self, id: &str) -> Result<Option<Certificate>, Fault> {
        let bad_id = || malformed("a certificate identifier must be <AKI keyIdentifier>.<serial>, both non-empty base64url");
        let (aki, serial) = id.split_once('.').ok_or_else(bad_id)?;
        let aki = b64::decode(aki).ok().filter(|a| !a.is_empty()).ok_or_else(bad_id)?;
        let serial = b64::decode(serial).ok().filter(|s| !s.is_empty()).ok_or_else(bad_id)?;
        let serial_hex: String = serial.iter().skip_while(|b| **b == 0).map(|b| format!("{b:02x}")).collect();
        Ok(self
            .db
            .certificate_by_serial(&format!("{serial_hex:0>32}"))
            .filter(|c| authority_key_id(&c.issued.der).as_deref() == Some(aki.as_slice())))
    }

    /// RFC 9773 §5: the replaced certificate belongs to the ordering account, shares an
    /// identifier with the order, and no live order replaces it yet.
    pub(super) fn check_replaces(&self, account_id: &str, identifiers: &[Identifier], cert_id: &str) -> Result<(), Fault> {
        let cert = self
            .certificate_by_cert_id(cert_id)?
            .ok_or_else(|| malformed("replaces names no certificate this CA issued"))?;
        if cert.account_id != account_id && !self.has(Defect::ReplacesAnyAccount) {
            return Err(unauthorized("the replaced certificate belongs to another account"));
        }
        if !cert.identifiers.iter().any(|i| identifiers.contains(i)) && !self.has(Defect::ReplacesAnyIdentifiers) {
            return Err(malformed("the order shares no identifier with the certificate it replaces"));
        }
        let now = OffsetDateTime::now_utc();
        let replaced = self
            .db
            .orders_of(account_id)
            .iter()
            .any(|o| o.replaces.as_deref() == Some(cert_id) && self.order_status(o, now) != OrderStatus::Invalid);
        if replaced && !self.has(Defect::ReplacesTwice) {
            let detail = "the certificate is already replaced by another order";
            return Err(if self.has(Defect::AlreadyReplaced400) {
                malformed(detail)
            } else {
                fault(StatusCode::CONFLICT, ProblemType::AlreadyReplaced, detail)
            });
        }
        Ok(())
    }

    pub(super) fn renewal_info(&self, id: &str, fired: Option<Fired>) -> Handled {
        let cert = self
            .certificate_by_cert_id(id)?
            .ok_or_else(|| not_found("this CA issued no certificate with that AKI and serial"))?;
        let lifetime = cert.issued.not_after - cert.issued.not_before;
        let (start, end) = if fired.is_some_and(|f| f.kind == FaultKind::RenewalWindowPassed) {
            let now = OffsetDateTime::now_utc();
            (now - Duration::hours(2), now - Duration::hours(1))
        } else {
            let start = cert.issued.not_before + lifetime * 2 / 3;
            (start, start + lifetime / 9)
        };
        let (start, end) = if self.has(Defect::RenewalWindowInverted) { (end, start) } else { (start, end) };
        let mut reply = Reply::ok(json!({ "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) } }));
        reply.retry_after = Some(RENEWAL_INFO_RETRY_AFTER_SECS);
        Ok(reply)
    }
}

/// The keyIdentifier of a certificate's authorityKeyIdentifier extension.
pub(super) fn authority_key_id(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::extensions::ParsedExtension;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    })
}
