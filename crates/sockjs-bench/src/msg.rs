//! Self-checking messages and the per-session bookkeeping that counts lost,
//! duplicated, reordered and corrupted messages.
//!
//! A message is `size` ASCII bytes: 8 hex digits of session index, 12 hex
//! digits of sequence number, 12 hex digits of send time (microseconds since
//! the run's epoch), then filler letters that depend on the sequence number
//! and position. Every byte is fixed by those three numbers, so one flipped
//! or dropped byte is detected, and no byte needs JSON escaping.

use std::collections::BTreeSet;

/// Bytes taken by the header (session, sequence, timestamp).
pub(crate) const HEADER_LEN: usize = 8 + 12 + 12;

/// Smallest accepted message size, in bytes.
pub(crate) const MIN_SIZE: usize = HEADER_LEN;

/// Largest number of skipped sequence numbers remembered per session: past
/// it, a late arrival is counted as a duplicate instead of a reorder (either
/// way it is an error).
const MAX_MISSING: usize = 100_000;

fn filler(seq: u64, i: usize) -> u8 {
    b'a' + ((seq as usize).wrapping_add(i) % 26) as u8
}

fn put_hex(out: &mut Vec<u8>, v: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for k in (0..digits).rev() {
        out.push(HEX[((v >> (4 * k)) & 0xf) as usize]);
    }
}

fn get_hex(s: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Appends the message of session `sid`, number `seq`, sent at `ts_us`,
/// `size` bytes long (at least [`MIN_SIZE`]).
pub(crate) fn encode(out: &mut Vec<u8>, sid: u32, seq: u64, ts_us: u64, size: usize) {
    debug_assert!(size >= MIN_SIZE);
    put_hex(out, u64::from(sid), 8);
    put_hex(out, seq & 0xffff_ffff_ffff, 12);
    put_hex(out, ts_us & 0xffff_ffff_ffff, 12);
    out.extend((HEADER_LEN..size).map(|i| filler(seq, i)));
}

/// The same as [`encode`], as a `String`.
pub(crate) fn encode_string(sid: u32, seq: u64, ts_us: u64, size: usize) -> String {
    let mut v = Vec::with_capacity(size);
    encode(&mut v, sid, seq, ts_us, size);
    // Only ASCII hex digits and letters were written.
    String::from_utf8(v).expect("ASCII")
}

/// A message that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// The session index it carries.
    pub(crate) sid: u32,
    /// Its sequence number.
    pub(crate) seq: u64,
    /// Its send time, microseconds since the run's epoch.
    pub(crate) ts_us: u64,
}

/// Checks a received message byte for byte; `None` means corrupted.
pub(crate) fn decode(m: &[u8], size: usize) -> Option<Decoded> {
    if m.len() != size || size < MIN_SIZE {
        return None;
    }
    let sid = get_hex(&m[0..8])? as u32;
    let seq = get_hex(&m[8..20])?;
    let ts_us = get_hex(&m[20..32])?;
    if m[HEADER_LEN..]
        .iter()
        .enumerate()
        .any(|(k, &c)| c != filler(seq, HEADER_LEN + k))
    {
        return None;
    }
    Some(Decoded { sid, seq, ts_us })
}

/// What one session sent and received, and what went wrong.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tracker {
    /// Number of messages sent so far (the next sequence number).
    pub(crate) sent: u64,
    /// Distinct messages received back.
    pub(crate) received: u64,
    /// Messages received twice (or a number never sent).
    pub(crate) duplicated: u64,
    /// Messages received after a later one.
    pub(crate) reordered: u64,
    /// Messages whose bytes, length or session index were wrong.
    pub(crate) corrupted: u64,
    next_expected: u64,
    missing: BTreeSet<u64>,
}

impl Tracker {
    /// Messages sent and not yet received.
    pub(crate) fn outstanding(&self) -> u64 {
        self.sent - self.received
    }

    /// Records a corrupted message.
    pub(crate) fn corrupt(&mut self) {
        self.corrupted += 1;
    }

    /// Records the arrival of message `seq`; returns `true` when it is a
    /// first arrival (counts for throughput and latency).
    pub(crate) fn arrive(&mut self, seq: u64) -> bool {
        if seq >= self.sent {
            // A number never sent: the bytes were valid but the server made
            // it up or delivered another run's message.
            self.corrupted += 1;
            return false;
        }
        if seq == self.next_expected {
            self.next_expected += 1;
        } else if seq > self.next_expected {
            for s in self.next_expected..seq {
                if self.missing.len() < MAX_MISSING {
                    self.missing.insert(s);
                }
            }
            self.next_expected = seq + 1;
        } else if self.missing.remove(&seq) {
            self.reordered += 1;
        } else {
            self.duplicated += 1;
            return false;
        }
        self.received += 1;
        true
    }

    /// Messages never received back.
    pub(crate) fn lost(&self) -> u64 {
        self.sent - self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_exact_bytes_and_round_trips() {
        let s = encode_string(0x1a, 0x2b, 0x3c, 40);
        assert_eq!(s, "0000001a00000000002b00000000003cxyzabcde");
        assert_eq!(
            decode(s.as_bytes(), 40),
            Some(Decoded {
                sid: 0x1a,
                seq: 0x2b,
                ts_us: 0x3c
            })
        );
    }

    #[test]
    fn detects_corruption_and_wrong_length() {
        let s = encode_string(7, 9, 11, 64);
        let mut b = s.clone().into_bytes();
        b[50] ^= 1;
        assert_eq!(decode(&b, 64), None);
        assert_eq!(decode(&s.as_bytes()[..63], 64), None);
        assert_eq!(decode(s.as_bytes(), 65), None);
        let mut upper = s.into_bytes();
        upper[3] = b'G';
        assert_eq!(decode(&upper, 64), None);
    }

    #[test]
    fn counts_reorders_duplicates_and_losses() {
        let mut t = Tracker {
            sent: 5,
            ..Tracker::default()
        };
        assert!(t.arrive(0));
        assert!(t.arrive(2));
        assert!(t.arrive(1));
        assert!(!t.arrive(1));
        assert!(!t.arrive(7));
        assert!(t.arrive(3));
        assert_eq!(
            (t.received, t.reordered, t.duplicated, t.corrupted, t.lost()),
            (4, 1, 1, 1, 1)
        );
        assert_eq!(t.outstanding(), 1);
    }
}
