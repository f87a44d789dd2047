//! The summary printed at the end, and whether the soak passed.

use crate::net::CONNECT_RETRIES;
use crate::session::{Counters, TRANSPORTS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the soak saw.
pub(crate) struct Report<'a> {
    /// The server's name in the JSON line.
    pub(crate) label: &'a str,
    /// Whether to print the JSON line.
    pub(crate) json: bool,
    /// Concurrent clients.
    pub(crate) workers: usize,
    /// Whether the RSS after the last round settled (see `settled_rss`).
    pub(crate) settled: bool,
    /// How long that took.
    pub(crate) settle_time: Duration,
    /// How long the load ran (`--duration`).
    pub(crate) duration: Duration,
    /// The sessions' counters.
    pub(crate) counters: &'a Counters,
    /// The longest wait, after a round, for the sessions to be reclaimed.
    pub(crate) reclaimed_after: Duration,
    /// The server's live sessions at the end; `None` if it did not answer.
    pub(crate) live: Option<u64>,
    /// The server's RSS (KiB) before the load.
    pub(crate) rss_start: u64,
    /// The server's highest sampled RSS (KiB).
    pub(crate) rss_peak: u64,
    /// The server's RSS (KiB) after each round, all sessions reclaimed.
    pub(crate) after_rounds: &'a [u64],
}

impl Report<'_> {
    /// Prints the summary; true if nothing was lost, no session failed and
    /// every session was reclaimed.
    pub(crate) fn print(&self) -> bool {
        let rss_end = *self.after_rounds.last().unwrap_or(&0);
        let c = self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        println!("soak: done after {:?}", self.duration);
        println!("  sessions served     {}", get(&c.sessions));
        for (i, t) in TRANSPORTS.iter().enumerate() {
            println!("    {t:<14}    {}", get(&c.per_transport[i]));
        }
        println!("  aborted mid-way     {}", get(&c.aborted));
        println!("  abandoned           {}", get(&c.abandoned));
        println!("  messages verified   {}", get(&c.verified));
        println!("  losses              {}", get(&c.losses));
        println!("  protocol errors     {}", get(&c.errors));
        println!("  connect retries     {}", get(&CONNECT_RETRIES));
        println!(
            "  live sessions after {:?}: {}",
            self.reclaimed_after,
            self.live.map_or("unknown".to_owned(), |n| n.to_string())
        );
        println!(
            "  server RSS          start {} KiB, peak {} KiB, end {} KiB",
            self.rss_start, self.rss_peak, rss_end
        );
        let rounds: Vec<String> = self.after_rounds.iter().map(|k| format!("{k} KiB")).collect();
        println!(
            "  server RSS after each round (all sessions reclaimed, {} after {:?}): {}",
            if self.settled { "settled" } else { "not settled" },
            self.settle_time,
            rounds.join(", ")
        );
        if self.json {
            println!("{}", self.json_line(rss_end));
        }
        get(&c.losses) == 0 && get(&c.errors) == 0 && self.live == Some(0)
    }

    /// The figures as one JSON line, in the shape of `sockjs-bench`'s (the
    /// correctness counters under the same names).
    fn json_line(&self, rss_end: u64) -> serde_json::Value {
        let c = self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let per_transport: serde_json::Map<String, serde_json::Value> = TRANSPORTS
            .iter()
            .enumerate()
            .map(|(i, t)| ((*t).to_owned(), get(&c.per_transport[i]).into()))
            .collect();
        serde_json::json!({
            "scenario": "soak",
            "label": self.label,
            "duration_s": self.duration.as_secs_f64(),
            "workers": self.workers,
            "sessions": get(&c.sessions),
            "per_transport": per_transport,
            "aborted": get(&c.aborted),
            "abandoned": get(&c.abandoned),
            "measured": get(&c.verified),
            "lost": get(&c.losses),
            "duplicated": 0,
            "reordered": 0,
            "corrupted": 0,
            "errors": get(&c.errors),
            "connect_retries": get(&CONNECT_RETRIES),
            "live_sessions_after": self.live,
            "reclaimed_after_s": self.reclaimed_after.as_secs_f64(),
            "rss_start_kib": self.rss_start,
            "rss_peak_kib": self.rss_peak,
            "rss_end_kib": rss_end,
            "rss_end_settled": self.settled,
            "rss_settle_s": (self.settle_time.as_secs_f64() * 10.0).round() / 10.0,
            "rss_after_rounds_kib": self.after_rounds,
        })
    }
}
