//! The state one session shares between its application handle, its
//! senders and the transports serving it: the core state machine under a
//! lock, the wakers of whoever waits on it, and what the opening request
//! told about the peer.

use http::HeaderMap;
use sockjs_core::Transport;
use sockjs_core::{Attach, CloseEvent, Outgoing, PushError, ReadyState, ReceiverId};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::sync::Notify;

/// Request headers sockjs-node exposes to applications. Cookies never are.
pub(crate) const HEADER_WHITELIST: [&str; 14] = [
    "referer",
    "x-client-ip",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-cluster-client-ip",
    "via",
    "x-real-ip",
    "x-forwarded-proto",
    "x-ssl",
    "dnt",
    "host",
    "user-agent",
    "accept-language",
];

/// What the request that opened a session told about the peer.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(crate) transport: Transport,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) url: String,
    pub(crate) path: String,
    pub(crate) prefix: String,
    pub(crate) headers: HeaderMap,
}

/// A session's public identifier: unique within its service, stable for
/// the session's life, and not a secret (unlike the session id in the
/// client's URLs, which it is not derived from). sockjs-node's `conn.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub(crate) u64);

impl SessionId {
    /// The number (as [`crate::NodeSession::id`] gives it).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// State shared by the session handle, its senders and the transports.
pub(crate) struct Shared {
    /// The session id from the client's URL (a bearer secret).
    pub(crate) id: Arc<str>,
    /// The public identifier.
    pub(crate) sid: SessionId,
    /// The application's typed per-session data.
    pub(crate) data: Mutex<http::Extensions>,
    /// What the latest request of an HTTP session told, once a request
    /// after the opening one came (see `Session::headers`).
    latest: Mutex<Option<Arc<ConnInfo>>>,
    /// This session's metrics (nothing without the `metrics` feature).
    pub(crate) meters: crate::telemetry::SessionMeters,
    inner: Mutex<Inner>,
    /// Wakes senders waiting for queue room.
    space: Notify,
    /// Wakes `closed()` waiters.
    closed: Notify,
    /// True while the application waits in `recv()` on an empty inbound
    /// queue: it has handled everything it was given.
    app_idle: AtomicBool,
    /// Counts the times the application went idle; see `settle`.
    idle_gen: AtomicU64,
    /// Wakes `xhr_send` requests waiting for the application to be idle.
    idle: Notify,
    /// Wakes receivers waiting for the attached one to leave (see `attach_within`).
    detached: Notify,
    /// How long the outbound queue may stay full before the session is
    /// closed as a slow consumer.
    slow_consumer: Option<Duration>,
}

pub(crate) struct Inner {
    pub(crate) core: sockjs_core::Session,
    /// The attached receiver's waker: pushing a message or closing wakes it.
    /// Kept under the same lock as the queue, so no wake-up is lost.
    waker: Option<Waker>,
    /// Dropped on close so that `Session::recv` returns `None`.
    inbound: Option<crate::inbox::Sender>,
    close_event: Option<CloseEvent>,
    /// When a send last found the outbound queue full, if no receiver has
    /// taken anything from it since.
    full_since: Option<tokio::time::Instant>,
}

/// The close given to a session whose peer stopped reading.
pub(crate) const SLOW_CONSUMER: (u16, &str) = (1013, "Slow consumer");

/// The close given to a session whose application stopped taking the
/// messages its client sends (see `Config::slow_consumer_timeout`).
pub(crate) const APP_NOT_READING: (u16, &str) = (1011, "Application not reading");

/// How many times its bounds a session's queue may hold, with broadcasts
/// queued past them, before the session is closed as a slow consumer at once.
pub(crate) const BROADCAST_OVERFLOW: usize = 4;

/// The close given to a session whose application panicked.
pub(crate) const HANDLER_PANICKED: (u16, &str) = (1011, "Internal error");

impl Shared {
    pub(crate) fn new(
        id: Arc<str>,
        sid: SessionId,
        core: sockjs_core::Session,
        inbound: crate::inbox::Sender,
        slow_consumer: Option<Duration>,
        meters: crate::telemetry::SessionMeters,
    ) -> Arc<Shared> {
        meters.opened();
        Arc::new(Shared {
            id,
            sid,
            data: Mutex::new(http::Extensions::new()),
            latest: Mutex::new(None),
            meters,
            inner: Mutex::new(Inner {
                core,
                waker: None,
                inbound: Some(inbound),
                close_event: None,
                full_since: None,
            }),
            space: Notify::new(),
            closed: Notify::new(),
            app_idle: AtomicBool::new(false),
            idle_gen: AtomicU64::new(0),
            idle: Notify::new(),
            detached: Notify::new(),
            slow_consumer,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the state machine
        // half-updated in a way later calls would misread, so recover.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what a later request of the session told (its URL, headers
    /// and peer), as sockjs-node does on every request of a session.
    pub(crate) fn set_latest(&self, info: ConnInfo) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(info));
    }

    /// What the latest request after the opening one told, if any came.
    pub(crate) fn latest(&self) -> Option<Arc<ConnInfo>> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn attach(&self) -> Attach {
        self.lock().core.attach()
    }

    /// Attaches a receiver; when another one is attached, waits up to
    /// `grace` for it to leave before answering [`Attach::Busy`].
    ///
    /// A client that aborts a poll and polls again at once (sockjs-client
    /// does on a timeout; the protocol's "abort" cases test it) sends the
    /// new request right after closing the old connection. The server sees
    /// both events, but in separate tasks in an order nobody controls: the
    /// new request may find the old receiver still attached because the
    /// task that will notice its connection's end has not run yet. The
    /// protocol then allows only `o` or `c[1002,...]`, never 2010. Waiting
    /// here lets that task run; a receiver that is really still connected
    /// costs the second request `grace`, which only a misbehaving client pays.
    pub(crate) async fn attach_within(&self, grace: Duration) -> Attach {
        let deadline = crate::clock::after(tokio::time::Instant::now(), grace);
        loop {
            let notified = self.detached.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.attach() {
                Attach::Busy if tokio::time::Instant::now() < deadline => {}
                other => return other,
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.attach();
            }
        }
    }

    /// Detaches a receiver and reports a close it caused (an aborted one).
    pub(crate) fn detach(&self, rid: ReceiverId, aborted: bool) {
        let mut g = self.lock();
        g.core.detach(rid, crate::clock::now(), aborted);
        self.after_change(g);
        self.detached.notify_waiters();
    }

    /// Polls the next frame for receiver `rid`, registering `waker` when
    /// there is none.
    pub(crate) fn poll_frame(&self, rid: ReceiverId, waker: &Waker) -> Option<Outgoing> {
        let mut g = self.lock();
        let depth = g.core.queued();
        match g.core.next_frame(rid) {
            Some(out) => {
                if depth > 0 {
                    self.meters.queue_depth(depth);
                }
                if out.freed_space {
                    g.full_since = None;
                    self.space.notify_waiters();
                }
                // The caller is the receiver being polled: no need to wake it.
                self.report_close(g);
                Some(out)
            }
            None => {
                if !g.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    g.waker = Some(waker.clone());
                }
                None
            }
        }
    }

