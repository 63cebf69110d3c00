//! tls-alpn-01 (RFC 8737, RFC 8738 §6): the handshake offering only `acme-tls/1`, the
//! SNI (a reverse name for an address), and the checks of the validation certificate.

use super::*;

impl ValidationAuthority {
    pub(super) async fn tls_alpn01(&self, target: &Target, key_authorization: &str) -> Outcome {
        let (sni, host, ips) = match target {
            Target::Dns { wildcard: true, .. } => return Err(wildcard_refused("tls-alpn-01")),
            Target::Dns { name, .. } => (
                name.clone(),
                name.clone(),
                self.lookup_addresses(name).await?,
            ),
            Target::Ip(ip) if self.has(Defect::TlsAlpn01IpLiteralSni) => (
                ip.to_string(),
                ip.to_string(),
                self.ip_addresses(*ip).await?,
            ),
            Target::Ip(ip) => (
                reverse_name(*ip),
                ip.to_string(),
                self.ip_addresses(*ip).await?,
            ),
        };
        let ips = self.permitted(&host, ips)?;
        let server_name = ServerName::try_from(sni.clone()).map_err(|e| {
            Failure::new(
                ProblemType::Malformed,
                format!("{sni:?} cannot be sent as SNI: {e}"),
            )
        })?;

        let mut stream = None;
        let mut errors = Vec::new();
        for ip in &ips {
            let addr = SocketAddr::new(*ip, self.config.tls_port);
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some((addr, s));
                    break;
                }
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        let Some((addr, stream)) = stream else {
            return Err(Failure::new(
                ProblemType::Connection,
                format!("could not connect for tls-alpn-01: {}", errors.join("; ")),
            ));
        };

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(RecordingVerifier {
            algorithms: provider.signature_verification_algorithms,
            end_entity: Mutex::new(None),
        });
        let internal = |e: rustls::Error| {
            Failure::new(
                ProblemType::ServerInternal,
                format!("TLS client setup failed: {e}"),
            )
        };
        // RFC 8737 §4: TLS 1.2 or higher only.
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(internal)?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        // RFC 8737 §3 step 3: exactly one ALPN protocol; a resumed session
        // would skip the certificate, so never resume.
        config.alpn_protocols = vec![ACME_TLS_1.to_vec()];
        if self.has(Defect::TlsAlpn01ExtraAlpn) {
            config.alpn_protocols.insert(0, b"h2".to_vec());
        }
        config.resumption = rustls::client::Resumption::disabled();
        config.enable_sni = true;

        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = connector.connect(server_name, stream).await.map_err(|e| {
            Failure::new(
                ProblemType::Tls,
                format!(
                    "TLS handshake with {addr} (SNI {sni}) failed: {}",
                    chain(&e)
                ),
            )
        })?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        if self.has(Defect::TlsAlpn01DataAfterHandshake) {
            let _ =
                tokio::time::timeout(TLS_CLOSE_TIMEOUT, tls.write_all(DATA_AFTER_HANDSHAKE)).await;
        }
        if self.has(Defect::TlsAlpn01Lingers) {
            tokio::spawn(async move {
                tokio::time::sleep(TLS_LINGER).await;
                drop(tls);
            });
        } else {
            // RFC 8737 §4: no application data; close right away.
            let _ = tokio::time::timeout(TLS_CLOSE_TIMEOUT, tls.shutdown()).await;
            drop(tls);
        }

        if negotiated.as_deref() != Some(ACME_TLS_1) {
            return Err(Failure::new(
                ProblemType::Tls,
                format!(
                    "{addr} (SNI {sni}) did not negotiate acme-tls/1 (negotiated {})",
                    negotiated
                        .as_deref()
                        .map_or_else(|| "no ALPN protocol".to_owned(), quote_bytes)
                ),
            ));
        }
        let certificate = lock(&verifier.end_entity).take();
        let Some(certificate) = certificate else {
            return Err(Failure::new(
                ProblemType::Tls,
                format!("{addr} (SNI {sni}) completed a handshake without a certificate"),
            ));
        };
        let case_sensitive = self.has(Defect::VaCaseSensitiveSan);
        check_certificate(&certificate, target, key_authorization, case_sensitive).map_err(|f| {
            Failure::new(
                f.kind,
                format!("certificate from {addr} (SNI {sni}): {}", f.detail),
            )
        })
    }
}

