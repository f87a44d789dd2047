//! Run with: `cargo run --release -p sockjs-bench --bin sockjs-soak -- --duration 180`
//!
//! A bounded soak test. It starts an echo server as a child process (this
//! same program with `--serve`), then for `--duration` seconds keeps
//! `--workers` clients busy opening sessions over every transport
//! (websocket, xhr-polling, xhr-streaming, eventsource, htmlfile,
//! jsonp-polling), exchanging sequence-numbered messages and checking each
//! comes back once and in order, aborting some sessions mid-way and
//! abandoning others so they time out. The server runs with a small
//! `response_limit`, so streaming receivers roll over many times.
//!
//! At the end it waits for the server's live-session count to return to 0
//! and prints: sessions served, messages verified, losses (must be 0), and
//! the server's resident memory (VmRSS) at start, peak and end. It exits
//! with status 1 on any loss, protocol error or leaked session.
//!
//! Flags: `--duration SECS` (60, split over the rounds), `--rounds N` (3:
//! the load stops after each round until every session is reclaimed, and
//! the memory is read then), `--workers N` (100), `--messages N` per session
//! (20), `--disconnect-delay-ms N` (1000), `--response-limit N` (4096).
//!
//! Connecting is retried (5 s per attempt, 3 attempts) and the retries are
//! counted: client and server share the machine, and a SYN dropped by a
//! full listen queue costs the client a kernel back-off, not the server a
//! fault.

use futures_util::{SinkExt, StreamExt};
use sockjs_testkit::{AsyncConn, Request};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone)]
struct Opts {
    duration: Duration,
    workers: usize,
    messages: usize,
    disconnect_ms: u64,
    response_limit: usize,
    rounds: usize,
}

fn parse() -> Result<(Opts, bool), String> {
    let mut o = Opts {
        duration: Duration::from_secs(60),
        workers: 100,
        messages: 20,
        disconnect_ms: 1000,
        response_limit: 4096,
        rounds: 3,
    };
    let mut serve = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || -> Result<u64, String> {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .parse()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--duration" => o.duration = Duration::from_secs(num()?),
            "--workers" => o.workers = num()?.max(1) as usize,
            "--messages" => o.messages = num()?.max(1) as usize,
            "--disconnect-delay-ms" => o.disconnect_ms = num()?,
            "--response-limit" => o.response_limit = num()? as usize,
            "--rounds" => o.rounds = num()?.max(1) as usize,
            "--serve" => serve = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok((o, serve))
}

fn main() {
    let (opts, serve) = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if serve {
        rt.block_on(run_server(opts));
    } else {
        let ok = rt.block_on(run_soak(opts));
        std::process::exit(if ok { 0 } else { 1 });
    }
}

// ---------------------------------------------------------------------------
// Server side (child process)
// ---------------------------------------------------------------------------

async fn echo(mut s: sockjs_server::Session) {
    while let Some(m) = s.recv().await {
        if s.send(m).await.is_err() {
            break;
        }
    }
}

async fn run_server(o: Opts) {
    use sockjs_server::{serve, Config, SockJsService};
    let config = Config::new("/echo")
        .disconnect_delay(Duration::from_millis(o.disconnect_ms))
        .heartbeat_delay(Duration::from_secs(2))
        .websocket_pong_timeout(Some(Duration::from_secs(3)))
        .response_limit(o.response_limit);
    let service = SockJsService::new(config, echo);
    // Clients and server share the machine's cores: a long listen backlog
    // keeps connection bursts from being dropped while the server is busy.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("reuseaddr");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let listener = socket.listen(4096).expect("listen");
    let stats = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind stats");
    println!(
        "{} {}",
        listener.local_addr().expect("addr"),
        stats.local_addr().expect("addr")
    );
    let counted = service.clone();
    // The parent asks for the live-session count on a side port.
    tokio::spawn(async move {
        while let Ok((mut c, _)) = stats.accept().await {
            let n = counted.session_count();
            let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
            let _ = c.write_all(format!("{n} {tasks}\n").as_bytes()).await;
        }
    });
    let _ = serve(listener, service).max_connections(15_000).await;
}

// ---------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Counters {
    sessions: AtomicU64,
    verified: AtomicU64,
    losses: AtomicU64,
    aborted: AtomicU64,
    abandoned: AtomicU64,
    errors: AtomicU64,
    per_transport: [AtomicU64; 6],
}

