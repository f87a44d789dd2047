//! `sockjs-bench`: a load generator for any SockJS server.
//!
//! Run with: `cargo run --release -p sockjs-bench -- http://127.0.0.1:8081/echo --scenario ws`
//!
//! Every echoed message carries its session index, sequence number and send
//! time, and every byte of it is checked: the tool counts lost, duplicated,
//! reordered and corrupted messages (all must be zero) and reports
//! throughput and latency percentiles, plus the server's CPU and RSS when
//! given its process id. The human summary goes to standard error, one JSON
//! line per scenario to standard output.
//!
//! Scenarios (`--scenario`, comma-separated):
//! - `ws`: SockJS-framed websocket echo (`<base>/<server>/<session>/websocket`);
//! - `raw-ws`: raw websocket echo (`<base>/websocket`);
//! - `xhr-streaming`: an `xhr_streaming` receiver, reopened whenever the
//!   server ends it at its response limit, plus `xhr_send`;
//! - `xhr-polling`: `xhr` polls plus `xhr_send` (with `--in-flight 1`, round trips);
//! - `connect`: session establishment loops, `GET /info` then a websocket
//!   session until `o`, then close (`--sessions` loops);
//! - `idle`: `--sessions` sessions (`--transport`: websocket, xhr-streaming
//!   or eventsource) held open for `--duration`, server RSS sampled at each
//!   `--checkpoints` count, then every session must still answer an echo;
//! - `fanout`: `--sessions` subscribers (websocket, `--xhr-share` percent
//!   of them xhr-streaming) and one publisher on a broadcasting service
//!   (`<base>` ends in `/broadcast`), `--rate` messages per second, every
//!   one checked at every subscriber; throughput counts deliveries. With
//!   `--window N` the publisher also never runs more than `N` messages
//!   ahead of the slowest subscriber (a closed loop: with a high `--rate`,
//!   the server's sustainable maximum, with bounded queues); with
//!   `--nodes B2,B3` the subscribers are spread over several nodes of a
//!   cluster (round robin over the base and those), the publisher on the
//!   base;
//! - `sio-ws`, `sio-fanout`: the `ws` and `fanout` loads on a Socket.IO
//!   server (Engine.IO v4 over websocket, event `msg`; `<base>` is the
//!   server's root).
//!
//! The websocket echo scenarios open every session before the clock starts.
//! By default each keeps `--in-flight` messages outstanding (a closed loop:
//! the server's capacity); with `--rate R` each session instead sends `R`
//! messages per second on its own randomly phased schedule, whatever is
//! outstanding (an open loop: latency at a given load, measured from the
//! scheduled send time; see [`pace`]). The client runs on one thread,
//! serving sessions in the order they become ready (`--threads N` for
//! more, on tokio's work-stealing scheduler, which is not fair between
//! sessions once saturated).
//!
//! Beside throughput and latency, the JSON line holds, where they apply:
//! - `fairness`: the slowest session's completed count over the fastest's
//!   in the measured window (closed loops with sessions: the echo, xhr and
//!   connect scenarios), and `session_rate_per_s` (slowest, median and
//!   fastest session, per second);
//! - `server_cpu_us_per_op`: the server's CPU time (user + system, from
//!   `/proc/PID/stat`) over the measured window divided by what completed
//!   in it (echoed messages, sessions established, deliveries), in µs;
//! - with `--rate` on an echo scenario, `rate_per_session_per_s` and
//!   `send_lag_max_us`, the largest delay behind its schedule of a send due
//!   in the measured window (large values mean the client could not keep
//!   the pace);
//! - for `idle`, `transport`.

mod frame;
mod msg;
mod opts;
mod pace;
mod scenario;
mod sio;
mod stats;

