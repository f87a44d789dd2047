//! A byte-stream guard under tungstenite: it counts each inbound message's
//! frames and bounds how long one frame may take to arrive.

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
/// also bounds how long one frame may take to arrive once it started
/// (`frame_timeout`): a peer that sends half a frame and stalls fails the
/// read, where otherwise it would hold its session as long as its TCP
/// connection lives. Writes pass through untouched, so the close frame can
/// still be sent.
pub(crate) struct FragmentGuard<S> {
    io: S,
    max: usize,
    /// Frames of the message being assembled (0 between messages).
    frames: usize,
    /// Header bytes gathered so far (at most 14: 2 + 8 length + 4 mask).
    head: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Frames seen in full so far.
    done: u64,
    failed: Option<GuardError>,
    frame_timeout: Option<Duration>,
    /// When the frame in progress started to arrive, if one is.
    started: Option<Instant>,
    /// The frame timeout's timer, created on the first stall (most
    /// frames arrive in one read and never need it).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FragmentGuard<S> {
    pub(crate) fn new(io: S, max: usize, frame_timeout: Option<Duration>) -> Self {
        FragmentGuard {
            io,
            max,
            frames: 0,
            head: [0; 14],
            have: 0,
            skip: 0,
            done: 0,
            failed: None,
            frame_timeout,
            started: None,
            timer: None,
        }
    }

    /// Length of the header whose first two bytes are in `head`.
    fn head_len(&self) -> usize {
        let ext = match self.head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }

    /// True while a frame has started and not fully arrived.
    fn mid_frame(&self) -> bool {
        self.have > 0 || self.skip > 0
    }

    /// Feeds bytes read from the peer; false once the limit is passed.
    pub(super) fn observe(&mut self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (data.len() as u64).min(self.skip) as usize;
                self.skip -= n as u64;
                data = &data[n..];
                if self.skip == 0 {
                    self.done += 1;
                }
                continue;
            }
            let want = if self.have < 2 { 2 } else { self.head_len() };
            let n = (want - self.have).min(data.len());
            self.head[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < 2 || self.have < self.head_len() {
                continue;
            }
            let fin = self.head[0] & 0x80 != 0;
            let opcode = self.head[0] & 0x0f;
            self.skip = match self.head[1] & 0x7f {
                126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
                127 => u64::from_be_bytes(self.head[2..10].try_into().unwrap_or([0xff; 8])),
                n => u64::from(n),
            };
            self.have = 0;
            if self.skip == 0 {
                self.done += 1;
            }
            // Control frames (opcode 8 and up) may come between fragments
            // and do not count; a data frame starts a message, a
            // continuation (0) extends it.
            if opcode < 8 {
                self.frames = if opcode == 0 { self.frames + 1 } else { 1 };
                if self.frames > self.max {
                    return false;
                }
                if fin {
                    self.frames = 0;
                }
            }
        }
        true
    }

    /// Notes where the frame timer stands after `data` was read.
    fn track(&mut self, done_before: u64) {
        if !self.mid_frame() {
            self.started = None;
        } else if self.started.is_none() || self.done != done_before {
            // A new frame began in this read.
            self.started = Some(Instant::now());
        }
    }

    /// With a read pending: fails once the frame in progress is overdue.
    fn poll_overdue(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let (Some(limit), Some(started)) = (self.frame_timeout, self.started) else {
            return false;
        };
        let deadline = crate::clock::after(started, limit);
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
                let done_before = self.done;
                let this = &mut *self;
                if !this.observe(&buf.filled()[before..]) {
                    this.failed = Some(GuardError::TooManyFragments);
                    return std::task::Poll::Ready(Err(GuardError::TooManyFragments.io()));
                }
                this.track(done_before);
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
