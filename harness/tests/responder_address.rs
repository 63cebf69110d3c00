//! `--responder-address`: the built-in DNS hands out the given address for every test
//! name, and the responders listen where a CA sent there connects. Shown with the
//! built-in mock CA, whose VA resolves through the runner's DNS: 127.0.0.2 (a loopback
//! address other than the default) carries an issuance; a DNS answer the listeners do
//! not serve makes the case an `error` (the CA cannot reach the runner), naming the
//! address the CA was given.

use std::process::Command;

fn acmespec(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_acmespec")).args(args).output().expect("acmespec runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_address_flows_into_dns_answers_and_listeners() {
    let (code, stdout, stderr) =
        acmespec(&["run", "--responder-address", "127.0.0.2", "--filter", "rfc8555/8.3/http-01-issuance", "--case-timeout", "60"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");

    // The listeners stay on 127.0.0.1 while the DNS sends the CA to 127.0.0.3.
    let (code, stdout, stderr) = acmespec(&[
        "run",
        "--responder-address",
        "127.0.0.3",
        "--http-listen",
        "127.0.0.1:0",
        "--filter",
        "rfc8555/8.3/http-01-issuance",
        "--case-timeout",
        "60",
    ]);
    // The CA could not reach the responders: the set-up's fault, so `error`, not `fail`.
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("ERROR") && stdout.contains("no http-01 validation request"), "{stdout}");
    assert!(stdout.contains("A -> No Error [127.0.0.3]"), "{stdout}");
}

#[test]
fn unusable_addresses_are_refused() {
    for args in [
        &["run", "--responder-address", "0.0.0.0"][..],
        &["run", "--responder-address", "127.0.0.2", "--responder-address", "127.0.0.3"][..],
        &["run", "--responder-address", "ff02::1"][..],
    ] {
        let (code, _, stderr) = acmespec(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("--responder-address"), "{stderr}");
    }
}
