//! The RFC 8555 §6 checks every signed request passes before a handler sees it: media
//! type, JWS shape, nonce, `url`, key identification and signature. Defects that loosen
//! one rule are consulted at the rule, so each breaks exactly one requirement.

use super::*;

impl Wfe {
    /// The §6 checks: media type, JWS shape, nonce, url, key identification, signature.
    pub(super) async fn verify(&self, url: &str, headers: &HeaderMap, body: &Bytes, mode: KeyMode) -> Result<Signed, Fault> {
        if media_type(headers).as_deref() != Some("application/jose+json") && !self.has(Defect::AcceptAnyContentType) {
            let f = fault(StatusCode::UNSUPPORTED_MEDIA_TYPE, ProblemType::Malformed, "Content-Type must be application/jose+json");
            return Err(f);
        }
        let jws = self.parse_jws(body)?;
        let h = &jws.header;
        let nonce = h.nonce.as_deref().map(|n| if self.has(Defect::AcceptPaddedBase64) { n.trim_end_matches('=') } else { n });
        let spent = nonce.unwrap_or_default().to_owned();
        match nonce {
            None => {
                let kind = if self.has(Defect::MissingNonceMalformed) { ProblemType::Malformed } else { ProblemType::BadNonce };
                return Err(fault(StatusCode::BAD_REQUEST, kind, "the JWS has no nonce"));
            }
            Some(n) if b64::decode(n).is_err() => {
                return Err(if self.has(Defect::BadNonceEncoding500) {
                    server_internal("the nonce could not be decoded")
                } else {
                    malformed("the nonce is not base64url")
                });
            }
            Some(n) => {
                let fresh = self.nonces.redeem(n);
                if !fresh && !self.has(Defect::AcceptReusedNonce) {
                    return Err(fault(StatusCode::BAD_REQUEST, ProblemType::BadNonce, "the nonce was not issued here or was already used"));
                }
            }
        }
        match h.url.as_deref() {
            // Only a lenient parse leaves a url in the header that is no string.
            None if h.raw.contains_key("url") && self.has(Defect::SkipNonStringUrl) => {}
            None if !self.has(Defect::AcceptMissingUrl) => return Err(malformed("the JWS has no url")),
            Some(u) if self.has(Defect::UrlComparedAsUrl) && same_url(u, url) => {}
            Some(u) if u != url && !self.has(Defect::AcceptUrlMismatch) => {
                return Err(unauthorized(format!("the JWS url {u:?} is not the request URL {url:?}")));
            }
            _ => {}
        }
        let (key, account) = match (mode, &h.jwk, &h.kid) {
            (KeyMode::Jwk | KeyMode::Either, Some(jwk), None) => {
                // §7.3.6: a deactivated account's key authorizes nothing, newAccount included.
                if mode == KeyMode::Jwk
                    && let Some(a) = self.db.account_by_thumbprint(&jwk.thumbprint())
                {
                    self.usable(a)?;
                }
                (jwk.clone(), None)
            }
            (KeyMode::Kid | KeyMode::Either, None, Some(kid)) => {
                let named = self.account_for_kid(kid);
                // A kid that names no account, or one whose key did not sign, stands in for
                // the account the request URL names.
                let fallback = || self.account_for_kid(url).ok().filter(|_| self.has(Defect::KidFallsBackToUrlAccount));
                let account = match named {
                    Err(e) if e.problem.kind.as_deref() == Some(&format!("{ERROR_NS}accountDoesNotExist")) => fallback().ok_or(e)?,
                    Ok(a) if self.has(Defect::KidFallsBackToUrlAccount) && jws.verify(&a.key).is_err() => fallback().unwrap_or(a),
                    other => other?,
                };
                (account.key.clone(), Some(account))
            }
            (KeyMode::Kid, Some(jwk), None) if self.has(Defect::AcceptJwkForKidResources) => {
                let account = self.db.account_by_thumbprint(&jwk.thumbprint()).ok_or_else(|| key_mode_fault(mode))?;
                (jwk.clone(), Some(self.usable(account)?))
            }
            (KeyMode::Kid, None, None) if self.has(Defect::InferAccountFromUrl) => {
                let account = self.account_for_kid(url)?;
                (account.key.clone(), Some(account))
            }
            (KeyMode::Jwk, None, Some(kid)) if self.has(Defect::NewAccountAcceptsKid) => {
                let account = self.account_for_kid(kid)?;
                (account.key.clone(), Some(account))
            }
            _ => return Err(key_mode_fault(mode)),
        };
        if let Err(e) = jws.verify(&key)
            && !self.has(Defect::SkipSignatureCheck)
        {
            return Err(match e {
                JwsError::Verify(VerifyError::AlgorithmKeyMismatch { .. }) if h.jwk.is_some() => {
                    fault(StatusCode::BAD_REQUEST, ProblemType::BadPublicKey, e.to_string())
                }
                other => malformed(format!("JWS verification failed: {other}")),
            });
        }
        let payload = match jws.payload_json() {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) if url == self.url("/key-change") && self.has(Defect::KeyChangeAcceptsCompactInner) => {
                Some(compact_as_flattened(&jws.payload).ok_or_else(|| malformed("the payload is not JSON"))?)
            }
            Some(Err(e)) => return Err(malformed(format!("the payload is not JSON: {e}"))),
        };
        Ok(Signed { account, key, payload, nonce: spent })
    }

    pub(super) fn parse_jws(&self, body: &[u8]) -> Result<ParsedJws, Fault> {
        match ParsedJws::parse(body) {
            Ok(jws) => {
                if let Some(jwk) = &jws.header.jwk
                    && let Some(why) = weak_key(jwk)
                {
                    return Err(fault(StatusCode::BAD_REQUEST, ProblemType::BadPublicKey, why));
                }
                Ok(jws)
            }
            Err(e) => {
                if let Some(jws) = self.lenient_parse(body, &e) {
                    return Ok(jws);
                }
                let flattened = compact_as_flattened(body).and_then(|v| serde_json::to_vec(&v).ok());
                if let Some(Ok(jws)) = flattened.filter(|_| self.has(Defect::AcceptCompactSerialization)).map(|b| ParsedJws::parse(&b)) {
                    return Ok(jws);
                }
                Err(jws_fault(e, &self.defects))
            }
        }
    }

    /// Defects that accept JWS the strict parser refuses: reparse with the offending
    /// part removed, so the rest of the pipeline still runs on a real signature.
    pub(super) fn lenient_parse(&self, body: &[u8], e: &JwsError) -> Option<ParsedJws> {
        let accept = match e {
            JwsError::BadEncoding { error: b64::B64Error::Padded, .. } => self.has(Defect::AcceptPaddedBase64),
            JwsError::UnsupportedExtension(_) => self.has(Defect::AcceptUnencodedPayload),
            JwsError::UnprotectedHeader => {
                self.has(Defect::AcceptUnprotectedHeader) || self.has(Defect::MergeUnprotectedHeader)
            }
            JwsError::JwkAndKid => self.has(Defect::AcceptJwkAndKid),
            JwsError::NotFlattened => self.has(Defect::AcceptGeneralSerialization),
            JwsError::MissingMember("payload") => self.has(Defect::AcceptDetachedPayload),
            JwsError::MissingAlg => self.has(Defect::AcceptMissingAlg),
            JwsError::BadHeaderMember("url") => self.has(Defect::SkipNonStringUrl),
            _ => false,
        };
        if !accept {
            return None;
        }
        let mut v: Map<String, Value> = serde_json::from_slice(body).ok()?;
        if let Some(Value::Array(signatures)) = v.remove("signatures") {
            // The first signature stands in for the flattened form's.
            let Some(Value::Object(first)) = signatures.into_iter().next() else { return None };
            v.extend(first);
        }
        let unprotected = v.remove("header");
        if self.has(Defect::AcceptDetachedPayload) {
            // A detached payload is taken to be the empty one of a POST-as-GET.
            v.entry("payload").or_insert_with(|| "".into());
        }
        for member in ["protected", "payload", "signature"] {
            if let Some(Value::String(s)) = v.get_mut(member) {
                *s = s.trim_end_matches('=').to_owned();
            }
        }
        let protected = b64::decode(v.get("protected")?.as_str()?).ok()?;
        let mut header: Map<String, Value> = serde_json::from_slice(&protected).ok()?;
        let original_protected = v.get("protected")?.as_str()?.to_owned();
        header.remove("crit");
        header.remove("b64");
        if matches!(e, JwsError::JwkAndKid) {
            header.remove("jwk");
        }
        if let Some(Value::Object(members)) = unprotected
            && self.has(Defect::MergeUnprotectedHeader)
        {
            for (k, v) in members {
                header.entry(k).or_insert(v);
            }
        }
        if self.has(Defect::AcceptMissingAlg) {
            // The algorithm every ACME server implements stands in for a missing one.
            header.entry("alg").or_insert_with(|| Algorithm::Es256.name().into());
        }
        // A url that is no string is set aside, for the defect that then skips the url check.
        let odd_url = match header.get("url") {
            Some(u) if !u.is_string() => header.remove("url"),
            _ => None,
        };
        let reencoded = b64::encode(serde_json::to_vec(&header).ok()?);
        v.insert("protected".into(), reencoded.into());
        let mut jws = ParsedJws::parse(&serde_json::to_vec(&v).ok()?).ok()?;
        // Keep the signature input the client actually signed.
        jws.encoded.protected = original_protected;
        if let Some(u) = odd_url {
            jws.header.raw.insert("url".into(), u);
        }
        Some(jws)
    }

    pub(super) fn account_for_kid(&self, kid: &str) -> Result<Account, Fault> {
        let prefix = self.url("/account/");
        let account = kid
            .strip_prefix(&prefix)
            .filter(|id| !id.contains('/'))
            .and_then(|id| self.db.account(id))
            .ok_or_else(|| fault(StatusCode::BAD_REQUEST, ProblemType::AccountDoesNotExist, format!("no account at {kid}")))?;
        self.usable(account)
    }

    /// The account, if it may still make requests (§7.3.6).
    pub(super) fn usable(&self, account: Account) -> Result<Account, Fault> {
        if account.status != AccountStatus::Valid && !self.has(Defect::AcceptDeactivatedAccount) {
            return Err(fault(StatusCode::UNAUTHORIZED, ProblemType::Unauthorized, "the account is not valid"));
        }
        Ok(account)
    }
}

