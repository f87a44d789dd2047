//! Wire-level test harness: starts (or finds) a SockJS test server and talks to it with exact bytes.
//!
//! * `SOCKJS_TEST_URL=http://host:port` points every test at an already running server instead of
//!   spawning `sockjs-test-server`.
//! * `SOCKJS_TEST_URL_FAST=http://host:port` does the same for the tests that need a server started with
//!   short delays (`--heartbeat-delay-ms 300 --disconnect-delay-ms 500`); when only `SOCKJS_TEST_URL`
//!   is set those tests are skipped with a note on stderr.
//!
//! Every socket read has a timeout, so no test can hang on a silent server.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use tungstenite::Message;

/// How long any single read may block before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Heartbeat delay of the "fast" server instance, in milliseconds.
pub const FAST_HEARTBEAT_MS: u64 = 300;
/// Disconnect delay of the "fast" server instance, in milliseconds.
pub const FAST_DISCONNECT_MS: u64 = 500;

/// The exact no-cache header value required on session and `/info` responses.
pub const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";

// ---------------------------------------------------------------------------------------------
// Server processes
// ---------------------------------------------------------------------------------------------

/// A server under test: either a process we spawned or an external URL.
pub struct Server {
    /// `host:port`, used for TCP connections and the `Host` header.
    pub authority: String,
    /// `http://host:port`.
    pub base: String,
    child: Option<Child>,
    // Closing this pipe makes the wrapper shell kill the server, even if this process dies.
    guard: Option<ChildStdin>,
}

impl Server {
    fn external(url: &str) -> Server {
        let base = url.trim_end_matches('/').to_string();
        let authority = base
            .strip_prefix("http://")
            .expect("SOCKJS_TEST_URL must start with http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        Server {
            authority,
            base,
            child: None,
            guard: None,
        }
    }

    /// Spawns `sockjs-test-server --port 0 <extra>` and waits for its `listening on` line.
    pub fn spawn(extra: &[&str]) -> Server {
        let bin = env!("CARGO_BIN_EXE_sockjs-test-server");
        // The wrapper shell runs the server in the background and kills it once its stdin (a pipe
        // held by this test process) reaches EOF, which also happens when this process exits. Static
        // instances are never dropped, so this is what cleans them up.
        let script =
            r#"bin="$1"; shift; "$bin" "$@" </dev/null & pid=$!; read _unused; kill "$pid" 2>/dev/null; wait "$pid""#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sockjs-wrapper")
            .arg(bin)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sockjs-test-server");
        let guard = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                drop(guard);
                let _ = child.wait();
                panic!("sockjs-test-server did not print its listening line");
            };
            if let Some(url) = line.trim().strip_prefix("sockjs-test-server listening on ") {
                let mut s = Server::external(url);
                s.child = Some(child);
                s.guard = guard;
                return s;
            }
        }
    }

    /// `http://host:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `ws://host:port` + `path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.authority, path)
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(&self.authority)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.guard.take());
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// The shared server of this test binary (default options), started on first use.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("SOCKJS_TEST_URL") {
        Ok(url) if !url.is_empty() => Server::external(&url),
        _ => Server::spawn(&[]),
    })
}

/// A server spawned with `args`, or the external one named by `env`. `None` (the test should
/// return early) when an external server is used (`SOCKJS_TEST_URL`) without `env`.
fn optional_server(env: &str, args: &[&str]) -> Option<Server> {
    if let Ok(url) = std::env::var(env) {
        if !url.is_empty() {
            return Some(Server::external(&url));
        }
    }
    if std::env::var("SOCKJS_TEST_URL").map(|u| !u.is_empty()).unwrap_or(false) {
        eprintln!("note: SOCKJS_TEST_URL set without {env}; skipping this test");
        return None;
    }
    Some(Server::spawn(args))
}

