//! Hardening on the wire, one class of `ROBUSTNESS.md` per test: the origin
//! allow-list, the caps (sessions, connections, headers, fragments, decoded
//! sizes), the timeouts (header, idle keep-alive, body, pong), slow and
//! stalled readers, abandoned sessions, a stuck session next to healthy
//! ones, and a server restart with live sessions.
//!
//! Each test starts its own server with short delays and `--stats`, so it
//! can check the invariant: no crash, a fresh client still completes open →
//! echo → close over websocket and xhr-streaming, and the live-session
//! count returns to zero after the disconnect delay. With `SOCKJS_TEST_URL`
//! set (an external server) these tests are reported as skipped (a
//! `SKIPPED:` line on stderr): they need their flags.

mod common;
use common::*;
use std::time::{Duration, Instant};

const DISCONNECT_MS: u64 = 500;

/// A server with a 300 ms heartbeat, a 500 ms disconnect delay, `/_stats`
/// and `extra` flags (which override these); `None` (reported as skipped)
/// when tests target an external server.
fn spawn(extra: &[&str]) -> Option<Server> {
    let dd = DISCONNECT_MS.to_string();
    let mut args = vec!["--heartbeat-delay-ms", "300", "--disconnect-delay-ms", &dd, "--stats"];
    args.extend_from_slice(extra);
    own_server(&args)
}

/// Live sessions per service prefix.
fn stats(s: &Server) -> serde_json::Map<String, serde_json::Value> {
    let r = get(s, "/_stats");
    r.expect_status(200);
    serde_json::from_slice(&r.body).expect("stats JSON")
}

fn live(s: &Server, prefix: &str) -> u64 {
    stats(s)[prefix].as_u64().expect("count")
}

fn live_total(s: &Server) -> u64 {
    stats(s).values().map(|v| v.as_u64().expect("count")).sum()
}

/// Waits until no service has a live session (they are reclaimed
/// `disconnect_delay` after their last receiver left).
#[track_caller]
fn assert_reclaimed(s: &Server) {
    assert_reclaimed_after(s, DISCONNECT_MS);
}

/// [`assert_reclaimed`] for a server started with another disconnect delay.
#[track_caller]
fn assert_reclaimed_after(s: &Server, disconnect_ms: u64) {
    let timeout = Duration::from_millis(disconnect_ms * 4 + 2000);
    wait_until(timeout, "/_stats to count no live session", || live_total(s) == 0);
}

/// Waits until the server has let go of every connection the test dropped:
/// `cap` new connections are all answered at once. They ask for
/// `Connection: close`, so the server ends them itself and they hold no
/// place afterwards.
#[track_caller]
fn wait_for_free_places(s: &Server, cap: usize) {
    wait_until(READ_TIMEOUT, &format!("all {cap} connection places to be free"), || {
        let mut probes: Vec<Conn> = (0..cap)
            .map(|_| {
                let mut c = s.connect();
                c.send("HTTP/1.1", "GET", "/echo", &[("Connection", "close")], b"");
                c
            })
            .collect();
        let all = probes.iter_mut().all(|c| c.wait_for_data(Duration::from_millis(100)));
        if all {
            for c in &mut probes {
                c.read_response("GET").expect_status(200);
                assert!(c.closes_without_data(), "closed by the server");
            }
        }
        all
    });
}

/// The invariant after every hardening probe.
#[track_caller]
fn assert_invariant(s: &Server) {
    assert_healthy(s);
    assert_reclaimed(s);
}

const WS_HEADERS: [(&str, &str); 4] = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", WS_KEY),
    ("Sec-WebSocket-Version", "13"),
];

