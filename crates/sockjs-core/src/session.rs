//! The session state machine.
//!
//! A SockJS session outlives the HTTP requests that carry it: receivers
//! (polling or streaming responses, or one websocket) attach and detach, the
//! application queues messages at any time, and the session expires when no
//! receiver was attached for `disconnect_delay`. This type holds that state
//! and answers "what must be sent now"; it never sleeps, spawns or writes.
//! Time is passed in as [`Instant`]s.

use crate::frame::{encode_close, OPEN};
use crate::message::{encode_outbound, FrameText, Outbound, SharedMessage};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The close code and reason sent to a second concurrent receiver.
pub const ANOTHER_CONNECTION: (u16, &str) = (2010, "Another connection still open");
/// The close code and reason after a receiver was aborted by the peer.
pub const CONNECTION_INTERRUPTED: (u16, &str) = (1002, "Connection interrupted");
/// The default close code and reason (`Session::close` without arguments).
pub const GO_AWAY: (u16, &str) = (3000, "Go away!");

/// The session's ready state, as in the WebSocket API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReadyState {
    /// Created; the open frame has not been delivered yet.
    Connecting,
    /// Open: messages flow both ways.
    Open,
    /// Closed by the server; the close frame has not been delivered yet.
    Closing,
    /// Closed.
    Closed,
}

/// Bounds on the outbound queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Maximum number of queued messages.
    pub max_messages: usize,
    /// Maximum total size of queued messages, in bytes. A single message
    /// larger than this is still accepted into an empty queue, so that any
    /// message can eventually be sent.
    pub max_bytes: usize,
}

/// An identifier for an attached receiver, returned by [`Session::attach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiverId(u64);

/// The answer to a receiver asking to attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attach {
    /// The receiver is attached and must call [`Session::next_frame`].
    Attached(ReceiverId),
    /// Another receiver is attached: answer with `c[2010,...]` and end.
    Busy,
}

/// A frame the caller must send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The encoded frame.
    pub frame: FrameText,
    /// True for the close frame: the receiver must end after it.
    pub is_close: bool,
    /// True when messages left the queue, so waiting senders may proceed.
    pub freed_space: bool,
}

/// Why [`Session::push`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The queue is full; the message is handed back.
    #[error("outbound queue is full")]
    Full(String),
    /// The session is closing or closed; the message is handed back.
    #[error("session is closed")]
    Closed(String),
}

/// What happened when a session closed, reported once by [`Session::take_close_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEvent {
    /// The close code.
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

