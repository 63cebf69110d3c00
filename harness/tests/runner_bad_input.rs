//! The runner against servers that are down, not ACME, slow, huge or broken: the run
//! stops in preflight with one message naming what was sent, what came back and the
//! flag that fixes it, or every case ends with a clear verdict (never a panic, never a
//! hang).

use acmespec::protocol::http::ClientOptions;
use acmespec::responders::Responders;
use acmespec::runner::{self, PreflightFailure, RunOptions, RunReport, SetupError, Verdict};
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
expect = { rests_on = ["R8555-7.3-99"], status = 201 }
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

async fn run_against(url: &str, timeout: Duration) -> Result<RunReport, SetupError> {
    let mut options = RunOptions::new(url);
    options.client = ClientOptions { timeout, ..ClientOptions::default() };
    let started = Instant::now();
    let report = runner::run(&catalogue(), &options, &responders().await, |_| {}).await;
    assert!(started.elapsed() < timeout * 3 + Duration::from_secs(5), "run took {:?}", started.elapsed());
    report
}

/// The run stops before any case: the failure of `stage`, with `received` in what came
/// back and `fix` in the advice.
async fn stops_in_preflight(url: &str, timeout: Duration, stage: &str, received: &str, fix: Option<&str>) {
    let failure = match run_against(url, timeout).await {
        Err(SetupError::Preflight(f)) => f,
        other => panic!("expected a preflight failure, got {other:?}"),
    };
    let PreflightFailure { stage: seen_stage, sent, received: seen, fix: seen_fix, .. } = &failure;
    assert_eq!(*seen_stage, stage, "{failure}");
    assert!(sent.contains(url) || stage != "directory", "{failure}");
    assert!(seen.contains(received), "{failure}");
    match fix {
        Some(flag) => assert!(seen_fix.as_deref().unwrap_or_default().contains(flag), "{failure}"),
        None => assert_eq!(seen_fix, &None, "{failure}"),
    }
}

/// A stub with an ACME directory at /dir and nonces at /nonce; newAccount at /acct is
/// the caller's to answer.
async fn acme_stub() -> (MockServer, String) {
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
    (server, base)
}

fn only_case(report: &RunReport) -> (Verdict, String) {
    assert!(report.complete);
    assert_eq!(report.cases.len(), 1);
    let c = &report.cases[0];
    (c.verdict, c.observed.clone().unwrap_or_default())
}

#[tokio::test]
async fn unreachable_server_stops_in_preflight() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    stops_in_preflight(&format!("http://127.0.0.1:{port}/dir"), Duration::from_secs(2), "directory", "cannot connect", Some("--directory")).await;
}

#[tokio::test]
async fn not_acme_html_page_stops_in_preflight() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>hello</html>"))
        .mount(&server)
        .await;
    stops_in_preflight(&format!("{}/dir", server.uri()), Duration::from_secs(2), "directory", "body is not JSON", Some("--directory")).await;
}

#[tokio::test]
async fn not_found_directory_stops_in_preflight() {
    let server = MockServer::start().await;
    stops_in_preflight(&format!("{}/dir", server.uri()), Duration::from_secs(2), "directory", "HTTP 404", Some("--directory")).await;
}

#[tokio::test]
async fn json_without_acme_resources_stops_in_preflight() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"hello": "world"})))
        .mount(&server)
        .await;
    stops_in_preflight(&format!("{}/dir", server.uri()), Duration::from_secs(2), "directory", "without newNonce, newAccount, newOrder", Some("--directory")).await;
}

#[tokio::test]
async fn oversized_body_stops_in_preflight() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2 << 20)))
        .mount(&server)
        .await;
    stops_in_preflight(&format!("{}/dir", server.uri()), Duration::from_secs(5), "directory", "larger than 1048576 bytes", None).await;
}

#[tokio::test]
async fn stalled_server_times_out_in_preflight() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            held.push(sock);
        }
    });
    stops_in_preflight(&format!("http://{addr}/dir"), Duration::from_secs(1), "directory", "no complete response within 1s", Some("--timeout")).await;
    hold.abort();
}

#[tokio::test]
async fn untrusted_tls_certificate_stops_in_preflight_naming_ca_cert() {
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
    stops_in_preflight(&format!("https://{addr}/dir"), Duration::from_secs(2), "directory", "certificate", Some("--ca-cert")).await;
    serve.abort();
}

/// A directory that is fine, then a newAccount answer that is not JSON: the case
/// gets a verdict naming what the server did, and the transcript shows it.
#[tokio::test]
async fn invalid_json_in_a_flow_fails_the_case_with_the_evidence() {
    let (server, base) = acme_stub().await;
    // The preflight's account is created; the case's own newAccount gets the broken answer.
    Mock::given(method("POST"))
        .and(path("/acct"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Location", format!("{base}/acct/1").as_str())
                .insert_header("Replay-Nonce", "bm9uY2Uy")
                .set_body_json(serde_json::json!({"status": "valid"})),
        )
        .up_to_n_times(1)
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
    let report = run_against(&format!("{base}/dir"), Duration::from_secs(2)).await.unwrap();
    only_case(&report);
    let case = &report.cases[0];
    assert_eq!(case.verdict, Verdict::Fail);
    assert_eq!(case.expected.as_deref(), Some("HTTP status 201"));
    assert_eq!(case.observed.as_deref(), Some(format!("HTTP 400 to POST {base}/acct").as_str()), "the observation names the request");
    let transcript = case.transcript.as_ref().unwrap();
    let last = transcript.last().unwrap();
    assert_eq!(last.request.method, "POST");
    assert_eq!(last.response.as_ref().unwrap().status, 400);
}

/// A CA that requires external account binding, run without `--eab`: one message,
/// naming the flag, before any case.
#[tokio::test]
async fn account_refused_for_want_of_eab_stops_in_preflight_naming_eab() {
    let (server, base) = acme_stub().await;
    Mock::given(method("POST"))
        .and(path("/acct"))
        .respond_with(
            ResponseTemplate::new(400).set_body_raw(
                r#"{"type": "urn:ietf:params:acme:error:externalAccountRequired", "detail": "bind your account", "status": 400}"#,
                "application/problem+json",
            ),
        )
        .mount(&server)
        .await;
    stops_in_preflight(&format!("{base}/dir"), Duration::from_secs(2), "newAccount", "externalAccountRequired", Some("--eab")).await;
}
