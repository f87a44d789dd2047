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
//! - `idle`: `--sessions` websocket sessions held open for `--duration`,
//!   server RSS sampled at each `--checkpoints` count, then every session
//!   must still answer an echo.

mod frame;
mod msg;
mod scenario;
mod stats;

use scenario::{Plan, Target};
use serde_json::json;
use stats::Counts;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenarios, by their `--scenario` name.
const SCENARIOS: [&str; 6] = ["ws", "raw-ws", "xhr-streaming", "xhr-polling", "connect", "idle"];

/// Command-line options.
#[derive(Debug, Clone)]
struct Opts {
    /// Base URL of the SockJS service, `http://host:port/prefix`.
    base: String,
    /// Scenarios to run, in order. Defaults to `ws`.
    scenarios: Vec<String>,
    /// Sessions (or establishment loops). Defaults to 100.
    sessions: usize,
    /// Messages in flight per session. Defaults to 10.
    in_flight: u64,
    /// Message size in bytes (at least 32). Defaults to 64.
    size: usize,
    /// Measured duration (idle: holding time), seconds. Defaults to 10.
    duration: f64,
    /// Warm-up before measuring, seconds. Defaults to 2.
    warmup: f64,
    /// Longest wait for outstanding echoes after the measurement, seconds.
    /// Defaults to 10.
    drain: f64,
    /// Server process id for CPU and RSS. Defaults to none.
    server_pid: Option<String>,
    /// Name of the server in the output. Defaults to the base URL.
    label: Option<String>,
    /// Idle: session counts at which the server RSS is sampled (the total
    /// is always one). Defaults to none.
    checkpoints: Vec<usize>,
    /// Idle: concurrent handshakes while opening sessions. Defaults to 64.
    connect_concurrency: usize,
}

const USAGE: &str = "usage: sockjs-bench BASE_URL [--scenario ws,raw-ws,xhr-streaming,xhr-polling,connect,idle]
    [--sessions N (100)] [--in-flight N (10)] [--size BYTES (64)] [--duration SECS (10)]
    [--warmup SECS (2)] [--drain SECS (10)] [--server-pid PID] [--label NAME]
    [--checkpoints N,N,...] [--connect-concurrency N (64)]
BASE_URL is the service, e.g. http://127.0.0.1:8081/echo. Human summary on stderr,
one JSON line per scenario on stdout. Exit status 1 when any message was lost,
duplicated, reordered or corrupted, or any session failed.";

