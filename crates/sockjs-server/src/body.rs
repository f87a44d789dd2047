//! Response bodies: fixed chunks, and the receiver body that streams frames
//! out of a session.

use crate::session::Shared;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use sockjs_core::{ReceiverId, HEARTBEAT};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The body of every response the SockJS service produces.
///
/// Fixed responses are one or a few chunks (each chunk is written as its own
/// HTTP/1.1 chunk: clients read preludes and frames one chunk at a time).
/// Receiver responses stream frames from a session until the transport's
/// rule ends them.
pub struct SockJsBody {
    kind: Kind,
}

enum Kind {
    Chunks(VecDeque<Bytes>),
    Receiver(Box<ReceiverBody>),
}

impl std::fmt::Debug for SockJsBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Chunks(c) => f.debug_tuple("SockJsBody::Chunks").field(&c.len()).finish(),
            Kind::Receiver(_) => f.write_str("SockJsBody::Receiver"),
        }
    }
}

impl SockJsBody {
    /// An empty body.
    pub fn empty() -> SockJsBody {
        SockJsBody {
            kind: Kind::Chunks(VecDeque::new()),
        }
    }

    /// A body of one chunk.
    pub fn full(b: impl Into<Bytes>) -> SockJsBody {
        let b = b.into();
        let mut q = VecDeque::with_capacity(1);
        if !b.is_empty() {
            q.push_back(b);
        }
        SockJsBody { kind: Kind::Chunks(q) }
    }

    pub(crate) fn chunks(chunks: impl IntoIterator<Item = Bytes>) -> SockJsBody {
        SockJsBody {
            kind: Kind::Chunks(chunks.into_iter().filter(|c| !c.is_empty()).collect()),
        }
    }

    pub(crate) fn receiver(r: ReceiverBody) -> SockJsBody {
        SockJsBody {
            kind: Kind::Receiver(Box::new(r)),
        }
    }
}

impl Body for SockJsBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Chunks(q) => Poll::Ready(q.pop_front().map(|b| Ok(Frame::data(b)))),
            Kind::Receiver(r) => r.poll_next(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Chunks(q) => q.is_empty(),
            Kind::Receiver(r) => r.done && r.prelude.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            // Only a single chunk gets a Content-Length: several chunks must
            // stay separate chunks on the wire.
            Kind::Chunks(q) if q.len() <= 1 => SizeHint::with_exact(q.iter().map(|b| b.len() as u64).sum()),
            _ => SizeHint::default(),
        }
    }
}

/// Streams frames from a session to one HTTP receiver.
pub(crate) struct ReceiverBody {
    pub(crate) shared: Arc<Shared>,
    pub(crate) rid: ReceiverId,
    pub(crate) kind: sockjs_core::Receiver,
    pub(crate) callback: Box<str>,
    pub(crate) prelude: Option<Bytes>,
    pub(crate) sent: usize,
    pub(crate) limit: usize,
    pub(crate) heartbeat: Pin<Box<Sleep>>,
    pub(crate) heartbeat_delay: Duration,
    /// Set when the last frame was handed out: dropping the body before that
    /// means the peer went away mid-response.
    pub(crate) done: bool,
}

impl ReceiverBody {
    pub(crate) fn new(
        shared: Arc<Shared>,
        rid: ReceiverId,
        kind: sockjs_core::Receiver,
        callback: &str,
        limit: usize,
        heartbeat_delay: Duration,
    ) -> ReceiverBody {
        let prelude = kind.prelude(callback);
        ReceiverBody {
            shared,
            rid,
            kind,
            callback: callback.into(),
            prelude: (!prelude.is_empty()).then(|| Bytes::from(prelude)),
            sent: 0,
            limit,
            heartbeat: Box::pin(tokio::time::sleep(heartbeat_delay)),
            heartbeat_delay,
            done: false,
        }
    }

    fn wrap(&mut self, frame: &str, last: bool) -> Bytes {
        let mut out = String::with_capacity(frame.len() + 16);
        self.kind.wrap_frame(frame, &self.callback, &mut out);
        self.sent += out.len();
        // Polling receivers carry one frame; streaming ones end at the
        // response limit so the browser can free what it buffered.
        if last || !self.kind.is_streaming() || self.sent >= self.limit {
            self.done = true;
        }
        let deadline = Instant::now() + self.heartbeat_delay;
        self.heartbeat.as_mut().reset(deadline);
        Bytes::from(out)
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(p) = self.prelude.take() {
            return Poll::Ready(Some(p));
        }
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(out) = self.shared.poll_frame(self.rid, cx.waker()) {
            return Poll::Ready(Some(self.wrap(&out.frame, out.is_close)));
        }
        if self.heartbeat.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(self.wrap(HEARTBEAT, false)));
        }
        Poll::Pending
    }
}

impl Drop for ReceiverBody {
    fn drop(&mut self) {
        self.shared.detach(self.rid, !self.done);
    }
}
