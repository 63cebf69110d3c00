//! Challenge responders exercised over real sockets on 127.0.0.1 (ports 0).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use acmespec::responders::{
    ACME_TLS_ALPN_PROTOCOL, AFTER_HANDSHAKE_WAIT, AlpnIdentifier, DnsResponder, DnsTransport,
    HTTP01_REDIRECT_PREFIX, Http01Responder, Http01Variant, Responders, TlsAlpnOutcome,
    TlsAlpnResponder, reverse_dns_name,
};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

fn any_local() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Polls `f` until it returns `Some`, for history entries that are written
/// by the server task just after the client has seen the response.
async fn eventually<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------- http-01

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Minimal HTTP/1.1 client: full control over the request line and Host.
async fn http_request(addr: SocketAddr, method: &str, path: &str, host: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: acmespec-test\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("response within 5 s")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn http01_serves_provisioned_token_and_404s_others() {
    let http = Http01Responder::bind(any_local()).await.unwrap();
    let addr = http.local_addr();
    assert_ne!(addr.port(), 0);
    let token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    let ka = format!("{token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI");
    http.provision(token, &ka);

    let path = format!("/.well-known/acme-challenge/{token}");
    let ok = http_request(addr, "GET", &path, "example.test").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, ka.as_bytes());
    assert_eq!(ok.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        ok.header("content-length"),
        Some(ka.len().to_string().as_str())
    );

    let other = http_request(
        addr,
        "GET",
        "/.well-known/acme-challenge/nope",
        "example.test",
    )
    .await;
    assert_eq!(other.status, 404);
    assert_ne!(other.body, ka.as_bytes());
    assert_eq!(
        http_request(addr, "GET", "/", "example.test").await.status,
        404
    );
    // The key authorization is only served to GET (and HEAD).
    assert_eq!(
        http_request(addr, "POST", &path, "example.test")
            .await
            .status,
        404
    );
    let head = http_request(addr, "HEAD", &path, "example.test").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // A clone is the same server; removal takes effect immediately.
    let clone = http.clone();
    assert!(clone.remove(token));
    assert!(!clone.remove(token));
    assert_eq!(
        http_request(addr, "GET", &path, "example.test")
            .await
            .status,
        404
    );

    let history = http.history();
    let summary: Vec<(&str, &str, Option<&str>, u16)> = history
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                r.host.as_deref(),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GET", path.as_str(), Some("example.test"), 200),
            (
                "GET",
                "/.well-known/acme-challenge/nope",
                Some("example.test"),
                404
            ),
            ("GET", "/", Some("example.test"), 404),
            ("POST", path.as_str(), Some("example.test"), 404),
            ("HEAD", path.as_str(), Some("example.test"), 200),
            ("GET", path.as_str(), Some("example.test"), 404),
        ]
    );
    assert_eq!(history[0].token.as_deref(), Some(token));
    assert_eq!(history[2].token, None);
    assert_eq!(history[0].user_agent.as_deref(), Some("acmespec-test"));
    assert!(
        history
            .iter()
            .all(|r| r.peer.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST))
    );

    http.clear_history();
    assert!(http.history().is_empty());
}

