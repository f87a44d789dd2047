//! [`Conn`]: one blocking TCP connection and its read buffer, read as raw
//! bytes, response heads, bodies and whole responses.

use super::buf::{find, show};
use super::response::Response;
use crate::{BodyDecoder, Head, Request};
use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// How long a read on a new [`Conn`] may block before it panics.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

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
    pub(super) fn body_data(&mut self, d: &mut BodyDecoder, out: &mut Vec<u8>) -> bool {
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

    /// Shuts the connection down both ways and drops it: an abort from
    /// the server's point of view.
    pub fn abort(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::test_server::serve;
    use std::net::TcpListener;

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
}
