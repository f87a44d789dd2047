//! WebSocket: the handshake (`handshake`), the framed and raw session loop
//! over the upgraded connection (`session`), and the guard that watches the
//! inbound byte stream for fragment floods and stalled frames (`guard`).
//! A session's connection loop and its application share one task (`pair`);
//! its writes run under a deadline (`write`).

mod guard;
pub(crate) mod handshake;
mod pair;
mod session;
#[cfg(test)]
mod tests;
mod write;
