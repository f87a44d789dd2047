//! The standard SockJS test server: the services every SockJS implementation
//! exposes so the official protocol suite and client tests can run against it.
//!
//! Run with: `cargo run -p sockjs-test-server -- --port 8081`
//!
//! Flags: `--host` (127.0.0.1), `--port` (8081; 0 picks a free port),
//! `--sockjs-url` (`http://localhost:8080/lib/sockjs.js`), and for tests
//! `--heartbeat-delay-ms`, `--disconnect-delay-ms`, `--response-limit`,
//! `--max-message-size`.
//!
//! Hardening flags (each sets the option of the same name on every service,
//! or on `serve`; unset means the library default): `--max-sessions`,
//! `--max-queued-messages`, `--max-fragments`, `--slow-consumer-timeout-ms`,
//! `--body-read-timeout-ms`, `--pong-timeout-ms`, `--max-connections`,
//! `--header-read-timeout-ms`, `--write-timeout-ms`, `--max-header-bytes`,
//! `--frame-timeout-ms`, `--receiver-grace-ms`, `--xhr-send-settle-ms`,
//! `--max-messages-per-send`, `--inbound-capacity`, `--max-queued-bytes`,
//! `--max-session-id-len`, `--grace-period-ms`. Every duration flag takes
//! any `u64` of milliseconds (the library clamps what it cannot use).
//!
//! On SIGINT or SIGTERM one `Shutdown` handle shared by every service is
//! triggered: live sessions get `c[1001,"Server is shutting down"]`, new
//! ones `503`, and the server stops once connections end (or the grace
//! period, 2 s by default, is over).
//! `--allow-origin PATTERN` (repeatable) mounts one more echo service,
//! `/allowlist_echo`, whose origin policy is that allow-list. `--stats`
//! answers `GET /_stats` with `{"<prefix>": <live sessions>, ...}` so tests
//! can watch sessions being reclaimed. `--node-id NAME` adds
//! `X-SockJS-Node: NAME` to every response (handshakes, 404s and `/_stats`
//! included), so tests behind a load balancer see which node answered.
//! `--redis URL` makes the server one node of a cluster: `/broadcast`
//! reaches every session of every node linked to that Redis (through
//! `sockjs-redis`, under the node name of `--node-id`, else `node-<pid>`),
//! and `/_stats` gains a `"_cluster"` member: the adapter's counters and
//! the messages whose cross-node part it reported as not delivered;
//! `GET /_stats?connected=true` (or `false`) answers once the adapter is
//! (or is no longer) connected to Redis, or after 10 s.
//! The server runs on tokio's current-thread runtime: on the one core it
//! is given in the benchmarks, its single FIFO run queue serves 1,000 busy
//! sessions fairly, where the multi-thread runtime's bounded local queue
//! overflows into the global one and leaves some sessions waiting (see
//! docs/PERFORMANCE.md). `--threads N` runs the multi-thread runtime with N
//! workers instead.
//! `--metrics ADDR` (e.g. `127.0.0.1:9100`, or port 0 for a free one)
//! serves the library's metrics in the Prometheus text format at
//! `http://ADDR/metrics` and prints `sockjs-test-server metrics on URL`
//! before the listening line.

use sockjs_server::{
    serve, BoxError, Config, CorsDecision, JSessionId, NotFound, ResponseBody, Session, Shutdown, SockJsBody,
    SockJsService,
};
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;

mod cluster;
mod metrics;
mod node_id;

/// mimalloc gives freed pages back to the system shortly after they are
/// freed, where glibc's malloc keeps most of a load's peak in its arenas.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Default)]
struct Limits {
    max_sessions: Option<usize>,
    max_queued_messages: Option<usize>,
    max_fragments: Option<usize>,
    slow_consumer: Option<Duration>,
    body_read: Option<Duration>,
    pong: Option<Duration>,
    max_connections: Option<usize>,
    header_read: Option<Duration>,
    write: Option<Duration>,
    max_header_bytes: Option<usize>,
    frame_timeout: Option<Duration>,
    receiver_grace: Option<Duration>,
    xhr_send_settle: Option<Duration>,
    max_messages_per_send: Option<usize>,
    inbound_capacity: Option<usize>,
    max_queued_bytes: Option<usize>,
    max_session_id_len: Option<usize>,
    grace_period: Option<Duration>,
}

