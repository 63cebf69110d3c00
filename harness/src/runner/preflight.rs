//! Preflight: what every case needs is tried once before any case runs.
//!
//! Every case fetches the directory, takes nonces and makes an account with the run's
//! settings. When one of those cannot work (an untrusted HTTPS root, a CA that requires
//! a contact or an account binding the run lacks, a URL that is no ACME server), every
//! case would report the same error, or worse, `fail` at its first step for a policy
//! the RFC leaves to the server. So the run tries them once, and on failure stops with
//! one message: what was sent, what came back, and the flag that fixes it.

use crate::protocol::http::{HttpClient, HttpError};
use crate::protocol::wire::Directory;
use crate::runner::exec::{CaseRun, Env, StepError};
use crate::scenario::{Feature, Step};
use std::fmt;

/// Why the run stopped before its first case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightFailure {
    /// What was being tried: `directory`, `newNonce` or `newAccount`.
    pub stage: &'static str,
    /// The request, as sent.
    pub sent: String,
    /// What came back, or why nothing did.
    pub received: String,
    /// The flag or setting that most likely fixes it.
    pub fix: Option<String>,
}

impl fmt::Display for PreflightFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "preflight failed at {}: no case can run until this works", self.stage)?;
        writeln!(f, "  sent:     {}", self.sent)?;
        write!(f, "  received: {}", self.received)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix:      {fix}")?;
        }
        Ok(())
    }
}

/// The flag that fixes a transport failure, when one does.
fn transport_fix(e: &HttpError) -> Option<String> {
    let text = e.to_string().to_ascii_lowercase();
    if matches!(e, HttpError::Timeout(_)) {
        return Some("a slow server needs a longer --timeout SECONDS (per request)".into());
    }
    if text.contains("certificate") || text.contains("unknownissuer") || text.contains("tls") {
        return Some("trust the server's HTTPS root: --ca-cert ROOT.pem".into());
    }
    if matches!(e, HttpError::Connect(_)) {
        return Some("check that the server is running and --directory names its directory URL".into());
    }
    None
}

/// Fetches and checks the directory; the failure says why the URL is not usable.
pub(crate) async fn discover(client: &HttpClient, url: &str) -> Result<(Directory, Option<String>), PreflightFailure> {
    let sent = format!("GET {url}");
    let refuse = |received: String, fix: Option<&str>| PreflightFailure {
        stage: "directory",
        sent: sent.clone(),
        received,
        fix: fix.map(str::to_owned),
    };
    let resp = client.get(url).await.map_err(|e| PreflightFailure { fix: transport_fix(&e), ..refuse(e.to_string(), None) })?;
    const NAME_IT: &str = "--directory must name the server's ACME directory URL (RFC 8555 §7.1.1)";
    if resp.status != 200 {
        return Err(refuse(format!("{}: not an ACME directory (RFC 8555 §7.1.1 answers 200)", resp.summary()), Some(NAME_IT)));
    }
    let body = resp.json().map_err(|e| refuse(format!("HTTP 200 whose body is not JSON ({e})"), Some(NAME_IT)))?;
    let dir = lenient_directory(&body);
    let missing: Vec<&str> = [("newNonce", &dir.new_nonce), ("newAccount", &dir.new_account), ("newOrder", &dir.new_order)]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        return Err(refuse(format!("a JSON object without {}: not an ACME directory", missing.join(", ")), Some(NAME_IT)));
    }
    Ok((dir, resp.header("server").map(str::to_owned)))
}

/// Reads the directory without failing on malformed optional parts: a bad `meta` is
/// for the directory cases to report, not a reason to abandon the whole run.
fn lenient_directory(body: &serde_json::Value) -> Directory {
    let url = |k: &str| body.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    Directory {
        new_nonce: url("newNonce"),
        new_account: url("newAccount"),
        new_order: url("newOrder"),
        new_authz: url("newAuthz"),
        revoke_cert: url("revokeCert"),
        key_change: url("keyChange"),
        renewal_info: url("renewalInfo"),
        meta: body.get("meta").and_then(|m| serde_json::from_value(m.clone()).ok()),
        extra: serde_json::Map::new(),
    }
}

