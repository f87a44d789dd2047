//! The send schedule of a paced (open-loop) echo session: `--rate R` with
//! `ws`, `raw-ws` or `sio-ws` makes every session send `R` messages per
//! second, message `k` at `phase + k / R` after the run's start.
//!
//! Each session's phase is drawn uniformly from `[0, 1/R)`, so that the
//! sessions' sends spread over each period instead of arriving together:
//! the server sees a smooth `sessions × R` messages per second. A message
//! carries its scheduled time, not the time it actually left: a client (or
//! a server) that falls behind shows up as latency instead of silently
//! sending less (coordinated omission).

use std::time::{Duration, Instant};

/// One session's schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pace {
    /// Seconds between two messages (`1 / rate`).
    period_s: f64,
    /// Seconds from the start to message 0, in `[0, period_s)`.
    phase_s: f64,
}

impl Pace {
    /// The schedule of session `sid` at `rate` messages per second; `seed`
    /// varies the phases from one run to the next.
    pub(crate) fn new(rate: f64, sid: u32, seed: u64) -> Pace {
        let period_s = 1.0 / rate;
        Pace {
            period_s,
            phase_s: unit(splitmix64(seed ^ u64::from(sid))) * period_s,
        }
    }

    /// When message `k` is due, as an offset from the start.
    pub(crate) fn offset(&self, k: u64) -> Duration {
        Duration::from_secs_f64(self.phase_s + k as f64 * self.period_s)
    }

    /// When message `k` is due.
    pub(crate) fn due(&self, start: Instant, k: u64) -> Instant {
        start + self.offset(k)
    }
}

/// A well-mixed 64-bit hash (SplitMix64's finaliser): consecutive inputs
/// give unrelated outputs.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `x` mapped onto `[0, 1)`, from its top 53 bits.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A seed that differs between runs: the clock's nanoseconds.
pub(crate) fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_period_apart_after_the_phase() {
        let p = Pace::new(2.0, 7, 42);
        assert!(p.phase_s >= 0.0 && p.phase_s < 0.5);
        assert_eq!(p.offset(0), Duration::from_secs_f64(p.phase_s));
        let gap = p.offset(11) - p.offset(10);
        assert!((gap.as_secs_f64() - 0.5).abs() < 1e-6, "{gap:?}");
        assert!((p.offset(20).as_secs_f64() - (p.phase_s + 10.0)).abs() < 1e-6);
        let start = Instant::now();
        assert_eq!(p.due(start, 3), start + p.offset(3));
        // The same session and seed give the same schedule.
        assert_eq!(Pace::new(2.0, 7, 42), p);
    }

    #[test]
    fn phases_spread_evenly_over_the_period() {
        // 10,000 sessions at 2/s: every tenth of the period gets close to
        // a tenth of the sessions' first sends.
        let mut buckets = [0u32; 10];
        for sid in 0..10_000 {
            let p = Pace::new(2.0, sid, 1234);
            assert!(p.phase_s >= 0.0 && p.phase_s < 0.5);
            buckets[(p.phase_s / 0.05) as usize] += 1;
        }
        for (i, &n) in buckets.iter().enumerate() {
            assert!((900..=1100).contains(&n), "bucket {i}: {n} of 10,000");
        }
        // Another seed, other phases.
        assert_ne!(Pace::new(2.0, 0, 1), Pace::new(2.0, 0, 2));
    }

    #[test]
    fn unit_stays_below_one() {
        assert_eq!(unit(0), 0.0);
        assert!(unit(u64::MAX) < 1.0);
    }
}
