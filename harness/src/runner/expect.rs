//! Checking a response against a step's expectations.
//!
//! Every mismatch is reported with what was expected and what was seen, in words a CA
//! engineer can act on without reading the harness: problem `detail` text is never
//! compared (servers word it freely), only what the RFC fixes.

use crate::protocol::http::Response;
use crate::protocol::wire::ERROR_NS;
use crate::scenario::Expect;
use serde_json::Value;

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What was required.
    pub expected: String,
    /// What the response showed.
    pub observed: String,
}

fn mismatch(expected: impl Into<String>, observed: impl Into<String>) -> Mismatch {
    Mismatch { expected: expected.into(), observed: observed.into() }
}

/// Expands a short ACME error name to its URN.
pub fn problem_urn(name: &str) -> String {
    if name.contains(':') { name.to_owned() } else { format!("{ERROR_NS}{name}") }
}

fn to_json(v: &toml::Value, cx: &CheckContext<'_>) -> Value {
    expand_json(serde_json::to_value(v).unwrap_or(Value::Null), cx)
}

fn expand_json(v: Value, cx: &CheckContext<'_>) -> Value {
    match v {
        Value::String(s) => Value::String((cx.expand)(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| expand_json(x, cx)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, expand_json(x, cx))).collect()),
        other => other,
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "absent".into(),
        Some(v) => v.to_string(),
    }
}

fn type_matches(v: &Value, ty: &str) -> Result<bool, String> {
    Ok(match ty {
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "url" => v.as_str().and_then(|s| url::Url::parse(s).ok()).is_some_and(|u| u.has_host()),
        "base64url" => v.as_str().is_some_and(|s| crate::protocol::b64::decode(s).is_ok()),
        // §8.3: only base64url characters, no padding, at least 128 bits of content.
        "token" => v.as_str().is_some_and(|s| {
            s.len() * 6 >= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }),
        "timestamp" => v.as_str().is_some_and(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }),
        other => return Err(format!("unknown type {other:?} in expectation")),
    })
}

/// Context the checks need beyond the response itself.
pub(crate) struct CheckContext<'a> {
    /// URL a `location_is` target resolves to, when the step named one.
    pub(crate) location_target: Option<Result<String, String>>,
    /// Nonces seen earlier in the case, for `fresh_nonce`.
    pub(crate) earlier_nonces: &'a [String],
    /// Expands the case's placeholders in expected values.
    pub(crate) expand: &'a dyn Fn(&str) -> String,
}

