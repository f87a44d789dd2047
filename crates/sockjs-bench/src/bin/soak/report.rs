//! The summary printed at the end, and whether the soak passed.

use crate::net::CONNECT_RETRIES;
use crate::session::{Counters, TRANSPORTS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the soak saw.
pub(crate) struct Report<'a> {
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
            "  server RSS after each round (all sessions reclaimed): {}",
            rounds.join(", ")
        );
        get(&c.losses) == 0 && get(&c.errors) == 0 && self.live == Some(0)
    }
}
