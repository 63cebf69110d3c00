//! How a step's requests go out: nonces (and a step's nonce mutations), the signed
//! request with its mutations (RFC 8555 §6), and POST-as-GET polling. The retry rules
//! (badNonce, rate limits within --max-wait, Retry-After between polls) are the shared
//! [`Pacing`]'s; the loop is the runner's own, because each attempt is mutated anew.

use super::*;
use crate::protocol::session::{GiveUp, MAX_BAD_NONCE_RETRIES, Next, Pacing, Retries};

impl CaseRun<'_> {
    pub(super) async fn nonce(&mut self, mutation: Option<NonceMutation>) -> StepResult<Option<String>> {
        Ok(match mutation {
            None => Some(self.fresh_nonce().await?),
            Some(NonceMutation::Omit) => None,
            Some(NonceMutation::Reuse) => Some(self.used_nonces.last().cloned().ok_or_else(|| {
                StepError::Error("mutation nonce = \"reuse\" needs an earlier signed request in the case".into())
            })?),
            Some(NonceMutation::Invented) => Some(b64::encode(crate::protocol::random::hex(6).repeat(2))),
            Some(NonceMutation::BadEncoding) => Some("not+base64url/==".to_owned()),
            Some(NonceMutation::Padded) => Some(format!("{}=", self.fresh_nonce().await?)),
        })
    }

    pub(super) async fn fresh_nonce(&self) -> StepResult<String> {
        let url = self.directory_entry("newNonce")?;
        self.env.client.nonce(&url).await.map_err(|e| StepError::Error(e.to_string()))
    }

    /// Sends a signed request as `account` (which must exist) to `url`.
    pub(super) async fn signed(&mut self, account: &str, url: &str, payload: Payload, m: Option<&Mutation>) -> StepResult<Response> {
        let state = self.account_state(account)?;
        let key = state.key.clone();
        let kid = state.url.clone();
        let key_id = match kid {
            Some(kid) => KeyId::Kid(kid),
            None => KeyId::Jwk(key.jwk().clone()),
        };
        self.signed_with(&key, key_id, url, payload, m).await
    }

    pub(super) async fn signed_with(
        &mut self,
        key: &SigningKey,
        key_id: KeyId,
        url: &str,
        payload: Payload,
        m: Option<&Mutation>,
    ) -> StepResult<Response> {
        let pacing = self.pacing(m.is_some());
        let mut tries = Retries::default();
        loop {
            let resp = self.signed_once(key, &key_id, url, &payload, m).await?;
            match pacing.next(&resp, &mut tries, Duration::MAX) {
                Next::Answer => return Ok(resp),
                Next::Resend => {}
                Next::Wait(wait) => tokio::time::sleep(wait).await,
                Next::GiveUp(GiveUp::NoRetryAfter) => {
                    return Err(StepError::Error(format!("rate limited without Retry-After, so not retried: {}", resp.summary())));
                }
                Next::GiveUp(GiveUp::Budget { wait, budget }) => {
                    return Err(StepError::Error(format!(
                        "rate limited: {}; waiting {}s more would pass --max-wait {}s",
                        resp.summary(),
                        wait.as_secs(),
                        budget.as_secs()
                    )));
                }
                Next::GiveUp(why) => return Err(StepError::Error(format!("rate limited: {}; {why}", resp.summary()))),
            }
        }
    }

    /// The runner's patience (RFC 8555 §6.5, §6.6): badNonce re-sent unless the request
    /// was broken on purpose; a 429 waited out for its Retry-After (at least a second)
    /// while one request's waits stay within `--max-wait`, never without one, and not
    /// at all while a case probes the rate limit itself.
    fn pacing(&self, mutated: bool) -> Pacing {
        Pacing {
            bad_nonce_retries: if mutated { 0 } else { MAX_BAD_NONCE_RETRIES },
            wait_statuses: if self.probing_rate_limit { &[] } else { &[429] },
            wait_retries: u32::MAX,
            wait_budget: self.env.max_wait,
            wait_without_retry_after: None,
            wait_floor: Duration::from_secs(1),
            poll_default: POLL_INTERVAL,
            poll_floor: POLL_INTERVAL,
            poll_ceiling: POLL_INTERVAL_MAX,
            // Polls end at the step's timeout.
            max_polls: u32::MAX,
            impatient: None,
        }
    }

    pub(super) async fn signed_once(
        &mut self,
        key: &SigningKey,
        key_id: &KeyId,
        url: &str,
        payload: &Payload,
        m: Option<&Mutation>,
    ) -> StepResult<Response> {
        let default = Mutation::default();
        let m = m.unwrap_or(&default);
        let nonce = self.nonce(m.nonce).await?;
        let header_url = match m.url {
            None => Some(url.to_owned()),
            Some(UrlMutation::Omit) => None,
            Some(UrlMutation::Other) => Some(if url == self.env.directory_url {
                self.directory_entry("newNonce")?
            } else {
                self.env.directory_url.clone()
            }),
            Some(UrlMutation::TrailingSlash) => Some(format!("{url}/")),
            Some(UrlMutation::UppercaseHost) => Some(respell_url(url, |u| {
                let host = u.host_str().unwrap_or_default().to_ascii_uppercase();
                u.as_str().replacen(&format!("//{}", u.host_str().unwrap_or_default()), &format!("//{host}"), 1)
            })),
            Some(UrlMutation::UppercaseScheme) => Some(respell_url(url, |u| {
                u.as_str().replacen(u.scheme(), &u.scheme().to_ascii_uppercase(), 1)
            })),
            Some(UrlMutation::PercentEncoded) => Some(respell_url(url, |u| {
                let path = u.path();
                match path.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
                    Some((i, c)) => {
                        let encoded = format!("{}%{:02X}{}", &path[..i], c as u32, &path[i + 1..]);
                        u.as_str().replacen(path, &encoded, 1)
                    }
                    None => u.as_str().to_owned(),
                }
            })),
            Some(UrlMutation::ExplicitPort) => Some(respell_url(url, |u| match (u.port(), u.port_or_known_default()) {
                (None, Some(port)) => {
                    let host = u.host_str().unwrap_or_default();
                    u.as_str().replacen(&format!("//{host}"), &format!("//{host}:{port}"), 1)
                }
                _ => u.as_str().to_owned(),
            })),
        };
        let key_id = match (m.auth, key_id) {
            (None, k) => k.clone(),
            (Some(AuthMutation::Jwk), _) => KeyId::Jwk(key.jwk().clone()),
            (Some(AuthMutation::Kid), KeyId::Kid(k)) => KeyId::Kid(k.clone()),
            (Some(AuthMutation::Kid), KeyId::Jwk(_)) => KeyId::Kid(format!("{}/acct/does-not-exist", self.env.directory_url)),
            (Some(AuthMutation::Both | AuthMutation::None), k) => k.clone(),
        };
        let mut header = acme_protected_header(key.alg(), &key_id, nonce.as_deref(), header_url.as_deref().unwrap_or(""));
        if header_url.is_none() {
            header.remove("url");
        }
        match m.auth {
            Some(AuthMutation::Both) => {
                header.insert("jwk".into(), key.jwk().to_value());
                let kid = match &key_id {
                    KeyId::Kid(k) => k.clone(),
                    KeyId::Jwk(_) => format!("{}/acct/unknown", self.env.directory_url),
                };
                header.insert("kid".into(), kid.into());
            }
            Some(AuthMutation::None) => {
                header.remove("jwk");
                header.remove("kid");
            }
            _ => {}
        }
        if let Some(kid) = &m.kid {
            header.remove("jwk");
            header.insert("kid".into(), self.expand(kid, None).into());
        }
        if let Some(alg) = &m.alg {
            header.insert("alg".into(), alg.clone().into());
        }
        if let Some(extra) = &m.protected_extra {
            for (k, v) in extra {
                header.insert(k.clone(), toml_to_json(v));
            }
        }
        for member in &m.protected_omit {
            header.remove(member);
        }
        let moved: Map<String, Value> =
            m.to_unprotected.iter().filter_map(|k| header.remove(k).map(|v| (k.clone(), v))).collect();
        let payload_bytes = match (&m.payload_raw, payload) {
            (Some(raw), _) => raw.clone().into_bytes(),
            (None, Payload::Empty) => Vec::new(),
            (None, Payload::Raw(bytes)) => bytes.clone(),
            (None, Payload::Json(v)) => serde_json::to_vec(v).expect("JSON serializes"),
        };
        let mut jws = FlattenedJws::sign(key, &header, &payload_bytes);
        match m.signature {
            None => {}
            Some(SignatureMutation::Corrupt) => {
                let mut sig = b64::decode(&jws.signature).expect("own signature decodes");
                let mid = sig.len() / 2;
                sig[mid] ^= 0x01;
                jws.signature = b64::encode(sig);
            }
            Some(SignatureMutation::Empty) => jws.signature = String::new(),
            Some(SignatureMutation::OtherKey) => {
                let other = SigningKey::generate(key.alg()).map_err(|e| StepError::Error(e.to_string()))?;
                jws.signature = b64::encode(other.sign(format!("{}.{}", jws.protected, jws.payload).as_bytes()));
            }
        }
        if m.pad_base64 {
            jws.protected.push('=');
        }
        let mut body = jws.to_value();
        let mut unprotected = m.unprotected_header.as_ref().map(|h| toml_to_json(&toml::Value::Table(h.clone())));
        if !moved.is_empty() {
            let header = unprotected.get_or_insert_with(|| json!({}));
            if let Some(h) = header.as_object_mut() {
                h.extend(moved);
            }
        }
        if let Some(h) = unprotected {
            body["header"] = h;
        }
        if m.general_serialization || m.second_signature {
            let mut signatures = vec![json!({"protected": jws.protected, "signature": jws.signature})];
            if m.second_signature {
                // ECDSA signatures are randomised: a second signature by the same key over the
                // same input differs from the first and verifies just as well.
                let again = key.sign(format!("{}.{}", jws.protected, jws.payload).as_bytes());
                signatures.push(json!({"protected": jws.protected, "signature": b64::encode(again)}));
            }
            body = json!({ "payload": jws.payload, "signatures": signatures });
        }
        if m.detach_payload
            && let Some(b) = body.as_object_mut()
        {
            b.remove("payload");
        }
        let bytes = match &m.body_raw {
            Some(raw) => raw.clone().into_bytes(),
            None if m.compact_serialization => format!("{}.{}.{}", jws.protected, jws.payload, jws.signature).into_bytes(),
            None => serde_json::to_vec(&body).expect("JSON serializes"),
        };
        let mut headers = Vec::new();
        match m.content_type.as_deref() {
            None => headers.push(("content-type".to_owned(), "application/jose+json".to_owned())),
            Some("omit") => {}
            Some(ct) => headers.push(("content-type".to_owned(), ct.to_owned())),
        }
        let resp = self.env.client.send(Method::POST, url, &headers, Some(bytes)).await?;
        if let Some(n) = nonce {
            self.used_nonces.push(n);
        }
        Ok(resp)
    }

    /// POST-as-GET of `url`; a challenge is read from its authorization (the answer is
    /// the authorization's, its body the challenge object), unless it is not listed there.
    pub(super) async fn read(&mut self, account: &str, url: &str) -> StepResult<Response> {
        if let Some(authz_url) = self.authz_of_challenge.get(url).cloned() {
            let resp = self.signed(account, &authz_url, Payload::Empty, None).await?;
            let listed = resp.json().ok().and_then(|authz| {
                authz.get("challenges")?.as_array()?.iter().find(|c| c.get("url").and_then(Value::as_str) == Some(url)).cloned()
            });
            if resp.status != 200 {
                return Ok(resp);
            }
            if let Some(challenge) = listed {
                return Ok(Response { body: serde_json::to_vec(&challenge).expect("JSON serializes").into(), ..resp });
            }
        }
        self.signed(account, url, Payload::Empty, None).await
    }

    pub(super) async fn poll(&mut self, step: &Step, url: &str, until: &[String]) -> StepResult<Response> {
        let account = self.account_name(step);
        let until: Vec<&str> = until.iter().map(String::as_str).collect();
        self.poll_until(&account, url, &until, step).await
    }

    pub(super) async fn poll_until(&mut self, account: &str, url: &str, until: &[&str], step: &Step) -> StepResult<Response> {
        let timeout = step.timeout_s.map(Duration::from_secs).unwrap_or(DEFAULT_TIMEOUT);
        let started = Instant::now();
        loop {
            let resp = self.read(account, url).await?;
            let resp = expect_ok(resp, false)?;
            let body = resp.json().map_err(|e| fail(format!("a JSON object from {url}"), e.to_string()))?;
            let status = body.get("status").and_then(Value::as_str).unwrap_or("");
            // A challenge the server decided inside its POST will not change: the case
            // judges it as it is.
            if until.contains(&status) || self.decided_in_post.iter().any(|u| u == url) {
                return Ok(resp);
            }
            if started.elapsed() >= timeout {
                // RFC 8555 sets no deadline (§8.2: "The precise retry schedule is up to the
                // server"), so a slow server is not a deviation: the case could not finish.
                return Err(StepError::Error(format!(
                    "{url} did not reach status {} within the case's {}s (status still {status:?}); RFC 8555 sets no deadline",
                    until.join("|"),
                    timeout.as_secs()
                )));
            }
            let wait = self.pacing(false).poll_wait(&resp).min(timeout.saturating_sub(started.elapsed()));
            tokio::time::sleep(wait).await;
        }
    }
}