/// A server with a 300 ms heartbeat and a 500 ms disconnect delay, shared by this test binary
/// (external: `SOCKJS_TEST_URL_FAST`).
pub fn fast_server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let hb = FAST_HEARTBEAT_MS.to_string();
            let dd = FAST_DISCONNECT_MS.to_string();
            optional_server(
                "SOCKJS_TEST_URL_FAST",
                &["--heartbeat-delay-ms", &hb, "--disconnect-delay-ms", &dd],
            )
        })
        .as_ref()
}

/// A server accepting inbound messages of up to 16 MiB, for one-message round trips of every
/// Unicode scalar value (external: `SOCKJS_TEST_URL_BIG`).
pub fn big_server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER
        .get_or_init(|| optional_server("SOCKJS_TEST_URL_BIG", &["--max-message-size", "16777216"]))
        .as_ref()
}

/// Asserts the first frame after a receiver was aborted: the session was either forgotten (a
/// fresh `o`) or closed with 1002, the two outcomes the protocol allows.
#[track_caller]
pub fn assert_reopened_or_interrupted(frame: &str) {
    assert!(
        frame == "o\n" || frame == "c[1002,\"Connection interrupted\"]\n",
        "got {frame:?}"
    );
}

/// A fresh session id, unique within this process and across runs; no dots, no slashes.
pub fn sid() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("s{}x{}x{}", std::process::id(), t % 1_000_000_000_000, n)
}

