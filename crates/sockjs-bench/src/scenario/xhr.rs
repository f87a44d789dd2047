//! The xhr scenarios (`xhr-streaming`, `xhr-polling`): a receiver and an
//! `xhr_send` sender per session, each on its own keep-alive connection.

use super::shared::{session_path, Error, Plan, Target, HANDSHAKE_TIMEOUT};
use crate::frame::{self, Kind};
use crate::msg::{self, Tracker};
use crate::stats::Counts;
use sockjs_testkit::{AsyncConn, Request};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// The `Content-Type` sockjs-client's XHR transports send.
pub(super) const TEXT_PLAIN: &[(&str, &str)] = &[("Content-Type", "text/plain;charset=UTF-8")];

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
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    let mut r = tokio::select! {
        biased;
        r = XhrReceiver::open(t, path) => r?,
        _ = &mut deadline => return Ok(()),
    };
    s.opened.store(true, Ordering::Release);
    s.wake_sender.notify_one();
    let done = |tr: &Tracker| Instant::now() >= p.send_end && tr.received == s.sent.load(Ordering::Acquire);
    loop {
        if done(tr) {
            return Ok(());
        }
        // Every frame already buffered, then one wake-up of the sender for
        // all of them.
        let mut first = true;
        loop {
            let line = if first {
                first = false;
                tokio::select! {
                    biased;
                    l = r.next_line() => l?,
                    _ = &mut deadline => return Ok(()),
                }
            } else {
                match r.buffered_line()? {
                    Some(l) => Some(l),
                    None => break,
                }
            };
            let Some(line) = line else { break };
            tr.sent = s.sent.load(Ordering::Acquire);
            check_frame(p, sid, line, tr, c, |_| {})?;
        }
        s.received.store(tr.received, Ordering::Release);
        s.wake_sender.notify_one();
    }
}

/// Checks one SockJS frame of messages sent by session `from`.
pub(super) fn check_frame(
    p: &Plan,
    from: u32,
    line: &str,
    tr: &mut Tracker,
    c: &mut Counts,
    mut arrived: impl FnMut(u64),
) -> Result<(), Error> {
    match frame::parse(line, |m| {
        if let Some(seq) = p.check(from, m.as_bytes(), tr, c) {
            arrived(seq);
        }
    }) {
        Kind::Heartbeat | Kind::Messages(_) => Ok(()),
        Kind::Open => Err("second o frame".into()),
        Kind::Close(f) => Err(format!("server closed the session: {f}").into()),
        Kind::Invalid(f) => Err(format!("invalid frame {f:?}").into()),
    }
}

/// The receiving half of an HTTP session: `xhr_streaming` responses,
/// reopened whenever the server ends one at its response limit, `xhr`
/// polls one after the other, or `eventsource` responses, on one
/// keep-alive connection, read a frame at a time.
pub(crate) struct XhrReceiver {
    conn: AsyncConn,
    path: String,
    /// `eventsource`: `GET`, each frame a `data: ` event.
    events: bool,
    /// Body bytes read and not yet handed out, from `pos` on.
    buf: Vec<u8>,
    pos: usize,
    /// A response is being read: the next bytes are its body.
    reading: bool,
}

impl XhrReceiver {
    /// Opens the session at `path` (`.../xhr_streaming` or `.../xhr`):
    /// requests until the `o` frame, which is consumed. Frames after it stay
    /// buffered for [`XhrReceiver::next_line`].
    pub(crate) async fn open(t: &Target, path: &str) -> Result<Self, Error> {
        Self::open_as(t, path, false).await
    }

    /// Opens the session at `path` (`.../eventsource`), as [`XhrReceiver::open`].
    pub(crate) async fn open_eventsource(t: &Target, path: &str) -> Result<Self, Error> {
        Self::open_as(t, path, true).await
    }

    async fn open_as(t: &Target, path: &str, events: bool) -> Result<Self, Error> {
        let mut r = XhrReceiver {
            conn: AsyncConn::new(t.addr, t.authority.clone()),
            path: path.to_owned(),
            events,
            buf: Vec::new(),
            pos: 0,
            reading: false,
        };
        let open = async {
            loop {
                match r.next_line().await? {
                    Some("o") => return Ok::<(), Error>(()),
                    Some(other) => return Err(format!("expected o, got {other:?}").into()),
                    None => continue,
                }
            }
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, open).await {
            Ok(Ok(())) => Ok(r),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no o frame within {HANDSHAKE_TIMEOUT:?}").into()),
        }
    }

