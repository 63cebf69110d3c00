//! Running an adapter's commands: no shell, proxy variables removed, output captured
//! to files whose tails go into the report, the webroot served while a command needs
//! it, and every command bounded in time (its process group killed then).

use super::*;

/// Runs the commands in order, stopping at the first that does not succeed; serves the
/// webroot while a command that needs it runs. Returns how the commands ended, their
/// runs, and the files a client wrote outside the webroot for tokens the CA asked it
/// for in vain.
pub(super) async fn run_sequence(
    specs: &[CommandSpec],
    dir: &Path,
    webroot: Option<&Webroot>,
    timeout: Duration,
    tail_lines: usize,
) -> (RunOutcome, Vec<CommandRun>, Vec<PathBuf>) {
    let mut runs = Vec::new();
    let mut misplaced = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let server = match webroot.filter(|_| spec.serve_webroot) {
            Some(w) => match Http01Responder::bind_webroot(w.addr, w.root.clone(), dir.to_owned()).await {
                Ok(server) => Some(server),
                Err(e) => {
                    let mut run = CommandRun::new(spec);
                    run.spawn_error = Some(format!("cannot serve the webroot on {}: {e}", w.addr));
                    runs.push(run);
                    return (RunOutcome::NotStarted, runs, misplaced);
                }
            },
            None => None,
        };
        let run = run_command(spec, dir, i + 1, timeout, tail_lines).await;
        if let Some(server) = server {
            misplaced.extend(server.misplaced());
            server.shutdown();
            // Let the aborted server task drop its listener before the next command binds the port.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let outcome = if run.spawn_error.is_some() {
            Some(RunOutcome::NotStarted)
        } else if run.timed_out {
            Some(RunOutcome::Timeout)
        } else if run.signal.is_some() {
            Some(RunOutcome::Crashed)
        } else if run.exit_code == Some(127) {
            Some(RunOutcome::Unsupported)
        } else if run.exit_code != Some(0) {
            Some(RunOutcome::Failure)
        } else {
            None
        };
        runs.push(run);
        if let Some(o) = outcome {
            return (o, runs, misplaced);
        }
    }
    (RunOutcome::Success, runs, misplaced)
}

/// Environment variables that would send the client to a proxy instead of the local CA.
const PROXY_VARS: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];

pub(super) async fn run_command(spec: &CommandSpec, dir: &Path, n: usize, timeout: Duration, tail_lines: usize) -> CommandRun {
    let started = Instant::now();
    let stem = dir.join(format!("{n}-{}", spec.op.name()));
    let (out_path, err_path) = (stem.with_extension("stdout"), stem.with_extension("stderr"));
    let mut run = CommandRun::new(spec);
    let files = std::fs::File::create(&out_path).and_then(|o| Ok((o, std::fs::File::create(&err_path)?)));
    let (out, err) = match files {
        Ok(f) => f,
        Err(e) => {
            run.spawn_error = Some(format!("cannot create the output files in {}: {e}", dir.display()));
            return run;
        }
    };
    let mut cmd = tokio::process::Command::new(&spec.argv[0]);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} not found on PATH (install the client; scripts/test installs lego and certbot)", spec.argv[0])
            } else {
                format!("cannot start {}: {e}", spec.argv[0])
            };
            run.spawn_error = Some(why);
            return run;
        }
    };
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            run.timed_out = true;
            // The leader has not been reaped, so its id still names its group: kill
            // the whole group (hooks, helpers), then the leader for certain.
            if let Some(pid) = child.id() {
                crate::peers::kill_process_group(pid);
            }
            let _ = child.start_kill();
            tokio::time::timeout(Duration::from_secs(10), child.wait()).await.ok().and_then(Result::ok)
        }
    };
    if let Some(status) = status
        && !run.timed_out
    {
        use std::os::unix::process::ExitStatusExt;
        run.exit_code = status.code();
        run.signal = status.signal();
    }
    run.duration_ms = started.elapsed().as_millis() as u64;
    run.stdout_tail = tail(&out_path, tail_lines);
    run.stderr_tail = tail(&err_path, tail_lines);
    run
}

/// The last `lines` lines of a file (at most 16 KiB of them).
pub(super) fn tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else { return String::new() };
    let start = bytes.len().saturating_sub(16 * 1024);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