/// `/<prefix>/000/<fresh session>`.
pub fn session_url(prefix: &str) -> String {
    format!("{}/000/{}", prefix, sid())
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.x client
// ---------------------------------------------------------------------------------------------

/// Status line and headers of a response.
#[derive(Debug, Clone)]
pub struct Head {
    /// e.g. `HTTP/1.1`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In arrival order, original case, duplicates kept.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header with this name (case-insensitive).
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Asserts the header is present with exactly this value.
    #[track_caller]
    pub fn expect(&self, name: &str, value: &str) {
        assert_eq!(self.header(name), Some(value), "header {name} in {:?}", self.headers);
    }

    /// Asserts the header is absent.
    #[track_caller]
    pub fn expect_absent(&self, name: &str) {
        assert!(!self.has(name), "header {name} must be absent: {:?}", self.headers);
    }

    fn body_kind(&self, method: &str) -> BodyKind {
        if method.eq_ignore_ascii_case("HEAD")
            || self.status == 204
            || self.status == 304
            || (100..200).contains(&self.status)
        {
            return BodyKind::Length(0);
        }
        if let Some(te) = self.header("transfer-encoding") {
            if te.to_ascii_lowercase().contains("chunked") {
                return BodyKind::Chunked;
            }
        }
        if let Some(cl) = self.header("content-length") {
            return BodyKind::Length(cl.trim().parse().expect("numeric Content-Length"));
        }
        BodyKind::Eof
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl std::ops::Deref for Response {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

impl Response {
    /// Body as UTF-8 (panics otherwise).
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.head.status,
            status,
            "status; headers {:?}; body {:?}",
            self.head.headers,
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        );
        self
    }

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum BodyKind {
    Length(usize),
    Chunked,
    Eof,
}

/// One TCP connection with a read buffer.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    host: String,
    closed: bool,
}

impl Conn {
    pub fn connect(authority: &str) -> Conn {
        let stream = TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            host: authority.to_string(),
            closed: false,
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn set_read_timeout(&self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Writes one request. Adds `Host` unless given, and `Content-Length` for POST or a non-empty body
    /// unless given.
    pub fn send(&mut self, version: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut req = format!("{method} {path} {version}\r\n").into_bytes();
        let given = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if !given("host") {
            req.extend_from_slice(format!("Host: {}\r\n", self.host).as_bytes());
        }
        for (k, v) in headers {
            req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if !given("content-length") && !given("transfer-encoding") && (method == "POST" || !body.is_empty()) {
            req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        self.send_raw(&req);
    }

    /// Reads more bytes into the buffer; false at EOF. Panics on timeout.
    fn fill(&mut self) -> bool {
        if self.closed {
            return false;
        }
        let mut tmp = [0u8; 65536];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    self.closed = true;
                    return false;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    panic!(
                        "read timed out after {:?}; buffered {:?}",
                        self.stream.read_timeout().ok().flatten(),
                        String::from_utf8_lossy(&self.buf[..self.buf.len().min(300)])
                    )
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.closed = true;
                    return false;
                }
                Err(e) => panic!("read error: {e}"),
            }
        }
    }

    /// Like `fill`, but reports a timeout as `None` instead of panicking.
    fn try_fill(&mut self) -> Option<bool> {
        if self.closed {
            return Some(false);
        }
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.closed = true;
                Some(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Some(true)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => None,
            Err(_) => {
                self.closed = true;
                Some(false)
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Reads raw bytes up to and including `delim`. Panics on EOF or timeout.
    pub fn read_raw_until(&mut self, delim: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.buf, delim) {
                return self.take(i + delim.len());
            }
            if !self.fill() {
                panic!(
                    "EOF before {:?}; buffered {:?}",
                    String::from_utf8_lossy(delim),
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
    }

    /// Reads exactly `n` raw bytes. Panics on EOF or timeout.
    pub fn read_raw_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            if !self.fill() {
                panic!("EOF after {} of {} bytes", self.buf.len(), n);
            }
        }
        self.take(n)
    }

    /// Reads raw bytes until a complete head (`\r\n\r\n`) has arrived or the peer closes; returns what
    /// arrived up to the end of the head. Panics on timeout.
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

    /// Reads raw bytes until the peer closes (panics on timeout).
    pub fn read_raw_to_end(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// True if the peer closes the connection (EOF or reset) within the read timeout, with no more
    /// data arriving. Panics if data arrives.
    pub fn closes_without_data(&mut self) -> bool {
        match self.try_fill() {
            Some(false) => self.buf.is_empty(),
            Some(true) => panic!("unexpected data: {:?}", String::from_utf8_lossy(&self.buf)),
            None => false,
        }
    }

    /// Reads a status line and headers.
    pub fn read_head(&mut self) -> Head {
        let raw = self.read_raw_until(b"\r\n\r\n");
        parse_head(&raw)
    }

    /// Reads a full body according to the head.
    pub fn read_body(&mut self, head: &Head, method: &str) -> Vec<u8> {
        let mut body = Body::new(head.body_kind(method));
        let mut out = Vec::new();
        while let Some(chunk) = body.next(self) {
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// Sends an HTTP/1.1 request and reads the complete response.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        self.send("HTTP/1.1", method, path, headers, body);
        self.read_response(method)
    }

    /// Reads one complete response to a request with `method`.
    pub fn read_response(&mut self, method: &str) -> Response {
        let head = self.read_head();
        let body = self.read_body(&head, method);
        Response { head, body }
    }

    /// Sends a request and returns a reader for a streaming response.
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
        let kind = head.body_kind(method);
        Streaming {
            conn: self,
            head,
            body: Body::new(kind),
            decoded: Vec::new(),
            ended: false,
        }
    }

    /// Half-closes and drops the connection (an abort from the server's point of view).
    pub fn abort(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> Head {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    assert!(version.starts_with("HTTP/1."), "bad status line {status_line:?}");
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {line:?}"));
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Head {
        version,
        status,
        reason,
        headers,
    }
}

/// Incremental body decoder (content-length, chunked, or until EOF).
struct Body {
    kind: BodyKind,
    remaining: usize,
    chunk_left: usize,
    in_chunk: bool,
    done: bool,
}

impl Body {
    fn new(kind: BodyKind) -> Body {
        let remaining = if let BodyKind::Length(n) = kind { n } else { 0 };
        Body {
            kind,
            remaining,
            chunk_left: 0,
            in_chunk: false,
            done: kind == BodyKind::Length(0),
        }
    }

    /// Next piece of decoded body (as it arrives; for chunked, at most one chunk), or None at the end.
    fn next(&mut self, c: &mut Conn) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        match self.kind {
            BodyKind::Length(_) => {
                if c.buf.is_empty() && !c.fill() {
                    panic!("EOF with {} body bytes missing", self.remaining);
                }
                let n = self.remaining.min(c.buf.len());
                self.remaining -= n;
                if self.remaining == 0 {
                    self.done = true;
                }
                Some(c.take(n))
            }
            BodyKind::Eof => {
                if c.buf.is_empty() && !c.fill() {
                    self.done = true;
                    return None;
                }
                Some(std::mem::take(&mut c.buf))
            }
            BodyKind::Chunked => loop {
                if self.in_chunk {
                    if self.chunk_left == 0 {
                        // CRLF after the chunk data.
                        let crlf = c.read_raw_exact(2);
                        assert_eq!(crlf, b"\r\n", "chunk not followed by CRLF");
                        self.in_chunk = false;
                        continue;
                    }
                    if c.buf.is_empty() && !c.fill() {
                        panic!("EOF inside a chunk");
                    }
                    let n = self.chunk_left.min(c.buf.len());
                    self.chunk_left -= n;
                    return Some(c.take(n));
                }
                let line = c.read_raw_until(b"\r\n");
                let line = String::from_utf8_lossy(&line[..line.len() - 2]).to_string();
                let size_hex = line.split(';').next().unwrap().trim();
                let size =
                    usize::from_str_radix(size_hex, 16).unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
                if size == 0 {
                    // Trailers until an empty line.
                    loop {
                        let t = c.read_raw_until(b"\r\n");
                        if t == b"\r\n" {
                            break;
                        }
                    }
                    self.done = true;
                    return None;
                }
                self.in_chunk = true;
                self.chunk_left = size;
            },
        }
    }

    fn chunked_next_whole_chunk(&mut self, c: &mut Conn) -> Option<Vec<u8>> {
        assert_eq!(self.kind, BodyKind::Chunked);
        assert!(!self.in_chunk || self.chunk_left == 0, "in the middle of a chunk");
        let mut out = Vec::new();
        let first = self.next(c)?;
        out.extend_from_slice(&first);
        while self.chunk_left > 0 {
            out.extend_from_slice(&self.next(c).unwrap());
        }
        Some(out)
    }
}

/// A streaming response being read incrementally.
pub struct Streaming {
    pub conn: Conn,
    pub head: Head,
    body: Body,
    decoded: Vec<u8>,
    ended: bool,
}

impl Streaming {
    pub fn is_chunked(&self) -> bool {
        self.body.kind == BodyKind::Chunked
    }

    pub fn has_content_length(&self) -> bool {
        matches!(self.body.kind, BodyKind::Length(_))
    }

    fn more(&mut self) -> bool {
        if self.ended {
            return false;
        }
        match self.body.next(&mut self.conn) {
            Some(d) => {
                self.decoded.extend_from_slice(&d);
                true
            }
            None => {
                self.ended = true;
                false
            }
        }
    }

    /// Decoded body bytes up to and including `delim`. Panics on end of body or timeout.
    #[track_caller]
    pub fn read_until(&mut self, delim: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.decoded, delim) {
                let rest = self.decoded.split_off(i + delim.len());
                return std::mem::replace(&mut self.decoded, rest);
            }
            if !self.more() {
                panic!(
                    "response ended before {:?}; left {:?}",
                    String::from_utf8_lossy(delim),
                    String::from_utf8_lossy(&self.decoded)
                );
            }
        }
    }

    /// Like `read_until` but returns None if the body ends first (leftover bytes must be empty).
    pub fn read_until_or_end(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.decoded, delim) {
                let rest = self.decoded.split_off(i + delim.len());
                return Some(std::mem::replace(&mut self.decoded, rest));
            }
            if !self.more() {
                assert!(
                    self.decoded.is_empty(),
                    "trailing partial data {:?}",
                    String::from_utf8_lossy(&self.decoded)
                );
                return None;
            }
        }
    }

    /// Puts bytes back in front of the unread body.
    pub fn unread(&mut self, bytes: &[u8]) {
        let rest = std::mem::take(&mut self.decoded);
        self.decoded = [bytes, &rest].concat();
    }

    /// Exactly `n` decoded bytes.
    #[track_caller]
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.decoded.len() < n {
            if !self.more() {
                panic!("response ended after {} of {} bytes", self.decoded.len(), n);
            }
        }
        let rest = self.decoded.split_off(n);
        std::mem::replace(&mut self.decoded, rest)
    }

    /// One xhr-streaming frame: text up to and including `\n`.
    #[track_caller]
    pub fn line(&mut self) -> String {
        String::from_utf8(self.read_until(b"\n")).expect("UTF-8 frame")
    }

    /// Asserts the response body ends (within the read timeout) with no further data.
    #[track_caller]
    pub fn expect_end(&mut self) {
        assert!(
            self.decoded.is_empty(),
            "unexpected data {:?}",
            String::from_utf8_lossy(&self.decoded)
        );
        if self.more() {
            panic!(
                "unexpected data instead of end: {:?}",
                String::from_utf8_lossy(&self.decoded)
            );
        }
    }

    /// For a chunked body: the next whole chunk (None at the terminating chunk).
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        assert!(self.decoded.is_empty());
        let r = self.body.chunked_next_whole_chunk(&mut self.conn);
        if r.is_none() {
            self.ended = true;
        }
        r
    }

    /// Waits up to `d` for any new data; true if some arrived. The connection's normal read timeout is
    /// restored afterwards.
    pub fn wait_for_data(&mut self, d: Duration) -> bool {
        if !self.decoded.is_empty() || !self.conn.buf.is_empty() {
            return true;
        }
        self.conn.set_read_timeout(d);
        let r = self.conn.try_fill();
        self.conn.set_read_timeout(READ_TIMEOUT);
        matches!(r, Some(true))
    }

    /// Drops the connection abruptly.
    pub fn abort(self) {
        self.conn.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Convenience request helpers on the shared server
// ---------------------------------------------------------------------------------------------

/// One request on a fresh connection (`Connection: close` is not added; the response is read by framing).
pub fn req(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    s.connect().request(method, path, headers, body)
}

pub fn get(s: &Server, path: &str) -> Response {
    req(s, "GET", path, &[], b"")
}

pub fn get_h(s: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    req(s, "GET", path, headers, b"")
}

pub fn post(s: &Server, path: &str, body: &[u8]) -> Response {
    req(s, "POST", path, &[], body)
}

pub fn post_h(s: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    req(s, "POST", path, headers, body)
}

pub fn options(s: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    req(s, "OPTIONS", path, headers, b"")
}

/// Opens a streaming response (HTTP/1.1) on a fresh connection.
pub fn stream(s: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Streaming {
    s.connect().open_stream("HTTP/1.1", method, path, headers, b"")
}

/// POST `<session>/xhr` expecting 200 with exactly `frame`.
#[track_caller]
pub fn xhr_expect(s: &Server, session: &str, frame: &str) {
    let r = post(s, &format!("{session}/xhr"), b"");
    r.expect_status(200).expect_body(frame);
}

/// Opens a session over xhr polling (expects `o\n`).
#[track_caller]
pub fn xhr_open(s: &Server, prefix: &str) -> String {
    let session = session_url(prefix);
    xhr_expect(s, &session, "o\n");
    session
}

/// POST `<session>/xhr_send` with a JSON body, expecting 204.
#[track_caller]
pub fn xhr_send(s: &Server, session: &str, body: &str) {
    let r = post(s, &format!("{session}/xhr_send"), body.as_bytes());
    r.expect_status(204);
    assert!(r.body.is_empty(), "xhr_send body must be empty");
}

/// Polls `<session>/xhr` until `n` messages have arrived (the application may echo asynchronously,
/// so one poll can return a part of them) and returns them in arrival order.
#[track_caller]
pub fn xhr_collect(s: &Server, session: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let r = post(s, &format!("{session}/xhr"), b"");
        r.expect_status(200);
        out.extend(parse_a(r.text().strip_suffix('\n').expect("newline")));
    }
    assert_eq!(out.len(), n, "too many messages: {out:?}");
    out
}

/// JSON array of strings.
pub fn json_msgs(msgs: &[&str]) -> String {
    serde_json::to_string(msgs).unwrap()
}

/// Parses an `a[...]` frame (without delimiter) into its messages.
#[track_caller]
pub fn parse_a(frame: &str) -> Vec<String> {
    let json = frame
        .strip_prefix('a')
        .unwrap_or_else(|| panic!("not an a-frame: {:?}", &frame[..frame.len().min(80)]));
    serde_json::from_str(json).expect("a-frame JSON")
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

pub type Ws = tungstenite::WebSocket<TcpStream>;

fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    let mut c = tungstenite::protocol::WebSocketConfig::default();
    c.max_message_size = Some(64 << 20);
    c.max_frame_size = Some(64 << 20);
    c
}

/// Connects a WebSocket with tungstenite; `headers` are added to the handshake.
pub fn ws_connect_h(s: &Server, path: &str, headers: &[(&str, &str)]) -> Result<Ws, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let mut request = s.ws_url(path).into_client_request().unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            tungstenite::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let stream = TcpStream::connect(&s.authority).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    match tungstenite::client::client_with_config(request, stream, Some(ws_config())) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => panic!("websocket handshake timed out"),
    }
}

#[track_caller]
pub fn ws_connect(s: &Server, path: &str) -> Ws {
    ws_connect_h(s, path, &[]).unwrap_or_else(|e| panic!("websocket connect {path}: {e}"))
}

/// Next text message (panics on anything else, including timeout).
#[track_caller]
pub fn ws_text(ws: &mut Ws) -> String {
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return t.to_string(),
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) if Instant::now() < deadline => continue,
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => panic!("only pings/pongs for {READ_TIMEOUT:?}"),
            Ok(other) => panic!("expected text message, got {:.200}", format!("{other:?}")),
            Err(e) => panic!("expected text message, got error {e}"),
        }
    }
}

