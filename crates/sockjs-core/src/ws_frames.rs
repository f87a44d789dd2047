//! Counting the frames of inbound websocket messages from the raw bytes.
//!
//! A websocket library bounds a message's size, but a peer can still build
//! a small message from thousands of tiny fragments, each costing a parse
//! and a buffer append. [`FragmentCounter`] watches the bytes as they are
//! read, before the library sees them, and says when a message has too
//! many frames. It reads only frame headers and skips payloads, so it costs
//! next to nothing per byte.

/// A message had more frames than allowed.
///
/// ```
/// use sockjs_core::TooManyFragments;
/// assert_eq!(TooManyFragments.to_string(), "too many fragments in one websocket message");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many fragments in one websocket message")]
pub struct TooManyFragments;

/// Longest frame header (RFC 6455 §5.2): 2 bytes, 8 of extended length,
/// 4 of masking key.
const MAX_HEAD: usize = 14;

/// Counts the frames of each inbound websocket message in a byte stream
/// read from the peer, in whatever pieces it arrives.
///
/// A data frame (text, binary, or a reserved data opcode) starts a message,
/// a continuation frame extends it, and a frame with the FIN bit ends it.
/// Control frames (ping, pong, close, reserved control opcodes) may come
/// between fragments and are not counted. Once a message has more than
/// `max` frames, [`observe`](Self::observe) fails, and keeps failing for
/// every later call: the stream is no longer worth reading.
///
/// Only frame boundaries are checked here; the websocket library reading
/// the same bytes remains in charge of validating them.
///
/// ```
/// use sockjs_core::{FragmentCounter, TooManyFragments};
/// let mut c = FragmentCounter::new(2);
/// // A text frame without FIN ("a"), then a continuation without FIN ("b"),
/// // both unmasked, fed in two uneven pieces.
/// assert_eq!(c.observe(&[0x01, 0x01, b'a', 0x00]), Ok(()));
/// assert!(c.mid_frame() && c.mid_message());
/// assert_eq!(c.observe(&[0x01, b'b']), Ok(()));
/// assert!(!c.mid_frame() && c.mid_message());
/// assert_eq!(c.frames_seen(), 2);
/// // A third frame is one too many, even with FIN.
/// assert_eq!(c.observe(&[0x80, 0x00]), Err(TooManyFragments));
/// ```
#[derive(Debug, Clone)]
pub struct FragmentCounter {
    max: usize,
    /// Frames of the message being assembled (0 between messages).
    frames: usize,
    /// Header bytes gathered so far.
    head: [u8; MAX_HEAD],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Frames read in full so far.
    seen: u64,
    failed: bool,
}

impl FragmentCounter {
    /// A counter for a stream that starts at a frame boundary, allowing at
    /// most `max` frames per message (0 refuses every data frame).
    pub fn new(max: usize) -> FragmentCounter {
        FragmentCounter {
            max,
            frames: 0,
            head: [0; MAX_HEAD],
            have: 0,
            skip: 0,
            seen: 0,
            failed: false,
        }
    }

