//! Checks of RFC 8555 §6, the message layer every request shares: transport headers,
//! the JWS and its protected header, nonces, POST-as-GET, and how the client reacts to
//! badNonce, rate limits and unavailability.

use super::*;

pub(super) fn user_agent(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for e in run.entries {
        out.judge();
        if e.header("user-agent").is_none_or(|v| v.trim().is_empty()) {
            out.fail(vec![e.seq], format!("{} had no User-Agent header", label(e)));
        }
    }
    out
}

pub(super) fn content_type(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts() {
        out.judge();
        let media = e.header("content-type").map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/jose+json") => {}
            Some(_) => out.fail(vec![e.seq], format!("{} had Content-Type {:?}", label(e), e.header("content-type").unwrap_or(""))),
            None => out.fail(vec![e.seq], format!("{} had no Content-Type", label(e))),
        }
    }
    out
}

pub(super) fn flattened_jws(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts() {
        out.judge();
        let Some(jws) = &e.jws else {
            out.fail(vec![e.seq], format!("{} had an empty body, not a JWS", label(e)));
            continue;
        };
        if !jws.extra_members.is_empty() {
            out.fail(vec![e.seq], format!("{} carried the JWS members {:?} besides protected, payload and signature", label(e), jws.extra_members));
        } else if let Some((message, JwsFault::Shape)) = parse_error(e) {
            out.fail(vec![e.seq], format!("{} was not a flattened JWS: {message}", label(e)));
        }
    }
    out
}

pub(super) fn protected_header_fields(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts() {
        if let Some((message, JwsFault::Header)) = parse_error(e) {
            out.judge();
            out.fail(vec![e.seq], format!("{}: {message}", label(e)));
            continue;
        }
        let Some(h) = protected(e) else { continue };
        out.judge();
        let mut missing: Vec<&str> = ["alg", "nonce", "url"].into_iter().filter(|m| !h.contains_key(*m)).collect();
        if !h.contains_key("jwk") && !h.contains_key("kid") {
            missing.push("jwk or kid");
        }
        if !missing.is_empty() {
            out.fail(vec![e.seq], format!("{}'s protected header had no {}", label(e), missing.join(", ")));
        }
    }
    out
}

pub(super) fn jwk_or_kid_by_resource(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts() {
        let Some(h) = protected(e) else { continue };
        let (jwk, kid) = (h.contains_key("jwk"), h.contains_key("kid"));
        if jwk == kid || e.endpoint == Endpoint::Unknown {
            continue;
        }
        out.judge();
        match e.endpoint {
            Endpoint::NewAccount if kid => out.fail(vec![e.seq], format!("{} identified the key by kid; newAccount needs jwk", label(e))),
            Endpoint::NewAccount | Endpoint::RevokeCert => {}
            _ if jwk => out.fail(vec![e.seq], format!("{} identified the key by jwk; this resource needs the account's kid", label(e))),
            _ => {}
        }
    }
    out
}

pub(super) fn kid_is_account_url(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    let prefix = format!("{}/account/", run.base);
    // A kid the server resolved to an account: a 2xx from its own checks.
    let confirmed: HashSet<&str> =
        run.posts().filter(|(_, e)| answered_ok(e) && server_answered(e)).filter_map(|(_, e)| header_str(e, "kid")).collect();
    let first_account = run.posts().find(|(_, e)| e.endpoint == Endpoint::NewAccount && answered_ok(e)).map(|(i, _)| i);
    for (i, e) in run.posts() {
        let Some(kid) = protected(e).and_then(|h| h.get("kid")) else { continue };
        let Some(kid) = kid.as_str() else {
            out.judge();
            out.fail(vec![e.seq], format!("{} had a kid that is not a string: {}", label(e), brief(kid)));
            continue;
        };
        let id = kid.strip_prefix(&prefix).filter(|id| !id.is_empty() && !id.contains(['/', '?', '#']));
        if id.is_none() {
            out.judge();
            out.fail(vec![e.seq], format!("{} used kid {kid:?}, which is not an account URL of this server ({prefix}<id>)", label(e)));
        } else if first_account.is_none_or(|a| a > i) {
            out.judge();
            out.fail(vec![e.seq], format!("{} used kid {kid:?} before any newAccount returned an account URL", label(e)));
        } else if problem_is(e, "accountDoesNotExist") {
            out.judge();
            out.fail(vec![e.seq], format!("{} used kid {kid:?}, and the server has no account there", label(e)));
        } else if confirmed.contains(kid) {
            out.judge();
        }
    }
    out
}

pub(super) fn alg_allowed(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts() {
        if protected(e).is_some() {
            out.judge();
        } else if let Some((_, JwsFault::Algorithm(alg))) = parse_error(e) {
            out.judge();
            if alg.eq_ignore_ascii_case("none") || alg.starts_with("HS") {
                out.fail(vec![e.seq], format!("{} was signed with alg {alg:?}", label(e)));
            }
        }
    }
    out
}