#[tokio::test]
async fn http01_records_host_header_and_survives_garbage() {
    let http = Http01Responder::bind(any_local()).await.unwrap();
    let addr = http.local_addr();
    http.provision("tok", "tok.thumb");

    // Garbage instead of HTTP: the server must close or answer 400, not die.
    let mut junk = TcpStream::connect(addr).await.unwrap();
    junk.write_all(b"\x16\x03\x01\x00\xff\x00garbage\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), junk.read_to_end(&mut sink)).await;
    assert!(sink.is_empty() || sink.starts_with(b"HTTP/1.1 400"));

    let ok = http_request(
        addr,
        "GET",
        "/.well-known/acme-challenge/tok",
        "Mixed.Case.test:80",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, b"tok.thumb");
    let history = http.history();
    assert_eq!(history.len(), 1, "garbage never reached the handler");
    assert_eq!(history[0].host.as_deref(), Some("Mixed.Case.test:80"));
}

// ---------------------------------------------------------------- DNS

fn resolver(addr: SocketAddr, tcp: bool) -> Resolver<TokioRuntimeProvider> {
    let mut ns = if tcp {
        NameServerConfig::tcp(addr.ip())
    } else {
        NameServerConfig::udp(addr.ip())
    };
    ns.connections[0].port = addr.port();
    Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .build()
    .unwrap()
}

async fn txt_values(r: &Resolver<TokioRuntimeProvider>, name: &str) -> Vec<String> {
    let lookup = r.txt_lookup(name).await.unwrap();
    let mut values: Vec<String> = lookup
        .answers()
        .iter()
        .map(|rec| match &rec.data {
            RData::TXT(txt) => txt
                .txt_data
                .iter()
                .map(|s| String::from_utf8(s.to_vec()).unwrap())
                .collect(),
            other => panic!("unexpected record {other:?}"),
        })
        .collect();
    values.sort();
    values
}

#[tokio::test]
async fn dns_answers_txt_over_udp_and_tcp() {
    let dns = DnsResponder::bind(any_local()).await.unwrap();
    let addr = dns.local_addr();
    assert_ne!(addr.port(), 0);

    dns.set_txt(
        "_acme-challenge.example.test.",
        vec!["LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0".to_owned()],
    );
    dns.add_txt("_ACME-challenge.Example.Test", "second-value");

    for tcp in [false, true] {
        let r = resolver(addr, tcp);
        assert_eq!(
            txt_values(&r, "_acme-challenge.example.test.").await,
            vec![
                "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0".to_owned(),
                "second-value".to_owned()
            ],
            "tcp={tcp}"
        );
    }

    // Case-insensitive lookup on a fresh resolver (no cache).
    let r = resolver(addr, false);
    assert_eq!(
        txt_values(&r, "_ACME-CHALLENGE.EXAMPLE.TEST.").await.len(),
        2
    );

    // A long value is split into 255-byte strings and reassembled by clients.
    let long = "x".repeat(600);
    dns.set_txt("long.test", vec![long.clone()]);
    assert_eq!(
        txt_values(&resolver(addr, true), "long.test.").await,
        vec![long]
    );

    dns.clear_txt("_acme-challenge.example.test");
    let err = resolver(addr, false)
        .txt_lookup("_acme-challenge.example.test.")
        .await
        .unwrap_err();
    assert!(err.is_no_records_found(), "{err}");
    assert!(
        !err.is_nx_domain(),
        "missing TXT must be NOERROR, got {err}"
    );

    let history = dns.history();
    let txt_queries: Vec<_> = history
        .iter()
        .filter(|q| q.name == "_acme-challenge.example.test" && q.qtype == Some(RecordType::TXT))
        .collect();
    assert!(txt_queries.iter().any(|q| q.transport == DnsTransport::Udp));
    assert!(txt_queries.iter().any(|q| q.transport == DnsTransport::Tcp));
    assert!(txt_queries.iter().all(|q| q.peer.ip() == addr.ip()));
    let first = txt_queries[0];
    assert_eq!(first.rcode, ResponseCode::NoError);
    assert_eq!(first.answers.len(), 2);
    let last = txt_queries.last().unwrap();
    assert!(last.answers.is_empty(), "query after clear_txt had answers");
}

#[tokio::test]
async fn dns_address_defaults() {
    let dns = DnsResponder::bind(any_local()).await.unwrap();
    let addr = dns.local_addr();

    for tcp in [false, true] {
        let r = resolver(addr, tcp);
        let a = r.ipv4_lookup("anything.example.test.").await.unwrap();
        let ips: Vec<Ipv4Addr> = a
            .answers()
            .iter()
            .filter_map(|rec| match rec.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        assert_eq!(ips, vec![Ipv4Addr::LOCALHOST], "tcp={tcp}");

        let err = r.ipv6_lookup("anything.example.test.").await.unwrap_err();
        assert!(err.is_no_records_found() && !err.is_nx_domain(), "{err}");
    }

    dns.set_default_ipv6(Some(Ipv6Addr::LOCALHOST));
    dns.set_default_ipv4(Some(Ipv4Addr::new(10, 1, 2, 3)));
    dns.set_a("pinned.test", vec![Ipv4Addr::new(192, 0, 2, 7)]);
    let r = resolver(addr, false);
    let v6 = r.ipv6_lookup("other.example.test.").await.unwrap();
    assert!(matches!(v6.answers()[0].data, RData::AAAA(aaaa) if aaaa.0 == Ipv6Addr::LOCALHOST));
    let v4 = r.ipv4_lookup("other.example.test.").await.unwrap();
    assert!(matches!(v4.answers()[0].data, RData::A(a) if a.0 == Ipv4Addr::new(10, 1, 2, 3)));
    let pinned = r.ipv4_lookup("PINNED.test.").await.unwrap();
    assert!(matches!(pinned.answers()[0].data, RData::A(a) if a.0 == Ipv4Addr::new(192, 0, 2, 7)));

    dns.set_default_ipv4(None);
    let err = resolver(addr, false)
        .ipv4_lookup("gone.example.test.")
        .await
        .unwrap_err();
    assert!(err.is_no_records_found() && !err.is_nx_domain(), "{err}");
}

/// One raw query over UDP: lets the test see rcode, flags and TTLs as sent.
async fn raw_udp_query(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let socket = UdpSocket::bind(any_local()).await.unwrap();
    let mut msg = Message::query();
    msg.metadata.id = 0x4242;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    socket.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("dns answer within 5 s")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

#[tokio::test]
async fn dns_caa_servfail_and_header_flags() {
    let dns = DnsResponder::bind(any_local()).await.unwrap();
    let addr = dns.local_addr();
    dns.add_caa("example.test", "pebble.letsencrypt.org")
        .unwrap();
    dns.add_caa(
        "example.test.",
        "ca.test; accounturi=https://ca.test/acct/1",
    )
    .unwrap();
    assert!(dns.add_caa("bad.test", "ca.test; noequals").is_err());
    dns.set_txt("_acme-challenge.example.test", vec!["v".into()]);
    dns.set_servfail("broken.test");

    let caa = raw_udp_query(addr, "example.test.", RecordType::CAA).await;
    assert_eq!(caa.metadata.id, 0x4242);
    assert_eq!(caa.metadata.message_type, MessageType::Response);
    assert_eq!(caa.metadata.response_code, ResponseCode::NoError);
    assert!(caa.metadata.authoritative);
    assert_eq!(caa.answers.len(), 2);
    let rendered: Vec<String> = caa.answers.iter().map(|r| r.data.to_string()).collect();
    assert!(
        rendered[0].contains("pebble.letsencrypt.org"),
        "{rendered:?}"
    );
    assert!(rendered[1].contains("accounturi"), "{rendered:?}");

    let txt = raw_udp_query(addr, "_acme-challenge.example.test.", RecordType::TXT).await;
    assert_eq!(txt.answers.len(), 1);
    assert_eq!(txt.answers[0].ttl, 0, "answers must not be cacheable");

    let fail = raw_udp_query(addr, "broken.test.", RecordType::TXT).await;
    assert_eq!(fail.metadata.response_code, ResponseCode::ServFail);
    let fail_a = raw_udp_query(addr, "BROKEN.test.", RecordType::A).await;
    assert_eq!(fail_a.metadata.response_code, ResponseCode::ServFail);
    dns.clear_servfail("broken.test.");
    let fixed = raw_udp_query(addr, "broken.test.", RecordType::A).await;
    assert_eq!(fixed.metadata.response_code, ResponseCode::NoError);
    assert_eq!(fixed.answers.len(), 1);

    // Nothing is ever NXDOMAIN.
    let none = raw_udp_query(addr, "no.such.name.test.", RecordType::TXT).await;
    assert_eq!(none.metadata.response_code, ResponseCode::NoError);
    assert!(none.answers.is_empty());

    let servfails = dns
        .history()
        .iter()
        .filter(|q| q.rcode == ResponseCode::ServFail)
        .count();
    assert_eq!(servfails, 2);
}

#[tokio::test]
async fn dns_survives_hostile_packets() {
    let dns = DnsResponder::bind(any_local()).await.unwrap();
    let addr = dns.local_addr();

    let socket = UdpSocket::bind(any_local()).await.unwrap();
    let mut bad_header = vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0];
    bad_header.extend_from_slice(&[0xff; 40]);
    for packet in [
        vec![],
        vec![0u8; 3],
        vec![0xffu8; 512],
        bad_header,
        (0..=255u8).collect::<Vec<u8>>(),
    ] {
        socket.send_to(&packet, addr).await.unwrap();
    }
    // TCP: a length prefix promising more than is sent, then hang up.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    drop(tcp);
    // TCP: a well-formed length with garbage content.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&[0x00, 0x04, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    drop(tcp);

    dns.set_txt("after.test", vec!["still-alive".into()]);
    for tcp in [false, true] {
        assert_eq!(
            txt_values(&resolver(addr, tcp), "after.test.").await,
            vec!["still-alive".to_owned()]
        );
    }
}

// ---------------------------------------------------------------- tls-alpn-01

/// Accepts any certificate (validation certs are self-signed) but still checks
/// the handshake signature against the certificate's key, like a validator.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("test client is TLS 1.3 only".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, x509) = X509Certificate::from_der(cert.as_ref())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(x509.public_key().raw),
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

struct TlsResult {
    certs: Vec<CertificateDer<'static>>,
    alpn: Option<Vec<u8>>,
}

async fn tls_connect(
    addr: SocketAddr,
    sni: &str,
    alpn: &[&[u8]],
) -> Result<TlsResult, std::io::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(server_name, tcp))
        .await
        .expect("handshake within 5 s")?;
    let (_, conn) = tls.get_ref();
    let result = TlsResult {
        certs: conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.clone().into_owned())
            .collect(),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    };
    // Close at once, as a validating CA must (RFC 8737 §4); the server then
    // hangs up too, without application data.
    let _ = tls.shutdown().await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "acme-tls/1 server sent application data");
    Ok(result)
}

