//! Client adapters: how to drive one ACME client program, as data.
//!
//! A file under `fixtures/clients/` (in the spirit of BoGo's shim contract) names the
//! client, the command that prints its version, and one command template per
//! operation. Templates are argv lists (no shell) with placeholders the runner fills
//! in per scenario. An operation the file does not list, or a command that exits 127,
//! is `unsupported`, never a failure.

use crate::client::ChallengeType;
use crate::clients::scenario::Operation;
use crate::scenario::{LoadError, line_of, toml_error};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// One command an adapter can provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AdapterOp {
    /// Obtain a certificate with http-01, serving the challenge on `{http_port}`.
    #[serde(rename = "issue-http-01")]
    IssueHttp01,
    /// Obtain a certificate with dns-01, publishing TXT records through `{dns_hook}`.
    #[serde(rename = "issue-dns-01")]
    IssueDns01,
    /// Obtain a certificate with tls-alpn-01, serving the challenge on `{tls_port}`.
    #[serde(rename = "issue-tls-alpn-01")]
    IssueTlsAlpn01,
    /// Renew the certificate obtained before (a fresh order, http-01 on `{http_port}`).
    #[serde(rename = "renew")]
    Renew,
    /// Revoke the certificate obtained before.
    #[serde(rename = "revoke")]
    Revoke,
    /// Roll the account key over (§7.3.5).
    #[serde(rename = "key-rollover")]
    KeyRollover,
    /// Deactivate the account (§7.3.6).
    #[serde(rename = "deactivate")]
    Deactivate,
    /// Renew the certificate obtained before only if the CA's renewal information
    /// (RFC 9773) says it is due, http-01 on `{http_port}`; nothing may force it.
    #[serde(rename = "ari-renew")]
    AriRenew,
}

impl AdapterOp {
    /// The name used in adapter files and reports.
    pub fn name(self) -> &'static str {
        match self {
            AdapterOp::IssueHttp01 => "issue-http-01",
            AdapterOp::IssueDns01 => "issue-dns-01",
            AdapterOp::IssueTlsAlpn01 => "issue-tls-alpn-01",
            AdapterOp::Renew => "renew",
            AdapterOp::Revoke => "revoke",
            AdapterOp::KeyRollover => "key-rollover",
            AdapterOp::Deactivate => "deactivate",
            AdapterOp::AriRenew => "ari-renew",
        }
    }

    /// The issuing command for a challenge type.
    pub fn issue(challenge: ChallengeType) -> AdapterOp {
        match challenge {
            ChallengeType::Http01 => AdapterOp::IssueHttp01,
            ChallengeType::Dns01 => AdapterOp::IssueDns01,
            ChallengeType::TlsAlpn01 => AdapterOp::IssueTlsAlpn01,
        }
    }

    /// The commands a scenario runs, in order: every operation but `issue` first
    /// obtains a certificate with the scenario's challenge type.
    pub fn sequence(operation: Operation, challenge: ChallengeType) -> Vec<AdapterOp> {
        let issue = AdapterOp::issue(challenge);
        match operation {
            Operation::Issue => vec![issue],
            Operation::Renew => vec![issue, AdapterOp::Renew],
            Operation::Revoke => vec![issue, AdapterOp::Revoke],
            Operation::KeyRollover => vec![issue, AdapterOp::KeyRollover],
            Operation::Deactivate => vec![issue, AdapterOp::Deactivate],
            Operation::AriRenew => vec![issue, AdapterOp::AriRenew],
        }
    }
}

/// One command template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Program and arguments; placeholders allowed in every element.
    pub argv: Vec<String>,
    /// Extra environment for this command (added to the adapter-wide `env`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// An adapter file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adapter {
    /// The client's name (`lego`).
    pub name: String,
    /// Free text (package, version tested, known limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The command that prints the client's version.
    pub version: Vec<String>,
    /// The flag put before each name where `{domains_flags}` stands (`--domains`, `-d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_flag: Option<String>,
    /// What `{eab_flags}` expands to when the scenario requires external account binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eab_flags: Option<Vec<String>>,
    /// What `{preferred_chain_flags}` expands to when the scenario asks for a chain;
    /// without it, such scenarios are `unsupported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_chain_flags: Option<Vec<String>>,
    /// The PEM file in which the client keeps the chain it chose (placeholders allowed),
    /// so the chain it ended with can be compared with the one it was asked to prefer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_file: Option<String>,
    /// Environment for every command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Command templates by operation.
    #[serde(default)]
    pub operations: BTreeMap<AdapterOp, Spanned<Template>>,
    /// The file it was read from (set by the loader).
    #[serde(skip)]
    pub file: PathBuf,
}

