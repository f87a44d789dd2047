//! When the server's memory has settled after the load: RSS sampled at a
//! fixed interval until the last few samples agree.

use std::collections::VecDeque;

/// Samples of one process's RSS, judged for stability.
pub(crate) struct Settle {
    /// The most recent samples, KiB, oldest first.
    recent: VecDeque<u64>,
    /// How many consecutive samples must agree.
    window: usize,
}

/// Samples agree when they lie within this fraction of the latest one...
const TOLERANCE: f64 = 0.01;
/// ...or within this many KiB, whichever is larger (a page or two moving
/// about is not a trend).
const TOLERANCE_FLOOR_KIB: u64 = 256;

impl Settle {
    /// Stable once `window` consecutive samples agree.
    pub(crate) fn new(window: usize) -> Settle {
        Settle {
            recent: VecDeque::with_capacity(window),
            window: window.max(2),
        }
    }

    /// Adds a sample; true once the last `window` samples agree.
    pub(crate) fn push(&mut self, rss_kib: u64) -> bool {
        if self.recent.len() == self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(rss_kib);
        if self.recent.len() < self.window {
            return false;
        }
        let (lo, hi) = self
            .recent
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let tolerance = ((rss_kib as f64 * TOLERANCE) as u64).max(TOLERANCE_FLOOR_KIB);
        hi - lo <= tolerance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_once_the_window_agrees() {
        let mut s = Settle::new(3);
        // Falling by megabytes: not settled.
        assert!(!s.push(50_000));
        assert!(!s.push(40_000));
        assert!(!s.push(30_000));
        assert!(!s.push(29_900));
        // Three samples within 1% (300 KiB) of 29,800.
        assert!(s.push(29_800));
        // A jump starts over.
        assert!(!s.push(35_000));
        assert!(!s.push(35_000));
        assert!(s.push(35_000));
    }

    #[test]
    fn small_processes_get_the_floor() {
        let mut s = Settle::new(2);
        assert!(!s.push(4_000));
        // 200 KiB apart on 4 MiB: more than 1%, under the 256 KiB floor.
        assert!(s.push(4_200));
        assert!(!s.push(4_600));
    }
}
