//! What every scenario shares: the target, the run plan, session paths and
//! the websocket handshake.

use crate::msg::{self, Tracker};
use crate::stats::{self, Counts, ProcSample};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
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
    /// A run that starts now: `warmup`, then `duration` of measured
    /// sending, then at most `drain` waiting for outstanding messages.
    pub(crate) fn starting_now(
        warmup: Duration,
        duration: Duration,
        drain: Duration,
        size: usize,
        in_flight: u64,
    ) -> Plan {
        let epoch = Instant::now();
        let measure_start = epoch + warmup;
        let send_end = measure_start + duration;
        Plan {
            epoch,
            measure_start,
            send_end,
            drain_end: send_end + drain,
            size,
            in_flight,
        }
    }

    pub(super) fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    pub(super) fn measuring(&self, at: Instant) -> bool {
        at >= self.measure_start && at < self.send_end
    }

    /// Checks one echoed message and records it; returns its sequence
    /// number when it is a first arrival.
    pub(super) fn check(&self, sid: u32, m: &[u8], tr: &mut Tracker, c: &mut Counts) -> Option<u64> {
        match msg::decode(m, self.size) {
            Some(d) if d.sid == sid => {
                if !tr.arrive(d.seq) {
                    return None;
                }
                if self.measuring(Instant::now()) {
                    c.measured += 1;
                    c.record(self.now_us().saturating_sub(d.ts_us));
                }
                Some(d.seq)
            }
            _ => {
                tr.corrupt();
                None
            }
        }
    }
}

/// What the sessions of a scenario saw, and the server's and this
/// process's CPU and RSS at the start and end of the measured window.
#[derive(Debug)]
pub(crate) struct Measured {
    /// Every session's counts, merged.
    pub(crate) counts: Counts,
    /// Each session's `measured` (0 for a session that failed to start),
    /// for the spread between sessions.
    pub(crate) per_session: Vec<u64>,
    /// The server's samples, when its pid was given.
    pub(crate) server: Option<(ProcSample, ProcSample)>,
    /// This process's samples.
    pub(crate) client: Option<(ProcSample, ProcSample)>,
}

/// Samples the server (`pid`) and this process at the edges of `p`'s
/// measured window, then waits for every session.
pub(crate) async fn measure(p: &Plan, pid: Option<&str>, sessions: Vec<JoinHandle<Counts>>) -> Measured {
    tokio::time::sleep_until(p.measure_start.into()).await;
    let (s0, c0) = (pid.and_then(stats::sample), stats::sample("self"));
    tokio::time::sleep_until(p.send_end.into()).await;
    let (s1, c1) = (pid.and_then(stats::sample), stats::sample("self"));
    let mut counts = Counts::default();
    let mut per_session = Vec::with_capacity(sessions.len());
    for h in sessions {
        match h.await {
            Ok(c) => {
                per_session.push(c.measured);
                counts.merge(c);
            }
            Err(e) => {
                per_session.push(0);
                counts.error(e);
            }
        }
    }
    Measured {
        counts,
        per_session,
        server: s0.zip(s1),
        client: c0.zip(c1),
    }
}

/// A random-enough session id: the session index plus the clock, so two
/// runs against one server never reuse an id within `disconnect_delay`.
pub(super) fn session_path(t: &Target, sid: u32, transport: &str) -> String {
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
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Sends a close frame and waits (briefly) for the server's answer.
pub(crate) async fn ws_close(mut ws: WebSocketStream<TcpStream>) {
    if ws.close(None).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
}