#[track_caller]
pub fn ws_send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).expect("websocket send");
}

/// Reads until the connection ends; returns the close frame (code, reason) if one came, None if the
/// TCP connection just ended. Panics if a text message arrives or on timeout.
#[track_caller]
pub fn ws_expect_closed(ws: &mut Ws) -> Option<(u16, String)> {
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut close = None;
    loop {
        match ws.read() {
            Ok(Message::Close(f)) => {
                close = Some(
                    f.map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new())),
                );
            }
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) if Instant::now() < deadline => {}
            Ok(m) => panic!("expected close, got {:.200}", format!("{m:?}")),
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => return close,
            Err(tungstenite::Error::Protocol(_)) => return close,
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!("timed out waiting for the websocket to close")
            }
            Err(tungstenite::Error::Io(_)) => return close,
            Err(e) => panic!("unexpected websocket error {e}"),
        }
    }
}

/// Opens a framed SockJS websocket on a fresh session and checks the `o` frame.
#[track_caller]
pub fn ws_open(s: &Server, prefix: &str) -> Ws {
    let mut ws = ws_connect(s, &format!("{}/websocket", session_url(prefix)));
    assert_eq!(ws_text(&mut ws), "o");
    ws
}

/// Sends a raw upgrade request and returns the connection and response head (body not read).
pub fn raw_upgrade(s: &Server, path: &str, headers: &[(&str, &str)]) -> (Conn, Head) {
    let mut c = s.connect();
    c.send("HTTP/1.1", "GET", path, headers, b"");
    let head = c.read_head();
    (c, head)
}

