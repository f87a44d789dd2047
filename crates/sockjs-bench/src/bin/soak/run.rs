//! The soak itself: rounds of workers running sessions, each checked for
//! its echoes, a memory sampler, and after each round the wait for every
//! session to be reclaimed.

use crate::http::http_session;
use crate::opts::Opts;
use crate::report::Report;
use crate::server::{live_sessions, rss_kib, server_stats, settled_rss, Server};
use crate::session::{Behaviour, Counters, TRANSPORTS};
use crate::websocket::{websocket_session, ABANDONED_WS_HOLD};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait for the server's RSS to settle, before the load and after
/// each round.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// Runs the soak against a fresh server child (or the `--target` server);
/// true if it passed.
pub(crate) async fn run_soak(o: Opts) -> bool {
    let server = Server::start(&o);
    let (addr, stats, pid) = (server.addr.clone(), server.stats.clone(), server.pid);
    let (rss_start, _, _) = settled_rss(pid, SETTLE_LIMIT).await;
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
    let mut settle = (false, Duration::ZERO);
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
        let (rss, settled, took) = settled_rss(pid, SETTLE_LIMIT).await;
        after_rounds.push(rss);
        settle = (settled, took);
        let tasks = server_stats(&stats).await.and_then(|(_, t)| t);
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
    sampler.abort();
    let rss_peak = peak.load(Ordering::Relaxed).max(rss_kib(pid));
    server.stop();
    Report {
        label: &o.label,
        json: o.json,
        workers: o.workers,
        settled: settle.0,
        settle_time: settle.1,
        duration: o.duration,
        counters: &counters,
        reclaimed_after,
        live,
        rss_start,
        rss_peak,
        after_rounds: &after_rounds,
    }
    .print()
}

/// Message `i` of session `sid`.
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
