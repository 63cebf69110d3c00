//! Client adapters: how to drive one ACME client program, as data.
//!
//! A file under `fixtures/clients/` (in the spirit of BoGo's shim contract) names the
//! client, the command that prints its version, and one command template per
//! operation. Templates are argv lists (no shell) with placeholders the runner fills
//! in per scenario. An operation the file does not list, or a command that exits 127,
//! is `unsupported`, never a failure.
//!
//! The contract has to fit every kind of client, not only those that run their own
//! challenge servers: a client may write token files into `{webroot}` (the harness
//! serves it), call `{http_hook}` / `{dns_hook}` in the shape of its own hook
//! convention, run helper scripts shipped beside the adapter (`{adapter_dir}`), and
//! trust the mock CA through its own environment variable or, for a client that reads
//! only the system bundle, through `trust = "system-bundle"`.

use crate::protocol::wire::ChallengeType;
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
    /// What `{profile_flags}` expands to when the scenario asks for a certificate profile
    /// (draft-ietf-acme-profiles); without it, such scenarios are `unsupported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_flags: Option<Vec<String>>,
    /// The PEM file in which the client keeps the chain it chose (placeholders allowed),
    /// so the chain it ended with can be compared with the one it was asked to prefer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_file: Option<String>,
    /// Environment for every command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How the client comes to trust the mock CA's HTTPS root, when an environment
    /// variable in `env` cannot do it.
    #[serde(default)]
    pub trust: Trust,
    /// Command templates by operation.
    #[serde(default)]
    pub operations: BTreeMap<AdapterOp, Spanned<Template>>,
    /// The file it was read from (set by the loader).
    #[serde(skip)]
    pub file: PathBuf,
}

/// How a client is made to trust the mock CA's HTTPS root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// Through the adapter's `env` (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, ...) or flags.
    #[default]
    Env,
    /// Every command runs in a private mount namespace in which the system bundle
    /// ([`SYSTEM_BUNDLE`]) holds the mock CA's root besides the system's roots: for
    /// clients whose TLS library reads nothing else. Needs root (CAP_SYS_ADMIN) and
    /// util-linux's `unshare`; the host's bundle is never touched.
    SystemBundle,
}

/// The system CA bundle `trust = "system-bundle"` replaces (Debian's, which OpenSSL,
/// GnuTLS, Go and Perl's IO::Socket::SSL read there).
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Placeholders that stand for text inside an element.
pub const INLINE_PLACEHOLDERS: &[&str] = &[
    "directory", "ca_bundle", "domain", "domains_csv", "http_port", "tls_port", "workdir", "webroot", "http_hook",
    "dns_hook", "dns_server", "management", "eab_kid", "eab_hmac", "preferred_chain", "profile", "adapter_dir",
];

/// Placeholders whose use means the harness serves http-01 for the client: from
/// `{webroot}`, where the client (or `{http_hook}`) writes the token files.
const WEBROOT_PLACEHOLDERS: &[&str] = &["webroot", "http_hook"];

/// Placeholders that must be a whole argv element and expand to zero or more elements.
pub const LIST_PLACEHOLDERS: &[&str] = &["domains", "domains_flags", "eab_flags", "preferred_chain_flags", "profile_flags"];

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
    /// The directory served over http-01 on `http_port` when the client does not serve
    /// challenges itself (token files go under `.well-known/acme-challenge/`).
    pub webroot: String,
    /// The http-01 hook script (writes token files into `webroot`).
    pub http_hook: String,
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
    /// The certificate profile to ask for, when the scenario names one.
    pub profile: Option<String>,
    /// The directory of the adapter file (helper scripts live beside it).
    pub adapter_dir: String,
    /// For `trust = "system-bundle"`: the bundle (system roots and the mock CA's) that
    /// stands in for [`SYSTEM_BUNDLE`] while a command runs.
    pub system_bundle: Option<String>,
}

