//! How a run treats a rate limit it did not ask for (RFC 8555 §6.6): a 429 is waited out
//! for its Retry-After within `--max-wait` and the request retried, never in a tight
//! loop; past `--max-wait`, or without a Retry-After, the case is `error` with the
//! server's detail. The rate limit is a scripted fault of the mock CA on the case's
//! newOrder; the case checks nothing about rate limits itself.

use acmespec::mockca::{Endpoint, FaultKind, FaultRule, MockCa, MockCaConfig};
use acmespec::responders::Responders;
use acmespec::runner::{self, CaseResult, RunOptions, Verdict};
use acmespec::scenario::embedded_catalogue;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CASE: &str = "rfc8555/7.4/new-order-created";

/// Runs `CASE` against a mock CA whose first newOrder is answered 429.
async fn rate_limited_once(retry_after: Option<u32>, max_wait: Duration) -> (CaseResult, Duration) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let responders = Responders::start(any, any, any).await.expect("responders");
    let fault = FaultRule {
        endpoint: Endpoint::NewOrder,
        nth: Some(1),
        times: None,
        probability: None,
        action: FaultKind::RateLimited,
        retry_after,
        ms: None,
        polls: None,
    };
    let ca = MockCa::start(MockCaConfig {
        va_http_port: responders.http01().local_addr().port(),
        va_tls_port: responders.tls_alpn().local_addr().port(),
        va_resolver: Some(responders.dns().local_addr()),
        faults: vec![fault],
        ..MockCaConfig::default()
    })
    .await
    .expect("mock CA");
    let mut options = RunOptions::new(ca.directory_url());
    options.client.ca_certs = vec![rustls_pki_types::CertificateDer::from(ca.https_root_der().to_vec())];
    options.filter = Some(CASE.into());
    options.max_wait = max_wait;
    let catalogue = embedded_catalogue().expect("catalogue");
    let started = Instant::now();
    let report = runner::run(&catalogue, &options, &responders, |_| {}).await.expect("the run starts");
    (report.cases.into_iter().next().expect("one case"), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_and_the_request_retried() {
    let (case, took) = rate_limited_once(Some(1), Duration::from_secs(60)).await;
    assert_eq!(case.verdict, Verdict::Pass, "{:?}", case.observed);
    assert!(took >= Duration::from_secs(1), "the Retry-After was not honoured: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_past_max_wait_makes_the_case_an_error_with_the_servers_detail() {
    let (case, took) = rate_limited_once(Some(30), Duration::from_secs(2)).await;
    assert_eq!(case.verdict, Verdict::Error, "{:?}", case.observed);
    let observed = case.observed.as_deref().unwrap_or_default();
    assert!(observed.contains("rateLimited") && observed.contains("--max-wait 2s"), "{observed}");
    assert!(took < Duration::from_secs(10), "it waited anyway: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retry_after_is_not_retried() {
    let (case, took) = rate_limited_once(None, Duration::from_secs(60)).await;
    assert_eq!(case.verdict, Verdict::Error, "{:?}", case.observed);
    assert!(case.observed.as_deref().unwrap_or_default().contains("without Retry-After"), "{:?}", case.observed);
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn the_plan_counts_what_the_cases_create_and_max_orders_refuses_more() {
    let catalogue = embedded_catalogue().expect("catalogue");
    let mut options = RunOptions::new("https://ca.invalid/directory");
    options.filter = Some("rfc8555/7.4/*".into());
    let plan = runner::plan(&catalogue, &options).expect("a plan");
    let selected = runner::select(&catalogue, options.filter.as_deref()).expect("selection");
    assert_eq!(plan.cases, selected.len());
    assert!(plan.orders >= plan.cases && plan.certificates > 0, "{plan}");
    assert_eq!(plan.accounts, 1 + selected.iter().flat_map(|c| &c.def.steps).filter(|s| s.get_ref().action == acmespec::scenario::Action::NewAccount && s.get_ref().only_return_existing != Some(true)).count());
    options.max_orders = Some(plan.orders);
    assert!(runner::plan(&catalogue, &options).is_ok(), "the limit itself is allowed");
    options.max_orders = Some(plan.orders - 1);
    let e = runner::plan(&catalogue, &options).expect_err("over the limit");
    assert!(e.to_string().contains("--max-orders"), "{e}");
}
