//! The server notices clients that are gone, whatever they left behind: the
//! abort-then-re-poll race on every receiver transport, receivers whose
//! request body never arrives, silent and stalled raw websocket clients,
//! HTTP/1.0 websocket handshakes, and every setting at its maximum.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// A receiver transport, as the wire test drives it.
#[derive(Debug, Clone, Copy)]
struct Receiver {
    endpoint: &'static str,
    method: &'static str,
    query: &'static str,
    /// What the open frame looks like, wrapped for this transport.
    open: &'static str,
    /// True when one response carries one frame (the receiver then needs a
    /// second, parked request to stay attached).
    polling: bool,
}

const RECEIVERS: [Receiver; 5] = [
    Receiver {
        endpoint: "xhr",
        method: "POST",
        query: "",
        open: "o\n",
        polling: true,
    },
    Receiver {
        endpoint: "xhr_streaming",
        method: "POST",
        query: "",
        open: "o\n",
        polling: false,
    },
    Receiver {
        endpoint: "eventsource",
        method: "GET",
        query: "",
        open: "data: o\r\n\r\n",
        polling: false,
    },
    Receiver {
        endpoint: "htmlfile",
        method: "GET",
        query: "?c=cb",
        open: "p(\"o\");",
        polling: false,
    },
    Receiver {
        endpoint: "jsonp",
        method: "GET",
        query: "?c=cb",
        open: "cb(\"o\");",
        polling: true,
    },
];

impl Receiver {
    fn path(&self, session: &str) -> String {
        format!("{session}/{}{}", self.endpoint, self.query)
    }

    fn open(&self, s: &Server, session: &str) -> Streaming {
        s.connect()
            .open_stream("HTTP/1.1", self.method, &self.path(session), &[], b"")
    }
}

/// How a receiver's response began.
#[derive(Debug, PartialEq, Eq)]
enum First {
    Open,
    Interrupted,
    Busy,
    Other(String),
}

/// Reads a receiver response until its first frame is recognisable.
fn first_frame(st: &mut Streaming, r: Receiver) -> First {
    let mut seen = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains("2010") {
            return First::Busy;
        }
        if text.contains("1002") {
            return First::Interrupted;
        }
        // The prelude of xhr_streaming is 2048 `h`s and a newline, which
        // contains no `o\n`; no other prelude contains its open frame.
        if text.contains(r.open) {
            return First::Open;
        }
        match st.read_until_or_end(b"\n") {
            Some(bytes) => seen.extend_from_slice(&bytes),
            None => return First::Other(text),
        }
    }
}

/// One run of the protocol's "abort" sequence; returns how the re-poll
/// that follows the abort at once began.
fn abort_then_repoll(s: &Server, r: Receiver) -> First {
    let session = session_url("/echo");
    let mut attached = r.open(s, &session);
    assert_eq!(first_frame(&mut attached, r), First::Open, "{r:?}: opening");
    if r.polling {
        // The first poll carried `o` and ended; park a second one.
        attached = r.open(s, &session);
    }
    let mut second = r.open(s, &session);
    assert_eq!(first_frame(&mut second, r), First::Busy, "{r:?}: concurrent receiver");
    // No wait between the abort and the re-poll.
    attached.abort();
    let mut again = r.open(s, &session);
    first_frame(&mut again, r)
}

