//! Property test for the session state machine, driven by random event
//! sequences as the server produces them: receivers attach, take frames,
//! stay idle (heartbeats), detach normally or aborted; time passes and an
//! unattended session expires; the application sends and closes; the client
//! posts messages.
//!
//! A model of the client and the application checks after every event that
//! - the client sees `o` exactly once, before anything else;
//! - the messages it receives are exactly those the application queued, in
//!   order, none lost or duplicated: at any moment the delivered messages
//!   are a prefix of the accepted ones, and the rest is in the queue;
//! - the close frame carries the first close cause (application close,
//!   `1002` after an aborted receiver), comes after every accepted message,
//!   and nothing but close frames follows it;
//! - the close event is reported once, at the first close, with that cause;
//! - ready state, deadline, expiry and queue limits match the documentation.

mod common;
use common::config;

use proptest::prelude::*;
use sockjs_core::{
    decode_messages, encode_messages, Attach, CloseEvent, DecodeLimits, Outgoing, PushError, QueueLimits, ReadyState,
    ReceiverId, Session, CONNECTION_INTERRUPTED, GO_AWAY,
};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(5_000);
const LIMITS: QueueLimits = QueueLimits {
    max_messages: 4,
    max_bytes: 24,
};
const TIMED_OUT: (u16, &str) = (1000, "Session timed out");

#[derive(Debug, Clone)]
enum Op {
    /// A receiver (xhr, xhr_streaming, eventsource, ...) asks to attach.
    Attach,
    /// The attached receiver takes the next frame, if any.
    NextFrame,
    /// The attached receiver takes frames until there are none (streaming).
    Stream,
    /// The attached receiver is idle: it sends a heartbeat if nothing waits.
    Heartbeat,
    /// The attached receiver ends: response complete, or peer gone.
    Detach { aborted: bool },
    /// A receiver that already detached calls in again.
    Stale { aborted: bool },
    /// Time passes; an unattended session past its deadline expires.
    Wait(u64),
    /// The application sends one message.
    Push(String),
    /// The application sends several messages in a row.
    Burst(usize),
    /// The application sends one message larger than the queue's byte limit.
    Big,
    /// The application closes the session.
    Close(Option<(u16, String)>),
    /// The client posts messages (`xhr_send`).
    Send(Vec<String>),
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..4).prop_map(|v| v.into_iter().collect())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Attach),
        4 => Just(Op::NextFrame),
        2 => Just(Op::Stream),
        1 => Just(Op::Heartbeat),
        2 => Just(Op::Detach { aborted: false }),
        1 => Just(Op::Detach { aborted: true }),
        1 => any::<bool>().prop_map(|aborted| Op::Stale { aborted }),
        2 => (0u64..4_000).prop_map(Op::Wait),
        5 => text().prop_map(Op::Push),
        1 => (2usize..8).prop_map(Op::Burst),
        1 => Just(Op::Big),
        1 => prop::option::of((3000u16..5000, text())).prop_map(Op::Close),
        2 => prop::collection::vec(text(), 1..3).prop_map(Op::Send),
    ]
}

/// What the client, the application and the clock have seen so far.
struct Model {
    t0: Instant,
    now: Instant,
    s: Session,
    receiver: Option<ReceiverId>,
    old_receivers: Vec<ReceiverId>,
    /// Messages the application queued successfully, in order.
    accepted: Vec<String>,
    /// Messages the client received in `a` frames, in order.
    delivered: Vec<String>,
    opened: bool,
    /// The first close cause.
    cause: Option<(u16, String)>,
    close_frame_seen: bool,
    close_events: usize,
    expired: bool,
    detached_at: Instant,
    next_id: usize,
    /// Client-to-application direction.
    client_sent: Vec<String>,
    app_received: Vec<String>,
}

impl Model {
    fn new() -> Model {
        let t0 = Instant::now();
        Model {
            t0,
            now: t0,
            s: Session::new(t0, DELAY, LIMITS),
            receiver: None,
            old_receivers: Vec::new(),
            accepted: Vec::new(),
            delivered: Vec::new(),
            opened: false,
            cause: None,
            close_frame_seen: false,
            close_events: 0,
            expired: false,
            detached_at: t0,
            next_id: 0,
            client_sent: Vec::new(),
            app_received: Vec::new(),
        }
    }

    fn closed(&self) -> bool {
        self.cause.is_some()
    }

    fn set_cause(&mut self, code: u16, reason: &str) {
        if self.cause.is_none() {
            self.cause = Some((code, reason.to_owned()));
        }
    }