use opts::{parse_args, split_base, Opts};
use scenario::{Echo, Fanout, Measured, Plan, Target, Wire};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Runs one scenario and returns its JSON result.
async fn run(o: &Opts, target: Arc<Target>, nodes: &[Arc<Target>], name: &str) -> serde_json::Value {
    let secs = Duration::from_secs_f64;
    let plan = Arc::new(Plan::starting_now(
        secs(o.warmup),
        secs(o.duration),
        secs(o.drain),
        o.size,
        o.in_flight,
    ));
    let pid = o.server_pid.as_deref();
    let label = o.label.clone().unwrap_or_else(|| o.base.clone());
    let mut extra = json!({});

    let (mut counts, server, client) = if name == "idle" {
        let client0 = stats::sample("self");
        let hold = Duration::from_secs_f64(o.duration);
        let out = scenario::idle(
            target,
            plan,
            o.transport,
            o.sessions,
            &o.checkpoints,
            hold,
            o.connect_concurrency,
            pid,
        )
        .await;
        let per_session = |(n, rss): (usize, Option<u64>)| {
            json!({"sessions": n, "rss_kib": rss, "rss_per_session_bytes":
                rss.zip(out.base_rss_kib).map(|(r, b)| (r.saturating_sub(b) as f64 * 1024.0 / n as f64).round())})
        };
        extra = json!({
            "transport": o.transport.name(),
            "base_rss_kib": out.base_rss_kib,
            "checkpoints": out.checkpoints.iter().copied().map(per_session).collect::<Vec<_>>(),
            "idle_server_cpu_percent": out.idle_cpu_percent.map(|c| (c * 10.0).round() / 10.0),
            "answered": out.counts.measured,
        });
        let client1 = stats::sample("self");
        (out.counts, None, client0.zip(client1))
    } else if name.ends_with("fanout") {
        let f = Fanout {
            wire: if name == "fanout" { Wire::SockJs } else { Wire::SocketIo },
            subscribers: o.sessions,
            xhr_share: o.xhr_share,
            rate: o.rate.unwrap_or_else(|| scenario::default_rate(o.sessions)),
            size: o.size,
            warmup: Duration::from_secs_f64(o.warmup),
            duration: Duration::from_secs_f64(o.duration),
            drain: Duration::from_secs_f64(o.drain),
            connect_concurrency: o.connect_concurrency,
            window: o.window,
        };
        let rate = f.rate;
        let mut spread = vec![target.clone()];
        spread.extend(nodes.iter().cloned());
        let out = scenario::fanout(target, &spread, f, pid).await;
        extra = json!({
            "rate_per_s": rate,
            "window": o.window,
            "nodes": 1 + nodes.len(),
            "window_waits": out.window_waits,
            "published": out.published,
            "published_per_s": (out.published_measured as f64 / o.duration.max(1e-9)).round(),
            "ws_subscribers": out.ws_subscribers,
            "xhr_subscribers": out.xhr_subscribers,
            "publish_lag_max_us": out.publish_lag_max_us,
        });
        (out.counts, out.server, out.client)
    } else {
        let m: Measured = if let Some(wire) = echo_wire(name) {
            let e = Echo {
                wire,
                sessions: o.sessions,
                in_flight: o.in_flight,
                rate: o.rate,
                size: o.size,
                warmup: Duration::from_secs_f64(o.warmup),
                duration: Duration::from_secs_f64(o.duration),
                drain: Duration::from_secs_f64(o.drain),
                connect_concurrency: o.connect_concurrency,
            };
            scenario::websocket_echo(target, e, pid).await
        } else {
            let mut handles = Vec::with_capacity(o.sessions);
            for i in 0..o.sessions {
                let (t, p) = (target.clone(), plan.clone());
                let sid = i as u32;
                handles.push(match name {
                    "xhr-streaming" => tokio::spawn(scenario::xhr(t, p, sid, true)),
                    "xhr-polling" => tokio::spawn(scenario::xhr(t, p, sid, false)),
                    _ => tokio::spawn(scenario::establish(t, p, sid)),
                });
            }
            scenario::measure(&plan, pid, handles).await
        };
        let secs = o.duration.max(1e-9);
        extra = match o.rate.filter(|_| echo_wire(name).is_some()) {
            // Open loop: every session sends at the same rate whatever the
            // server does, so their counts differ only by echoes crossing
            // the window's edges; unfairness shows in latency instead.
            Some(r) => json!({"rate_per_session_per_s": r, "send_lag_max_us": m.counts.lag_max_us}),
            None => json!({
                "fairness": stats::fairness(&m.per_session).map(|f| (f * 1000.0).round() / 1000.0),
                "session_rate_per_s": stats::session_rates(&m.per_session, secs)
                    .map(|(lo, mid, hi)| json!({"min": round1(lo), "median": round1(mid), "max": round1(hi)})),
            }),
        };
        (m.counts, m.server, m.client)
    };

    let secs = o.duration.max(1e-9);
    let throughput = if name == "idle" {
        None
    } else {
        Some(counts.measured as f64 / secs)
    };
    let latency = counts.latency.histogram().clone();
    let pct = |q: f64| (!latency.is_empty()).then(|| latency.value_at_quantile(q));
    let server_now = pid.and_then(stats::sample);
    let mut v = json!({
        "scenario": name,
        "label": label,
        "base": o.base,
        "sessions": o.sessions,
        "in_flight": o.in_flight,
        "size": o.size,
        "warmup_s": o.warmup,
        "duration_s": o.duration,
        "measured": counts.measured,
        "throughput_per_s": throughput.map(|t| t.round()),
        "latency_us": {"p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999), "max": (!latency.is_empty()).then(|| latency.max())},
        "sent": counts.sent,
        "received": counts.received,
        "lost": counts.lost,
        "duplicated": counts.duplicated,
        "reordered": counts.reordered,
        "corrupted": counts.corrupted,
        "errors": counts.errors,
        "error_samples": counts.error_samples,
        "server_cpu_percent": server.map(|(a, b)| (stats::cpu_percent(&a, &b) * 10.0).round() / 10.0),
        "server_cpu_us_per_op": server.and_then(|(a, b)| stats::cpu_us_per_op(&a, &b, counts.measured)).map(round2),
        "server_rss_kib": server_now.map(|s| s.rss_kib),
        "client_cpu_percent": client.map(|(a, b)| (stats::cpu_percent(&a, &b) * 10.0).round() / 10.0),
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

/// The protocol of a websocket echo scenario; `None` for the others.
fn echo_wire(name: &str) -> Option<Wire> {
    match name {
        "ws" => Some(Wire::SockJs),
        "raw-ws" => Some(Wire::Raw),
        "sio-ws" => Some(Wire::SocketIo),
        _ => None,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn human(v: &serde_json::Value) -> String {
    let g = |k: &str| v.get(k).map(|x| x.to_string()).unwrap_or_default();
    let lat = &v["latency_us"];
    let load = match v.get("rate_per_session_per_s") {
        Some(r) => format!("{r} msgs/s each"),
        None => format!("{} in flight", g("in_flight")),
    };
    let mut s = format!(
        "{} @ {}: {} sessions x {}, {} B, {} s\n  throughput {}/s ({} measured); latency us p50 {} p99 {} p99.9 {} max {}\n  \
         sent {} received {} | lost {} duplicated {} reordered {} corrupted {} errors {}\n  server cpu {}% ({} us per op) rss {} KiB; client cpu {}%",
        g("scenario"), g("label"), g("sessions"), load, g("size"), g("duration_s"),
        g("throughput_per_s"), g("measured"), lat["p50"], lat["p99"], lat["p999"], lat["max"],
        g("sent"), g("received"), g("lost"), g("duplicated"), g("reordered"), g("corrupted"), g("errors"),
        g("server_cpu_percent"), g("server_cpu_us_per_op"), g("server_rss_kib"), g("client_cpu_percent"),
    );
    if v.get("fairness").is_some() {
        let r = &v["session_rate_per_s"];
        s.push_str(&format!(
            "\n  fairness {} (per-session rate /s: min {} median {} max {})",
            g("fairness"),
            r["min"],
            r["median"],
            r["max"]
        ));
    }
    if v.get("rate_per_session_per_s").is_some() {
        s.push_str(&format!(
            "\n  paced: {} msgs/s per session (open loop), send lag max {} us",
            g("rate_per_session_per_s"),
            g("send_lag_max_us")
        ));
    }
    if let Some(points) = v.get("checkpoints").and_then(|c| c.as_array()) {
        s.push_str(&format!(
            "\n  idle {}: base rss {} KiB, answered {}, idle server cpu {}%",
            g("transport"),
            g("base_rss_kib"),
            g("answered"),
            g("idle_server_cpu_percent")
        ));
        for p in points {
            s.push_str(&format!(
                "\n    {} sessions: rss {} KiB, {} B/session",
                p["sessions"], p["rss_kib"], p["rss_per_session_bytes"]
            ));
        }
    }
    if v.get("published").is_some() {
        s.push_str(&format!(
            "\n  fanout: {} websocket + {} xhr-streaming subscribers and 1 publisher; rate {}/s, published {} ({}/s measured), \
             window {} ({} waits), publish lag max {} us; throughput = deliveries to subscribers",
            g("ws_subscribers"),
            g("xhr_subscribers"),
            g("rate_per_s"),
            g("published"),
            g("published_per_s"),
            g("window"),
            g("window_waits"),
            g("publish_lag_max_us"),
        ));
    }
    if let Some(e) = v
        .get("error_samples")
        .and_then(|e| e.as_array())
        .filter(|e| !e.is_empty())
    {
        s.push_str(&format!("\n  first errors: {e:?}"));
    }
    s
}

fn failed(v: &serde_json::Value) -> bool {
    ["lost", "duplicated", "reordered", "corrupted", "errors"]
        .iter()
        .any(|k| v[k].as_u64() != Some(0))
}

fn main() {
    let o = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // One thread by default, on tokio's current-thread scheduler, which
    // runs ready tasks in the order they were woken. The multi-thread
    // scheduler keeps at most 256 ready tasks in a worker's own queue and
    // serves the overflow from a shared queue it looks at less often: with
    // a thousand sessions ready at once on a saturated client, some of them
    // starve, and the client's unfairness would swamp the server's in
    // `fairness` (measured: 0.32 instead of 0.68 against ws-ceiling, 1,000
    // sessions x 1 in flight, client and server on one core each).
    let rt = if o.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(o.threads)
            .enable_all()
            .build()
    };
    let code = rt.expect("tokio runtime").block_on(run_all(o));
    std::process::exit(code);
}

/// Runs every scenario; the exit status.
async fn run_all(o: Opts) -> i32 {
    let target = resolve(&o.base).await;
    let mut nodes = Vec::new();
    for base in &o.nodes {
        nodes.push(resolve(base).await);
    }
    let mut bad = false;
    for name in &o.scenarios {
        let v = run(&o, target.clone(), &nodes, name).await;
        eprintln!("{}", human(&v));
        println!("{v}");
        bad |= failed(&v);
    }
    i32::from(bad)
}

/// The target at `base`; exits on a bad URL or an unknown host.
async fn resolve(base: &str) -> Arc<Target> {
    let (authority, prefix) = split_base(base).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let addr = match tokio::net::lookup_host(&authority).await.map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) | Err(_) => {
            eprintln!("cannot resolve {authority}");
            std::process::exit(2);
        }
    };
    Arc::new(Target {
        addr,
        authority,
        prefix,
    })
}
