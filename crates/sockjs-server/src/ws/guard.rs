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
    /// Bytes read from the peer beyond what the reader asked for, handed
    /// out by the next reads (from `stash_at` on) and freed once taken.
    stash: Vec<u8>,
    stash_at: usize,
}

/// The most one read takes from the socket. Reads go through a buffer of
/// this size on the stack, so the reader above (tungstenite, whose own
/// buffer is allocated for the session's whole life) can keep a small
/// buffer without paying a system call per small read: an idle session
/// holds no read buffer here at all.
const CHUNK: usize = 4096;

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
            stash: Vec::new(),
            stash_at: 0,
        }
    }

    /// Moves stashed bytes into `buf`; false when there were none.
    fn take_stash(&mut self, buf: &mut tokio::io::ReadBuf<'_>) -> bool {
        let left = &self.stash[self.stash_at..];
        if left.is_empty() {
            return false;
        }
        let n = buf.remaining().min(left.len());
        buf.put_slice(&left[..n]);
        self.stash_at += n;
        if self.stash_at == self.stash.len() {
            self.stash = Vec::new();
            self.stash_at = 0;
        }
        true
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

impl<S: AsyncRead + Unpin> FragmentGuard<S> {
    /// One read from the socket into `target`, watched.
    fn read_watched(
        &mut self,
        cx: &mut std::task::Context<'_>,
        target: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = target.filled().len();
        match std::pin::Pin::new(&mut self.io).poll_read(cx, target) {
            Poll::Ready(Ok(())) => {
                if !self.observe(&target.filled()[before..]) {
                    self.failed = Some(GuardError::TooManyFragments);
                    return Poll::Ready(Err(GuardError::TooManyFragments.io()));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.poll_overdue(cx) => {
                self.failed = Some(GuardError::FrameTimedOut);
                Poll::Ready(Err(GuardError::FrameTimedOut.io()))
            }
            other => other,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FragmentGuard<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        if let Some(e) = this.failed {
            return Poll::Ready(Err(e.io()));
        }
        // Stashed bytes first, in order.
        if buf.remaining() > 0 && this.take_stash(buf) {
            return Poll::Ready(Ok(()));
        }
        // A large read goes straight into the reader's buffer.
        if buf.remaining() == 0 || buf.remaining() >= CHUNK {
            return this.read_watched(cx, buf);
        }
        // A small one through the chunk, whose excess is stashed.
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); CHUNK];
        let mut chunk = tokio::io::ReadBuf::uninit(&mut chunk);
        std::task::ready!(this.read_watched(cx, &mut chunk))?;
        let got = chunk.filled();
        let n = buf.remaining().min(got.len());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            this.stash = got[n..].to_vec();
            this.stash_at = 0;
        }
        Poll::Ready(Ok(()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// `n` masked text frames (FIN set), `len` payload bytes each.
    fn frames(n: usize, len: u8) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            v.extend_from_slice(&[0x81, 0x80 | len, 1, 2, 3, 4]);
            v.extend((0..len).map(|j| (i as u8).wrapping_add(j)));
        }
        v
    }

    #[tokio::test]
    async fn small_reads_get_every_byte_in_order_and_the_stash_is_freed() {
        let wire = frames(300, 100);
        assert!(wire.len() > 3 * CHUNK);
        let mut g = FragmentGuard::new(&wire[..], 4, None);
        let mut got = Vec::new();
        let mut small = [0u8; 7];
        loop {
            let n = g.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, wire);
        assert_eq!(g.stash.capacity(), 0, "nothing is held once every byte was taken");
        assert_eq!(g.counter.frames_seen(), 300);
        assert!(g.last_read.is_some());
    }

    #[tokio::test]
    async fn a_large_read_after_a_small_one_takes_the_stash_first() {
        let wire = frames(100, 120);
        let mut g = FragmentGuard::new(&wire[..], 4, None);
        let mut got = vec![0u8; 10];
        g.read_exact(&mut got).await.unwrap();
        let mut big = vec![0u8; 2 * CHUNK];
        while got.len() < wire.len() {
            let n = g.read(&mut big).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&big[..n]);
        }
        assert_eq!(got, wire);
    }

    #[tokio::test]
    async fn too_many_fragments_fail_the_read_through_the_chunk_too() {
        // A text frame without FIN, then continuation frames without FIN.
        let mut wire = vec![0x01, 0x81, 1, 2, 3, 4, b'a'];
        for _ in 0..10 {
            wire.extend_from_slice(&[0x00, 0x81, 1, 2, 3, 4, b'b']);
        }
        let mut g = FragmentGuard::new(&wire[..], 4, None);
        let mut small = [0u8; 16];
        let err = g.read(&mut small).await.unwrap_err();
        assert!(GuardError::TooManyFragments.is(&err));
        let again = g.read(&mut small).await.unwrap_err();
        assert!(GuardError::TooManyFragments.is(&again), "the failure sticks");
    }
}
