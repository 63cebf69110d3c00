//! The mock CA's own DNS server (`dns_listen`) and its challtestsrv-compatible
//! `/set-txt` and `/clear-txt`, driven directly and through the dns-01 hook script the
//! client runner hands to lego (`present FQDN VALUE`) and certbot (CERTBOT_* variables).

use acmespec::clients::adapter::dns_hook_script;
use acmespec::mockca::{MockCa, MockCaConfig};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use std::net::{Ipv4Addr, SocketAddr};

fn loopback0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start() -> MockCa {
    let _ = rustls::crypto::ring::default_provider().install_default();
    MockCa::start(MockCaConfig {
        management_listen: Some(loopback0()),
        dns_listen: Some(loopback0()),
        ..MockCaConfig::default()
    })
    .await
    .expect("mock CA starts")
}

fn resolver(addr: SocketAddr) -> Resolver<TokioRuntimeProvider> {
    let mut ns = NameServerConfig::udp(addr.ip());
    ns.connections[0].port = addr.port();
    let mut builder =
        Resolver::builder_with_config(ResolverConfig::from_name_servers(vec![ns]), TokioRuntimeProvider::default());
    builder.options_mut().positive_max_ttl = Some(std::time::Duration::ZERO);
    builder.options_mut().negative_max_ttl = Some(std::time::Duration::ZERO);
    builder.build().expect("resolver")
}

async fn txt(ca: &MockCa, name: &str) -> Vec<String> {
    let r = resolver(ca.dns().expect("dns").local_addr());
    let Ok(lookup) = r.txt_lookup(name).await else { return Vec::new() };
    let mut values: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::TXT(t) => Some(t.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
            _ => None,
        })
        .collect();
    values.sort();
    values
}

async fn post(ca: &MockCa, path: &str, body: &str) -> u16 {
    let url = format!("{}{path}", ca.management_url().expect("management"));
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(url)
        .body(body.to_owned())
        .send()
        .await
        .expect("management answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn set_txt_and_clear_txt_behave_like_challtestsrv() {
    let ca = start().await;
    let name = "_acme-challenge.a.acmespec.test.";
    assert_eq!(post(&ca, "/set-txt", r#"{"host":"_acme-challenge.a.acmespec.test.","value":"one"}"#).await, 200);
    // Without the trailing dot challtestsrv refuses; here it is the same name.
    assert_eq!(post(&ca, "/set-txt", r#"{"host":"_acme-challenge.a.acmespec.test","value":"two"}"#).await, 200);
    assert_eq!(txt(&ca, name).await, ["one", "two"], "values accumulate, as for an apex and its wildcard");
    assert_eq!(post(&ca, "/clear-txt", r#"{"host":"_acme-challenge.a.acmespec.test."}"#).await, 200);
    assert!(txt(&ca, name).await.is_empty());

    assert_eq!(post(&ca, "/set-txt", r#"{"host":"x.test."}"#).await, 400, "value missing");
    assert_eq!(post(&ca, "/set-txt", r#"{"host":"bad name/","value":"v"}"#).await, 400);
    assert_eq!(post(&ca, "/set-txt", "not json").await, 400);

    // Every name resolves to 127.0.0.1, so the validation authority reaches local responders.
    let r = resolver(ca.dns().expect("dns").local_addr());
    let a: Vec<Ipv4Addr> = r.ipv4_lookup("anything.acmespec.test.").await.expect("A").answers().iter().filter_map(|rec| match &rec.data {
        RData::A(a) => Some(a.0),
        _ => None,
    }).collect();
    assert_eq!(a, [Ipv4Addr::LOCALHOST]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_script_publishes_for_lego_and_certbot() {
    let ca = start().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let hook = tmp.path().join("dns-hook.sh");
    std::fs::write(&hook, dns_hook_script(&ca.management_url().expect("management"))).expect("hook");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let status = std::process::Command::new("sh")
            .arg(&hook)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .status()
            .expect("sh runs");
        assert!(status.success(), "hook {args:?} {env:?}: {status}");
    };
    // lego's exec provider.
    let name = "_acme-challenge.lego.acmespec.test.";
    tokio::task::block_in_place(|| run(&["present", name, "lego-value"], &[]));
    assert_eq!(txt(&ca, name).await, ["lego-value"]);
    tokio::task::block_in_place(|| run(&["cleanup", name, "lego-value"], &[]));
    assert!(txt(&ca, name).await.is_empty());
    // certbot's manual hooks, for a wildcard name.
    let env = [("CERTBOT_DOMAIN", "*.certbot.acmespec.test"), ("CERTBOT_VALIDATION", "certbot-value")];
    tokio::task::block_in_place(|| run(&["present"], &env));
    assert_eq!(txt(&ca, "_acme-challenge.certbot.acmespec.test.").await, ["certbot-value"]);
    tokio::task::block_in_place(|| run(&["cleanup"], &env));
    assert!(txt(&ca, "_acme-challenge.certbot.acmespec.test.").await.is_empty());
}
