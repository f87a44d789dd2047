//! Response bodies: an incremental decoder for the three ways HTTP/1.x
//! delimits them.

use crate::Error;

/// Longest chunk-size or trailer line accepted, in bytes.
const MAX_LINE: usize = 4096;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (`Content-Length`, or 0 for responses that
    /// have no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// A chunk-size line is next.
    Size,
    /// Bytes left of the current chunk's data.
    Data(u64),
    /// The CRLF after a chunk's data is next.
    DataEnd,
    /// Trailer lines up to an empty line, after the last chunk.
    Trailers,
    UntilClose,
    Done,
}

/// Decodes a response body as its bytes arrive, whatever the read sizes.
///
/// Pure: the caller owns the buffer and the socket, feeds whatever it has
/// read to [`BodyDecoder::decode`], drops the bytes it reports used, and
/// reads more when nothing could be used.
///
/// ```
/// use sockjs_testkit::{BodyDecoder, Framing};
///
/// let mut d = BodyDecoder::new(Framing::Chunked);
/// let mut body = Vec::new();
/// let wire = b"2\r\nhi\r\n1;ext\r\n!\r\n0\r\n\r\n";
/// let mut at = 0;
/// while !d.is_done() {
///     at += d.decode(&wire[at..], &mut body).unwrap();
/// }
/// assert_eq!((body.as_slice(), at), (&b"hi!"[..], wire.len()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    framing: Framing,
    state: State,
}

impl BodyDecoder {
    /// A decoder at the start of a body delimited by `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size,
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { framing, state }
    }

    /// The framing this decoder was made for.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether a chunked body is between two chunks: the data of every
    /// chunk so far has been decoded, with its CRLF, and no more.
    pub fn at_chunk_boundary(&self) -> bool {
        self.state == State::Size
    }

    /// Decodes from the front of `input`, appending body bytes to `out`,
    /// and returns how many bytes of `input` it used. It stops at the end
    /// of the body, after each whole chunk (so callers can see chunk
    /// boundaries), or when the rest of `input` is an incomplete line; then
    /// call again with more input. Returns 0 only when more input is needed
    /// or the body is done.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Error> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Done => return Ok(used),
                State::UntilClose => {
                    out.extend_from_slice(rest);
                    return Ok(input.len());
                }
                State::Length(left) => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&rest[..n]);
                    self.state = match left - n as u64 {
                        0 => State::Done,
                        left => State::Length(left),
                    };
                    return Ok(used + n);
                }
                State::Size => {
                    let Some(line) = line(rest)? else { return Ok(used) };
                    used += line.len() + 2;
                    let size = std::str::from_utf8(line)
                        .ok()
                        .map(|l| l.split(';').next().unwrap_or_default().trim())
                        .filter(|hex| !hex.is_empty())
                        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                        .ok_or_else(|| Error::BadChunkSize(String::from_utf8_lossy(line).into_owned()))?;
                    self.state = if size == 0 { State::Trailers } else { State::Data(size) };
                }
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&rest[..n]);
                    used += n;
                    self.state = match left - n as u64 {
                        0 => State::DataEnd,
                        left => State::Data(left),
                    };
                }
                State::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        self.state = State::Size;
                        return Ok(used + 2);
                    }
                    [] | [b'\r'] => return Ok(used),
                    _ => return Err(Error::MissingChunkCrlf),
                },
                State::Trailers => {
                    let Some(line) = line(rest)? else { return Ok(used) };
                    used += line.len() + 2;
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    /// The connection ended: completes a close-delimited body, or reports
    /// one cut short.
    pub fn finish(&mut self) -> Result<(), Error> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            State::Length(left) => Err(Error::Truncated(format!("{left} body bytes missing"))),
            _ => Err(Error::Truncated("inside a chunked body".into())),
        }
    }
}