struct Args {
    host: String,
    port: u16,
    sockjs_url: String,
    heartbeat: Duration,
    disconnect: Duration,
    response_limit: usize,
    max_message_size: Option<usize>,
    limits: Limits,
    allow_origins: Vec<String>,
    stats: bool,
    node_id: Option<http::HeaderValue>,
    redis: Option<String>,
    metrics: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 8081,
        sockjs_url: "http://localhost:8080/lib/sockjs.js".into(),
        heartbeat: Duration::from_secs(25),
        disconnect: Duration::from_secs(5),
        response_limit: 128 * 1024,
        max_message_size: None,
        limits: Limits::default(),
        allow_origins: Vec::new(),
        stats: false,
        node_id: None,
        redis: None,
        metrics: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--host" => a.host = val()?,
            "--port" => a.port = val()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--sockjs-url" => a.sockjs_url = val()?,
            "--heartbeat-delay-ms" => a.heartbeat = Duration::from_millis(num(val()?)?),
            "--disconnect-delay-ms" => a.disconnect = Duration::from_millis(num(val()?)?),
            "--response-limit" => a.response_limit = num(val()?)? as usize,
            "--max-message-size" => a.max_message_size = Some(num(val()?)? as usize),
            "--max-sessions" => a.limits.max_sessions = Some(num(val()?)? as usize),
            "--max-queued-messages" => a.limits.max_queued_messages = Some(num(val()?)? as usize),
            "--max-fragments" => a.limits.max_fragments = Some(num(val()?)? as usize),
            "--slow-consumer-timeout-ms" => a.limits.slow_consumer = Some(Duration::from_millis(num(val()?)?)),
            "--body-read-timeout-ms" => a.limits.body_read = Some(Duration::from_millis(num(val()?)?)),
            "--pong-timeout-ms" => a.limits.pong = Some(Duration::from_millis(num(val()?)?)),
            "--max-connections" => a.limits.max_connections = Some(num(val()?)? as usize),
            "--header-read-timeout-ms" => a.limits.header_read = Some(Duration::from_millis(num(val()?)?)),
            "--write-timeout-ms" => a.limits.write = Some(Duration::from_millis(num(val()?)?)),
            "--max-header-bytes" => a.limits.max_header_bytes = Some(num(val()?)? as usize),
            "--frame-timeout-ms" => a.limits.frame_timeout = Some(Duration::from_millis(num(val()?)?)),
            "--receiver-grace-ms" => a.limits.receiver_grace = Some(Duration::from_millis(num(val()?)?)),
            "--xhr-send-settle-ms" => a.limits.xhr_send_settle = Some(Duration::from_millis(num(val()?)?)),
            "--max-messages-per-send" => a.limits.max_messages_per_send = Some(num(val()?)? as usize),
            "--inbound-capacity" => a.limits.inbound_capacity = Some(num(val()?)? as usize),
            "--max-queued-bytes" => a.limits.max_queued_bytes = Some(num(val()?)? as usize),
            "--max-session-id-len" => a.limits.max_session_id_len = Some(num(val()?)? as usize),
            "--grace-period-ms" => a.limits.grace_period = Some(Duration::from_millis(num(val()?)?)),
            "--allow-origin" => a.allow_origins.push(val()?),
            "--stats" => a.stats = true,
            "--node-id" => a.node_id = Some(node_id::header_value(&val()?)?),
            "--redis" => a.redis = Some(val()?),
            "--metrics" => a.metrics = Some(val()?),
            // Read by `main`, before the runtime starts.
            "--threads" => {
                val()?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: sockjs-test-server [--host H] [--port P] [--sockjs-url URL] \
                            [--heartbeat-delay-ms N] [--disconnect-delay-ms N] [--response-limit N] \
                            [--max-message-size N] [--max-sessions N] [--max-queued-messages N] \
                            [--max-fragments N] [--slow-consumer-timeout-ms N] [--body-read-timeout-ms N] \
                            [--pong-timeout-ms N] [--max-connections N] [--header-read-timeout-ms N] \
                            [--write-timeout-ms N] [--max-header-bytes N] [--frame-timeout-ms N] \
                            [--receiver-grace-ms N] [--xhr-send-settle-ms N] [--max-messages-per-send N] \
                            [--inbound-capacity N] [--max-queued-bytes N] [--max-session-id-len N] \
                            [--grace-period-ms N] [--allow-origin PATTERN]... [--stats] [--node-id NAME] [--redis URL] [--metrics ADDR] [--threads N]"
                        .into(),
                )
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

async fn echo(mut s: Session) {
    while let Some(m) = s.recv().await {
        if s.send(m).await.is_err() {
            break;
        }
    }
}

fn boxed_echo(s: Session) -> EchoFuture {
    Box::pin(echo(s))
}

async fn close(s: Session) {
    s.close(3000, "Go away!");
}

async fn ticker(s: Session) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => if s.send("tick!").await.is_err() { break },
            _ = s.closed() => break,
        }
    }
}

