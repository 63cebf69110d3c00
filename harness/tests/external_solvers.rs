//! External solvers, for CAs that cannot reach the runner's responders: the server under
//! test is `acmespec serve` (its VA resolving through its own DNS, whose records a solver
//! sets through the management API, as challtestsrv's are), answered by
//! - `--http01-webroot`: token files served by a real nginx (Debian `nginx-light`);
//! - `--solver-exec`: a script publishing dns-01 records with curl.
//!
//! The issuance cases pass through each path; the cases that judge what the CA's
//! validation requests looked like are `unsupported`, saying why; a solver that fails,
//! hangs or a webroot that is no directory gives a clear error, bounded in time. The
//! test fails, never skips, without nginx or curl: run `scripts/test`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A child process, started in a process group of its own, whose group is killed when
/// the test ends (nginx's workers outlive a killed master otherwise).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cmd` in a process group of its own.
fn grouped(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
}

/// `acmespec serve` with its own DNS and management API; returns it, its directory URL,
/// the management URL and the root to trust.
fn serve(dir: &Path, va_http_port: u16) -> (Running, String, String, String) {
    let (https, management, dns) = (free_port(), free_port(), free_port());
    let ca = dir.join("ca.pem");
    let child = grouped(&mut Command::new(env!("CARGO_BIN_EXE_acmespec")))
        .args(["serve", "--listen", &format!("127.0.0.1:{https}"), "--management-listen", &format!("127.0.0.1:{management}")])
        .args(["--dns-listen", &format!("127.0.0.1:{dns}"), "--va-http-port", &va_http_port.to_string()])
        .args(["--va-tls-port", &free_port().to_string(), "--ca-cert-out", ca.to_str().expect("path")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("acmespec serve starts");
    let started = Instant::now();
    while !ca.exists() || std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "acmespec serve did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Running(child), format!("https://127.0.0.1:{https}/directory"), format!("http://127.0.0.1:{management}"), ca.display().to_string())
}

/// `acmespec run` against `directory` with `extra` arguments; exit code and stdout.
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

fn require(program: &str, package: &str) {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().any(|d| Path::new(d).join(program).is_file());
    assert!(found, "{program} not found: install Debian's {package} (scripts/test does)");
}

#[test]
fn http01_through_a_webroot_served_by_nginx() {
    require("nginx", "nginx-light");
    let tmp = tempfile::tempdir().expect("temp dir");
    let webroot = tmp.path().join("www");
    std::fs::create_dir_all(&webroot).expect("webroot");
    let port = free_port();
    let conf = tmp.path().join("nginx.conf");
    let user = if unsafe_is_root() { "user root;\n" } else { "" };
    std::fs::write(
        &conf,
        format!(
            "{user}daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log {dir}/access.log; client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n",
            dir = tmp.path().display(),
            root = webroot.display()
        ),
    )
    .expect("nginx.conf");
    let nginx = grouped(&mut Command::new("nginx"))
        .args(["-p", tmp.path().to_str().expect("path"), "-c", conf.to_str().expect("path")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let _nginx = Running(nginx);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "nginx did not come up: {:?}", std::fs::read_to_string(tmp.path().join("error.log")));
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_ca_process, directory, _, ca) = serve(tmp.path(), port);
    let md = tmp.path().join("report.md");
    let (code, out) = run(
        &directory,
        &ca,
        &["--http01-webroot", webroot.to_str().expect("path"), "--filter", "rfc8555/8.3/*", "--md", md.to_str().expect("path")],
    );
    let report = std::fs::read_to_string(&md).expect("the Markdown report");
    assert!(report.contains("**Validation answered by:** http-01: webroot"), "the report names the path: {report}");
    assert!(verdict_line(&out, "rfc8555/8.3/http-01-issuance").starts_with("PASS"), "{out}");
    let whitespace = out.split("rfc8555/8.3/http-01-trailing-whitespace").nth(1).unwrap_or_default();
    assert!(verdict_line(&out, "rfc8555/8.3/http-01-trailing-whitespace").starts_with("UNSUPPORTED"), "{out}");
    assert!(whitespace.lines().take(3).any(|l| l.contains("answered by webroot")), "{out}");
    assert_eq!(code, 0, "{out}");
    let log = std::fs::read_to_string(tmp.path().join("access.log")).expect("nginx access log");
    assert!(log.contains("GET /.well-known/acme-challenge/"), "nginx served no token: {log}");
    let left = std::fs::read_dir(webroot.join(".well-known/acme-challenge")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "token files are removed when the case ends");
}

fn unsafe_is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
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
    let (_ca_process, directory, management, ca) = serve(tmp.path(), free_port());
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

#[test]
fn a_webroot_that_is_no_directory_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_acmespec"))
        .args(["run", "--directory", "https://127.0.0.1:9/directory", "--http01-webroot", "/nonexistent/www"])
        .output()
        .expect("acmespec run");
    let (code, out) = (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--http01-webroot /nonexistent/www: not a directory"), "{out}");

    let usage = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_acmespec")).args(args).output().expect("acmespec");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = usage(&["run", "--directory", "https://127.0.0.1:9/directory", "--solver-exec-for", "dns-01"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--solver-exec-for needs --solver-exec"), "{err}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_str().expect("path");
    let (code, err) = usage(&[
        "run", "--directory", "https://127.0.0.1:9/directory", "--http01-webroot", dir, "--solver-exec", "/bin/true",
        "--solver-exec-for", "http-01",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--solver-exec-for http-01: --http01-webroot answers it already"), "{err}");
    let (code, err) = usage(&["matrix", "--clients", "/nonexistent/client.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/client.toml"), "{err}");
}
