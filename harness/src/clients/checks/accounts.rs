//! Checks of RFC 8555 §7.3, accounts: the key rollover's inner JWS.

use super::*;

pub(super) fn key_change_inner_jws(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::KeyChange) {
        let v = match body(e) {
            Body::Unknown => continue,
            Body::Json(v) => v,
            Body::Empty | Body::NotJson => {
                out.judge();
                out.fail(vec![e.seq], format!("{} carried no inner JWS", label(e)));
                continue;
            }
        };
        out.judge();
        let inner = match ParsedJws::parse(&serde_json::to_vec(v).unwrap_or_default()) {
            Ok(inner) => inner,
            Err(why) => {
                out.fail(vec![e.seq], format!("{}'s inner JWS is not a flattened JWS: {why}", label(e)));
                continue;
            }
        };
        let h = &inner.header;
        let mut wrong = Vec::new();
        match &h.jwk {
            None => wrong.push("no jwk".to_owned()),
            Some(_) if inner.verify_embedded().is_err() => wrong.push("a signature its jwk does not verify".to_owned()),
            Some(_) => {}
        }
        if h.kid.is_some() {
            wrong.push("a kid".to_owned());
        }
        if let Some(n) = &h.nonce {
            wrong.push(format!("a nonce ({n:?})"));
        }
        let outer_url = header_str(e, "url").map_or_else(|| format!("{}{}", run.base, e.path), str::to_owned);
        if h.url.as_deref() != Some(outer_url.as_str()) {
            wrong.push(format!("url {:?} where the outer url is {outer_url:?}", h.url.as_deref().unwrap_or("")));
        }
        match inner.payload_json().and_then(Result::ok) {
            Some(Value::Object(p)) => {
                match (p.get("account").and_then(Value::as_str), header_str(e, "kid")) {
                    (None, _) => wrong.push("no account in its payload".to_owned()),
                    (Some(account), Some(kid)) if account != kid => {
                        wrong.push(format!("account {account:?} where the outer kid is {kid:?}"));
                    }
                    _ => {}
                }
                match p.get("oldKey").and_then(key_print) {
                    None => wrong.push("no oldKey JWK in its payload".to_owned()),
                    Some(old) if h.jwk.as_ref().and_then(|j| key_print(&j.to_value())).as_ref() == Some(&old) => {
                        wrong.push("a new key equal to oldKey".to_owned());
                    }
                    Some(_) => {}
                }
            }
            _ => wrong.push("a payload that is not a JSON object".to_owned()),
        }
        if !wrong.is_empty() {
            out.fail(vec![e.seq], format!("{}'s inner JWS had {}", label(e), wrong.join(", ")));
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Behaviour oracles
