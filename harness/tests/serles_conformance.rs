//! The whole built-in catalogue against real serles-acme 1.3.0 (PyPI, in the virtualenv
//! `scripts/test` installs) with real http-01, dns-01 and tls-alpn-01 validation through
//! acmespec's own responders.
//!
//! Every verdict must match `reports/baselines/serles-1.3.0.toml`: a case listed there
//! must get exactly the listed verdict, every other case must pass, and `error` is never
//! acceptable. serles validates on fixed ports (127.0.0.1:80, :443, and DNS on :53
//! through `/etc/resolv.conf`), so this binary holds a single test: two serles runs at
//! once would fight over those ports.

use acmespec::peers::{Serles, SerlesOptions};
use acmespec::protocol::http::ClientOptions;
use acmespec::report::read_baseline;
use acmespec::responders::Responders;
use acmespec::runner::{self, Capabilities, RunOptions};
use acmespec::scenario::embedded_catalogue;
use rustls_pki_types::CertificateDer;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Instant;

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/baselines/serles-1.3.0.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_verdicts_match_the_serles_baseline() {
    let catalogue = embedded_catalogue().unwrap();
    let baseline = read_baseline(Path::new(BASELINE)).unwrap();
    for id in baseline.keys() {
        assert!(catalogue.cases.iter().any(|c| &c.def.id == id), "baseline names unknown case {id}");
    }
    let on = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let responders = Responders::start(on(80), on(443), on(53)).await.unwrap_or_else(|e| {
        panic!(
            "serles validates on the fixed ports 127.0.0.1:80 (http-01), :443 (tls-alpn-01) and :53 \
             (DNS), and the responders could not bind them ({e}): is another serles test, a web \
             server or a DNS server running on this machine?"
        )
    });
    let serles = Serles::start(SerlesOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut options = RunOptions::new(serles.directory_url());
    options.client = ClientOptions {
        ca_certs: vec![CertificateDer::from(serles.ca_cert_der().to_vec())],
        ..ClientOptions::default()
    };
    let capabilities = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/capabilities/serles.toml");
    options.capabilities = Capabilities::load(&capabilities).unwrap();
    // One worker with four threads, SQLite, and each validation run inside the challenge
    // POST: at the default 8 cases in flight, one run here lost 20 early cases to 10 s
    // request timeouts. One at a time it is deterministic and takes 15 to 35 s.
    options.concurrency = 1;
    let started = Instant::now();
    let report = runner::run(&catalogue, &options, &responders, |_| {}).await.unwrap();
    eprintln!("serles run: {} cases in {:.1?}", report.cases.len(), started.elapsed());
    assert_eq!(report.cases.len(), catalogue.cases.len());
    // Kept for reading after a failure, and for regenerating reports/serles-1.3.0.md.
    acmespec::report::write_json(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("serles-1.3.0.json"), &report).unwrap();
    let wrong = acmespec::report::off_baseline(&report, &baseline);
    assert!(
        wrong.is_empty(),
        "verdicts differ from reports/baselines/serles-1.3.0.toml:\n{}\nserles log tail:\n{}",
        wrong.join("\n"),
        serles.log_tail()
    );
    assert!(report.complete);
}