    /// Feeds the next bytes read from the peer. Fails once a message has
    /// more than `max` frames, as soon as the header of the frame over the
    /// limit is complete, and for every call after that.
    pub fn observe(&mut self, mut data: &[u8]) -> Result<(), TooManyFragments> {
        if self.failed {
            return Err(TooManyFragments);
        }
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (data.len() as u64).min(self.skip) as usize;
                self.skip -= n as u64;
                data = &data[n..];
                if self.skip == 0 {
                    self.seen += 1;
                }
                continue;
            }
            // Two bytes first: they tell how long the whole header is.
            let want = if self.have < 2 { 2 } else { self.head_len() };
            let n = (want - self.have).min(data.len());
            self.head[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < 2 || self.have < self.head_len() {
                continue;
            }
            self.skip = self.payload_len();
            self.have = 0;
            if self.skip == 0 {
                self.seen += 1;
            }
            if let Err(e) = self.count(self.head[0]) {
                self.failed = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// True when the stream is inside a frame: some of its header bytes or
    /// payload bytes are still expected. A peer that stops sending there is
    /// stalling a frame it started.
    pub fn mid_frame(&self) -> bool {
        self.have > 0 || self.skip > 0
    }

    /// How many frames (data and control) have been read in full. A caller
    /// timing frames can tell from it whether the frame in progress after a
    /// read is the one that was in progress before it.
    pub fn frames_seen(&self) -> u64 {
        self.seen
    }

    /// True when a data message has started (a data frame without FIN was
    /// read) and its final frame has not been read yet.
    pub fn mid_message(&self) -> bool {
        self.frames > 0
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

    /// The payload length of the complete header in `head`.
    fn payload_len(&self) -> u64 {
        match self.head[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => {
                let mut len = [0; 8];
                len.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(len)
            }
            n => u64::from(n),
        }
    }

    /// Counts a frame whose header starts with `first`.
    fn count(&mut self, first: u8) -> Result<(), TooManyFragments> {
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0f;
        // Control frames (opcode 8 and up) may come between fragments and
        // do not count; a data frame starts a message, a continuation (0)
        // extends it.
        if opcode >= 8 {
            return Ok(());
        }
        self.frames = if opcode == 0 { self.frames + 1 } else { 1 };
        if self.frames > self.max {
            return Err(TooManyFragments);
        }
        if fin {
            self.frames = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_counter_parses_split_headers() {
        let mut g = FragmentCounter::new(2);
        // Masked text frame, not final, 126-length form (300 bytes), fed
        // one byte at a time, then two continuations: the third frame
        // passes the cap.
        let mut frame = vec![0x01, 0x80 | 126, 0x01, 0x2c, 1, 2, 3, 4];
        frame.extend(std::iter::repeat_n(0u8, 300));
        for (i, b) in frame.iter().enumerate() {
            assert_eq!(g.observe(std::slice::from_ref(b)), Ok(()));
            assert_eq!(g.mid_frame(), i + 1 < frame.len(), "after byte {i}");
        }
        assert!(g.mid_message());
        let cont = [0x00, 0x80, 9, 9, 9, 9];
        assert_eq!(g.observe(&cont), Ok(()));
        // A control frame between fragments does not count.
        assert_eq!(g.observe(&[0x89, 0x80, 0, 0, 0, 0]), Ok(()));
        assert_eq!(g.observe(&cont), Err(TooManyFragments));
        // Once failed, always failed.
        assert_eq!(g.observe(&[]), Err(TooManyFragments));
        // Final frames reset the count.
        let mut g = FragmentCounter::new(1);
        for _ in 0..10 {
            assert_eq!(g.observe(&[0x81, 0x81, 0, 0, 0, 0, b'x']), Ok(()));
            assert!(!g.mid_frame() && !g.mid_message());
        }
    }

    #[test]
    fn long_lengths_are_skipped_without_reading() {
        // 64-bit length form: 2^40 payload bytes announced, 3 fed.
        let mut g = FragmentCounter::new(1);
        assert_eq!(g.observe(&[0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3]), Ok(()));
        assert!(g.mid_frame());
        assert_eq!(g.skip, (1 << 40) - 3);
        // Whatever the payload holds, it is not read as headers.
        assert_eq!(g.observe(&[0x00; 64]), Ok(()));
        assert!(!g.mid_message());
    }

    #[test]
    fn zero_allows_no_data_frame() {
        let mut g = FragmentCounter::new(0);
        assert_eq!(g.observe(&[0x89, 0x00, 0x8a, 0x00]), Ok(()));
        assert_eq!(g.observe(&[0x81, 0x00]), Err(TooManyFragments));
    }

    #[test]
    fn header_split_at_every_point() {
        // Masked, 16-bit length of 2: a 10-byte frame, then a second,
        // final continuation. Every split point gives the same verdict.
        let frames = [0x02, 0xfe, 0x00, 0x02, 1, 2, 3, 4, 0xaa, 0xbb, 0x80, 0x80, 5, 6, 7, 8];
        for cut in 0..=frames.len() {
            let mut g = FragmentCounter::new(2);
            assert_eq!(g.observe(&frames[..cut]), Ok(()));
            assert_eq!(g.mid_frame(), cut != 0 && cut != 10 && cut != 16, "cut {cut}");
            assert_eq!(g.observe(&frames[cut..]), Ok(()));
            assert!(!g.mid_frame() && !g.mid_message());
            let mut g = FragmentCounter::new(1);
            let r = g.observe(&frames[..cut]).and_then(|()| g.observe(&frames[cut..]));
            assert_eq!(r, Err(TooManyFragments), "cut {cut}");
        }
    }
}
