//! Name resolution for every challenge type and dns-01 (RFC 8555 §8.4): the resolver
//! the validator uses, address lookups, which addresses it may connect to, and the
//! TXT lookup of `_acme-challenge`.

use super::*;

impl ValidationAuthority {
    pub(super) async fn dns01(&self, target: &Target, key_authorization: &str) -> Outcome {
        let name = match target {
            Target::Ip(_) => {
                return Err(Failure::new(
                    ProblemType::Malformed,
                    "dns-01 MUST NOT be used to validate ip identifiers (RFC 8738 §7)",
                ));
            }
            // For a wildcard the record lives under the base name (§8.4, §7.1.3).
            Target::Dns { name, .. } => name,
        };
        let qname = format!("_acme-challenge.{name}");
        let expected = dns01_txt_value(key_authorization);
        let resolver = self.resolver()?;
        let lookup = match resolver.txt_lookup(format!("{qname}.")).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() => {
                return Err(Failure::new(
                    ProblemType::IncorrectResponse,
                    format!("no TXT record found at {qname}"),
                ));
            }
            Err(e) => {
                return Err(Failure::new(
                    ProblemType::Dns,
                    format!("TXT lookup for {qname} failed: {}", chain(&e)),
                ));
            }
        };
        let values: Vec<Vec<u8>> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                // A TXT record's strings form one value (RFC 7208 §3.3 style).
                RData::TXT(txt) => Some(txt.txt_data.concat()),
                _ => None,
            })
            .collect();
        if values.iter().any(|v| v == expected.as_bytes()) {
            return Ok(());
        }
        if values.is_empty() {
            return Err(Failure::new(
                ProblemType::IncorrectResponse,
                format!("no TXT record found at {qname}"),
            ));
        }
        let shown: Vec<String> = values.iter().take(5).map(|v| quote_bytes(v)).collect();
        Err(Failure::new(
            ProblemType::IncorrectResponse,
            format!(
                "none of the {} TXT record(s) at {qname} is {expected:?}; found {}{}",
                values.len(),
                shown.join(", "),
                if values.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            ),
        ))
    }

    /// A fresh resolver per validation: no cache can carry a record a test
    /// has since changed into the next validation.
    pub(super) fn resolver(&self) -> Result<TokioResolver, Failure> {
        let servers = self.nameservers.as_ref().as_ref().map_err(|why| {
            Failure::new(
                ProblemType::Dns,
                format!("no DNS resolver available: {why}"),
            )
        })?;
        let name_servers = servers
            .iter()
            .map(|server| {
                // RFC 8555 §11.2: TCP resists forgery better than UDP.
                let mut ns = if self.has(Defect::DnsOverUdp) {
                    NameServerConfig::udp(server.ip())
                } else {
                    NameServerConfig::tcp(server.ip())
                };
                for connection in &mut ns.connections {
                    connection.port = server.port();
                }
                ns
            })
            .collect();
        let mut builder = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        );
        let options = builder.options_mut();
        // Tries that fit well inside the validation's own bound, so an
        // unresponsive DNS server is reported as `dns`, not as a timeout.
        options.timeout = (self.config.timeout / 4).min(Duration::from_secs(5));
        options.attempts = 1;
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        // An explicit resolver is the whole truth; /etc/hosts only helps
        // when the system configuration is used.
        options.use_hosts_file = if self.config.resolver.is_some() {
            ResolveHosts::Never
        } else {
            ResolveHosts::Auto
        };
        builder.build().map_err(|e| {
            Failure::new(
                ProblemType::Dns,
                format!("DNS resolver setup failed: {}", chain(&e)),
            )
        })
    }

    /// AAAA and A addresses of `name`, AAAA first (as Boulder orders them).
    pub(super) async fn lookup_addresses(&self, name: &str) -> Result<Vec<IpAddr>, Failure> {
        let fqdn = Name::from_utf8(name)
            .map_err(|e| Failure::new(ProblemType::Dns, format!("resolving {name} failed: {e}")))?;
        self.lookup_name(fqdn, name).await
    }

    /// [`Self::lookup_addresses`] of a query name built already; `name` is how errors
    /// show it.
    pub(super) async fn lookup_name(
        &self,
        mut fqdn: Name,
        name: &str,
    ) -> Result<Vec<IpAddr>, Failure> {
        let resolver = self.resolver()?;
        fqdn.set_fqdn(true);
        let (v6, v4) = tokio::join!(
            resolver.ipv6_lookup(fqdn.clone()),
            resolver.ipv4_lookup(fqdn)
        );
        let mut addrs: Vec<IpAddr> = Vec::new();
        let mut errors = Vec::new();
        for result in [v6, v4] {
            match result {
                Ok(lookup) => {
                    for record in lookup.answers() {
                        let ip = match &record.data {
                            RData::A(a) => IpAddr::V4(a.0),
                            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                            _ => continue,
                        };
                        if !addrs.contains(&ip) {
                            addrs.push(ip);
                        }
                    }
                }
                Err(e) if e.is_no_records_found() => {}
                Err(e) => errors.push(chain(&e)),
            }
        }
        if !addrs.is_empty() {
            return Ok(addrs);
        }
        Err(Failure::new(
            ProblemType::Dns,
            if errors.is_empty() {
                format!("no A or AAAA records found for {name}")
            } else {
                format!("resolving {name} failed: {}", errors.join("; "))
            },
        ))
    }

    /// Keeps the addresses the validator may connect to: all of them with
    /// `allow_remote`, else only loopback ones (IPv4-mapped included).
    pub(super) fn permitted(&self, host: &str, ips: Vec<IpAddr>) -> Result<Vec<IpAddr>, Failure> {
        if self.config.allow_remote {
            return Ok(ips);
        }
        let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) = ips
            .into_iter()
            .partition(|ip| ip.to_canonical().is_loopback());
        if allowed.is_empty() {
            let refused: Vec<String> = refused.iter().map(ToString::to_string).collect();
            return Err(Failure::new(
                ProblemType::Connection,
                format!(
                    "refusing to connect to {host} ({}): not a loopback address, and this \
                     validator only connects to loopback unless allow_remote is set \
                     (SSRF, RFC 8555 §10.4)",
                    refused.join(", ")
                ),
            ));
        }
        Ok(allowed)
    }
}

