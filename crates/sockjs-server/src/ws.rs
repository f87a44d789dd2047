//! WebSocket: handshake validation, upgrade, and the framed and raw session loops.

use crate::body::SockJsBody;
use crate::config::Transport;
use crate::error::HttpError;
use crate::handler::Handler;
use crate::service::{conn_info, next_ws_id, State};
use crate::session::{Session, Shared};
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use sockjs_core::{decode_messages, Attach, DecodeLimits, ReceiverId};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

fn header_has_token(parts: &Parts, name: header::HeaderName, token: &str) -> bool {
    parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Validates an RFC 6455 handshake from the request parts. hixie-76
/// handshakes (no `Sec-WebSocket-Key`) are refused.
pub(crate) fn validate(parts: &Parts) -> Result<HeaderValue, HttpError> {
    if !header_has_token(parts, header::UPGRADE, "websocket") {
        return Err(HttpError::BadRequest("Can \"Upgrade\" only to \"WebSocket\"."));
    }
    if !header_has_token(parts, header::CONNECTION, "upgrade") {
        return Err(HttpError::BadRequest("\"Connection\" must be \"Upgrade\"."));
    }
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(HttpError::BadRequest(
            "Not a valid websocket request: missing Sec-WebSocket-Key.",
        ))?;
    if parts.headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(HttpError::UpgradeRequired);
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    HeaderValue::from_str(&accept).map_err(|_| HttpError::BadRequest("Invalid Sec-WebSocket-Key."))
}

/// Answers the handshake with 101 and runs the session on the upgraded
/// connection. `session` is `None` for the raw endpoint.
pub(crate) fn upgrade<H: Handler>(
    state: &Arc<State<H>>,
    mut parts: Parts,
    session: Option<&str>,
) -> Result<Response<SockJsBody>, HttpError> {
    let accept = validate(&parts)?;
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or(HttpError::Internal("This server does not support connection upgrades."))?;
    let raw = session.is_none();
    let transport = if raw {
        Transport::RawWebsocket
    } else {
        Transport::Websocket
    };
    let info = conn_info(&state.config, &parts, transport);
    let state = state.clone();
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(io) => TokioIo::new(io),
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(state.config.max_message_size))
            .max_frame_size(Some(state.config.max_message_size))
            // Small buffers keep idle connections cheap.
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
        run(state, ws, info, raw).await;
    });
    let mut r = Response::new(SockJsBody::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(r)
}

/// Runs one websocket session over any byte stream (tests drive it over an
/// in-memory duplex).
pub(crate) async fn run<H, S>(state: Arc<State<H>>, ws: WebSocketStream<S>, info: crate::session::ConnInfo, raw: bool)
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let key = next_ws_id(&state);
    let (shared, rx, info) = state.start_session(format!("ws-{key}").into(), info);
    let Attach::Attached(rid) = shared.attach() else {
        return;
    };
    state.ws_sessions.shard(&key).insert(key, shared.clone());
    state.spawn_handler(Session::new(shared.clone(), rx, info));
    let settings = Settings {
        heartbeat: state.config.heartbeat_delay,
        pong_timeout: state.config.websocket_pong_timeout,
        limits: state.decode_limits(),
    };
    let inbound = shared.inbound();
    drive(ws, &shared, rid, inbound, settings, raw).await;
    // Whatever ended the loop, the session is over.
    shared.expire(1006, "Connection closed");
    shared.detach(rid, false);
    state.ws_sessions.remove_if_same(&key, &shared);
}

#[derive(Clone, Copy)]
struct Settings {
    heartbeat: Duration,
    pong_timeout: Option<Duration>,
    limits: DecodeLimits,
}

enum Out {
    Frame(sockjs_core::Outgoing),
    Raw(Vec<String>),
    RawClose(u16, String),
}

async fn next_out(shared: &Shared, rid: ReceiverId, raw: bool) -> Out {
    if raw {
        match shared.next_raw().await {
            Ok(m) => Out::Raw(m),
            Err((c, r)) => Out::RawClose(c, r),
        }
    } else {
        Out::Frame(shared.next_frame(rid).await)
    }
}

async fn reserve(tx: &Option<mpsc::Sender<String>>) -> Option<mpsc::Permit<'_, String>> {
    match tx {
        Some(tx) => tx.reserve().await.ok(),
        None => None,
    }
}