/// Placeholders that stand for text inside an element.
pub const INLINE_PLACEHOLDERS: &[&str] = &[
    "directory", "ca_bundle", "domain", "domains_csv", "http_port", "tls_port", "workdir", "dns_hook", "dns_server",
    "management", "eab_kid", "eab_hmac", "preferred_chain",
];

/// Placeholders that must be a whole argv element and expand to zero or more elements.
pub const LIST_PLACEHOLDERS: &[&str] = &["domains_flags", "eab_flags", "preferred_chain_flags"];

/// The values a scenario run fills into a template.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// The mock CA's directory URL.
    pub directory: String,
    /// PEM file with the root of the mock CA's HTTPS listener.
    pub ca_bundle: String,
    /// The names to order, first one first.
    pub domains: Vec<String>,
    /// Port the client's http-01 server must listen on (127.0.0.1).
    pub http_port: u16,
    /// Port the client's tls-alpn-01 server must listen on (127.0.0.1).
    pub tls_port: u16,
    /// The scenario's working directory (the client's state lives here).
    pub workdir: String,
    /// The dns-01 hook script.
    pub dns_hook: String,
    /// The mock CA's DNS server, `127.0.0.1:PORT`.
    pub dns_server: String,
    /// The mock CA's management URL.
    pub management: String,
    /// EAB key id and base64url HMAC key, when the scenario requires EAB.
    pub eab: Option<(String, String)>,
    /// The Subject CN naming the chain to prefer, when the scenario asks for one.
    pub preferred_chain: Option<String>,
}

/// A template with every placeholder filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// Which operation.
    pub op: AdapterOp,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment added to the harness's own.
    pub env: Vec<(String, String)>,
}

/// The placeholders of one element: `(name, start, end)` byte ranges including braces.
fn placeholders(s: &str) -> Result<Vec<(&str, usize, usize)>, String> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = s[rest..].find('{').map(|i| i + rest) {
        let close = s[open..].find('}').map(|i| i + open).ok_or_else(|| format!("unclosed `{{` in {s:?}"))?;
        out.push((&s[open + 1..close], open, close + 1));
        rest = close + 1;
    }
    Ok(out)
}

impl Adapter {
    /// Reads and checks an adapter file.
    pub fn load(path: &Path) -> Result<Adapter, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError { file: path.to_owned(), line: None, message: e.to_string() })?;
        Self::parse(path, &text)
    }

    /// Parses and checks adapter text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Adapter, LoadError> {
        let mut adapter: Adapter = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        adapter.file = path.to_owned();
        let err = |line: Option<usize>, message: String| LoadError { file: path.to_owned(), line, message };
        if adapter.name.trim().is_empty() {
            return Err(err(None, "name is empty".into()));
        }
        if adapter.version.is_empty() {
            return Err(err(None, "version must be a command (an argv list)".into()));
        }
        let check_inline = |s: &str, line: Option<usize>| -> Result<(), LoadError> {
            for (name, _, _) in placeholders(s).map_err(|e| err(line, e))? {
                if LIST_PLACEHOLDERS.contains(&name) {
                    return Err(err(line, format!("{{{name}}} must be a whole argv element")));
                }
                if !INLINE_PLACEHOLDERS.contains(&name) {
                    return Err(err(
                        line,
                        format!("unknown placeholder {{{name}}}; known: {INLINE_PLACEHOLDERS:?} and, as whole elements, {LIST_PLACEHOLDERS:?}"),
                    ));
                }
            }
            Ok(())
        };
        let flags = adapter.eab_flags.iter().flatten().chain(adapter.preferred_chain_flags.iter().flatten());
        for v in adapter.env.values().chain(flags).chain(&adapter.chain_file) {
            check_inline(v, None)?;
        }
        for (op, template) in &adapter.operations {
            let line = Some(line_of(text, template.span().start));
            let t = template.get_ref();
            if t.argv.is_empty() {
                return Err(err(line, format!("operation {}: argv is empty", op.name())));
            }
            for element in &t.argv {
                match element.as_str() {
                    "{domains_flags}" if adapter.domain_flag.is_none() => {
                        return Err(err(line, format!("operation {}: {{domains_flags}} needs `domain_flag`", op.name())));
                    }
                    "{eab_flags}" if adapter.eab_flags.is_none() => {
                        return Err(err(line, format!("operation {}: {{eab_flags}} needs `eab_flags`", op.name())));
                    }
                    "{preferred_chain_flags}" if adapter.preferred_chain_flags.is_none() => {
                        let message = format!("operation {}: {{preferred_chain_flags}} needs `preferred_chain_flags`", op.name());
                        return Err(err(line, message));
                    }
                    "{domains_flags}" | "{eab_flags}" | "{preferred_chain_flags}" => {}
                    other => check_inline(other, line)?,
                }
            }
            for v in t.env.values() {
                check_inline(v, line)?;
            }
        }
        Ok(adapter)
    }

    /// The template of `op`, if the client supports it.
    pub fn template(&self, op: AdapterOp) -> Option<&Template> {
        self.operations.get(&op).map(Spanned::get_ref)
    }

    /// Fills in the template of `op`; `None` when the adapter has none.
    pub fn render(&self, op: AdapterOp, b: &Bindings) -> Option<CommandSpec> {
        let t = self.template(op)?;
        let mut argv = Vec::new();
        for element in &t.argv {
            match element.as_str() {
                "{domains_flags}" => {
                    let flag = self.domain_flag.clone().unwrap_or_default();
                    for d in &b.domains {
                        argv.push(flag.clone());
                        argv.push(d.clone());
                    }
                }
                "{eab_flags}" => {
                    if b.eab.is_some() {
                        argv.extend(self.eab_flags.iter().flatten().map(|e| fill(e, b)));
                    }
                }
                "{preferred_chain_flags}" => {
                    if b.preferred_chain.is_some() {
                        argv.extend(self.preferred_chain_flags.iter().flatten().map(|e| fill(e, b)));
                    }
                }
                other => argv.push(fill(other, b)),
            }
        }
        let env = self.env.iter().chain(&t.env).map(|(k, v)| (k.clone(), fill(v, b))).collect();
        Some(CommandSpec { op, argv, env })
    }

    /// Where the client keeps the chain it chose, with the placeholders filled in.
    pub fn chain_file(&self, b: &Bindings) -> Option<PathBuf> {
        self.chain_file.as_deref().map(|f| PathBuf::from(fill(f, b)))
    }
}