/// Takes a nonce and makes one account the way every case will, before any case runs.
pub(crate) async fn check(env: &Env) -> Result<(), PreflightFailure> {
    let new_nonce = env.directory.new_nonce.clone().unwrap_or_default();
    env.client.nonce(&new_nonce).await.map_err(|e| PreflightFailure {
        stage: "newNonce",
        sent: format!("HEAD {new_nonce}"),
        received: e.to_string(),
        fix: match &e {
            crate::protocol::http::NonceError::Http(h) => transport_fix(h),
            _ => None,
        },
    })?;
    if env.contacts.is_empty() && env.capabilities.declared(Feature::ContactRequired) == Some(true) {
        return Err(PreflightFailure {
            stage: "newAccount",
            sent: "nothing: the capabilities file says contact-required".into(),
            received: "no --contact for the run's accounts".into(),
            fix: Some(CONTACT_FIX.into()),
        });
    }
    let step: Step = serde_json::from_value(serde_json::json!({ "action": "new-account" })).expect("a plain new-account step");
    let mut run = CaseRun::new(env, &[]);
    let outcome = run.run_step(&step).await;
    let transcript = env.client.take_transcript().decode();
    let exchange = transcript.last();
    let sent = match exchange {
        Some(x) => {
            let payload = x.request.body.as_ref().and_then(|b| b.get("decoded_payload")).map(|p| format!(" payload {p}"));
            format!("{} {}{}", x.request.method, x.request.url, payload.unwrap_or_default())
        }
        None => format!("POST {}", env.directory.new_account.clone().unwrap_or_default()),
    };
    let received = match &outcome {
        Ok(_) => return Ok(()),
        Err(StepError::Error(why) | StepError::Unsupported(why)) => why.clone(),
        Err(StepError::Fail(m)) => m.iter().map(|m| m.observed.as_str()).collect::<Vec<_>>().join("; "),
        Err(StepError::Unproven { mismatch, .. }) => mismatch.observed.clone(),
    };
    let problem = exchange.and_then(|x| x.response.as_ref()?.body.as_ref()).map(|body| {
        let member = |k: &str| body.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        (member("type"), member("detail"))
    });
    Err(PreflightFailure { stage: "newAccount", fix: account_fix(env, problem.as_ref()), sent, received })
}

const CONTACT_FIX: &str = "the server wants a contact on every account: --contact mailto:you@example.org (repeatable)";

/// The setting that most likely makes newAccount succeed, from the refusal's problem
/// type and detail (worded freely by servers, so only for this advice, never a verdict).
fn account_fix(env: &Env, problem: Option<&(String, String)>) -> Option<String> {
    let (kind, detail) = problem?;
    let name = kind.rsplit(':').next().unwrap_or(kind);
    let detail = detail.to_ascii_lowercase();
    let eab = name == "externalAccountRequired" || detail.contains("external account");
    let contact = matches!(name, "invalidContact" | "unsupportedContact") || detail.contains("contact");
    let terms = name == "userActionRequired" || detail.contains("terms");
    Some(match () {
        _ if eab && env.eab.is_none() => {
            "the server requires external account binding: --eab KID:BASE64URL_MAC_KEY (from the CA)".into()
        }
        _ if eab => "the server refused the binding made with --eab: check its key id and MAC key".into(),
        _ if contact && env.contacts.is_empty() => CONTACT_FIX.into(),
        _ if contact => "the server refused the --contact URLs: give ones it accepts (mailto: is the common scheme)".into(),
        _ if terms => {
            "the run agreed to the terms (termsOfServiceAgreed: true); the server wants more: see its detail and instance URL"
                .into()
        }
        _ if name == "rateLimited" => "the server rate-limits new accounts: wait for its Retry-After, then run again".into(),
        _ if name == "badSignatureAlgorithm" => {
            "the server refused ES256, which RFC 8555 §6.2 says every server MUST implement".into()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_name_the_flag_that_fixes_them() {
        let untrusted = HttpError::Connect("error sending request: invalid peer certificate: UnknownIssuer".into());
        assert!(transport_fix(&untrusted).unwrap().contains("--ca-cert"));
        let slow = HttpError::Timeout(std::time::Duration::from_secs(10));
        assert!(transport_fix(&slow).unwrap().contains("--timeout"));
        let refused = HttpError::Connect("tcp connect error: Connection refused".into());
        assert!(transport_fix(&refused).unwrap().contains("--directory"));
        assert_eq!(transport_fix(&HttpError::BodyTooLarge { limit: 1 }), None);
    }

    #[test]
    fn the_failure_reads_as_sent_received_fix() {
        let failure = PreflightFailure {
            stage: "newAccount",
            sent: "POST https://ca/new-acct {}".into(),
            received: "HTTP 400".into(),
            fix: Some(CONTACT_FIX.into()),
        };
        let text = failure.to_string();
        assert!(text.starts_with("preflight failed at newAccount"), "{text}");
        assert!(text.contains("  sent:     POST https://ca/new-acct {}\n  received: HTTP 400\n  fix:      "), "{text}");
    }
}
