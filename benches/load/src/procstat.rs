//! CPU time and resident memory of processes, from `/proc` (Linux).
//!
//! CPU time is `utime + stime` from `/proc/PID/stat`, and `stime` alone is also kept (the
//! kernel's share, which on loopback includes the receive path of what was sent). For a
//! process (a thread group) the kernel sums every thread in it, including threads that
//! have already exited. The unit is
//! the kernel's `USER_HZ`, which is 100 on every Linux architecture this runs on (x86_64,
//! aarch64), so samples have a 10 ms resolution. RSS is `VmRSS` from `/proc/PID/status`.

use std::fs;

use crate::LoadError;

/// Ticks per second of the CPU times in `/proc/PID/stat` (`USER_HZ`, fixed by the ABI).
const USER_HZ: f64 = 100.0;

/// One sample of a set of processes: their CPU seconds and RSS, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User + system CPU seconds since each process started.
    pub cpu_s: f64,
    /// The system (kernel) part of `cpu_s`.
    pub sys_s: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

/// Samples the processes `pids`, summed (none: all zero).
pub fn sample(pids: &[u32]) -> Result<Usage, LoadError> {
    let mut total = Usage::default();
    for pid in pids {
        let one = sample_one(&pid.to_string())?;
        total.cpu_s += one.cpu_s;
        total.sys_s += one.sys_s;
        total.rss_kib += one.rss_kib;
    }
    Ok(total)
}

/// This process's CPU seconds.
pub fn own_cpu_s() -> Result<f64, LoadError> {
    sample_one("self").map(|u| u.cpu_s)
}

/// One process, by `/proc` entry name (a PID or `self`).
fn sample_one(entry: &str) -> Result<Usage, LoadError> {
    let read = |file: &str| {
        let path = format!("/proc/{entry}/{file}");
        fs::read_to_string(&path).map_err(|e| LoadError::io(format!("read {path} (--pid)"), e))
    };
    let stat = read("stat")?;
    let (user, sys) = parse_cpu_ticks(&stat)
        .ok_or_else(|| LoadError::Unexpected(format!("/proc/{entry}/stat: {stat}")))?;
    let cpu_s = (user + sys) as f64 / USER_HZ;
    let sys_s = sys as f64 / USER_HZ;
    let status = read("status")?;
    // Kernel threads have no VmRSS line: 0 KiB.
    let rss_kib = parse_vm_rss_kib(&status).unwrap_or(0);
    Ok(Usage {
        cpu_s,
        sys_s,
        rss_kib,
    })
}

/// `(utime, stime)` (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces and parentheses itself: fields are counted from the
/// last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so utime (14) is index 11.
    let mut fields = after_comm.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// The `VmRSS:` value (KiB) of a `/proc/PID/status` file.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_ascii_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 75 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some((250, 75)));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tmtlsd\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(4321));
        assert_eq!(parse_vm_rss_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(&[std::process::id()]).unwrap();
        assert!(me.rss_kib > 0);
        assert!(me.cpu_s >= 0.0);
        assert!(own_cpu_s().unwrap() >= 0.0);
        assert!(sample(&[u32::MAX]).is_err());
    }
}
