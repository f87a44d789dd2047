//! The standard SockJS test server: the services every SockJS implementation
//! exposes so the official protocol suite and client tests can run against it.
//!
//! Run with: `cargo run -p sockjs-test-server -- --port 8081`
//!
//! Flags: `--host` (127.0.0.1), `--port` (8081; 0 picks a free port),
//! `--sockjs-url` (`http://localhost:8080/lib/sockjs.js`), and for tests
//! `--heartbeat-delay-ms`, `--disconnect-delay-ms`, `--response-limit`,
//! `--max-message-size`.

use sockjs_server::{serve, Config, CorsDecision, JSessionId, Session, SessionSender, SockJsService};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Args {
    host: String,
    port: u16,
    sockjs_url: String,
    heartbeat: Duration,
    disconnect: Duration,
    response_limit: usize,
    max_message_size: Option<usize>,
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
            "-h" | "--help" => {
                return Err("usage: sockjs-test-server [--host H] [--port P] [--sockjs-url URL] \
                            [--heartbeat-delay-ms N] [--disconnect-delay-ms N] [--response-limit N] \
                            [--max-message-size N]"
                    .into())
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

type Members = Arc<Mutex<HashMap<u64, SessionSender>>>;

async fn broadcast(members: Members, id: u64, mut s: Session) {
    members.lock().unwrap_or_else(|e| e.into_inner()).insert(id, s.sender());
    while let Some(m) = s.recv().await {
        let all: Vec<SessionSender> = members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for peer in all {
            // A full peer must not stall the others: skip it rather than wait.
            let _ = peer.try_send(m.clone());
        }
    }
    members.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
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

#[tokio::main]
async fn main() {
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
    let base = |prefix: &str| {
        let c = Config::new(prefix)
            .sockjs_url(args.sockjs_url.clone())
            .heartbeat_delay(args.heartbeat)
            .disconnect_delay(args.disconnect)
            .response_limit(args.response_limit);
        match args.max_message_size {
            Some(n) => c.max_message_size(n),
            None => c,
        }
    };
    let members: Members = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bcast = move |s: Session| {
        let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        broadcast(members.clone(), id, s)
    };
    let app = SockJsService::new(base("/echo").response_limit(4096), echo).with_inner(
        SockJsService::new(base("/disabled_websocket_echo").websocket(false), echo).with_inner(
            SockJsService::new(base("/cookie_needed_echo").jsessionid(JSessionId::On), echo).with_inner(
                SockJsService::new(base("/close"), close).with_inner(
                    SockJsService::new(base("/ticker"), ticker).with_inner(
                        SockJsService::new(base("/amplify"), amplify).with_inner(
                            SockJsService::new(base("/broadcast"), bcast).with_inner(
                                SockJsService::new(base("/disabled_cors_echo").disable_cors(true), echo).with_inner(
                                    SockJsService::new(base("/custom_cors_echo").custom_cors(example_com_only), echo),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    );
    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}:{}: {e}", args.host, args.port);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().expect("bound listener has an address");
    println!("sockjs-test-server listening on http://{addr}");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler installs");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    if let Err(e) = serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .grace_period(Duration::from_secs(2))
        .await
    {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
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
