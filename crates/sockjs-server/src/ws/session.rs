//! One websocket session: frames in, frames out, heartbeats, the pong
//! deadline and the closing handshake, over any byte stream.

use super::guard::{GuardError, ReadProgress};
use super::write::write;
use crate::handler::Handler;
use crate::shared::{ConnInfo, Shared};
use crate::state::{SessionSlot, State};
use futures_util::{SinkExt, StreamExt};
use sockjs_core::{decode_messages, Attach, DecodeLimits, ReceiverId};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Runs one websocket session over any byte stream (tests drive it over an
/// in-memory duplex). `_slot` counts the session until it ends.
#[cfg(test)]
pub(crate) async fn run<H, S>(
    state: Arc<State<H>>,
    ws: WebSocketStream<S>,
    info: ConnInfo,
    raw: bool,
    slot: SessionSlot,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + ReadProgress + Unpin,
{
    run_boxed(state, Box::new(ws), Box::new(info), raw, slot).await;
}

/// [`run`] on boxed values (see `upgrade` for why).
pub(crate) async fn run_boxed<H, S>(
    state: Arc<State<H>>,
    ws: Box<WebSocketStream<S>>,
    info: Box<ConnInfo>,
    raw: bool,
    slot: SessionSlot,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + ReadProgress + Unpin,
{
    let sid = state.next_id();
    let key = sid.0;
    // Out of its box at once: moved out with `*info`, the box itself would
    // be freed only when this function returns, at the session's end.
    let (shared, session) = state.start_session(sid, format!("ws-{key}").into(), unbox(info));
    let Attach::Attached(rid) = shared.attach() else {
        state.end_session(&shared);
        return;
    };
    state.ws_sessions.shard(&key).insert(key, shared.clone());
    // A shutdown triggered between the handshake and this point found no
    // session to close: close it now.
    if state.config.shutdown.is_triggered() {
        let (code, reason) = crate::shutdown::SHUTTING_DOWN;
        shared.close(code, reason);
    }
    let settings = Settings {
        heartbeat: state.config.heartbeat_delay,
        pong_timeout: state.config.websocket_pong_timeout,
        write_timeout: state.config.slow_consumer_timeout,
        limits: state.decode_limits(),
    };
    let inbound = shared.inbound();
    // The application runs in this task, beside the connection (see
    // `pair`); both futures are built in place, held once.
    let app = state.supervised(session);
    super::pair::both(
        connection(&state, &shared, ws, rid, inbound, settings, raw, key, slot),
        app,
    )
    .await;
}

/// Takes a value out of its box and frees the box now.
#[allow(clippy::boxed_local)]
fn unbox<T>(b: Box<T>) -> T {
    *b
}

/// The connection's side of a websocket session: the loop, then the
/// session's end.
#[allow(clippy::too_many_arguments)]
async fn connection<H, S>(
    state: &State<H>,
    shared: &Arc<Shared>,
    ws: Box<WebSocketStream<S>>,
    rid: ReceiverId,
    inbound: Option<crate::inbox::Sender>,
    settings: Settings,
    raw: bool,
    key: u64,
    slot: SessionSlot,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + ReadProgress + Unpin,
{
    drive(ws, shared, rid, inbound, &settings, raw).await;
    // Whatever ended the loop, the session is over.
    shared.expire(1006, "Connection closed");
    shared.detach(rid, false);
    state.ws_sessions.remove_if_same(&key, shared);
    state.end_session(shared);
    // The session no longer counts, even if its application goes on.
    drop(slot);
}

#[derive(Clone, Copy)]
struct Settings {
    heartbeat: Duration,
    pong_timeout: Option<Duration>,
    /// Longest one write may wait for a peer that does not read.
    write_timeout: Option<Duration>,
    limits: DecodeLimits,
}

enum Out {
    Frame(sockjs_core::Outgoing),
    Raw(Vec<sockjs_core::Outbound>),
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

/// Waits for room in the application's queue: false when nobody reads.
async fn room(tx: &Option<crate::inbox::Sender>) -> bool {
    match tx {
        Some(tx) => tx.ready().await,
        None => false,
    }
}

/// Hands pending inbound messages to the application while its queue has
/// room, without waiting. What does not fit stays in `pending` for the
/// `reserve` branch of the loop; on the common path, this saves a trip
/// around the loop (and its polls) per message.
fn forward_now(inbound: &Option<crate::inbox::Sender>, pending: &mut VecDeque<String>) {
    let Some(tx) = inbound else { return };
    while let Some(m) = pending.pop_front() {
        match tx.try_send(m) {
            Ok(()) => {}
            Err(crate::inbox::TrySendError::Full(m)) => {
                pending.push_front(m);
                return;
            }
            // The application dropped its receiver: nobody will read.
            Err(crate::inbox::TrySendError::Closed(_)) => {
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
    inbound: Option<crate::inbox::Sender>,
    st: &Settings,
    raw: bool,
) where
    S: AsyncRead + AsyncWrite + ReadProgress + Unpin,
{
    let mut pending: VecDeque<String> = VecDeque::new();
    // One timer for both deadlines (a timer is over 100 bytes of every
    // idle session): the next heartbeat, due a quiet heartbeat period
    // after the last frame sent, and the pong awaited since a ping. Moving
    // a deadline later only updates `hb_at` or `pong_at`; the timer, when
    // it fires early, is set again to what is due.
    let mut hb_at = crate::clock::after(Instant::now(), st.heartbeat);
    let mut pong_at: Option<Instant> = None;
    let timer = tokio::time::sleep_until(hb_at);
    tokio::pin!(timer);
    // When the ping being waited on went out.
    let mut pinged_at = Instant::now();
    let end = loop {
        tokio::select! {
            out = next_out(shared, rid, raw) => {
                let close = match out {
                    Out::Frame(o) => {
                        if !write(shared, st.write_timeout, ws.send(Message::Text(frame_text(o.frame)))).await {
                            break End::Gone;
                        }
                        o.is_close.then(|| (1000u16, String::new()))
                    }
                    Out::Raw(msgs) => {
                        // Boxed: the largest await of this loop (about 470
                        // bytes), which would otherwise size every idle
                        // session's task (see `fail`).
                        let sent = Box::pin(write(shared, st.write_timeout, async {
                            for m in msgs {
                                ws.feed(Message::Text(raw_text(m))).await?;
                            }
                            ws.flush().await
                        }));
                        if !sent.await {
                            break End::Gone;
                        }
                        None
                    }
                    Out::RawClose(c, r) => Some((c, r)),
                };
                if let Some((code, reason)) = close {
                    break End::Close(code, reason);
                }
                hb_at = crate::clock::after(Instant::now(), st.heartbeat);
            }
            open = room(&inbound), if !pending.is_empty() => {
                if open {
                    // The only producer: the room found is still there.
                    forward_now(&inbound, &mut pending);
                } else {
                    // The application dropped its receiver: nobody will read.
                    pending.clear();
                }
            }
            msg = ws.next(), if pending.is_empty() => {
                // Any complete frame from the peer shows it is alive, as a
                // pong does.
                if matches!(msg, Some(Ok(_))) {
                    pong_at = None;
                }
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if raw {
                            shared.meters.received(1, t.len() as u64);
                            pending.push_back(t.as_str().to_owned());
                            forward_now(&inbound, &mut pending);
                        } else if !t.is_empty() {
                            match decode_messages(t.as_bytes(), st.limits) {
                                Ok(v) => {
                                    shared.meters.received(v.len() as u64, v.iter().map(|m| m.len() as u64).sum());
                                    pending.extend(v);
                                    forward_now(&inbound, &mut pending);
                                }
                                Err(sockjs_core::DecodeError::TooLarge | sockjs_core::DecodeError::TooManyMessages) => {
                                    break End::Fail(1009, "Message too big");
                                }
                                // Broken framing: drop the connection at once.
                                Err(_) => {
                                    shared.expire(1002, "Broken framing");
                                    break End::Gone;
                                }
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        break End::Fail(1003, "Binary frames are not supported");
                    }
                    Some(Ok(Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => {
                        // Reply to the peer's close handshake before leaving.
                        shared.expire(1000, "Normal closure");
                        break End::PeerClosed;
                    }
                    Some(Ok(_)) => {
                        // A ping: tungstenite queued the pong; send it.
                        if !write(shared, st.write_timeout, ws.flush()).await {
                            break End::Gone;
                        }
                    }
                    Some(Err(WsError::Capacity(_))) => {
                        break End::Fail(1009, "Message too big");
                    }
                    Some(Err(WsError::Utf8(_))) => {
                        break End::Fail(1007, "Invalid UTF-8");
                    }
                    Some(Err(WsError::Protocol(_))) => {
                        break End::Fail(1002, "Protocol error");
                    }
                    Some(Err(WsError::Io(e))) if GuardError::TooManyFragments.is(&e) => {
                        break End::Fail(1009, "Message too big");
                    }
                    Some(Err(WsError::Io(e))) if GuardError::FrameTimedOut.is(&e) => {
                        let (code, reason) = FRAME_TIMED_OUT;
                        break End::Fail(code, reason);
                    }
                    Some(Err(_)) | None => break End::Gone,
                }
            }
            // Liveness on both endpoints: a ping after each quiet heartbeat
            // period (with an `h` frame on the framed endpoint, as the
            // protocol wants), and a close when the peer shows no sign of
            // life within the pong timeout. sockjs-node sends nothing on
            // the raw endpoint, so there a silent or stalled client would
            // hold its session forever.
            () = &mut timer => {
                let now = Instant::now();
                if pong_at.is_some_and(|t| now >= t) {
                    pong_at = None;
                    // Not the peer's fault: reading is paused while the
                    // application is behind (its pong may be waiting
                    // unread), or bytes of a frame it is still sending
                    // arrived since the ping (it cannot answer before that
                    // frame ends). The next heartbeat pings again.
                    let paused = !pending.is_empty();
                    let progressed = ws.get_ref().last_read().is_some_and(|t| t >= pinged_at);
                    if !paused && !progressed {
                        // The close frame goes out through the normal path
                        // above (a `c` frame, or the raw endpoint's
                        // websocket close).
                        let (code, reason) = NO_PONG;
                        shared.meters.pong_timeout();
                        tracing::debug!("no pong within the timeout: closing");
                        shared.close(code, reason);
                        timer.as_mut().reset(hb_at);
                        continue;
                    }
                }
                if now >= hb_at {
                    if !raw {
                        shared.meters.heartbeat();
                    }
                    // Boxed: once per heartbeat period, and larger than the
                    // idle state (see `fail`).
                    let sent = Box::pin(write(shared, st.write_timeout, async {
                        if !raw {
                            ws.feed(Message::Text("h".into())).await?;
                        }
                        ws.send(Message::Ping(Default::default())).await
                    }));
                    if !sent.await {
                        break End::Gone;
                    }
                    let now = Instant::now();
                    if let (Some(t), None) = (st.pong_timeout, pong_at) {
                        pinged_at = now;
                        pong_at = Some(crate::clock::after(now, t));
                    }
                    hb_at = crate::clock::after(now, st.heartbeat);
                }
                timer.as_mut().reset(pong_at.map_or(hb_at, |t| t.min(hb_at)));
            }
        }
    };
    // The application's `recv()` ends now, not after the closing handshake.
    drop(inbound);
    match end {
        End::Gone => {}
        End::Close(code, reason) => close_gracefully(ws, code, reason).await,
        End::Fail(code, reason) => fail(ws, shared, code, reason).await,
        End::PeerClosed => {
            // Reply to the peer's close handshake before leaving.
            if write(shared, st.write_timeout, ws.flush()).await {
                // Boxed (rare; see `fail`).
                let _ = Box::pin(tokio::time::timeout(Duration::from_secs(1), async {
                    while let Some(Ok(_)) = ws.next().await {}
                }))
                .await;
            }
        }
    }
}

/// A frame as websocket text. A broadcast's shared frame is sent from its
/// shared bytes (checked as UTF-8, not copied).
fn frame_text(frame: sockjs_core::FrameText) -> Utf8Bytes {
    match frame {
        sockjs_core::FrameText::Owned(s) => s.into(),
        shared => {
            let bytes = shared.into_bytes();
            Utf8Bytes::try_from(bytes.clone()).unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into())
        }
    }
}

/// A message as raw websocket text: a broadcast's from its shared bytes.
fn raw_text(m: sockjs_core::Outbound) -> Utf8Bytes {
    match m {
        sockjs_core::Outbound::Shared(m) => {
            Utf8Bytes::try_from(m.text_bytes()).unwrap_or_else(|_| m.text().to_owned().into())
        }
        other => other.into_string().into(),
    }
}

/// How the session loop ended, and what is left to do on the connection.
enum End {
    /// Nothing: the connection is gone or unusable.
    Gone,
    /// Send a close frame with this code after the session's own frames.
    Close(u16, String),
    /// Close the session and the connection with this code.
    Fail(u16, &'static str),
    /// The peer sent its close frame: answer it and wait for the end.
    PeerClosed,
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

/// The sizes of an idle session's futures.
#[cfg(test)]
mod footprint;
