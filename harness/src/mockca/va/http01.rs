//! http-01 (RFC 8555 §8.3): the GET of the key authorization, with its redirects, the
//! address checks that keep the validator from being an SSRF tool, and the body rules.

use super::*;

impl ValidationAuthority {
    pub(super) async fn http01(
        &self,
        target: &Target,
        token: &str,
        key_authorization: &str,
    ) -> Outcome {
        if !is_base64url(token) {
            return Err(Failure::new(
                ProblemType::Malformed,
                format!("token {token:?} is not a non-empty base64url string (RFC 8555 §8.1)"),
            ));
        }
        let host = match target {
            Target::Dns { wildcard: true, .. } => return Err(wildcard_refused("http-01")),
            Target::Dns { name, .. } => name.clone(),
            Target::Ip(IpAddr::V4(ip)) => ip.to_string(),
            Target::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        };
        let first = format!(
            "http://{host}:{}/.well-known/acme-challenge/{token}",
            self.config.http_port
        );
        let mut url = Url::parse(&first).map_err(|e| {
            Failure::new(
                ProblemType::Malformed,
                format!("cannot build URL {first:?}: {e}"),
            )
        })?;
        // The URL parser reinterprets some names (e.g. numeric labels as IPv4);
        // only connect where the identifier says.
        if !target.matches_host(url.host()) {
            return Err(Failure::new(
                ProblemType::Malformed,
                format!("identifier does not form a well-formed URL host: {first:?}"),
            ));
        }

        let noncanonical_host = match target {
            Target::Ip(ip) if self.has(Defect::Http01IpHostNoncanonical) => {
                Some(format!("{}:{}", noncanonical(*ip), self.config.http_port))
            }
            _ => None,
        };

        let mut trail: Vec<String> = Vec::new();
        loop {
            let addrs = self.url_addresses(&url).await.map_err(|f| f.via(&trail))?;
            let host_header = noncanonical_host.as_deref().filter(|_| trail.is_empty());
            let fetched = self
                .fetch(&url, &addrs, host_header)
                .await
                .map_err(|f| f.via(&trail))?;
            let unexpected_status = |status: u16| {
                Failure::new(
                    ProblemType::IncorrectResponse,
                    format!("{url}: HTTP status {status}, expected 200"),
                )
                .via(&trail)
            };
            match fetched {
                Fetched::Body(body) => {
                    // §8.3 step 4: SHOULD ignore whitespace at the end of the body.
                    let received = if self.has(Defect::VaNoWhitespaceTrim) {
                        body.as_slice()
                    } else {
                        body.trim_ascii_end()
                    };
                    if received == key_authorization.as_bytes() {
                        return Ok(());
                    }
                    return Err(Failure::new(
                        ProblemType::IncorrectResponse,
                        format!(
                            "{url}: body {} is not the expected key authorization {key_authorization:?}",
                            quote_bytes(received)
                        ),
                    )
                    .via(&trail));
                }
                Fetched::Status(status) => return Err(unexpected_status(status)),
                Fetched::Redirect(status, _) if self.has(Defect::VaNoRedirects) => {
                    return Err(unexpected_status(status));
                }
                Fetched::TooLarge => {
                    return Err(Failure::new(
                        ProblemType::IncorrectResponse,
                        format!("{url}: body longer than {HTTP_BODY_LIMIT} bytes"),
                    )
                    .via(&trail));
                }
                Fetched::Redirect(status, location) => {
                    if trail.len() >= MAX_REDIRECTS {
                        return Err(Failure::new(
                            ProblemType::Connection,
                            format!("{url}: too many redirects (more than {MAX_REDIRECTS})"),
                        )
                        .via(&trail));
                    }
                    let next = location
                        .as_deref()
                        .ok_or_else(|| format!("HTTP {status} without a Location header"))
                        .and_then(|l| {
                            url.join(l)
                                .map_err(|e| format!("unusable Location {l:?}: {e}"))
                        })
                        .map_err(|why| {
                            Failure::new(ProblemType::Connection, format!("{url}: {why}"))
                                .via(&trail)
                        })?;
                    trail.push(format!("{url} ({status})"));
                    url = next;
                }
            }
        }
    }