/// The line at the start of `b` without its CRLF, `None` if incomplete.
fn line(b: &[u8]) -> Result<Option<&[u8]>, Error> {
    match b.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some(&b[..i])),
        None if b.len() > MAX_LINE => Err(Error::BadChunkSize(
            String::from_utf8_lossy(&b[..64]).into_owned() + "...",
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in two reads split at `at`, as a client would: decode
    /// what is buffered, drop what was used, read more when stuck.
    fn decode_split(framing: Framing, wire: &[u8], at: usize) -> Result<(Vec<u8>, usize), Error> {
        let mut d = BodyDecoder::new(framing);
        let mut out = Vec::new();
        let mut buf = wire[..at].to_vec();
        let mut next = at;
        let mut total = 0;
        loop {
            let n = d.decode(&buf, &mut out)?;
            buf.drain(..n);
            total += n;
            if d.is_done() {
                return Ok((out, total));
            }
            if n == 0 {
                if next == wire.len() {
                    d.finish()?;
                    return Ok((out, total));
                }
                buf.extend_from_slice(&wire[next..]);
                next = wire.len();
            }
        }
    }

    #[test]
    fn chunked_body_at_every_split() {
        let wire = b"2\r\nhi\r\nA;name=v\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for at in 0..=wire.len() {
            let (body, used) = decode_split(Framing::Chunked, wire, at).unwrap();
            assert_eq!(body, b"hi0123456789", "split at {at}");
            assert_eq!(used, wire.len() - 4, "split at {at}: the next response is left alone");
        }
    }

    #[test]
    fn length_body_at_every_split_leaves_the_rest() {
        let wire = b"hello worldHTTP/1.1";
        for at in 0..=wire.len() {
            let (body, used) = decode_split(Framing::Length(11), wire, at).unwrap();
            assert_eq!((body.as_slice(), used), (&b"hello world"[..], 11), "split at {at}");
        }
    }

    #[test]
    fn close_delimited_body_ends_at_finish() {
        let (body, _) = decode_split(Framing::UntilClose, b"until close", 3).unwrap();
        assert_eq!(body, b"until close");
    }

    #[test]
    fn decode_stops_after_each_chunk() {
        let mut d = BodyDecoder::new(Framing::Chunked);
        let mut out = Vec::new();
        let wire = b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n";
        let n = d.decode(wire, &mut out).unwrap();
        assert_eq!((n, out.as_slice(), d.at_chunk_boundary()), (6, &b"a"[..], true));
        let m = d.decode(&wire[n..], &mut out).unwrap();
        assert_eq!((m, out.as_slice()), (6, &b"ab"[..]));
        assert_eq!(d.decode(&wire[n + m..], &mut out).unwrap(), 5);
        assert!(d.is_done());
    }

    #[test]
    fn truncated_and_malformed_bodies_are_errors() {
        assert!(matches!(
            decode_split(Framing::Length(5), b"abc", 3),
            Err(Error::Truncated(_))
        ));
        assert!(matches!(
            decode_split(Framing::Chunked, b"5\r\nab", 2),
            Err(Error::Truncated(_))
        ));
        assert!(matches!(
            decode_split(Framing::Chunked, b"zz\r\n", 4),
            Err(Error::BadChunkSize(_))
        ));
        assert!(matches!(
            decode_split(Framing::Chunked, b"\r\n", 2),
            Err(Error::BadChunkSize(_))
        ));
        assert_eq!(
            decode_split(Framing::Chunked, b"1\r\naXY", 6),
            Err(Error::MissingChunkCrlf)
        );
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(matches!(
            decode_split(Framing::Chunked, &long, long.len()),
            Err(Error::BadChunkSize(_))
        ));
    }

    #[test]
    fn empty_bodies_are_done_at_once() {
        let mut d = BodyDecoder::new(Framing::Length(0));
        assert!(d.is_done());
        assert_eq!(d.decode(b"HTTP/1.1", &mut Vec::new()), Ok(0));
    }
}
