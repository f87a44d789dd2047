//! The load of each scenario: what one session does, from connect to drain.

use crate::frame::{self, Kind};
use crate::msg::{self, Tracker};
use crate::stats::Counts;
use futures_util::{FutureExt, SinkExt, StreamExt};
use sockjs_testkit::{AsyncConn, Request};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A boxed error with a message, enough for a load generator.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// The server under test.
#[derive(Debug)]
pub(crate) struct Target {
    /// Resolved address.
    pub(crate) addr: SocketAddr,
    /// `host:port` as given, for `Host` headers and websocket URLs.
    pub(crate) authority: String,
    /// The service prefix without trailing `/` (`/echo`), possibly empty.
    pub(crate) prefix: String,
}

/// Timing and shape shared by every session of one scenario run.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Origin of message timestamps.
    pub(crate) epoch: Instant,
    /// End of the warm-up: what completes from here on is measured.
    pub(crate) measure_start: Instant,
    /// End of the measurement: no message is sent after it.
    pub(crate) send_end: Instant,
    /// Sessions give up waiting for outstanding echoes at this instant.
    pub(crate) drain_end: Instant,
    /// Message size in bytes.
    pub(crate) size: usize,
    /// Messages in flight per session.
    pub(crate) in_flight: u64,
}

impl Plan {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn measuring(&self, at: Instant) -> bool {
        at >= self.measure_start && at < self.send_end
    }

    /// Checks one echoed message and records it.
    fn check(&self, sid: u32, m: &[u8], tr: &mut Tracker, c: &mut Counts) {
        match msg::decode(m, self.size) {
            Some(d) if d.sid == sid => {
                let now = Instant::now();
                if tr.arrive(d.seq) && self.measuring(now) {
                    c.measured += 1;
                    c.record(self.now_us().saturating_sub(d.ts_us));
                }
            }
            _ => tr.corrupt(),
        }
    }
}

/// A random-enough session id: the session index plus the clock, so two
/// runs against one server never reuse an id within `disconnect_delay`.
fn session_path(t: &Target, sid: u32, transport: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}/{:03}/b{sid:x}x{:x}/{transport}",
        t.prefix,
        sid % 1000,
        nanos & 0xffff_ffff_ffff
    )
}

/// Longest wait for a connection, a handshake or an `o` frame: a server that
/// stops accepting (a connection cap, say) must show up as errors, not hang
/// the run.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The `Content-Type` sockjs-client's XHR transports send.
const TEXT_PLAIN: &[(&str, &str)] = &[("Content-Type", "text/plain;charset=UTF-8")];

/// Connects a websocket to `path`, with `read_buffer` bytes of read buffer.
pub(crate) async fn ws_connect(
    t: &Target,
    path: &str,
    read_buffer: usize,
) -> Result<WebSocketStream<TcpStream>, Error> {
    let connect = async {
        let stream = TcpStream::connect(t.addr).await?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}{}", t.authority, path);
        let config = WebSocketConfig::default().read_buffer_size(read_buffer);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        Ok::<_, Error>(ws)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
        .await
        .map_err(|_| format!("no websocket handshake within {HANDSHAKE_TIMEOUT:?}"))?
}

/// Connects a framed SockJS websocket session and reads its `o` frame.
pub(crate) async fn ws_open(t: &Target, sid: u32, read_buffer: usize) -> Result<WebSocketStream<TcpStream>, Error> {
    let mut ws = ws_connect(t, &session_path(t, sid, "websocket"), read_buffer).await?;
    let open = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(f))) if f.as_str() == "o" => return Ok(()),
                Some(Ok(Message::Text(f))) => return Err(format!("expected o, got {:?}", f.as_str()).into()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => return Err(format!("expected o, got {other:?}").into()),
                Some(Err(e)) => return Err(e.into()),
                None => return Err("connection closed before o".into()),
            }
        }
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, open).await {
        Ok(Ok(())) => Ok(ws),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no o frame within {HANDSHAKE_TIMEOUT:?}").into()),
    }
}

/// Sends a close frame and waits (briefly) for the server's answer.
pub(crate) async fn ws_close(mut ws: WebSocketStream<TcpStream>) {
    if ws.close(None).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
}

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

/// What the two halves of an xhr session share.
#[derive(Debug, Default)]
struct XhrShared {
    sent: AtomicU64,
    received: AtomicU64,
    opened: AtomicBool,
    finished: AtomicBool,
    wake_sender: Notify,
}

/// Xhr echo: a receiver (`xhr_streaming`, reopened whenever the server ends
/// the response at its response limit, or `xhr` polls one after the other)
/// and a sender posting `xhr_send` batches on its own keep-alive connection,
/// one at a time so that order is the client's.
pub(crate) async fn xhr(t: Arc<Target>, p: Arc<Plan>, sid: u32, streaming: bool) -> Counts {
    let shared = Arc::new(XhrShared::default());
    let base = session_path(&t, sid, "");
    let sender = tokio::spawn(xhr_sender(
        t.clone(),
        p.clone(),
        sid,
        format!("{base}xhr_send"),
        shared.clone(),
    ));
    let mut c = Counts::default();
    let mut tr = Tracker::default();
    let transport = if streaming { "xhr_streaming" } else { "xhr" };
    if let Err(e) = xhr_receiver(&t, &p, sid, &format!("{base}{transport}"), &shared, &mut tr, &mut c).await {
        c.error(e);
    }
    shared.finished.store(true, Ordering::Release);
    shared.wake_sender.notify_one();
    match sender.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => c.error(e),
        Err(e) => c.error(e),
    }
    tr.sent = shared.sent.load(Ordering::Acquire);
    c.add_tracker(&tr);
    c
}