/// `2^n` `x` characters, where n = floor(number(m)) if 0 < n < 19, else 1.
fn amplify_reply(m: &str) -> String {
    let n = m.trim().parse::<f64>().map(f64::floor).unwrap_or(f64::NAN);
    let n = if n > 0.0 && n < 19.0 { n as u32 } else { 1 };
    "x".repeat(1 << n)
}

async fn amplify(mut s: Session) {
    while let Some(m) = s.recv().await {
        if s.send(amplify_reply(&m)).await.is_err() {
            break;
        }
    }
}

/// Every message to every session of the service, through its hub: encoded
/// once, never waiting on a slow recipient. With `--redis`, to every
/// session of every node (see `cluster`).
fn broadcast(cluster: Option<cluster::ClusterMode>) -> impl sockjs_server::Handler {
    move |mut s: Session| {
        let cluster = cluster.clone();
        async move {
            let hub = s.hub();
            while let Some(m) = s.recv().await {
                match &cluster {
                    None => {
                        hub.to_all().send(m);
                    }
                    Some(c) => c.publish(&hub, m),
                }
            }
        }
    }
}

/// Allows `http(s)://example.com` and `http(s)://<anything>.example.com` on any port.
fn example_com_only(origin: &str) -> CorsDecision {
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .map(|rest| rest.split_once(':').map_or(rest, |(h, _)| h));
    let port_ok = origin
        .splitn(3, ':')
        .nth(2)
        .is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    match host {
        Some(h) if port_ok && (h == "example.com" || (h.ends_with(".example.com") && h.len() > 12)) => {
            match origin.parse() {
                Ok(v) => CorsDecision::Allow(v),
                Err(_) => CorsDecision::Refuse,
            }
        }
        _ => CorsDecision::Refuse,
    }
}

fn main() {
    // The flag is read before the runtime exists; everything else in `amain`.
    let threads = threads_flag().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let mut builder = match threads {
        None => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    let runtime = builder.enable_all().build().unwrap_or_else(|e| {
        eprintln!("cannot start the runtime: {e}");
        std::process::exit(1);
    });
    runtime.block_on(amain());
}

/// `--threads N`: tokio's multi-thread runtime with N workers; without it,
/// the current-thread runtime (see the crate docs).
fn threads_flag() -> Result<Option<usize>, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--threads") {
        None => Ok(None),
        Some(i) => match args.get(i + 1).map(|v| v.parse::<usize>()) {
            Some(Ok(n)) if n >= 1 => Ok(Some(n)),
            _ => Err("--threads: a number of worker threads, at least 1".into()),
        },
    }
}

