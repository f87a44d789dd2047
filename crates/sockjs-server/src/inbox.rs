//! A session's inbound queue: the messages its client sent, waiting for the
//! application's `recv()`.
//!
//! Bounded like a tokio `mpsc` channel, but a session that holds no message
//! holds no queue memory: tokio's channel allocates a block of 32 slots and
//! cache-padded counters up front (about 1.3 KB per session, most of an idle
//! session's footprint after the socket's own), where this queue is a
//! `VecDeque` under a mutex that is freed each time it is emptied. One
//! producer at a time is the common case (a websocket's connection loop, or
//! one `xhr_send`), so the lock is uncontended.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;

/// A bounded queue of `cap` messages (at least 1).
pub(crate) fn channel(cap: usize) -> (Sender, Receiver) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            waker: None,
            senders: 1,
            receiver_gone: false,
        }),
        space: Notify::new(),
        cap: cap.max(1),
    });
    (Sender(chan.clone()), Receiver(chan))
}

struct Chan {
    state: Mutex<State>,
    /// Wakes senders waiting for room (or for the receiver to go).
    space: Notify,
    cap: usize,
}

struct State {
    queue: VecDeque<String>,
    /// The receiver's waker while it waits on an empty queue.
    waker: Option<Waker>,
    senders: usize,
    receiver_gone: bool,
}

impl Chan {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path can leave the state half-updated on a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why [`Sender::try_send`] did not queue its message (handed back).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError {
    /// The queue holds `cap` messages.
    Full(String),
    /// The receiver is gone: nobody will read.
    Closed(String),
}

/// The sending half; the queue ends (after what it holds) once every
/// sender is dropped.
pub(crate) struct Sender(Arc<Chan>);

impl Clone for Sender {
    fn clone(&self) -> Sender {
        self.0.lock().senders += 1;
        Sender(self.0.clone())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        g.senders -= 1;
        let waker = if g.senders == 0 { g.waker.take() } else { None };
        drop(g);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Sender {
    /// Queues `m` if there is room, without waiting.
    pub(crate) fn try_send(&self, m: String) -> Result<(), TrySendError> {
        let mut g = self.0.lock();
        if g.receiver_gone {
            return Err(TrySendError::Closed(m));
        }
        if g.queue.len() >= self.0.cap {
            return Err(TrySendError::Full(m));
        }
        g.queue.push_back(m);
        let waker = g.waker.take();
        drop(g);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues `m`, waiting for room; hands it back if the receiver is gone.
    /// Cancel safe: when cancelled, `m` was not queued.
    pub(crate) async fn send(&self, mut m: String) -> Result<(), String> {
        loop {
            let notified = self.0.space.notified();
            tokio::pin!(notified);
            // Registered before looking, so a pop in between is not missed.
            notified.as_mut().enable();
            match self.try_send(m) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(back),
                Err(TrySendError::Full(back)) => m = back,
            }
            notified.await;
        }
    }

    /// Waits until the queue has room (true) or the receiver is gone
    /// (false). With one producer, a `try_send` right after cannot find the
    /// queue full.
    pub(crate) async fn ready(&self) -> bool {
        loop {
            let notified = self.0.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let g = self.0.lock();
                if g.receiver_gone {
                    return false;
                }
                if g.queue.len() < self.0.cap {
                    return true;
                }
            }
            notified.await;
        }
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.lock().receiver_gone
    }

    /// Whether the application has taken every queued message.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().queue.is_empty()
    }
}

/// The receiving half (the application's, inside its `Session`).
pub(crate) struct Receiver(Arc<Chan>);

impl Receiver {
    /// The next message; `None` once every sender is gone and the queue is
    /// empty. While pending, the latest caller's waker is woken by the
    /// next message or the end.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        let mut g = self.0.lock();
        match self.pop(&mut g) {
            Some(m) => Poll::Ready(Some(m)),
            None if g.senders == 0 => Poll::Ready(None),
            None => {
                match &mut g.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// The next message if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<String> {
        let mut g = self.0.lock();
        self.pop(&mut g)
    }

    /// The next message, waiting; `None` at the end (see [`Self::poll_recv`]).
    /// Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<String> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn pop(&self, g: &mut State) -> Option<String> {
        let was_full = g.queue.len() >= self.0.cap;
        let m = g.queue.pop_front()?;
        if g.queue.is_empty() {
            // Nothing held, no memory held.
            g.queue = VecDeque::new();
        }
        if was_full {
            self.0.space.notify_waiters();
        }
        Some(m)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        g.receiver_gone = true;
        let dropped = std::mem::take(&mut g.queue);
        drop(g);
        drop(dropped);
        self.0.space.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn messages_arrive_in_order_and_the_end_follows_the_last() {
        let (tx, mut rx) = channel(4);
        let tx2 = tx.clone();
        for i in 0..4 {
            tx.try_send(i.to_string()).unwrap();
        }
        assert_eq!(tx.try_send("x".into()), Err(TrySendError::Full("x".into())));
        drop(tx);
        assert_eq!(rx.recv().await.as_deref(), Some("0"));
        tx2.try_send("4".into()).unwrap();
        drop(tx2);
        let mut rest = Vec::new();
        while let Some(m) = rx.recv().await {
            rest.push(m);
        }
        assert_eq!(rest, ["1", "2", "3", "4"]);
    }

    #[tokio::test]
    async fn an_empty_queue_holds_no_memory() {
        let (tx, mut rx) = channel(8);
        tx.try_send("a".into()).unwrap();
        assert!(rx.0.lock().queue.capacity() > 0);
        assert!(!tx.is_empty());
        assert_eq!(rx.try_recv().as_deref(), Some("a"));
        assert_eq!(rx.0.lock().queue.capacity(), 0);
        assert!(tx.is_empty());
        assert_eq!(rx.try_recv(), None);
    }

    #[tokio::test]
    async fn send_waits_for_room_and_a_waiting_receiver_is_woken() {
        let (tx, mut rx) = channel(1);
        tx.try_send("first".into()).unwrap();
        let sending = tokio::spawn(async move {
            tx.send("second".into()).await.unwrap();
            assert!(tx.ready().await, "room again once the receiver took it");
            tx.send("third".into()).await.unwrap();
        });
        let mut got = Vec::new();
        while let Some(m) = rx.recv().await {
            got.push(m);
        }
        assert_eq!(got, ["first", "second", "third"]);
        sending.await.unwrap();
    }

    #[tokio::test]
    async fn a_dropped_receiver_hands_messages_back_and_releases_waiters() {
        let (tx, rx) = channel(1);
        tx.try_send("held".into()).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send("blocked".into()).await }
        });
        // The sender is parked on the full queue once it registered.
        tokio::task::yield_now().await;
        drop(rx);
        let back = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting sender is released")
            .unwrap();
        assert_eq!(back, Err("blocked".to_string()));
        assert!(tx.is_closed());
        assert!(!tx.ready().await);
        assert_eq!(tx.try_send("late".into()), Err(TrySendError::Closed("late".into())));
    }
}
