//! The websocket fragment counter, two ways.
//!
//! Frames mode: a list of frames is generated (any opcode, FIN or not,
//! masked or not, every length encoding including non-minimal ones,
//! payloads full of bytes that look like headers), serialized, and fed to a
//! `FragmentCounter` in pieces of generated sizes. A reference that counts
//! over the frame list itself (no bytes involved) says where the first
//! message over the limit is; the counter must fail on exactly the piece
//! that completes that frame's header, and stay failed. Before that,
//! `mid_frame` must be true exactly when the bytes fed so far end inside a
//! frame, and `mid_message` exactly when a data message has started and not
//! ended.
//!
//! Bytes mode: arbitrary bytes never panic, and the verdict, `mid_frame`
//! and `mid_message` do not depend on how the bytes are split.
//!
//! Input: a first byte (bits 0-2: the frame limit, 0 to 7; bit 3: bytes
//! mode). Frames mode: a frame count (mod 32), two bytes per frame (see
//! `frame`), then piece sizes (one byte each; what is left after they run
//! out is fed at once). Bytes mode: a piece size, then the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{FragmentCounter, TooManyFragments};

struct Frame {
    fin: bool,
    opcode: u8,
    /// Offsets of the first byte, just past the header, just past the payload.
    start: usize,
    header_end: usize,
    end: usize,
}

/// Serializes one frame from two descriptor bytes. `d0`: bit 7 FIN,
/// bits 0-3 the opcode, bit 4 masked, bits 5-6 the length form (0 or 3:
/// shortest, 1: 16-bit, 2: 64-bit). `d1`: the payload length.
fn frame(d0: u8, d1: u8, wire: &mut Vec<u8>) -> Frame {
    let fin = d0 & 0x80 != 0;
    let opcode = d0 & 0x0f;
    let masked = d0 & 0x10 != 0;
    let len = usize::from(d1);
    let start = wire.len();
    let mask_bit = if masked { 0x80 } else { 0 };
    wire.push(if fin { 0x80 } else { 0 } | opcode);
    match (d0 >> 5) & 3 {
        1 => {
            wire.push(mask_bit | 126);
            wire.extend_from_slice(&(len as u16).to_be_bytes());
        }
        2 => {
            wire.push(mask_bit | 127);
            wire.extend_from_slice(&(len as u64).to_be_bytes());
        }
        _ if len > 125 => {
            wire.push(mask_bit | 126);
            wire.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => wire.push(mask_bit | len as u8),
    }
    if masked {
        wire.extend_from_slice(&[0x81, 0x00, 0x89, 0x7f]);
    }
    let header_end = wire.len();
    // Payload bytes that would read as short final text frames, or as the
    // 64-bit length form, if the counter parsed them.
    wire.extend((0..len).map(|i| if i % 2 == 0 { d0 | 0x01 } else { 0x7f }));
    Frame {
        fin,
        opcode,
        start,
        header_end,
        end: wire.len(),
    }
}

/// Over the frame list: the index of the first data frame that makes its
/// message longer than `max` frames, and for each frame before it whether
/// a data message is unfinished once that frame's header is read.
fn reference(frames: &[Frame], max: usize) -> (Option<usize>, Vec<bool>) {
    let mut open = Vec::new();
    // Frames of the unfinished data message; control frames are ignored.
    let mut current = 0usize;
    for (i, f) in frames.iter().enumerate() {
        let is_control = f.opcode >= 8;
        if !is_control {
            let continues = f.opcode == 0;
            current = if continues { current + 1 } else { 1 };
            if current > max {
                return (Some(i), open);
            }
            if f.fin {
                current = 0;
            }
        }
        open.push(current > 0);
    }
    (None, open)
}

fn frames_mode(max: usize, data: &[u8]) {
    let [n, rest @ ..] = data else { return };
    let n = usize::from(*n % 32).min(rest.len() / 2);
    let (descriptors, pieces) = rest.split_at(2 * n);
    let mut wire = Vec::new();
    let frames: Vec<Frame> = descriptors.chunks(2).map(|d| frame(d[0], d[1], &mut wire)).collect();
    let (fails, open) = reference(&frames, max);
    let fail_offset = fails.map(|i| frames[i].header_end);

    let mut c = FragmentCounter::new(max);
    let mut at = 0;
    let mut sizes = pieces.iter().map(|&s| usize::from(s));
    loop {
        let size = sizes.next().unwrap_or(wire.len() - at);
        let end = (at + size).min(wire.len());
        let got = c.observe(&wire[at..end]);
        let failed = fail_offset.is_some_and(|f| f <= end);
        if failed {
            assert_eq!(
                got,
                Err(TooManyFragments),
                "piece {at}..{end}, fails at {fail_offset:?}"
            );
            assert_eq!(c.observe(&wire[end..]), Err(TooManyFragments));
            assert_eq!(c.observe(&[]), Err(TooManyFragments));
            return;
        }
        assert_eq!(got, Ok(()), "piece {at}..{end}");
        let inside = frames.iter().any(|f| f.start < end && end < f.end);
        assert_eq!(c.mid_frame(), inside, "after {end} of {}", wire.len());
        let read = frames.iter().rposition(|f| f.header_end <= end);
        assert_eq!(c.mid_message(), read.is_some_and(|i| open[i]), "after {end}");
        at = end;
        if at == wire.len() {
            break;
        }
    }
    assert!(fails.is_none());
    assert!(!c.mid_frame());
    // The same stream in one piece gives the same verdict.
    let mut whole = FragmentCounter::new(max);
    assert_eq!(whole.observe(&wire), Ok(()));
    assert_eq!(whole.mid_message(), c.mid_message());
}

fn bytes_mode(max: usize, data: &[u8]) {
    let [step, bytes @ ..] = data else { return };
    let step = usize::from(*step).max(1);
    let feed = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut c = FragmentCounter::new(max);
        for p in pieces {
            if c.observe(p).is_err() {
                return None;
            }
        }
        Some((c.mid_frame(), c.mid_message()))
    };
    let whole = feed(&mut std::iter::once(bytes));
    assert_eq!(feed(&mut bytes.chunks(step)), whole);
    assert_eq!(feed(&mut bytes.chunks(1)), whole);
}

fuzz_target!(|data: &[u8]| {
    let [first, rest @ ..] = data else { return };
    let max = usize::from(first & 0x07);
    if first & 0x08 != 0 {
        bytes_mode(max, rest);
    } else {
        frames_mode(max, rest);
    }
});
