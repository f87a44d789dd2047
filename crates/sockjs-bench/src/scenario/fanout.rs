//! The fan-out scenarios (`fanout`, `sio-fanout`): many subscribers and one
//! publisher on a broadcasting service, every published message checked at
//! every subscriber.
//!
//! The subscribers open first (websocket, or some of them xhr-streaming),
//! then the publisher; the run's clock starts once all are open. The
//! publisher sends message `k` at `k / rate` seconds after it starts (late
//! ones go out at once, each stamped with its real send time); every
//! receiver, the publisher included (it gets its own messages back),
//! checks that it gets each one exactly once and in order. Deliveries
//! arriving at subscribers inside the measured window are counted, and
//! their latency is send time to arrival.
//!
//! With a window (`--window N`), the publisher also waits, before message
//! `k`, until message `k - N` has reached every subscriber: a closed loop
//! that finds the server's sustainable rate with bounded queues (an
//! open-loop rate above it only measures how queues grow).

use super::shared::{session_path, ws_close, Error, Plan, Target};
use super::wire::{Reply, Wire, Ws};
use super::xhr::{check_frame, XhrReceiver};
use crate::msg::{self, Tracker};
use crate::stats::{self, Counts, ProcSample};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Deliveries per second (publish rate times receivers) that `--rate`
/// aims at when not given: busy but not saturated. On the 2-core machine of
/// `docs/PERFORMANCE.md` (server and client pinned to one core each) it
/// keeps sockjs-rs at about half of its core with 1,000 subscribers and
/// two thirds with 10,000 (where sockjs-node 0.3.24 is at its limit); the
/// client then uses 45% to 70% of its own core.
pub(crate) const DEFAULT_DELIVERIES_PER_S: f64 = 100_000.0;

/// The publish rate `--rate` defaults to for `subscribers` subscribers:
/// [`DEFAULT_DELIVERIES_PER_S`] spread over them and the publisher, at
/// least one message per second.
pub(crate) fn default_rate(subscribers: usize) -> f64 {
    (DEFAULT_DELIVERIES_PER_S / (subscribers + 1) as f64).max(1.0).round()
}

/// The shape of a fan-out run.
#[derive(Debug, Clone)]
pub(crate) struct Fanout {
    /// The protocol of the websocket subscribers and of the publisher.
    pub(crate) wire: Wire,
    /// Subscribers, besides the publisher.
    pub(crate) subscribers: usize,
    /// Percent of the subscribers that receive over xhr-streaming (SockJS
    /// only); they are spread evenly among the websocket ones.
    pub(crate) xhr_share: usize,
    /// Messages published per second.
    pub(crate) rate: f64,
    /// Message size in bytes.
    pub(crate) size: usize,
    /// Warm-up after every subscriber is open.
    pub(crate) warmup: Duration,
    /// Measured duration.
    pub(crate) duration: Duration,
    /// Longest wait for outstanding deliveries after the last publish.
    pub(crate) drain: Duration,
    /// Concurrent handshakes while opening subscribers.
    pub(crate) connect_concurrency: usize,
    /// Closed loop: most messages published and not yet delivered to
    /// every subscriber.
    pub(crate) window: Option<u64>,
}

/// What a fan-out run saw.
#[derive(Debug)]
pub(crate) struct FanoutOutcome {
    /// `measured` and latency: deliveries to subscribers inside the
    /// window. `sent`, `received`, `lost`, ...: over every receiver
    /// (subscribers and the publisher), `sent` counting each published
    /// message once per receiver.
    pub(crate) counts: Counts,
    /// Messages published.
    pub(crate) published: u64,
    /// Messages published inside the measured window.
    pub(crate) published_measured: u64,
    /// Subscribers that opened, by transport.
    pub(crate) ws_subscribers: usize,
    /// See `ws_subscribers`.
    pub(crate) xhr_subscribers: usize,
    /// Largest delay of a publish behind its schedule, µs: large values mean
    /// the client could not keep the pace (or, with a window, that the
    /// subscribers were behind).
    pub(crate) publish_lag_max_us: u64,
    /// Times the publisher found the window full and waited.
    pub(crate) window_waits: u64,
    /// Server CPU and RSS at the start and end of the window.
    pub(crate) server: Option<(ProcSample, ProcSample)>,
    /// The same for this process.
    pub(crate) client: Option<(ProcSample, ProcSample)>,
}

/// What the publisher tells the receivers.
#[derive(Debug, Default)]
struct Feed {
    /// Messages published so far, counted before each is sent, so that no
    /// receiver sees a number it does not know of.
    published: AtomicU64,
    /// Set before the last message is sent (or when the publisher fails):
    /// a receiver that has `published` messages is then done.
    over: AtomicBool,
    /// The closed loop, when there is one.
    window: Option<Window>,
}