    /// Where `url` may be fetched from: its scheme is checked, its host
    /// resolved (or taken as a literal) and filtered for loopback.
    pub(super) async fn url_addresses(&self, url: &Url) -> Result<Vec<SocketAddr>, Failure> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(Failure::new(
                ProblemType::Connection,
                format!("{url}: only http and https URLs are followed"),
            ));
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let (host, ips) = match url.host() {
            Some(Host::Domain(name)) => (name.to_owned(), self.lookup_addresses(name).await?),
            Some(Host::Ipv4(ip)) => (ip.to_string(), self.ip_addresses(IpAddr::V4(ip)).await?),
            Some(Host::Ipv6(ip)) => (ip.to_string(), self.ip_addresses(IpAddr::V6(ip)).await?),
            None => {
                return Err(Failure::new(
                    ProblemType::Connection,
                    format!("{url}: no host"),
                ));
            }
        };
        let ips = self.permitted(&host, ips)?;
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// Where to connect for an address: the address itself (RFC 8738 §4), or with
    /// [`Defect::VaResolvesIpIdentifiers`] whatever the DNS says about its text.
    /// The text goes out as the query name as it is, even where it is no host name (an
    /// IPv6 address's colons), as a resolver that does not check its input sends it.
    pub(super) async fn ip_addresses(&self, ip: IpAddr) -> Result<Vec<IpAddr>, Failure> {
        if self.has(Defect::VaResolvesIpIdentifiers) {
            let text = ip.to_string();
            let labels = text.split('.').map(str::as_bytes);
            let name = Name::from_labels(labels).map_err(|e| {
                Failure::new(ProblemType::Dns, format!("no query name for {text}: {e}"))
            })?;
            return self.lookup_name(name, &text).await;
        }
        Ok(vec![ip])
    }