/// The argv prefix that runs a command with `bundle` mounted over [`SYSTEM_BUNDLE`], in
/// a mount namespace of its own (private propagation, so the host never sees it).
fn system_bundle_wrapper(bundle: &str) -> Vec<String> {
    let script = format!("mount --bind \"$0\" {SYSTEM_BUNDLE} && exec \"$@\"");
    ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", &script, bundle].map(str::to_owned).to_vec()
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
    /// The harness serves the webroot on `{http_port}` while this command runs.
    #[serde(default)]
    pub serve_webroot: bool,
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
        let flags = [&adapter.eab_flags, &adapter.preferred_chain_flags, &adapter.profile_flags].into_iter().flatten().flatten();
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
                    "{profile_flags}" if adapter.profile_flags.is_none() => {
                        return Err(err(line, format!("operation {}: {{profile_flags}} needs `profile_flags`", op.name())));
                    }
                    "{domains}" | "{domains_flags}" | "{eab_flags}" | "{preferred_chain_flags}" | "{profile_flags}" => {}
                    other => check_inline(other, line)?,
                }
            }
            for v in t.env.values() {
                check_inline(v, line)?;
            }
        }
        Ok(adapter)
    }

    /// Whether the command of `op` leaves http-01 to the harness: it names `{webroot}`
    /// or `{http_hook}` (in its argv or environment, or the adapter's).
    pub fn serves_from_webroot(&self, op: AdapterOp) -> bool {
        let Some(t) = self.template(op) else { return false };
        let names = |s: &String| placeholders(s).map(|p| p.iter().any(|(n, _, _)| WEBROOT_PLACEHOLDERS.contains(n))).unwrap_or(false);
        t.argv.iter().chain(t.env.values()).chain(self.env.values()).any(names)
    }

    /// The directory helper scripts of this adapter live in: the one holding its file.
    pub fn dir(&self) -> PathBuf {
        let parent = self.file.parent().map(Path::to_owned).unwrap_or_default();
        std::path::absolute(&parent).unwrap_or(parent)
    }

    /// The command that prints the client's version, `{adapter_dir}` filled in (nothing
    /// else is known before a scenario runs; other braces, such as dpkg-query's
    /// `${Version}`, stay as written).
    pub fn version_command(&self) -> Vec<String> {
        let b = Bindings { adapter_dir: self.dir().display().to_string(), ..Bindings::default() };
        self.version.iter().map(|e| fill(e, &b)).collect()
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
                "{domains}" => argv.extend(b.domains.iter().cloned()),
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
                "{profile_flags}" => {
                    if b.profile.is_some() {
                        argv.extend(self.profile_flags.iter().flatten().map(|e| fill(e, b)));
                    }
                }
                other => argv.push(fill(other, b)),
            }
        }
        let env = self.env.iter().chain(&t.env).map(|(k, v)| (k.clone(), fill(v, b))).collect();
        let argv = match (self.trust, &b.system_bundle) {
            (Trust::SystemBundle, Some(bundle)) => system_bundle_wrapper(bundle).into_iter().chain(argv).collect(),
            _ => argv,
        };
        Some(CommandSpec { op, argv, env, serve_webroot: self.serves_from_webroot(op) })
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
            "webroot" => b.webroot.clone(),
            "http_hook" => b.http_hook.clone(),
            "adapter_dir" => b.adapter_dir.clone(),
            "dns_hook" => b.dns_hook.clone(),
            "dns_server" => b.dns_server.clone(),
            "management" => b.management.clone(),
            "eab_kid" => b.eab.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
            "eab_hmac" => b.eab.as_ref().map(|e| e.1.clone()).unwrap_or_default(),
            "preferred_chain" => b.preferred_chain.clone().unwrap_or_default(),
            "profile" => b.profile.clone().unwrap_or_default(),
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
/// It takes the argument shapes of the common hook conventions, so an adapter passes
/// it to the client as it is:
/// - lego's `exec` provider: `dns-hook.sh present|cleanup FQDN VALUE`;
/// - certbot's manual hooks: `dns-hook.sh present|cleanup` with `CERTBOT_DOMAIN` and
///   `CERTBOT_VALIDATION` set;
/// - dehydrated's hook: `dns-hook.sh deploy_challenge|clean_challenge DOMAIN TOKEN VALUE`
///   (its other events are ignored, as dehydrated asks of hooks);
/// - uacme's hook: `dns-hook.sh begin|done|failed TYPE IDENT TOKEN KEYAUTH` (it computes
///   the TXT value from the key authorization, and declines other challenge types with
///   exit 1 so uacme tries the next one).
pub fn dns_hook_script(management_url: &str) -> String {
    format!(
        r#"#!/bin/sh
# acmespec dns-01 hook: publishes TXT records through the mock CA's management API
# (challtestsrv-compatible POST /set-txt and /clear-txt).
#   lego (exec provider):   dns-hook.sh present|cleanup FQDN VALUE
#   certbot (manual hooks): dns-hook.sh present|cleanup  with CERTBOT_DOMAIN, CERTBOT_VALIDATION
#   dehydrated:             dns-hook.sh deploy_challenge|clean_challenge DOMAIN TOKEN VALUE
#   uacme:                  dns-hook.sh begin|done|failed dns-01 IDENT TOKEN KEYAUTH
mgmt='{management_url}'
fqdn=''; value=''
case "$1" in
  present|cleanup) action="$1"; fqdn="$2"; value="$3"
    if [ -z "$fqdn" ] && [ -n "$CERTBOT_DOMAIN" ]; then
      fqdn="_acme-challenge.${{CERTBOT_DOMAIN#\*.}}"; value="$CERTBOT_VALIDATION"
    fi ;;
  deploy_challenge|clean_challenge)
    [ "$1" = deploy_challenge ] && action=present || action=cleanup
    fqdn="_acme-challenge.${{2#\*.}}"; value="$4" ;;
  begin|done|failed)
    [ "$2" = dns-01 ] || exit 1
    [ "$1" = begin ] && action=present || action=cleanup
    fqdn="_acme-challenge.${{3#\*.}}"
    value=$(printf '%s' "$5" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=') ;;
  '') echo "dns-hook: no action given" >&2; exit 2 ;;
  *) exit 0 ;;