/// Checks the tls-alpn-01 certificate (RFC 8737 §3 step 4, RFC 8738 §6).
pub(super) fn check_certificate(
    der: &[u8],
    target: &Target,
    key_authorization: &str,
    case_sensitive: bool,
) -> Outcome {
    let incorrect = |detail: String| Failure::new(ProblemType::IncorrectResponse, detail);
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| incorrect(format!("cannot be parsed: {e}")))?;

    let sans: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|ext| ext.oid == OID_X509_EXT_SUBJECT_ALT_NAME)
        .collect();
    let [san] = sans.as_slice() else {
        return Err(incorrect(format!(
            "has {} subjectAltName extensions, expected exactly one",
            sans.len()
        )));
    };
    let ParsedExtension::SubjectAlternativeName(san) = san.parsed_extension() else {
        return Err(incorrect(
            "subjectAltName extension cannot be parsed".to_owned(),
        ));
    };
    let names: Vec<String> = san.general_names.iter().map(describe_name).collect();
    let [only] = san.general_names.as_slice() else {
        return Err(incorrect(format!(
            "subjectAltName must hold exactly one entry, found {} [{}]",
            names.len(),
            names.join(", ")
        )));
    };
    let matches = match (target, only) {
        (Target::Dns { name, .. }, GeneralName::DNSName(dns)) => {
            // Case-insensitive comparison (RFC 8737 §3, RFC 4343).
            let dns = dns.strip_suffix('.').unwrap_or(dns);
            if case_sensitive {
                dns == name
            } else {
                dns.eq_ignore_ascii_case(name)
            }
        }
        (Target::Ip(IpAddr::V4(ip)), GeneralName::IPAddress(bytes)) => *bytes == ip.octets(),
        (Target::Ip(IpAddr::V6(ip)), GeneralName::IPAddress(bytes)) => *bytes == ip.octets(),
        _ => false,
    };
    if !matches {
        let wanted = match target {
            Target::Dns { name, .. } => format!("dNSName {name}"),
            Target::Ip(ip) => format!("iPAddress {ip}"),
        };
        return Err(incorrect(format!(
            "subjectAltName is {}, expected {wanted}",
            names.join(", ")
        )));
    }

    let acme: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|ext| ext.oid.as_bytes() == ID_PE_ACME_IDENTIFIER)
        .collect();
    let [acme] = acme.as_slice() else {
        return Err(incorrect(format!(
            "has {} acmeIdentifier (1.3.6.1.5.5.7.1.31) extensions, expected exactly one",
            acme.len()
        )));
    };
    if !acme.critical {
        return Err(incorrect(
            "acmeIdentifier extension is not critical (RFC 8737 §3: MUST be critical)".to_owned(),
        ));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    // Authorization ::= OCTET STRING (SIZE (32)), DER: 04 20 <digest>.
    match acme.value {
        [0x04, 0x20, got @ ..] if got.len() == 32 => {
            if got == digest.as_ref() {
                Ok(())
            } else {
                Err(incorrect(format!(
                    "acmeIdentifier holds {}, expected SHA-256 of the key authorization {}",
                    hex(got),
                    hex(digest.as_ref())
                )))
            }
        }
        other => Err(incorrect(format!(
            "acmeIdentifier value {} is not a DER OCTET STRING of 32 bytes",
            hex(&other[..other.len().min(40)])
        ))),
    }
}

pub(super) fn describe_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("dNSName {dns}"),
        GeneralName::IPAddress(bytes) => match <[u8; 4]>::try_from(*bytes) {
            Ok(v4) => format!("iPAddress {}", IpAddr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(*bytes) {
                Ok(v6) => format!("iPAddress {}", IpAddr::from(v6)),
                Err(_) => format!("iPAddress {}", hex(bytes)),
            },
        },
        other => format!("{other:?}"),
    }
}

