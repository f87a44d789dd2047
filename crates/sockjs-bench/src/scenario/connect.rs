//! The `connect` scenario: session establishment loops, each iteration
//! timed as one latency sample.

use super::shared::{ws_close, Error, Plan, Target, HANDSHAKE_TIMEOUT};
use super::wire::Wire;
use crate::stats::Counts;
use sockjs_testkit::{AsyncConn, Request};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
            let ws = Wire::SockJs
                .open(&t, worker.wrapping_mul(1 << 20).wrapping_add(n), 4096)
                .await?;
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