const TRANSPORTS: [&str; 6] = ["websocket", "xhr", "xhr_streaming", "eventsource", "htmlfile", "jsonp"];

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    WellBehaved,
    Abort,
    Abandon,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The server's live sessions and live tokio tasks.
async fn server_stats(stats: &str) -> Option<(u64, u64)> {
    let mut c = TcpStream::connect(stats).await.ok()?;
    let mut s = String::new();
    c.read_to_string(&mut s).await.ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse().ok());
    Some((it.next()??, it.next()??))
}

async fn live_sessions(stats: &str) -> Option<u64> {
    server_stats(stats).await.map(|(n, _)| n)
}

async fn run_soak(o: Opts) -> bool {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("own path");
    let mut child = std::process::Command::new(exe)
        .arg("--serve")
        .args(["--disconnect-delay-ms", &o.disconnect_ms.to_string()])
        .args(["--response-limit", &o.response_limit.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server address");
    let mut parts = line.split_whitespace();
    let addr = parts.next().expect("address").to_owned();
    let stats = parts.next().expect("stats address").to_owned();
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start = rss_kib(pid);
    println!(
        "soak: server pid {pid} on {addr}; {} workers for {:?}, {} messages per session, response_limit {}",
        o.workers, o.duration, o.messages, o.response_limit
    );

    let counters = Arc::new(Counters::default());
    let peak = Arc::new(AtomicU64::new(rss_start));
    let sampler = {
        let peak = peak.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut last_print = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                if last_print.elapsed() >= Duration::from_secs(15) {
                    last_print = Instant::now();
                    println!(
                        "soak: {:>4}s sessions {} verified {} losses {} rss {} KiB",
                        started.elapsed().as_secs(),
                        counters.sessions.load(Ordering::Relaxed),
                        counters.verified.load(Ordering::Relaxed),
                        counters.losses.load(Ordering::Relaxed),
                        rss_kib(pid)
                    );
                }
            }
        })
    };
    // The load runs in rounds, each followed by a quiet period in which
    // every session must be reclaimed. Comparing the memory after each
    // round tells a leak (growing round after round) from the allocator
    // keeping freed pages for reuse (flat after the first round).
    let round_time = o.duration / o.rounds as u32;
    let mut after_rounds = Vec::new();
    let mut live = None;
    let mut reclaimed_after = Duration::ZERO;
    for round in 0..o.rounds {
        let stop_at = Instant::now() + round_time;
        let mut workers = Vec::new();
        for w in 0..o.workers {
            let (addr, counters, o) = (addr.clone(), counters.clone(), o.clone());
            workers.push(tokio::spawn(async move {
                let mut n = w as u64;
                while Instant::now() < stop_at {
                    let transport = (n % 6) as usize;
                    let behaviour = match (n / 6) % 10 {
                        0 => Behaviour::Abort,
                        1 => Behaviour::Abandon,
                        _ => Behaviour::WellBehaved,
                    };
                    let sid = format!("r{round}w{w}n{n}");
                    let r = tokio::time::timeout(
                        Duration::from_secs(30),
                        one_session(&addr, transport, behaviour, &sid, &o, &counters),
                    )
                    .await;
                    match r {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                            eprintln!("soak: {} session {sid}: {e}", TRANSPORTS[transport]);
                        }
                        Err(_) => {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                            eprintln!("soak: {} session {sid}: timed out", TRANSPORTS[transport]);
                        }
                    }
                    n += o.workers as u64;
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
        let load_end = Instant::now();
        // Every session must be reclaimed within the disconnect delay (plus
        // the time abandoned websockets take to miss their pong deadline).
        live = live_sessions(&stats).await;
        let wait = Duration::from_millis(o.disconnect_ms * 3) + ABANDONED_WS_HOLD + Duration::from_secs(5);
        while live != Some(0) && load_end.elapsed() < wait {
            tokio::time::sleep(Duration::from_millis(100)).await;
            live = live_sessions(&stats).await;
        }
        reclaimed_after = reclaimed_after.max(load_end.elapsed());
        tokio::time::sleep(Duration::from_secs(1)).await;
        after_rounds.push(rss_kib(pid));
        let tasks = server_stats(&stats).await.map(|(_, t)| t);
        println!(
            "soak: round {} of {} done; live sessions {:?}; server tasks {:?}; rss {} KiB",
            round + 1,
            o.rounds,
            live,
            tasks,
            after_rounds[round]
        );
        if live != Some(0) {
            break;
        }
    }
    let rss_end = *after_rounds.last().unwrap_or(&0);
    sampler.abort();
    let _ = child.kill();
    let _ = child.wait();

    let c = &counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!("soak: done after {:?}", o.duration);
    println!("  sessions served     {}", get(&c.sessions));
    for (i, t) in TRANSPORTS.iter().enumerate() {
        println!("    {t:<14}    {}", get(&c.per_transport[i]));
    }
    println!("  aborted mid-way     {}", get(&c.aborted));
    println!("  abandoned           {}", get(&c.abandoned));
    println!("  messages verified   {}", get(&c.verified));
    println!("  losses              {}", get(&c.losses));
    println!("  protocol errors     {}", get(&c.errors));
    println!("  connect retries     {}", get(&CONNECT_RETRIES));
    println!(
        "  live sessions after {:?}: {}",
        reclaimed_after,
        live.map_or("unknown".to_owned(), |n| n.to_string())
    );
    println!(
        "  server RSS          start {} KiB, peak {} KiB, end {} KiB",
        rss_start,
        peak.load(Ordering::Relaxed),
        rss_end
    );
    let rounds: Vec<String> = after_rounds.iter().map(|k| format!("{k} KiB")).collect();
    println!(
        "  server RSS after each round (all sessions reclaimed): {}",
        rounds.join(", ")
    );
    get(&c.losses) == 0 && get(&c.errors) == 0 && live == Some(0)
}

/// How long an abandoned websocket stays connected without reading: past
/// the server's heartbeat (2 s) plus pong deadline (3 s).
const ABANDONED_WS_HOLD: Duration = Duration::from_secs(8);

fn message(sid: &str, i: usize) -> String {
    // Characters every transport must escape or carry intact.
    format!("{sid}:{i}:é✓\u{2028}<>&%\"")
}

/// Runs one session; counts it, and for a well-behaved one checks that
/// every message came back once, in order.
async fn one_session(
    addr: &str,
    transport: usize,
    behaviour: Behaviour,
    sid: &str,
    o: &Opts,
    c: &Counters,
) -> Result<(), String> {
    let base = format!("/echo/000/{sid}");
    let want: Vec<String> = (0..o.messages).map(|i| message(sid, i)).collect();
    let got = if TRANSPORTS[transport] == "websocket" {
        websocket_session(addr, &base, behaviour, &want, c).await?
    } else {
        http_session(addr, &base, TRANSPORTS[transport], behaviour, &want, c).await?
    };
    c.per_transport[transport].fetch_add(1, Ordering::Relaxed);
    match behaviour {
        Behaviour::Abort => {
            c.aborted.fetch_add(1, Ordering::Relaxed);
        }
        Behaviour::Abandon => {
            c.abandoned.fetch_add(1, Ordering::Relaxed);
        }
        Behaviour::WellBehaved => {
            let ok = got.iter().zip(&want).take_while(|(g, w)| g == w).count();
            c.verified.fetch_add(ok as u64, Ordering::Relaxed);
            if ok != want.len() || got.len() != want.len() {
                c.losses.fetch_add((want.len() - ok) as u64, Ordering::Relaxed);
                return Err(format!(
                    "expected {} messages in order, {} matched: {:?}",
                    want.len(),
                    ok,
                    got.get(ok)
                ));
            }
        }
    }
    Ok(())
}

fn json_array(msgs: &[String]) -> String {
    serde_json::to_string(msgs).expect("json")
}

/// Messages of a frame (`a[...]`), `Err` for a close frame.
fn frame_messages(frame: &str, out: &mut Vec<String>) -> Result<(), String> {
    match frame.as_bytes().first() {
        Some(b'o' | b'h') => Ok(()),
        Some(b'a') => {
            let msgs: Vec<String> =
                serde_json::from_str(&frame[1..]).map_err(|e| format!("bad frame {frame:?}: {e}"))?;
            out.extend(msgs);
            Ok(())
        }
        Some(b'c') => Err(format!("closed: {frame}")),
        _ => Err(format!("unexpected frame {frame:?}")),
    }
}

async fn websocket_session(
    addr: &str,
    base: &str,
    behaviour: Behaviour,
    want: &[String],
    c: &Counters,
) -> Result<Vec<String>, String> {
    let tcp = connect(addr).await.map_err(|e| e.to_string())?;
    let url = format!("ws://{addr}{base}/websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let first = ws.next().await;
    if !matches!(&first, Some(Ok(Message::Text(t))) if t.as_str() == "o") {
        return Err(format!("no open frame: {first:?}"));
    }
    c.sessions.fetch_add(1, Ordering::Relaxed);
    let mut got = Vec::new();
    match behaviour {
        Behaviour::Abandon => {
            // Silence: never read again (so pings go unanswered) and let
            // the server's pong deadline end it; the socket is dropped later.
            tokio::spawn(async move {
                tokio::time::sleep(ABANDONED_WS_HOLD).await;
                drop(ws);
            });
            return Ok(got);
        }
        Behaviour::Abort => {
            let _ = ws.send(Message::text(json_array(&want[..1]))).await;
            drop(ws);
            return Ok(got);
        }
        Behaviour::WellBehaved => {}
    }
    for chunk in want.chunks(5) {
        ws.send(Message::text(json_array(chunk)))
            .await
            .map_err(|e| e.to_string())?;
    }
    while got.len() < want.len() {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => frame_messages(t.as_str(), &mut got)?,
            Some(Ok(_)) => {}
            other => return Err(format!("websocket ended early: {other:?}")),
        }
    }
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
    Ok(got)
}

async fn http_session(
    addr: &str,
    base: &str,
    transport: &str,
    behaviour: Behaviour,
    want: &[String],
    c: &Counters,
) -> Result<Vec<String>, String> {
    let (method, path) = match transport {
        "xhr" => ("POST", format!("{base}/xhr")),
        "xhr_streaming" => ("POST", format!("{base}/xhr_streaming")),
        "eventsource" => ("GET", format!("{base}/eventsource")),
        "htmlfile" => ("GET", format!("{base}/htmlfile?c=cb")),
        _ => ("GET", format!("{base}/jsonp?c=cb")),
    };
    let streaming = matches!(transport, "xhr_streaming" | "eventsource" | "htmlfile");
    let mut got = Vec::new();
    // The receiver is opened first; the open frame comes on it.
    let mut receiver = Receiver::open(addr, method, &path, transport).await?;
    let first = receiver.next_frame().await?;
    if first.as_deref() != Some("o") {
        return Err(format!("no open frame: {first:?}"));
    }
    c.sessions.fetch_add(1, Ordering::Relaxed);
    match behaviour {
        Behaviour::Abandon => return Ok(got),
        Behaviour::Abort => {
            if streaming {
                send(addr, base, transport, &want[..1]).await?;
                // Drop the receiver after its first data: mid-response.
                let _ = receiver.next_frame().await;
            }
            return Ok(got);
        }
        Behaviour::WellBehaved => {}
    }
    let sender = {
        let (addr, base, transport, want) = (addr.to_owned(), base.to_owned(), transport.to_owned(), want.to_vec());
        tokio::spawn(async move {
            for chunk in want.chunks(5) {
                send(&addr, &base, &transport, chunk).await?;
            }
            Ok::<(), String>(())
        })
    };
    let mut streaming_receiver = streaming.then_some(receiver);
    while got.len() < want.len() {
        let r = match streaming_receiver.as_mut() {
            Some(r) => r,
            None => {
                // Polling (or a streaming response that hit response_limit): a new request.
                streaming_receiver = Some(Receiver::open(addr, method, &path, transport).await?);
                streaming_receiver.as_mut().expect("just set")
            }
        };
        match r.next_frame().await? {
            Some(f) => frame_messages(&f, &mut got)?,
            None => streaming_receiver = None,
        }
        if !streaming && streaming_receiver.as_ref().is_some_and(|r| r.done) {
            streaming_receiver = None;
        }
    }
    sender.await.map_err(|e| e.to_string())??;
    Ok(got)
}

async fn send(addr: &str, base: &str, transport: &str, msgs: &[String]) -> Result<(), String> {
    let json = json_array(msgs);
    let (path, body, ctype, want) = if transport == "jsonp" {
        let mut form = String::from("d=");
        for b in json.bytes() {
            if b.is_ascii_alphanumeric() {
                form.push(b as char);
            } else {
                form.push_str(&format!("%{b:02X}"));
            }
        }
        (
            format!("{base}/jsonp_send"),
            form,
            "application/x-www-form-urlencoded",
            200,
        )
    } else {
        (format!("{base}/xhr_send"), json, "text/plain", 204)
    };
    let (mut conn, status) = request(addr, "POST", &path, &[("Content-Type", ctype)], body.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let _ = conn.read_body(&mut reply).await;
    if status != want {
        return Err(format!("send answered {status}"));
    }
    Ok(())
}

/// One receiving request and the frames it carries.
struct Receiver {
    http: AsyncConn,
    transport: String,
    pending: Vec<u8>,
    prelude_seen: bool,
    /// Polling receivers carry one frame.
    done: bool,
}

impl Receiver {
    async fn open(addr: &str, method: &str, path: &str, transport: &str) -> Result<Receiver, String> {
        let (http, status) = request(addr, method, path, &[], b"").await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{path} answered {status}"));
        }
        Ok(Receiver {
            http,
            transport: transport.to_owned(),
            pending: Vec::new(),
            prelude_seen: false,
            done: false,
        })
    }

    /// The next frame; `None` when the response ended.
    async fn next_frame(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(f) = self.take_frame()? {
                return Ok(Some(f));
            }
            if self.done {
                return Ok(None);
            }
            let more = self
                .http
                .body_data(&mut self.pending)
                .await
                .map_err(|e| e.to_string())?;
            if !more {
                if !self.pending.is_empty() && !self.pending.iter().all(u8::is_ascii_whitespace) {
                    return Err(format!("trailing data {:?}", String::from_utf8_lossy(&self.pending)));
                }
                return Ok(None);
            }
        }
    }

    fn take(&mut self, end: usize, skip: usize) -> String {
        let rest = self.pending.split_off(end + skip);
        let mut item = std::mem::replace(&mut self.pending, rest);
        item.truncate(end);
        String::from_utf8_lossy(&item).into_owned()
    }

    fn take_frame(&mut self) -> Result<Option<String>, String> {
        let find = |hay: &[u8], n: &[u8]| hay.windows(n.len()).position(|w| w == n);
        match self.transport.as_str() {
            "xhr" | "xhr_streaming" => {
                let Some(i) = find(&self.pending, b"\n") else {
                    return Ok(None);
                };
                let line = self.take(i, 1);
                if self.transport == "xhr" {
                    self.done = true;
                }
                if !self.prelude_seen && self.transport == "xhr_streaming" {
                    self.prelude_seen = true;
                    return if line.len() == 2048 {
                        self.take_frame()
                    } else {
                        Err("bad prelude".into())
                    };
                }
                Ok(Some(line))
            }
            "eventsource" => {
                if !self.prelude_seen {
                    if self.pending.len() < 2 {
                        return Ok(None);
                    }
                    self.take(0, 2);
                    self.prelude_seen = true;
                }
                let Some(i) = find(&self.pending, b"\r\n\r\n") else {
                    return Ok(None);
                };
                let event = self.take(i, 4);
                let data = event.strip_prefix("data: ").ok_or("bad event")?;
                Ok(Some(percent_decode(data)?))
            }
            "htmlfile" => {
                let Some(start) = find(&self.pending, b"<script>\np(") else {
                    return Ok(None);
                };
                let Some(end) = find(&self.pending[start..], b");\n</script>\r\n") else {
                    return Ok(None);
                };
                let js = self.take(start + end, 14);
                let arg = &js[start + 11..];
                serde_json::from_str::<String>(arg)
                    .map(Some)
                    .map_err(|e| format!("bad htmlfile frame: {e}"))
            }
            _ => {
                let Some(i) = find(&self.pending, b");\r\n") else {
                    return Ok(None);
                };
                let js = self.take(i, 4);
                self.done = true;
                let arg = js.strip_prefix("/**/cb(").ok_or("bad jsonp frame")?;
                serde_json::from_str::<String>(arg)
                    .map(Some)
                    .map_err(|e| format!("bad jsonp frame: {e}"))
            }
        }
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("truncated escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

static CONNECT_RETRIES: AtomicU64 = AtomicU64::new(0);

async fn connect(addr: &str) -> io::Result<TcpStream> {
    for _ in 0..2 {
        if let Ok(r) = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
            return r;
        }
        CONNECT_RETRIES.fetch_add(1, Ordering::Relaxed);
    }
    TcpStream::connect(addr).await
}

/// One request on a new connection (`Connection: close`): sends it and
/// reads the response head; the body is left to the caller.
async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(AsyncConn, u16)> {
    let mut conn = AsyncConn::from_stream(connect(addr).await?, addr.to_owned())?;
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    let status = conn.start(Request::new(method, path).headers(&all).body(body)).await?;
    Ok((conn, status))
}
