//! The `idle` scenario: many websocket sessions held open while the
//! server's memory and CPU are sampled, then one echo each.

use super::shared::{ws_close, Error, Plan, Target};
use super::wire::Wire;
use crate::frame::{self, Kind};
use crate::msg::{self, Tracker};
use crate::stats::Counts;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

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

/// Idle sessions: opens `sessions` framed websocket sessions (at most
/// `concurrency` handshakes at a time), samples the server's RSS at each
/// checkpoint, holds them all for `hold` while answering heartbeats and
/// pings, then has every session send one message and checks its echo.
pub(crate) async fn idle(
    t: Arc<Target>,
    p: Arc<Plan>,
    sessions: usize,
    checkpoints: &[usize],
    hold: Duration,
    concurrency: usize,
    pid: Option<&str>,
) -> IdleOutcome {
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::{watch, Semaphore};

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
                let permit = sem.acquire_owned().await.expect("semaphore never closed");
                let ws = Wire::SockJs.open(&t, sid, 4096).await;
                drop(permit);
                settled.fetch_add(1, Ordering::AcqRel);
                progress.notify_one();
                let mut c = Counts::default();
                let mut tr = Tracker::default();
                match ws {
                    Ok(ws) => {
                        if let Err(e) = idle_session(ws, &p, sid, rx, &mut tr, &mut c).await {
                            c.error(e);
                        }
                    }
                    Err(e) => c.error(e),
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

async fn idle_session(
    mut ws: WebSocketStream<TcpStream>,
    p: &Plan,
    sid: u32,
    mut verify: tokio::sync::watch::Receiver<bool>,
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
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(f))) => {
                    match frame::parse(f.as_str(), |m| match msg::decode(m.as_bytes(), p.size) {
                        Some(d) if d.sid == sid => {
                            tr.arrive(d.seq);
                        }
                        _ => tr.corrupt(),
                    }) {
                        Kind::Messages(_) => return Ok(()),
                        Kind::Heartbeat => {}
                        Kind::Open => return Err::<(), Error>("second o frame".into()),
                        Kind::Close(f) => return Err(format!("server closed the session: {f}").into()),
                        Kind::Invalid(f) => return Err(format!("invalid frame {f:?}").into()),
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
    match answered {
        Ok(r) => r?,
        Err(_) => return Err("no echo within 60 s".into()),
    }
    if tr.received == 1 {
        c.measured += 1;
        c.record(t0.elapsed().as_micros() as u64);
    }
    ws_close(ws).await;
    Ok(())
}