impl Feed {
    fn done(&self, received: u64) -> bool {
        self.over.load(Ordering::Acquire) && received == self.published.load(Ordering::Acquire)
    }

    /// Subscriber side: message `seq` arrived for the first time.
    fn arrived(&self, seq: u64) {
        if let Some(w) = &self.window {
            w.arrived(seq);
        }
    }
}

/// Deliveries of the last `slots.len()` messages: slot `k % len` counts the
/// subscribers that have message `k`. The publisher may send message `k`
/// once slot `k % len` is full (message `k - len` reached everyone), and
/// empties it as it does.
#[derive(Debug)]
struct Window {
    slots: Vec<AtomicU64>,
    subscribers: u64,
    full: Notify,
}

impl Window {
    fn new(len: u64, subscribers: usize) -> Window {
        Window {
            slots: (0..len).map(|_| AtomicU64::new(subscribers as u64)).collect(),
            subscribers: subscribers as u64,
            full: Notify::new(),
        }
    }

    fn slot(&self, seq: u64) -> &AtomicU64 {
        &self.slots[(seq % self.slots.len() as u64) as usize]
    }

    /// Whether message `seq` may be published now.
    fn open(&self, seq: u64) -> bool {
        self.slot(seq).load(Ordering::Acquire) >= self.subscribers
    }

    fn arrived(&self, seq: u64) {
        if self.slot(seq).fetch_add(1, Ordering::AcqRel) + 1 == self.subscribers {
            self.full.notify_one();
        }
    }

    /// Waits until message `seq` may be published; false if `until` came
    /// first. Counts in `waits` the calls that found the window full.
    async fn admit(&self, seq: u64, until: Instant, waits: &mut u64) -> bool {
        let slot = self.slot(seq);
        let mut first = true;
        loop {
            let notified = self.full.notified();
            if slot.load(Ordering::Acquire) >= self.subscribers {
                slot.store(0, Ordering::Release);
                return true;
            }
            if first {
                *waits += 1;
                first = false;
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(until.into()) => return false,
            }
        }
    }
}

/// An open subscriber.
enum Sub {
    Ws(Ws),
    Xhr(XhrReceiver),
}

/// Whether subscriber `i` is one of the `pct` percent on xhr-streaming:
/// exactly `floor(n * pct / 100)` of the first `n`, evenly spread.
fn is_xhr(i: usize, pct: usize) -> bool {
    (i + 1) * pct / 100 > i * pct / 100
}

/// Runs one fan-out: the publisher on `t`, subscriber `i` on
/// `spread[i % spread.len()]`; `pid` is the server's, for CPU and RSS.
pub(crate) async fn fanout(t: Arc<Target>, spread: &[Arc<Target>], f: Fanout, pid: Option<&str>) -> FanoutOutcome {
    let mut counts = Counts::default();
    let sem = Arc::new(Semaphore::new(f.connect_concurrency.max(1)));
    let opening: Vec<JoinHandle<Result<Sub, Error>>> = (0..f.subscribers)
        .map(|i| {
            let t = spread.get(i % spread.len().max(1)).unwrap_or(&t).clone();
            let (sem, wire, xhr) = (sem.clone(), f.wire, is_xhr(i, f.xhr_share));
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore never closed");
                if xhr {
                    let path = session_path(&t, i as u32, "xhr_streaming");
                    Ok(Sub::Xhr(XhrReceiver::open(&t, &path).await?))
                } else {
                    Ok(Sub::Ws(wire.open(&t, i as u32, 4096).await?))
                }
            })
        })
        .collect();
    let mut subs = Vec::with_capacity(f.subscribers);
    for h in opening {
        match h.await {
            Ok(Ok(s)) => subs.push(s),
            Ok(Err(e)) => counts.error(e),
            Err(e) => counts.error(e),
        }
    }
    let from = f.subscribers as u32;
    let publisher = match f.wire.open(&t, from, 8 * 1024).await {
        Ok(ws) => Some(ws),
        Err(e) => {
            counts.error(format!("publisher: {e}"));
            None
        }
    };

    let p = Arc::new(Plan::starting_now(f.warmup, f.duration, f.drain, f.size, 1));
    let feed = Arc::new(Feed {
        window: f.window.map(|n| Window::new(n, subs.len())),
        ..Feed::default()
    });
    let (ws_subscribers, xhr_subscribers) = subs.iter().fold((0, 0), |(w, x), s| match s {
        Sub::Ws(_) => (w + 1, x),
        Sub::Xhr(_) => (w, x + 1),
    });
    let receiving: Vec<_> = subs
        .into_iter()
        .map(|s| tokio::spawn(subscriber(s, f.wire, p.clone(), feed.clone(), from)))
        .collect();
    let publishing = publisher.map(|ws| tokio::spawn(publish(ws, f.wire, p.clone(), feed.clone(), from, f.rate)));
    if publishing.is_none() {
        feed.over.store(true, Ordering::Release);
    }

    tokio::time::sleep_until(p.measure_start.into()).await;
    let (s0, c0) = (pid.and_then(stats::sample), stats::sample("self"));
    let published_at_start = feed.published.load(Ordering::Acquire);
    tokio::time::sleep_until(p.send_end.into()).await;
    let (s1, c1) = (pid.and_then(stats::sample), stats::sample("self"));
    let published_measured = feed.published.load(Ordering::Acquire) - published_at_start;

    for h in receiving {
        match h.await {
            Ok(c) => counts.merge(c),
            Err(e) => counts.error(e),
        }
    }
    let (mut publish_lag_max_us, mut window_waits) = (0, 0);
    if let Some(h) = publishing {
        match h.await {
            Ok(out) => {
                publish_lag_max_us = out.lag_max_us;
                window_waits = out.window_waits;
                // Its own messages back: checked like the subscribers',
                // not counted as deliveries.
                counts.add_tracker(&out.tracker);
                if let Some(e) = out.error {
                    counts.error(format!("publisher: {e}"));
                }
            }
            Err(e) => counts.error(e),
        }
    }
    FanoutOutcome {
        counts,
        published: feed.published.load(Ordering::Acquire),
        published_measured,
        ws_subscribers,
        xhr_subscribers,
        publish_lag_max_us,
        window_waits,
        server: s0.zip(s1),
        client: c0.zip(c1),
    }
}

