//! The websocket echo scenarios (`ws`, `raw-ws`, `sio-ws`): echo over one
//! websocket per session, SockJS-framed, raw, or as Socket.IO events.

use super::shared::{ws_close, Error, Plan, Target};
use super::wire::{Reply, Wire, Ws};
use crate::msg::{self, Tracker};
use crate::stats::Counts;
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Websocket echo over `wire`.
pub(crate) async fn websocket(t: Arc<Target>, p: Arc<Plan>, sid: u32, wire: Wire) -> Counts {
    let mut c = Counts::default();
    let mut tr = Tracker::default();
    if let Err(e) = websocket_inner(&t, &p, sid, wire, &mut tr, &mut c).await {
        c.error(e);
    }
    c.add_tracker(&tr);
    c
}

async fn websocket_inner(
    t: &Target,
    p: &Plan,
    sid: u32,
    wire: Wire,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    // tungstenite zero-fills up to `read_buffer_size` bytes before every
    // read: a small buffer keeps that memset off the client's profile.
    let mut ws = wire.open(t, sid, 8 * 1024).await?;
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    loop {
        let now = Instant::now();
        if now < p.send_end {
            if tr.outstanding() < p.in_flight {
                let ts = p.now_us();
                while tr.outstanding() < p.in_flight {
                    let m = msg::encode_string(sid, tr.sent, ts, p.size);
                    ws.feed(Message::text(wire.wrap(&m))).await?;
                    tr.sent += 1;
                }
                ws.flush().await?;
            }
        } else if tr.outstanding() == 0 {
            break;
        }
        let next = tokio::select! {
            biased;
            m = ws.next() => m,
            _ = &mut deadline => break,
        };
        handle(&mut ws, wire, next, p, sid, tr, c).await?;
        // Take whatever else already arrived before sending again, so that
        // one write carries the replacements of many echoes (the client
        // must not be what limits).
        for _ in 0..256 {
            match ws.next().now_or_never() {
                Some(next) => handle(&mut ws, wire, next, p, sid, tr, c).await?,
                None => break,
            }
        }
    }
    ws_close(ws).await;
    Ok(())
}

async fn handle(
    ws: &mut Ws,
    wire: Wire,
    next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    p: &Plan,
    sid: u32,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    match wire.read_message(next, |m| {
        p.check(sid, m.as_bytes(), tr, c);
    })? {
        Reply::None => Ok(()),
        Reply::Send(f) => Ok(ws.send(Message::text(f)).await?),
    }
}