/// Checks `resp` against `expect`; an empty list means every expectation held.
pub(crate) fn check(expect: &Expect, resp: &Response, cx: &CheckContext<'_>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(status) = &expect.status
        && !status.contains(resp.status) {
            let detail = resp.problem().and_then(|p| p.kind).map(|t| format!(" ({t})")).unwrap_or_default();
            out.push(mismatch(format!("HTTP status {status}"), format!("HTTP status {}{detail}", resp.status)));
        }
    if let Some(ct) = &expect.content_type {
        let seen = resp.media_type();
        if seen.as_deref() != Some(ct.to_ascii_lowercase().as_str()) {
            out.push(mismatch(
                format!("Content-Type {ct}"),
                format!("Content-Type {}", resp.header("content-type").unwrap_or("absent")),
            ));
        }
    }
    if let Some(problem) = &expect.problem {
        let want = problem_urn(problem);
        let body = resp.json().ok();
        let seen = body.as_ref().and_then(|b| b.get("type")).and_then(Value::as_str);
        if seen != Some(want.as_str()) {
            out.push(mismatch(format!("problem type {want}"), format!("problem type {}", seen.unwrap_or("absent"))));
        } else if resp.media_type().as_deref() != Some("application/problem+json") {
            out.push(mismatch(
                "problem document served as application/problem+json",
                format!("Content-Type {}", resp.header("content-type").unwrap_or("absent")),
            ));
        }
    }
    if let Some(sub) = &expect.subproblem {
        let want = problem_urn(sub);
        let body = resp.json().unwrap_or(Value::Null);
        let subs = body.get("subproblems").and_then(Value::as_array).cloned().unwrap_or_default();
        let types: Vec<&str> = subs.iter().filter_map(|s| s.get("type").and_then(Value::as_str)).collect();
        if !types.contains(&want.as_str()) {
            out.push(mismatch(format!("a subproblem of type {want}"), format!("subproblem types {types:?}")));
        }
    }
    for h in &expect.headers {
        if resp.headers.get(h.as_str()).is_none() {
            out.push(mismatch(format!("header {h} present"), format!("no {h} header")));
        }
    }
    for h in &expect.absent_headers {
        if let Some(v) = resp.header(h) {
            out.push(mismatch(format!("no {h} header"), format!("{h}: {v}")));
        }
    }
    for (h, needle) in &expect.header_contains {
        let needle = (cx.expand)(needle);
        let values: Vec<String> = resp
            .headers
            .get_all(h.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if !values.iter().any(|v| v.to_ascii_lowercase().contains(&needle.to_ascii_lowercase())) {
            let seen = if values.is_empty() { format!("no {h} header") } else { format!("{h}: {}", values.join(", ")) };
            out.push(mismatch(format!("header {h} containing {needle:?}"), seen));
        }
    }
    if !expect.links.is_empty() {
        let links = resp.links();
        for rel in &expect.links {
            if !links.iter().any(|l| l.rel.eq_ignore_ascii_case(rel)) {
                let seen: Vec<String> = links.iter().map(|l| format!("<{}>;rel={}", l.url, l.rel)).collect();
                out.push(mismatch(format!("Link with rel=\"{rel}\""), format!("Link headers {seen:?}")));
            }
        }
    }
    let needs_members = !(expect.fields.is_empty()
        && expect.one_of.is_empty()
        && expect.types.is_empty()
        && expect.contains.is_empty()
        && expect.optional_types.is_empty());
    let needs_json = needs_members || !expect.absent.is_empty();
    if needs_json {
        match resp.json() {
            // Nothing can be present in a body that is not JSON.
            Err(_) if !needs_members => {}
            Err(e) => out.push(mismatch("a JSON body", format!("body is not JSON ({e})"))),
            Ok(body) => {
                for (ptr, want) in &expect.fields {
                    let want = to_json(want, cx);
                    let seen = body.pointer(ptr);
                    if seen != Some(&want) {
                        out.push(mismatch(format!("{ptr} = {want}"), format!("{ptr} = {}", show(seen))));
                    }
                }
                for (ptr, options) in &expect.one_of {
                    let options: Vec<Value> = options.iter().map(|o| to_json(o, cx)).collect();
                    let seen = body.pointer(ptr);
                    if !seen.is_some_and(|v| options.contains(v)) {
                        let list: Vec<String> = options.iter().map(Value::to_string).collect();
                        out.push(mismatch(format!("{ptr} one of {}", list.join(", ")), format!("{ptr} = {}", show(seen))));
                    }
                }
                for (ptr, ty) in &expect.types {
                    let seen = body.pointer(ptr);
                    match seen.map(|v| type_matches(v, ty)) {
                        Some(Ok(true)) => {}
                        Some(Err(e)) => out.push(mismatch(format!("{ptr} of type {ty}"), e)),
                        _ => out.push(mismatch(format!("{ptr} of type {ty}"), format!("{ptr} = {}", show(seen)))),
                    }
                }
                for (ptr, ty) in &expect.optional_types {
                    if let Some(v) = body.pointer(ptr) {
                        match type_matches(v, ty) {
                            Ok(true) => {}
                            Ok(false) => out.push(mismatch(format!("{ptr}, when present, of type {ty}"), format!("{ptr} = {v}"))),
                            Err(e) => out.push(mismatch(format!("{ptr} of type {ty}"), e)),
                        }
                    }
                }
                for (ptr, want) in &expect.contains {
                    let want = to_json(want, cx);
                    let seen = body.pointer(ptr);
                    if !seen.and_then(Value::as_array).is_some_and(|a| a.contains(&want)) {
                        out.push(mismatch(format!("{ptr} containing {want}"), format!("{ptr} = {}", show(seen))));
                    }
                }
                for ptr in &expect.absent {
                    if let Some(v) = body.pointer(ptr) {
                        out.push(mismatch(format!("{ptr} absent"), format!("{ptr} = {v}")));
                    }
                }
            }
        }
    }
    if let Some(empty) = expect.empty_body
        && empty != resp.body.is_empty() {
            out.push(mismatch(
                if empty { "an empty body" } else { "a non-empty body" },
                format!("a body of {} bytes", resp.body.len()),
            ));
        }
    if let Some(target) = &cx.location_target {
        match target {
            Err(e) => out.push(mismatch("Location of the named resource", format!("cannot resolve: {e}"))),
            Ok(url) => {
                let seen = resp.location();
                if seen.as_deref() != Some(url.as_str()) {
                    out.push(mismatch(format!("Location: {url}"), format!("Location: {}", seen.as_deref().unwrap_or("absent"))));
                }
            }
        }
    }
    if let Some(location) = &expect.location {
        let want = (cx.expand)(location);
        let seen = resp.location();
        if seen.as_deref() != Some(want.as_str()) {
            out.push(mismatch(format!("Location: {want}"), format!("Location: {}", seen.as_deref().unwrap_or("absent"))));
        }
    }
    if let Some(nested) = &expect.if_error
        && resp.status >= 400
    {
        let inner = CheckContext { location_target: None, earlier_nonces: cx.earlier_nonces, expand: cx.expand };
        out.extend(check(nested, resp, &inner).into_iter().map(|m| Mismatch {
            expected: format!("on an error response, {}", m.expected),
            observed: m.observed,
        }));
    }
    if expect.pem_chain_strict == Some(true)
        && let Err(why) = check_pem_encoding(&resp.body)
    {
        out.push(mismatch("a PEM chain in RFC 7468 strict encoding, nothing else (RFC 8555 §9.1)", why));
    }
    if expect.chain_certifies == Some(true)
        && let Err(why) = check_chain_order(&resp.body)
    {
        out.push(mismatch("each certificate of the chain signed by the next (RFC 8555 §9.1)", why));
    }
    if let Some(names) = &expect.leaf_names {
        let mut want: Vec<String> = names.iter().map(|n| (cx.expand)(n).to_ascii_lowercase()).collect();
        want.sort();
        match leaf_names(&resp.body) {
            Ok(mut seen) => {
                seen.sort();
                if seen != want {
                    out.push(mismatch(format!("certificate names {want:?}"), format!("certificate names {seen:?}")));
                }
            }
            Err(why) => out.push(mismatch(format!("certificate names {want:?}"), why)),
        }
    }
    if let Some(min) = expect.pem_chain_min {
        let text = String::from_utf8_lossy(&resp.body);
        let count = text.matches("-----BEGIN CERTIFICATE-----").count();
        if count < min {
            out.push(mismatch(format!("a PEM chain of at least {min} certificates"), format!("{count} PEM certificates")));
        }
    }
    if expect.fresh_nonce == Some(true) {
        match resp.replay_nonce() {
            None => out.push(mismatch("a fresh Replay-Nonce", "no Replay-Nonce header")),
            Some(n) if cx.earlier_nonces.iter().any(|e| e == n) => {
                out.push(mismatch("a fresh Replay-Nonce", format!("Replay-Nonce {n} was already issued")))
            }
            Some(n) if n.is_empty() || crate::protocol::b64::decode(n).is_err() => out.push(mismatch(
                "a Replay-Nonce of base64url characters (§6.5.1)",
                format!("Replay-Nonce {n:?}"),
            )),
            Some(_) => {}
        }
    }
    out
}

fn pem_certificates(body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(body)
        .map(|c| c.map(|c| c.to_vec()).map_err(|e| format!("bad PEM: {e}")))
        .collect()
}

/// RFC 7468 strict encoding: only `CERTIFICATE` blocks and line breaks, no explanatory text.
fn check_pem_encoding(body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not text".to_owned())?;
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        match line {
            "-----BEGIN CERTIFICATE-----" if !inside => inside = true,
            "-----END CERTIFICATE-----" if inside => inside = false,
            "" if !inside => {}
            l if inside && !l.starts_with("-----") => {}
            other => return Err(format!("text outside the certificate blocks: {other:?}")),
        }
    }
    if pem_certificates(body)?.is_empty() {
        return Err("no certificate".into());
    }
    Ok(())
}

/// §9.1: the end-entity certificate first, each one certified by the next.
fn check_chain_order(body: &[u8]) -> Result<(), String> {
    let ders = pem_certificates(body)?;
    if ders.is_empty() {
        return Err("no certificate".into());
    }
    let certs = ders
        .iter()
        .map(|d| x509_parser::parse_x509_certificate(d).map(|(_, c)| c).map_err(|e| format!("bad certificate: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, pair) in certs.windows(2).enumerate() {
        pair[0]
            .verify_signature(Some(pair[1].public_key()))
            .map_err(|_| format!("certificate {} is not signed by certificate {}", i + 1, i + 2))?;
    }
    Ok(())
}

fn leaf_names(body: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let ders = pem_certificates(body)?;
    let leaf = ders.first().ok_or("no certificate in the body")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("bad certificate: {e}"))?;
    let san = cert.subject_alternative_name().map_err(|e| format!("bad subjectAltName: {e}"))?;
    Ok(san
        .map(|s| {
            s.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                        16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}