    /// The next frame, without its newline (eventsource: without `data: `
    /// and `\r`); `None` when a response ended (the next call starts
    /// another request, so a caller that is done stops here). The
    /// xhr-streaming prelude and eventsource's blank lines are skipped.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe while it starts a request (see
    /// [`AsyncConn::start`]): drop the receiver after a cancellation.
    pub(crate) async fn next_line(&mut self) -> Result<Option<&str>, Error> {
        loop {
            if let Some(span) = self.find_line() {
                return self.take_line(span).map(Some);
            }
            if !self.reading {
                let req = if self.events {
                    Request::new("GET", &self.path)
                } else {
                    Request::new("POST", &self.path).headers(TEXT_PLAIN)
                };
                let status = self.conn.start(req).await?;
                if status != 200 {
                    let mut body = Vec::new();
                    let _ = self.conn.read_body(&mut body).await;
                    let body = String::from_utf8_lossy(&body);
                    return Err(format!("{}: status {status}: {body}", self.path).into());
                }
                self.reading = true;
            }
            self.buf.drain(..self.pos);
            self.pos = 0;
            if !self.conn.body_data(&mut self.buf).await? {
                self.reading = false;
                if !self.buf.iter().all(|&b| b == b'\r' || b == b'\n') {
                    let rest = String::from_utf8_lossy(&self.buf);
                    return Err(format!("response ended inside a frame: {rest:?}").into());
                }
                self.buf.clear();
                return Ok(None);
            }
        }
    }

    /// The next frame if one is already buffered: never reads.
    pub(crate) fn buffered_line(&mut self) -> Result<Option<&str>, Error> {
        match self.find_line() {
            Some(span) => self.take_line(span).map(Some),
            None => Ok(None),
        }
    }

    /// The start and end of the next buffered frame, and where the line
    /// holding it ends (its newline's index), skipping the xhr-streaming
    /// prelude (a line of `h` only, longer than a heartbeat) and
    /// eventsource's blank lines.
    fn find_line(&mut self) -> Option<(usize, usize, usize)> {
        loop {
            let nl = self.pos + self.buf[self.pos..].iter().position(|&b| b == b'\n')?;
            let line = &self.buf[self.pos..nl];
            if self.events {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() {
                    self.pos = nl + 1;
                    continue;
                }
                let start = self.pos + if line.starts_with(b"data: ") { 6 } else { 0 };
                return Some((start, self.pos + line.len(), nl));
            }
            if line.len() > 1 && line.iter().all(|&b| b == b'h') {
                self.pos = nl + 1;
                continue;
            }
            return Some((self.pos, nl, nl));
        }
    }

    fn take_line(&mut self, (start, end, nl): (usize, usize, usize)) -> Result<&str, Error> {
        self.pos = nl + 1;
        std::str::from_utf8(&self.buf[start..end]).map_err(|_| "frame is not UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(events: bool, body: &[u8]) -> XhrReceiver {
        XhrReceiver {
            conn: AsyncConn::new(([127, 0, 0, 1], 9).into(), "h".into()),
            path: String::new(),
            events,
            buf: body.to_vec(),
            pos: 0,
            reading: true,
        }
    }

    fn lines(r: &mut XhrReceiver) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = r.buffered_line().unwrap() {
            v.push(l.to_owned());
        }
        v
    }

    #[test]
    fn splits_xhr_streaming_frames_after_the_prelude() {
        let mut body = vec![b'h'; 2048];
        body.extend_from_slice(b"\no\nh\na[\"x\"]\na[");
        let mut r = receiver(false, &body);
        assert_eq!(lines(&mut r), ["o", "h", "a[\"x\"]"]);
        assert_eq!(&r.buf[r.pos..], b"a[");
    }

    #[test]
    fn splits_eventsource_events() {
        let mut r = receiver(true, b"\r\ndata: o\r\n\r\ndata: h\r\n\r\ndata: a[\"x\"]\r\n\r\ndata: c");
        assert_eq!(lines(&mut r), ["o", "h", "a[\"x\"]"]);
        assert_eq!(&r.buf[r.pos..], b"data: c");
    }
}
