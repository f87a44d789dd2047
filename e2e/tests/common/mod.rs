//! Wire-level test harness: starts (or finds) a SockJS test server and talks to it with exact bytes.
//!
//! * `SOCKJS_TEST_URL=http://host:port` points every test at an already running server instead of
//!   spawning `sockjs-test-server`.
//! * `SOCKJS_TEST_URL_FAST=http://host:port` does the same for the tests that need a server started with
//!   short delays (`--heartbeat-delay-ms 300 --disconnect-delay-ms 500`), `SOCKJS_TEST_URL_BIG` for
//!   those that need `--max-message-size 16777216`. A test that needs a server of its own (other
//!   flags) cannot run against an external one: with `SOCKJS_TEST_URL` set (and not the variable it
//!   could use instead) it is skipped, visibly: it prints `SKIPPED: <test> needs its own server` to
//!   stderr, past the test harness's output capture, and `scripts/test.sh` counts those lines.
//!
//! Every socket read has a timeout, so no test can hang on a silent server, and a test waits for the
//! server to do something (reclaim a session, notice a disconnect) with [`wait_until`] on something
//! it can observe, never with a fixed sleep.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use sockjs_testkit::{Conn, Head, Response, Streaming};
pub use tungstenite::Message;

/// How long any single read may block before the test fails.
pub const READ_TIMEOUT: Duration = sockjs_testkit::DEFAULT_TIMEOUT;

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
    /// What the server printed before its `listening on` line.
    pub printed: Vec<String>,
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
            printed: Vec::new(),
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
        let mut printed = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                drop(guard);
                let _ = child.wait();
                panic!("sockjs-test-server did not print its listening line");
            };
            if let Some(url) = line.trim().strip_prefix("sockjs-test-server listening on ") {
                let mut s = Server::external(url);
                s.printed = printed;
                s.child = Some(child);
                s.guard = guard;
                return s;
            }
            printed.push(line);
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

/// Whether the tests target an external server (`SOCKJS_TEST_URL`).
pub fn external() -> bool {
    std::env::var("SOCKJS_TEST_URL").is_ok_and(|u| !u.is_empty())
}

/// Reports the running test as skipped: one `SKIPPED:` line on stderr, written past the test
/// harness's output capture so it shows whether the test passes or not.
pub fn skipped(why: &str) {
    use std::io::Write;
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<test>");
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test} needs its own server ({why}); {n} skipped in this test binary"
    );
}

/// A server of this test's own, spawned with `args`; `None`, reported with [`skipped`], when the
/// tests target an external server (it cannot be given the flags).
pub fn own_server(args: &[&str]) -> Option<Server> {
    if external() {
        skipped(&format!("flags {args:?}; SOCKJS_TEST_URL is set"));
        return None;
    }
    Some(Server::spawn(args))
}

/// A server spawned with `args`, or the external one named by `env`; `None` when an external
/// server is used (`SOCKJS_TEST_URL`) without `env`.
fn optional_server(env: &str, args: &[&str]) -> Option<Server> {
    match std::env::var(env) {
        Ok(url) if !url.is_empty() => Some(Server::external(&url)),
        _ if external() => None,
        _ => Some(Server::spawn(args)),
    }
}

/// A server with a 300 ms heartbeat and a 500 ms disconnect delay, shared by this test binary
/// (external: `SOCKJS_TEST_URL_FAST`). `None` (reported with [`skipped`]; the test returns early)
/// with `SOCKJS_TEST_URL` set and not `SOCKJS_TEST_URL_FAST`.
pub fn fast_server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    let s = SERVER
        .get_or_init(|| {
            let hb = FAST_HEARTBEAT_MS.to_string();
            let dd = FAST_DISCONNECT_MS.to_string();
            optional_server(
                "SOCKJS_TEST_URL_FAST",
                &["--heartbeat-delay-ms", &hb, "--disconnect-delay-ms", &dd],
            )
        })
        .as_ref();
    if s.is_none() {
        skipped("short delays; set SOCKJS_TEST_URL_FAST");
    }
    s
}

/// A server accepting inbound messages of up to 16 MiB, for one-message round trips of every
/// Unicode scalar value (external: `SOCKJS_TEST_URL_BIG`). `None` as for [`fast_server`].
pub fn big_server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    let s = SERVER
        .get_or_init(|| optional_server("SOCKJS_TEST_URL_BIG", &["--max-message-size", "16777216"]))
        .as_ref();
    if s.is_none() {
        skipped("16 MiB messages; set SOCKJS_TEST_URL_BIG");
    }
    s
}

/// How often [`wait_until`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Waits until `done()` holds, looking every 10 ms; panics after `timeout` naming `what` was
/// awaited. The way to wait for the server to do something: `done` looks at something observable
/// (`/_stats`, a response, the socket), so the test goes on as soon as it happened and fails
/// clearly if it never does.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    let mut looks = 0u32;
    loop {
        looks += 1;
        if done() {
            return;
        }
        if started.elapsed() >= timeout {
            panic!("timed out after {timeout:?} ({looks} looks) waiting for {what}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Waits until the session at `session` (`/<prefix>/<server>/<id>`) has been forgotten: an
/// `xhr_send` of no messages, which changes nothing, answers 404 instead of 204.
#[track_caller]
pub fn wait_until_forgotten(s: &Server, session: &str, timeout: Duration) {
    wait_until(timeout, &format!("{session} to be forgotten"), || {
        let r = post(s, &format!("{session}/xhr_send"), b"[]");
        assert!(matches!(r.status, 204 | 404), "xhr_send [] answered {}", r.status);
        r.status == 404
    });
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

/// Sleeps for `ms` milliseconds. Only for sleeps that are a test's input (a client trickling bytes,
/// staying idle to show the server keeps it); to wait for the server, use [`wait_until`].
pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