fn fill(s: &str, b: &Bindings) -> String {
    let Ok(found) = placeholders(s) else { return s.to_owned() };
    let mut out = String::new();
    let mut last = 0;
    for (name, start, end) in found {
        out.push_str(&s[last..start]);
        let value = match name {
            "directory" => b.directory.clone(),
            "ca_bundle" => b.ca_bundle.clone(),
            "domain" => b.domains.first().cloned().unwrap_or_default(),
            "domains_csv" => b.domains.join(","),
            "http_port" => b.http_port.to_string(),
            "tls_port" => b.tls_port.to_string(),
            "workdir" => b.workdir.clone(),
            "dns_hook" => b.dns_hook.clone(),
            "dns_server" => b.dns_server.clone(),
            "management" => b.management.clone(),
            "eab_kid" => b.eab.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
            "eab_hmac" => b.eab.as_ref().map(|e| e.1.clone()).unwrap_or_default(),
            "preferred_chain" => b.preferred_chain.clone().unwrap_or_default(),
            _ => s[start..end].to_owned(),
        };
        out.push_str(&value);
        last = end;
    }
    out.push_str(&s[last..]);
    out
}

/// The dns-01 hook the runner writes into each scenario's work directory as
/// `dns-hook.sh`: it publishes and removes TXT records through the mock CA's
/// challtestsrv-compatible `/set-txt` and `/clear-txt`.
///
/// Called as `dns-hook.sh present|cleanup FQDN VALUE` (lego's `exec` provider), or as
/// `dns-hook.sh present|cleanup` with `CERTBOT_DOMAIN` and `CERTBOT_VALIDATION` set
/// (certbot's manual hooks).
pub fn dns_hook_script(management_url: &str) -> String {
    format!(
        r#"#!/bin/sh
# acmespec dns-01 hook: publishes TXT records through the mock CA's management API
# (challtestsrv-compatible POST /set-txt and /clear-txt).
#   lego (exec provider): dns-hook.sh present|cleanup FQDN VALUE
#   certbot (manual hooks): dns-hook.sh present|cleanup  with CERTBOT_DOMAIN, CERTBOT_VALIDATION
mgmt='{management_url}'
action="$1"; fqdn="$2"; value="$3"
if [ -z "$fqdn" ] && [ -n "$CERTBOT_DOMAIN" ]; then
  fqdn="_acme-challenge.${{CERTBOT_DOMAIN#\*.}}."
  value="$CERTBOT_VALIDATION"
fi
[ -n "$fqdn" ] || {{ echo "dns-hook: no name given" >&2; exit 2; }}
case "$fqdn" in *.) ;; *) fqdn="$fqdn." ;; esac
case "$action" in
  present) path=/set-txt; body="{{\"host\":\"$fqdn\",\"value\":\"$value\"}}" ;;
  cleanup) path=/clear-txt; body="{{\"host\":\"$fqdn\"}}" ;;
  *) echo "dns-hook: unknown action $action" >&2; exit 2 ;;