esac
[ -n "$fqdn" ] || {{ echo "dns-hook: no name given" >&2; exit 2; }}
case "$fqdn" in *.) ;; *) fqdn="$fqdn." ;; esac
case "$action" in
  present) path=/set-txt; body="{{\"host\":\"$fqdn\",\"value\":\"$value\"}}" ;;
  cleanup) path=/clear-txt; body="{{\"host\":\"$fqdn\"}}" ;;
esac
if command -v curl >/dev/null 2>&1; then
  exec curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' --data "$body" "$mgmt$path"
fi
exec python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={{"Content-Type": "application/json"}}), timeout=10)' "$mgmt$path" "$body"
"#
    )
}

/// The http-01 hook the runner writes into each scenario's work directory as
/// `http-hook.sh`: it writes (and removes) token files under
/// `<webroot>/.well-known/acme-challenge/`, which the harness serves on `{http_port}`.
///
/// The argument shapes are those of the common hook conventions:
/// - generic: `http-hook.sh present|cleanup DOMAIN TOKEN KEYAUTH`;
/// - certbot's manual hooks: `http-hook.sh present|cleanup` with `CERTBOT_TOKEN` and
///   `CERTBOT_VALIDATION` set;
/// - dehydrated's hook: `http-hook.sh deploy_challenge|clean_challenge DOMAIN TOKEN KEYAUTH`
///   (its other events are ignored);
/// - uacme's hook: `http-hook.sh begin|done|failed TYPE IDENT TOKEN KEYAUTH` (other
///   challenge types are declined with exit 1).
pub fn http_hook_script(webroot: &str) -> String {
    format!(
        r#"#!/bin/sh
# acmespec http-01 hook: writes token files into the webroot the harness serves.
#   generic:                http-hook.sh present|cleanup DOMAIN TOKEN KEYAUTH
#   certbot (manual hooks): http-hook.sh present|cleanup  with CERTBOT_TOKEN, CERTBOT_VALIDATION
#   dehydrated:             http-hook.sh deploy_challenge|clean_challenge DOMAIN TOKEN KEYAUTH
#   uacme:                  http-hook.sh begin|done|failed http-01 IDENT TOKEN KEYAUTH
dir='{webroot}/.well-known/acme-challenge'
case "$1" in
  present|cleanup) action="$1"; token="${{3:-$CERTBOT_TOKEN}}"; keyauth="${{4:-$CERTBOT_VALIDATION}}" ;;
  deploy_challenge|clean_challenge)
    [ "$1" = deploy_challenge ] && action=present || action=cleanup
    token="$3"; keyauth="$4" ;;
  begin|done|failed)
    [ "$2" = http-01 ] || exit 1
    [ "$1" = begin ] && action=present || action=cleanup
    token="$4"; keyauth="$5" ;;
  '') echo "http-hook: no action given" >&2; exit 2 ;;
  *) exit 0 ;;
esac
case "$token" in
  ''|*[!A-Za-z0-9_-]*) echo "http-hook: not a token: '$token'" >&2; exit 2 ;;
esac
case "$action" in
  present) mkdir -p "$dir" && printf '%s' "$keyauth" > "$dir/$token" ;;
  cleanup) rm -f "$dir/$token" ;;
esac
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
profile_flags = ["--profile", "{profile}"]
chain_file = "{workdir}/certificates/{domain}.issuer.crt"

[env]
LEGO_CA_CERTIFICATES = "{ca_bundle}"

