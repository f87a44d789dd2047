//! The tokio client: one keep-alive connection that reads bodies as they
//! arrive, for the load generator and the soak program.

use crate::{parse_head, BodyDecoder, Error, Framing, Request};
use bytes::{Buf, BytesMut};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e {
            Error::Truncated(_) => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// One HTTP/1.1 connection that reconnects when the previous response left
/// it unusable (closed by the server, or its body not read to the end).
///
/// Built for load generation: a request is serialized into a buffer the
/// connection keeps and sent in one write, responses are read into one
/// buffer per connection, head parsing allocates nothing, and body bytes go
/// straight into the caller's buffer. No task or channel per request.
///
/// Timeouts are the caller's: wrap calls in `tokio::time::timeout`.
#[derive(Debug)]
pub struct AsyncConn {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    buf: BytesMut,
    body: BodyDecoder,
    /// Whether the server keeps the connection after the current response.
    /// Cleared while a request is under way, so a cancelled one never
    /// leaves its response to be read as the next one's.
    keep_alive: bool,
    req: Vec<u8>,
}

impl AsyncConn {
    /// A connection to `addr`, sending `host` as the `Host` header;
    /// connects on first use.
    pub fn new(addr: SocketAddr, host: String) -> Self {
        AsyncConn {
            addr,
            host,
            stream: None,
            buf: BytesMut::with_capacity(8192),
            body: BodyDecoder::new(Framing::Length(0)),
            keep_alive: false,
            req: Vec::new(),
        }
    }

    /// A connection over an already connected `stream` (to connect with a
    /// policy of the caller's: retries, timeouts); later reconnections go to
    /// the same peer.
    pub fn from_stream(stream: TcpStream, host: String) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let mut c = AsyncConn::new(stream.peer_addr()?, host);
        c.stream = Some(stream);
        c.keep_alive = true;
        Ok(c)
    }

    /// Sends `req` and reads the response head; returns the status code.
    /// The body is then read with [`AsyncConn::body_data`] or
    /// [`AsyncConn::read_body`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled request may have been sent. The
    /// connection stays usable; the next request goes on a new one.
    pub async fn start(&mut self, req: Request<'_>) -> io::Result<u16> {
        // Another request fits only after a whole keep-alive response.
        if !(self.keep_alive && self.body.is_done()) {
            self.stream = None;
        }
        self.keep_alive = false;
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        self.req.clear();
        req.write(&self.host, &mut self.req);
        let stream = self.stream.as_mut().expect("connected above");
        if let Err(e) = stream.write_all(&self.req).await {
            self.stream = None;
            return Err(e);
        }
        match self.read_head(req.method).await {
            Ok(status) => Ok(status),
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    /// Reads more bytes into the buffer; 0 at the end of the connection.
    async fn fill(&mut self) -> io::Result<usize> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))?;
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8192);
        }
        stream.read_buf(&mut self.buf).await
    }

    async fn read_head(&mut self, method: &str) -> io::Result<u16> {
        loop {
            if let Some(head) = parse_head(&self.buf, |_, _| {})? {
                let framing = head.framing(method);
                let status = head.status;
                self.keep_alive = head.keep_alive() && framing != Framing::UntilClose;
                self.buf.advance(head.len);
                self.body = BodyDecoder::new(framing);
                return Ok(status);
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                ));
            }
        }
    }

    /// Appends the next piece of the body to `out` as soon as it arrives;
    /// returns `false` once the body is complete (nothing appended).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: bytes read before a cancellation stay buffered for the
    /// next call.
    pub async fn body_data(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            if self.body.is_done() {
                return Ok(false);
            }
            let before = out.len();
            let used = match self.body.decode(&self.buf, out) {
                Ok(n) => n,
                Err(e) => {
                    self.stream = None;
                    return Err(e.into());
                }
            };
            self.buf.advance(used);
            if out.len() > before {
                return Ok(true);
            }
            if used == 0 && !self.body.is_done() && self.fill().await? == 0 {
                self.stream = None;
                self.body.finish()?;
            }
        }
    }

    /// Reads the rest of the body into `out`.
    pub async fn read_body(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while self.body_data(out).await? {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `responses` one after the other on one connection, each after
    /// a read of the request, and returns what it read.
    async fn server(responses: Vec<&'static [u8]>) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut seen = Vec::new();
            for r in responses {
                let mut b = [0u8; 4096];
                let n = s.read(&mut b).await.unwrap();
                seen.extend_from_slice(&b[..n]);
                s.write_all(r).await.unwrap();
            }
            seen
        });
        (addr, h)
    }

    const POST: &[(&str, &str)] = &[("Content-Type", "text/plain;charset=UTF-8")];

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_on_one_connection() {
        let (addr, h) = server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3;x=y\r\n!!!\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
        .await;
        let mut c = AsyncConn::new(addr, "h:1".into());
        let mut out = Vec::new();
        assert_eq!(c.start(Request::new("GET", "/a")).await.unwrap(), 200);
        c.read_body(&mut out).await.unwrap();
        assert_eq!(out, b"abc");
        out.clear();
        let req = Request::new("POST", "/b").headers(POST).body(b"[\"x\"]");
        assert_eq!(c.start(req).await.unwrap(), 200);
        c.read_body(&mut out).await.unwrap();
        assert_eq!(out, b"hi!!!");
        assert_eq!(c.start(Request::new("POST", "/c").headers(POST)).await.unwrap(), 204);
        assert!(!c.body_data(&mut out).await.unwrap());
        let seen = String::from_utf8(h.await.unwrap()).unwrap();
        assert_eq!(
            seen,
            "GET /a HTTP/1.1\r\nHost: h:1\r\n\r\n\
             POST /b HTTP/1.1\r\nHost: h:1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 5\r\n\r\n[\"x\"]\
             POST /c HTTP/1.1\r\nHost: h:1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn close_delimited_body_ends_at_eof_and_the_next_request_reconnects() {
        let (addr, _h) = server(vec![b"HTTP/1.0 200 OK\r\n\r\nuntil close"]).await;
        let mut c = AsyncConn::new(addr, "h".into());
        let mut out = Vec::new();
        assert_eq!(c.start(Request::new("GET", "/")).await.unwrap(), 200);
        c.read_body(&mut out).await.unwrap();
        assert_eq!(out, b"until close");
        assert!(!c.keep_alive && c.stream.is_none());
        // The test server accepts once: a new connection is refused or
        // never answered, so the request fails rather than reusing the old one.
        let again =
            tokio::time::timeout(std::time::Duration::from_millis(200), c.start(Request::new("GET", "/"))).await;
        assert!(!matches!(again, Ok(Ok(_))), "{again:?}");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_unexpected_eof() {
        let (addr, _h) = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut c = AsyncConn::from_stream(stream, "h".into()).unwrap();
        assert_eq!(c.start(Request::new("GET", "/")).await.unwrap(), 200);
        let mut out = Vec::new();
        assert!(c.body_data(&mut out).await.unwrap());
        // The server task ends after its one response, closing the socket.
        let e = c.read_body(&mut out).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(out, b"abc");
    }
}
