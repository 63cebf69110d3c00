//! The runner against servers that are down, not ACME, slow, huge or broken: every
//! case must end with a clear verdict (never a panic, never a hang).

use acmespec::protocol::http::ClientOptions;
use acmespec::responders::Responders;
use acmespec::runner::{self, RunOptions, RunReport, Verdict};
use acmespec::scenario::Catalogue;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REQS: &str = r#"
[[requirement]]
id = "R8555-7.3-99"
section = "7.3"
level = "MUST"
actor = "server"
testable = "runner"
text = "test requirement"
"#;

const CASES: &str = r#"
[[case]]
id = "rfc8555/7.3/create-account"
title = "an account can be created"
level = "MUST"
requirements = ["R8555-7.3-99"]

[[case.steps]]
action = "new-account"
expect = { status = 201 }
"#;

fn catalogue() -> Catalogue {
    Catalogue::from_sources(&[
        ("requirements/t.toml".into(), Cow::Borrowed(REQS)),
        ("server/t.toml".into(), Cow::Borrowed(CASES)),
    ])
    .unwrap()
}

async fn responders() -> Responders {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Responders::start(any, any, any).await.unwrap()
}

async fn run_against(url: &str, timeout: Duration) -> RunReport {
    let mut options = RunOptions::new(url);
    options.client = ClientOptions { timeout, ..ClientOptions::default() };
    let started = Instant::now();
    let report = runner::run(&catalogue(), &options, &responders().await, |_| {}).await.unwrap();
    assert!(started.elapsed() < timeout * 3 + Duration::from_secs(5), "run took {:?}", started.elapsed());
    assert!(report.complete);
    assert_eq!(report.cases.len(), 1);
    report
}

fn only_case(report: &RunReport) -> (Verdict, String) {
    let c = &report.cases[0];
    (c.verdict, c.observed.clone().unwrap_or_default())
}

#[tokio::test]
async fn unreachable_server_is_an_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let report = run_against(&format!("http://127.0.0.1:{port}/dir"), Duration::from_secs(2)).await;
    let (verdict, observed) = only_case(&report);
    assert_eq!(verdict, Verdict::Error);
    assert!(observed.contains("cannot connect"), "{observed}");
    assert_eq!(report.summary.error, 1);
}

#[tokio::test]
async fn not_acme_html_page_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>hello</html>"))
        .mount(&server)
        .await;
    let (verdict, observed) = only_case(&run_against(&format!("{}/dir", server.uri()), Duration::from_secs(2)).await);
    assert_eq!(verdict, Verdict::Error);
    assert!(observed.contains("not an ACME directory: the body is not JSON"), "{observed}");
}

#[tokio::test]
async fn not_found_directory_is_an_error() {
    let server = MockServer::start().await;
    let (verdict, observed) = only_case(&run_against(&format!("{}/dir", server.uri()), Duration::from_secs(2)).await);
    assert_eq!(verdict, Verdict::Error);
    assert!(observed.contains("HTTP 404"), "{observed}");
}

#[tokio::test]
async fn json_without_acme_resources_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"hello": "world"})))
        .mount(&server)
        .await;
    let (verdict, observed) = only_case(&run_against(&format!("{}/dir", server.uri()), Duration::from_secs(2)).await);
    assert_eq!(verdict, Verdict::Error);
    assert!(observed.contains("lacks newNonce, newAccount, newOrder"), "{observed}");
}

#[tokio::test]
async fn oversized_body_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2 << 20)))
        .mount(&server)
        .await;
    let (verdict, observed) = only_case(&run_against(&format!("{}/dir", server.uri()), Duration::from_secs(5)).await);
    assert_eq!(verdict, Verdict::Error);
    assert!(observed.contains("larger than 1048576 bytes"), "{observed}");
}

#[tokio::test]
async fn stalled_server_times_out_as_an_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            held.push(sock);
        }
    });
    let (verdict, observed) = only_case(&run_against(&format!("http://{addr}/dir"), Duration::from_secs(1)).await);
    hold.abort();
    assert_eq!(verdict, Verdict::Error);
    assert!(observed.contains("no complete response within 1s"), "{observed}");
}

#[tokio::test]
async fn untrusted_tls_certificate_is_an_error() {
    acmespec::protocol::http::install_crypto_provider();
    let self_signed = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(self_signed.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![self_signed.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(sock).await;
            });
        }
    });
    let (verdict, observed) = only_case(&run_against(&format!("https://{addr}/dir"), Duration::from_secs(2)).await);
    serve.abort();
    assert_eq!(verdict, Verdict::Error);
    assert!(observed.contains("certificate"), "{observed}");
}

/// A directory that is fine, then a newAccount answer that is not JSON: the case
/// gets a verdict naming what the server did, and the transcript shows it.
#[tokio::test]
async fn invalid_json_in_a_flow_fails_the_case_with_the_evidence() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/dir"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "newNonce": format!("{base}/nonce"), "newAccount": format!("{base}/acct"), "newOrder": format!("{base}/order")
        })))
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path("/nonce"))
        .respond_with(ResponseTemplate::new(200).insert_header("Replay-Nonce", "bm9uY2U"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/acct"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("Content-Type", "application/problem+json")
                .set_body_string("{\"type\": \"urn:ietf:params:acme:error:malformed\", oops"),
        )
        .mount(&server)
        .await;
    let report = run_against(&format!("{base}/dir"), Duration::from_secs(2)).await;
    let case = &report.cases[0];
    assert_eq!(case.verdict, Verdict::Fail);
    assert_eq!(case.expected.as_deref(), Some("HTTP status 201"));
    assert_eq!(case.observed.as_deref(), Some("HTTP status 400"));
    let transcript = case.transcript.as_ref().unwrap();
    let last = transcript.last().unwrap();
    assert_eq!(last.request.method, "POST");
    assert_eq!(last.response.as_ref().unwrap().status, 400);
}
