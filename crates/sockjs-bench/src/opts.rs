//! Command-line options of `sockjs-bench`.

use crate::msg;
use crate::scenario::IdleTransport;

/// The scenarios, by their `--scenario` name.
pub(crate) const SCENARIOS: [&str; 9] = [
    "ws",
    "raw-ws",
    "xhr-streaming",
    "xhr-polling",
    "connect",
    "idle",
    "fanout",
    "sio-ws",
    "sio-fanout",
];

/// Command-line options.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    /// Base URL of the SockJS service, `http://host:port/prefix`.
    pub(crate) base: String,
    /// Scenarios to run, in order. Defaults to `ws`.
    pub(crate) scenarios: Vec<String>,
    /// Sessions (or establishment loops). Defaults to 100.
    pub(crate) sessions: usize,
    /// Messages in flight per session. Defaults to 10.
    pub(crate) in_flight: u64,
    /// Message size in bytes (at least 32). Defaults to 64.
    pub(crate) size: usize,
    /// Measured duration (idle: holding time), seconds. Defaults to 10.
    pub(crate) duration: f64,
    /// Warm-up before measuring, seconds. Defaults to 2.
    pub(crate) warmup: f64,
    /// Longest wait for outstanding echoes after the measurement, seconds.
    /// Defaults to 10.
    pub(crate) drain: f64,
    /// Server process id for CPU and RSS. Defaults to none.
    pub(crate) server_pid: Option<String>,
    /// Name of the server in the output. Defaults to the base URL.
    pub(crate) label: Option<String>,
    /// Idle: session counts at which the server RSS is sampled (the total
    /// is always one). Defaults to none.
    pub(crate) checkpoints: Vec<usize>,
    /// Idle and fan-out: concurrent handshakes while opening sessions.
    /// Defaults to 64.
    pub(crate) connect_concurrency: usize,
    /// Fan-out: messages published per second. Defaults to
    /// [`crate::scenario::default_rate`] of `sessions`.
    ///
    /// Websocket echo (`ws`, `raw-ws`, `sio-ws`): messages sent per second
    /// *by each session*, on a schedule (open loop, see [`crate::pace`];
    /// `in_flight` unused). Defaults to none: a closed loop of `in_flight`
    /// messages per session.
    pub(crate) rate: Option<f64>,
    /// Threads of the client: 1 runs tokio's current-thread scheduler
    /// (ready tasks in wake-up order, fair between sessions), more its
    /// multi-thread one. Defaults to 1.
    pub(crate) threads: usize,
    /// Idle: how the sessions connect. Defaults to websocket.
    pub(crate) transport: IdleTransport,
    /// Fan-out: percent of the subscribers on xhr-streaming instead of a
    /// websocket (SockJS only). Defaults to 0.
    pub(crate) xhr_share: usize,
    /// Fan-out: at most this many published messages not yet delivered to
    /// every subscriber (closed loop); `None` publishes on schedule only.
    pub(crate) window: Option<u64>,
    /// Fan-out: more nodes of the same service; subscribers are spread
    /// over the base and these (round robin), the publisher uses the base.
    pub(crate) nodes: Vec<String>,
}

pub(crate) const USAGE: &str = "usage: sockjs-bench BASE_URL
    [--scenario ws,raw-ws,xhr-streaming,xhr-polling,connect,idle,fanout,sio-ws,sio-fanout]
    [--sessions N (100)] [--in-flight N (10)] [--size BYTES (64)] [--duration SECS (10)]
    [--warmup SECS (2)] [--drain SECS (10)] [--server-pid PID] [--label NAME]
    [--checkpoints N,N,...] [--connect-concurrency N (64)]
    [--transport websocket|xhr-streaming|eventsource (websocket)]
    [--rate MSGS_PER_S] [--xhr-share PCT (0)] [--window N]
    [--nodes BASE_URL,BASE_URL,...] [--threads N (1)]