/// The session loop. Inbound messages wait in `pending` until the
/// application has room, and reading pauses meanwhile; outbound frames keep
/// flowing, so an application blocked on a full outbound queue can never
/// deadlock against a full inbound one.
async fn drive<S>(
    mut ws: WebSocketStream<S>,
    shared: &Shared,
    rid: ReceiverId,
    inbound: Option<mpsc::Sender<String>>,
    st: Settings,
    raw: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut pending: VecDeque<String> = VecDeque::new();
    let heartbeat = tokio::time::sleep(st.heartbeat);
    tokio::pin!(heartbeat);
    let far = Instant::now() + Duration::from_secs(86400 * 365);
    let pong = tokio::time::sleep_until(far);
    tokio::pin!(pong);
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            out = next_out(shared, rid, raw) => {
                let close = match out {
                    Out::Frame(o) => {
                        if ws.send(Message::Text(o.frame.into())).await.is_err() {
                            return;
                        }
                        o.is_close.then(|| (1000u16, String::new()))
                    }
                    Out::Raw(msgs) => {
                        for m in msgs {
                            if ws.feed(Message::Text(m.into())).await.is_err() {
                                return;
                            }
                        }
                        if ws.flush().await.is_err() {
                            return;
                        }
                        None
                    }
                    Out::RawClose(c, r) => Some((c, r)),
                };
                if let Some((code, reason)) = close {
                    close_gracefully(ws, code, reason).await;
                    return;
                }
                heartbeat.as_mut().reset(Instant::now() + st.heartbeat);
            }
            permit = reserve(&inbound), if !pending.is_empty() => {
                match (permit, pending.pop_front()) {
                    (Some(p), Some(m)) => p.send(m),
                    // The application dropped its receiver: nobody will read.
                    _ => pending.clear(),
                }
            }
            msg = ws.next(), if pending.is_empty() => {
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if raw {
                            pending.push_back(t.as_str().to_owned());
                        } else if !t.is_empty() {
                            match decode_messages(t.as_bytes(), st.limits) {
                                Ok(v) => pending.extend(v),
                                Err(sockjs_core::DecodeError::TooLarge | sockjs_core::DecodeError::TooManyMessages) => {
                                    fail(ws, shared, 1009, "Message too big").await;
                                    return;
                                }
                                // Broken framing: drop the connection at once.
                                Err(_) => {
                                    shared.expire(1002, "Broken framing");
                                    return;
                                }
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        fail(ws, shared, 1003, "Binary frames are not supported").await;
                        return;
                    }
                    Some(Ok(Message::Pong(_))) => {
                        awaiting_pong = false;
                        pong.as_mut().reset(far);
                    }
                    Some(Ok(Message::Close(_))) => {
                        // Reply to the peer's close handshake before leaving.
                        shared.expire(1000, "Normal closure");
                        let _ = ws.flush().await;
                        let _ = tokio::time::timeout(Duration::from_secs(1), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        }).await;
                        return;
                    }
                    Some(Ok(_)) => {
                        // A ping: tungstenite queued the pong; send it.
                        if ws.flush().await.is_err() {
                            return;
                        }
                    }
                    Some(Err(WsError::Capacity(_))) => {
                        fail(ws, shared, 1009, "Message too big").await;
                        return;
                    }
                    Some(Err(WsError::Utf8(_))) => {
                        fail(ws, shared, 1007, "Invalid UTF-8").await;
                        return;
                    }
                    Some(Err(WsError::Protocol(_))) => {
                        fail(ws, shared, 1002, "Protocol error").await;
                        return;
                    }
                    Some(Err(_)) | None => return,
                }
            }
            // The raw endpoint has no heartbeats at all, as in sockjs-node.
            () = &mut heartbeat, if !raw => {
                if ws.feed(Message::Text("h".into())).await.is_err() {
                    return;
                }
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                if let (Some(t), false) = (st.pong_timeout, awaiting_pong) {
                    awaiting_pong = true;
                    pong.as_mut().reset(Instant::now() + t);
                }
                heartbeat.as_mut().reset(Instant::now() + st.heartbeat);
            }
            () = &mut pong, if awaiting_pong => {
                awaiting_pong = false;
                pong.as_mut().reset(far);
                // The close frame goes out through the normal path above.
                shared.close(3000, "No response from heartbeat");
            }
        }
    }
}

/// Ends the session with `code` and closes the websocket with the same code.
async fn fail<S>(ws: WebSocketStream<S>, shared: &Shared, code: u16, reason: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.expire(code, reason);
    close_gracefully(ws, code, reason.into()).await;
}

/// Sends a close frame and waits briefly for the peer's reply, so the
/// closing handshake completes instead of the TCP connection being reset.
async fn close_gracefully<S>(mut ws: WebSocketStream<S>, code: u16, reason: String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::service::new_state;
    use crate::session::ConnInfo;
    use http::HeaderMap;

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
        tokio::spawn(async move {
            let ws = WebSocketStream::from_raw_socket(a, Role::Server, None).await;
            run(state, ws, info(t), raw).await;
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

    #[tokio::test]
    async fn oversized_message_closes_1009() {
        let mut ws = connect(Config::new("").max_message_size(1000), echo, false).await;
        assert_eq!(text(&mut ws).await, "o");
        let big = format!("[\"{}\"]", "x".repeat(1001));
        ws.send(Message::Text(big.into())).await.unwrap();
        assert_eq!(close_frame(&mut ws).await.0, 1009);
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
}