/// One subscriber, from its first message to the end of the run.
async fn subscriber(s: Sub, wire: Wire, p: Arc<Plan>, feed: Arc<Feed>, from: u32) -> Counts {
    let mut c = Counts::default();
    let mut tr = Tracker::default();
    let r = match s {
        Sub::Ws(ws) => ws_subscriber(ws, wire, &p, &feed, from, &mut tr, &mut c).await,
        Sub::Xhr(r) => xhr_subscriber(r, &p, &feed, from, &mut tr, &mut c).await,
    };
    if let Err(e) = r {
        c.error(e);
    }
    tr.sent = feed.published.load(Ordering::Acquire);
    c.add_tracker(&tr);
    c
}

async fn ws_subscriber(
    mut ws: Ws,
    wire: Wire,
    p: &Plan,
    feed: &Feed,
    from: u32,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    while !feed.done(tr.received) {
        let next = tokio::select! {
            biased;
            m = ws.next() => m,
            _ = &mut deadline => break,
        };
        tr.sent = feed.published.load(Ordering::Acquire);
        let each = |m: &str| {
            if let Some(seq) = p.check(from, m.as_bytes(), tr, c) {
                feed.arrived(seq);
            }
        };
        if let Reply::Send(f) = wire.read_message(next, each)? {
            ws.send(Message::text(f)).await?;
        }
    }
    ws_close(ws).await;
    Ok(())
}

async fn xhr_subscriber(
    mut r: XhrReceiver,
    p: &Plan,
    feed: &Feed,
    from: u32,
    tr: &mut Tracker,
    c: &mut Counts,
) -> Result<(), Error> {
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    while !feed.done(tr.received) {
        let line = tokio::select! {
            biased;
            l = r.next_line() => l?,
            _ = &mut deadline => break,
        };
        if let Some(line) = line {
            tr.sent = feed.published.load(Ordering::Acquire);
            check_frame(p, from, line, tr, c, |seq| feed.arrived(seq))?;
        }
    }
    // Dropping the receiver closes its connection; the server reclaims the
    // session after its disconnect delay.
    Ok(())
}

/// What the publisher did.
struct Published {
    tracker: Tracker,
    lag_max_us: u64,
    window_waits: u64,
    error: Option<Error>,
}

/// Publishes at `rate` until the window ends, and checks its own messages
/// as they come back.
async fn publish(mut ws: Ws, wire: Wire, p: Arc<Plan>, feed: Arc<Feed>, from: u32, rate: f64) -> Published {
    let mut out = Published {
        tracker: Tracker::default(),
        lag_max_us: 0,
        window_waits: 0,
        error: None,
    };
    let r = publish_inner(&mut ws, wire, &p, &feed, from, rate, &mut out).await;
    // Whatever happened, no more messages will come: receivers stop
    // waiting once they have what was published.
    feed.over.store(true, Ordering::Release);
    out.tracker.sent = feed.published.load(Ordering::Acquire);
    match r {
        Ok(()) => ws_close(ws).await,
        Err(e) => out.error = Some(e),
    }
    out
}

