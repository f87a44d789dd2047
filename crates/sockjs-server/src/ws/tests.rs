//! The websocket session loop driven in memory.

use super::guard::FragmentGuard;
use super::handshake::ws_config;
use super::session::run;
use crate::config::{Config, Transport};
use crate::handler::Handler;
use crate::session::Session;
use crate::shared::ConnInfo;
use crate::state::{new_state, State};
use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

impl super::guard::ReadProgress for tokio::io::DuplexStream {
    fn last_read(&self) -> Option<tokio::time::Instant> {
        None
    }
}

async fn echo(mut s: Session) {
    while let Some(m) = s.recv().await {
        if s.send(m).await.is_err() {
            break;
        }
    }
}

fn info(transport: Transport) -> ConnInfo {
    ConnInfo {
        transport,
        remote_addr: None,
        url: "/x".into(),
        path: "/x".into(),
        prefix: String::new(),
        headers: HeaderMap::new(),
    }
}

/// Starts a session loop over an in-memory pipe and returns the client end.
async fn connect<H: Handler>(config: Config, handler: H, raw: bool) -> WebSocketStream<tokio::io::DuplexStream> {
    let (a, b) = tokio::io::duplex(1 << 20);
    let state = new_state(config, handler);
    let t = if raw {
        Transport::RawWebsocket
    } else {
        Transport::Websocket
    };
    let slot = state.try_reserve().expect("room for a session");
    tokio::spawn(async move {
        let ws = WebSocketStream::from_raw_socket(a, Role::Server, None).await;
        run(state, ws, info(t), raw, slot).await;
    });
    WebSocketStream::from_raw_socket(b, Role::Client, None).await
}

async fn text(ws: &mut WebSocketStream<tokio::io::DuplexStream>) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