/// Accepts any certificate (tls-alpn-01 certificates are self-signed and
/// carry a critical extension webpki refuses) but keeps the end-entity one,
/// and still checks that the handshake was signed by that certificate's key.
struct RecordingVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    end_entity: Mutex<Option<CertificateDer<'static>>>,
}

impl fmt::Debug for RecordingVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingVerifier").finish_non_exhaustive()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *lock(&self.end_entity) = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // rustls' verify_tls12_signature parses the certificate with webpki,
        // which rejects the critical acmeIdentifier; verify against the raw
        // SPKI instead, trying every algorithm mapped to the scheme whose
        // public-key AlgorithmIdentifier matches the key.
        let spki = spki_of(cert)?;
        let (alg_id, key) = split_spki(&spki).ok_or(bad_encoding())?;
        let Some((_, candidates)) = self
            .algorithms
            .mapping
            .iter()
            .find(|(s, _)| *s == dss.scheme)
        else {
            return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        };
        for alg in candidates
            .iter()
            .filter(|alg| alg.public_key_alg_id().as_ref() == alg_id)
        {
            if alg.verify_signature(key, message, dss.signature()).is_ok() {
                return Ok(HandshakeSignatureValid::assertion());
            }
        }
        Err(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let spki = spki_of(cert)?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(spki.as_slice()),
            dss,
            &self.algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

pub(super) fn bad_encoding() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
}

/// The DER SubjectPublicKeyInfo of `cert`.
pub(super) fn spki_of(cert: &CertificateDer<'_>) -> Result<Vec<u8>, rustls::Error> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| bad_encoding())?;
    Ok(parsed.public_key().raw.to_vec())
}

/// Splits a DER SubjectPublicKeyInfo into the AlgorithmIdentifier's content
/// and the public key bits (the form `SignatureVerificationAlgorithm` takes).
pub(super) fn split_spki(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, body, _) = der_element(spki)? else {
        return None;
    };
    let (0x30, algorithm, rest) = der_element(body)? else {
        return None;
    };
    let (0x03, bits, _) = der_element(rest)? else {
        return None;
    };
    let (0, key) = bits.split_first()? else {
        return None;
    };
    Some((algorithm, key))
}