/// Whether two URLs are equal after RFC 3986 §6.2.2 normalisation (case of scheme and
/// host, default port, percent-encoded unreserved characters): what a server that does
/// not compare `url` as a string accepts.
pub(super) fn same_url(a: &str, b: &str) -> bool {
    fn decode_unreserved(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            let byte = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            match byte {
                Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                    out.push(char::from(b));
                    rest = &rest[i + 3..];
                }
                _ => {
                    out.push('%');
                    rest = &rest[i + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
    let parse = |s: &str| url::Url::parse(&decode_unreserved(s)).ok();
    parse(a).is_some_and(|x| Some(x) == parse(b))
}

/// A compact-serialized JWS (`protected.payload.signature`) as the flattened JSON
/// object, for the `key-change-accepts-compact-inner` defect.
pub(super) fn compact_as_flattened(payload: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(payload).ok()?;
    let parts: Vec<&str> = text.trim().split('.').collect();
    let [protected, payload, signature] = parts.as_slice() else { return None };
    Some(json!({ "protected": protected, "payload": payload, "signature": signature }))
}

/// An RSA key under 2048 bits is refused as `badPublicKey` (§6.2) rather than failing
/// later as a bad signature.
pub(super) fn weak_key(jwk: &Jwk) -> Option<String> {
    let v = jwk.to_value();
    let n = v.get("n")?.as_str()?;
    let bits = b64::decode(n).ok()?.len() * 8;
    (bits < 2048).then(|| format!("RSA keys must have at least 2048 bits, not {bits}"))
}
