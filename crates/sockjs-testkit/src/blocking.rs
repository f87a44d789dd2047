//! The blocking client the wire tests use: one `std` TCP connection, exact
//! bytes out, exact bytes in.
//!
//! Its methods are assertions: a read that times out, a connection that
//! ends too early or a malformed response panics with what was expected
//! and what was buffered, so a test never hangs on a silent server and
//! fails where it waited.

use crate::{BodyDecoder, Framing, Head, Request};
use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// How long a read on a new [`Conn`] may block before it panics.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn show(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(&b[..b.len().min(300)])
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status line and headers.
    pub head: Head,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl std::ops::Deref for Response {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

impl Response {
    /// The body as UTF-8 (panics otherwise).
    #[track_caller]
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    /// Asserts the status code.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.head.status,
            status,
            "status; headers {:?}; body {:?}",
            self.head.headers,
            show(&self.body)
        );
        self
    }

    /// Asserts the body, as text.
    #[track_caller]
    pub fn expect_body(&self, body: &str) -> &Self {
        assert_eq!(
            String::from_utf8_lossy(&self.body),
            body,
            "body (status {})",
            self.head.status
        );
        self
    }
}

/// One TCP connection and its read buffer.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    host: String,
    closed: bool,
    /// The read timeout tests set; `wait_for_data` restores it.
    timeout: Cell<Duration>,
}

impl Conn {
    /// Connects to `authority` (`host:port`, also sent as `Host`), with
    /// [`DEFAULT_TIMEOUT`] on reads and writes and Nagle off.
    #[track_caller]
    pub fn connect(authority: &str) -> Conn {
        let stream = TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
        stream.set_write_timeout(Some(DEFAULT_TIMEOUT)).expect("write timeout");
        stream.set_nodelay(true).expect("nodelay");
        let conn = Conn {
            stream,
            buf: Vec::new(),
            host: authority.to_owned(),
            closed: false,
            timeout: Cell::new(DEFAULT_TIMEOUT),
        };
        conn.set_read_timeout(DEFAULT_TIMEOUT);
        conn
    }

