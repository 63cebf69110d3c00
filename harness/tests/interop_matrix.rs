//! The interop matrix with real clients: acme-tiny (a webroot client without dns-01 or
//! tls-alpn-01) and lego (all three challenge types) against the built-in mock CA, each
//! cell checked, and both renderings checked for what they show. It fails, never skips,
//! without the clients: run `scripts/test`.

use acmespec::protocol::wire::ChallengeType;
use acmespec::clients::adapter::Adapter;
use acmespec::clients::run::ClientRunOptions;
use acmespec::interop::{CellOutcome, MatrixOptions, Server, run_matrix, to_html, to_markdown};
use acmespec::runner::Verdict;
use std::path::Path;
use std::time::Duration;

fn adapter(name: &str) -> Adapter {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/clients").join(format!("{name}.toml"));
    Adapter::load(&path).unwrap_or_else(|e| panic!("adapter {name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_against_the_mock_ca() {
    for program in ["acme-tiny", "lego"] {
        let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
        assert!(found, "{program} not found: run scripts/test, which installs it");
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut client = ClientRunOptions::new(1);
    client.command_timeout = Duration::from_secs(60);
    client.workdir = Some(tmp.path().to_owned());
    let options = MatrixOptions {
        servers: vec![Server::Mock],
        challenges: vec![ChallengeType::Http01, ChallengeType::Dns01, ChallengeType::TlsAlpn01],
        ca_cert: None,
        url_http_port: 5002,
        url_tls_port: 5001,
        url_dns_listen: "127.0.0.1:8053".parse().expect("address"),
        client,
    };
    let mut streamed = 0;
    let report = run_matrix(&[adapter("acme-tiny"), adapter("lego")], &options, |r| streamed = r.cells.len())
        .await
        .expect("the matrix runs");
    assert_eq!(streamed, 6, "the report is handed out as cells finish");
    let outcome = |client: &str, c: ChallengeType| {
        let cell = report.cells.iter().find(|x| x.client == client && x.challenge == c).expect("cell");
        (cell.outcome, cell.graded)
    };
    assert_eq!(outcome("acme-tiny", ChallengeType::Http01), (CellOutcome::Issued, Some(Verdict::Pass)));
    assert_eq!(outcome("acme-tiny", ChallengeType::Dns01).0, CellOutcome::Unsupported);
    assert_eq!(outcome("acme-tiny", ChallengeType::TlsAlpn01).0, CellOutcome::Unsupported);
    for c in [ChallengeType::Http01, ChallengeType::Dns01, ChallengeType::TlsAlpn01] {
        assert_eq!(outcome("lego", c), (CellOutcome::Issued, Some(Verdict::Pass)), "{c:?}");
    }
    assert!(report.clients.iter().all(|c| c.version.is_some()), "{:?}", report.clients);

    let md = to_markdown(&report);
    assert!(md.contains("**4 issued, 0 failed, 2 unsupported, 0 errors (6 issuances)**"), "{md}");
    assert!(md.contains("| Client | mock |"), "{md}");
    let lego_row = md.lines().find(|l| l.starts_with("| **lego**")).expect("a lego row");
    assert!(lego_row.contains("http-01 issued") && lego_row.contains("dns-01 issued") && lego_row.contains("tls-alpn-01 issued"), "{lego_row}");
    let tiny_row = md.lines().find(|l| l.starts_with("| **acme-tiny**")).expect("an acme-tiny row");
    assert!(tiny_row.contains("http-01 issued") && tiny_row.contains("dns-01 —"), "{tiny_row}");
    let html = to_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<th>mock</th>"), "{html}");
    assert_eq!(html.matches("class=\"issued\"").count(), 4, "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "self-contained");
}

#[test]
fn a_server_is_mock_pebble_or_an_https_url() {
    assert_eq!("mock".parse::<Server>(), Ok(Server::Mock));
    assert_eq!("pebble".parse::<Server>(), Ok(Server::Pebble));
    assert_eq!("https://ca.test/dir".parse::<Server>(), Ok(Server::Url("https://ca.test/dir".into())));
    let e = "boulder".parse::<Server>().unwrap_err();
    assert!(e.contains("mock, pebble or an https:// directory URL"), "{e}");
}