fn parse_args(args: impl Iterator<Item = String>) -> Result<Opts, String> {
    let mut o = Opts {
        base: String::new(),
        scenarios: vec!["ws".into()],
        sessions: 100,
        in_flight: 10,
        size: 64,
        duration: 10.0,
        warmup: 2.0,
        drain: 10.0,
        server_pid: None,
        label: None,
        checkpoints: Vec::new(),
        connect_concurrency: 64,
    };
    let mut it = args;
    while let Some(flag) = it.next() {
        if !flag.starts_with("--") {
            if !o.base.is_empty() {
                return Err(format!("unexpected argument {flag}"));
            }
            o.base = flag;
            continue;
        }
        if flag == "--help" {
            return Err(USAGE.into());
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        let secs = |v: &str| match v.parse::<f64>() {
            Ok(s) if s >= 0.0 && s.is_finite() => Ok(s),
            _ => Err(format!("{flag}: not a number of seconds: {v}")),
        };
        match flag.as_str() {
            "--scenario" => o.scenarios = v.split(',').map(str::to_owned).collect(),
            "--sessions" => o.sessions = num(&v)?,
            "--in-flight" => o.in_flight = num(&v)? as u64,
            "--size" => o.size = num(&v)?,
            "--duration" => o.duration = secs(&v)?,
            "--warmup" => o.warmup = secs(&v)?,
            "--drain" => o.drain = secs(&v)?,
            "--server-pid" => o.server_pid = Some(v),
            "--label" => o.label = Some(v),
            "--checkpoints" => o.checkpoints = v.split(',').map(num).collect::<Result<_, _>>()?,
            "--connect-concurrency" => o.connect_concurrency = num(&v)?,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if o.base.is_empty() {
        return Err(USAGE.into());
    }
    if let Some(s) = o.scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        return Err(format!("unknown scenario {s}; known: {}", SCENARIOS.join(", ")));
    }
    if o.size < msg::MIN_SIZE {
        return Err(format!("--size must be at least {}", msg::MIN_SIZE));
    }
    if o.sessions == 0 || o.in_flight == 0 {
        return Err("--sessions and --in-flight must be at least 1".into());
    }
    Ok(o)
}

/// Splits `http://host:port/prefix` into `host:port` and `/prefix`.
fn split_base(base: &str) -> Result<(String, String), String> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: only http:// base URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.trim_end_matches('/').to_owned()))
}

/// Runs one scenario and returns its JSON result.
async fn run(o: &Opts, target: Arc<Target>, name: &str) -> serde_json::Value {
    let epoch = Instant::now();
    let measure_start = epoch + Duration::from_secs_f64(o.warmup);
    let send_end = measure_start + Duration::from_secs_f64(o.duration);
    let plan = Arc::new(Plan {
        epoch,
        measure_start,
        send_end,
        drain_end: send_end + Duration::from_secs_f64(o.drain),
        size: o.size,
        in_flight: o.in_flight,
    });
    let pid = o.server_pid.as_deref();
    let label = o.label.clone().unwrap_or_else(|| o.base.clone());
    let mut extra = json!({});

    let (counts, server, client) = if name == "idle" {
        let client0 = stats::sample("self");
        let hold = Duration::from_secs_f64(o.duration);
        let out = scenario::idle(
            target,
            plan,
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
            "base_rss_kib": out.base_rss_kib,
            "checkpoints": out.checkpoints.iter().copied().map(per_session).collect::<Vec<_>>(),
            "idle_server_cpu_percent": out.idle_cpu_percent.map(|c| (c * 10.0).round() / 10.0),
            "answered": out.counts.measured,
        });
        let client1 = stats::sample("self");
        (out.counts, None, client0.zip(client1))
    } else {
        let mut handles = Vec::with_capacity(o.sessions);
        for i in 0..o.sessions {
            let (t, p) = (target.clone(), plan.clone());
            let sid = i as u32;
            handles.push(match name {
                "ws" => tokio::spawn(scenario::websocket(t, p, sid, false)),
                "raw-ws" => tokio::spawn(scenario::websocket(t, p, sid, true)),
                "xhr-streaming" => tokio::spawn(scenario::xhr(t, p, sid, true)),
                "xhr-polling" => tokio::spawn(scenario::xhr(t, p, sid, false)),
                _ => tokio::spawn(scenario::establish(t, p, sid)),
            });
        }
        tokio::time::sleep_until(measure_start.into()).await;
        let (s0, c0) = (pid.and_then(stats::sample), stats::sample("self"));
        tokio::time::sleep_until(send_end.into()).await;
        let (s1, c1) = (pid.and_then(stats::sample), stats::sample("self"));
        let mut counts = Counts::default();
        for h in handles {
            match h.await {
                Ok(c) => counts.merge(c),
                Err(e) => counts.error(e),
            }
        }
        (counts, s0.zip(s1), c0.zip(c1))
    };

    let secs = o.duration.max(1e-9);
    let throughput = if name == "idle" {
        None
    } else {
        Some(counts.measured as f64 / secs)
    };
    let pct = |q: f64| (!counts.latency.is_empty()).then(|| counts.latency.value_at_quantile(q));
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
        "latency_us": {"p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999), "max": (!counts.latency.is_empty()).then(|| counts.latency.max())},
        "sent": counts.sent,
        "received": counts.received,
        "lost": counts.lost,
        "duplicated": counts.duplicated,
        "reordered": counts.reordered,
        "corrupted": counts.corrupted,
        "errors": counts.errors,
        "error_samples": counts.error_samples,
        "server_cpu_percent": server.map(|(a, b)| (stats::cpu_percent(&a, &b) * 10.0).round() / 10.0),
        "server_rss_kib": server_now.map(|s| s.rss_kib),
        "client_cpu_percent": client.map(|(a, b)| (stats::cpu_percent(&a, &b) * 10.0).round() / 10.0),
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

fn human(v: &serde_json::Value) -> String {
    let g = |k: &str| v.get(k).map(|x| x.to_string()).unwrap_or_default();
    let lat = &v["latency_us"];
    let mut s = format!(
        "{} @ {}: {} sessions x {} in flight, {} B, {} s\n  throughput {}/s ({} measured); latency us p50 {} p99 {} p99.9 {} max {}\n  \
         sent {} received {} | lost {} duplicated {} reordered {} corrupted {} errors {}\n  server cpu {}% rss {} KiB; client cpu {}%",
        g("scenario"), g("label"), g("sessions"), g("in_flight"), g("size"), g("duration_s"),
        g("throughput_per_s"), g("measured"), lat["p50"], lat["p99"], lat["p999"], lat["max"],
        g("sent"), g("received"), g("lost"), g("duplicated"), g("reordered"), g("corrupted"), g("errors"),
        g("server_cpu_percent"), g("server_rss_kib"), g("client_cpu_percent"),
    );
    if let Some(points) = v.get("checkpoints").and_then(|c| c.as_array()) {
        s.push_str(&format!(
            "\n  idle: base rss {} KiB, answered {}, idle server cpu {}%",
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

#[tokio::main]
async fn main() {
    let o = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let (authority, prefix) = split_base(&o.base).unwrap_or_else(|e| {
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
    let target = Arc::new(Target {
        addr,
        authority,
        prefix,
    });
    let mut bad = false;
    for name in &o.scenarios {
        let v = run(&o, target.clone(), name).await;
        eprintln!("{}", human(&v));
        println!("{v}");
        bad |= failed(&v);
    }
    std::process::exit(i32::from(bad));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Opts, String> {
        parse_args(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_flags_and_defaults() {
        let o = args("http://h:1/echo --scenario ws,idle --sessions 7 --checkpoints 1,5 --duration 0.5").unwrap();
        assert_eq!(o.scenarios, vec!["ws", "idle"]);
        assert_eq!((o.sessions, o.in_flight, o.size), (7, 10, 64));
        assert_eq!(o.checkpoints, vec![1, 5]);
        assert_eq!(o.duration, 0.5);
        assert!(args("http://h:1 --scenario nope")
            .unwrap_err()
            .contains("unknown scenario nope"));
        assert!(args("http://h:1 --size 8").is_err());
        assert!(args("--sessions 1").is_err());
    }

    #[test]
    fn splits_base_urls() {
        assert_eq!(
            split_base("http://127.0.0.1:8081/echo/").unwrap(),
            ("127.0.0.1:8081".into(), "/echo".into())
        );
        assert_eq!(
            split_base("http://localhost").unwrap(),
            ("localhost:80".into(), String::new())
        );
        assert!(split_base("https://x/").is_err());
    }
}
