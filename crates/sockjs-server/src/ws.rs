//! WebSocket: handshake validation, upgrade, and the framed and raw session loops.

use crate::body::SockJsBody;
use crate::config::Transport;
use crate::error::HttpError;
use crate::handler::Handler;
use crate::service::{conn_info, next_ws_id, SessionSlot, State};
use crate::session::{Session, Shared};
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use sockjs_core::{decode_messages, Attach, DecodeLimits, ReceiverId};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
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
    // hyper hands out upgrades on HTTP/1.1 only; on HTTP/1.0 (or a
    // websocket handshake over HTTP/2) it is the client's mistake, not a
    // missing capability of the server.
    if parts.version != http::Version::HTTP_11 {
        return Err(HttpError::BadRequest("WebSocket handshakes need HTTP/1.1."));
    }
    // Counted from the handshake on, so the cap is answered with a status
    // (503) rather than a websocket that closes at once.
    let slot = state.try_reserve()?;
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
    // Boxed, as the stream below: this task lives as long as the session,
    // and each value moved by value through its nested futures keeps a
    // copy's room in every one of them (async state machines do not reuse
    // the room of moved-from locals), which made an idle session's task
    // several KiB. Boxes move as pointers.
    let info = Box::new(conn_info(&state.config, &parts, transport));
    let state = state.clone();
    tokio::spawn(async move {
        // In a block, so that `io` is not held across the session's await.
        let ws = {
            let io = match on_upgrade.await {
                Ok(io) => TokioIo::new(io),
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    return;
                }
            };
            Box::new(
                WebSocketStream::from_raw_socket(
                    FragmentGuard::new(io, state.config.max_fragments, state.config.websocket_frame_timeout),
                    Role::Server,
                    Some(ws_config(&state.config, raw)),
                )
                .await,
            )
        };
        run_boxed(state, ws, info, raw, slot).await;
    });
    let mut r = Response::new(SockJsBody::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(r)
}

/// tungstenite's limits. The framed endpoint's messages are JSON: their
/// decoded size (what `max_message_size` bounds, checked after decoding)
/// can be a sixth of their wire size, so the wire is allowed that much.
fn ws_config(config: &crate::config::Config, raw: bool) -> WebSocketConfig {
    let wire = if raw {
        config.max_message_size
    } else {
        config.max_message_size.saturating_mul(6).saturating_add(1024)
    };
    WebSocketConfig::default()
        .max_message_size(Some(wire))
        .max_frame_size(Some(wire))
        // The read buffer is allocated up front and kept for the session's
        // life: at 2 KiB it is half of what it was. 1 KiB saves 1 KiB more
        // per session but costs 5-15% more CPU per message when busy.
        // Reads take at most this much at a time, but a frame's whole
        // length is reserved once its header is read, so larger messages
        // only cost more (cheap) reads, no copies.
        .read_buffer_size(2048)
        // Frames are collected up to 4 KiB and written by the flush that ends
        // each batch (`send` flushes), so a burst of raw echoes costs one
        // write per ~4 KiB instead of one per message. tungstenite keeps the
        // buffer's capacity after a burst, so it is kept small: it only grows
        // past this for a single frame larger than it.
        .write_buffer_size(4 * 1024)
}

/// Runs one websocket session over any byte stream (tests drive it over an
/// in-memory duplex). `_slot` counts the session until it ends.
#[cfg(test)]
pub(crate) async fn run<H, S>(
    state: Arc<State<H>>,
    ws: WebSocketStream<S>,
    info: crate::session::ConnInfo,
    raw: bool,
    slot: SessionSlot,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    run_boxed(state, Box::new(ws), Box::new(info), raw, slot).await;
}

