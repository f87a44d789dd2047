//! The echo server child process: what it runs (`--serve`), how the parent
//! starts and stops it, and the memory and session figures the parent reads
//! from it.

use crate::opts::Opts;
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

/// The server child process, as the parent sees it.
pub(crate) struct Server {
    child: std::process::Child,
    /// The echo server's address.
    pub(crate) addr: String,
    /// The address that answers the live-session and task counts.
    pub(crate) stats: String,
    /// The child's process id.
    pub(crate) pid: u32,
}

impl Server {
    /// Starts this same program with `--serve` and reads the addresses it
    /// prints.
    pub(crate) fn spawn(o: &Opts) -> Server {
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
            child,
            addr,
            stats,
            pid,
        }
    }

    /// Kills the child and reaps it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// The server's live sessions and live tokio tasks.
pub(crate) async fn server_stats(stats: &str) -> Option<(u64, u64)> {
    let mut c = TcpStream::connect(stats).await.ok()?;
    let mut s = String::new();
    c.read_to_string(&mut s).await.ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse().ok());
    Some((it.next()??, it.next()??))
}

/// The server's live sessions.
pub(crate) async fn live_sessions(stats: &str) -> Option<u64> {
    server_stats(stats).await.map(|(n, _)| n)
}
