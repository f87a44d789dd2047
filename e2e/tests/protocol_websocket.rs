//! The framed SockJS WebSocket transport (`/<server>/<session>/websocket`) and the raw `/websocket`.

mod common;
use common::*;

/// Reads `a[...]` frames until `n` messages have arrived; fails on any other frame.
#[track_caller]
fn ws_messages(ws: &mut Ws, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let f = ws_text(ws);
        if f == "h" {
            continue;
        }
        out.extend(parse_a(&f));
    }
    assert_eq!(out.len(), n, "too many messages: {out:?}");
    out
}

#[test]
fn open_echo_and_batch() {
    let s = server();
    let mut ws = ws_open(s, "/echo");
    ws_send(&mut ws, r#"["a"]"#);
    assert_eq!(ws_text(&mut ws), r#"a["a"]"#);
    ws_send(&mut ws, r#"["b","c d","\u00e9\"\\"]"#);
    assert_eq!(ws_messages(&mut ws, 3), ["b", "c d", "\u{e9}\"\\"]);
    ws.close(None).unwrap();
}

#[test]
fn empty_and_empty_array_messages_are_ignored() {
    let s = server();
    let mut ws = ws_open(s, "/echo");
    ws_send(&mut ws, "");
    ws_send(&mut ws, "[]");
    ws_send(&mut ws, r#"["a"]"#);
    assert_eq!(ws_text(&mut ws), r#"a["a"]"#);
}

#[test]
fn broken_json_drops_the_connection() {
    let s = server();
    let mut ws = ws_open(s, "/echo");
    ws_send(&mut ws, r#"["a"#);
    ws_expect_closed(&mut ws);
}

#[test]
fn close_service_sends_close_frame_then_closes() {
    let s = server();
    let mut ws = ws_open(s, "/close");
    assert_eq!(ws_text(&mut ws), r#"c[3000,"Go away!"]"#);
    ws_expect_closed(&mut ws);
}

#[test]
fn session_id_can_be_reused_by_websockets() {
    let s = server();
    let path = format!("{}/websocket", session_url("/echo"));
    let mut ws1 = ws_connect(s, &path);
    assert_eq!(ws_text(&mut ws1), "o");
    let mut ws2 = ws_connect(s, &path);
    assert_eq!(ws_text(&mut ws2), "o");
    ws_send(&mut ws1, r#"["a"]"#);
    assert_eq!(ws_text(&mut ws1), r#"a["a"]"#);
    ws_send(&mut ws2, r#"["b"]"#);
    assert_eq!(ws_text(&mut ws2), r#"a["b"]"#);
    ws1.close(None).unwrap();
    ws2.close(None).unwrap();
    let mut ws3 = ws_connect(s, &path);
    assert_eq!(ws_text(&mut ws3), "o");
    ws_send(&mut ws3, r#"["c"]"#);
    assert_eq!(ws_text(&mut ws3), r#"a["c"]"#);
}

#[test]
fn handshake_headers() {
    let s = server();
    let path = format!("{}/websocket", session_url("/echo"));
    let mut h = ws_headers();
    h.retain(|(k, _)| *k != "Sec-WebSocket-Key");
    h.push(("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw=="));
    h.push(("Origin", "http://asd"));
    let (_c, head) = raw_upgrade(s, &path, &h);
    assert_eq!(head.status, 101, "{head:?}");
    head.expect("Sec-WebSocket-Accept", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    assert_eq!(
        head.header("Connection").map(str::to_ascii_lowercase).as_deref(),
        Some("upgrade")
    );
    assert_eq!(
        head.header("Upgrade").map(str::to_ascii_lowercase).as_deref(),
        Some("websocket")
    );
    head.expect_absent("Content-Length");
}

#[test]
fn connection_header_token_list_is_accepted() {
    let s = server();
    let path = format!("{}/websocket", session_url("/echo"));
    let h = [
        ("Upgrade", "WebSocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", WS_KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    let (_c, head) = raw_upgrade(s, &path, &h);
    assert_eq!(head.status, 101, "{head:?}");
    head.expect("Sec-WebSocket-Accept", WS_ACCEPT);
}

#[test]
fn plain_get_is_400() {
    let s = server();
    let r = get(s, "/echo/0/0/websocket");
    assert_eq!(r.status, 400);
    let r = get_h(
        s,
        "/echo/0/0/websocket",
        &[("Upgrade", "WebSocket"), ("Connection", "close")],
    );
    assert_eq!(r.status, 400);
}

#[test]
fn post_is_405() {
    let s = server();
    for h in [vec![("Upgrade", "WebSocket"), ("Connection", "Upgrade")], vec![]] {
        let r = post_h(s, "/echo/0/0/websocket", &h, b"");
        r.expect_status(405);
        r.expect_absent("Content-Type");
        assert!(r.has("Allow"));
        assert!(r.body.is_empty());
    }
}

#[test]
fn wrong_version_is_426_with_supported_version() {
    let s = server();
    for version in ["8", "12", "14"] {
        let mut h = ws_headers();
        h.retain(|(k, _)| *k != "Sec-WebSocket-Version");
        h.push(("Sec-WebSocket-Version", version));
        let (_c, head) = raw_upgrade(s, &format!("{}/websocket", session_url("/echo")), &h);
        assert_eq!(head.status, 426, "version {version}: {head:?}");
        head.expect("Sec-WebSocket-Version", "13");
    }
}

#[test]
fn missing_key_or_upgrade_is_refused() {
    let s = server();
    let path = format!("{}/websocket", session_url("/echo"));
    for drop in ["Sec-WebSocket-Key", "Upgrade"] {
        let mut h = ws_headers();
        h.retain(|(k, _)| *k != drop);
        let (_c, head) = raw_upgrade(s, &path, &h);
        assert_eq!(head.status, 400, "without {drop}: {head:?}");
    }
}

#[test]
fn hixie76_handshake_is_refused_without_hanging() {
    let s = server();
    let path = format!("{}/websocket", session_url("/echo"));
    let mut c = s.connect();
    c.send(
        "HTTP/1.1",
        "GET",
        &path,
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "WebSocket"),
            ("Origin", "http://localhost"),
            ("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5"),
            ("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00"),
        ],
        b"",
    );
    // Either an error status or a closed connection, promptly; never a 101.
    let raw = c.read_raw_to_end_or_head();
    if !raw.is_empty() {
        let line = String::from_utf8_lossy(&raw);
        assert!(line.starts_with("HTTP/1."), "{line:?}");
        assert!(
            !line.starts_with("HTTP/1.1 101"),
            "hixie-76 must not be accepted: {line:?}"
        );
        let status: u16 = line[9..12].parse().unwrap();
        assert!((400..500).contains(&status), "status {status}");
    }
    assert_healthy(s);
}

#[test]
fn disabled_websocket_routes_are_404() {
    let s = server();
    let (_c, head) = raw_upgrade(
        s,
        &format!("{}/websocket", session_url("/disabled_websocket_echo")),
        &ws_headers(),
    );
    assert_eq!(head.status, 404, "{head:?}");
    let (_c, head) = raw_upgrade(s, "/disabled_websocket_echo/websocket", &ws_headers());
    assert_eq!(head.status, 404, "{head:?}");
    assert_eq!(get(s, "/disabled_websocket_echo/0/0/websocket").status, 404);
    // The other transports still work.
    let session = xhr_open(s, "/disabled_websocket_echo");
    xhr_send(s, &session, r#"["x"]"#);
    xhr_expect(s, &session, "a[\"x\"]\n");
}

#[test]
fn upgrade_outside_prefixes_is_refused_promptly() {
    let s = server();
    for path in ["/nothing/websocket", "/nothing/000/abc/websocket", "/echoes/websocket"] {
        let mut c = s.connect();
        c.send("HTTP/1.1", "GET", path, &ws_headers(), b"");
        let raw = c.read_raw_to_end_or_head();
        let line = String::from_utf8_lossy(&raw);
        assert!(
            line.is_empty() || line.starts_with("HTTP/1.1 404") || line.starts_with("HTTP/1.0 404"),
            "{path}: {line:?}"
        );
    }
    assert_healthy(s);
}

#[test]
fn heartbeat_frames_with_short_delay() {
    let Some(s) = fast_server() else { return };
    let mut ws = ws_open(s, "/echo");
    assert_eq!(ws_text(&mut ws), "h");
    assert_eq!(ws_text(&mut ws), "h");
    ws_send(&mut ws, r#"["after heartbeat"]"#);
    for _ in 0..20 {
        let f = ws_text(&mut ws);
        if f != "h" {
            assert_eq!(f, r#"a["after heartbeat"]"#);
            return;
        }
    }
    panic!("no echo after 20 heartbeats");
}

#[test]
fn raw_websocket_echoes_without_framing() {
    let s = server();
    let mut ws = ws_connect(s, "/echo/websocket");
    ws_send(&mut ws, "Hello world!\u{ffff}");
    assert_eq!(ws_text(&mut ws), "Hello world!\u{ffff}");
    ws_send(&mut ws, r#"["not","parsed"]"#);
    assert_eq!(ws_text(&mut ws), r#"["not","parsed"]"#);
    ws_send(&mut ws, "");
    assert_eq!(ws_text(&mut ws), "");
    ws.close(None).unwrap();
    ws_expect_closed(&mut ws);
}

#[test]
fn raw_websocket_close_service_closes_with_reason() {
    let s = server();
    let mut ws = ws_connect(s, "/close/websocket");
    let close = ws_expect_closed(&mut ws).expect("a close frame");
    assert_eq!(close, (3000, "Go away!".to_string()));
}

#[test]
fn raw_websocket_sends_pings_but_no_heartbeat_frames() {
    // The raw endpoint carries no SockJS framing, so no `h` frame; its
    // liveness check is websocket pings (answered by tungstenite as it reads).
    let Some(s) = fast_server() else { return };
    let mut ws = ws_connect(s, "/echo/websocket");
    let mut pings = 0;
    while pings < 3 {
        match ws.read().expect("the connection stays open") {
            Message::Ping(_) => pings += 1,
            other => panic!("expected only pings on a quiet raw websocket, got {other:?}"),
        }
    }
}

/// Sends one text frame with arbitrary (possibly invalid UTF-8) payload.
fn send_raw_text_frame(ws: &mut Ws, payload: &[u8]) {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    let frame = Frame::message(payload.to_vec(), OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(frame)).expect("send frame");
}

/// The raw and the framed websocket of /echo, each connected (the framed one past its `o`).
fn both_websocket_routes(s: &Server) -> Vec<(String, Ws)> {
    let framed = format!("{}/websocket", session_url("/echo"));
    ["/echo/websocket".to_string(), framed]
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let mut ws = ws_connect(s, &path);
            if i == 1 {
                assert_eq!(ws_text(&mut ws), "o");
            }
            (path, ws)
        })
        .collect()
}

#[test]
fn invalid_utf8_closes_with_1007() {
    let s = server();
    for (path, mut ws) in both_websocket_routes(s) {
        send_raw_text_frame(&mut ws, b"[\"\xff\xfe\"]");
        let close = ws_expect_closed(&mut ws);
        assert_eq!(close.map(|c| c.0), Some(1007), "{path}");
    }
    assert_healthy(s);
}

#[test]
fn oversized_message_closes_with_1009() {
    let s = server();
    let big = format!("[\"{}\"]", "x".repeat(2 << 20));
    for (path, mut ws) in both_websocket_routes(s) {
        // The server may close before the whole message is written.
        let _ = ws.send(Message::text(big.clone()));
        let close = ws_expect_closed(&mut ws);
        assert_eq!(close.map(|c| c.0), Some(1009), "{path}");
    }
    assert_healthy(s);
}