/// [`run`] on boxed values (see `upgrade` for why).
async fn run_boxed<H, S>(
    state: Arc<State<H>>,
    ws: Box<WebSocketStream<S>>,
    info: Box<crate::session::ConnInfo>,
    raw: bool,
    _slot: SessionSlot,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let key = next_ws_id(&state);
    let (shared, rx, info) = state.start_session(format!("ws-{key}").into(), *info);
    let Attach::Attached(rid) = shared.attach() else {
        return;
    };
    state.ws_sessions.shard(&key).insert(key, shared.clone());
    state.spawn_handler(Session::new(shared.clone(), rx, info));
    let settings = Settings {
        heartbeat: state.config.heartbeat_delay,
        pong_timeout: state.config.websocket_pong_timeout,
        write_timeout: state.config.slow_consumer_timeout,
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
    /// Longest one write may wait for a peer that does not read.
    write_timeout: Option<Duration>,
    limits: DecodeLimits,
}

/// Runs one write (send, feed, flush) under the write deadline. False when
/// it failed or the peer did not take the bytes in time; the caller then
/// drops the connection (a close frame could not get through either).
async fn write<F>(shared: &Shared, limit: Option<Duration>, op: F) -> bool
where
    F: std::future::Future<Output = Result<(), WsError>>,
{
    match limit {
        None => op.await.is_ok(),
        Some(t) => match tokio::time::timeout(t, op).await {
            Ok(r) => r.is_ok(),
            Err(_) => {
                let (code, reason) = crate::session::SLOW_CONSUMER;
                tracing::debug!(session = %crate::session::short_id(&shared.id), "websocket peer stopped reading");
                shared.expire(code, reason);
                false
            }
        },
    }
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

/// Hands pending inbound messages to the application while its queue has
/// room, without waiting. What does not fit stays in `pending` for the
/// `reserve` branch of the loop; on the common path, this saves a trip
/// around the loop (and its polls) per message.
fn forward_now(inbound: &Option<mpsc::Sender<String>>, pending: &mut VecDeque<String>) {
    let Some(tx) = inbound else { return };
    while let Some(m) = pending.pop_front() {
        match tx.try_send(m) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(m)) => {
                pending.push_front(m);
                return;
            }
            // The application dropped its receiver: nobody will read.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                pending.clear();
                return;
            }
        }
    }
}

/// The session loop. Inbound messages wait in `pending` until the
/// application has room, and reading pauses meanwhile; outbound frames keep
/// flowing, so an application blocked on a full outbound queue can never
/// deadlock against a full inbound one.
async fn drive<S>(
    mut ws: Box<WebSocketStream<S>>,
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
    let far = crate::clock::after(Instant::now(), crate::MAX_DURATION);
    let pong = tokio::time::sleep_until(far);
    tokio::pin!(pong);
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            out = next_out(shared, rid, raw) => {
                let close = match out {
                    Out::Frame(o) => {
                        if !write(shared, st.write_timeout, ws.send(Message::Text(o.frame.into()))).await {
                            return;
                        }
                        o.is_close.then(|| (1000u16, String::new()))
                    }
                    Out::Raw(msgs) => {
                        // Boxed: the largest await of this loop (about 470
                        // bytes), which would otherwise size every idle
                        // session's task (see `fail`).
                        let sent = Box::pin(write(shared, st.write_timeout, async {
                            for m in msgs {
                                ws.feed(Message::Text(m.into())).await?;
                            }
                            ws.flush().await
                        }));
                        if !sent.await {
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
                heartbeat.as_mut().reset(crate::clock::after(Instant::now(), st.heartbeat));
            }
            permit = reserve(&inbound), if !pending.is_empty() => {
                match (permit, pending.pop_front()) {
                    (Some(p), Some(m)) => p.send(m),
                    // The application dropped its receiver: nobody will read.
                    _ => pending.clear(),
                }
            }
            msg = ws.next(), if pending.is_empty() => {
                // Any complete frame from the peer shows it is alive, as a
                // pong does.
                if matches!(msg, Some(Ok(_))) {
                    awaiting_pong = false;
                    pong.as_mut().reset(far);
                }
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if raw {
                            pending.push_back(t.as_str().to_owned());
                            forward_now(&inbound, &mut pending);
                        } else if !t.is_empty() {
                            match decode_messages(t.as_bytes(), st.limits) {
                                Ok(v) => {
                                    pending.extend(v);
                                    forward_now(&inbound, &mut pending);
                                }
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
                    Some(Ok(Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => {
                        // Reply to the peer's close handshake before leaving.
                        shared.expire(1000, "Normal closure");
                        if !write(shared, st.write_timeout, ws.flush()).await {
                            return;
                        }
                        // Boxed (rare; see `fail`).
                        let _ = Box::pin(tokio::time::timeout(Duration::from_secs(1), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        })).await;
                        return;
                    }
                    Some(Ok(_)) => {
                        // A ping: tungstenite queued the pong; send it.
                        if !write(shared, st.write_timeout, ws.flush()).await {
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
                    Some(Err(WsError::Io(e))) if GuardError::TooManyFragments.is(&e) => {
                        fail(ws, shared, 1009, "Message too big").await;
                        return;
                    }
                    Some(Err(WsError::Io(e))) if GuardError::FrameTimedOut.is(&e) => {
                        let (code, reason) = FRAME_TIMED_OUT;
                        fail(ws, shared, code, reason).await;
                        return;
                    }
                    Some(Err(_)) | None => return,
                }
            }
            // Liveness on both endpoints: a ping after each quiet heartbeat
            // period (with an `h` frame on the framed endpoint, as the
            // protocol wants), and a close when the peer shows no sign of
            // life within the pong timeout. sockjs-node sends nothing on
            // the raw endpoint, so there a silent or stalled client would
            // hold its session forever.
            () = &mut heartbeat => {
                // Boxed: once per heartbeat period, and larger than the
                // idle state (see `fail`).
                let sent = Box::pin(write(shared, st.write_timeout, async {
                    if !raw {
                        ws.feed(Message::Text("h".into())).await?;
                    }
                    ws.send(Message::Ping(Default::default())).await
                }));
                if !sent.await {
                    return;
                }
                if let (Some(t), false) = (st.pong_timeout, awaiting_pong) {
                    awaiting_pong = true;
                    pong.as_mut().reset(crate::clock::after(Instant::now(), t));
                }
                heartbeat.as_mut().reset(crate::clock::after(Instant::now(), st.heartbeat));
            }
            () = &mut pong, if awaiting_pong => {
                awaiting_pong = false;
                pong.as_mut().reset(far);
                // The close frame goes out through the normal path above
                // (a `c` frame, or the raw endpoint's websocket close).
                let (code, reason) = NO_PONG;
                shared.close(code, reason);
            }
        }
    }
}

/// Ends the session with `code` and closes the websocket with the same code.
///
/// Boxed, as [`close_gracefully`]: an async state machine is as large as
/// its largest await, so these end-of-session paths, inline, would make
/// every idle session's task larger.
fn fail<'a, S>(
    ws: Box<WebSocketStream<S>>,
    shared: &'a Shared,
    code: u16,
    reason: &'static str,
) -> Pin<Box<impl Future<Output = ()> + 'a>>
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
{
    Box::pin(async move {
        shared.expire(code, reason);
        close_gracefully(ws, code, reason.into()).await;
    })
}

/// Sends a close frame and waits briefly for the peer's reply, so the
/// closing handshake completes instead of the TCP connection being reset.
/// Bounded as a whole: a peer that reads nothing cannot hold it. Boxed (see
/// [`fail`]).
fn close_gracefully<S>(mut ws: Box<WebSocketStream<S>>, code: u16, reason: String) -> Pin<Box<impl Future<Output = ()>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Box::pin(async move {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            if WebSocketStream::close(&mut ws, Some(frame)).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    })
}

/// The close for a peer that did not answer a heartbeat's ping in time.
const NO_PONG: (u16, &str) = (3000, "No response from heartbeat");

/// The close for a peer that started a frame and did not finish it in time.
const FRAME_TIMED_OUT: (u16, &str) = (1008, "Frame timed out");

/// What a [`FragmentGuard`] fails a read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuardError {
    /// A message has more frames than allowed.
    TooManyFragments,
    /// A frame started and did not finish within the frame timeout.
    FrameTimedOut,
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GuardError::TooManyFragments => "too many fragments in one websocket message",
            GuardError::FrameTimedOut => "websocket frame not finished in time",
        })
    }
}