/// `now + d`, or the farthest instant representable near it when that
/// overflows (a `disconnect_delay` of `Duration::MAX` means "never").
fn later(now: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(d)
        .or_else(|| now.checked_add(CENTURY))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// The state of one SockJS session.
///
/// ```
/// use sockjs_core::{Attach, QueueLimits, Session};
/// use std::time::{Duration, Instant};
/// let now = Instant::now();
/// let limits = QueueLimits { max_messages: 16, max_bytes: 1024 };
/// let mut s = Session::new(now, Duration::from_secs(5), limits);
/// let Attach::Attached(r) = s.attach() else { unreachable!() };
/// assert_eq!(s.next_frame(r).unwrap().frame, "o");
/// s.push("hi".into()).unwrap();
/// assert_eq!(s.next_frame(r).unwrap().frame, r#"a["hi"]"#);
/// s.detach(r, now, false);
/// assert!(s.is_expired(now + Duration::from_secs(5)));
/// ```
#[derive(Debug)]
pub struct Session {
    state: ReadyState,
    queue: VecDeque<Outbound>,
    queued_bytes: usize,
    limits: QueueLimits,
    close: Option<(u16, String)>,
    close_event: Option<CloseEvent>,
    close_reported: bool,
    receiver: Option<ReceiverId>,
    next_receiver: u64,
    /// The open frame was handed to a receiver. Tracked apart from the
    /// state: a session closed before its first receiver polled still
    /// opens first, then closes.
    opened: bool,
    disconnect_delay: Duration,
    expires_at: Option<Instant>,
}

impl Session {
    /// A new session with no receiver; it expires at `now + disconnect_delay`
    /// unless a receiver attaches.
    pub fn new(now: Instant, disconnect_delay: Duration, limits: QueueLimits) -> Session {
        Session {
            state: ReadyState::Connecting,
            queue: VecDeque::new(),
            queued_bytes: 0,
            limits,
            close: None,
            close_event: None,
            close_reported: false,
            receiver: None,
            next_receiver: 0,
            opened: false,
            disconnect_delay,
            expires_at: Some(later(now, disconnect_delay)),
        }
    }

    /// The ready state.
    pub fn ready_state(&self) -> ReadyState {
        self.state
    }

    /// True once the session is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.state >= ReadyState::Closing
    }

    /// The queue's bounds.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// Number of queued outbound messages.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Total bytes of queued outbound messages.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// True when a receiver is attached.
    pub fn has_receiver(&self) -> bool {
        self.receiver.is_some()
    }

    /// Attaches a receiver unless one is attached already.
    pub fn attach(&mut self) -> Attach {
        if self.receiver.is_some() {
            return Attach::Busy;
        }
        let id = ReceiverId(self.next_receiver);
        self.next_receiver += 1;
        self.receiver = Some(id);
        self.expires_at = None;
        Attach::Attached(id)
    }

    /// Detaches receiver `id`. With `aborted` (the peer went away before the
    /// response completed) an open session closes with
    /// `c[1002,"Connection interrupted"]`, since messages may have been lost.
    /// The session then expires `disconnect_delay` after `now`.
    pub fn detach(&mut self, id: ReceiverId, now: Instant, aborted: bool) {
        if self.receiver != Some(id) {
            return;
        }
        self.receiver = None;
        self.expires_at = Some(later(now, self.disconnect_delay));
        if aborted && !self.is_closed() {
            let (code, reason) = CONNECTION_INTERRUPTED;
            self.close_with(code, reason);
        }
    }

    /// When the session expires if nothing attaches; `None` while a receiver
    /// is attached.
    pub fn deadline(&self) -> Option<Instant> {
        self.expires_at
    }

    /// True when no receiver is attached and the deadline has passed.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.receiver.is_none() && self.expires_at.is_some_and(|d| d <= now)
    }

    /// Marks the session closed because it expired (or the server is
    /// shutting down without a receiver). No frame can be delivered anymore.
    pub fn expire(&mut self, code: u16, reason: &str) {
        if !self.is_closed() {
            self.close_with(code, reason);
        }
        self.state = ReadyState::Closed;
    }

    /// Queues an application message.
    pub fn push(&mut self, msg: String) -> Result<(), PushError> {
        if self.is_closed() {
            return Err(PushError::Closed(msg));
        }
        if !self.has_room(msg.len()) {
            return Err(PushError::Full(msg));
        }
        self.queued_bytes += msg.len();
        self.queue.push_back(Outbound::Owned(msg));
        Ok(())
    }

    /// Queues a message shared with other sessions, even past the queue's
    /// bounds: a broadcast never waits for one session. Returns whether the
    /// queue is now over its bounds (the caller applies its slow-consumer
    /// rule), or `None` when the session is closed.
    pub fn push_shared(&mut self, msg: SharedMessage) -> Option<bool> {
        if self.is_closed() {
            return None;
        }
        let over = !self.has_room(msg.len());
        self.queued_bytes += msg.len();
        self.queue.push_back(Outbound::Shared(msg));
        Some(over)
    }

    /// True when a message of `len` bytes would be accepted now.
    pub fn has_room(&self, len: usize) -> bool {
        self.queue.is_empty()
            || (self.queue.len() < self.limits.max_messages && self.queued_bytes + len <= self.limits.max_bytes)
    }

    /// Starts closing with `code` and `reason`: queued messages are still
    /// delivered, then the close frame. Returns false if already closing.
    pub fn close(&mut self, code: u16, reason: &str) -> bool {
        if self.is_closed() {
            return false;
        }
        self.close_with(code, reason);
        true
    }

    fn close_with(&mut self, code: u16, reason: &str) {
        self.close = Some((code, reason.to_owned()));
        if self.close_event.is_none() && !self.close_reported {
            self.close_event = Some(CloseEvent {
                code,
                reason: reason.to_owned(),
            });
        }
        self.state = if self.state == ReadyState::Closed {
            ReadyState::Closed
        } else {
            ReadyState::Closing
        };
    }

    /// Returns the close event the first time it is asked after the session
    /// started closing, `None` before and after. Closing is reported exactly once.
    pub fn take_close_event(&mut self) -> Option<CloseEvent> {
        let ev = self.close_event.take();
        if ev.is_some() {
            self.close_reported = true;
        }
        ev
    }

    /// The next frame receiver `id` must send, if any: the open frame first,
    /// then all queued messages as one `a` frame, then the close frame.
    /// `None` means "nothing now; wait for a change".
    pub fn next_frame(&mut self, id: ReceiverId) -> Option<Outgoing> {
        if self.receiver != Some(id) {
            return None;
        }
        if !self.opened {
            self.opened = true;
            if self.state == ReadyState::Connecting {
                self.state = ReadyState::Open;
            }
            return Some(Outgoing {
                frame: OPEN.to_owned().into(),
                is_close: false,
                freed_space: false,
            });
        }
        if !self.queue.is_empty() {
            self.queued_bytes = 0;
            // A shared message queued alone goes out as its prebuilt frame.
            let frame = match (self.queue.len(), self.queue.front()) {
                (1, Some(Outbound::Shared(m))) => {
                    let m = m.clone();
                    self.queue.clear();
                    FrameText::Shared(m)
                }
                _ => {
                    let msgs: Vec<Outbound> = self.queue.drain(..).collect();
                    FrameText::Owned(encode_outbound(&msgs))
                }
            };
            return Some(Outgoing {
                frame,
                is_close: false,
                freed_space: true,
            });
        }
        if let Some((code, reason)) = &self.close {
            self.state = ReadyState::Closed;
            return Some(Outgoing {
                frame: encode_close(*code, reason).into(),
                is_close: true,
                freed_space: false,
            });
        }
        None
    }

    /// Takes every queued message (for transports that send them one by one,
    /// such as the raw websocket).
    pub fn drain(&mut self) -> Vec<Outbound> {
        self.queued_bytes = 0;
        self.opened = true;
        if self.state == ReadyState::Connecting {
            self.state = ReadyState::Open;
        }
        self.queue.drain(..).collect()
    }

    /// The pending close code and reason, if the session is closing.
    pub fn close_reason(&self) -> Option<(u16, &str)> {
        self.close.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// Marks the close as delivered (e.g. a websocket close frame was sent).
    pub fn mark_closed(&mut self) {
        if self.is_closed() {
            self.state = ReadyState::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> QueueLimits {
        QueueLimits {
            max_messages: 3,
            max_bytes: 10,
        }
    }

    fn attached(s: &mut Session) -> ReceiverId {
        match s.attach() {
            Attach::Attached(r) => r,
            Attach::Busy => panic!("busy"),
        }
    }

    #[test]
    fn huge_disconnect_delay_never_overflows() {
        let t = Instant::now();
        let mut s = Session::new(t, Duration::MAX, limits());
        assert!(!s.is_expired(t + Duration::from_secs(86_400 * 365)));
        let r = attached(&mut s);
        s.detach(r, t, false);
        assert!(s.deadline().is_some_and(|d| d > t));
    }

    #[test]
    fn open_then_messages_then_close() {
        let t = Instant::now();
        let mut s = Session::new(t, Duration::from_secs(5), limits());
        assert_eq!(s.ready_state(), ReadyState::Connecting);
        let r = attached(&mut s);
        assert_eq!(s.attach(), Attach::Busy);
        assert_eq!(s.next_frame(r).unwrap().frame, "o");
        assert_eq!(s.next_frame(r), None);
        s.push("a".into()).unwrap();
        s.push("b".into()).unwrap();
        assert!(s.close(3000, "Go away!"));
        assert!(!s.close(1000, "again"));
        assert!(matches!(s.push("c".into()), Err(PushError::Closed(_))));
        assert_eq!(s.ready_state(), ReadyState::Closing);
        let m = s.next_frame(r).unwrap();
        assert_eq!((m.frame.as_str(), m.freed_space), (r#"a["a","b"]"#, true));
        let c = s.next_frame(r).unwrap();
        assert_eq!((c.frame.as_str(), c.is_close), (r#"c[3000,"Go away!"]"#, true));
        assert_eq!(s.ready_state(), ReadyState::Closed);
        // Later receivers get the close frame again.
        s.detach(r, t, false);
        let r2 = attached(&mut s);
        assert_eq!(s.next_frame(r2).unwrap().frame, r#"c[3000,"Go away!"]"#);
        assert_eq!(
            s.take_close_event(),
            Some(CloseEvent {
                code: 3000,
                reason: "Go away!".into()
            })
        );
        assert_eq!(s.take_close_event(), None);
    }

    #[test]
    fn abort_interrupts_and_expiry() {
        let t = Instant::now();
        let d = Duration::from_secs(5);
        let mut s = Session::new(t, d, limits());
        assert!(!s.is_expired(t + Duration::from_secs(4)));
        let r = attached(&mut s);
        assert!(!s.is_expired(t + Duration::from_secs(60)));
        s.next_frame(r);
        s.detach(r, t + Duration::from_secs(1), true);
        assert_eq!(s.close_reason(), Some((1002, "Connection interrupted")));
        assert!(!s.is_expired(t + Duration::from_secs(5)));
        assert!(s.is_expired(t + Duration::from_secs(6)));
        let r2 = attached(&mut s);
        assert_eq!(s.next_frame(r2).unwrap().frame, r#"c[1002,"Connection interrupted"]"#);
    }

    #[test]
    fn queue_limits() {
        let mut s = Session::new(Instant::now(), Duration::from_secs(5), limits());
        s.push("x".repeat(50)).unwrap(); // oversized, but the queue was empty
        assert!(matches!(s.push("y".into()), Err(PushError::Full(_))));
        let r = attached(&mut s);
        s.next_frame(r);
        s.next_frame(r);
        for _ in 0..3 {
            s.push("z".into()).unwrap();
        }
        assert!(matches!(s.push("z".into()), Err(PushError::Full(m)) if m == "z"));
        assert_eq!((s.queued(), s.queued_bytes()), (3, 3));
    }

    #[test]
    fn closed_before_first_receiver_still_opens_first() {
        let t = Instant::now();
        let mut s = Session::new(t, Duration::from_secs(5), limits());
        s.push("m".into()).unwrap();
        assert!(s.close(3000, "Go away!"));
        let r = attached(&mut s);
        assert_eq!(s.next_frame(r).unwrap().frame, "o");
        assert_eq!(s.next_frame(r).unwrap().frame, r#"a["m"]"#);
        assert_eq!(s.next_frame(r).unwrap().frame, r#"c[3000,"Go away!"]"#);
        s.detach(r, t, false);
        let r2 = attached(&mut s);
        assert_eq!(s.next_frame(r2).unwrap().frame, r#"c[3000,"Go away!"]"#);
    }

    #[test]
    fn stale_receiver_is_ignored() {
        let t = Instant::now();
        let mut s = Session::new(t, Duration::from_secs(5), limits());
        let r = attached(&mut s);
        s.detach(r, t, false);
        let r2 = attached(&mut s);
        s.detach(r, t, true); // stale id: no effect
        assert!(!s.is_closed());
        assert_eq!(s.next_frame(r), None);
        assert_eq!(s.next_frame(r2).unwrap().frame, "o");
    }
}
