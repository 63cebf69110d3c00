//! Checking a response against a step's expectations.
//!
//! Every mismatch is reported with what was expected and what was seen, in words a CA
//! engineer can act on without reading the harness: problem `detail` text is never
//! compared (servers word it freely), only what the RFC fixes.

use crate::protocol::http::{Response, RetryAfter};
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

/// The `if_status` branches of `expect` that apply: the one named by the body's `/status`.
pub(crate) fn status_branches<'a>(expect: &'a Expect, resp: &Response) -> impl Iterator<Item = (&'a String, &'a Expect)> {
    let status = resp.json().ok().and_then(|b| b.get("status").and_then(Value::as_str).map(str::to_owned));
    expect.if_status.iter().filter(move |(s, _)| status.as_deref() == Some(s.as_str()))
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
        Value::String(s) => (cx.json_placeholder)(&s).unwrap_or_else(|| Value::String((cx.expand)(&s))),
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
        "string-map" => v.as_object().is_some_and(|m| m.values().all(Value::is_string)),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "url" => v.as_str().and_then(|s| url::Url::parse(s).ok()).is_some_and(|u| u.has_host()),
        "base64url" => v.as_str().is_some_and(|s| crate::protocol::b64::decode(s).is_ok()),
        // §8.3: only base64url characters, no padding, at least 128 bits of content.
        "token" => v.as_str().is_some_and(|s| {
            s.len() * 6 >= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }),
        // §9.7.7: an identifier object names its type and value as strings.
        "identifier" => v.get("type").is_some_and(Value::is_string) && v.get("value").is_some_and(Value::is_string),
        "timestamp" => v.as_str().is_some_and(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }),
        other => return Err(format!("unknown type {other:?} in expectation")),
    })
}

/// Whether the timestamp at `later` is strictly after the one at `earlier`; the error
/// says what was seen instead.
fn check_after(body: &Value, later: &str, earlier: &str) -> Result<(), String> {
    let at = |ptr: &str| {
        let v = body.pointer(ptr);
        v.and_then(Value::as_str)
            .and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
            .ok_or_else(|| format!("{ptr} = {} (not an RFC 3339 timestamp)", show(v)))
    };
    let (l, e) = (at(later)?, at(earlier)?);
    if l > e { Ok(()) } else { Err(format!("{later} = {} is not after {earlier} = {}", show(body.pointer(later)), show(body.pointer(earlier)))) }
}

/// Context the checks need beyond the response itself.
pub(crate) struct CheckContext<'a> {
    /// URL a `location_is` target resolves to, when the step named one.
    pub(crate) location_target: Option<Result<String, String>>,
    /// Nonces seen earlier in the case, for `fresh_nonce`.
    pub(crate) earlier_nonces: &'a [String],
    /// Expands the case's placeholders in expected values.
    pub(crate) expand: &'a dyn Fn(&str) -> String,
    /// Bodies earlier steps kept with `save`, by name.
    pub(crate) saved: &'a std::collections::HashMap<String, Vec<u8>>,
    /// The JSON value a string that is exactly one JSON placeholder (`{eab_binding}`) stands for.
    pub(crate) json_placeholder: &'a dyn Fn(&str) -> Option<Value>,
}