    /// One GET of `url`, connecting only to `addrs`, with the URL's own Host
    /// unless `host_header` replaces it.
    pub(super) async fn fetch(
        &self,
        url: &Url,
        addrs: &[SocketAddr],
        host_header: Option<&str>,
    ) -> Result<Fetched, Failure> {
        crate::protocol::http::install_crypto_provider();
        // No client timeouts: `validate` bounds the whole exchange, so a stall
        // is always reported the same way.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .pool_max_idle_per_host(0)
            // Redirects to https are followed without certificate checks, as
            // real CAs do: http-01 proves control, not a valid certificate.
            .tls_danger_accept_invalid_certs(true)
            .user_agent(concat!("acmespec-mockca-va/", env!("CARGO_PKG_VERSION")));
        if let Some(Host::Domain(name)) = url.host() {
            // Pins the connection to the checked addresses; reqwest would
            // otherwise resolve the name itself.
            builder = builder.resolve_to_addrs(name, addrs);
        }
        let client = builder.build().map_err(|e| {
            Failure::new(
                ProblemType::ServerInternal,
                format!("HTTP client setup failed: {}", chain(&e)),
            )
        })?;
        let connection = |e: reqwest::Error| {
            Failure::new(
                ProblemType::Connection,
                format!("{url}: {}", chain(&e.without_url())),
            )
        };
        let mut request = client.get(url.clone());
        if let Some(host) = host_header {
            request = request.header(reqwest::header::HOST, host);
        }
        let mut response = request.send().await.map_err(connection)?;
        let status = response.status().as_u16();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            return Ok(Fetched::Redirect(status, location));
        }
        if status != 200 {
            return Ok(Fetched::Status(status));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(connection)? {
            if body.len() + chunk.len() > HTTP_BODY_LIMIT {
                return Ok(Fetched::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(body))
    }
}

/// `ip` in a form RFC 8738 §5 forbids in a Host header: IPv4 octets padded
/// to three digits, IPv6 uncompressed, in brackets.
pub(super) fn noncanonical(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{:03}.{:03}.{:03}.{:03}", o[0], o[1], o[2], o[3])
        }
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            format!("[{}]", groups.join(":"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::mockca::va::test_support::*;
    use crate::responders::Responders;

    /// A validator whose http-01 requests reach a server answering each with `response`.
    async fn va_answered(r: &Responders, response: Vec<u8>) -> ValidationAuthority {
        let port = raw_http(Some(response)).await;
        va_with(r, |c| c.http_port = port)
    }

    /// An HTTP response with `status` sending the client to `location`.
    fn redirect(status: &str, location: &str) -> Vec<u8> {
        http_response(status, &format!("Location: {location}\r\n"), b"")
    }

    #[tokio::test]
    async fn http01_good_key_authorization_passes() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        validate(&va(&r), &Identifier::dns("a.test"), "http-01")
            .await
            .unwrap();
        let seen = r.http01().history();
        let last = seen.last().expect("the responder saw the request");
        assert_eq!(last.path, format!("/.well-known/acme-challenge/{TOKEN}"));
        let port = r.http01().local_addr().port();
        assert_eq!(
            last.host.as_deref(),
            Some(format!("a.test:{port}").as_str())
        );
        // Upper case and a trailing dot name the same host.
        validate(&va(&r), &Identifier::dns("A.Test."), "http-01")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn http01_ip_identifier_connects_directly() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        r.dns().set_default_ipv4(None);
        validate(&va(&r), &Identifier::ip("127.0.0.1"), "http-01")
            .await
            .unwrap();
        let port = r.http01().local_addr().port();
        let last = r.http01().history().pop().unwrap();
        assert_eq!(
            last.host.as_deref(),
            Some(format!("127.0.0.1:{port}").as_str())
        );
    }

    #[tokio::test]
    async fn http01_wrong_key_authorization_is_incorrect_response() {
        let r = responders().await;
        r.http01()
            .provision(TOKEN, &format!("{TOKEN}.wrong-thumbprint"));
        let result = validate(&va(&r), &Identifier::dns("a.test"), "http-01").await;
        expect_problem(result, "incorrectResponse", &["wrong-thumbprint"]);
    }

    #[tokio::test]
    async fn http01_missing_token_is_incorrect_response() {
        let r = responders().await;
        let result = validate(&va(&r), &Identifier::dns("a.test"), "http-01").await;
        expect_problem(result, "incorrectResponse", &["404"]);
    }

    #[tokio::test]
    async fn http01_trailing_whitespace_is_tolerated_leading_is_not() {
        let r = responders().await;
        let body = format!("{KEY_AUTH} \r\n\t\n");
        let va = va_answered(&r, http_response("200 OK", "", body.as_bytes())).await;
        validate(&va, &Identifier::dns("a.test"), "http-01")
            .await
            .unwrap();

        let body = format!(" {KEY_AUTH}");
        let va = va_answered(&r, http_response("200 OK", "", body.as_bytes())).await;
        let result = validate(&va, &Identifier::dns("a.test"), "http-01").await;
        expect_problem(result, "incorrectResponse", &[]);
    }

    #[tokio::test]
    async fn http01_oversized_body_is_refused() {
        let r = responders().await;
        let mut body = KEY_AUTH.as_bytes().to_vec();
        body.resize(HTTP_BODY_LIMIT + 1, b' ');
        let va = va_answered(&r, http_response("200 OK", "", &body)).await;
        let result = validate(&va, &Identifier::dns("a.test"), "http-01").await;
        expect_problem(result, "incorrectResponse", &["longer than"]);
    }

    #[tokio::test]
    async fn http01_follows_redirects_to_loopback() {
        let r = responders().await;
        r.http01().provision(TOKEN, KEY_AUTH);
        let target = format!(
            "http://b.test:{}/.well-known/acme-challenge/{TOKEN}",
            r.http01().local_addr().port()
        );
        let va = va_answered(&r, redirect("302 Found", &target)).await;
        validate(&va, &Identifier::dns("a.test"), "http-01")
            .await
            .unwrap();
        let last = r.http01().history().pop().unwrap();
        assert!(
            last.host.as_deref().unwrap().starts_with("b.test:"),
            "{last:?}"
        );
    }

    #[tokio::test]
    async fn http01_redirect_to_non_loopback_is_refused_without_connecting() {
        let r = responders().await;
        r.dns().set_a("remote.test", vec![REMOTE]);
        for location in [
            format!("http://{REMOTE}/.well-known/acme-challenge/{TOKEN}"),
            format!("http://remote.test:8080/.well-known/acme-challenge/{TOKEN}"),
            "http://[2001:db8::1]/x".to_owned(),
            "http://0.0.0.0/x".to_owned(),
        ] {
            let va = va_answered(&r, redirect("301 Moved Permanently", &location)).await;
            let started = Instant::now();
            let result = validate(&va, &Identifier::dns("a.test"), "http-01").await;
            expect_problem(result, "connection", &["loopback", "after redirects from"]);
            assert!(started.elapsed() < Duration::from_secs(2));
        }
    }

    #[tokio::test]
    async fn http01_redirect_loop_and_bad_locations_stop() {
        let r = responders().await;
        let path = format!("/.well-known/acme-challenge/{TOKEN}");
        let va = va_answered(&r, redirect("307 Temporary Redirect", &path)).await;
        let result = validate(&va, &Identifier::dns("a.test"), "http-01").await;
        expect_problem(result, "connection", &["too many redirects"]);

        for headers in [
            "",
            "Location: ftp://a.test/x\r\n",
            "Location: http://[::1\r\n",
        ] {
            let va = va_answered(&r, http_response("302 Found", headers, b"")).await;
            let result = validate(&va, &Identifier::dns("a.test"), "http-01").await;
            expect_problem(result, "connection", &[]);
        }
    }

    #[tokio::test]
    async fn http01_stalled_server_is_bounded_by_the_timeout() {
        let r = responders().await;
        let port = raw_http(None).await;
        let va = va_with(&r, |c| {
            c.http_port = port;
            c.timeout = Duration::from_millis(500);
        });
        let started = Instant::now();
        let result = validate(&va, &Identifier::dns("a.test"), "http-01").await;
        expect_problem(result, "connection", &["did not complete"]);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn http01_nothing_listening_is_connection() {
        let r = responders().await;
        let port = closed_port().await;
        let va = va_with(&r, |c| c.http_port = port);
        let result = validate(&va, &Identifier::dns("a.test"), "http-01").await;
        expect_problem(result, "connection", &[]);
    }

    #[tokio::test]
    async fn http01_wildcard_is_refused() {
        let r = responders().await;
        let result = validate(&va(&r), &Identifier::dns("*.a.test"), "http-01").await;
        expect_problem(result, "malformed", &[]);
    }
}