/// Standard RFC 6455 handshake headers with a fixed key.
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn ws_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", WS_KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------------------------

/// The next websocket text message that is not a heartbeat.
#[track_caller]
pub fn ws_frame(ws: &mut Ws) -> String {
    loop {
        let t = ws_text(ws);
        if t != "h" {
            return t;
        }
    }
}

/// After a robustness probe: a fresh client still does open -> echo over xhr polling, and
/// open -> echo -> close over xhr-streaming and websocket, all of it promptly.
#[track_caller]
pub fn assert_healthy(s: &Server) {
    let started = Instant::now();
    let session = xhr_open(s, "/echo");
    xhr_send(s, &session, r#"["still alive"]"#);
    xhr_expect(s, &session, "a[\"still alive\"]\n");

    let session = session_url("/echo");
    let mut st = stream(s, "POST", &format!("{session}/xhr_streaming"), &[]);
    assert_eq!(st.head.status, 200);
    assert_eq!(st.line(), format!("{}\n", "h".repeat(2048)));
    assert_eq!(st.line(), "o\n");
    xhr_send(s, &session, r#"["fresh"]"#);
    loop {
        let line = st.line();
        if line != "h\n" {
            assert_eq!(line, "a[\"fresh\"]\n");
            break;
        }
    }
    st.abort();

    let mut ws = ws_open(s, "/echo");
    ws_send(&mut ws, r#"["ws alive"]"#);
    assert_eq!(ws_frame(&mut ws), r#"a["ws alive"]"#);
    ws.close(None).expect("close");
    let _ = ws_expect_closed(&mut ws);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

/// Asserts CORS headers for a request that carried `origin` (or none).
#[track_caller]
pub fn assert_cors(h: &Head, origin: Option<&str>) {
    match origin {
        Some(o) => {
            h.expect("Access-Control-Allow-Origin", o);
            h.expect("Access-Control-Allow-Credentials", "true");
        }
        None => {
            h.expect("Access-Control-Allow-Origin", "*");
            h.expect_absent("Access-Control-Allow-Credentials");
        }
    }
}

/// Asserts the exact no-cache header set of private responses.
#[track_caller]
pub fn assert_not_cached(h: &Head) {
    h.expect("Cache-Control", NO_CACHE);
    h.expect_absent("Expires");
    h.expect_absent("Last-Modified");
}

/// Asserts the long-cache header set of the iframe page and preflights.
#[track_caller]
pub fn assert_long_cached(h: &Head) {
    h.expect("Cache-Control", "public, max-age=31536000");
    assert!(
        h.header("Expires").map(|e| !e.is_empty()).unwrap_or(false),
        "Expires missing: {:?}",
        h.headers
    );
}

/// What sockjs-client does with eventsource data: JavaScript's `decodeURI` (percent-escapes that form
/// UTF-8 are decoded, except those of the reserved characters `;/?:@&=+$,#`). Err where `decodeURI`
/// would throw a `URIError`.
pub fn decode_uri(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let hex = |i: usize| -> Result<u8, String> {
        let h = s.get(i + 1..i + 3).ok_or_else(|| format!("truncated escape at {i}"))?;
        u8::from_str_radix(h, 16).map_err(|_| format!("bad escape {:?} at {i}", &s[i..(i + 3).min(s.len())]))
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let first = hex(i)?;
        let len = match first {
            0x00..=0x7f => 1,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return Err(format!("bad UTF-8 lead in escape at {i}")),
        };
        let mut bytes = vec![first];
        for k in 1..len {
            let j = i + 3 * k;
            if b.get(j) != Some(&b'%') {
                return Err(format!("incomplete UTF-8 escape at {i}"));
            }
            bytes.push(hex(j)?);
        }
        let ch = std::str::from_utf8(&bytes).map_err(|_| format!("invalid UTF-8 escape at {i}"))?;
        if len == 1 && ";/?:@&=+$,#".contains(ch) {
            out.extend_from_slice(&b[i..i + 3]);
        } else {
            out.extend_from_slice(ch.as_bytes());
        }
        i += 3 * len;
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Sleeps for `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