/// Checks `resp` against `expect`; an empty list means every expectation held.
pub(crate) fn check(expect: &Expect, resp: &Response, cx: &CheckContext<'_>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(status) = &expect.status
        && !status.contains(resp.status) {
            out.push(mismatch(format!("HTTP status {status}"), resp.summary()));
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
        // The type is the MUST; serving it as application/problem+json is §6.7's SHOULD,
        // checked by `content_type` in `should` tables.
        if seen != Some(want.as_str()) {
            out.push(mismatch(format!("problem type {want}"), format!("problem type {}", seen.unwrap_or("absent"))));
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
    for (rel, want) in &expect.link_urls {
        let want = (cx.expand)(want);
        let same = |seen: &str| match (url::Url::parse(seen), url::Url::parse(&want)) {
            (Ok(a), Ok(b)) => a == b,
            _ => seen == want,
        };
        let named = resp.links_with_rel(rel);
        // A missing relation asked for in `links` is reported there, once.
        let reported = named.is_empty() && expect.links.iter().any(|l| l.eq_ignore_ascii_case(rel));
        if !reported && !named.iter().any(|u| same(u)) {
            out.push(mismatch(format!("Link <{want}>;rel=\"{rel}\""), format!("rel=\"{rel}\" Links {named:?}")));
        }
    }
    let needs_members = !(expect.fields.is_empty()
        && expect.one_of.is_empty()
        && expect.not_equal.is_empty()
        && expect.types.is_empty()
        && expect.contains.is_empty()
        && expect.optional_types.is_empty()
        && expect.same_as.is_empty()
        && expect.excludes.is_empty()
        && expect.contains_match.is_empty()
        && expect.after.is_empty());
    let needs_json = needs_members || !expect.absent.is_empty() || !expect.lacks_match.is_empty();
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
                        // A status that went the wrong way is explained by the server's error.
                        let why = if ptr.ends_with("/status") { server_errors(&body) } else { String::new() };
                        out.push(mismatch(format!("{ptr} = {want}"), format!("{ptr} = {}{why}", show(seen))));
                    }
                }
                for (ptr, unwanted) in &expect.not_equal {
                    let unwanted = to_json(unwanted, cx);
                    if body.pointer(ptr) == Some(&unwanted) {
                        out.push(mismatch(format!("{ptr} other than {unwanted}"), format!("{ptr} = {unwanted}")));
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
                for (later, earlier) in &expect.after {
                    if let Err(why) = check_after(&body, later, earlier) {
                        out.push(mismatch(format!("{later} later than {earlier}"), why));
                    }
                }
                for (ptr, want) in &expect.contains {
                    let want = to_json(want, cx);
                    let seen = body.pointer(ptr);
                    if !seen.and_then(Value::as_array).is_some_and(|a| a.contains(&want)) {
                        out.push(mismatch(format!("{ptr} containing {want}"), format!("{ptr} = {}", show(seen))));
                    }
                }
                for (ptr, name) in &expect.same_as {
                    let earlier = cx.saved.get(name).and_then(|b| serde_json::from_slice::<Value>(b).ok());
                    let was = earlier.as_ref().and_then(|b| b.pointer(ptr));
                    let seen = body.pointer(ptr);
                    if seen != was {
                        out.push(mismatch(format!("{ptr} unchanged since {name:?}: {}", show(was)), format!("{ptr} = {}", show(seen))));
                    }
                }
                for (ptr, unwanted) in &expect.excludes {
                    let unwanted = to_json(unwanted, cx);
                    let seen = body.pointer(ptr);
                    // An absent member holds nothing; `types` asks for its presence.
                    match (seen, seen.and_then(Value::as_array)) {
                        (None, _) => {}
                        (_, Some(a)) if !a.contains(&unwanted) => {}
                        _ => out.push(mismatch(format!("{ptr} absent or an array without {unwanted}"), format!("{ptr} = {}", show(seen)))),
                    }
                }
                for (ptr, members) in &expect.contains_match {
                    let want = to_json(&toml::Value::Table(members.clone()), cx);
                    let seen = body.pointer(ptr);
                    if !seen.and_then(Value::as_array).is_some_and(|a| a.iter().any(|item| has_members(item, &want))) {
                        out.push(mismatch(format!("{ptr} holding an object with {want}"), format!("{ptr} = {}", show(seen))));
                    }
                }
                for (ptr, members) in &expect.lacks_match {
                    let unwanted = to_json(&toml::Value::Table(members.clone()), cx);
                    let items = body.pointer(ptr).and_then(Value::as_array).into_iter().flatten();
                    if let Some(item) = items.into_iter().find(|item| has_members(item, &unwanted)) {
                        out.push(mismatch(format!("{ptr} holding no object with {unwanted}"), format!("{ptr} holds {item}")));
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
        let inner = CheckContext { location_target: None, ..*cx };
        out.extend(check(nested, resp, &inner).into_iter().map(|m| Mismatch {
            expected: format!("on an error response, {}", m.expected),
            observed: m.observed,
        }));
    }
    for (status, nested) in status_branches(expect, resp) {
        let inner = CheckContext { location_target: None, ..*cx };
        out.extend(check(nested, resp, &inner).into_iter().map(|m| Mismatch {
            expected: format!("with status {status:?}, {}", m.expected),
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
    let expanded = |names: &[String]| -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|n| (cx.expand)(n).to_ascii_lowercase()).collect();
        v.sort();
        v
    };
    if let Some(names) = &expect.leaf_names {
        let want = expanded(names);
        // RFC 8555 §7.4 fixes the names, not where the certificate carries them.
        let held = |leaf: &Leaf| {
            let mut names: Vec<String> = leaf.san.iter().chain(&leaf.common_name).cloned().collect();
            names.sort();
            names.dedup();
            names
        };
        let expected = format!("a certificate naming exactly {want:?}, in subjectAltName or commonName (§7.4)");
        match leaf(&resp.body) {
            Ok(leaf) if held(&leaf) == want => {}
            Ok(leaf) => out.push(mismatch(expected, leaf.describe())),
            Err(why) => out.push(mismatch(expected, why)),
        }
    }
    if let Some(names) = &expect.leaf_names_within {
        let allowed = expanded(names);
        match leaf(&resp.body) {
            Ok(leaf) if leaf.san.iter().chain(&leaf.common_name).all(|n| allowed.contains(n)) => {}
            Ok(leaf) => out.push(mismatch(
                format!("a certificate naming nothing but {allowed:?}, in subjectAltName or commonName (§7.4)"),
                leaf.describe(),
            )),
            Err(why) => out.push(mismatch(format!("a certificate naming nothing but {allowed:?}"), why)),
        }
    }
    if let Some(name) = &expect.leaf_same_as {
        let first = |body: &[u8]| pem_certificates(body).ok().and_then(|c| c.into_iter().next());
        let want = cx.saved.get(name).and_then(|b| first(b));
        match (want, first(&resp.body)) {
            (Some(w), Some(seen)) if w == seen => {}
            (None, _) => out.push(mismatch(format!("a certificate saved as {name:?}"), "none was saved")),
            (Some(_), seen) => out.push(mismatch(
                format!("the end-entity certificate of {name:?} first (§7.4.2)"),
                if seen.is_some() { "a different first certificate" } else { "no PEM certificate" },
            )),
        }
    }
    if expect.retry_after == Some(true) {
        let values: Vec<&str> = resp.headers.get_all("retry-after").iter().filter_map(|v| v.to_str().ok()).collect();
        if !matches!(values.as_slice(), [one] if RetryAfter::parse(one).is_some()) {
            let seen = if values.is_empty() { "no Retry-After header".to_owned() } else { format!("Retry-After: {}", values.join(", ")) };
            out.push(mismatch("one Retry-After of delay-seconds or an HTTP-date (RFC 9110 §10.2.3)", seen));
        }
    }
    if let Some(min) = expect.pem_chain_min {
        let text = String::from_utf8_lossy(&resp.body);
        let count = text.matches("-----BEGIN CERTIFICATE-----").count();
        if count < min {
            out.push(mismatch(format!("a PEM chain of at least {min} certificates"), format!("{count} PEM certificates")));
        }
    }
    if expect.utf8 == Some(true)
        && let Err(why) = check_utf8(resp)
    {
        out.push(mismatch("a UTF-8 body, labelled as UTF-8 if labelled at all (RFC 8555 §5)", why));
    }
    if expect.https_urls == Some(true) {
        let plain = plain_http_urls(resp);
        if !plain.is_empty() {
            let expected = "https for the request and every URL the response hands out (RFC 8555 §6.1)";
            out.push(mismatch(expected, plain.join("; ")));
        }
    }
    if expect.registered_types == Some(true) {
        let unregistered = unregistered_problem_types(resp);
        if !unregistered.is_empty() {
            out.push(mismatch(
                format!("only IANA-registered problem types under {ERROR_NS} (RFC 8555 §6.7)"),
                format!("problem types {unregistered:?}"),
            ));
        }
    }
    if let Some(other) = &expect.location_unlike {
        let other = (cx.expand)(other);
        let seen = resp.location().unwrap_or_default();
        let run = differing_run(&seen, &other);
        if run < UNPREDICTABLE_RUN {
            out.push(mismatch(
                format!(
                    "a Location differing from {other} in at least {UNPREDICTABLE_RUN} consecutive characters \
                     (RFC 8555 §10.5)"
                ),
                format!("Location: {seen} (differs in {run})"),
            ));
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

/// Whether `item` is an object holding every member of `want` with the same value.
fn has_members(item: &Value, want: &Value) -> bool {
    match (item.as_object(), want.as_object()) {
        (Some(item), Some(want)) => want.iter().all(|(k, v)| item.get(k) == Some(v)),
        _ => false,
    }
}

/// Consecutive differing characters two resource URLs of the same kind must show for
/// `location_unlike`: a counter or a timestamp changes one to four, 8 base64url
/// characters are 48 bits.
const UNPREDICTABLE_RUN: usize = 8;

fn check_utf8(resp: &Response) -> Result<(), String> {
    if let Some(ct) = resp.header("content-type") {
        let charset = ct
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"));
        if let Some((_, value)) = charset
            && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(format!("Content-Type: {ct}"));
        }
    }
    std::str::from_utf8(&resp.body).map(|_| ()).map_err(|e| format!("the body is not UTF-8: {e}"))
}

/// The `http:` URLs of a response: the request's own, `Location`, `Link`s, and strings in
/// the body outside the directory's `meta` (whose website and terms are no ACME resources).
fn plain_http_urls(resp: &Response) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.iter().filter(|(k, _)| k.as_str() != "meta").for_each(|(_, x)| walk(x, out)),
            _ => {}
        }
    }
    let mut candidates = vec![resp.url.clone()];
    candidates.extend(resp.location());
    candidates.extend(resp.links().into_iter().map(|l| l.url));
    if let Ok(body) = resp.json() {
        walk(&body, &mut candidates);
    }
    candidates.retain(|c| url::Url::parse(c).is_ok_and(|u| u.scheme() == "http"));
    candidates
}

/// The `error` objects of a challenge, authorization or order body (its own and its
/// challenges'), as `; the server's error: ...`, or nothing.
fn server_errors(body: &Value) -> String {
    let own = body.get("error").into_iter();
    let challenges = body.get("challenges").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.get("error"));
    let errors: Vec<String> = own.chain(challenges).map(Value::to_string).collect();
    if errors.is_empty() { String::new() } else { format!("; the server's error: {}", errors.join(", ")) }
}

/// Problem types in the ACME namespace that are not registered, wherever a `type` member
/// appears in the body (top level, subproblems, challenge and order errors).
fn unregistered_problem_types(resp: &Response) -> Vec<String> {
    resp.json().map(|body| unregistered_types_in(&body)).unwrap_or_default()
}

/// [`unregistered_problem_types`] of a parsed body.
pub(crate) fn unregistered_types_in(body: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => {
                if let Some(name) = o.get("type").and_then(Value::as_str).and_then(|t| t.strip_prefix(ERROR_NS))
                    && crate::protocol::wire::ProblemType::from_name(name).is_none()
                {
                    out.push(format!("{ERROR_NS}{name}"));
                }
                o.values().for_each(|x| walk(x, out));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, &mut out);
    out
}

/// The length of the part of `a` that differs from `b` once their common prefix and
/// common suffix are taken away.
fn differing_run(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a_rest, b_rest) = (&a[prefix..], &b[prefix..]);
    let suffix = a_rest.iter().rev().zip(b_rest.iter().rev()).take_while(|(x, y)| x == y).count();
    a_rest.len() - suffix
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

/// What the first certificate of a chain names, and enough of the rest to say what it
/// is when it names the wrong things.
struct Leaf {
    /// subjectAltName DNS names (lowercase) and IP addresses, sorted.
    san: Vec<String>,
    /// The subject commonName, lowercase.
    common_name: Option<String>,
    version: u32,
    /// Extension names (or OIDs) in certificate order.
    extensions: Vec<String>,
}

impl Leaf {
    fn describe(&self) -> String {
        let cn = self.common_name.as_deref().map_or_else(|| "no commonName".to_owned(), |cn| format!("CN={cn}"));
        format!(
            "a v{} certificate, subject {cn}, subjectAltNames {:?}, extensions [{}]",
            self.version,
            self.san,
            self.extensions.join(", ")
        )
    }
}

fn leaf(body: &[u8]) -> Result<Leaf, String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let ders = pem_certificates(body)?;
    let der = ders.first().ok_or("no certificate in the body")?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("bad certificate: {e}"))?;
    let san = cert.subject_alternative_name().map_err(|e| format!("bad subjectAltName: {e}"))?;
    let mut names: Vec<String> = san
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
        .unwrap_or_default();
    names.sort();
    let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase);
    let extensions = cert
        .extensions()
        .iter()
        .map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(_) => "subjectAltName".to_owned(),
            ParsedExtension::BasicConstraints(_) => "basicConstraints".to_owned(),
            ParsedExtension::KeyUsage(_) => "keyUsage".to_owned(),
            ParsedExtension::ExtendedKeyUsage(_) => "extKeyUsage".to_owned(),
            ParsedExtension::AuthorityKeyIdentifier(_) => "authorityKeyIdentifier".to_owned(),
            ParsedExtension::SubjectKeyIdentifier(_) => "subjectKeyIdentifier".to_owned(),
            _ => e.oid.to_id_string(),
        })
        .collect();
    Ok(Leaf { san: names, common_name, version: cert.version().0 + 1, extensions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn response(url: &str, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        Response {
            method: reqwest::Method::POST,
            url: url.into(),
            status: 200,
            headers: map,
            body: body.as_bytes().to_vec().into(),
            version: reqwest::Version::HTTP_2,
        }
    }

    #[test]
    fn after_needs_two_timestamps_in_order() {
        let body = serde_json::json!({"w": {"start": "2025-01-02T00:00:00Z", "end": "2025-01-03T00:00:00Z", "bad": "soon"}});
        assert_eq!(check_after(&body, "/w/end", "/w/start"), Ok(()));
        assert!(check_after(&body, "/w/start", "/w/end").unwrap_err().contains("is not after"));
        assert!(check_after(&body, "/w/start", "/w/start").is_err(), "equal is not later");
        assert!(check_after(&body, "/w/bad", "/w/start").unwrap_err().contains("not an RFC 3339 timestamp"));
        assert!(check_after(&body, "/w/end", "/w/missing").unwrap_err().contains("absent"));
    }

    #[test]
    fn differing_run_ignores_common_prefix_and_suffix() {
        assert_eq!(differing_run("https://ca/acct/41", "https://ca/acct/42"), 1);
        assert_eq!(differing_run("https://ca/order/1999/x", "https://ca/order/2000/x"), 4);
        assert_eq!(differing_run("https://ca/a/Xk3_9aZq01Lm", "https://ca/a/pQ7-Bc2dEf9g"), 12);
        assert_eq!(differing_run("https://ca/a", "https://ca/a"), 0);
        assert_eq!(differing_run("https://ca/a/longer", "https://ca/a/"), 6);
    }

    #[test]
    fn plain_http_urls_everywhere_but_meta() {
        let body = r#"{"newOrder": "https://ca/o", "keyChange": "http://ca/k", "meta": {"website": "http://ca.example"}, "contact": ["mailto:a@b.c"]}"#;
        let resp = response(
            "https://ca/dir",
            &[("location", "http://ca/acct/1"), ("link", r#"<https://ca/dir>;rel="index", <http://ca/up>;rel="up""#)],
            body,
        );
        assert_eq!(plain_http_urls(&resp), ["http://ca/acct/1", "http://ca/up", "http://ca/k"]);
        assert!(plain_http_urls(&response("https://ca/dir", &[("location", "/acct/1")], "{}")).is_empty());
        assert_eq!(plain_http_urls(&response("http://ca/dir", &[], "not json")), ["http://ca/dir"]);
    }

    #[test]
    fn unregistered_types_found_at_any_depth() {
        let body = r#"{"type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "subproblems": [{"type": "urn:ietf:params:acme:error:notFound"}, {"type": "https://ca/errors/x"}],
            "challenges": [{"type": "http-01", "error": {"type": "urn:ietf:params:acme:error:alreadyReplaced"}}]}"#;
        let found = unregistered_problem_types(&response("https://ca/x", &[], body));
        assert_eq!(found, ["urn:ietf:params:acme:error:notFound"]);
    }

    #[test]
    fn utf8_body_and_charset() {
        let typed = |ct: &str, body: &str| check_utf8(&response("https://ca/x", &[("content-type", ct)], body));
        assert!(typed("application/json", "{\"d\": \"bücher\"}").is_ok());
        assert!(typed("application/json; charset=\"UTF-8\"", "{}").is_ok());
        assert!(typed("application/json; charset=iso-8859-1", "{}").is_err());
        let mut latin1 = response("https://ca/x", &[], "");
        latin1.body = b"{\"d\": \"b\xfccher\"}".to_vec().into();
        assert!(check_utf8(&latin1).is_err());
    }

    #[test]
    fn identifier_type() {
        assert_eq!(type_matches(&serde_json::json!({"type": "dns", "value": "a.test"}), "identifier"), Ok(true));
        assert_eq!(type_matches(&serde_json::json!("dns:a.test"), "identifier"), Ok(false));
        assert_eq!(type_matches(&serde_json::json!({"type": "dns"}), "identifier"), Ok(false));
    }

    /// Runs `expect` (a TOML inline table) against `body` with `saved` as the kept bodies.
    fn check_with_saved(expect: &str, body: &str, saved: &[(&str, &str)]) -> Vec<Mismatch> {
        check_response(expect, &response("https://ca/x", &[], body), saved)
    }

    /// Runs `expect` (a TOML inline table) against `resp` with `saved` as the kept bodies.
    fn check_response(expect: &str, resp: &Response, saved: &[(&str, &str)]) -> Vec<Mismatch> {
        let expect: Expect = toml::from_str(expect).unwrap();
        let saved = saved.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
        let cx = CheckContext {
            location_target: None,
            earlier_nonces: &[],
            expand: &|s: &str| s.to_owned(),
            saved: &saved,
            json_placeholder: &|_: &str| None,
        };
        check(&expect, resp, &cx)
    }

    #[test]
    fn link_urls_needs_a_link_of_that_relation_naming_the_url() {
        let expect = "links = [\"terms-of-service\"]\nlink_urls = { \"terms-of-service\" = \"https://ca:443/terms/v2\" }";
        let latest = response("https://ca/x", &[("link", "<https://ca/terms/v1>;rel=alternate, </terms/v2>;rel=\"terms-of-service\"")], "");
        assert!(check_response(expect, &latest, &[]).is_empty(), "a relative Link and a default port name the same URL");
        let stale = response("https://ca/x", &[("link", "<https://ca/terms/v1>;rel=\"terms-of-service\"")], "");
        let mismatches = check_response(expect, &stale, &[]);
        assert_eq!(mismatches.len(), 1, "{mismatches:?}");
        assert!(mismatches[0].observed.contains("terms/v1"), "{mismatches:?}");
        let none = response("https://ca/x", &[], "");
        assert_eq!(check_response(expect, &none, &[]).len(), 1, "a missing relation is reported once, by `links`");
    }

    #[test]
    fn same_as_compares_with_the_saved_body() {
        let before = r#"{"ids": ["a", "b"], "status": "pending"}"#;
        let same = r#"same_as = { "/ids" = "before", "/gone" = "before" }"#;
        assert!(check_with_saved(same, r#"{"ids": ["a", "b"], "status": "ready"}"#, &[("before", before)]).is_empty());
        let changed = check_with_saved(same, r#"{"ids": ["b", "a"]}"#, &[("before", before)]);
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(changed[0].observed.contains(r#"["b","a"]"#), "{changed:?}");
        let appeared = check_with_saved(same, r#"{"ids": ["a", "b"], "gone": 1}"#, &[("before", before)]);
        assert_eq!(appeared.len(), 1, "a member absent before must stay absent: {appeared:?}");
    }

    #[test]
    fn excludes_and_contains_match_look_into_arrays() {
        let body = r#"{"orders": ["u1", "u2"], "challenges": [{"type": "http-01", "status": "invalid", "url": "u"}]}"#;
        assert!(check_with_saved(r#"excludes = { "/orders" = "u3" }"#, body, &[]).is_empty());
        assert_eq!(check_with_saved(r#"excludes = { "/orders" = "u2" }"#, body, &[]).len(), 1);
        assert!(check_with_saved(r#"excludes = { "/missing" = "u2" }"#, body, &[]).is_empty(), "absent holds nothing");
        assert_eq!(check_with_saved(r#"excludes = { "/challenges/0/type" = "u2" }"#, body, &[]).len(), 1, "not an array");
        let wanted = r#"contains_match = { "/challenges" = { type = "http-01", status = "invalid" } }"#;
        assert!(check_with_saved(wanted, body, &[]).is_empty());
        let other = r#"contains_match = { "/challenges" = { type = "http-01", status = "valid" } }"#;
        assert_eq!(check_with_saved(other, body, &[]).len(), 1);
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let with = |headers: &[(&'static str, &str)]| {
            check_response("retry_after = true", &response("https://ca/x", headers, "{}"), &[])
        };
        assert!(with(&[("retry-after", "120")]).is_empty());
        assert!(with(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]).is_empty());
        assert_eq!(with(&[]).len(), 1);
        assert_eq!(with(&[("retry-after", "in a minute")]).len(), 1);
        assert_eq!(with(&[("retry-after", "1.5")]).len(), 1);
        assert_eq!(with(&[("retry-after", "1"), ("retry-after", "2")]).len(), 1, "two values are no single answer");
    }

    #[test]
    fn leaf_same_as_compares_first_certificates() {
        let pem = |b: &[u8]| {
            use base64::Engine;
            format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", base64::engine::general_purpose::STANDARD.encode(b))
        };
        let chain = format!("{}{}", pem(b"leaf"), pem(b"issuer"));
        let alternate = format!("{}{}", pem(b"leaf"), pem(b"other issuer"));
        let leafless = pem(b"other issuer");
        let expect = r#"leaf_same_as = "chain""#;
        assert!(check_with_saved(expect, &alternate, &[("chain", &chain)]).is_empty());
        assert_eq!(check_with_saved(expect, &leafless, &[("chain", &chain)]).len(), 1);
        assert_eq!(check_with_saved(expect, &alternate, &[]).len(), 1, "nothing saved is a mismatch");
    }
}
