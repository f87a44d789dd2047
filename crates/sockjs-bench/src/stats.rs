//! Counters merged across sessions, latency histograms, and the CPU and
//! memory of a process read from `/proc`.

use crate::msg::Tracker;
use hdrhistogram::Histogram;
use std::time::Instant;

/// Kernel clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on
/// every Linux architecture that user space sees).
const USER_HZ: f64 = 100.0;

/// Latency histogram in microseconds, from 1 µs to 10 minutes, 3
/// significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Latencies (µs): a session keeps its samples in a plain list, folded into
/// one histogram when the sessions' counts are merged. A histogram per
/// session (172 KB of counters each, mapped lazily) made the load generator
/// page-fault its way through gigabytes at the start of a run with 10,000
/// sessions: seconds in the kernel zeroing pages, during which its own sends
/// fell behind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latency {
    samples: Vec<u32>,
    hist: Option<Histogram<u64>>,
}

impl Latency {
    fn record(&mut self, us: u64) {
        self.samples.push(u32::try_from(us.max(1)).unwrap_or(u32::MAX));
    }

    /// Everything recorded, as one histogram.
    pub(crate) fn histogram(&mut self) -> &Histogram<u64> {
        let h = self.hist.get_or_insert_with(histogram);
        for us in self.samples.drain(..) {
            h.saturating_record(u64::from(us));
        }
        h
    }

    fn add(&mut self, mut o: Latency) {
        let h = self.hist.get_or_insert_with(histogram);
        if let Some(oh) = o.hist.take() {
            h.add(&oh).expect("same histogram bounds");
        }
        for us in o.samples.drain(..) {
            h.saturating_record(u64::from(us));
        }
    }
}

/// What every session contributes to a scenario's result.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    /// Messages (or round trips, or sessions established) completed inside
    /// the measurement window.
    pub(crate) measured: u64,
    /// Messages sent over the whole run.
    pub(crate) sent: u64,
    /// Distinct messages received over the whole run.
    pub(crate) received: u64,
    /// Messages never received back.
    pub(crate) lost: u64,
    /// Messages received twice.
    pub(crate) duplicated: u64,
    /// Messages received after a later one.
    pub(crate) reordered: u64,
    /// Messages with wrong bytes.
    pub(crate) corrupted: u64,
    /// Connection, handshake, HTTP status or protocol failures.
    pub(crate) errors: u64,
    /// Latency (µs) of what was measured.
    pub(crate) latency: Latency,
    /// The first few error descriptions, for the human summary.
    pub(crate) error_samples: Vec<String>,
    /// Paced sessions: the largest delay of a send scheduled inside the
    /// measured window behind its schedule, µs (large values mean the
    /// client could not keep the pace).
    pub(crate) lag_max_us: u64,
}

impl Counts {
    /// Adds one session's tracker (call once, when the session is done).
    pub(crate) fn add_tracker(&mut self, t: &Tracker) {
        self.sent += t.sent;
        self.received += t.received;
        self.lost += t.lost();
        self.duplicated += t.duplicated;
        self.reordered += t.reordered;
        self.corrupted += t.corrupted;
    }

    /// Records an error, keeping its text if fewer than 5 are kept.
    pub(crate) fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.error_samples.len() < 5 {
            self.error_samples.push(e.to_string());
        }
    }

    /// Records a latency in microseconds (clamped into the histogram range).
    pub(crate) fn record(&mut self, us: u64) {
        self.latency.record(us);
    }

    /// Adds another session's counts.
    pub(crate) fn merge(&mut self, o: Counts) {
        self.measured += o.measured;
        self.sent += o.sent;
        self.received += o.received;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.corrupted += o.corrupted;
        self.errors += o.errors;
        self.lag_max_us = self.lag_max_us.max(o.lag_max_us);
        self.latency.add(o.latency);
        for e in o.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(e);
            }
        }
    }
}

