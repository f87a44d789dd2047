//! The websocket scenarios (`ws`, `raw-ws`): echo over one websocket per
//! session, SockJS-framed or raw.

use super::shared::{ws_close, ws_connect, ws_open, Error, Plan, Target};
use crate::frame::{self, Kind};
use crate::msg::{self, Tracker};
use crate::stats::Counts;
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Websocket echo, SockJS-framed (`raw == false`) or raw.
pub(crate) async fn websocket(t: Arc<Target>, p: Arc<Plan>, sid: u32, raw: bool) -> Counts {
    let mut c = Counts::default();
    let mut tr = Tracker::default();
    if let Err(e) = websocket_inner(&t, &p, sid, raw, &mut tr, &mut c).await {
        c.error(e);
    }
    c.add_tracker(&tr);
    c
}

async fn websocket_inner(
    t: &Target,
    p: &Plan,
    sid: u32,
    raw: bool,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    // tungstenite zero-fills up to `read_buffer_size` bytes before every
    // read: a small buffer keeps that memset off the client's profile.
    let mut ws = if raw {
        ws_connect(t, &format!("{}/websocket", t.prefix), 8 * 1024).await?
    } else {
        ws_open(t, sid, 8 * 1024).await?
    };
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    loop {
        let now = Instant::now();
        if now < p.send_end {
            if tr.outstanding() < p.in_flight {
                let ts = p.now_us();
                while tr.outstanding() < p.in_flight {
                    let m = msg::encode_string(sid, tr.sent, ts, p.size);
                    let text = if raw { m } else { format!("[\"{m}\"]") };
                    ws.feed(Message::text(text)).await?;
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
        handle_ws(next, p, sid, raw, tr, c)?;
        // Take whatever else already arrived before sending again, so that
        // one write carries the replacements of many echoes (the client
        // must not be what limits).
        for _ in 0..256 {
            match ws.next().now_or_never() {
                Some(next) => handle_ws(next, p, sid, raw, tr, c)?,
                None => break,
            }
        }
    }
    ws_close(ws).await;
    Ok(())
}

fn handle_ws(
    next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    p: &Plan,
    sid: u32,
    raw: bool,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    match next {
        Some(Ok(Message::Text(f))) => {
            if raw {
                p.check(sid, f.as_bytes(), tr, c);
            } else {
                match frame::parse(f.as_str(), |m| p.check(sid, m.as_bytes(), tr, c)) {
                    Kind::Messages(_) | Kind::Heartbeat => {}
                    Kind::Open => return Err("second o frame".into()),
                    Kind::Close(f) => return Err(format!("server closed the session: {f}").into()),
                    Kind::Invalid(f) => return Err(format!("invalid frame {f:?}").into()),
                }
            }
            Ok(())
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
        Some(Ok(Message::Binary(_))) => Err("binary message from the server".into()),
        Some(Ok(Message::Close(f))) => Err(format!("server closed the websocket: {f:?}").into()),
        Some(Err(e)) => Err(e.into()),
        None => Err("connection closed by the server".into()),
    }
}
