//! Grouping findings by root cause: the class of the answer, the mutations named, and
//! the shape of the server's problem detail with its variable parts (URLs, quoted
//! values, numbers) blanked, so that one deviation is one cluster however often it
//! is hit.

use super::*;

/// `500`, `400 badNonce`, `201`, `none`: what kind of answer came back.
pub(super) fn response_class(sent: &Sent) -> String {
    match &sent.response {
        None => "none".into(),
        Some(r) => match r.problem().and_then(|p| p.kind) {
            Some(kind) => format!("{} {}", r.status, kind.strip_prefix("urn:ietf:params:acme:error:").unwrap_or(&kind)),
            None => r.status.to_string(),
        },
    }
}

pub(super) fn names(mutations: &[Mutation]) -> Vec<String> {
    mutations.iter().map(|m| m.name().to_owned()).collect()
}

/// The cause of a broken oracle as a server developer would name the bug, the key of
/// its cluster together with the oracle. What identifies the code at fault depends on
/// the oracle:
/// - a bad error answer (5xx, not a problem document, unregistered type) comes from the
///   code path that wrote it, which its status, problem type and the shape of its
///   detail text name; the endpoint and mutations only show the many ways to reach it;
/// - whether Replay-Nonce is set is decided by the layer that writes the response (an
///   error writer, a body-size limit, a router), which the status tells apart and the
///   detail does not; successes count as one status class, since 200 or 201 is the
///   endpoint's business;
/// - an accepted request is one check missing, named by the rule the minimal request
///   breaks;
/// - slowness belongs to the resource, whatever the answer;
/// - a lost answer is known by what the connection died of.
pub(super) fn root_cause(broken: &Broken, endpoint: Endpoint, sent: &Sent) -> String {
    let response = sent.response.as_ref();
    match broken.oracle.as_str() {
        "accepted-invalid" => format!("({})", broken.rfc),
        "slow-response" => endpoint.name().into(),
        "replay-nonce" => match response.map_or(0, |r| r.status) {
            status @ 0..400 => format!("{}xx", status / 100),
            status => status.to_string(),
        },
        "no-answer" => format!("\"{}\"", detail_shape(sent.exchange.as_ref().and_then(|e| e.error.as_deref()).unwrap_or_default())),
        _ => format!("{} \"{}\"", response_class(sent), detail_shape(&response.map(said).unwrap_or_default())),
    }
}

/// What an answer says in words: its problem document's detail, or else the first line
/// of its body.
pub(super) fn said(r: &Response) -> String {
    match serde_json::from_slice::<Problem>(&r.body) {
        Ok(Problem { detail: Some(detail), .. }) => detail,
        _ => String::from_utf8_lossy(&r.body).lines().next().unwrap_or_default().to_owned(),
    }
}

/// Length of shape (in bytes) past which the rest of a detail is left out: it is then
/// usually an echo of the request, and leaving it keeps the work bounded for any body.
pub(super) const SHAPE_LEN: usize = 160;

/// The shape of a server's error text: what two answers of the same code path have in
/// common. URLs, quoted values, identifiers (nonces, account and order ids, hashes) and
/// numbers differ between requests that reach the same `fmt.Errorf`, so they become
/// `<url>`, `"..."`, `<id>` and `<n>`; whitespace runs become one space.
pub(super) fn detail_shape(text: &str) -> String {
    let mut shape = String::new();
    let mut rest = text.trim();
    let mut previous = None;
    while let Some(c) = rest.chars().next() {
        if shape.len() >= SHAPE_LEN {
            shape.push_str("...");
            break;
        }
        let taken = if let Some(n) = url_len(rest) {
            shape.push_str("<url>");
            n
        } else if let Some(n) = quoted_len(rest, previous) {
            shape.extend([c, '.', '.', '.', c]);
            n
        } else if is_word_char(c) {
            let n = rest.find(|c| !is_word_char(c)).unwrap_or(rest.len());
            push_word_shape(&rest[..n], &mut shape);
            n
        } else if c.is_whitespace() {
            shape.push(' ');
            rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len())
        } else {
            shape.push(c);
            c.len_utf8()
        };
        previous = rest[..taken].chars().next_back();
        rest = &rest[taken..];
    }
    shape
}

/// The base64url alphabet, which identifiers and words are made of.
pub(super) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Length of the absolute URL `text` starts with (`scheme://...` up to a space, quote
/// or bracket, trailing punctuation left out).
pub(super) fn url_len(text: &str) -> Option<usize> {
    let scheme = text.find(|c: char| !c.is_ascii_alphanumeric() && !"+.-".contains(c)).unwrap_or(text.len());
    if !text.starts_with(|c: char| c.is_ascii_alphabetic()) || !text[scheme..].starts_with("://") {
        return None;
    }
    let end = text.find(|c: char| c.is_whitespace() || "\"'`<>".contains(c)).unwrap_or(text.len());
    Some(text[..end].trim_end_matches(|c| ".,;:!?)]}".contains(c)).len())
}

/// Length of the quoted value `text` starts with, closing quote included. A `'` only
/// opens a quote where it cannot be an apostrophe, and only closes one before a non-word
/// character; backslash escapes (Go's `%q`, JSON) are skipped.
pub(super) fn quoted_len(text: &str, previous: Option<char>) -> Option<usize> {
    let quote = text.chars().next().filter(|q| "\"`'".contains(*q))?;
    if quote == '\'' && previous.is_some_and(|p| p.is_alphanumeric()) {
        return None;
    }
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\n' => return None,
            c if c == quote => {
                let end = i + c.len_utf8();
                let closes = quote != '\'' || !text[end..].starts_with(|c: char| c.is_alphanumeric());
                if closes {
                    return Some(end);
                }
            }
            _ => {}
        }
    }
    None
}

/// A word's shape: `<id>` for an identifier, else the word with its digit runs as `<n>`.
/// Identifiers are told from words by their mix: random base64url or hex of 8 characters
/// or more almost always has two separate runs of digits, which words like `base64url`
/// or `ES384` do not; a long run without digits is an identifier when it has adjacent
/// capitals, which camelCase names like `externalAccountRequired` do not.
pub(super) fn push_word_shape(word: &str, shape: &mut String) {
    let digit_runs = word.split(|c: char| !c.is_ascii_digit()).filter(|run| !run.is_empty()).count();
    let has_letters = word.contains(|c: char| c.is_ascii_alphabetic());
    let adjacent_capitals = word.as_bytes().windows(2).any(|w| w.iter().all(u8::is_ascii_uppercase));
    if has_letters && ((word.len() >= 8 && digit_runs >= 2) || (word.len() >= 16 && (digit_runs > 0 || adjacent_capitals))) {
        shape.push_str("<id>");
        return;
    }
    let mut in_number = false;
    for c in word.chars() {
        if !c.is_ascii_digit() {
            shape.push(c);
        } else if !in_number {
            shape.push_str("<n>");
        }
        in_number = c.is_ascii_digit();
    }
}
