//! [`Streaming`]: a response body read as it arrives, for the streaming
//! transports.

use super::buf::{find, show};
use super::conn::Conn;
use crate::{BodyDecoder, Framing, Head};
use std::time::Duration;

// `open_stream` is a `Conn` method defined here so that `conn` never needs
// `Streaming`: this module depends on `conn`, not the other way round.
impl Conn {
    /// Sends a request and reads the response head; the body is then read
    /// as it arrives through the returned [`Streaming`].
    #[track_caller]
    pub fn open_stream(
        mut self,
        version: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Streaming {
        self.send(version, method, path, headers, body);
        let head = self.read_head();
        let body = BodyDecoder::new(head.framing(method));
        Streaming {
            conn: self,
            head,
            body,
            decoded: Vec::new(),
        }
    }
}

/// A response whose body is read as it arrives (streaming transports).
#[derive(Debug)]
pub struct Streaming {
    /// The connection it arrives on.
    pub conn: Conn,
    /// Status line and headers.
    pub head: Head,
    body: BodyDecoder,
    /// Decoded and not yet consumed.
    decoded: Vec<u8>,
}

impl Streaming {
    /// Whether the body is chunked.
    pub fn is_chunked(&self) -> bool {
        self.body.framing() == Framing::Chunked
    }

    /// Whether the body has a `Content-Length`.
    pub fn has_content_length(&self) -> bool {
        matches!(self.body.framing(), Framing::Length(_))
    }

    /// Decodes more of the body (possibly nothing, at a chunk boundary);
    /// false at its end.
    #[track_caller]
    fn more(&mut self) -> bool {
        self.conn.body_data(&mut self.body, &mut self.decoded)
    }

    fn split(&mut self, n: usize) -> Vec<u8> {
        let rest = self.decoded.split_off(n);
        std::mem::replace(&mut self.decoded, rest)
    }

    /// Decoded body bytes up to and including `delim`. Panics at the end
    /// of the body or on timeout.
    #[track_caller]
    pub fn read_until(&mut self, delim: &[u8]) -> Vec<u8> {
        match self.read_until_or_end(delim) {
            Some(b) => b,
            None => panic!("response ended before {:?}", show(delim)),
        }
    }

    /// Like [`Streaming::read_until`], but `None` if the body ends first
    /// (with nothing left over: partial data then panics).
    #[track_caller]
    pub fn read_until_or_end(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.decoded, delim) {
                return Some(self.split(i + delim.len()));
            }
            if !self.more() {
                assert!(
                    self.decoded.is_empty(),
                    "response ended before {:?}; left {:?}",
                    show(delim),
                    show(&self.decoded)
                );
                return None;
            }
        }
    }

    /// Puts bytes back in front of the unread body.
    pub fn unread(&mut self, bytes: &[u8]) {
        self.decoded.splice(0..0, bytes.iter().copied());
    }

    /// Exactly `n` decoded bytes.
    #[track_caller]
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.decoded.len() < n {
            if !self.more() {
                panic!("response ended after {} of {} bytes", self.decoded.len(), n);
            }
        }
        self.split(n)
    }

    /// One newline-terminated frame (xhr-streaming), `\n` included.
    #[track_caller]
    pub fn line(&mut self) -> String {
        String::from_utf8(self.read_until(b"\n")).expect("UTF-8 frame")
    }

    /// Asserts the body ends (within the read timeout) with no further
    /// data.
    #[track_caller]
    pub fn expect_end(&mut self) {
        assert!(self.decoded.is_empty(), "unexpected data {:?}", show(&self.decoded));
        while self.more() {
            assert!(
                self.decoded.is_empty(),
                "unexpected data instead of end: {:?}",
                show(&self.decoded)
            );
        }
    }

    /// The next whole chunk of a chunked body, `None` at the last chunk.
    #[track_caller]
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        assert!(self.is_chunked(), "not a chunked body");
        assert!(
            (self.decoded.is_empty() && self.body.at_chunk_boundary()) || self.body.is_done(),
            "in the middle of a chunk"
        );
        while self.more() {
            if self.body.at_chunk_boundary() {
                return Some(std::mem::take(&mut self.decoded));
            }
        }
        None
    }

    /// Waits up to `d` for more of the response; true if some arrived (or
    /// is buffered). The read timeout is restored afterwards.
    pub fn wait_for_data(&mut self, d: Duration) -> bool {
        !self.decoded.is_empty() || self.conn.wait_for_data(d)
    }

    /// Drops the connection abruptly.
    pub fn abort(self) {
        self.conn.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::test_server::serve;

    #[test]
    fn streaming_reads_chunks_lines_and_the_end() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\no\n\r\n4\r\na\nb\n\r\n0\r\n\r\n";
        for step in [1, 3, wire.len()] {
            let mut st = Conn::connect(&serve(wire, step)).open_stream("HTTP/1.1", "POST", "/", &[], b"");
            assert!(st.is_chunked());
            assert_eq!(st.next_chunk().as_deref(), Some(&b"o\n"[..]), "step {step}");
            assert_eq!(st.line(), "a\n");
            st.unread(b"x");
            assert_eq!(st.line(), "xb\n");
            st.expect_end();
        }
    }

    #[test]
    fn close_delimited_stream() {
        let mut st = Conn::connect(&serve(b"HTTP/1.0 200 OK\r\n\r\nline\nrest", 4)).open_stream(
            "HTTP/1.0",
            "GET",
            "/",
            &[],
            b"",
        );
        assert!(!st.is_chunked() && !st.has_content_length());
        assert_eq!(st.line(), "line\n");
        assert_eq!(st.read_exact(4), b"rest");
        assert_eq!(st.read_until_or_end(b"\n"), None);
    }
}