/// `nameserver` entries of /etc/resolv.conf, port 53.
pub(super) fn system_nameservers() -> Result<Vec<SocketAddr>, String> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| format!("cannot read /etc/resolv.conf: {e}"))?;
    let servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|addr| addr.split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() {
        return Err("no nameserver in /etc/resolv.conf".to_owned());
    }
    Ok(servers)
}

/// Letter-digit-hyphen (and underscore) labels of 1–63 bytes, 253 in total.
pub(super) fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use super::*;
    use crate::mockca::va::test_support::*;

    // ---- address resolution and the loopback rule ----

    #[tokio::test]
    async fn non_loopback_addresses_are_refused_without_connecting() {
        let r = responders().await;
        r.dns().set_a("remote.test", vec![REMOTE]);
        let va = va(&r);
        for (identifier, challenge) in [
            (Identifier::dns("remote.test"), "http-01"),
            (Identifier::dns("remote.test"), "tls-alpn-01"),
            (Identifier::ip("192.0.2.1"), "http-01"),
            (Identifier::ip("192.0.2.1"), "tls-alpn-01"),
            (Identifier::ip("::ffff:192.0.2.1"), "http-01"),
        ] {
            let started = Instant::now();
            let result = validate(&va, &identifier, challenge).await;
            expect_problem(result, "connection", &["loopback"]);
            assert!(started.elapsed() < Duration::from_secs(2));
        }
        assert!(r.tls_alpn().history().is_empty());
        assert!(r.http01().history().is_empty());
    }

    #[tokio::test]
    async fn mixed_answers_use_only_the_loopback_address() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        r.dns()
            .set_a("mixed.test", vec![REMOTE, Ipv4Addr::LOCALHOST]);
        validate(&va(&r), &Identifier::dns("mixed.test"), "http-01")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn allow_remote_tries_non_loopback_addresses() {
        let r = responders().await;
        r.dns().set_a("remote.test", vec![REMOTE]);
        let va = va_with(&r, |c| {
            c.allow_remote = true;
            c.timeout = Duration::from_millis(300);
        });
        let started = Instant::now();
        let result = validate(&va, &Identifier::dns("remote.test"), "http-01").await;
        let p = expect_problem(result, "connection", &[]);
        assert!(!detail(&p).contains("loopback"), "{p:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn names_without_addresses_or_failing_are_dns_problems() {
        let r = responders().await;
        r.dns().set_a("empty.test", vec![]);
        let result = validate(&va(&r), &Identifier::dns("empty.test"), "http-01").await;
        expect_problem(result, "dns", &["no A or AAAA"]);
        r.dns().set_servfail("broken.test");
        let result = validate(&va(&r), &Identifier::dns("broken.test"), "tls-alpn-01").await;
        expect_problem(result, "dns", &[]);
    }

    // ---- dns-01 ----

    #[tokio::test]
    async fn dns01_matching_record_passes_among_others() {
        let r = responders().await;
        r.dns().add_txt("_acme-challenge.a.test", "unrelated");
        r.dns()
            .add_txt("_acme-challenge.a.test", &dns01_txt_value(KEY_AUTH));
        validate(&va(&r), &Identifier::dns("a.test"), "dns-01")
            .await
            .unwrap();
        let queried = r.dns().history();
        assert!(
            queried.iter().any(|q| q.name == "_acme-challenge.a.test"),
            "{queried:?}"
        );
    }

    #[tokio::test]
    async fn dns01_wrong_or_missing_record_is_incorrect_response() {
        let r = responders().await;
        r.dns().add_txt(
            "_acme-challenge.a.test",
            &dns01_txt_value("other.key-authorization"),
        );
        let result = validate(&va(&r), &Identifier::dns("a.test"), "dns-01").await;
        expect_problem(result, "incorrectResponse", &["none of the 1"]);
        let result = validate(&va(&r), &Identifier::dns("b.test"), "dns-01").await;
        expect_problem(result, "incorrectResponse", &["no TXT record"]);
    }

    #[tokio::test]
    async fn dns01_resolver_failure_is_dns() {
        let r = responders().await;
        r.dns().set_servfail("_acme-challenge.a.test");
        let result = validate(&va(&r), &Identifier::dns("a.test"), "dns-01").await;
        expect_problem(result, "dns", &[]);
        // No server at all.
        let port = closed_port().await;
        let va = va_with(&r, |c| {
            c.resolver = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
            c.timeout = Duration::from_secs(2);
        });
        let started = Instant::now();
        let result = validate(&va, &Identifier::dns("a.test"), "dns-01").await;
        expect_problem(result, "dns", &["TXT lookup"]);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn dns01_wildcard_uses_the_base_name() {
        let r = responders().await;
        r.dns()
            .add_txt("_acme-challenge.w.test", &dns01_txt_value(KEY_AUTH));
        validate(&va(&r), &Identifier::dns("*.w.test"), "dns-01")
            .await
            .unwrap();
        assert!(!r.dns().history().iter().any(|q| q.name.contains('*')));
    }

    #[tokio::test]
    async fn dns01_is_refused_for_ip_identifiers() {
        let r = responders().await;
        let result = validate(&va(&r), &Identifier::ip("127.0.0.1"), "dns-01").await;
        expect_problem(result, "malformed", &["8738"]);
        assert!(r.dns().history().is_empty(), "no query was sent");
    }
}
