//! The `idle` scenario: many sessions (websocket, xhr-streaming or
//! eventsource) held open while the server's memory and CPU are sampled,
//! then one echo each.

use super::shared::{session_path, ws_close, Error, Plan, Target};
use super::wire::{Wire, Ws};
use super::xhr::{XhrReceiver, TEXT_PLAIN};
use crate::frame::{self, Kind};
use crate::msg::{self, Tracker};
use crate::stats::Counts;
use futures_util::{SinkExt, StreamExt};
use sockjs_testkit::{AsyncConn, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// How the idle sessions receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdleTransport {
    /// A SockJS-framed websocket.
    Websocket,
    /// An `xhr_streaming` response, sends with `xhr_send`.
    XhrStreaming,
    /// An `eventsource` response, sends with `xhr_send`.
    EventSource,
}

impl IdleTransport {
    /// The transport of a `--transport` value.
    pub(crate) fn parse(s: &str) -> Option<IdleTransport> {
        match s {
            "websocket" => Some(IdleTransport::Websocket),
            "xhr-streaming" => Some(IdleTransport::XhrStreaming),
            "eventsource" => Some(IdleTransport::EventSource),
            _ => None,
        }
    }

    /// Its `--transport` value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            IdleTransport::Websocket => "websocket",
            IdleTransport::XhrStreaming => "xhr-streaming",
            IdleTransport::EventSource => "eventsource",
        }
    }
}

/// What the idle scenario saw.
#[derive(Debug)]
pub(crate) struct IdleOutcome {
    /// One verification echo per session: `measured` = sessions that
    /// answered, latency = that echo's round trip.
    pub(crate) counts: Counts,
    /// Server RSS (KiB) before the first session.
    pub(crate) base_rss_kib: Option<u64>,
    /// `(sessions open, server RSS KiB)` at each checkpoint.
    pub(crate) checkpoints: Vec<(usize, Option<u64>)>,
    /// Server CPU use (percent of one core) while the sessions were idle.
    pub(crate) idle_cpu_percent: Option<f64>,
}

/// An open idle session.
enum Conn {
    Ws(Ws),
    /// The receiver, and the session's `xhr_send` path.
    Http(XhrReceiver, String),
}

impl Conn {
    async fn open(t: &Target, transport: IdleTransport, sid: u32) -> Result<Conn, Error> {
        let base = session_path(t, sid, "");
        match transport {
            IdleTransport::Websocket => Ok(Conn::Ws(Wire::SockJs.open(t, sid, 4096).await?)),
            IdleTransport::XhrStreaming => Ok(Conn::Http(
                XhrReceiver::open(t, &format!("{base}xhr_streaming")).await?,
                format!("{base}xhr_send"),
            )),
            IdleTransport::EventSource => Ok(Conn::Http(
                XhrReceiver::open_eventsource(t, &format!("{base}eventsource")).await?,
                format!("{base}xhr_send"),
            )),
        }
    }
}

/// Idle sessions: opens `sessions` sessions over `transport` (at most
/// `concurrency` handshakes at a time), samples the server's RSS at each
/// checkpoint, holds them all for `hold` while answering heartbeats and
/// pings, then has every session send one message (at most `concurrency`
/// `xhr_send` requests at a time) and checks its echo.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn idle(
    t: Arc<Target>,
    p: Arc<Plan>,
    transport: IdleTransport,
    sessions: usize,
    checkpoints: &[usize],
    hold: Duration,
    concurrency: usize,
    pid: Option<&str>,
) -> IdleOutcome {
    let settle = || tokio::time::sleep(Duration::from_secs(1));
    let sample_rss = |pid: Option<&str>| pid.and_then(crate::stats::sample).map(|s| s.rss_kib);
    settle().await;
    let base_rss_kib = sample_rss(pid);
    let (verify_tx, verify_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let settled = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let mut tasks = Vec::with_capacity(sessions);
    let mut points = Vec::new();
    let mut marks: Vec<usize> = checkpoints.iter().copied().filter(|&c| c > 0 && c < sessions).collect();
    marks.push(sessions);
    marks.sort_unstable();
    marks.dedup();
    for mark in marks {
        while tasks.len() < mark {
            let sid = tasks.len() as u32;
            let (t, p, sem, settled, progress, rx) = (
                t.clone(),
                p.clone(),
                sem.clone(),
                settled.clone(),
                progress.clone(),
                verify_rx.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let permit = sem.acquire().await.expect("semaphore never closed");
                let conn = Conn::open(&t, transport, sid).await;
                drop(permit);
                settled.fetch_add(1, Ordering::AcqRel);
                progress.notify_one();
                let mut c = Counts::default();
                let mut tr = Tracker::default();
                let r = match conn {
                    Ok(Conn::Ws(ws)) => idle_ws(ws, &p, sid, rx, &mut tr, &mut c).await,
                    Ok(Conn::Http(r, send)) => idle_http(r, &send, &t, &p, sid, rx, &sem, &mut tr, &mut c).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    c.error(e);
                }
                c.add_tracker(&tr);
                c
            }));
        }
        loop {
            let woken = progress.notified();
            if settled.load(Ordering::Acquire) >= mark {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), woken).await;
        }
        settle().await;
        points.push((mark, sample_rss(pid)));
    }
    let before = pid.and_then(crate::stats::sample);
    tokio::time::sleep(hold).await;
    let after = pid.and_then(crate::stats::sample);
    let idle_cpu_percent = before.zip(after).map(|(a, b)| crate::stats::cpu_percent(&a, &b));
    let _ = verify_tx.send(true);
    let mut counts = Counts::default();
    for task in tasks {
        match task.await {
            Ok(c) => counts.merge(c),
            Err(e) => counts.error(e),
        }
    }
    IdleOutcome {
        counts,
        base_rss_kib,
        checkpoints: points,
        idle_cpu_percent,
    }
}