impl std::error::Error for GuardError {}

impl GuardError {
    fn io(self) -> std::io::Error {
        std::io::Error::other(self)
    }

    fn is(self, e: &std::io::Error) -> bool {
        e.get_ref()
            .and_then(|e| e.downcast_ref::<GuardError>())
            .is_some_and(|g| *g == self)
    }
}

/// Counts the frames of each inbound websocket message as the bytes go by
/// (tungstenite bounds a message's size but not how many fragments build
/// it) and fails the read once a message has more than `max` frames. It
/// also bounds how long one frame may take to arrive once it started
/// (`frame_timeout`): a peer that sends half a frame and stalls fails the
/// read, where otherwise it would hold its session as long as its TCP
/// connection lives. Writes pass through untouched, so the close frame can
/// still be sent.
pub(crate) struct FragmentGuard<S> {
    io: S,
    max: usize,
    /// Frames of the message being assembled (0 between messages).
    frames: usize,
    /// Header bytes gathered so far (at most 14: 2 + 8 length + 4 mask).
    head: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Frames seen in full so far.
    done: u64,
    failed: Option<GuardError>,
    frame_timeout: Option<Duration>,
    /// When the frame in progress started to arrive, if one is.
    started: Option<Instant>,
    /// The frame timeout's timer, created on the first stall (most
    /// frames arrive in one read and never need it).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FragmentGuard<S> {
    pub(crate) fn new(io: S, max: usize, frame_timeout: Option<Duration>) -> Self {
        FragmentGuard {
            io,
            max,
            frames: 0,
            head: [0; 14],
            have: 0,
            skip: 0,
            done: 0,
            failed: None,
            frame_timeout,
            started: None,
            timer: None,
        }
    }