fn sha256(data: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data.as_bytes())
        .as_ref()
        .to_vec()
}

/// Checks RFC 8737 §3 on a served certificate and returns its single SAN.
fn check_validation_cert(der: &[u8], key_authorization: &str) -> String {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    // Self-signed, and the signature is valid.
    assert_eq!(cert.subject(), cert.issuer());
    cert.verify_signature(None).expect("valid self-signature");

    let acme: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .collect();
    assert_eq!(acme.len(), 1, "exactly one acmeIdentifier extension");
    assert!(acme[0].critical, "acmeIdentifier must be critical");
    let mut expected = vec![0x04, 0x20];
    expected.extend(sha256(key_authorization));
    assert_eq!(
        acme[0].value,
        expected.as_slice(),
        "OCTET STRING(SHA-256(ka))"
    );

    let san = cert
        .subject_alternative_name()
        .unwrap()
        .expect("SAN extension");
    assert_eq!(san.value.general_names.len(), 1, "exactly one SAN");
    match &san.value.general_names[0] {
        GeneralName::DNSName(name) => format!("dns:{name}"),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => format!(
                "ip:{}",
                Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).unwrap())
            ),
            16 => format!(
                "ip:{}",
                Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).unwrap())
            ),
            n => panic!("bad IP SAN length {n}"),
        },
        other => panic!("unexpected SAN {other:?}"),
    }
}

