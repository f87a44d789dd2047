//! The xhr scenarios (`xhr-streaming`, `xhr-polling`): a receiver and an
//! `xhr_send` sender per session, each on its own keep-alive connection.

use super::shared::{session_path, Error, Plan, Target};
use crate::frame::{self, Kind};
use crate::msg::{self, Tracker};
use crate::stats::Counts;
use sockjs_testkit::{AsyncConn, Request};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// The `Content-Type` sockjs-client's XHR transports send.
const TEXT_PLAIN: &[(&str, &str)] = &[("Content-Type", "text/plain;charset=UTF-8")];

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
