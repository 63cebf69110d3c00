//! External solvers, for CAs that cannot reach the runner's responders: the server under
//! test is `acmespec serve` (its VA resolving through its own DNS, whose records a solver
//! sets through the management API as challtestsrv's are, or through BIND 9), answered by
//! - `--http01-webroot`: token files served by a real nginx (Debian `nginx-light`);
//! - `--solver-exec`: a script publishing dns-01 records with curl, or with BIND's
//!   `nsupdate`;
//! - `--dns-rfc2136`: dynamic updates signed with TSIG to a real BIND 9 (Debian `bind9`).
//!
//! And the README's recipe, run as written with loopback stand-ins: the whole catalogue
//! against Pebble behind BIND and nginx, whose verdicts must be Pebble's baseline except
//! for the observation cases (`reports/baselines/pebble-2.4.0-external-solvers.toml`).
//!
//! The issuance cases pass through each path; the cases that judge what the CA's
//! validation requests looked like are `unsupported`, saying why; a solver that fails,
//! hangs, publishes the wrong value, a DNS server that refuses the update or the key, and
//! a webroot that cannot be written give a clear error, bounded in time. The tests fail,
//! never skip, without nginx, BIND, nsupdate or curl: run `scripts/test`.

use acmespec::peers::{Bind, Nginx, Pebble, PebbleOptions};
use acmespec::report::{PinnedVerdict, read_baseline};
use acmespec::runner::{RunReport, Verdict};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A child process, started in a process group of its own, whose group is killed when
/// the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `acmespec serve` with its management API, validating names through `dns`: its own DNS
/// (`None`, records set through the management API) or that server. Returns it, its
/// directory URL, the management URL and the root to trust.
fn serve(dir: &Path, va_http_port: u16, dns: Option<std::net::SocketAddr>) -> (Running, String, String, String) {
    use std::os::unix::process::CommandExt;
    let ca = dir.join("ca.pem");
    // A free port can be taken before `serve` binds it; it then exits, and fresh ports
    // are tried.
    for _ in 0..3 {
        let (https, management) = (free_port(), free_port());
        let resolver = match dns {
            Some(server) => ["--va-resolver".to_owned(), server.to_string()],
            None => ["--dns-listen".to_owned(), format!("127.0.0.1:{}", free_port())],
        };
        let child = Command::new(env!("CARGO_BIN_EXE_acmespec"))
            .args(["serve", "--listen", &format!("127.0.0.1:{https}"), "--management-listen", &format!("127.0.0.1:{management}")])
            .args(resolver)
            .args(["--va-http-port", &va_http_port.to_string()])
            .args(["--va-tls-port", &free_port().to_string(), "--ca-cert-out", ca.to_str().expect("path")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("acmespec serve starts");
        let mut running = Running(child);
        let started = Instant::now();
        while !ca.exists() || std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "acmespec serve did not come up");
            if running.0.try_wait().is_ok_and(|exited| exited.is_some()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if running.0.try_wait().is_ok_and(|exited| exited.is_none()) {
            return (running, format!("https://127.0.0.1:{https}/directory"), format!("http://127.0.0.1:{management}"), ca.display().to_string());
        }
        let _ = std::fs::remove_file(&ca);
    }
    panic!("acmespec serve exited three times on start (ports taken?)");
}

/// `acmespec run` against `directory` with `extra` arguments; exit code and output.
fn run(directory: &str, ca: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .args(["run", "--directory", directory, "--ca-cert", ca, "--concurrency", "2"])
        .args(["--http-listen", &format!("127.0.0.1:{}", free_port()), "--tls-alpn-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--dns-listen", &format!("127.0.0.1:{}", free_port())])
        .args(extra)
        .output()
        .expect("acmespec run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn verdict_line<'a>(output: &'a str, id: &str) -> &'a str {
    output.lines().find(|l| l.contains(id)).unwrap_or_else(|| panic!("no line for {id}:\n{output}"))
}

/// What the output says under the verdict line of `id`.
fn verdict_detail(output: &str, id: &str) -> String {
    output.split(id).nth(1).unwrap_or_default().lines().take(3).collect::<Vec<_>>().join("\n")
}

fn require(program: &str, package: &str) {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().any(|d| Path::new(d).join(program).is_file());
    assert!(found, "{program} not found: install Debian's {package} (scripts/test does)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_through_a_webroot_served_by_nginx() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let webroot = tmp.path().join("www");
    std::fs::create_dir_all(&webroot).expect("webroot");
    let nginx = Nginx::start(&webroot).await.expect("nginx must be installed: run scripts/test");
    let (_ca_process, directory, _, ca) = serve(tmp.path(), nginx.addr().port(), None);
    let md = tmp.path().join("report.md");
    let (code, out) = run(
        &directory,
        &ca,
        &["--http01-webroot", webroot.to_str().expect("path"), "--filter", "rfc8555/8.3/*", "--md", md.to_str().expect("path")],
    );
    let report = std::fs::read_to_string(&md).expect("the Markdown report");
    assert!(report.contains("**Validation answered by:** http-01: webroot"), "the report names the path: {report}");
    assert!(verdict_line(&out, "rfc8555/8.3/http-01-issuance").starts_with("PASS"), "{out}");
    assert!(verdict_line(&out, "rfc8555/8.3/http-01-trailing-whitespace").starts_with("UNSUPPORTED"), "{out}");
    assert!(verdict_detail(&out, "rfc8555/8.3/http-01-trailing-whitespace").contains("answered by webroot"), "{out}");
    assert_eq!(code, 0, "{out}");
    let log = nginx.access_log();
    assert!(log.contains("GET /.well-known/acme-challenge/"), "nginx served no token: {log}");
    let left = std::fs::read_dir(webroot.join(".well-known/acme-challenge")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "token files are removed when the case ends");

    // A webroot the token cannot be written into (`.well-known` is a file there).
    let blocked = tmp.path().join("blocked");
    std::fs::create_dir_all(&blocked).expect("webroot");
    std::fs::write(blocked.join(".well-known"), "").expect("a file in the way");
    let (code, out) =
        run(&directory, &ca, &["--http01-webroot", blocked.to_str().expect("path"), "--filter", "rfc8555/8.3/http-01-issuance"]);
    assert_eq!(code, 1, "{out}");
    let detail = verdict_detail(&out, "rfc8555/8.3/http-01-issuance");
    assert!(out.contains("ERROR") && detail.contains("webroot") && detail.contains("cannot write"), "{out}");
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

/// A solver script publishing dns-01 records through the management API of `acmespec
/// serve`'s DNS (challtestsrv's /set-txt and /clear-txt).
fn solver_body(management: &str) -> String {
    format!(
        "#!/bin/sh\n# present|cleanup TYPE IDENTIFIER TOKEN VALUE\n[ \"$2\" = dns-01 ] || exit 3\n\
         host=\"_acme-challenge.${{3#\\*.}}.\"\n\
         case \"$1\" in\n  present) body=\"{{\\\"host\\\":\\\"$host\\\",\\\"value\\\":\\\"$5\\\"}}\"; path=set-txt ;;\n\
           cleanup) body=\"{{\\\"host\\\":\\\"$host\\\"}}\"; path=clear-txt ;;\nesac\n\
         exec curl -fsS -o /dev/null -X POST --data \"$body\" {management}/$path\n"
    )
}

#[test]
fn dns01_through_a_solver_program() {
    require("curl", "curl");
    let tmp = tempfile::tempdir().expect("temp dir");
    let (_ca_process, directory, management, ca) = serve(tmp.path(), free_port(), None);
    let solver = script(tmp.path(), "solver.sh", &solver_body(&management));
    let (code, out) = run(&directory, &ca, &["--solver-exec", &solver, "--solver-exec-for", "dns-01", "--filter", "rfc8555/8.4/*"]);
    assert!(verdict_line(&out, "rfc8555/8.4/dns-01-issuance").starts_with("PASS"), "{out}");
    assert_eq!(code, 0, "{out}");

    // A solver that fails, and one that hangs: errors naming the solver, bounded in time.
    let failing = script(tmp.path(), "failing.sh", "#!/bin/sh\necho 'zone refused the update' >&2\nexit 4\n");
    let (code, out) = run(&directory, &ca, &["--solver-exec", &failing, "--solver-exec-for", "dns-01", "--filter", "rfc8555/8.4/dns-01-issuance"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ERROR") && out.contains("failing.sh present exited") && out.contains("zone refused the update"), "{out}");
    // A solver that publishes the wrong value: the server cannot be blamed for it.
    let wrong = solver_body(&management).replace("$5", "not-the-right-value");
    let wrong = script(tmp.path(), "wrong.sh", &wrong);
    let (code, out) = run(&directory, &ca, &["--solver-exec", &wrong, "--solver-exec-for", "dns-01", "--filter", "rfc8555/8.4/dns-01-issuance"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ERROR") && out.contains("after solver-exec") && out.contains("wrong.sh"), "{out}");
    let hanging = script(tmp.path(), "hanging.sh", "#!/bin/sh\nsleep 600\n");
    let started = Instant::now();
    let (code, out) = run(
        &directory,
        &ca,
        &["--solver-exec", &hanging, "--solver-exec-for", "dns-01", "--solver-timeout", "2", "--filter", "rfc8555/8.4/dns-01-issuance"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not finish within 2s"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

/// `acmespec serve` resolving through a BIND 9 primary of `acmespec.test`.
struct BehindBind {
    bind: Bind,
    tmp: tempfile::TempDir,
    _ca_process: Running,
    directory: String,
    ca: String,
}

async fn behind_bind() -> BehindBind {
    let bind = Bind::start("acmespec.test", std::net::Ipv4Addr::LOCALHOST).await.expect("BIND 9 must be installed: run scripts/test");
    let tmp = tempfile::tempdir().expect("temp dir");
    let (_ca_process, directory, _, ca) = serve(tmp.path(), free_port(), Some(bind.addr()));
    BehindBind { bind, tmp, _ca_process, directory, ca }
}

/// The secret of a `NAME:ALG:SECRET` key.
fn secret_of(tsig: &str) -> &str {
    tsig.rsplit(':').next().expect("a secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_through_rfc2136_updates_to_bind() {
    let BehindBind { bind, tmp, _ca_process, directory, ca } = behind_bind().await;
    let server = bind.addr().to_string();
    let tsig = bind.tsig();
    let md = tmp.path().join("report.md");
    let (code, out) =
        run(&directory, &ca, &["--dns-rfc2136", &server, "--tsig", &tsig, "--filter", "*dns*", "--md", md.to_str().expect("path")]);
    assert!(verdict_line(&out, "rfc8555/8.4/dns-01-issuance").starts_with("PASS"), "{out}");
    assert!(verdict_line(&out, "rfc8555/11.2/dns-queries-over-tcp").starts_with("UNSUPPORTED"), "{out}");
    assert!(verdict_detail(&out, "rfc8555/11.2/dns-queries-over-tcp").contains(&format!("answered by rfc2136 {server}")), "{out}");
    assert_eq!(code, 0, "{out}");
    let report = std::fs::read_to_string(&md).expect("the Markdown report");
    assert!(report.contains(&format!("dns-01: rfc2136 {server} (TSIG key acmespec-update)")), "the report names the path: {report}");
    assert!(!out.contains(secret_of(&tsig)) && !report.contains(secret_of(&tsig)), "the TSIG secret stays out of output and report");
    let log = bind.log_tail();
    assert!(log.contains("adding an RR at '_acme-challenge.") && log.contains("deleting an RR at _acme-challenge."), "{log}");

    // The same through `nsupdate` in a --solver-exec script, lego's exec style.
    require("nsupdate", "bind9-dnsutils");
    let (ip, port) = (bind.addr().ip().to_string(), bind.addr().port().to_string());
    let nsupdate = format!(
        "#!/bin/sh\n# present|cleanup TYPE IDENTIFIER TOKEN VALUE\n[ \"$2\" = dns-01 ] || exit 3\n\
         case \"$1\" in present) op=add ;; cleanup) op=delete ;; esac\n\
         printf 'server {ip} {port}\\nupdate %s _acme-challenge.%s. 60 IN TXT \"%s\"\\nsend\\n' \"$op\" \"${{3#\\*.}}\" \"$5\" |\n\
         exec nsupdate -v -y hmac-sha256:{tsig}\n",
        tsig = tsig.replacen(":hmac-sha256:", ":", 1)
    );
    let solver = script(tmp.path(), "nsupdate.sh", &nsupdate);
    let (code, out) = run(&directory, &ca, &["--solver-exec", &solver, "--solver-exec-for", "dns-01", "--filter", "rfc8555/8.4/dns-01-issuance"]);
    assert!(verdict_line(&out, "rfc8555/8.4/dns-01-issuance").starts_with("PASS"), "{out}\n{}", bind.log_tail());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rfc2136_updates_are_errors_naming_the_server() {
    let BehindBind { bind, tmp: _tmp, _ca_process, directory, ca } = behind_bind().await;
    let server = bind.addr().to_string();
    let tsig = bind.tsig();
    let issuance = "rfc8555/8.4/dns-01-issuance";
    let wrong_secret = tsig.replace(secret_of(&tsig), "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3JldA==");
    let unknown_key = tsig.replacen("acmespec-update", "someone-else", 1);
    for (extra, says) in [
        (vec!["--tsig", wrong_secret.as_str()], "TSIG error BadSig: the server does not accept the TSIG key"),
        (vec!["--tsig", unknown_key.as_str()], "TSIG error BadKey: the server does not accept the TSIG key"),
        (vec![], "Query Refused: the server does not allow this update"),
        (vec!["--tsig", tsig.as_str(), "--domain-suffix", "elsewhere.test"], "the server holds no zone for this name"),
    ] {
        let (code, out) = run(&directory, &ca, &[&["--dns-rfc2136", server.as_str(), "--filter", issuance][..], &extra].concat());
        assert_eq!(code, 1, "{extra:?}: {out}");
        let detail = verdict_detail(&out, issuance);
        assert!(verdict_line(&out, issuance).starts_with("ERROR"), "{extra:?}: {out}");
        assert!(detail.contains(&format!("rfc2136 {server}")) && detail.contains(says), "{extra:?}: {detail}");
    }

    // A server that takes the connection and never answers: given up after the timeout.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let silent_addr = silent.local_addr().expect("address").to_string();
    let started = Instant::now();
    let (code, out) =
        run(&directory, &ca, &["--dns-rfc2136", &silent_addr, "--tsig", &tsig, "--solver-timeout", "2", "--filter", issuance]);
    assert_eq!(code, 1, "{out}");
    assert!(verdict_detail(&out, issuance).contains(&format!("rfc2136 {silent_addr} (TSIG key acmespec-update): no answer within 2s")), "{out}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    drop(silent);
}

/// The README's external-solver recipe, its placeholders replaced by the loopback
/// stand-ins; each placeholder must be there, so a README change cannot slip past.
fn readme_recipe(stand_ins: &[(&str, &str)]) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let after = readme.split("<!-- recipe: external solvers.").nth(1).expect("the README marks its external-solver recipe");
    let block = after.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block after the marker");
    let mut command = block.replace("\\\n", " ");
    for (placeholder, stand_in) in stand_ins {
        assert!(command.contains(placeholder), "the README recipe no longer says {placeholder}: {command}");
        command = command.replace(placeholder, stand_in);
    }
    let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    assert_eq!(words.first().map(String::as_str), Some("acmespec"), "{command}");
    words[1..].to_vec()
}

/// The verdicts real Pebble gets with the built-in responders, overlaid with what changes
/// when a webroot and RFC 2136 answer instead.
fn external_solver_baseline() -> BTreeMap<String, PinnedVerdict> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/baselines");
    let mut pinned = read_baseline(&dir.join("pebble-2.4.0.toml")).expect("the Pebble baseline");
    pinned.extend(read_baseline(&dir.join("pebble-2.4.0-external-solvers.toml")).expect("the external-solver baseline"));
    pinned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_recipe_against_pebble_behind_bind_and_nginx() {
    let zone = "acme-test.example.org";
    let bind = Bind::start(zone, std::net::Ipv4Addr::LOCALHOST).await.expect("BIND 9 must be installed: run scripts/test");
    let tmp = tempfile::tempdir().expect("temp dir");
    let webroot = tmp.path().join("www");
    std::fs::create_dir_all(&webroot).expect("webroot");
    let nginx = Nginx::start(&webroot).await.expect("nginx must be installed: run scripts/test");
    let tls_port = free_port();
    let pebble = Pebble::start(PebbleOptions::new(nginx.addr().port(), tls_port).with_dns_server(bind.addr()))
        .await
        .expect("Pebble must be installed: run scripts/test");
    let ca = pebble.ca_cert_pem_path();
    let json = tmp.path().join("results.json");
    let tsig = bind.tsig();
    let args = readme_recipe(&[
        ("https://acme-staging.example/directory", &pebble.directory_url()),
        ("/var/www/html", webroot.to_str().expect("path")),
        ("NS-IP", &bind.addr().to_string()),
        ("acmespec-update:hmac-sha256:SECRET", &tsig),
        ("--solver-propagation 30", "--solver-propagation 0"),
        ("[::]:443", &format!("127.0.0.1:{tls_port}")),
        ("results.json", json.to_str().expect("path")),
        ("results.md", tmp.path().join("results.md").to_str().expect("path")),
    ]);
    // What the stand-in set-up adds: Pebble's root and capabilities, one case at a time
    // (Pebble 2.4.0 can deadlock otherwise, reports/performance.md), and listeners for the
    // responders the recipe leaves at their defaults on free ports.
    let capabilities = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/capabilities/pebble.toml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .args(&args)
        .args(["--ca-cert", ca.to_str().expect("path"), "--capabilities", capabilities.to_str().expect("path"), "--concurrency", "1"])
        .args(["--http-listen", &format!("127.0.0.1:{}", free_port()), "--dns-listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .await
        .expect("acmespec run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let report: RunReport = serde_json::from_str(&std::fs::read_to_string(&json).expect("results.json")).expect("a run report");
    let _ = std::fs::copy(&json, Path::new(env!("CARGO_TARGET_TMPDIR")).join("pebble-2.4.0-external-solvers.json"));
    assert!(report.complete, "{text}");
    let paths = report.validation_paths.join("; ");
    assert!(paths.contains("http-01: webroot") && paths.contains("dns-01: rfc2136"), "{paths}");

    // The EAB cases need a Pebble that binds accounts (tests/pebble_conformance.rs runs
    // them); this one does not, and they involve no validation.
    let catalogue = acmespec::scenario::embedded_catalogue().expect("the catalogue");
    let about_eab = |id: &str| {
        catalogue.cases.iter().any(|c| {
            c.def.id == id && c.def.requires.iter().any(|f| matches!(f, acmespec::scenario::Feature::Eab | acmespec::scenario::Feature::EabRequired))
        })
    };
    let baseline = external_solver_baseline();
    let mut compared = report.clone();
    compared.cases.retain(|c| !about_eab(&c.id));
    let wrong = acmespec::report::off_baseline(&compared, &baseline);
    assert!(
        wrong.is_empty(),
        "verdicts differ from reports/baselines/pebble-2.4.0{{,-external-solvers}}.toml:\n{}\nBIND: {}\nnginx: {}",
        wrong.join("\n"),
        bind.log_tail(),
        nginx.access_log()
    );
    for id in ["rfc8555/8.3/http-01-issuance", "rfc8555/8.4/dns-01-issuance", "rfc8737/3/tls-alpn-01-issuance"] {
        let case = report.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(case.verdict, Verdict::Pass, "{id}: {:?}", case.observed);
    }
    let unsupported = report.cases.iter().filter(|c| c.verdict == Verdict::Unsupported);
    let hidden = unsupported.filter(|c| c.observed.as_deref().is_some_and(|o| o.contains("cannot see the CA's validation requests"))).count();
    assert!(hidden > 0, "the observation cases say why they cannot run");
    assert!(nginx.access_log().contains("GET /.well-known/acme-challenge/"), "nginx served the tokens");
    assert!(bind.log_tail().contains("adding an RR at '_acme-challenge."), "BIND took the updates");
}

#[test]
fn solver_flags_that_do_not_fit_are_usage_errors() {
    let usage = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_acmespec")).args(args).output().expect("acmespec");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let directory = "https://127.0.0.1:9/directory";
    let (code, err) = usage(&["run", "--directory", directory, "--http01-webroot", "/nonexistent/www"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--http01-webroot /nonexistent/www: not a directory"), "{err}");
    let (code, err) = usage(&["run", "--directory", directory, "--solver-exec-for", "dns-01"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--solver-exec-for needs --solver-exec"), "{err}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_str().expect("path");
    let (code, err) =
        usage(&["run", "--directory", directory, "--http01-webroot", dir, "--solver-exec", "/bin/true", "--solver-exec-for", "http-01"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--solver-exec-for http-01: --http01-webroot answers it already"), "{err}");
    let (code, err) =
        usage(&["run", "--directory", directory, "--dns-rfc2136", "127.0.0.1", "--solver-exec", "/bin/true", "--solver-exec-for", "dns-01"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--solver-exec-for dns-01: --dns-rfc2136 answers it already"), "{err}");
    let (code, err) = usage(&["run", "--directory", directory, "--tsig", "k:hmac-sha256:c2VjcmV0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tsig needs --dns-rfc2136"), "{err}");
    let (code, err) = usage(&["run", "--directory", directory, "--dns-rfc2136", "ns.example"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--dns-rfc2136 ns.example: not an IP address or IP:PORT"), "{err}");
    let (code, err) = usage(&["run", "--directory", directory, "--dns-rfc2136", "127.0.0.1", "--tsig", "k:hmac-md5:c2VjcmV0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tsig") && err.contains("not one of hmac-sha256"), "{err}");
    let (code, err) = usage(&["matrix", "--clients", "/nonexistent/client.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/client.toml"), "{err}");
}