#[test]
fn repoll_right_after_an_abort_never_gets_2010() {
    const RUNS: usize = 300;
    const THREADS: usize = 10;
    let s = server();
    std::thread::scope(|scope| {
        let handles: Vec<_> = RECEIVERS
            .iter()
            .flat_map(|r| {
                (0..THREADS).map(move |_| {
                    scope.spawn(move || {
                        (0..RUNS / THREADS)
                            .map(|_| abort_then_repoll(s, *r))
                            .collect::<Vec<_>>()
                    })
                })
            })
            .collect();
        let outcomes: Vec<First> = handles.into_iter().flat_map(|h| h.join().expect("run")).collect();
        assert_eq!(outcomes.len(), RUNS * RECEIVERS.len());
        for (r, runs) in RECEIVERS.iter().zip(outcomes.chunks(RUNS)) {
            let busy = runs.iter().filter(|o| **o == First::Busy).count();
            let other: Vec<_> = runs.iter().filter(|o| matches!(o, First::Other(_))).collect();
            eprintln!(
                "{}: {} runs, {} interrupted, {} reopened, {busy} busy",
                r.endpoint,
                runs.len(),
                runs.iter().filter(|o| **o == First::Interrupted).count(),
                runs.iter().filter(|o| **o == First::Open).count(),
            );
            assert_eq!(busy, 0, "{}: re-poll answered 2010 after an abort", r.endpoint);
            assert!(other.is_empty(), "{}: unexpected answers {other:?}", r.endpoint);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// A dedicated server per test, with /_stats
// ---------------------------------------------------------------------------------------------

const DISCONNECT_MS: u64 = 500;

/// A server of our own with a 500 ms disconnect delay, `/_stats`, and
/// `extra` flags. Tests that need it fail when pointed at an external
/// server: their flags are what they test.
fn own_server(extra: &[&str]) -> Server {
    assert!(
        std::env::var("SOCKJS_TEST_URL").map_or(true, |u| u.is_empty()),
        "this test needs a server started with its own flags; unset SOCKJS_TEST_URL"
    );
    let dd = DISCONNECT_MS.to_string();
    let mut args = vec!["--disconnect-delay-ms", &dd, "--stats"];
    args.extend_from_slice(extra);
    Server::spawn(&args)
}

fn live_sessions(s: &Server) -> u64 {
    let r = get(s, "/_stats");
    r.expect_status(200);
    let stats: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&r.body).expect("stats JSON");
    stats.values().map(|v| v.as_u64().expect("count")).sum()
}

/// Polls `/_stats` until the live-session count is `n`; fails after `within`.
#[track_caller]
fn wait_live(s: &Server, n: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let live = live_sessions(s);
        if live == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{live} live sessions, expected {n} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Receivers whose request body never arrives
// ---------------------------------------------------------------------------------------------

/// Opens receiver `r` on `session` with a request announcing a 5-byte body
/// and sending only `sent` of it, and reads until its first frame (or, for a
/// parked poll, only the head).
fn open_with_pending_body(s: &Server, r: Receiver, session: &str, sent: &[u8], parked: bool) -> Streaming {
    let mut st = s.connect().open_stream(
        "HTTP/1.1",
        r.method,
        &r.path(session),
        &[("Content-Length", "5"), ("Content-Type", "text/plain")],
        sent,
    );
    assert_eq!(st.head.status, 200, "{r:?}");
    if !parked {
        assert_eq!(first_frame(&mut st, r), First::Open, "{r:?}");
    }
    st
}

#[test]
fn receiver_with_a_pending_body_is_reclaimed_after_its_client_leaves() {
    // A long heartbeat: no write reveals the closed socket, only reading does.
    let s = own_server(&["--heartbeat-delay-ms", "60000"]);
    for r in RECEIVERS {
        for sent in [&b""[..], &b"ab"[..]] {
            let session = session_url("/echo");
            let st = if r.polling {
                let mut first = r.open(&s, &session);
                assert_eq!(first_frame(&mut first, r), First::Open);
                open_with_pending_body(&s, r, &session, sent, true)
            } else {
                open_with_pending_body(&s, r, &session, sent, false)
            };
            wait_live(&s, 1, Duration::from_secs(2));
            st.abort();
            // Reclaimed after the disconnect delay, not after a heartbeat.
            let started = Instant::now();
            wait_live(&s, 0, Duration::from_millis(DISCONNECT_MS * 4 + 1000));
            eprintln!(
                "{} with {} of 5 body bytes: reclaimed {:?} after the client left",
                r.endpoint,
                sent.len(),
                started.elapsed()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket handshakes over HTTP/1.0
// ---------------------------------------------------------------------------------------------

#[test]
fn http10_websocket_handshake_is_400_on_both_endpoints() {
    let s = server();
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    for prefix in ["/echo", "/close", "/amplify", "/broadcast", "/cookie_needed_echo"] {
        for path in [
            format!("{prefix}/websocket"),
            format!("{prefix}/000/{}/websocket", sid()),
        ] {
            let mut c = s.connect();
            c.send("HTTP/1.0", "GET", &path, &headers, b"");
            let r = c.read_response("GET");
            r.expect_status(400);
            assert_eq!(r.text(), "WebSocket handshakes need HTTP/1.1.", "{path}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw websocket liveness
// ---------------------------------------------------------------------------------------------

/// Completes a websocket handshake on a raw connection.
fn raw_handshake(s: &Server, path: &str) -> Conn {
    let mut c = s.connect();
    c.send(
        "HTTP/1.1",
        "GET",
        path,
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
        b"",
    );
    let head = c.read_head();
    assert_eq!(head.status, 101);
    c
}

/// Reads one unmasked server frame: (opcode, payload).
fn read_frame(c: &mut Conn) -> (u8, Vec<u8>) {
    let h = c.read_raw_exact(2);
    let len = match h[1] & 0x7f {
        126 => {
            let b = c.read_raw_exact(2);
            u64::from(u16::from_be_bytes([b[0], b[1]]))
        }
        127 => u64::from_be_bytes(c.read_raw_exact(8).try_into().expect("8 bytes")),
        n => u64::from(n),
    };
    (h[0] & 0x0f, c.read_raw_exact(len as usize))
}

/// Reads frames until a close frame; returns its code and reason and the
/// number of pings seen before it.
fn read_until_close(c: &mut Conn) -> (u16, String, usize) {
    let mut pings = 0;
    loop {
        let (op, payload) = read_frame(c);
        match op {
            0x9 => pings += 1,
            0x8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8_lossy(&payload[2..]).into_owned(), pings);
            }
            _ => {}
        }
    }
}

const LIVENESS_FLAGS: [&str; 6] = [
    "--heartbeat-delay-ms",
    "300",
    "--pong-timeout-ms",
    "300",
    "--frame-timeout-ms",
    "200",
];

#[test]
fn silent_raw_websocket_client_is_closed_after_heartbeat_and_pong_timeout() {
    let s = own_server(&LIVENESS_FLAGS);
    let mut c = raw_handshake(&s, "/echo/websocket");
    wait_live(&s, 1, Duration::from_secs(2));
    let started = Instant::now();
    // The client reads but never answers: it gets pinged, then closed.
    let (code, reason, pings) = read_until_close(&mut c);
    assert_eq!((code, reason.as_str()), (3000, "No response from heartbeat"));
    assert!(pings >= 1, "pinged before being closed");
    eprintln!("silent raw client closed after {:?}", started.elapsed());
    drop(c);
    wait_live(&s, 0, Duration::from_secs(5));
}

#[test]
fn raw_websocket_client_stalled_mid_frame_is_closed() {
    let s = own_server(&LIVENESS_FLAGS);
    let c = raw_handshake(&s, "/echo/websocket");
    // A masked text frame announcing 70,000 bytes, then 9 of them, then nothing.
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&70_000u64.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(b"123456789");
    assert_stalled_frame_closed(&s, c, &frame);
}

/// Sends the start of a frame and nothing more: the server must close the
/// connection with 1008 and reclaim the session.
#[track_caller]
fn assert_stalled_frame_closed(s: &Server, mut c: Conn, frame_start: &[u8]) {
    c.send_raw(frame_start);
    let (code, reason, _) = read_until_close(&mut c);
    assert_eq!((code, reason.as_str()), (1008, "Frame timed out"));
    drop(c);
    wait_live(s, 0, Duration::from_secs(5));
}

#[test]
fn raw_websocket_frame_that_keeps_arriving_is_not_cut() {
    let s = own_server(&LIVENESS_FLAGS);
    let mut c = raw_handshake(&s, "/echo/websocket");
    // A 2,000-byte text frame trickled in 20 pieces, 100 ms apart: 2 s in
    // all, far past the 200 ms frame timeout and several ping/pong periods,
    // but never 200 ms without a byte. The client answers no ping: the
    // bytes of its frame are its sign of life. (The sleeps are the input.)
    let payload: Vec<u8> = (0..2000).map(|i| b'a' + (i % 26) as u8).collect();
    let mut frame = vec![0x81, 0x80 | 126];
    frame.extend_from_slice(&2000u16.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    c.send_raw(&frame);
    for piece in payload.chunks(100) {
        std::thread::sleep(Duration::from_millis(100));
        c.send_raw(piece);
    }
    loop {
        match read_frame(&mut c) {
            (0x9, _) => continue,
            (op, echoed) => {
                assert_eq!(op, 0x1, "{:?}", String::from_utf8_lossy(&echoed));
                assert_eq!(echoed, payload);
                break;
            }
        }
    }
    assert_eq!(live_sessions(&s), 1);
}

#[test]
fn framed_websocket_client_stalled_mid_frame_is_closed() {
    let s = own_server(&LIVENESS_FLAGS);
    let mut c = raw_handshake(&s, &format!("/echo/000/{}/websocket", sid()));
    assert_eq!(read_frame(&mut c), (0x1, b"o".to_vec()));
    let mut frame = vec![0x81, 0x80 | 126];
    frame.extend_from_slice(&1000u16.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(b"[\"");
    assert_stalled_frame_closed(&s, c, &frame);
}

#[test]
fn raw_websocket_client_that_answers_pings_is_kept() {
    let s = own_server(&LIVENESS_FLAGS);
    let mut ws = ws_connect(&s, "/echo/websocket");
    // Quiet for many heartbeat + pong periods: tungstenite answers each
    // ping as it reads it.
    let mut pings = 0;
    while pings < 8 {
        match ws.read().expect("still open") {
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(live_sessions(&s), 1);
    ws_send(&mut ws, "still here");
    loop {
        match ws.read().expect("echo") {
            Message::Text(t) => {
                assert_eq!(t.as_str(), "still here");
                break;
            }
            Message::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Every setting at its maximum
// ---------------------------------------------------------------------------------------------

#[test]
fn every_setting_at_its_maximum_serves_every_transport() {
    let max = u64::MAX.to_string();
    let mut flags = Vec::new();
    for f in [
        "--heartbeat-delay-ms",
        "--disconnect-delay-ms",
        "--slow-consumer-timeout-ms",
        "--body-read-timeout-ms",
        "--pong-timeout-ms",
        "--header-read-timeout-ms",
        "--write-timeout-ms",
        "--frame-timeout-ms",
        "--receiver-grace-ms",
        "--xhr-send-settle-ms",
        "--grace-period-ms",
        "--response-limit",
        "--max-message-size",
        "--max-sessions",
        "--max-queued-messages",
        "--max-queued-bytes",
        "--max-fragments",
        "--max-connections",
        "--max-header-bytes",
        "--max-messages-per-send",
        "--inbound-capacity",
        "--max-session-id-len",
    ] {
        flags.push(f);
        flags.push(max.as_str());
    }
    let s = own_server(&flags);
    get(&s, "/echo").expect_status(200).expect_body("Welcome to SockJS!\n");
    get(&s, "/echo/info").expect_status(200);

    // Framed and raw websocket.
    let mut ws = ws_open(&s, "/echo");
    ws_send(&mut ws, r#"["ws"]"#);
    assert_eq!(ws_text(&mut ws), r#"a["ws"]"#);
    let mut raw = ws_connect(&s, "/echo/websocket");
    ws_send(&mut raw, "raw");
    assert_eq!(ws_text(&mut raw), "raw");

    // xhr polling and xhr_send.
    let session = xhr_open(&s, "/echo");
    xhr_send(&s, &session, r#"["xhr"]"#);
    xhr_expect(&s, &session, "a[\"xhr\"]\n");

    // Streaming receivers, each fed by xhr_send.
    for r in RECEIVERS.iter().filter(|r| !r.polling) {
        let session = session_url("/echo");
        let mut st = r.open(&s, &session);
        assert_eq!(first_frame(&mut st, *r), First::Open, "{r:?}");
        xhr_send(&s, &session, r#"["streamed"]"#);
        let frame = String::from_utf8(st.read_until(b"streamed")).expect("UTF-8");
        assert!(frame.ends_with("streamed"), "{r:?}: {frame:?}");
    }

    // jsonp and jsonp_send.
    let session = session_url("/echo");
    let r = get(&s, &format!("{session}/jsonp?c=cb"));
    r.expect_status(200).expect_body("/**/cb(\"o\");\r\n");
    let sent = post_h(
        &s,
        &format!("{session}/jsonp_send"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"d=%5B%22jsonp%22%5D",
    );
    sent.expect_status(200).expect_body("ok");
    get(&s, &format!("{session}/jsonp?c=cb"))
        .expect_status(200)
        .expect_body("/**/cb(\"a[\\\"jsonp\\\"]\");\r\n");

    ws.close(None).expect("close");
    get(&s, "/echo").expect_status(200);
}
