//! Response bodies: fixed chunks, and the receiver body that streams frames
//! out of a session.

use crate::shared::Shared;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use sockjs_core::{FrameText, ReceiverId, HEARTBEAT};
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
            Kind::Receiver(r) => (r.done || r.peer_gone) && r.prelude.is_none(),
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

/// The request body of a receiver (a poll or a stream), read and thrown
/// away while the response streams.
///
/// Receivers carry no payload, but a client may still announce one. Left
/// unread, hyper would stop reading the connection until someone asks for
/// those bytes, and with it stop noticing that the client closed it: the
/// session would then outlive its client until a heartbeat write fails.
/// Reading the body to its end (or to the error its connection's end gives)
/// keeps the closing visible, whatever the body's state.
///
/// In a `Mutex` only so that the response body stays `Sync` whatever the
/// request body is; it is only ever reached through `&mut` (`get_mut`).
pub(crate) struct RequestDrain(std::sync::Mutex<Pin<Box<dyn Drain + Send>>>);

/// How a drained request body ended.
enum Drained {
    /// Every byte arrived: the connection is read as usual from now on.
    Complete,
    /// The connection ended (or broke) before the body did, or the body
    /// grew past its bound: the client is gone or misbehaving.
    Failed,
}

/// A request body of any type, polled only to discard its bytes.
trait Drain {
    fn poll_drain(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Drained>;
}

pin_project_lite::pin_project! {
    struct Discard<B> {
        #[pin]
        body: B,
        // Bytes still accepted before the body counts as abuse.
        left: u64,
    }
}

impl<B: Body> Drain for Discard<B> {
    fn poll_drain(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Drained> {
        let mut this = self.project();
        loop {
            match this.body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Drained::Complete),
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Drained::Failed),
                Poll::Ready(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, |d| bytes::Buf::remaining(d) as u64);
                    match this.left.checked_sub(n) {
                        Some(l) => *this.left = l,
                        None => return Poll::Ready(Drained::Failed),
                    }
                }
            }
        }
    }
}

/// Wraps a receiver's request body for [`ReceiverBody`]; `None` when it is
/// known to be empty already (nothing to watch).
pub(crate) fn request_drain<B>(body: B, max_bytes: u64) -> Option<RequestDrain>
where
    B: Body + Send + 'static,
{
    if body.is_end_stream() {
        return None;
    }
    Some(RequestDrain(std::sync::Mutex::new(Box::pin(Discard {
        body,
        left: max_bytes,
    }))))
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
    /// The request's own body, while it has not ended (see [`RequestDrain`]).
    request: Option<RequestDrain>,
    /// Set when the request body showed that the client is gone: the
    /// response ends at once, and the receiver counts as aborted.
    peer_gone: bool,
}

impl ReceiverBody {
    pub(crate) fn new(
        shared: Arc<Shared>,
        rid: ReceiverId,
        kind: sockjs_core::Receiver,
        callback: &str,
        limit: usize,
        heartbeat_delay: Duration,
        request: Option<RequestDrain>,
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
            heartbeat: Box::pin(tokio::time::sleep_until(crate::clock::after(
                Instant::now(),
                heartbeat_delay,
            ))),
            heartbeat_delay,
            done: false,
            request,
            peer_gone: false,
        }
    }

    fn wrap(&mut self, frame: &str, last: bool) -> Bytes {
        let mut out = String::with_capacity(frame.len() + 16);
        self.kind.wrap_frame(frame, &self.callback, &mut out);
        self.sent_chunk(Bytes::from(out), last)
    }

    /// A frame, already wrapped for this receiver, goes out.
    fn sent_chunk(&mut self, chunk: Bytes, last: bool) -> Bytes {
        self.sent += chunk.len();
        // Polling receivers carry one frame; streaming ones end at the
        // response limit so the browser can free what it buffered.
        if last || !self.kind.is_streaming() || self.sent >= self.limit {
            self.done = true;
        }
        let deadline = crate::clock::after(Instant::now(), self.heartbeat_delay);
        self.heartbeat.as_mut().reset(deadline);
        chunk
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.peer_gone {
            return Poll::Ready(None);
        }
        if let Some(drain) = &mut self.request {
            let drain = drain.0.get_mut().unwrap_or_else(|e| e.into_inner());
            match drain.as_mut().poll_drain(cx) {
                Poll::Pending => {}
                Poll::Ready(Drained::Complete) => self.request = None,
                Poll::Ready(Drained::Failed) => {
                    // Ending the response here drops this body, which
                    // detaches the receiver as aborted (`done` is unset).
                    self.request = None;
                    self.peer_gone = true;
                    return Poll::Ready(None);
                }
            }
        }
        if let Some(p) = self.prelude.take() {
            return Poll::Ready(Some(p));
        }
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(out) = self.shared.poll_frame(self.rid, cx.waker()) {
            // A broadcast message queued alone: its frame is already
            // wrapped for this kind of receiver, shared by all recipients.
            if let FrameText::Shared(m) = &out.frame {
                if let Some(chunk) = m.wrapped(self.kind) {
                    return Poll::Ready(Some(self.sent_chunk(chunk, out.is_close)));
                }
            }
            return Poll::Ready(Some(self.wrap(&out.frame, out.is_close)));
        }
        if self.heartbeat.as_mut().poll(cx).is_ready() {
            self.shared.meters.heartbeat();
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