#[tokio::test]
async fn tls_alpn_serves_rfc8737_certificate_for_dns_identifier() {
    let tls = TlsAlpnResponder::bind(any_local()).await.unwrap();
    let addr = tls.local_addr();
    let ka = "token123.thumbprint456";
    let id = AlpnIdentifier::dns("Example.TEST");
    let provisioned = tls.provision(&id, ka).unwrap();

    let got = tls_connect(addr, "example.test", &[ACME_TLS_ALPN_PROTOCOL])
        .await
        .expect("acme-tls/1 handshake succeeds");
    assert_eq!(got.alpn.as_deref(), Some(ACME_TLS_ALPN_PROTOCOL));
    assert_eq!(got.certs.len(), 1);
    assert_eq!(got.certs[0], provisioned);
    assert_eq!(check_validation_cert(&got.certs[0], ka), "dns:Example.TEST");

    let rec = eventually("completed handshake record", || {
        tls.history()
            .into_iter()
            .find(|h| h.outcome == TlsAlpnOutcome::Completed)
    })
    .await;
    assert_eq!(rec.sni.as_deref(), Some("example.test"));
    assert_eq!(rec.alpn_offered, vec!["acme-tls/1".to_owned()]);
    assert_eq!(rec.peer.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));

    // Re-provisioning replaces the certificate (new key authorization).
    tls.provision(&id, "other.ka").unwrap();
    let again = tls_connect(addr, "EXAMPLE.test", &[ACME_TLS_ALPN_PROTOCOL])
        .await
        .unwrap();
    assert_eq!(
        check_validation_cert(&again.certs[0], "other.ka"),
        "dns:Example.TEST"
    );
}