async fn xhr_sender(t: Arc<Target>, p: Arc<Plan>, sid: u32, path: String, s: Arc<XhrShared>) -> Result<(), Error> {
    let mut conn = AsyncConn::new(t.addr, t.authority.clone());
    let mut body = Vec::new();
    let mut resp = Vec::new();
    let mut sent = 0u64;
    loop {
        // Registered before the checks so that a wake-up between a check
        // and the wait is not lost.
        let woken = s.wake_sender.notified();
        if s.finished.load(Ordering::Acquire) || Instant::now() >= p.send_end {
            return Ok(());
        }
        let outstanding = sent - s.received.load(Ordering::Acquire);
        if !s.opened.load(Ordering::Acquire) || outstanding >= p.in_flight {
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep_until(p.send_end.into()) => {}
            }
            continue;
        }
        let n = p.in_flight - outstanding;
        let ts = p.now_us();
        let msgs: Vec<String> = (sent..sent + n)
            .map(|q| msg::encode_string(sid, q, ts, p.size))
            .collect();
        body.clear();
        frame::encode_array(&mut body, msgs.iter().map(|m| m.as_bytes()));
        sent += n;
        // Published before the request: an echo may come back before the
        // response to this request does.
        s.sent.store(sent, Ordering::Release);
        let status = conn
            .start(Request::new("POST", &path).headers(TEXT_PLAIN).body(&body))
            .await?;
        resp.clear();
        conn.read_body(&mut resp).await?;
        if status != 204 && status != 200 {
            return Err(format!("xhr_send: status {status}: {}", String::from_utf8_lossy(&resp)).into());
        }
    }
}

async fn xhr_receiver(
    t: &Target,
    p: &Plan,
    sid: u32,
    path: &str,
    s: &XhrShared,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    let mut conn = AsyncConn::new(t.addr, t.authority.clone());
    let mut buf = Vec::new();
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    let done = |tr: &Tracker| {
        Instant::now() >= p.send_end
            && s.opened.load(Ordering::Acquire)
            && tr.received == s.sent.load(Ordering::Acquire)
    };
    loop {
        if done(tr) {
            return Ok(());
        }
        let status = tokio::select! {
            biased;
            r = conn.start(Request::new("POST", path).headers(TEXT_PLAIN)) => r?,
            _ = &mut deadline => return Ok(()),
        };
        if status != 200 {
            let mut body = Vec::new();
            let _ = conn.read_body(&mut body).await;
            return Err(format!("{path}: status {status}: {}", String::from_utf8_lossy(&body)).into());
        }
        buf.clear();
        loop {
            let more = tokio::select! {
                biased;
                r = conn.body_data(&mut buf) => r?,
                _ = &mut deadline => return Ok(()),
            };
            if !more {
                break;
            }
            let mut start = 0;
            while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                let line = &buf[start..start + nl];
                start += nl + 1;
                if line.len() > 1 && line.iter().all(|&b| b == b'h') {
                    continue; // the xhr-streaming prelude
                }
                let line = std::str::from_utf8(line).map_err(|_| "frame is not UTF-8")?;
                tr.sent = s.sent.load(Ordering::Acquire);
                match frame::parse(line, |m| p.check(sid, m.as_bytes(), tr, c)) {
                    Kind::Open => {
                        if s.opened.swap(true, Ordering::AcqRel) {
                            return Err("second o frame".into());
                        }
                    }
                    Kind::Heartbeat | Kind::Messages(_) => {}
                    Kind::Close(f) => return Err(format!("server closed the session: {f}").into()),
                    Kind::Invalid(f) => return Err(format!("invalid frame {f:?}").into()),
                }
            }
            buf.drain(..start);
            s.received.store(tr.received, Ordering::Release);
            s.wake_sender.notify_one();
            if done(tr) {
                return Ok(());
            }
        }
        if !buf.is_empty() {
            return Err(format!("response ended inside a frame: {:?}", String::from_utf8_lossy(&buf)).into());
        }
    }
}

/// Session establishment loops: `GET /info` (keep-alive), then a websocket
/// session until its `o` frame, then a clean close; one establishment per
/// iteration, its duration recorded as latency.
pub(crate) async fn establish(t: Arc<Target>, p: Arc<Plan>, worker: u32) -> Counts {
    let mut c = Counts::default();
    let mut conn = AsyncConn::new(t.addr, t.authority.clone());
    let mut body = Vec::new();
    let info = format!("{}/info", t.prefix);
    let mut n = 0u32;
    while Instant::now() < p.send_end {
        let t0 = Instant::now();
        let r: Result<(), Error> = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            body.clear();
            let status = conn.start(Request::new("GET", &info)).await?;
            conn.read_body(&mut body).await?;
            if status != 200 || !body.windows(16).any(|w| w == b"\"websocket\":true") {
                return Err(format!("/info: status {status}: {}", String::from_utf8_lossy(&body)).into());
            }
            let ws = ws_open(&t, worker.wrapping_mul(1 << 20).wrapping_add(n), 4096).await?;
            ws_close(ws).await;
            Ok(())
        })
        .await
        .unwrap_or_else(|_| Err(format!("no establishment within {HANDSHAKE_TIMEOUT:?}").into()));
        n = n.wrapping_add(1);
        c.sent += 1;
        match r {
            Ok(()) => {
                c.received += 1;
                if p.measuring(t0) && p.measuring(Instant::now()) {
                    c.measured += 1;
                    c.record(t0.elapsed().as_micros() as u64);
                }
            }
            Err(e) => {
                c.lost += 1;
                c.error(e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    c
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
                let ws = ws_open(&t, sid, 4096).await;
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