    /// The client side of one frame handed to the attached receiver.
    fn receive(&mut self, out: Outgoing) -> Result<(), TestCaseError> {
        let f = out.frame.as_str();
        if f == "o" {
            prop_assert!(!self.opened, "second open frame");
            prop_assert!(!out.is_close && !out.freed_space);
            self.opened = true;
            return Ok(());
        }
        prop_assert!(self.opened, "{} before the open frame", f);
        if let Some(body) = f.strip_prefix('a') {
            prop_assert!(!self.close_frame_seen, "messages after the close frame: {}", f);
            prop_assert!(out.freed_space && !out.is_close);
            let msgs = decode_messages(body.as_bytes(), DecodeLimits::default()).expect("a frame decodes");
            prop_assert!(!msgs.is_empty(), "empty a frame");
            self.delivered.extend(msgs);
            prop_assert!(
                self.accepted.starts_with(&self.delivered),
                "delivered {:?} is not a prefix of accepted {:?}",
                self.delivered,
                self.accepted
            );
            return Ok(());
        }
        let (code, reason) = self.cause.clone().expect("a close frame only after a close");
        prop_assert!(out.is_close && !out.freed_space, "{}", f);
        prop_assert_eq!(f, encode_close_text(code, &reason));
        // Everything accepted went out before the close frame.
        prop_assert_eq!(&self.delivered, &self.accepted);
        self.close_frame_seen = true;
        Ok(())
    }

    fn next(&mut self) -> Result<Option<Outgoing>, TestCaseError> {
        let Some(r) = self.receiver else { return Ok(None) };
        let out = self.s.next_frame(r);
        if let Some(o) = &out {
            self.receive(o.clone())?;
        }
        Ok(out)
    }

