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

    // ---- tls-alpn-01 (RFC 8737 §3, RFC 8738 §6) ----

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
        let fqdn = Name::from_utf8(name).map_err(|e| Failure::new(ProblemType::Dns, format!("resolving {name} failed: {e}")))?;
        self.lookup_name(fqdn, name).await
    }

    /// [`Self::lookup_addresses`] of a query name built already; `name` is how errors
    /// show it.
    pub(super) async fn lookup_name(&self, mut fqdn: Name, name: &str) -> Result<Vec<IpAddr>, Failure> {
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
