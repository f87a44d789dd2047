//! A byte-stream guard under tungstenite: it counts each inbound message's
//! frames and bounds how long one frame may take to arrive.

use sockjs_core::FragmentCounter;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// What a [`FragmentGuard`] fails a read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardError {
    /// A message has more frames than allowed.
    TooManyFragments,
    /// A frame started and did not finish within the frame timeout.
    FrameTimedOut,
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GuardError::TooManyFragments => "too many fragments in one websocket message",
            GuardError::FrameTimedOut => "websocket frame not finished in time",
        })
    }
}

impl std::error::Error for GuardError {}

impl GuardError {
    pub(crate) fn io(self) -> std::io::Error {
        std::io::Error::other(self)
    }

    pub(crate) fn is(self, e: &std::io::Error) -> bool {
        e.get_ref()
            .and_then(|e| e.downcast_ref::<GuardError>())
            .is_some_and(|g| *g == self)
    }
}

/// Counts the frames of each inbound websocket message as the bytes go by
/// (tungstenite bounds a message's size but not how many fragments build
/// it) and fails the read once a message has more than `max` frames. It
/// also bounds how long a started frame may wait for its next byte
/// (`frame_timeout`): a peer that sends half a frame and stalls fails the
/// read, where otherwise it would hold its session as long as its TCP
/// connection lives; a large frame that keeps arriving, however slowly, is
/// never cut. Writes pass through untouched, so the close frame can still
/// be sent.
pub(crate) struct FragmentGuard<S> {
    io: S,
    counter: FragmentCounter,
    failed: Option<GuardError>,
    frame_timeout: Option<Duration>,
    /// Since when a read inside a started frame has been waiting for the
    /// peer's next byte: set by the first read that finds nothing, cleared
    /// by any byte. Only time spent waiting on the peer counts, never time
    /// the session loop spent not reading (its application was behind).
    waiting_since: Option<Instant>,
    /// When the last bytes arrived from the peer.
    last_read: Option<Instant>,
    /// The frame timeout's timer, created on the first stall (most
    /// frames arrive in one read and never need it).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FragmentGuard<S> {
    pub(crate) fn new(io: S, max: usize, frame_timeout: Option<Duration>) -> Self {
        FragmentGuard {
            io,
            counter: FragmentCounter::new(max),
            failed: None,
            frame_timeout,
            waiting_since: None,
            last_read: None,
            timer: None,
        }
    }

    /// Feeds bytes read from the peer; false once a message has too many
    /// frames.
    fn observe(&mut self, data: &[u8]) -> bool {
        if !data.is_empty() {
            self.waiting_since = None;
            self.last_read = Some(Instant::now());
        }
        self.counter.observe(data).is_ok()
    }

    /// With a read pending: fails once the frame in progress has waited
    /// `frame_timeout` for its next byte.
    fn poll_overdue(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let Some(limit) = self.frame_timeout else {
            return false;
        };
        if !self.counter.mid_frame() {
            self.waiting_since = None;
            return false;
        }
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let deadline = crate::clock::after(since, limit);
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FragmentGuard<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(e) = self.failed {
            return std::task::Poll::Ready(Err(e.io()));
        }
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        match r {
            std::task::Poll::Ready(Ok(())) => {
                let this = &mut *self;
                if !this.observe(&buf.filled()[before..]) {
                    this.failed = Some(GuardError::TooManyFragments);
                    return std::task::Poll::Ready(Err(GuardError::TooManyFragments.io()));
                }
                r
            }
            std::task::Poll::Pending if self.poll_overdue(cx) => {
                self.failed = Some(GuardError::FrameTimedOut);
                std::task::Poll::Ready(Err(GuardError::FrameTimedOut.io()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FragmentGuard<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// What the session loop may ask of its byte stream: when the peer last
/// sent anything. A peer busy sending one large frame cannot answer a ping
/// until the frame is done, so its bytes count as a sign of life.
pub(crate) trait ReadProgress {
    /// When bytes last arrived from the peer, if known.
    fn last_read(&self) -> Option<Instant>;
}

impl<S> ReadProgress for FragmentGuard<S> {
    fn last_read(&self) -> Option<Instant> {
        self.last_read
    }
}