pub(super) fn url_matches_request(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts() {
        let Some(url) = header_str(e, "url") else { continue };
        out.judge();
        let expected = format!("{}{}", run.base, e.path);
        if url != expected {
            out.fail(vec![e.seq], format!("{} carried url {url:?}, not the request URL {expected:?}", label(e)));
        }
    }
    out
}

pub(super) fn nonce_fresh(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (i, e) in run.posts() {
        let Some(n) = nonce(e) else { continue };
        out.judge();
        match run.issued.get(n) {
            None => out.fail(vec![e.seq], format!("{} carried nonce {n:?}, which the server never issued", label(e))),
            Some(&p) if p >= i => {
                let by = &run.entries[p];
                out.fail(vec![e.seq, by.seq], format!("{} carried nonce {n:?} before the server issued it (in {})", label(e), label(by)))
            }
            Some(_) => {}
        }
        if let Some(&first) = run.first_use.get(n).filter(|&&f| f < i) {
            let before = &run.entries[first];
            out.fail(vec![before.seq, e.seq], format!("{} reused nonce {n:?} already sent in {}", label(e), label(before)));
        }
    }
    out
}

pub(super) fn post_as_get_empty_payload(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts() {
        let fetch_only = matches!(e.endpoint, Endpoint::Order | Endpoint::Certificate | Endpoint::OrdersList);
        let fetchable = fetch_only || matches!(e.endpoint, Endpoint::Authz | Endpoint::Account | Endpoint::Challenge);
        if !fetchable {
            continue;
        }
        match body(e) {
            Body::Empty => out.judge(),
            Body::Json(v) if fetch_only || (e.endpoint == Endpoint::Authz && is_empty_object(v)) => {
                out.judge();
                out.fail(vec![e.seq], format!("{} fetched with the payload {}; POST-as-GET takes an empty payload", label(e), brief(v)));
            }
            Body::NotJson if fetch_only => {
                out.judge();
                out.fail(vec![e.seq], format!("{} fetched with a non-empty, non-JSON payload; POST-as-GET takes an empty payload", label(e)));
            }
            _ => {}
        }
    }
    out
}

pub(super) fn no_plain_get(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for e in run.entries {
        if matches!(e.endpoint, Endpoint::Directory | Endpoint::NewNonce | Endpoint::RenewalInfo | Endpoint::Unknown) {
            continue;
        }
        out.judge();
        if is_get_or_head(e) {
            out.fail(vec![e.seq], format!("{} used a plain {} where POST-as-GET is required", label(e), e.method));
        }
    }
    out
}

pub(super) fn retries_bad_nonce(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    // Per URL, the current run of consecutive badNonce answers.
    let mut streak: HashMap<&str, Vec<usize>> = HashMap::new();
    for (b, e) in run.posts() {
        let chain = streak.entry(e.path.as_str()).or_default();
        if !problem_is(e, "badNonce") {
            chain.clear();
            continue;
        }
        chain.push(e.seq);
        if chain.len() == BAD_NONCE_STREAK + 1 {
            let seqs = chain.clone();
            let what = format!("{}: {} consecutive requests to this URL answered badNonce (from seq {}); the client loops instead of giving up", label(e), chain.len(), chain[0]);
            out.fail(seqs, what);
        }
        let first_of_streak = chain.len() == 1;
        out.trigger(e);
        let Some((r, retry)) = run.posts().find(|(q, x)| *q > b && x.path == e.path) else {
            // Giving up after retrying is what a client should eventually do.
            if first_of_streak {
                out.fail(vec![e.seq], format!("{} was answered badNonce and the client never sent it again", label(e)));
            }
            continue;
        };
        let Some(n) = nonce(retry) else { continue };
        if run.issued.get(n).is_none_or(|&p| p >= r) {
            out.fail(vec![e.seq, retry.seq], format!("{} retried {} with nonce {n:?}, which the server had not issued", label(retry), label(e)));
        } else if let Some(&first) = run.first_use.get(n).filter(|&&f| f < r) {
            let used = &run.entries[first];
            out.fail(
                vec![e.seq, used.seq, retry.seq],
                format!("{} retried {} with nonce {n:?}, already used in {}", label(retry), label(e), label(used)),
            );
        }
    }
    out
}

pub(super) fn honours_retry_after(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (r, e) in run.entries.iter().enumerate() {
        let Some(secs) = e.retry_after.filter(|_| matches!(e.status, 429 | 503)) else { continue };
        out.trigger(e);
        let wait = min_wait(secs);
        // Journal time is close to monotonic; a second of slack covers reordering.
        let horizon = e.at.saturating_add(wait).saturating_add(Duration::from_secs(1));
        let early = run.entries[r + 1..]
            .iter()
            .enumerate()
            .map(|(k, q)| (r + 1 + k, q))
            .take_while(|(_, q)| q.at <= horizon)
            .find(|(q, x)| x.endpoint == e.endpoint && run.sent_after(*q, r) && gap(x, e) < wait);
        if let Some((_, q)) = early {
            out.fail(
                vec![e.seq, q.seq],
                format!(
                    "{} came {:.2}s after {} answered {} with Retry-After: {secs}",
                    label(q),
                    gap(q, e).as_secs_f64(),
                    label(e),
                    e.status
                ),
            );
        }
    }
    out
}