/// Longest wait for the verification echo.
const ECHO_TIMEOUT: Duration = Duration::from_secs(60);

/// Checks the messages of frame `f`: `Ok(true)` once it carried messages.
fn verify_frame(f: &str, p: &Plan, sid: u32, tr: &mut Tracker) -> Result<bool, Error> {
    match frame::parse(f, |m| match msg::decode(m.as_bytes(), p.size) {
        Some(d) if d.sid == sid => {
            tr.arrive(d.seq);
        }
        _ => tr.corrupt(),
    }) {
        Kind::Messages(_) => Ok(true),
        Kind::Heartbeat => Ok(false),
        Kind::Open => Err("second o frame".into()),
        Kind::Close(f) => Err(format!("server closed the session: {f}").into()),
        Kind::Invalid(f) => Err(format!("invalid frame {f:?}").into()),
    }
}

/// Records the verification echo's round trip, if it arrived.
fn answered(t0: Instant, tr: &Tracker, c: &mut Counts) {
    if tr.received == 1 {
        c.measured += 1;
        c.record(t0.elapsed().as_micros() as u64);
    }
}

async fn idle_ws(
    mut ws: Ws,
    p: &Plan,
    sid: u32,
    mut verify: watch::Receiver<bool>,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    // Idle: answer pings (tungstenite does while reading), accept heartbeats.
    loop {
        tokio::select! {
            r = verify.changed() => { r?; break; }
            m = ws.next() => match m {
                Some(Ok(Message::Text(f))) if f.as_str() == "h" => {}
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(other)) => return Err(format!("unexpected message while idle: {other:?}").into()),
                Some(Err(e)) => return Err(e.into()),
                None => return Err("connection closed while idle".into()),
            }
        }
    }
    let t0 = Instant::now();
    let m = msg::encode_string(sid, 0, p.now_us(), p.size);
    tr.sent = 1;
    ws.send(Message::text(format!("[\"{m}\"]"))).await?;
    let echo = tokio::time::timeout(ECHO_TIMEOUT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(f))) => {
                    if verify_frame(f.as_str(), p, sid, tr)? {
                        return Ok::<(), Error>(());
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(other)) => return Err(format!("unexpected message: {other:?}").into()),
                Some(Err(e)) => return Err(e.into()),
                None => return Err("connection closed before the echo".into()),
            }
        }
    })
    .await;
    echo.map_err(|_| format!("no echo within {ECHO_TIMEOUT:?}"))??;
    answered(t0, tr, c);
    ws_close(ws).await;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn idle_http(
    mut r: XhrReceiver,
    send: &str,
    t: &Target,
    p: &Plan,
    sid: u32,
    mut verify: watch::Receiver<bool>,
    sem: &Semaphore,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    // Idle: accept heartbeats. The response limit is far off (a heartbeat
    // every 25 s), so `next_line` is waiting on body data, which is cancel
    // safe, when the verification starts.
    loop {
        tokio::select! {
            v = verify.changed() => { v?; break; }
            l = r.next_line() => match l? {
                Some("h") | None => {}
                Some(other) => return Err(format!("unexpected frame while idle: {other:?}").into()),
            }
        }
    }
    let t0 = Instant::now();
    let m = msg::encode_string(sid, 0, p.now_us(), p.size);
    tr.sent = 1;
    {
        // A connection of its own, for this one request: at most
        // `concurrency` at a time beside the thousands held open.
        let _permit = sem.acquire().await?;
        let mut conn = AsyncConn::new(t.addr, t.authority.clone());
        let body = format!("[\"{m}\"]");
        let status = conn
            .start(Request::new("POST", send).headers(TEXT_PLAIN).body(body.as_bytes()))
            .await?;
        let mut resp = Vec::new();
        conn.read_body(&mut resp).await?;
        if status != 204 && status != 200 {
            return Err(format!("xhr_send: status {status}: {}", String::from_utf8_lossy(&resp)).into());
        }
    }
    let echo = tokio::time::timeout(ECHO_TIMEOUT, async {
        loop {
            if let Some(f) = r.next_line().await? {
                if verify_frame(f, p, sid, tr)? {
                    return Ok::<(), Error>(());
                }
            }
        }
    })
    .await;
    echo.map_err(|_| format!("no echo within {ECHO_TIMEOUT:?}"))??;
    answered(t0, tr, c);
    Ok(())
}