    /// Waits for the next frame for receiver `rid`.
    pub(crate) async fn next_frame(&self, rid: ReceiverId) -> Outgoing {
        poll_fn(|cx| match self.poll_frame(rid, cx.waker()) {
            Some(o) => Poll::Ready(o),
            None => Poll::Pending,
        })
        .await
    }

    /// Drains queued messages for a raw websocket, or reports the close.
    pub(crate) async fn next_raw(&self) -> Result<Vec<sockjs_core::Outbound>, (u16, String)> {
        poll_fn(|cx| {
            let mut g = self.lock();
            let msgs = g.core.drain();
            if !msgs.is_empty() {
                self.meters.queue_depth(msgs.len());
                g.full_since = None;
                self.space.notify_waiters();
                return Poll::Ready(Ok(msgs));
            }
            if let Some((code, reason)) = g.core.close_reason() {
                let r = (code, reason.to_owned());
                g.core.mark_closed();
                self.after_change(g);
                return Poll::Ready(Err(r));
            }
            g.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Starts closing. Returns false if the session was already closing.
    pub(crate) fn close(&self, code: u16, reason: &str) -> bool {
        let mut g = self.lock();
        let changed = g.core.close(code, reason);
        self.after_change(g);
        changed
    }

    /// Closes without delivering a frame (expiry, peer gone).
    pub(crate) fn expire(&self, code: u16, reason: &str) {
        let mut g = self.lock();
        g.core.expire(code, reason);
        self.after_change(g);
    }

    /// Wakes the attached receiver and reports a close.
    fn after_change(&self, mut g: MutexGuard<'_, Inner>) {
        let waker = g.waker.take();
        self.report_close(g);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The first time the session is seen closing: ends the inbound stream
    /// and wakes every `closed()` waiter and waiting sender.
    fn report_close(&self, mut g: MutexGuard<'_, Inner>) {
        let ev = g.core.take_close_event();
        if let Some(ev) = ev {
            g.inbound = None;
            self.meters.closed(ev.code);
            g.close_event = Some(ev);
            drop(g);
            self.closed.notify_waiters();
            self.space.notify_waiters();
        }
    }

    /// Waits (at most `limit`) until the application has taken every inbound
    /// message and is back waiting in `recv()`, so that what it sends in
    /// reply is queued before the `xhr_send` that carried the messages is
    /// answered, as with sockjs-node's synchronous event handlers. Clients
    /// (and the protocol suite) poll right after a send and expect the replies.
    ///
    /// `since` is [`Shared::idle_generation`] read before the messages were
    /// queued: the application must have gone idle after that.
    pub(crate) async fn settle(&self, tx: &crate::inbox::Sender, since: u64, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let notified = self.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let idle_again = self.app_idle.load(Ordering::Acquire) && self.idle_gen.load(Ordering::Acquire) > since;
                if tx.is_closed() || (idle_again && tx.is_empty()) {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }

    pub(crate) fn idle_generation(&self) -> u64 {
        self.idle_gen.load(Ordering::Acquire)
    }

    pub(crate) fn set_app_idle(&self, idle: bool) {
        self.app_idle.store(idle, Ordering::Release);
        if idle {
            self.idle_gen.fetch_add(1, Ordering::AcqRel);
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn inbound(&self) -> Option<crate::inbox::Sender> {
        self.lock().inbound.clone()
    }

    pub(crate) fn ready_state(&self) -> ReadyState {
        self.lock().core.ready_state()
    }

    /// Queues `msg`. A full queue is remembered; once it has stayed full
    /// for `slow_consumer`, the session is closed (its queued messages
    /// still go first) and the message is handed back as `Closed`.
    fn try_push(&self, msg: String) -> Result<(), PushError> {
        let mut g = self.lock();
        let len = msg.len();
        match g.core.push(msg) {
            Ok(()) => self.meters.sent(len),
            Err(PushError::Full(m)) => {
                let now = tokio::time::Instant::now();
                let since = *g.full_since.get_or_insert(now);
                if self.slow_consumer.is_some_and(|t| now >= crate::clock::after(since, t)) {
                    let (code, reason) = SLOW_CONSUMER;
                    tracing::debug!(session = %short_id(&self.id), "outbound queue full for too long: closing");
                    g.core.close(code, reason);
                    self.after_change(g);
                    return Err(PushError::Closed(m));
                }
                return Err(PushError::Full(m));
            }
            Err(e) => return Err(e),
        }
        g.full_since = None;
        let w = g.waker.take();
        drop(g);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// Queues a message shared with other sessions without ever waiting
    /// (see `Hub`). Past the queue's bounds the message is still queued
    /// and the slow-consumer clock runs; the session is closed with 1013
    /// once the queue has been over its bounds for `slow_consumer`, or at
    /// once when it holds [`BROADCAST_OVERFLOW`] times its bounds, so a
    /// stalled recipient cannot grow without limit. Messages queued before
    /// the close are still delivered. False when the session is closed.
    pub(crate) fn push_shared(&self, msg: sockjs_core::SharedMessage) -> bool {
        let mut g = self.lock();
        let limits = g.core.limits();
        let len = msg.len();
        let Some(over) = g.core.push_shared(msg) else {
            return false;
        };
        self.meters.sent(len);
        if over {
            let now = tokio::time::Instant::now();
            let since = *g.full_since.get_or_insert(now);
            let overdue = self.slow_consumer.is_some_and(|t| now >= crate::clock::after(since, t));
            let overflow = g.core.queued() > limits.max_messages.saturating_mul(BROADCAST_OVERFLOW)
                || g.core.queued_bytes() > limits.max_bytes.saturating_mul(BROADCAST_OVERFLOW);
            if overdue || overflow {
                let (code, reason) = SLOW_CONSUMER;
                tracing::debug!(session = %short_id(&self.id), "outbound queue over its bounds for too long: closing");
                g.core.close(code, reason);
                self.after_change(g);
                return true;
            }
        }
        let w = g.waker.take();
        drop(g);
        if let Some(w) = w {
            w.wake();
        }
        true
    }

    /// When a sender waiting on a full queue must look again even if no
    /// room was made: the slow-consumer deadline.
    fn full_deadline(&self) -> Option<tokio::time::Instant> {
        let g = self.lock();
        Some(crate::clock::after(g.full_since?, self.slow_consumer?))
    }

    pub(crate) fn try_send(&self, msg: String) -> Result<(), TrySendError> {
        self.try_push(msg).map_err(|e| match e {
            PushError::Full(m) => TrySendError::Full(m),
            PushError::Closed(m) => TrySendError::Closed(m),
            _ => TrySendError::Closed(String::new()),
        })
    }

    pub(crate) async fn push(&self, msg: String) -> Result<(), SendError> {
        match self.try_push(msg) {
            Ok(()) => Ok(()),
            // Boxed: waiting for room is the rare path, and its state (a
            // registration and a timer) would otherwise be part of every
            // `send` future, hence of every idle application's task.
            Err(PushError::Full(m)) => Box::pin(self.push_waiting(m)).await,
            Err(_) => Err(SendError::Closed),
        }
    }

    /// [`Shared::push`] once the queue was found full.
    async fn push_waiting(&self, mut msg: String) -> Result<(), SendError> {
        loop {
            // Register interest before checking, so a drain between the
            // check and the wait is not missed.
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_push(msg) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(_)) => return Err(SendError::Closed),
                Err(PushError::Full(m)) => msg = m,
                Err(_) => return Err(SendError::Closed),
            }
            match self.full_deadline() {
                // Woken by room or by the deadline; the next try decides.
                Some(d) => {
                    let _ = tokio::time::timeout_at(d, notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// The close event, if the session is closing.
    pub(crate) fn close_event_now(&self) -> Option<CloseEvent> {
        self.lock().close_event.clone()
    }

    pub(crate) async fn wait_closed(&self) -> CloseEvent {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(ev) = self.lock().close_event.clone() {
                return ev;
            }
            notified.await;
        }
    }
}

/// Session ids are bearer secrets: log only a prefix.
pub(crate) fn short_id(id: &str) -> &str {
    let end = id.char_indices().nth(4).map_or(id.len(), |(i, _)| i);
    &id[..end]
}

/// Why a message could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closing or closed.
    #[error("session is closed")]
    Closed,
}

/// Why [`crate::Session::try_send`] could not queue a message. The message is
/// handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError {
    /// The outbound queue is full; retry later or use [`crate::Session::send`].
    #[error("outbound queue is full")]
    Full(String),
    /// The session is closing or closed.
    #[error("session is closed")]
    Closed(String),
}
