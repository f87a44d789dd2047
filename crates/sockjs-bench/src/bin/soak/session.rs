//! A soak session's vocabulary: the transports, how a session behaves, and
//! the counters every session adds to.

use std::sync::atomic::AtomicU64;

/// What the soak counts, shared by every worker.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) sessions: AtomicU64,
    pub(crate) verified: AtomicU64,
    pub(crate) losses: AtomicU64,
    pub(crate) aborted: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) per_transport: [AtomicU64; 6],
}

/// The transports, by their URL name; a session's transport is an index.
pub(crate) const TRANSPORTS: [&str; 6] = ["websocket", "xhr", "xhr_streaming", "eventsource", "htmlfile", "jsonp"];

/// How a session ends.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Behaviour {
    /// Sends every message and checks every echo, then closes.
    WellBehaved,
    /// Drops its connection mid-way.
    Abort,
    /// Goes silent and lets the server time it out.
    Abandon,
}
