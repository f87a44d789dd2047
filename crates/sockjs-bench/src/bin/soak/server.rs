//! The echo server child process: what it runs (`--serve`), how the parent
//! starts and stops it, and the memory and session figures the parent reads
//! from it.

use crate::net::request;
use crate::opts::Opts;
use crate::settle::Settle;
use std::io::BufRead;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The session handler: echoes every message.
async fn echo(mut s: sockjs_server::Session) {
    while let Some(m) = s.recv().await {
        if s.send(m).await.is_err() {
            break;
        }
    }
}

/// Runs the echo server until killed; prints its address and its stats
/// address on one line first.
pub(crate) async fn run_server(o: Opts) {
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

/// The server under soak, as the parent sees it: its child, or a server
/// already running (`--target`).
pub(crate) struct Server {
    child: Option<std::process::Child>,
    /// The echo server's address.
    pub(crate) addr: String,
    /// Where its live-session count is read.
    pub(crate) stats: Stats,
    /// Its process id.
    pub(crate) pid: u32,
}

/// Where a server's live-session count comes from.
#[derive(Clone)]
pub(crate) enum Stats {
    /// The child's side port: live sessions and live tokio tasks.
    SidePort(String),
    /// `GET /_stats` on the server (`sockjs-test-server --stats`, and
    /// `bench/node/server.js`): `{"/echo": <live sessions>, ...}`.
    Http(String),
}

impl Server {
    /// The server `--target` names, or a child: this same program with
    /// `--serve`, whose addresses are read from its first line.
    pub(crate) fn start(o: &Opts) -> Server {
        if let (Some(addr), Some(pid)) = (&o.target, o.server_pid) {
            return Server {
                child: None,
                addr: addr.clone(),
                stats: Stats::Http(addr.clone()),
                pid,
            };
        }
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
        Server {
            child: Some(child),
            addr,
            stats: Stats::SidePort(stats),
            pid,
        }
    }

    /// Kills and reaps the child, if there is one.
    pub(crate) fn stop(self) {
        if let Some(mut child) = self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The resident memory (VmRSS, KiB) of process `pid`, 0 if unknown.
pub(crate) fn rss_kib(pid: u32) -> u64 {
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

/// The server's live sessions, and its live tokio tasks when it is the
/// child.
pub(crate) async fn server_stats(stats: &Stats) -> Option<(u64, Option<u64>)> {
    match stats {
        Stats::SidePort(addr) => {
            let mut c = TcpStream::connect(addr).await.ok()?;
            let mut s = String::new();
            c.read_to_string(&mut s).await.ok()?;
            let mut it = s.split_whitespace().map(|v| v.parse().ok());
            Some((it.next()??, Some(it.next()??)))
        }
        Stats::Http(addr) => {
            let (mut conn, status) = request(addr, "GET", "/_stats", &[], b"").await.ok()?;
            let mut body = Vec::new();
            conn.read_body(&mut body).await.ok()?;
            if status != 200 {
                return None;
            }
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            Some((v.get("/echo")?.as_u64()?, None))
        }
    }
}

/// The server's live sessions.
pub(crate) async fn live_sessions(stats: &Stats) -> Option<u64> {
    server_stats(stats).await.map(|(n, _)| n)
}

/// RSS after the load, once it has settled: sampled every 200 ms until 5
/// samples in a row agree (see [`Settle`]), for at most `limit`. Returns
/// the last sample, whether it settled, and how long that took.
pub(crate) async fn settled_rss(pid: u32, limit: Duration) -> (u64, bool, Duration) {
    let started = std::time::Instant::now();
    let mut s = Settle::new(5);
    loop {
        let rss = rss_kib(pid);
        if s.push(rss) {
            return (rss, true, started.elapsed());
        }
        if started.elapsed() >= limit {
            return (rss, false, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
