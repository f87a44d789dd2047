//! A small HTTP/1.1 client over one keep-alive TCP connection, reading
//! bodies incrementally (needed for xhr-streaming, where one response lasts
//! until the server's response limit).
//!
//! Written on raw TCP rather than a general client so the load generator
//! does the least work per request: one `write` per request, one buffer per
//! connection, no per-request task or channel.

use bytes::{Buf, BytesMut};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted, in bytes.
const MAX_HEAD: usize = 64 * 1024;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// `n` bytes left.
    Length(u64),
    /// Chunked: bytes left in the current chunk (0 = a size line is next).
    Chunked(u64),
    /// Until the server closes the connection.
    UntilClose,
    /// Nothing left.
    Done,
}

/// One HTTP/1.1 connection that reconnects when the server closed it.
#[derive(Debug)]
pub(crate) struct Conn {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    buf: BytesMut,
    body: Body,
    keep_alive: bool,
    req: Vec<u8>,
}

impl Conn {
    /// A connection to `addr`, sending `host` as the `Host` header; connects
    /// on first use.
    pub(crate) fn new(addr: SocketAddr, host: String) -> Self {
        Self {
            addr,
            host,
            stream: None,
            buf: BytesMut::with_capacity(8192),
            body: Body::Done,
            keep_alive: true,
            req: Vec::new(),
        }
    }

    /// Sends a request and reads the response head; returns the status. The
    /// body is then read with [`Conn::body_data`] or [`Conn::read_body`].
    pub(crate) async fn start(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<u16> {
        if self.body != Body::Done || !self.keep_alive {
            // An unread body or a `Connection: close` response: this
            // connection cannot carry another request.
            self.stream = None;
        }
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        self.req.clear();
        self.req.extend_from_slice(method.as_bytes());
        self.req.push(b' ');
        self.req.extend_from_slice(path.as_bytes());
        self.req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.req.extend_from_slice(self.host.as_bytes());
        if method == "POST" {
            self.req
                .extend_from_slice(b"\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ");
            self.req.extend_from_slice(body.len().to_string().as_bytes());
        }
        self.req.extend_from_slice(b"\r\n\r\n");
        self.req.extend_from_slice(body);
        let stream = self.stream.as_mut().expect("connected above");
        if let Err(e) = stream.write_all(&self.req).await {
            self.stream = None;
            return Err(e);
        }
        match self.read_head(method == "HEAD").await {
            Ok(status) => Ok(status),
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let stream = self.stream.as_mut().ok_or_else(|| bad("not connected"))?;
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8192);
        }
        stream.read_buf(&mut self.buf).await
    }

    async fn read_head(&mut self, head_only: bool) -> io::Result<u16> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp
                .parse(&self.buf)
                .map_err(|e| bad(format!("bad response head: {e}")))?
            {
                httparse::Status::Complete(n) => {
                    let status = resp.code.unwrap_or(0);
                    let http10 = resp.version == Some(0);
                    let mut len = None;
                    let mut chunked = false;
                    let mut close = http10;
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let v = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<u64>().ok());
                            len = Some(v.ok_or_else(|| bad("bad Content-Length"))?);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = h.value.eq_ignore_ascii_case(b"chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                            close = v.contains("close") || (http10 && !v.contains("keep-alive"));
                        }
                    }
                    self.keep_alive = !close;
                    self.body = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
                        Body::Done
                    } else if chunked {
                        Body::Chunked(0)
                    } else if let Some(n) = len {
                        if n == 0 {
                            Body::Done
                        } else {
                            Body::Length(n)
                        }
                    } else {
                        self.keep_alive = false;
                        Body::UntilClose
                    };
                    self.buf.advance(n);
                    return Ok(status);
                }
                httparse::Status::Partial => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(bad("response head too large"));
                    }
                    if self.fill().await? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed before a response",
                        ));
                    }
                }
            }
        }
    }

    /// Appends the next piece of the body to `out` as soon as it arrives;
    /// returns `false` once the body is complete (nothing appended).
    pub(crate) async fn body_data(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            match self.body {
                Body::Done => return Ok(false),
                Body::Length(left) => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        self.stream = None;
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body cut short"));
                    }
                    let n = (left as usize).min(self.buf.len());
                    out.extend_from_slice(&self.buf[..n]);
                    self.buf.advance(n);
                    self.body = if left == n as u64 {
                        Body::Done
                    } else {
                        Body::Length(left - n as u64)
                    };
                    return Ok(true);
                }
                Body::UntilClose => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        self.body = Body::Done;
                        self.stream = None;
                        return Ok(false);
                    }
                    out.extend_from_slice(&self.buf);
                    self.buf.clear();
                    return Ok(true);
                }
                Body::Chunked(0) => {
                    // A chunk-size line; after the last chunk, trailers up
                    // to an empty line.
                    let Some(eol) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                        if self.buf.len() > MAX_HEAD {
                            return Err(bad("chunk size line too long"));
                        }
                        if self.fill().await? == 0 {
                            self.stream = None;
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunked body cut short"));
                        }
                        continue;
                    };
                    let line = std::str::from_utf8(&self.buf[..eol]).map_err(|_| bad("bad chunk size"))?;
                    let hex = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(hex, 16).map_err(|_| bad(format!("bad chunk size {hex:?}")))?;
                    self.buf.advance(eol + 2);
                    if size == 0 {
                        loop {
                            if let Some(eol) = self.buf.windows(2).position(|w| w == b"\r\n") {
                                self.buf.advance(eol + 2);
                                if eol == 0 {
                                    break;
                                }
                            } else if self.fill().await? == 0 {
                                self.stream = None;
                                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "trailers cut short"));
                            }
                        }
                        self.body = Body::Done;
                        return Ok(false);
                    }
                    // +2 for the CRLF after the data, consumed with the data.
                    self.body = Body::Chunked(size + 2);
                }
                Body::Chunked(left) => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        self.stream = None;
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunk cut short"));
                    }
                    let n = (left as usize).min(self.buf.len());
                    // The last two bytes of `left` are the chunk's CRLF.
                    let data = n.min((left as usize).saturating_sub(2));
                    out.extend_from_slice(&self.buf[..data]);
                    self.buf.advance(n);
                    self.body = Body::Chunked(left - n as u64);
                    if data > 0 {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Reads the whole body into `out`.
    pub(crate) async fn read_body(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while self.body_data(out).await? {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `responses` one after the other on one connection, each after
    /// a request head arrived, and returns what it read.
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

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_on_one_connection() {
        let (addr, h) = server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3;x=y\r\n!!!\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
        .await;
        let mut c = Conn::new(addr, "h:1".into());
        let mut out = Vec::new();
        assert_eq!(c.start("GET", "/a", b"").await.unwrap(), 200);
        c.read_body(&mut out).await.unwrap();
        assert_eq!(out, b"abc");
        out.clear();
        assert_eq!(c.start("POST", "/b", b"[\"x\"]").await.unwrap(), 200);
        c.read_body(&mut out).await.unwrap();
        assert_eq!(out, b"hi!!!");
        assert_eq!(c.start("POST", "/c", b"").await.unwrap(), 204);
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
    async fn close_delimited_body_ends_at_eof() {
        let (addr, _h) = server(vec![b"HTTP/1.0 200 OK\r\n\r\nuntil close"]).await;
        let mut c = Conn::new(addr, "h".into());
        let mut out = Vec::new();
        assert_eq!(c.start("GET", "/", b"").await.unwrap(), 200);
        c.read_body(&mut out).await.unwrap();
        assert_eq!(out, b"until close");
        assert!(!c.keep_alive);
    }
}