/// CPU time and resident memory of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcSample {
    /// User plus system CPU time, seconds.
    pub(crate) cpu_s: f64,
    /// Resident set size, KiB.
    pub(crate) rss_kib: u64,
    /// When it was taken.
    pub(crate) at: Instant,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status` (`pid` = `"self"` for
/// this process); `None` when the process is gone or unreadable.
///
/// `pid` may list several processes (`12,13,14`, the nodes of a cluster):
/// their CPU times and RSS are summed.
pub(crate) fn sample(pid: &str) -> Option<ProcSample> {
    if pid.contains(',') {
        let all: Option<Vec<ProcSample>> = pid.split(',').map(sample).collect();
        let all = all?;
        return Some(ProcSample {
            cpu_s: all.iter().map(|s| s.cpu_s).sum(),
            rss_kib: all.iter().map(|s| s.rss_kib).sum(),
            at: Instant::now(),
        });
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu_s: parse_cpu(&stat)?,
        rss_kib: parse_rss(&status)?,
        at: Instant::now(),
    })
}

/// utime + stime (fields 14 and 15) in seconds. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU use between two samples, percent of one core.
pub(crate) fn cpu_percent(a: &ProcSample, b: &ProcSample) -> f64 {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        0.0
    } else {
        100.0 * (b.cpu_s - a.cpu_s) / wall
    }
}

/// Server CPU time per operation (echoed message, established session,
/// delivery), µs: the CPU time between two samples over the operations
/// completed between them. `None` without operations.
pub(crate) fn cpu_us_per_op(a: &ProcSample, b: &ProcSample, ops: u64) -> Option<f64> {
    (ops > 0).then(|| (b.cpu_s - a.cpu_s).max(0.0) * 1e6 / ops as f64)
}

/// Fairness between sessions measured over the same window: the slowest
/// session's count over the fastest's (1 = perfectly even, 0 = a session
/// starved). `None` when no session completed anything.
pub(crate) fn fairness(per_session: &[u64]) -> Option<f64> {
    let max = *per_session.iter().max()?;
    let min = *per_session.iter().min()?;
    (max > 0).then(|| min as f64 / max as f64)
}

/// The slowest, median and fastest session's rate (per second) over a
/// window of `secs` seconds.
pub(crate) fn session_rates(per_session: &[u64], secs: f64) -> Option<(f64, f64, f64)> {
    if per_session.is_empty() || secs <= 0.0 {
        return None;
    }
    let mut v = per_session.to_vec();
    v.sort_unstable();
    let rate = |n: u64| n as f64 / secs;
    Some((rate(v[0]), rate(v[v.len() / 2]), rate(v[v.len() - 1])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 4 0 100 1000 300";
        assert_eq!(parse_cpu(stat), Some(3.0));
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1532 kB\nThreads:\t4\n";
        assert_eq!(parse_rss(status), Some(1532));
    }

    #[test]
    fn reads_this_process() {
        let s = sample("self").expect("/proc/self readable");
        assert!(s.rss_kib > 0);
    }

    #[test]
    fn merges_counts() {
        let mut a = Counts::default();
        a.record(10);
        a.error("one");
        let mut b = Counts {
            measured: 3,
            corrupted: 1,
            ..Counts::default()
        };
        b.record(1000);
        a.merge(b);
        let h = a.latency.histogram();
        assert_eq!((h.len(), h.min(), h.max()), (2, 10, 1000));
        assert_eq!((a.measured, a.corrupted, a.errors), (3, 1, 1));
        assert_eq!(a.error_samples, vec!["one".to_string()]);
    }

    #[test]
    fn cpu_per_operation() {
        let at = Instant::now();
        let a = ProcSample {
            cpu_s: 1.5,
            rss_kib: 0,
            at,
        };
        let b = ProcSample {
            cpu_s: 2.0,
            rss_kib: 0,
            at,
        };
        // 0.5 s of CPU over 100,000 messages: 5 µs each.
        assert_eq!(cpu_us_per_op(&a, &b, 100_000), Some(5.0));
        assert_eq!(cpu_us_per_op(&a, &b, 0), None);
        // A clock that went backwards (a sample of another process) is 0.
        assert_eq!(cpu_us_per_op(&b, &a, 10), Some(0.0));
    }

    #[test]
    fn fairness_is_slowest_over_fastest() {
        assert_eq!(fairness(&[80, 100, 90]), Some(0.8));
        assert_eq!(fairness(&[7]), Some(1.0));
        assert_eq!(fairness(&[0, 50]), Some(0.0));
        assert_eq!(fairness(&[0, 0]), None);
        assert_eq!(fairness(&[]), None);
    }

    #[test]
    fn session_rates_over_the_window() {
        assert_eq!(session_rates(&[30, 10, 20], 10.0), Some((1.0, 2.0, 3.0)));
        assert_eq!(session_rates(&[5, 5, 10, 10], 5.0), Some((1.0, 2.0, 2.0)));
        assert_eq!(session_rates(&[], 10.0), None);
        assert_eq!(session_rates(&[1], 0.0), None);
    }
}