    fn push(&mut self, msg: String) -> Result<(), TestCaseError> {
        let waiting = self.accepted.len() - self.delivered.len();
        let waiting_bytes: usize = self.accepted[self.delivered.len()..].iter().map(String::len).sum();
        let room = waiting == 0 || (waiting < LIMITS.max_messages && waiting_bytes + msg.len() <= LIMITS.max_bytes);
        prop_assert_eq!(self.s.has_room(msg.len()), room);
        match self.s.push(msg.clone()) {
            Ok(()) => {
                prop_assert!(!self.closed() && room);
                self.accepted.push(msg);
            }
            Err(PushError::Closed(m)) => {
                prop_assert!(self.closed());
                prop_assert_eq!(m, msg);
            }
            Err(PushError::Full(m)) => {
                prop_assert!(!self.closed() && !room);
                prop_assert_eq!(m, msg);
            }
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
        Ok(())
    }

    fn fresh(&mut self, suffix: &str) -> String {
        self.next_id += 1;
        format!("m{}:{suffix}", self.next_id)
    }

    /// Applies one event. Returns false once the session is gone.
    fn apply(&mut self, op: Op) -> Result<bool, TestCaseError> {
        match op {
            Op::Attach => match self.s.attach() {
                Attach::Attached(r) => {
                    prop_assert!(self.receiver.is_none(), "second receiver attached");
                    prop_assert!(!self.old_receivers.contains(&r), "receiver id reused");
                    self.receiver = Some(r);
                }
                Attach::Busy => prop_assert!(self.receiver.is_some(), "busy without a receiver"),
                other => prop_assert!(false, "unexpected {:?}", other),
            },
            Op::NextFrame => {
                let before = (self.delivered.len(), self.opened, self.close_frame_seen);
                let out = self.next()?;
                if self.receiver.is_some() && out.is_none() {
                    // Nothing to send means nothing is waiting.
                    prop_assert!(before.1 && self.accepted.len() == self.delivered.len() && !self.closed());
                }
            }
            Op::Stream => {
                for _ in 0..4 {
                    match self.next()? {
                        Some(o) if o.is_close => break,
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            Op::Heartbeat => {
                if let Some(r) = self.receiver {
                    // A heartbeat goes out only when no frame is due; the
                    // client ignores it, so it can neither lose nor add data.
                    if let Some(o) = self.s.next_frame(r) {
                        self.receive(o)?;
                    }
                }
            }
            Op::Detach { aborted } => {
                if let Some(r) = self.receiver.take() {
                    self.s.detach(r, self.now, aborted);
                    self.old_receivers.push(r);
                    self.detached_at = self.now;
                    if aborted {
                        let (code, reason) = CONNECTION_INTERRUPTED;
                        self.set_cause(code, reason);
                    }
                }
            }
            Op::Stale { aborted } => {
                if let Some(&r) = self.old_receivers.last() {
                    let (state, deadline, queued) = (self.s.ready_state(), self.s.deadline(), self.s.queued());
                    prop_assert_eq!(self.s.next_frame(r), None);
                    self.s.detach(r, self.now, aborted);
                    prop_assert_eq!(
                        (self.s.ready_state(), self.s.deadline(), self.s.queued()),
                        (state, deadline, queued)
                    );
                    prop_assert_eq!(self.s.has_receiver(), self.receiver.is_some());
                }
            }
            Op::Wait(ms) => {
                self.now += Duration::from_millis(ms);
                let due = self.receiver.is_none() && self.now >= self.detached_at + DELAY;
                prop_assert_eq!(self.s.is_expired(self.now), due);
                if due {
                    // What the server's reaper does, then drops the session.
                    let (code, reason) = TIMED_OUT;
                    self.s.expire(code, reason);
                    self.set_cause(code, reason);
                    self.expired = true;
                }
            }
            Op::Push(suffix) => {
                let m = self.fresh(&suffix);
                self.push(m)?;
            }
            Op::Burst(n) => {
                for _ in 0..n {
                    let m = self.fresh("burst");
                    self.push(m)?;
                }
            }
            Op::Big => {
                let m = self.fresh(&"x".repeat(LIMITS.max_bytes));
                self.push(m)?;
            }
            Op::Close(arg) => {
                let (code, reason) = arg.unwrap_or((GO_AWAY.0, GO_AWAY.1.to_owned()));
                let was_closed = self.closed();
                prop_assert_eq!(self.s.close(code, &reason), !was_closed);
                self.set_cause(code, &reason);
            }
            Op::Send(msgs) => {
                // The server hands decoded messages to the application while
                // the session is open; its inbound stream ends at the close.
                let decoded = decode_messages(&encode_messages(&msgs).as_bytes()[1..], DecodeLimits::default())
                    .expect("client payload decodes");
                prop_assert_eq!(&decoded, &msgs);
                if !self.s.is_closed() {
                    self.client_sent.extend(msgs);
                    self.app_received.extend(decoded);
                }
            }
        }
        self.check()?;
        Ok(!self.expired)
    }

    /// The invariants that hold between any two events.
    fn check(&mut self) -> Result<(), TestCaseError> {
        // The close event, as the server polls it after every change.
        match self.s.take_close_event() {
            Some(CloseEvent { code, reason }) => {
                self.close_events += 1;
                prop_assert_eq!(self.close_events, 1, "close reported twice");
                prop_assert_eq!(Some((code, reason)), self.cause.clone());
            }
            None => prop_assert_eq!(self.close_events, usize::from(self.closed())),
        }
        prop_assert_eq!(
            self.s.close_reason().map(|(c, r)| (c, r.to_owned())),
            self.cause.clone()
        );
        prop_assert!(self.accepted.starts_with(&self.delivered));
        if !self.expired {
            let waiting = &self.accepted[self.delivered.len()..];
            prop_assert_eq!(self.s.queued(), waiting.len());
            prop_assert_eq!(self.s.queued_bytes(), waiting.iter().map(String::len).sum::<usize>());
        }
        let state = if self.expired || self.close_frame_seen {
            ReadyState::Closed
        } else if self.closed() {
            ReadyState::Closing
        } else if self.opened {
            ReadyState::Open
        } else {
            ReadyState::Connecting
        };
        prop_assert_eq!(self.s.ready_state(), state);
        prop_assert_eq!(self.s.is_closed(), self.closed());
        prop_assert_eq!(self.s.has_receiver(), self.receiver.is_some());
        let deadline = self.receiver.is_none().then(|| self.detached_at + DELAY);
        prop_assert_eq!(self.s.deadline(), deadline);
        prop_assert!(self.now >= self.t0);
        prop_assert_eq!(&self.app_received, &self.client_sent);
        Ok(())
    }
}

fn encode_close_text(code: u16, reason: &str) -> String {
    sockjs_core::encode_close(code, reason)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn session_keeps_order_and_close_semantics(ops in prop::collection::vec(op(), 1..60)) {
        let mut m = Model::new();
        m.check()?;
        for op in ops {
            if !m.apply(op)? {
                break;
            }
        }
        // Draining what is left: a receiver that attaches now gets every
        // remaining message (and the close frame, if closing), unless the
        // session expired.
        if !m.expired {
            if m.receiver.is_none() {
                m.apply(Op::Attach)?;
            }
            for _ in 0..3 {
                if m.next()?.is_none() {
                    break;
                }
            }
            prop_assert_eq!(&m.delivered, &m.accepted);
            prop_assert!(m.opened);
            prop_assert_eq!(m.close_frame_seen, m.closed());
        }
    }
}