/// One DER element: (tag, contents, rest). Definite lengths up to 4 bytes.
pub(super) fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
            rest,
        )
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The reverse-mapping name of `ip` (RFC 8738 §6: the tls-alpn-01 SNI).
pub(super) fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = Vec::with_capacity(33);
            for byte in v6.octets().iter().rev() {
                labels.push(format!("{:x}", byte & 0x0f));
                labels.push(format!("{:x}", byte >> 4));
            }
            labels.push("ip6.arpa".to_owned());
            labels.join(".")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Instant;

    use rcgen::{CustomExtension, SanType};
    use rustls_pki_types::PrivateKeyDer;

    use super::*;
    use crate::mockca::va::test_support::*;
    use crate::responders::{AlpnIdentifier, Responders, TlsAlpnHandshake};

    #[test]
    fn reverse_names_follow_rfc_8738() {
        assert_eq!(
            reverse_name(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "1.0.0.127.in-addr.arpa"
        );
        // The example of RFC 8738 §6.
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            reverse_name(IpAddr::V6(v6)),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            reverse_name(IpAddr::V6(v6)),
            crate::responders::reverse_dns_name(IpAddr::V6(v6))
        );
    }

    #[test]
    fn spki_is_split_into_algorithm_and_key() {
        let (cert, _) = certificate(vec![dns_san("a.test")], vec![]);
        let spki = spki_of(&cert).unwrap();
        let (alg, key) = split_spki(&spki).unwrap();
        assert_eq!(alg, webpki_p256_alg_id());
        assert_eq!(key.len(), 65);
        assert_eq!(key[0], 0x04);
        assert!(split_spki(&spki[..spki.len() - 1]).is_none());
        assert!(der_element(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    fn webpki_p256_alg_id() -> Vec<u8> {
        // id-ecPublicKey, secp256r1
        let mut v = vec![0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        v.extend_from_slice(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        v
    }

    /// The responder's last handshake record; it is written once the server
    /// side has finished, which may be just after the validator returns.
    async fn tls_history(r: &Responders) -> TlsAlpnHandshake {
        for _ in 0..100 {
            if let Some(last) = r.tls_alpn().history().pop() {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the tls-alpn-01 responder recorded no handshake");
    }

    /// A certificate for a.test that passes every check with [`KEY_AUTH`], and its key.
    fn good_certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        certificate(vec![dns_san("a.test")], vec![acme_extension(KEY_AUTH)])
    }

    /// A validator whose tls-alpn-01 handshakes reach a server with `versions` and
    /// `alpn`, serving `cert` but signing with `key`.
    async fn va_served(
        r: &Responders,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: Vec<Vec<u8>>,
        cert: CertificateDer<'static>,
        key: &PrivateKeyDer<'static>,
    ) -> ValidationAuthority {
        let port = tls_server(versions, alpn, cert, key).await;
        va_with(r, |c| c.tls_port = port)
    }

    #[tokio::test]
    async fn tls_alpn01_good_certificate_passes_for_a_name() {
        let r = responders().await;
        r.tls_alpn()
            .provision(&AlpnIdentifier::dns("a.test"), KEY_AUTH)
            .unwrap();
        validate(&va(&r), &Identifier::dns("a.test"), "tls-alpn-01")
            .await
            .unwrap();
        let last = tls_history(&r).await;
        assert_eq!(last.sni.as_deref(), Some("a.test"));
        assert_eq!(last.alpn_offered, vec!["acme-tls/1".to_owned()]);
    }

    #[tokio::test]
    async fn tls_alpn01_good_certificate_passes_for_an_ip() {
        let r = responders().await;
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        r.tls_alpn()
            .provision(&AlpnIdentifier::ip(ip), KEY_AUTH)
            .unwrap();
        validate(&va(&r), &Identifier::ip("127.0.0.1"), "tls-alpn-01")
            .await
            .unwrap();
        let last = tls_history(&r).await;
        assert_eq!(last.sni.as_deref(), Some("1.0.0.127.in-addr.arpa"));
    }

    #[tokio::test]
    async fn tls_alpn01_wrong_digest_is_incorrect_response() {
        let r = responders().await;
        r.tls_alpn()
            .provision(&AlpnIdentifier::dns("a.test"), "other.key-authorization")
            .unwrap();
        let result = validate(&va(&r), &Identifier::dns("a.test"), "tls-alpn-01").await;
        expect_problem(result, "incorrectResponse", &["acmeIdentifier holds"]);
    }

    #[tokio::test]
    async fn tls_alpn01_bad_certificates_are_incorrect_response() {
        let r = responders().await;
        let mut non_critical = acme_extension(KEY_AUTH);
        non_critical.set_criticality(false);
        let digest = ring::digest::digest(&ring::digest::SHA256, KEY_AUTH.as_bytes());
        let mut not_octet_string = vec![0x0c, 0x20];
        not_octet_string.extend_from_slice(digest.as_ref());
        let mut raw =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 31], not_octet_string);
        raw.set_criticality(true);
        let cases: Vec<(&str, Vec<SanType>, Vec<CustomExtension>)> = vec![
            ("not critical", vec![dns_san("a.test")], vec![non_critical]),
            (
                "exactly one entry",
                vec![dns_san("a.test"), dns_san("b.test")],
                vec![acme_extension(KEY_AUTH)],
            ),
            (
                "expected dNSName a.test",
                vec![dns_san("b.test")],
                vec![acme_extension(KEY_AUTH)],
            ),
            (
                "expected dNSName a.test",
                vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))],
                vec![acme_extension(KEY_AUTH)],
            ),
            ("0 acmeIdentifier", vec![dns_san("a.test")], vec![]),
            ("not a DER OCTET STRING", vec![dns_san("a.test")], vec![raw]),
            ("0 subjectAltName", vec![], vec![acme_extension(KEY_AUTH)]),
        ];
        let va = va(&r);
        for (expected, sans, extensions) in cases {
            let (cert, key) = certificate(sans, extensions);
            r.tls_alpn()
                .provision_custom("a.test", vec![cert], &key)
                .unwrap();
            let result = validate(&va, &Identifier::dns("a.test"), "tls-alpn-01").await;
            expect_problem(result, "incorrectResponse", &[expected]);
        }
        // Case-insensitive SAN comparison (RFC 8737 §3).
        let (cert, key) = certificate(vec![dns_san("A.TEST")], vec![acme_extension(KEY_AUTH)]);
        r.tls_alpn()
            .provision_custom("a.test", vec![cert], &key)
            .unwrap();
        validate(&va, &Identifier::dns("a.test"), "tls-alpn-01")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn tls_alpn01_ip_needs_an_ip_san() {
        let r = responders().await;
        let (cert, key) = certificate(
            vec![dns_san("127.0.0.1.test")],
            vec![acme_extension(KEY_AUTH)],
        );
        r.tls_alpn()
            .provision_custom("1.0.0.127.in-addr.arpa", vec![cert], &key)
            .unwrap();
        let result = validate(&va(&r), &Identifier::ip("127.0.0.1"), "tls-alpn-01").await;
        expect_problem(
            result,
            "incorrectResponse",
            &["expected iPAddress 127.0.0.1"],
        );
    }

    #[tokio::test]
    async fn tls_alpn01_handshake_signed_by_another_key_is_tls() {
        let r = responders().await;
        let (cert, _) = good_certificate();
        let (_, other_key) = certificate(vec![dns_san("a.test")], vec![]);
        r.tls_alpn()
            .provision_custom("a.test", vec![cert], &other_key)
            .unwrap();
        let result = validate(&va(&r), &Identifier::dns("a.test"), "tls-alpn-01").await;
        expect_problem(result, "tls", &[]);
    }

    #[tokio::test]
    async fn tls_alpn01_works_over_tls12_and_checks_its_signature() {
        let r = responders().await;
        let tls12 = [&rustls::version::TLS12];
        let (cert, key) = good_certificate();
        let va = va_served(&r, &tls12, vec![ACME_TLS_1.to_vec()], cert.clone(), &key).await;
        validate(&va, &Identifier::dns("a.test"), "tls-alpn-01")
            .await
            .unwrap();

        let (_, other_key) = certificate(vec![dns_san("a.test")], vec![]);
        let va = va_served(&r, &tls12, vec![ACME_TLS_1.to_vec()], cert, &other_key).await;
        let result = validate(&va, &Identifier::dns("a.test"), "tls-alpn-01").await;
        expect_problem(result, "tls", &[]);
    }

    #[tokio::test]
    async fn tls_alpn01_without_negotiated_alpn_is_tls() {
        let r = responders().await;
        let (cert, key) = good_certificate();
        let va = va_served(&r, &[&rustls::version::TLS13], vec![], cert, &key).await;
        let result = validate(&va, &Identifier::dns("a.test"), "tls-alpn-01").await;
        expect_problem(result, "tls", &["did not negotiate acme-tls/1"]);
    }

    #[tokio::test]
    async fn tls_alpn01_unknown_sni_is_tls() {
        let r = responders().await;
        let result = validate(&va(&r), &Identifier::dns("a.test"), "tls-alpn-01").await;
        expect_problem(result, "tls", &["handshake"]);
    }

    #[tokio::test]
    async fn tls_alpn01_nothing_listening_fails_fast() {
        let r = responders().await;
        let port = closed_port().await;
        let va = va_with(&r, |c| c.tls_port = port);
        let started = Instant::now();
        let result = validate(&va, &Identifier::dns("a.test"), "tls-alpn-01").await;
        expect_problem(result, "connection", &[]);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn tls_alpn01_wildcard_is_refused() {
        let r = responders().await;
        let result = validate(&va(&r), &Identifier::dns("*.a.test"), "tls-alpn-01").await;
        expect_problem(result, "malformed", &[]);
    }
}