[operations.issue-http-01]
argv = ["lego", "--server", "{directory}", "{eab_flags}", "{domains_flags}", "--http.port", "127.0.0.1:{http_port}", "run", "{preferred_chain_flags}", "{profile_flags}"]
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
        let profile = Bindings { profile: Some("tlsserver".into()), ..bindings() };
        let cmd = a.render(AdapterOp::IssueHttp01, &profile).unwrap();
        assert_eq!(cmd.argv[cmd.argv.len() - 3..], ["run", "--profile", "tlsserver"]);
        assert!(a.render(AdapterOp::Revoke, &bindings()).is_none(), "no template: unsupported");
    }

    #[test]
    fn mistakes_are_refused_with_a_line() {
        let e = parse(&GOOD.replace("{http_port}", "{htp_port}")).unwrap_err();
        assert_eq!(e.line, Some(13), "{e}");
        assert!(e.message.contains("unknown placeholder {htp_port}"), "{e}");
        let e = parse(&GOOD.replace("\"{domains_flags}\"", "\"x{domains_flags}\"")).unwrap_err();
        assert!(e.message.contains("whole argv element"), "{e}");
        let e = parse(&GOOD.replace("domain_flag = \"--domains\"\n", "")).unwrap_err();
        assert!(e.message.contains("needs `domain_flag`"), "{e}");
        let e = parse(&GOOD.replace("preferred_chain_flags = [\"--preferred-chain\", \"{preferred_chain}\"]\n", "")).unwrap_err();
        assert!(e.message.contains("needs `preferred_chain_flags`"), "{e}");
        let e = parse(&GOOD.replace("profile_flags = [\"--profile\", \"{profile}\"]\n", "")).unwrap_err();
        assert!(e.message.contains("needs `profile_flags`"), "{e}");
        let e = parse(&GOOD.replace("{domain}.issuer.crt", "{domian}.issuer.crt")).unwrap_err();
        assert!(e.message.contains("unknown placeholder {domian}"), "{e}");
        let e = parse(&GOOD.replace("issue-http-01", "issue-http-02")).unwrap_err();
        assert!(e.message.contains("issue-http-02"), "{e}");
        let e = parse(&GOOD.replace("env = {", "envv = {")).unwrap_err();
        assert!(e.message.contains("envv"), "{e}");
    }

    #[test]
    fn the_hook_scripts_are_valid_shell() {
        for script in [dns_hook_script("http://127.0.0.1:9"), http_hook_script("/w/webroot")] {
            let status = std::process::Command::new("sh").args(["-n", "-c", &script]).status().expect("sh runs");
            assert!(status.success(), "{script}");
        }
    }

    /// Runs the http hook with `args` and `env`; the exit code.
    fn http_hook(webroot: &Path, args: &[&str], env: &[(&str, &str)]) -> i32 {
        let script = webroot.with_file_name("http-hook.sh");
        std::fs::write(&script, http_hook_script(&webroot.display().to_string())).unwrap();
        let status = std::process::Command::new("sh").arg(&script).args(args).envs(env.iter().copied()).status().unwrap();
        status.code().unwrap_or(-1)
    }

    #[test]
    fn the_http_hook_speaks_every_convention() {
        let dir = tempfile::tempdir().unwrap();
        let webroot = dir.path().join("webroot");
        let file = |t: &str| std::fs::read_to_string(webroot.join(".well-known/acme-challenge").join(t)).ok();
        assert_eq!(http_hook(&webroot, &["present", "a.test", "tok1", "tok1.thumb"], &[]), 0);
        assert_eq!(file("tok1").as_deref(), Some("tok1.thumb"));
        assert_eq!(http_hook(&webroot, &["cleanup", "a.test", "tok1", "tok1.thumb"], &[]), 0);
        assert_eq!(file("tok1"), None);
        let certbot = [("CERTBOT_DOMAIN", "a.test"), ("CERTBOT_TOKEN", "tok2"), ("CERTBOT_VALIDATION", "tok2.thumb")];
        assert_eq!(http_hook(&webroot, &["present"], &certbot), 0);
        assert_eq!(file("tok2").as_deref(), Some("tok2.thumb"));
        assert_eq!(http_hook(&webroot, &["deploy_challenge", "a.test", "tok3", "tok3.thumb"], &[]), 0);
        assert_eq!(file("tok3").as_deref(), Some("tok3.thumb"));
        assert_eq!(http_hook(&webroot, &["deploy_cert", "a.test", "k", "c", "f", "ch", "ts"], &[]), 0, "other dehydrated events are ignored");
        assert_eq!(http_hook(&webroot, &["begin", "http-01", "a.test", "tok4", "tok4.thumb"], &[]), 0);
        assert_eq!(file("tok4").as_deref(), Some("tok4.thumb"));
        assert_eq!(http_hook(&webroot, &["begin", "dns-01", "a.test", "tok5", "tok5.thumb"], &[]), 1, "uacme: other types declined");
        assert_eq!(http_hook(&webroot, &["present", "a.test", "../escape", "x"], &[]), 2, "a token is one path segment");
        assert_eq!(http_hook(&webroot, &[], &[]), 2);
    }
}