async fn close_frame(ws: &mut WebSocketStream<tokio::io::DuplexStream>) -> (u16, String) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(Some(f)))) => return (f.code.into(), f.reason.as_str().to_owned()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn framed_echo_in_memory() {
    let mut ws = connect(Config::new(""), echo, false).await;
    assert_eq!(text(&mut ws).await, "o");
    ws.send(Message::Text(r#"["a","b\u2028"]"#.into())).await.unwrap();
    // Both messages may arrive in one frame or two; collect until both are in.
    let mut got = String::new();
    while got.matches('"').count() < 4 {
        got.push_str(&text(&mut ws).await);
    }
    assert!(got == r#"a["a","b\u2028"]"# || got == r#"a["a"]a["b\u2028"]"#, "{got}");
}

#[tokio::test]
async fn server_close_sends_frame_then_ws_close() {
    let mut ws = connect(Config::new(""), |s: Session| async move { s.close(3001, "bye") }, false).await;
    assert_eq!(text(&mut ws).await, "o");
    assert_eq!(text(&mut ws).await, r#"c[3001,"bye"]"#);
    assert_eq!(close_frame(&mut ws).await.0, 1000);
}

#[tokio::test(start_paused = true)]
async fn heartbeat_then_pong_deadline() {
    let cfg = Config::new("")
        .heartbeat_delay(Duration::from_secs(25))
        .websocket_pong_timeout(Some(Duration::from_secs(10)));
    let mut ws = connect(cfg, echo, false).await;
    assert_eq!(text(&mut ws).await, "o");
    // Stop reading (a reading tungstenite client answers pings by itself)
    // past the heartbeat and the pong deadline.
    tokio::time::sleep(Duration::from_secs(36)).await;
    assert_eq!(text(&mut ws).await, "h");
    assert_eq!(text(&mut ws).await, r#"c[3000,"No response from heartbeat"]"#);
}

#[tokio::test(start_paused = true)]
async fn recv_ends_when_the_pong_deadline_closes_the_session() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let handler = move |mut s: Session| {
        let tx = tx.lock().unwrap().take();
        async move {
            while s.recv().await.is_some() {}
            if let Some(tx) = tx {
                let _ = tx.send(tokio::time::Instant::now());
            }
        }
    };
    let cfg = Config::new("")
        .heartbeat_delay(Duration::from_secs(25))
        .websocket_pong_timeout(Some(Duration::from_secs(10)));
    let started = tokio::time::Instant::now();
    // The client never reads again: no pong, no reply to the close frame.
    let _ws = connect(cfg, handler, false).await;
    let ended = rx.await.expect("recv() returned None");
    // At the pong deadline (25 s + 10 s), not after the closing handshake's
    // 2 s wait for a reply that never comes.
    let took = ended - started;
    assert!(
        took >= Duration::from_secs(35) && took < Duration::from_millis(35_500),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_application_does_not_get_its_healthy_peer_closed() {
    // The application takes nothing for a minute: reading pauses (inbound
    // room for one message), and the peer's pongs wait unread meanwhile.
    let slow = |mut s: Session| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        while let Some(m) = s.recv().await {
            if s.send(m).await.is_err() {
                break;
            }
        }
    };
    let cfg = Config::new("")
        .heartbeat_delay(Duration::from_secs(5))
        .websocket_pong_timeout(Some(Duration::from_secs(2)))
        .inbound_capacity(1);
    let mut ws = connect(cfg, slow, false).await;
    assert_eq!(text(&mut ws).await, "o");
    for i in 0..5 {
        ws.send(Message::Text(format!("[\"m{i}\"]").into())).await.unwrap();
    }
    // The client keeps reading (and so answers every ping) until all five
    // echoes are in; a close would show up as a `c` frame here.
    let mut got = Vec::new();
    while got.len() < 5 {
        let frame = text(&mut ws).await;
        if frame == "h" {
            continue;
        }
        assert!(frame.starts_with("a["), "unexpected frame {frame}");
        got.extend(
            frame
                .trim_start_matches("a[")
                .trim_end_matches(']')
                .split(',')
                .map(str::to_owned),
        );
    }
    assert_eq!(got, ["\"m0\"", "\"m1\"", "\"m2\"", "\"m3\"", "\"m4\""]);
}

#[tokio::test]
async fn oversized_message_closes_1009() {
    let mut ws = connect(Config::new("").max_message_size(1000), echo, false).await;
    assert_eq!(text(&mut ws).await, "o");
    let big = format!("[\"{}\"]", "x".repeat(1001));
    ws.send(Message::Text(big.into())).await.unwrap();
    assert_eq!(close_frame(&mut ws).await.0, 1009);
}

/// Like `connect`, with the server end behind a `FragmentGuard` and a
/// pipe of `pipe` bytes; returns the client end and the service state.
async fn connect_guarded<H: Handler>(
    config: Config,
    handler: H,
    pipe: usize,
) -> (WebSocketStream<tokio::io::DuplexStream>, Arc<State<H>>) {
    connect_to(new_state(config, handler), pipe, false).await
}

/// Like `connect_guarded`, to an existing service state (several sessions
/// of one service), framed or raw.
async fn connect_to<H: Handler>(
    state: Arc<State<H>>,
    pipe: usize,
    raw: bool,
) -> (WebSocketStream<tokio::io::DuplexStream>, Arc<State<H>>) {
    let (a, b) = tokio::io::duplex(pipe);
    let slot = state.try_reserve().expect("room for a session");
    let st = state.clone();
    tokio::spawn(async move {
        let cfg = ws_config(&st.config, raw);
        let io = FragmentGuard::new(a, st.config.max_fragments, st.config.websocket_frame_timeout);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
        let t = if raw {
            Transport::RawWebsocket
        } else {
            Transport::Websocket
        };
        run(st.clone(), ws, info(t), raw, slot).await;
    });
    (WebSocketStream::from_raw_socket(b, Role::Client, None).await, state)
}

#[tokio::test]
async fn a_broadcast_reaches_framed_and_raw_websockets() {
    let state = new_state(Config::new(""), echo);
    let (mut framed, state) = connect_to(state, 1 << 20, false).await;
    let (mut raw, state) = connect_to(state, 1 << 20, true).await;
    assert_eq!(text(&mut framed).await, "o");
    // The raw session is in the hub once it echoes (its loop started).
    raw.send(Message::Text("ping".into())).await.unwrap();
    assert_eq!(text(&mut raw).await, "ping");
    assert_eq!(state.hub.to_all().send("x<\u{2028}>"), 2);
    assert_eq!(state.hub.to_all().send("second"), 2);
    let mut got = String::new();
    while !got.ends_with(r#""second"]"#) {
        got.push_str(&text(&mut framed).await);
    }
    assert!(
        got == r#"a["x<\u2028>"]a["second"]"# || got == r#"a["x<\u2028>","second"]"#,
        "{got}"
    );
    assert_eq!(text(&mut raw).await, "x<\u{2028}>");
    assert_eq!(text(&mut raw).await, "second");
}

fn fragments(text: &str, pieces: usize) -> Vec<Message> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let bytes = text.as_bytes();
    let step = bytes.len().div_ceil(pieces);
    (0..pieces)
        .map(|i| {
            let part = bytes[(i * step).min(bytes.len())..((i + 1) * step).min(bytes.len())].to_vec();
            let op = if i == 0 { Data::Text } else { Data::Continue };
            Message::Frame(Frame::message(part, OpCode::Data(op), i + 1 == pieces))
        })
        .collect()
}

#[tokio::test]
async fn fragment_cap_closes_1009() {
    let (mut ws, state) = connect_guarded(Config::new("").max_fragments(8), echo, 1 << 20).await;
    assert_eq!(text(&mut ws).await, "o");
    // Exactly at the cap (and a ping between fragments) is fine.
    let mut frames = fragments(r#"["abcdefghijklmnop"]"#, 8);
    frames.insert(3, Message::Ping(Default::default()));
    for f in frames {
        ws.send(f).await.unwrap();
    }
    assert_eq!(text(&mut ws).await, r#"a["abcdefghijklmnop"]"#);
    for f in fragments(r#"["abcdefghijklmnop"]"#, 9) {
        ws.send(f).await.unwrap();
    }
    assert_eq!(close_frame(&mut ws).await, (1009, "Message too big".to_owned()));
    tokio::time::timeout(Duration::from_secs(5), async {
        while state.session_count() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("session reclaimed");
}

#[tokio::test]
async fn message_size_is_measured_decoded() {
    // 200 escaped characters: 1200 bytes on the wire, 200 decoded.
    let (mut ws, _state) = connect_guarded(Config::new("").max_message_size(256), echo, 1 << 20).await;
    assert_eq!(text(&mut ws).await, "o");
    let escaped = format!("[\"{}\"]", "\\u0041".repeat(200));
    ws.send(Message::Text(escaped.into())).await.unwrap();
    assert_eq!(text(&mut ws).await, format!("a[\"{}\"]", "A".repeat(200)));
    let big = format!("[\"{}\"]", "\\u0041".repeat(257));
    ws.send(Message::Text(big.into())).await.unwrap();
    assert_eq!(close_frame(&mut ws).await.0, 1009);
}

#[tokio::test(start_paused = true)]
async fn stalled_peer_is_dropped_after_the_write_deadline() {
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let closed_tx = std::sync::Mutex::new(Some(closed_tx));
    let flood = move |s: Session| {
        let tx = closed_tx.lock().unwrap().take();
        async move {
            let chunk = "x".repeat(1000);
            let mut sent = 0;
            while s.send(chunk.clone()).await.is_ok() {
                sent += 1;
            }
            let reason = s.closed().await;
            if let Some(tx) = tx {
                let _ = tx.send((sent, reason));
            }
        }
    };
    let cfg = Config::new("")
        .slow_consumer_timeout(Some(Duration::from_secs(4)))
        .max_queued(16, 1 << 20)
        .heartbeat_delay(Duration::from_secs(3600));
    // The client never reads: a 4 KiB pipe fills at once.
    let (ws, state) = connect_guarded(cfg, flood, 4096).await;
    let started = tokio::time::Instant::now();
    let (sent, reason) = closed_rx.await.expect("session ended");
    assert!(sent >= 16, "queue filled first ({sent})");
    assert_eq!((reason.code, reason.reason.as_str()), (1013, "Slow consumer"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(9),
        "{took:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while state.session_count() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("session reclaimed");
    drop(ws);
}

#[tokio::test]
async fn raw_echo_and_close_with_code() {
    let mut ws = connect(Config::new(""), echo, true).await;
    ws.send(Message::Text("Hello world!\u{ffff}".into())).await.unwrap();
    assert_eq!(text(&mut ws).await, "Hello world!\u{ffff}");
    let mut ws = connect(
        Config::new(""),
        |s: Session| async move { s.close(3000, "Go away!") },
        true,
    )
    .await;
    assert_eq!(close_frame(&mut ws).await, (3000, "Go away!".to_owned()));
}