#[test]
fn allow_list_refuses_foreign_origins_on_every_transport() {
    let Some(s) = spawn(&[
        "--allow-origin",
        "https://example.com",
        "--allow-origin",
        "https://*.example.com",
    ]) else {
        return;
    };
    for origin in [
        "https://evil.org",
        "https://example.com.evil.org",
        "http://example.com",
        "null",
    ] {
        let o = [("Origin", origin)];
        let session = session_url("/allowlist_echo");
        let refused = [
            req(&s, "GET", "/allowlist_echo/info", &o, b""),
            req(&s, "OPTIONS", &format!("{session}/xhr"), &o, b""),
            req(&s, "POST", &format!("{session}/xhr"), &o, b""),
            req(&s, "POST", &format!("{session}/xhr_streaming"), &o, b""),
            req(&s, "GET", &format!("{session}/eventsource"), &o, b""),
            req(&s, "GET", &format!("{session}/htmlfile?c=cb"), &o, b""),
            req(&s, "POST", &format!("{session}/xhr_send"), &o, br#"["x"]"#),
        ];
        for r in refused {
            r.expect_status(403).expect_body("Origin not allowed.");
        }
        for path in [format!("{session}/websocket"), "/allowlist_echo/websocket".to_owned()] {
            let mut h = WS_HEADERS.to_vec();
            h.push(("Origin", origin));
            let (_c, head) = raw_upgrade(&s, &path, &h);
            assert_eq!(head.status, 403, "{path} from {origin}");
        }
        assert!(ws_connect_h(&s, &format!("{}/websocket", session_url("/allowlist_echo")), &o).is_err());
    }
    assert_eq!(live(&s, "/allowlist_echo"), 0, "refused requests created no session");
    // Listed origins: reflected with credentials, on every transport.
    for origin in ["https://example.com", "https://a.b.example.com"] {
        let o = [("Origin", origin)];
        let session = session_url("/allowlist_echo");
        let r = post_h(&s, &format!("{session}/xhr"), &o, b"");
        r.expect_status(200).expect_body("o\n");
        assert_cors(&r, Some(origin));
        r.expect("Vary", "Origin");
        let mut ws = ws_connect_h(&s, &format!("{}/websocket", session_url("/allowlist_echo")), &o)
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        assert_eq!(ws_text(&mut ws), "o");
        ws_send(&mut ws, r#"["listed"]"#);
        assert_eq!(ws_text(&mut ws), r#"a["listed"]"#);
    }
    // Unverifiable transports are off whatever the origin.
    let session = session_url("/allowlist_echo");
    for path in [
        "/allowlist_echo/iframe.html".to_owned(),
        format!("{session}/jsonp?c=cb"),
    ] {
        assert_eq!(get(&s, &path).status, 404, "{path}");
        assert_eq!(
            get_h(&s, &path, &[("Origin", "https://example.com")]).status,
            404,
            "{path}"
        );
    }
    let r = post_h(
        &s,
        &format!("{session}/jsonp_send"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"d=%5B%22x%22%5D",
    );
    assert_eq!(r.status, 404);
    // No Origin (a non-browser client): served, without credentials.
    let r = post(&s, &format!("{session}/xhr"), b"");
    r.expect_status(200).expect_body("o\n");
    assert_cors(&r, None);
    // The other services keep their own policies.
    let r = get_h(&s, "/echo/info", &[("Origin", "https://evil.org")]);
    r.expect_status(200);
    assert_cors(&r, Some("https://evil.org"));
    assert_invariant(&s);
}

#[test]
fn session_cap_answers_503_and_places_come_back_after_disconnect_delay() {
    let Some(s) = spawn(&["--max-sessions", "20"]) else {
        return;
    };
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(xhr_open(&s, "/echo"));
    }
    assert_eq!(live(&s, "/echo"), 20);
    let over = session_url("/echo");
    post(&s, &format!("{over}/xhr"), b"")
        .expect_status(503)
        .expect_body("Too many sessions.");
    let (_c, head) = raw_upgrade(&s, &format!("{}/websocket", session_url("/echo")), &WS_HEADERS);
    assert_eq!(head.status, 503);
    // Existing sessions keep working; other services have their own cap.
    xhr_send(&s, &held[0], r#"["held"]"#);
    xhr_expect(&s, &held[0], "a[\"held\"]\n");
    let a = xhr_open(&s, "/amplify");
    xhr_send(&s, &a, r#"["2"]"#);
    xhr_expect(&s, &a, "a[\"xxxx\"]\n");
    // Abandon them all: every place comes back.
    assert_reclaimed(&s);
    for _ in 0..20 {
        xhr_open(&s, "/echo");
    }
    assert_reclaimed(&s);
    assert_invariant(&s);
}

#[test]
fn many_abandoned_sessions_on_every_transport_are_reclaimed() {
    // Long enough that the polling sessions opened first are still live when
    // the last one opens, even on a loaded machine (they have no receiver
    // attached, so the delay runs from their first poll).
    const DELAY_MS: u64 = 6000;
    let delay = DELAY_MS.to_string();
    let Some(s) = spawn(&["--disconnect-delay-ms", &delay]) else {
        return;
    };
    let mut streams = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..240 {
        let session = session_url("/echo");
        match i % 6 {
            0 => {
                xhr_expect(&s, &session, "o\n");
            }
            1 => {
                let st = stream(&s, "POST", &format!("{session}/xhr_streaming"), &[]);
                assert_eq!(st.head.status, 200);
                streams.push(st);
            }
            2 => {
                let st = stream(&s, "GET", &format!("{session}/eventsource"), &[]);
                assert_eq!(st.head.status, 200);
                streams.push(st);
            }
            3 => {
                let st = stream(&s, "GET", &format!("{session}/htmlfile?c=cb"), &[]);
                assert_eq!(st.head.status, 200);
                streams.push(st);
            }
            4 => {
                get(&s, &format!("{session}/jsonp?c=cb")).expect_status(200);
            }
            _ => sockets.push(ws_open(&s, "/echo")),
        }
    }
    assert_eq!(live(&s, "/echo"), 240);
    // Vanish without a goodbye: streams aborted, websockets dropped unclosed.
    for st in streams {
        st.abort();
    }
    drop(sockets);
    assert_reclaimed_after(&s, DELAY_MS);
    assert_healthy(&s);
    assert_reclaimed_after(&s, DELAY_MS);
}

#[test]
fn connection_cap_stops_accepting_until_a_connection_ends() {
    let Some(s) = spawn(&["--max-connections", "4"]) else {
        return;
    };
    let mut open: Vec<Conn> = (0..4).map(|_| s.connect()).collect();
    for c in &mut open {
        c.request("GET", "/echo", &[], b"").expect_status(200);
    }
    // A fifth connection waits in the listen backlog, unanswered...
    let mut fifth = s.connect();
    fifth.send("HTTP/1.1", "GET", "/echo", &[], b"");
    fifth.set_read_timeout(Duration::from_millis(700));
    assert!(!fifth.closes_without_data(), "the fifth connection must wait");
    // ...until one of the four ends; then it is served.
    open.pop().expect("a connection").abort();
    fifth.set_read_timeout(READ_TIMEOUT);
    let r = fifth.read_response("GET");
    r.expect_status(200).expect_body("Welcome to SockJS!\n");
    drop(fifth);
    drop(open);
    wait_for_free_places(&s, 4);
    assert_invariant(&s);
}

#[test]
fn websockets_count_toward_the_connection_cap() {
    let Some(s) = spawn(&["--max-connections", "3"]) else {
        return;
    };
    let mut sockets: Vec<Ws> = (0..3).map(|_| ws_open(&s, "/echo")).collect();
    let mut waiting = s.connect();
    waiting.send("HTTP/1.1", "GET", "/echo", &[], b"");
    waiting.set_read_timeout(Duration::from_millis(700));
    assert!(
        !waiting.closes_without_data(),
        "three upgraded connections fill the cap"
    );
    // The peer vanishes: its socket's place comes back.
    drop(sockets.remove(0));
    waiting.set_read_timeout(READ_TIMEOUT);
    waiting.read_response("GET").expect_status(200);
    drop(waiting);
    for mut ws in sockets {
        ws_send(&mut ws, r#"["still served"]"#);
        assert_eq!(ws_frame(&mut ws), r#"a["still served"]"#);
    }
    wait_for_free_places(&s, 3);
    assert_invariant(&s);
}

#[test]
fn huge_extension_and_protocol_headers_are_handled_in_linear_time() {
    let Some(s) = spawn(&[]) else { return };
    // Within the 16 KiB head cap: thousands of extension offers and
    // protocol names, which the server does not negotiate at all.
    let extensions = "permessage-deflate; client_max_window_bits, ".repeat(200);
    let protocols = "a, ".repeat(1000);
    let mut h = WS_HEADERS.to_vec();
    h.push(("Sec-WebSocket-Extensions", extensions.trim_end_matches(", ")));
    h.push(("Sec-WebSocket-Protocol", protocols.trim_end_matches(", ")));
    let started = Instant::now();
    let (c, head) = raw_upgrade(&s, &format!("{}/websocket", session_url("/echo")), &h);
    assert_eq!(head.status, 101);
    head.expect_absent("Sec-WebSocket-Extensions");
    head.expect_absent("Sec-WebSocket-Protocol");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    drop(c);
    assert_invariant(&s);
}

#[test]
fn header_count_and_size_caps_are_answered_431_at_once() {
    let Some(s) = spawn(&["--max-header-bytes", "8192"]) else {
        return;
    };
    let many: Vec<(String, String)> = (0..101).map(|i| (format!("X-H{i}"), "v".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let big = "x".repeat(9000);
    for headers in [many, vec![("X-Big", big.as_str())]] {
        let started = Instant::now();
        let mut c = s.connect();
        c.send("HTTP/1.1", "GET", "/echo/info", &headers, b"");
        let head = c.read_head();
        assert_eq!(head.status, 431);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    // Within the caps: served.
    let fine: Vec<(String, String)> = (0..90).map(|i| (format!("X-H{i}"), "v".repeat(50))).collect();
    let fine: Vec<(&str, &str)> = fine.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    get_h(&s, "/echo/info", &fine).expect_status(200);
    assert_invariant(&s);
}

#[test]
fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let Some(s) = spawn(&["--header-read-timeout-ms", "500"]) else {
        return;
    };
    // A head that never completes (slowloris).
    let mut c = s.connect();
    c.send_raw(b"GET /echo/info HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n");
    let started = Instant::now();
    assert!(c.closes_without_data(), "closed without an answer");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // An idle keep-alive connection after a complete exchange.
    let mut c = s.connect();
    c.request("GET", "/echo", &[], b"").expect_status(200);
    let started = Instant::now();
    assert!(c.closes_without_data(), "idle keep-alive closed");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // Streaming responses are not cut by it.
    let mut st = stream(&s, "POST", &format!("{}/xhr_streaming", session_url("/echo")), &[]);
    st.line();
    assert_eq!(st.line(), "o\n");
    for _ in 0..4 {
        assert_eq!(st.line(), "h\n");
    }
    st.abort();
    assert_invariant(&s);
}

#[test]
fn a_stalled_request_body_gets_408_and_delivers_nothing() {
    let Some(s) = spawn(&["--body-read-timeout-ms", "500"]) else {
        return;
    };
    // A receiver stays attached, so the session outlives the wait.
    let session = session_url("/echo");
    let mut receiver = stream(&s, "POST", &format!("{session}/xhr_streaming"), &[]);
    receiver.line();
    assert_eq!(receiver.line(), "o\n");
    let mut c = s.connect();
    c.send(
        "HTTP/1.1",
        "POST",
        &format!("{session}/xhr_send"),
        &[("Content-Length", "100")],
        br#"["never fin"#,
    );
    let started = Instant::now();
    let r = c.read_response("POST");
    r.expect_status(408).expect_body("Request body timed out.");
    r.expect("Connection", "close");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // Nothing of it was delivered; the session still works.
    xhr_send(&s, &session, r#"["after"]"#);
    loop {
        let line = receiver.line();
        if line != "h\n" {
            assert_eq!(line, "a[\"after\"]\n");
            break;
        }
    }
    receiver.abort();
    assert_invariant(&s);
}

#[test]
fn fragment_and_decoded_size_caps() {
    let Some(s) = spawn(&["--max-fragments", "4", "--max-message-size", "64"]) else {
        return;
    };
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    let send_fragments = |ws: &mut Ws, text: &str, pieces: usize| {
        let b = text.as_bytes();
        let step = b.len().div_ceil(pieces);
        for i in 0..pieces {
            let part = b[(i * step).min(b.len())..((i + 1) * step).min(b.len())].to_vec();
            let op = if i == 0 { Data::Text } else { Data::Continue };
            ws.send(Message::Frame(Frame::message(part, OpCode::Data(op), i + 1 == pieces)))
                .expect("send fragment");
        }
    };
    let mut ws = ws_open(&s, "/echo");
    send_fragments(&mut ws, r#"["four pieces"]"#, 4);
    assert_eq!(ws_text(&mut ws), r#"a["four pieces"]"#);
    send_fragments(&mut ws, r#"["five pieces"]"#, 5);
    assert_eq!(ws_expect_closed(&mut ws), Some((1009, "Message too big".to_owned())));
    // 60 escaped characters are 360 bytes on the wire and 60 decoded: fine.
    let escaped = |n: usize| format!("[\"{}\"]", "\\u0041".repeat(n));
    let mut ws = ws_open(&s, "/echo");
    ws_send(&mut ws, &escaped(60));
    assert_eq!(ws_text(&mut ws), format!("a[\"{}\"]", "A".repeat(60)));
    ws_send(&mut ws, &escaped(65));
    assert_eq!(ws_expect_closed(&mut ws).map(|c| c.0), Some(1009));
    let session = xhr_open(&s, "/echo");
    xhr_send(&s, &session, &escaped(60));
    post(&s, &format!("{session}/xhr_send"), escaped(65).as_bytes())
        .expect_status(413)
        .expect_body("Payload too large.");
    xhr_expect(&s, &session, &format!("a[\"{}\"]\n", "A".repeat(60)));
    assert_invariant(&s);
}

#[test]
fn a_websocket_peer_that_ignores_pings_is_closed_at_the_pong_deadline() {
    let Some(s) = spawn(&["--pong-timeout-ms", "400"]) else {
        return;
    };
    let mut ws = ws_open(&s, "/echo");
    // Input, not a wait: the client stays silent past the heartbeat (300 ms)
    // and the pong deadline (400 ms after it); not reading means not
    // answering pings (tungstenite answers on read).
    sleep_ms(1200);
    let mut frames = Vec::new();
    loop {
        let t = ws_text(&mut ws);
        if t.starts_with('c') {
            assert_eq!(t, r#"c[3000,"No response from heartbeat"]"#);
            break;
        }
        frames.push(t);
    }
    assert!(frames.iter().all(|f| f == "h"), "{frames:?}");
    let _ = ws_expect_closed(&mut ws);
    assert_invariant(&s);
}

/// Sends `n` amplify requests of 2^18 bytes each over a websocket that then
/// never reads.
fn flood_websocket(s: &Server, n: usize) -> Ws {
    let mut ws = ws_open(s, "/amplify");
    for _ in 0..n {
        ws_send(&mut ws, r#"["18"]"#);
    }
    ws
}

#[test]
fn slow_readers_are_closed_and_do_not_delay_others() {
    let Some(s) = spawn(&[
        "--slow-consumer-timeout-ms",
        "1000",
        "--write-timeout-ms",
        "1000",
        "--max-queued-messages",
        "8",
    ]) else {
        return;
    };
    // Two peers stop reading while megabytes are addressed to them.
    let stalled_ws = flood_websocket(&s, 64);
    let session = session_url("/amplify");
    let stalled_stream = stream(&s, "POST", &format!("{session}/xhr_streaming"), &[]);
    let many = format!("[{}]", vec!["\"18\""; 64].join(","));
    post(&s, &format!("{session}/xhr_send"), many.as_bytes()).expect_status(204);
    // Meanwhile, everyone else is served promptly, in order.
    let started = Instant::now();
    let mut ws = ws_open(&s, "/echo");
    let echo = xhr_open(&s, "/echo");
    for i in 0..30 {
        let m = format!("[\"m{i}\"]");
        ws_send(&mut ws, &m);
        loop {
            let t = ws_text(&mut ws);
            if t != "h" {
                assert_eq!(t, format!("a{m}"));
                break;
            }
        }
        xhr_send(&s, &echo, &m);
        xhr_expect(&s, &echo, &format!("a{m}\n"));
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    drop(ws);
    // The stalled peers are closed after the deadline and reclaimed,
    // although they never read anything.
    assert_reclaimed(&s);
    drop(stalled_ws);
    drop(stalled_stream);
    assert_invariant(&s);
}

#[test]
fn a_slow_but_steady_reader_loses_nothing() {
    let Some(s) = spawn(&["--slow-consumer-timeout-ms", "1000", "--max-queued-messages", "8"]) else {
        return;
    };
    // 200 messages of 256 KiB through a queue of 8, read with pauses
    // shorter than the deadline: all arrive, in order.
    let mut ws = ws_open(&s, "/amplify");
    for _ in 0..40 {
        ws_send(&mut ws, r#"["18"]"#);
    }
    let mut got = 0;
    while got < 40 {
        let t = ws_text(&mut ws);
        if t == "h" {
            continue;
        }
        let msgs = parse_a(&t);
        for m in msgs {
            assert_eq!(m.len(), 1 << 18);
            got += 1;
        }
        if got % 8 == 0 {
            // Input, not a wait: a pause shorter than the slow-consumer
            // deadline, with the queue full meanwhile.
            sleep_ms(300);
        }
    }
    ws_send(&mut ws, r#"["1"]"#);
    loop {
        let t = ws_text(&mut ws);
        if t != "h" {
            assert_eq!(t, r#"a["xx"]"#);
            break;
        }
    }
    drop(ws);
    assert_invariant(&s);
}

#[test]
fn an_upgrade_request_with_a_huge_body_is_not_buffered() {
    let Some(s) = spawn(&[]) else { return };
    let mut h = WS_HEADERS.to_vec();
    h.push(("Content-Length", "1000000000"));
    let (c, head) = raw_upgrade(&s, &format!("{}/websocket", session_url("/echo")), &h);
    // Answered from the head alone; whatever the server chose, it did not
    // wait for a gigabyte.
    assert!(matches!(head.status, 101 | 400), "{}", head.status);
    let chunk = vec![b'x'; 1 << 16];
    for _ in 0..16 {
        use std::io::Write;
        let mut w = c.stream();
        if w.write_all(&chunk).is_err() {
            break;
        }
    }
    drop(c);
    assert_invariant(&s);
}

/// A server process of our own (not behind the harness's wrapper), so the
/// test can send it SIGTERM by its id while clients are connected. Default
/// heartbeat (25 s): no heartbeat frame comes within the test.
struct OwnServer {
    child: std::process::Child,
    authority: String,
}

fn spawn_own() -> OwnServer {
    use std::io::BufRead;
    let dd = DISCONNECT_MS.to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sockjs-test-server"))
        .args(["--host", "127.0.0.1", "--port", "0", "--disconnect-delay-ms", &dd])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sockjs-test-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let url = line
        .trim()
        .strip_prefix("sockjs-test-server listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    OwnServer {
        authority: url.to_owned(),
        child,
    }
}

impl OwnServer {
    /// SIGTERM, then wait for the process (its grace period is 2 s).
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|k| k.success()), "kill -TERM {pid}");
        let mut status = None;
        wait_until(Duration::from_secs(10), "the server to exit after SIGTERM", || {
            status = self.child.try_wait().expect("wait");
            status.is_some()
        });
        status.expect("exited")
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Messages each client exchanges before the server is stopped.
const EXCHANGED: usize = 5;

const SHUTTING_DOWN: &str = r#"c[1001,"Server is shutting down"]"#;

/// A websocket session that exchanges [`EXCHANGED`] numbered messages,
/// reports `ready`, then reads what the server sends as it stops: its next
/// text message and how the websocket closed.
fn ws_client_until_stopped(authority: &str, ready: std::sync::mpsc::Sender<()>) -> (String, Option<(u16, String)>) {
    let url = format!("ws://{authority}/echo/000/{}/websocket", sid());
    let tcp = std::net::TcpStream::connect(authority).expect("connect");
    tcp.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let (mut ws, _) = tungstenite::client::client(url, tcp).expect("handshake");
    assert_eq!(ws_text(&mut ws), "o");
    for n in 0..EXCHANGED {
        ws_send(&mut ws, &format!("[\"{n}\"]"));
        assert_eq!(ws_text(&mut ws), format!("a[\"{n}\"]"), "in order, nothing lost");
    }
    ready.send(()).expect("test still waiting");
    let last = ws_text(&mut ws);
    (last, ws_expect_closed(&mut ws))
}

/// The same over xhr-streaming plus `xhr_send`: the frame that comes after
/// the exchange, once the response has ended.
fn streaming_client_until_stopped(authority: &str, ready: std::sync::mpsc::Sender<()>) -> String {
    let session = format!("/echo/000/{}", sid());
    let mut st =
        Conn::connect(authority).open_stream("HTTP/1.1", "POST", &format!("{session}/xhr_streaming"), &[], b"");
    assert_eq!(st.head.status, 200);
    st.line();
    assert_eq!(st.line(), "o\n");
    for n in 0..EXCHANGED {
        Conn::connect(authority)
            .request(
                "POST",
                &format!("{session}/xhr_send"),
                &[],
                format!("[\"{n}\"]").as_bytes(),
            )
            .expect_status(204);
        assert_eq!(st.line(), format!("a[\"{n}\"]\n"), "in order, nothing lost");
    }
    ready.send(()).expect("test still waiting");
    let last = st.line();
    st.expect_end();
    last
}

/// Runs `n` clients (each on a thread of its own) against a server process
/// of ours until every one has exchanged its messages and sits idle with
/// its receiver attached, stops the server with SIGTERM (it must exit
/// cleanly), starts a server on the same port (it must serve fresh clients)
/// and returns what each client saw as the server stopped.
fn stop_and_restart<T: Send + 'static>(n: usize, client: fn(&str, std::sync::mpsc::Sender<()>) -> T) -> Vec<T> {
    let own = spawn_own();
    let authority = own.authority.clone();
    let port = authority.rsplit(':').next().expect("port").to_owned();
    let (ready, ready_rx) = std::sync::mpsc::channel();
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (a, r) = (authority.clone(), ready.clone());
            std::thread::spawn(move || client(&a, r))
        })
        .collect();
    for _ in 0..n {
        ready_rx
            .recv_timeout(READ_TIMEOUT)
            .expect("every client opened its session and exchanged its messages");
    }
    let status = own.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let seen = clients.into_iter().map(|c| c.join().expect("client")).collect();
    let s = spawn(&["--port", &port]).expect("restarted");
    assert_eq!(s.authority, authority);
    assert_invariant(&s);
    seen
}

#[test]
fn a_server_restart_closes_live_xhr_streaming_sessions_with_1001_then_serves_again() {
    if external() {
        skipped("it stops and restarts the server");
        return;
    }
    // Graceful shutdown: every session gets the SockJS close frame 1001 as
    // the last frame of its response, which then ends with its last chunk.
    for last in stop_and_restart(8, streaming_client_until_stopped) {
        assert_eq!(last, format!("{SHUTTING_DOWN}\n"));
    }
}

#[test]
fn a_server_restart_closes_live_websockets_with_1001_then_serves_again() {
    if external() {
        skipped("it stops and restarts the server");
        return;
    }
    // Graceful shutdown: every session gets the SockJS close frame 1001,
    // then the websocket closing handshake (1000).
    for (last, close) in stop_and_restart(8, ws_client_until_stopped) {
        assert_eq!(last, SHUTTING_DOWN);
        assert_eq!(close, Some((1000, String::new())), "websocket close");
    }
}