    /// Length of the header whose first two bytes are in `head`.
    fn head_len(&self) -> usize {
        let ext = match self.head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }

    /// True while a frame has started and not fully arrived.
    fn mid_frame(&self) -> bool {
        self.have > 0 || self.skip > 0
    }

    /// Feeds bytes read from the peer; false once the limit is passed.
    fn observe(&mut self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (data.len() as u64).min(self.skip) as usize;
                self.skip -= n as u64;
                data = &data[n..];
                if self.skip == 0 {
                    self.done += 1;
                }
                continue;
            }
            let want = if self.have < 2 { 2 } else { self.head_len() };
            let n = (want - self.have).min(data.len());
            self.head[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < 2 || self.have < self.head_len() {
                continue;
            }
            let fin = self.head[0] & 0x80 != 0;
            let opcode = self.head[0] & 0x0f;
            self.skip = match self.head[1] & 0x7f {
                126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
                127 => u64::from_be_bytes(self.head[2..10].try_into().unwrap_or([0xff; 8])),
                n => u64::from(n),
            };
            self.have = 0;
            if self.skip == 0 {
                self.done += 1;
            }
            // Control frames (opcode 8 and up) may come between fragments
            // and do not count; a data frame starts a message, a
            // continuation (0) extends it.
            if opcode < 8 {
                self.frames = if opcode == 0 { self.frames + 1 } else { 1 };
                if self.frames > self.max {
                    return false;
                }
                if fin {
                    self.frames = 0;
                }
            }
        }
        true
    }

    /// Notes where the frame timer stands after `data` was read.
    fn track(&mut self, done_before: u64) {
        if !self.mid_frame() {
            self.started = None;
        } else if self.started.is_none() || self.done != done_before {
            // A new frame began in this read.
            self.started = Some(Instant::now());
        }
    }

    /// With a read pending: fails once the frame in progress is overdue.
    fn poll_overdue(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let (Some(limit), Some(started)) = (self.frame_timeout, self.started) else {
            return false;
        };
        let deadline = crate::clock::after(started, limit);
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FragmentGuard<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(e) = self.failed {
            return std::task::Poll::Ready(Err(e.io()));
        }
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        match r {
            std::task::Poll::Ready(Ok(())) => {
                let done_before = self.done;
                let this = &mut *self;
                if !this.observe(&buf.filled()[before..]) {
                    this.failed = Some(GuardError::TooManyFragments);
                    return std::task::Poll::Ready(Err(GuardError::TooManyFragments.io()));
                }
                this.track(done_before);
                r
            }
            std::task::Poll::Pending if self.poll_overdue(cx) => {
                self.failed = Some(GuardError::FrameTimedOut);
                std::task::Poll::Ready(Err(GuardError::FrameTimedOut.io()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FragmentGuard<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
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
        let (a, b) = tokio::io::duplex(pipe);
        let state = new_state(config, handler);
        let slot = state.try_reserve().expect("room for a session");
        let st = state.clone();
        tokio::spawn(async move {
            let cfg = ws_config(&st.config, false);
            let io = FragmentGuard::new(a, st.config.max_fragments, st.config.websocket_frame_timeout);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
            run(st.clone(), ws, info(Transport::Websocket), false, slot).await;
        });
        (WebSocketStream::from_raw_socket(b, Role::Client, None).await, state)
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

    #[test]
    fn fragment_guard_parses_split_headers() {
        let mut g = FragmentGuard::new((), 2, None);
        // Masked text frame, not final, 126-length form (300 bytes), fed
        // one byte at a time, then two continuations: the third frame
        // passes the cap.
        let mut frame = vec![0x01, 0x80 | 126, 0x01, 0x2c, 1, 2, 3, 4];
        frame.extend(std::iter::repeat_n(0u8, 300));
        for b in &frame {
            assert!(g.observe(std::slice::from_ref(b)));
        }
        let cont = [0x00, 0x80, 9, 9, 9, 9];
        assert!(g.observe(&cont));
        // A control frame between fragments does not count.
        assert!(g.observe(&[0x89, 0x80, 0, 0, 0, 0]));
        assert!(!g.observe(&cont));
        // Final frames reset the count.
        let mut g = FragmentGuard::new((), 1, None);
        for _ in 0..10 {
            assert!(g.observe(&[0x81, 0x81, 0, 0, 0, 0, b'x']));
        }
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
}
