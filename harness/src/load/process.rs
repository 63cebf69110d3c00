//! CPU time and peak memory of the server and of the generator itself, from Linux
//! `/proc`, so that "flows per second" comes with what each flow cost.
//!
//! The crate forbids `unsafe`, so the clock tick rate comes from `getconf CLK_TCK`
//! rather than `sysconf`; where that is not there, 100 (every Linux default).

use serde::Serialize;
use std::sync::OnceLock;
use std::time::Duration;

/// CPU time and peak memory of one process at one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Usage {
    cpu: Duration,
    peak_rss_kib: Option<u64>,
}

/// The server's share of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    /// The process id read.
    pub pid: u32,
    /// CPU time (user and system) the server spent during the run, in milliseconds.
    pub cpu_ms: f64,
    /// That per completed flow.
    pub cpu_ms_per_flow: Option<f64>,
    /// The server's peak resident set size (VmHWM) at the end of the run, in KiB.
    pub peak_rss_kib: Option<u64>,
    /// The server's resident set size sampled through the run: whether memory stays
    /// flat over many flows or grows with them.
    pub memory: Vec<MemorySample>,
}

/// The server's resident set size at one moment of a run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemorySample {
    /// Seconds since the run started.
    pub seconds: f64,
    /// Flows completed by then.
    pub flows_completed: u64,
    /// Resident set size (VmRSS), in KiB.
    pub rss_kib: u64,
}

/// The generator's own share of a run (the built-in mock CA included when it runs in
/// this process).
#[derive(Debug, Clone, Serialize)]
pub struct HarnessUsage {
    /// CPU time (user and system) this process spent during the run, in milliseconds.
    pub cpu_ms: f64,
    /// That per completed flow.
    pub cpu_ms_per_flow: Option<f64>,
}

fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&ticks| ticks > 0)
            .unwrap_or(100)
    })
}

/// utime + stime of a `/proc/PID/stat` line, in clock ticks. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime and stime are fields 14 and 15.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// VmHWM of a `/proc/PID/status` text, in KiB.
fn peak_rss_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmHWM:")
}

/// The current resident set size of process `pid`, in KiB.
pub(super) fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?, "VmRSS:")
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn per_unit(cpu_ms: f64, units: u64) -> Option<f64> {
    (units > 0).then(|| cpu_ms / units as f64)
}

/// CPU time (user and system) a process has spent so far; `None` reads this process.
fn cpu_time(pid: Option<u32>) -> Result<Duration, String> {
    Usage::read(&pid.map_or_else(|| "self".to_owned(), |p| p.to_string())).map(|u| u.cpu)
}

/// One process's CPU time from a starting point on, so that a run can say what its
/// work cost in all and per unit (flow or request).
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: Option<u32>,
    start: Duration,
}

impl CpuMeter {
    /// Starts metering process `pid` (`None`: this process); an error when its `/proc`
    /// entry cannot be read, e.g. because no such process runs.
    pub fn start(pid: Option<u32>) -> Result<Self, String> {
        Ok(CpuMeter { pid, start: cpu_time(pid)? })
    }

    /// Milliseconds of CPU spent since the start, and that per unit of work (none when
    /// there were no units).
    pub fn spent(&self, units: u64) -> Result<(f64, Option<f64>), String> {
        let ms = millis(cpu_time(self.pid)?.saturating_sub(self.start));
        Ok((ms, per_unit(ms, units)))
    }
}

/// Why `--server-pid` is not read when the built-in mock CA is the server: the CA runs
/// in this process, so its CPU time is already in the harness's figure.
pub fn server_pid_ignored(pid: u32) -> String {
    format!("--server-pid {pid} ignored: the built-in mock CA runs in this process, so its CPU time is part of the harness figure")
}

impl Usage {
    /// Reads `/proc/<pid>/stat` and `status` (`pid` may be `self`).
    pub(super) fn read(pid: &str) -> Result<Usage, String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
        let ticks =
            cpu_ticks(&stat).ok_or_else(|| format!("/proc/{pid}/stat has no utime and stime"))?;
        let cpu = Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64);
        let peak_rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .as_deref()
            .and_then(peak_rss_kib);
        Ok(Usage { cpu, peak_rss_kib })
    }
}

impl ServerUsage {
    pub(super) fn between(pid: u32, before: &Usage, after: &Usage) -> Self {
        ServerUsage {
            pid,
            cpu_ms: millis(after.cpu.saturating_sub(before.cpu)),
            cpu_ms_per_flow: None,
            peak_rss_kib: after.peak_rss_kib,
            memory: Vec::new(),
        }
    }

    pub(super) fn per_flow(self, completed: u64) -> Self {
        ServerUsage {
            cpu_ms_per_flow: per_unit(self.cpu_ms, completed),
            ..self
        }
    }
}

impl HarnessUsage {
    pub(super) fn between(before: &Usage, after: &Usage) -> Self {
        HarnessUsage {
            cpu_ms: millis(after.cpu.saturating_sub(before.cpu)),
            cpu_ms_per_flow: None,
        }
    }

    pub(super) fn per_flow(self, completed: u64) -> Self {
        HarnessUsage {
            cpu_ms_per_flow: per_unit(self.cpu_ms, completed),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuMeter, cpu_ticks, peak_rss_kib};

    #[test]
    fn proc_fields() {
        let stat =
            "42 (a (weird) name) S 1 42 42 0 -1 4194304 100 0 0 0 250 30 0 0 20 0 4 0 1000 1 1";
        assert_eq!(cpu_ticks(stat), Some(280));
        assert_eq!(cpu_ticks("garbage"), None);
        assert_eq!(
            peak_rss_kib("Name:\tx\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n"),
            Some(12345)
        );
        assert_eq!(peak_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_meter_divides_by_units_and_refuses_absent_processes() {
        let meter = CpuMeter::start(None).expect("this process");
        let busy: u64 = (0..2_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert_ne!(busy, 1);
        let (ms, per_unit) = meter.spent(4).expect("this process");
        assert!(ms >= 0.0);
        assert_eq!(per_unit, Some(ms / 4.0));
        assert_eq!(meter.spent(0).expect("this process").1, None);
        let absent = CpuMeter::start(Some(u32::MAX)).expect_err("no process has pid u32::MAX");
        assert!(absent.contains("/proc/4294967295/stat"), "{absent}");
    }
}