async fn publish_inner(
    ws: &mut Ws,
    wire: Wire,
    p: &Plan,
    feed: &Feed,
    from: u32,
    rate: f64,
    out: &mut Published,
) -> Result<(), Error> {
    // The schedule starts when this task first runs: with thousands of
    // subscriber tasks spawned just before, that can be well after the
    // epoch, and a burst to catch up would only measure the spawning.
    let start = Instant::now();
    let due = |k: u64| start + Duration::from_secs_f64(k as f64 / rate);
    let deadline = tokio::time::sleep_until(p.drain_end.into());
    tokio::pin!(deadline);
    // Its own deliveries are checked but not measured: a scratch counter
    // takes their latency.
    let mut scratch = Counts::default();
    let tr = &mut out.tracker;
    let mut k = 0u64;
    let mut over = false;
    loop {
        if over && feed.done(tr.received) {
            return Ok(());
        }
        let next = tokio::select! {
            biased;
            m = ws.next() => Some(m),
            _ = tokio::time::sleep_until(due(k).into()), if !over => None,
            _ = &mut deadline => return Ok(()),
        };
        if let Some(next) = next {
            tr.sent = feed.published.load(Ordering::Acquire);
            let each = |m: &str| {
                p.check(from, m.as_bytes(), tr, &mut scratch);
            };
            if let Reply::Send(f) = wire.read_message(next, each)? {
                ws.send(Message::text(f)).await?;
            }
            continue;
        }
        let mut now = Instant::now();
        while !over && due(k) <= now {
            if let Some(w) = &feed.window {
                if !w.open(k) {
                    // What is fed must go out before waiting on it.
                    ws.flush().await?;
                }
                if !w.admit(k, p.send_end, &mut out.window_waits).await {
                    // The window stayed full to the end of the measured
                    // window: nothing more is published.
                    over = true;
                    feed.over.store(true, Ordering::Release);
                    break;
                }
                now = Instant::now();
            }
            // The last one is known before it is sent, so `over` is set
            // before any receiver can have it.
            over = due(k + 1) >= p.send_end;
            feed.published.store(k + 1, Ordering::Release);
            if over {
                feed.over.store(true, Ordering::Release);
            }
            let lag = now.duration_since(due(k)).as_micros() as u64;
            out.lag_max_us = out.lag_max_us.max(lag);
            let m = msg::encode_string(from, k, p.now_us(), p.size);
            ws.feed(Message::text(wire.wrap(&m))).await?;
            k += 1;
        }
        ws.flush().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_xhr_subscribers_evenly() {
        let n = |pct| (0..1000).filter(|&i| is_xhr(i, pct)).count();
        assert_eq!((n(0), n(10), n(50), n(100)), (0, 100, 500, 1000));
        let first_ten: Vec<bool> = (0..10).map(|i| is_xhr(i, 50)).collect();
        assert_eq!(first_ten.iter().filter(|&&x| x).count(), 5);
        assert!(!is_xhr(0, 50) && is_xhr(1, 50));
    }

    #[tokio::test]
    async fn window_admits_message_k_once_k_minus_len_reached_everyone() {
        let w = Window::new(2, 3);
        let far = Instant::now() + Duration::from_secs(60);
        let mut waits = 0;
        assert!(w.admit(0, far, &mut waits).await && w.admit(1, far, &mut waits).await);
        assert!(!w.open(2), "message 0 has reached nobody yet");
        w.arrived(0);
        w.arrived(0);
        assert!(!w.open(2), "two of three subscribers");
        w.arrived(0);
        assert!(w.open(2) && !w.open(3));
        assert!(w.admit(2, far, &mut waits).await);
        assert_eq!(waits, 0);
        // Message 1 never reaches the third subscriber: the wait ends at
        // the deadline, and counts.
        w.arrived(1);
        w.arrived(1);
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(!w.admit(3, soon, &mut waits).await);
        assert_eq!(waits, 1);
        w.arrived(1);
        assert!(w.admit(3, far, &mut waits).await);
        assert_eq!(waits, 1);
    }

    #[test]
    fn default_rate_spreads_the_delivery_budget() {
        assert_eq!(default_rate(999), DEFAULT_DELIVERIES_PER_S / 1000.0);
        assert_eq!(default_rate(10_000_000), 1.0);
    }
}
