//! The websocket echo scenarios (`ws`, `raw-ws`, `sio-ws`): echo over one
//! websocket per session, SockJS-framed, raw, or as Socket.IO events.
//!
//! Every session opens first (a bounded number of handshakes at a time);
//! the run's clock starts once all are open, so that the warm-up warms
//! and the measured window holds echoes only, whatever the session count.
//! Then each session either keeps `in_flight` messages outstanding (closed
//! loop: the server's capacity) or, with a rate, sends on its own schedule
//! whatever comes back (open loop: latency at a given load; see
//! [`crate::pace`]).

use super::shared::{measure, ws_close, Error, Measured, Plan, Target};
use super::wire::{Reply, Wire, Ws};
use crate::msg::{self, Tracker};
use crate::pace::{self, Pace};
use crate::stats::Counts;
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// The shape of a websocket echo run.
#[derive(Debug, Clone)]
pub(crate) struct Echo {
    /// The protocol on the websockets.
    pub(crate) wire: Wire,
    /// Sessions.
    pub(crate) sessions: usize,
    /// Closed loop: messages outstanding per session.
    pub(crate) in_flight: u64,
    /// Open loop: messages per second per session (`in_flight` unused).
    pub(crate) rate: Option<f64>,
    /// Message size in bytes.
    pub(crate) size: usize,
    /// Warm-up after every session is open.
    pub(crate) warmup: Duration,
    /// Measured duration.
    pub(crate) duration: Duration,
    /// Longest wait for outstanding echoes after the last send.
    pub(crate) drain: Duration,
    /// Concurrent handshakes while opening sessions.
    pub(crate) connect_concurrency: usize,
}

/// Runs one websocket echo against `t`; `pid` is the server's, for CPU
/// and RSS.
pub(crate) async fn websocket_echo(t: Arc<Target>, e: Echo, pid: Option<&str>) -> Measured {
    // tungstenite zero-fills up to `read_buffer_size` bytes before every
    // read: a small buffer keeps that memset off the client's profile.
    let read_buffer = if e.rate.is_some() { 4096 } else { 8 * 1024 };
    let sem = Arc::new(Semaphore::new(e.connect_concurrency.max(1)));
    let opening: Vec<_> = (0..e.sessions)
        .map(|i| {
            let (t, sem, wire) = (t.clone(), sem.clone(), e.wire);
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore never closed");
                wire.open(&t, i as u32, read_buffer).await
            })
        })
        .collect();
    let mut opened = Vec::with_capacity(e.sessions);
    for h in opening {
        opened.push(match h.await {
            Ok(r) => r,
            Err(e) => Err(e.into()),
        });
    }

    let p = Arc::new(Plan::starting_now(e.warmup, e.duration, e.drain, e.size, e.in_flight));
    let seed = pace::seed();
    let sessions = opened
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let sid = i as u32;
            let pace = e.rate.map(|r| Pace::new(r, sid, seed));
            tokio::spawn(session(ws, e.wire, p.clone(), sid, pace))
        })
        .collect();
    measure(&p, pid, sessions).await
}

/// One session from its opened websocket (or the error that kept it from
/// opening) to the end of the drain.
async fn session(ws: Result<Ws, Error>, wire: Wire, p: Arc<Plan>, sid: u32, pace: Option<Pace>) -> Counts {
    let mut c = Counts::default();
    let mut tr = Tracker::default();
    let r = match ws {
        Ok(mut ws) => {
            let r = match pace {
                None => closed_loop(&mut ws, wire, &p, sid, &mut tr, &mut c).await,
                Some(pace) => open_loop(&mut ws, wire, &p, sid, pace, &mut tr, &mut c).await,
            };
            if r.is_ok() {
                ws_close(ws).await;
            }
            r
        }
        Err(e) => Err(e),
    };
    if let Err(e) = r {
        c.error(e);
    }
    c.add_tracker(&tr);
    c
}

/// Keeps `p.in_flight` messages outstanding until the end of the window,
/// then waits for the last echoes.
async fn closed_loop(
    ws: &mut Ws,
    wire: Wire,
    p: &Plan,
    sid: u32,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
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
            return Ok(());
        }
        let next = tokio::select! {
            biased;
            m = ws.next() => m,
            _ = &mut deadline => return Ok(()),
        };
        handle(ws, wire, next, p, sid, tr, c).await?;
        // Take whatever else already arrived before sending again, so that
        // one write carries the replacements of many echoes (the client
        // must not be what limits).
        for _ in 0..256 {
            match ws.next().now_or_never() {
                Some(next) => handle(ws, wire, next, p, sid, tr, c).await?,
                None => break,
            }
        }
    }
}

/// Sends message `k` at `pace.due(epoch, k)`, stamped with that scheduled
/// time, whatever is outstanding; then waits for the last echoes.
async fn open_loop(
    ws: &mut Ws,
    wire: Wire,
    p: &Plan,
    sid: u32,
    pace: Pace,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    loop {
        let due = pace.due(p.epoch, tr.sent);
        let sending = due < p.send_end;
        if !sending && tr.outstanding() == 0 {
            return Ok(());
        }
        let next = tokio::select! {
            biased;
            m = ws.next() => Some(m),
            () = tokio::time::sleep_until(due.into()), if sending => None,
            _ = &mut deadline => return Ok(()),
        };
        if let Some(next) = next {
            handle(ws, wire, next, p, sid, tr, c).await?;
            continue;
        }
        // Everything due by now (more than one only if this task ran late).
        let now = Instant::now();
        loop {
            let due = pace.due(p.epoch, tr.sent);
            if due > now || due >= p.send_end {
                break;
            }
            if p.measuring(due) {
                c.lag_max_us = c.lag_max_us.max(now.duration_since(due).as_micros() as u64);
            }
            let ts = pace.offset(tr.sent).as_micros() as u64;
            let m = msg::encode_string(sid, tr.sent, ts, p.size);
            ws.feed(Message::text(wire.wrap(&m))).await?;
            tr.sent += 1;
        }
        ws.flush().await?;
    }
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