    /// The socket, for writes of a test's own.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// How long each later read may block before it panics.
    pub fn set_read_timeout(&self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).expect("read timeout");
        self.timeout.set(d);
    }

    /// Writes raw bytes.
    #[track_caller]
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Writes one request in one write (see [`Request::write`] for the
    /// headers added).
    #[track_caller]
    pub fn send(&mut self, version: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut req = Vec::with_capacity(256 + body.len());
        Request::new(method, path)
            .version(version)
            .headers(headers)
            .body(body)
            .write(&self.host, &mut req);
        self.send_raw(&req);
    }

    /// Reads more bytes into the buffer: `Some(false)` at the end of the
    /// connection (EOF or reset), `None` if the read timed out.
    fn try_fill(&mut self) -> Option<bool> {
        if self.closed {
            return Some(false);
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_SIZE, 0);
        let r = loop {
            match self.stream.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        self.buf.truncate(old + *r.as_ref().unwrap_or(&0));
        match r {
            Ok(0) => {
                self.closed = true;
                Some(false)
            }
            Ok(_) => Some(true),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => None,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.closed = true;
                Some(false)
            }
            Err(e) => panic!("read error: {e}"),
        }
    }

    /// Like `try_fill`, panicking on a timeout.
    #[track_caller]
    fn fill(&mut self) -> bool {
        match self.try_fill() {
            Some(more) => more,
            None => panic!(
                "read timed out after {:?}; buffered {:?}",
                self.stream.read_timeout().ok().flatten(),
                show(&self.buf)
            ),
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Waits up to `d` for bytes; true if some arrived (or are buffered),
    /// false on silence or the end of the connection. The read timeout is
    /// restored afterwards.
    pub fn wait_for_data(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        self.stream.set_read_timeout(Some(d)).expect("read timeout");
        let r = self.try_fill();
        self.set_read_timeout(self.timeout.get());
        r == Some(true)
    }

    /// Raw bytes up to and including `delim`. Panics on EOF or timeout.
    #[track_caller]
    pub fn read_raw_until(&mut self, delim: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.buf, delim) {
                return self.take(i + delim.len());
            }
            if !self.fill() {
                panic!("EOF before {:?}; buffered {:?}", show(delim), show(&self.buf));
            }
        }
    }

    /// Exactly `n` raw bytes. Panics on EOF or timeout.
    #[track_caller]
    pub fn read_raw_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            if !self.fill() {
                panic!("EOF after {} of {} bytes", self.buf.len(), n);
            }
        }
        self.take(n)
    }

    /// Raw bytes until a complete head (`\r\n\r\n`) has arrived or the peer
    /// closes; returns what arrived up to the end of the head. Panics on
    /// timeout.
    #[track_caller]
    pub fn read_raw_to_end_or_head(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                return self.take(i + 4);
            }
            if !self.fill() {
                return std::mem::take(&mut self.buf);
            }
        }
    }

    /// Raw bytes until the peer closes. Panics on timeout.
    #[track_caller]
    pub fn read_raw_to_end(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// True if the peer closes the connection (EOF or reset) within the
    /// read timeout with nothing more arriving; false if it stays open and
    /// silent. Panics if data arrives.
    #[track_caller]
    pub fn closes_without_data(&mut self) -> bool {
        match self.try_fill() {
            Some(false) => self.buf.is_empty(),
            Some(true) => panic!("unexpected data: {:?}", show(&self.buf)),
            None => false,
        }
    }

    /// Reads a status line and headers.
    #[track_caller]
    pub fn read_head(&mut self) -> Head {
        loop {
            match Head::parse(&self.buf) {
                Ok(Some((head, len))) => {
                    self.buf.drain(..len);
                    return head;
                }
                Ok(None) => {
                    if !self.fill() {
                        panic!("EOF before a complete response head; buffered {:?}", show(&self.buf));
                    }
                }
                Err(e) => panic!("{e}; buffered {:?}", show(&self.buf)),
            }
        }
    }

    /// Decodes the next piece of a body into `out`, or up to the end of a
    /// chunk; false once the body is complete. Panics on timeout, a
    /// malformed body or one cut short.
    #[track_caller]
    fn body_data(&mut self, d: &mut BodyDecoder, out: &mut Vec<u8>) -> bool {
        loop {
            if d.is_done() {
                return false;
            }
            let before = out.len();
            let used = d.decode(&self.buf, out).unwrap_or_else(|e| panic!("{e}"));
            self.buf.drain(..used);
            // A chunk's closing CRLF counts as progress, so `next_chunk`
            // returns at the boundary instead of waiting for the next one.
            if out.len() > before || (used > 0 && d.at_chunk_boundary()) {
                return true;
            }
            if used == 0 && !d.is_done() && !self.fill() {
                d.finish().unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    /// Reads a whole body delimited as `head` says for a `method` request.
    #[track_caller]
    pub fn read_body(&mut self, head: &Head, method: &str) -> Vec<u8> {
        let mut d = BodyDecoder::new(head.framing(method));
        let mut out = Vec::new();
        while self.body_data(&mut d, &mut out) {}
        out
    }

    /// Sends an HTTP/1.1 request and reads the complete response.
    #[track_caller]
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        self.send("HTTP/1.1", method, path, headers, body);
        self.read_response(method)
    }

    /// Reads one complete response to a `method` request.
    #[track_caller]
    pub fn read_response(&mut self, method: &str) -> Response {
        let head = self.read_head();
        let body = self.read_body(&head, method);
        Response { head, body }
    }

    /// The response to a `method` request if it has arrived whole (head
    /// and body) after waiting up to `wait` for more bytes; `None`, with
    /// nothing consumed, if not yet: a test can tell which of several
    /// requests the server answered without blocking on the others.
    #[track_caller]
    pub fn try_read_response(&mut self, method: &str, wait: Duration) -> Option<Response> {
        if let Some(r) = self.take_whole_response(method) {
            return Some(r);
        }
        self.stream.set_read_timeout(Some(wait)).expect("read timeout");
        let _ = self.try_fill();
        self.set_read_timeout(self.timeout.get());
        self.take_whole_response(method)
    }

    /// A whole response from the buffer, if there is one.
    #[track_caller]
    fn take_whole_response(&mut self, method: &str) -> Option<Response> {
        let (head, len) = Head::parse(&self.buf).unwrap_or_else(|e| panic!("{e}; buffered {:?}", show(&self.buf)))?;
        let mut d = BodyDecoder::new(head.framing(method));
        let mut body = Vec::new();
        let mut at = len;
        while !d.is_done() {
            let n = d.decode(&self.buf[at..], &mut body).unwrap_or_else(|e| panic!("{e}"));
            if n == 0 {
                if !self.closed {
                    return None;
                }
                d.finish().unwrap_or_else(|e| panic!("{e}"));
            }
            at += n;
        }
        self.buf.drain(..at);
        Some(Response { head, body })
    }

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

    /// Shuts the connection down both ways and drops it: an abort from
    /// the server's point of view.
    pub fn abort(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
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
    use std::net::TcpListener;

    /// Accepts one connection, reads one request, writes `wire` in pieces
    /// of `step` bytes, then closes.
    fn serve(wire: &'static [u8], step: usize) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b).unwrap();
            for piece in wire.chunks(step) {
                s.write_all(piece).unwrap();
                s.flush().unwrap();
            }
        });
        addr
    }

    #[test]
    fn whole_response_with_chunked_body() {
        let addr = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            5,
        );
        let r = Conn::connect(&addr).request("GET", "/", &[], b"");
        r.expect_status(200).expect_body("abc");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    }

    #[test]
    fn try_read_response_waits_for_the_whole_response() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let (release, released) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab").unwrap();
            released.recv().unwrap();
            s.write_all(b"cd").unwrap();
            let _ = released.recv();
        });
        let mut c = Conn::connect(&addr);
        assert_eq!(c.try_read_response("GET", Duration::from_millis(50)), None);
        release.send(()).unwrap();
        let mut r = None;
        while r.is_none() {
            r = c.try_read_response("GET", Duration::from_millis(50));
        }
        r.unwrap().expect_body("abcd");
    }

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
