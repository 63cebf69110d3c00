//! Requirements that bind every answer a server gives, checked over the whole run.
//!
//! "Every successful response to a POST request" carries a Replay-Nonce (RFC 8555 §6.5),
//! no problem `type` in the ACME namespace is unregistered (§6.7), no token serves two
//! challenges (§8.3): a case that provokes a few answers tests them on those few, while
//! a server may break them only on a finalize, a keyChange or a rate-limit error. So
//! every case's answers are read as it finishes, and the case that judges the
//! requirement (an `audit-run` step) runs last and judges them all, once.

use crate::protocol::wire::ERROR_NS;
use crate::protocol::http::Transcript;
use crate::runner::expect::{Mismatch, unregistered_types_in};
use crate::scenario::Audit;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What the answers of the run so far showed.
#[derive(Debug)]
pub(crate) struct RunAudit {
    /// The server's origin: answers from elsewhere (a capabilities trigger) are not its.
    origin: Option<url::Origin>,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Answers carrying a `type` under the ACME namespace, and those with unregistered ones.
    typed_answers: usize,
    unregistered: Vec<String>,
    /// Successful answers to POSTs, and those without Replay-Nonce.
    successful_posts: usize,
    posts_without_nonce: Vec<String>,
    /// Token → the challenge URLs it was seen for, with the case that saw it first.
    tokens: BTreeMap<String, BTreeMap<String, String>>,
}

/// Most offending answers quoted in one verdict: enough to find the code path.
const QUOTED: usize = 5;

impl RunAudit {
    /// An audit of the server whose directory is `directory_url`.
    pub(crate) fn new(directory_url: &str) -> Self {
        RunAudit { origin: url::Url::parse(directory_url).ok().map(|u| u.origin()), seen: Mutex::default() }
    }

    /// Reads the answers `case` got from the server.
    pub(crate) fn absorb(&self, case: &str, transcript: &Transcript) {
        let mut seen = self.seen.lock().expect("audit lock");
        let from_server = |url: &str| url::Url::parse(url).ok().map(|u| u.origin()) == self.origin;
        for a in transcript.answers().filter(|a| from_server(a.url)) {
            let about = || format!("{case}: HTTP {} to {} {}", a.status, a.method, a.url);
            let mentions = |needle: &str| a.body.windows(needle.len()).any(|w| w == needle.as_bytes());
            if a.method == reqwest::Method::POST && (200..300).contains(&a.status) {
                seen.successful_posts += 1;
                if a.headers.get("replay-nonce").is_none() {
                    seen.posts_without_nonce.push(about());
                }
            }
            let typed = mentions(ERROR_NS);
            let tokened = mentions("\"token\"");
            if !(typed || tokened) {
                continue;
            }
            let Ok(body) = serde_json::from_slice::<serde_json::Value>(a.body) else { continue };
            if typed {
                seen.typed_answers += 1;
                let bad = unregistered_types_in(&body);
                if !bad.is_empty() {
                    seen.unregistered.push(format!("{}: {}", about(), bad.join(", ")));
                }
            }
            let challenges = body.get("challenges").and_then(|c| c.as_array()).cloned().unwrap_or_else(|| vec![body.clone()]);
            for c in challenges {
                if let (Some(token), Some(url)) = (c.get("token").and_then(|t| t.as_str()), c.get("url").and_then(|u| u.as_str())) {
                    seen.tokens.entry(token.to_owned()).or_default().entry(url.to_owned()).or_insert_with(|| case.to_owned());
                }
            }
        }
    }

    /// Judges `audit` on every answer read so far.
    pub(crate) fn check(&self, audit: Audit) -> Result<(), Vec<Mismatch>> {
        let seen = self.seen.lock().expect("audit lock");
        let quote = |list: &[String]| {
            let more = list.len().saturating_sub(QUOTED);
            let tail = if more > 0 { format!("; and {more} more") } else { String::new() };
            format!("{}{tail}", list.iter().take(QUOTED).cloned().collect::<Vec<_>>().join("; "))
        };
        let (expected, offending, looked_at) = match audit {
            Audit::RegisteredTypes => (
                "no unregistered problem type under urn:ietf:params:acme:error: in any answer of the run (RFC 8555 §6.7)",
                seen.unregistered.clone(),
                seen.typed_answers,
            ),
            Audit::ReplayNonce => (
                "a Replay-Nonce on every successful answer to a POST in the run (RFC 8555 §6.5)",
                seen.posts_without_nonce.clone(),
                seen.successful_posts,
            ),
            Audit::UniqueTokens => {
                let shared: Vec<String> = seen
                    .tokens
                    .iter()
                    .filter(|(_, urls)| urls.len() > 1)
                    .map(|(token, urls)| {
                        let urls: Vec<String> = urls.iter().map(|(url, case)| format!("{url} ({case})")).collect();
                        format!("token {token} for {}", urls.join(" and "))
                    })
                    .collect();
                ("a token of its own for every challenge (RFC 8555 §8.3: at least 128 bits of entropy)", shared, seen.tokens.len())
            }
        };
        if looked_at == 0 {
            return Err(vec![Mismatch { expected: expected.into(), observed: "no answer of the run to check".into() }]);
        }
        if offending.is_empty() {
            return Ok(());
        }
        Err(vec![Mismatch { expected: expected.into(), observed: format!("{} of {looked_at}: {}", offending.len(), quote(&offending)) }])
    }
}