#[tokio::test]
async fn tls_alpn_ip_identifiers_use_reverse_dns_sni_and_ip_san() {
    assert_eq!(
        reverse_dns_name(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "1.0.0.127.in-addr.arpa"
    );
    // The example of RFC 8738 §6.
    assert_eq!(
        reverse_dns_name("2001:db8::1".parse().unwrap()),
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    );

    let tls = TlsAlpnResponder::bind(any_local()).await.unwrap();
    let addr = tls.local_addr();
    let v4 = AlpnIdentifier::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let v6 = AlpnIdentifier::ip("2001:db8::1".parse().unwrap());
    tls.provision(&v4, "ka.v4").unwrap();
    tls.provision(&v6, "ka.v6").unwrap();

    let got = tls_connect(addr, "1.0.0.127.in-addr.arpa", &[ACME_TLS_ALPN_PROTOCOL])
        .await
        .unwrap();
    assert_eq!(got.alpn.as_deref(), Some(ACME_TLS_ALPN_PROTOCOL));
    assert_eq!(
        check_validation_cert(&got.certs[0], "ka.v4"),
        "ip:127.0.0.1"
    );

    let got6 = tls_connect(addr, &v6.sni(), &[ACME_TLS_ALPN_PROTOCOL])
        .await
        .unwrap();
    assert_eq!(
        check_validation_cert(&got6.certs[0], "ka.v6"),
        "ip:2001:db8::1"
    );

    // Connecting "to the IP" sends no SNI at all (RFC 6066): refused.
    assert!(
        tls_connect(addr, "127.0.0.1", &[ACME_TLS_ALPN_PROTOCOL])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tls_alpn_refuses_without_acme_alpn_or_unknown_sni() {
    let tls = TlsAlpnResponder::bind(any_local()).await.unwrap();
    let addr = tls.local_addr();
    let id = AlpnIdentifier::dns("a.test");
    tls.provision(&id, "ka").unwrap();

    // No ALPN at all.
    assert!(tls_connect(addr, "a.test", &[]).await.is_err());
    // ALPN offered, but not acme-tls/1.
    assert!(
        tls_connect(addr, "a.test", &[b"h2", b"http/1.1"])
            .await
            .is_err()
    );
    // acme-tls/1 with an SNI nothing was provisioned for.
    assert!(
        tls_connect(addr, "b.test", &[ACME_TLS_ALPN_PROTOCOL])
            .await
            .is_err()
    );
    // Garbage instead of a ClientHello.
    let mut junk = TcpStream::connect(addr).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), junk.read_to_end(&mut sink)).await;

    let history = eventually("four refused connections", || {
        let h = tls.history();
        (h.len() == 4).then_some(h)
    })
    .await;
    let find = |sni: Option<&str>, alpn: &[&str]| {
        history
            .iter()
            .find(|h| h.sni.as_deref() == sni && h.alpn_offered == alpn)
            .unwrap_or_else(|| panic!("no record for {sni:?} {alpn:?}: {history:#?}"))
            .outcome
            .clone()
    };
    assert_eq!(find(Some("a.test"), &[]), TlsAlpnOutcome::RefusedNoAcmeAlpn);
    assert_eq!(
        find(Some("a.test"), &["h2", "http/1.1"]),
        TlsAlpnOutcome::RefusedNoAcmeAlpn
    );
    assert_eq!(
        find(Some("b.test"), &["acme-tls/1"]),
        TlsAlpnOutcome::RefusedUnknownSni
    );
    assert!(matches!(find(None, &[]), TlsAlpnOutcome::Failed(_)));

    // Still serving after all that; removal then refuses the name.
    assert!(
        tls_connect(addr, "a.test", &[ACME_TLS_ALPN_PROTOCOL])
            .await
            .is_ok()
    );
    assert!(tls.remove(&id));
    assert!(
        tls_connect(addr, "a.test", &[ACME_TLS_ALPN_PROTOCOL])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tls_alpn_custom_certificate_is_served_verbatim() {
    let tls = TlsAlpnResponder::bind(any_local()).await.unwrap();
    // A deliberately wrong certificate: two SANs, no acmeIdentifier.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["bad.test".into(), "extra.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let key_der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    tls.provision_custom("bad.test.", vec![cert.der().clone()], &key_der)
        .unwrap();
    let got = tls_connect(tls.local_addr(), "bad.test", &[ACME_TLS_ALPN_PROTOCOL])
        .await
        .unwrap();
    assert_eq!(&got.certs[0], cert.der());
}

// ---------------------------------------------------------------- bundle

#[tokio::test]
async fn responders_bundle_starts_on_free_ports_and_merges_history() {
    let all = Responders::start(any_local(), any_local(), any_local())
        .await
        .unwrap();
    let (h, t, d) = (
        all.http01().local_addr(),
        all.tls_alpn().local_addr(),
        all.dns().local_addr(),
    );
    assert!(h.port() != 0 && t.port() != 0 && d.port() != 0);
    assert!(h.port() != t.port());
    // DNS answers on TCP at the same port as UDP.
    assert!(TcpStream::connect(d).await.is_ok());

    all.http01().provision("t", "t.k");
    assert_eq!(
        http_request(h, "GET", "/.well-known/acme-challenge/t", "x.test")
            .await
            .status,
        200
    );
    all.dns()
        .set_txt("_acme-challenge.x.test", vec!["d".into()]);
    assert_eq!(
        txt_values(&resolver(d, false), "_acme-challenge.x.test.").await,
        vec!["d".to_owned()]
    );
    all.tls_alpn()
        .provision(&AlpnIdentifier::dns("x.test"), "k")
        .unwrap();
    tls_connect(t, "x.test", &[ACME_TLS_ALPN_PROTOCOL])
        .await
        .unwrap();

    let merged = eventually("three responders in history", || {
        let h = all.history();
        (h.len() >= 3).then_some(h)
    })
    .await;
    assert!(
        merged.windows(2).all(|w| w[0].at <= w[1].at),
        "sorted by time"
    );
    let kinds: Vec<String> = merged.iter().map(|r| r.kind.to_string()).collect();
    assert!(kinds.contains(&"http-01".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"dns".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"tls-alpn-01".to_owned()), "{kinds:?}");
    assert!(
        merged
            .iter()
            .any(|r| r.summary.contains("/.well-known/acme-challenge/t"))
    );
    assert!(
        merged
            .iter()
            .any(|r| r.summary.contains("_acme-challenge.x.test TXT"))
    );
    assert!(merged.iter().any(|r| r.summary.contains("sni=x.test")));

    // Shutdown stops the listeners.
    all.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(h).await.is_err());
    assert!(TcpStream::connect(t).await.is_err());
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_timeout() {
    use acmespec::responders::CONNECTION_TIMEOUT;
    let all = Responders::start(any_local(), any_local(), any_local())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut http = TcpStream::connect(all.http01().local_addr()).await.unwrap();
    let mut tls = TcpStream::connect(all.tls_alpn().local_addr())
        .await
        .unwrap();
    // Half a request line and nothing else: a slow-loris peer.
    http.write_all(b"GET /.well-known/acme").await.unwrap();
    let limit = CONNECTION_TIMEOUT + Duration::from_secs(5);
    let mut buf = Vec::new();
    let (h, t) = tokio::join!(
        tokio::time::timeout(limit, http.read_to_end(&mut buf)),
        tokio::time::timeout(limit, async {
            let mut b = Vec::new();
            tls.read_to_end(&mut b).await
        }),
    );
    assert!(h.is_ok(), "http-01 kept a silent connection open");
    assert!(t.is_ok(), "tls-alpn-01 kept a silent connection open");
    assert!(started.elapsed() >= CONNECTION_TIMEOUT - Duration::from_millis(500));
    let rec = eventually("timed-out handshake record", || {
        all.tls_alpn().history().into_iter().next()
    })
    .await;
    assert_eq!(rec.outcome, TlsAlpnOutcome::TimedOut);
    assert_eq!(rec.sni, None);
}

#[test]
fn handles_are_shareable_across_tasks() {
    fn assert_shareable<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    assert_shareable::<Responders>();
    assert_shareable::<Http01Responder>();
    assert_shareable::<DnsResponder>();
    assert_shareable::<TlsAlpnResponder>();
}

#[tokio::test]
async fn http01_variants_serve_whitespace_and_redirects() {
    let http = Http01Responder::bind(any_local()).await.unwrap();
    let addr = http.local_addr();
    http.provision_variant("ws", "ws.ka", Http01Variant::TrailingWhitespace);
    http.provision_variant("redir", "redir.ka", Http01Variant::Redirect);
    http.provision("plain", "plain.ka");

    let ws = http_request(addr, "GET", "/.well-known/acme-challenge/ws", "a.test").await;
    assert_eq!(ws.status, 200);
    assert_eq!(ws.body, b"ws.ka \t\r\n");

    let redirect = http_request(addr, "GET", "/.well-known/acme-challenge/redir", "a.test").await;
    assert_eq!(redirect.status, 302);
    let location = redirect.header("location").expect("Location");
    assert_eq!(location, format!("{HTTP01_REDIRECT_PREFIX}redir"));
    let target = http_request(addr, "GET", location, "a.test").await;
    assert_eq!(
        (target.status, target.body.as_slice()),
        (200, &b"redir.ka"[..])
    );

    // Only redirect-variant tokens are served at the redirect target.
    let elsewhere = http_request(
        addr,
        "GET",
        &format!("{HTTP01_REDIRECT_PREFIX}plain"),
        "a.test",
    )
    .await;
    assert_eq!(elsewhere.status, 404);

    let history = eventually("four requests", || {
        Some(http.history()).filter(|h| h.len() == 4)
    })
    .await;
    let tokens: Vec<Option<&str>> = history.iter().map(|r| r.token.as_deref()).collect();
    assert_eq!(
        tokens,
        [Some("ws"), Some("redir"), Some("redir"), Some("plain")]
    );
    assert!(history.iter().all(|r| r.local == addr));
}

#[tokio::test]
async fn loopback_responders_also_listen_on_ipv6_loopback() {
    let http = Http01Responder::bind(any_local()).await.unwrap();
    http.provision("tok", "tok.ka");
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, http.local_addr().port()));
    let Ok(response) = tokio::time::timeout(Duration::from_secs(5), async {
        TcpStream::connect(v6).await.map(drop)
    })
    .await
    else {
        panic!("connecting to [::1] timed out");
    };
    if response.is_err() {
        // No IPv6 on this host: the responder documents the listener as best effort.
        return;
    }
    let got = http_request(v6, "GET", "/.well-known/acme-challenge/tok", "[::1]").await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"tok.ka"[..]));
    let rec = eventually("request over IPv6", || {
        http.history()
            .into_iter()
            .find(|r| r.host.as_deref() == Some("[::1]"))
    })
    .await;
    assert_eq!(rec.local, v6);

    let tls = TlsAlpnResponder::bind(any_local()).await.unwrap();
    tls.provision(&AlpnIdentifier::ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), "ka")
        .unwrap();
    let tls_v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, tls.local_addr().port()));
    let sni = reverse_dns_name(IpAddr::V6(Ipv6Addr::LOCALHOST));
    tls_connect(tls_v6, &sni, &[ACME_TLS_ALPN_PROTOCOL])
        .await
        .expect("handshake over IPv6");
    let rec = eventually("handshake over IPv6", || tls.history().into_iter().next()).await;
    assert_eq!(rec.local, tls_v6);
}