BASE_URL is the service, e.g. http://127.0.0.1:8081/echo (fanout: .../broadcast;
sio-*: the Socket.IO server's root, http://127.0.0.1:3000). Human summary on stderr,
one JSON line per scenario on stdout. Exit status 1 when any message was lost,
duplicated, reordered or corrupted, or any session failed.
--rate means, for fanout and sio-fanout: messages the publisher sends per second
(default 100000 / (sessions + 1)); for ws, raw-ws and sio-ws: messages EACH session
sends per second, an open loop (default: none, a closed loop of --in-flight
messages per session): session i sends message k at phase_i + k / RATE seconds
after all sessions are open, phase_i random in [0, 1 / RATE), stamped with that
scheduled time, so latency counts any delay behind the schedule (no coordinated
omission); --in-flight is then unused. --transport applies to idle only.
--threads 1 (the default) runs the client on one thread, serving sessions in the
order they become ready; more threads use tokio's work-stealing scheduler, which is
not fair between sessions once the client is saturated.";

pub(crate) fn parse_args(args: impl Iterator<Item = String>) -> Result<Opts, String> {
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
        rate: None,
        xhr_share: 0,
        window: None,
        nodes: Vec::new(),
        transport: IdleTransport::Websocket,
        threads: 1,
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
            "--threads" => o.threads = num(&v)?.max(1),
            "--rate" => match v.parse::<f64>() {
                Ok(r) if r > 0.0 && r.is_finite() => o.rate = Some(r),
                _ => return Err(format!("--rate: not a positive number of messages per second: {v}")),
            },
            "--xhr-share" => o.xhr_share = num(&v)?,
            "--transport" => {
                o.transport = IdleTransport::parse(&v)
                    .ok_or_else(|| format!("--transport: {v}: one of websocket, xhr-streaming, eventsource"))?
            }
            "--nodes" => o.nodes = v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            "--window" => match num(&v)? {
                0 => return Err("--window: at least 1".into()),
                n => o.window = Some(n as u64),
            },
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
    if o.xhr_share > 100 {
        return Err("--xhr-share is a percentage (0 to 100)".into());
    }
    if o.xhr_share > 0 && o.scenarios.iter().any(|s| s != "fanout") {
        return Err("--xhr-share applies to the fanout scenario only".into());
    }
    const PACED: [&str; 5] = ["ws", "raw-ws", "sio-ws", "fanout", "sio-fanout"];
    if o.rate.is_some() && o.scenarios.iter().any(|s| !PACED.contains(&s.as_str())) {
        return Err(format!("--rate applies to the {} scenarios only", PACED.join(", ")));
    }
    if o.transport != IdleTransport::Websocket && o.scenarios.iter().any(|s| s != "idle") {
        return Err("--transport applies to the idle scenario only".into());
    }
    if o.sessions == 0 || o.in_flight == 0 {
        return Err("--sessions and --in-flight must be at least 1".into());
    }
    Ok(o)
}

/// Splits `http://host:port/prefix` into `host:port` and `/prefix`.
pub(crate) fn split_base(base: &str) -> Result<(String, String), String> {
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
        let f = args("http://h:1/broadcast --scenario fanout --rate 50 --xhr-share 25").unwrap();
        assert_eq!((f.rate, f.xhr_share), (Some(50.0), 25));
        assert!(args("http://h:1 --scenario fanout --rate 0").is_err());
        assert!(args("http://h:1 --scenario fanout --xhr-share 101").is_err());
        assert!(args("http://h:1 --scenario sio-fanout --xhr-share 10").is_err());
    }

    #[test]
    fn parses_per_session_rates_and_idle_transports() {
        let o = args("http://h:1/echo --scenario ws,raw-ws --sessions 10000 --rate 2").unwrap();
        assert_eq!(o.rate, Some(2.0));
        assert!(args("http://h:1/echo --scenario xhr-streaming --rate 2")
            .unwrap_err()
            .contains("--rate applies"));
        let i = args("http://h:1/echo --scenario idle --transport eventsource --threads 2").unwrap();
        assert_eq!((i.transport, i.threads), (IdleTransport::EventSource, 2));
        assert_eq!(o.threads, 1);
        assert_eq!(
            args("http://h:1/echo --scenario idle").unwrap().transport,
            IdleTransport::Websocket
        );
        assert!(args("http://h:1/echo --scenario idle --transport jsonp").is_err());
        assert!(args("http://h:1/echo --scenario ws --transport xhr-streaming").is_err());
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