async fn amain() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // Before any service is built: each takes its metric handles then.
    if let Some(addr) = &args.metrics {
        if let Err(e) = metrics::start(addr).await {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
    let shutdown = Shutdown::new();
    let base = |prefix: &str| {
        let mut c = Config::new(prefix)
            .shutdown(shutdown.clone())
            .sockjs_url(args.sockjs_url.clone())
            .heartbeat_delay(args.heartbeat)
            .disconnect_delay(args.disconnect)
            .response_limit(args.response_limit);
        let l = &args.limits;
        if let Some(n) = args.max_message_size {
            c = c.max_message_size(n);
        }
        if let Some(n) = l.max_sessions {
            c = c.max_sessions(n);
        }
        if l.max_queued_messages.is_some() || l.max_queued_bytes.is_some() {
            c = c.max_queued(
                l.max_queued_messages.unwrap_or(4096),
                l.max_queued_bytes.unwrap_or(4 * 1024 * 1024),
            );
        }
        if let Some(n) = l.max_fragments {
            c = c.max_fragments(n);
        }
        if let Some(t) = l.slow_consumer {
            c = c.slow_consumer_timeout(Some(t));
        }
        if let Some(t) = l.body_read {
            c = c.body_read_timeout(t);
        }
        if let Some(t) = l.pong {
            c = c.websocket_pong_timeout(Some(t));
        }
        if let Some(t) = l.frame_timeout {
            c = c.websocket_frame_timeout(Some(t));
        }
        if let Some(t) = l.receiver_grace {
            c = c.receiver_grace(t);
        }
        if let Some(t) = l.xhr_send_settle {
            c = c.xhr_send_settle(t);
        }
        if let Some(n) = l.max_messages_per_send {
            c = c.max_messages_per_send(n);
        }
        if let Some(n) = l.inbound_capacity {
            c = c.inbound_capacity(n);
        }
        if let Some(n) = l.max_session_id_len {
            c = c.max_session_id_len(n);
        }
        c
    };
    let allowlist = if args.allow_origins.is_empty() {
        None
    } else {
        match base("/allowlist_echo").allowed_origins(&args.allow_origins) {
            Ok(c) => Some(SockJsService::new(c, boxed_echo as BoxedEcho)),
            Err(e) => {
                eprintln!("--allow-origin: {e}");
                std::process::exit(2);
            }
        }
    };
    let echo_svc = SockJsService::new(base("/echo").response_limit(4096), echo);
    let no_ws = SockJsService::new(base("/disabled_websocket_echo").websocket(false), echo);
    let cookie = SockJsService::new(base("/cookie_needed_echo").jsessionid(JSessionId::On), echo);
    let close_svc = SockJsService::new(base("/close"), close);
    let ticker_svc = SockJsService::new(base("/ticker"), ticker);
    let amplify_svc = SockJsService::new(base("/amplify"), amplify);
    let cluster = match &args.redis {
        None => None,
        Some(url) => {
            let node = match args.node_id.as_ref().and_then(|v| v.to_str().ok()) {
                Some(n) => n.to_owned(),
                None => format!("node-{}", std::process::id()),
            };
            match cluster::ClusterMode::new(url, &node) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            }
        }
    };
    let bcast_config = match &cluster {
        Some(c) => base("/broadcast").cluster(c.cluster.clone()),
        None => base("/broadcast"),
    };
    let bcast_svc = SockJsService::new(bcast_config, broadcast(cluster.clone()));
    let no_cors = SockJsService::new(base("/disabled_cors_echo").disable_cors(true), echo);
    let custom = SockJsService::new(base("/custom_cors_echo").custom_cors(example_com_only), echo);
    let mut counters: Vec<(String, Counter)> = vec![
        counter(&echo_svc),
        counter(&no_ws),
        counter(&cookie),
        counter(&close_svc),
        counter(&ticker_svc),
        counter(&amplify_svc),
        counter(&bcast_svc),
        counter(&no_cors),
        counter(&custom),
    ];
    if let Some(a) = &allowlist {
        counters.push(counter(a));
    }
    let tail = Tail {
        allowlist,
        stats: args.stats.then(|| Arc::new(counters)),
        cluster,
    };
    let app =
        echo_svc.with_inner(no_ws.with_inner(cookie.with_inner(
            close_svc.with_inner(
                ticker_svc.with_inner(
                    amplify_svc.with_inner(bcast_svc.with_inner(no_cors.with_inner(custom.with_inner(tail)))),
                ),
            ),
        )));
    let app = node_id::layer(args.node_id.clone()).layer(app);
    let mut server = serve(listener_or_exit(&args).await, app);
    let l = &args.limits;
    if let Some(n) = l.max_connections {
        server = server.max_connections(n);
    }
    if let Some(t) = l.header_read {
        server = server.header_read_timeout(Some(t));
    }
    if let Some(t) = l.write {
        server = server.write_timeout(Some(t));
    }
    if let Some(n) = l.max_header_bytes {
        server = server.max_header_bytes(n);
    }
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler installs");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        on_signal.trigger();
    });
    if let Err(e) = server
        .with_graceful_shutdown(shutdown.triggered())
        .grace_period(l.grace_period.unwrap_or(Duration::from_secs(2)))
        .await
    {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}