/// Completes an acme-tls/1 handshake for `sni`, then sends `data` (if any) and
/// keeps the connection for `hold` before dropping it.
async fn tls_handshake_then(addr: SocketAddr, sni: &str, data: &[u8], hold: Duration) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_ALPN_PROTOCOL.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await
        .unwrap();
    if !data.is_empty() {
        tls.write_all(data).await.unwrap();
        tls.flush().await.unwrap();
    }
    tokio::time::sleep(hold).await;
    let _ = tls.shutdown().await;
}

#[tokio::test]
async fn tls_alpn_records_what_the_ca_did_after_the_handshake() {
    let tls = TlsAlpnResponder::bind(any_local()).await.unwrap();
    tls.provision(&AlpnIdentifier::dns("a.test"), "ka").unwrap();
    let addr = tls.local_addr();

    tls_handshake_then(addr, "a.test", b"", Duration::ZERO).await;
    assert!(tls.settle(Duration::from_secs(10)).await);
    let quiet = tls
        .history()
        .pop()
        .and_then(|h| h.after_handshake)
        .expect("after-handshake record");
    assert_eq!(quiet.data_bytes, 0);
    assert!(
        quiet
            .closed_after
            .is_some_and(|d| d < Duration::from_secs(1)),
        "{quiet:?}"
    );

    tls_handshake_then(addr, "a.test", b"hello", Duration::ZERO).await;
    assert!(tls.settle(Duration::from_secs(10)).await);
    let chatty = tls
        .history()
        .pop()
        .and_then(|h| h.after_handshake)
        .expect("after-handshake record");
    assert_eq!(chatty.data_bytes, 5);

    // A peer that keeps the connection past the wait is recorded as left open,
    // and settle() waits for that record.
    let lingering = tokio::spawn(tls_handshake_then(
        addr,
        "a.test",
        b"",
        AFTER_HANDSHAKE_WAIT * 2,
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(tls.settle(AFTER_HANDSHAKE_WAIT * 2).await);
    let open = tls
        .history()
        .pop()
        .and_then(|h| h.after_handshake)
        .expect("after-handshake record");
    assert_eq!(open.closed_after, None);
    lingering.abort();
}