esac
if command -v curl >/dev/null 2>&1; then
  exec curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' --data "$body" "$mgmt$path"
fi
exec python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={{"Content-Type": "application/json"}}), timeout=10)' "$mgmt$path" "$body"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "lego"
version = ["lego", "--version"]
domain_flag = "--domains"
eab_flags = ["--eab", "--kid", "{eab_kid}", "--hmac", "{eab_hmac}"]
preferred_chain_flags = ["--preferred-chain", "{preferred_chain}"]
chain_file = "{workdir}/certificates/{domain}.issuer.crt"

[env]
LEGO_CA_CERTIFICATES = "{ca_bundle}"

[operations.issue-http-01]
argv = ["lego", "--server", "{directory}", "{eab_flags}", "{domains_flags}", "--http.port", "127.0.0.1:{http_port}", "run", "{preferred_chain_flags}"]
env = { X = "{workdir}/x" }
"#;

    fn parse(text: &str) -> Result<Adapter, LoadError> {
        Adapter::parse(Path::new("fixtures/clients/t.toml"), text)
    }

    fn bindings() -> Bindings {
        Bindings {
            directory: "https://127.0.0.1:1/directory".into(),
            ca_bundle: "/w/ca.pem".into(),
            domains: vec!["a.test".into(), "*.a.test".into()],
            http_port: 5002,
            workdir: "/w".into(),
            ..Bindings::default()
        }
    }

    #[test]
    fn templates_render() {
        let a = parse(GOOD).unwrap();
        let cmd = a.render(AdapterOp::IssueHttp01, &bindings()).unwrap();
        assert_eq!(
            cmd.argv,
            [
                "lego", "--server", "https://127.0.0.1:1/directory", "--domains", "a.test", "--domains", "*.a.test",
                "--http.port", "127.0.0.1:5002", "run"
            ]
        );
        assert_eq!(cmd.env, [("LEGO_CA_CERTIFICATES".into(), "/w/ca.pem".into()), ("X".into(), "/w/x".into())]);
        let eab = Bindings { eab: Some(("kid-1".into(), "c2VjcmV0".into())), ..bindings() };
        let cmd = a.render(AdapterOp::IssueHttp01, &eab).unwrap();
        assert_eq!(cmd.argv[3..8], ["--eab", "--kid", "kid-1", "--hmac", "c2VjcmV0"]);
        let chain = Bindings { preferred_chain: Some("root B".into()), ..bindings() };
        let cmd = a.render(AdapterOp::IssueHttp01, &chain).unwrap();
        assert_eq!(cmd.argv[cmd.argv.len() - 3..], ["run", "--preferred-chain", "root B"]);
        assert_eq!(a.chain_file(&chain), Some(PathBuf::from("/w/certificates/a.test.issuer.crt")));
        assert!(a.render(AdapterOp::Revoke, &bindings()).is_none(), "no template: unsupported");
    }

    #[test]
    fn mistakes_are_refused_with_a_line() {
        let e = parse(&GOOD.replace("{http_port}", "{htp_port}")).unwrap_err();
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.message.contains("unknown placeholder {htp_port}"), "{e}");
        let e = parse(&GOOD.replace("\"{domains_flags}\"", "\"x{domains_flags}\"")).unwrap_err();
        assert!(e.message.contains("whole argv element"), "{e}");
        let e = parse(&GOOD.replace("domain_flag = \"--domains\"\n", "")).unwrap_err();
        assert!(e.message.contains("needs `domain_flag`"), "{e}");
        let e = parse(&GOOD.replace("preferred_chain_flags = [\"--preferred-chain\", \"{preferred_chain}\"]\n", "")).unwrap_err();
        assert!(e.message.contains("needs `preferred_chain_flags`"), "{e}");
        let e = parse(&GOOD.replace("{domain}.issuer.crt", "{domian}.issuer.crt")).unwrap_err();
        assert!(e.message.contains("unknown placeholder {domian}"), "{e}");
        let e = parse(&GOOD.replace("issue-http-01", "issue-http-02")).unwrap_err();
        assert!(e.message.contains("issue-http-02"), "{e}");
        let e = parse(&GOOD.replace("env = {", "envv = {")).unwrap_err();
        assert!(e.message.contains("envv"), "{e}");
    }

    #[test]
    fn the_hook_script_is_valid_shell() {
        let script = dns_hook_script("http://127.0.0.1:9");
        let status = std::process::Command::new("sh").args(["-n", "-c", &script]).status().expect("sh runs");
        assert!(status.success(), "{script}");
    }
}