/// Binds the listener and prints the line tests wait for.
async fn listener_or_exit(args: &Args) -> tokio::net::TcpListener {
    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}:{}: {e}", args.host, args.port);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().expect("bound listener has an address");
    println!("sockjs-test-server listening on http://{addr}");
    listener
}

type Counter = Arc<dyn Fn() -> usize + Send + Sync>;

fn counter<H: Send + Sync + 'static>(svc: &SockJsService<H>) -> (String, Counter) {
    let s = svc.clone();
    (
        svc.config().get_prefix().to_owned(),
        Arc::new(move || s.session_count()),
    )
}

/// Longest a `/_stats?connected=...` request waits for that state.
const STATS_WAIT: Duration = Duration::from_secs(10);

/// What the nine standard services pass on: the optional allow-list
/// service, then the optional `/_stats` page, then 404.
#[derive(Clone)]
struct Tail {
    allowlist: Option<SockJsService<BoxedEcho>>,
    stats: Option<Arc<Vec<(String, Counter)>>>,
    cluster: Option<cluster::ClusterMode>,
}

type EchoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A nameable handler type, so the optional service can be a struct field.
type BoxedEcho = fn(Session) -> EchoFuture;

type TailResponse = http::Response<ResponseBody<SockJsBody>>;

impl<B> tower_service::Service<http::Request<B>> for Tail
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = TailResponse;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<TailResponse, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if let (Some(stats), "/_stats") = (&self.stats, req.uri().path()) {
            let (stats, cluster) = (stats.clone(), self.cluster.clone());
            // `?connected=true|false`: answered once the adapter's state is
            // that (or after STATS_WAIT), so tests wait on the change itself.
            let want = match req.uri().query() {
                Some("connected=true") => Some(true),
                Some("connected=false") => Some(false),
                _ => None,
            };
            return Box::pin(async move {
                if let (Some(want), Some(c)) = (want, &cluster) {
                    let _ = tokio::time::timeout(STATS_WAIT, c.cluster.wait_connected(want)).await;
                }
                let mut r = http::Response::new(ResponseBody::SockJs {
                    body: SockJsBody::full(stats_json(&stats, cluster.as_ref())),
                });
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                Ok(r)
            });
        }
        match &self.allowlist {
            Some(svc) => Box::pin(svc.clone().call(req)),
            None => {
                let mut nf = NotFound;
                let fut = nf.call(req);
                Box::pin(async move {
                    let r = fut.await?;
                    Ok(r.map(|body| ResponseBody::SockJs { body }))
                })
            }
        }
    }
}

fn stats_json(counters: &[(String, Counter)], cluster: Option<&cluster::ClusterMode>) -> String {
    let mut fields: Vec<String> = counters.iter().map(|(p, c)| format!("\"{p}\":{}", c())).collect();
    if let Some(c) = cluster {
        fields.push(format!("\"_cluster\":{}", c.stats_json()));
    }
    format!("{{{}}}", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amplify_sizes() {
        assert_eq!(amplify_reply("1").len(), 2);
        assert_eq!(amplify_reply("18").len(), 1 << 18);
        assert_eq!(amplify_reply("19").len(), 2);
        assert_eq!(amplify_reply("0").len(), 2);
        assert_eq!(amplify_reply("x").len(), 2);
        assert_eq!(amplify_reply("3.9").len(), 8);
    }

    #[test]
    fn custom_cors_rule() {
        for ok in [
            "http://example.com",
            "https://a.example.com:8443",
            "http://x.y.example.com",
        ] {
            assert!(matches!(example_com_only(ok), CorsDecision::Allow(_)), "{ok}");
        }
        for bad in [
            "http://evil.com",
            "http://example.com.evil.com",
            "http://notexample.com",
            "ftp://example.com",
            "null",
        ] {
            assert_eq!(example_com_only(bad), CorsDecision::Refuse, "{bad}");
        }
    }
}
