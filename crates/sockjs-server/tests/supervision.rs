//! Explicit machinery: handler tasks that panic, sessions that expire under
//! a waiting handler, the `Shutdown` handle under `axum::serve`, and the
//! abort-then-re-poll race under `axum::serve` (the wire tests cover it
//! under our own `serve`).

mod common;

use axum::Router;
use common::*;
use futures_util::{SinkExt, StreamExt};
use sockjs_server::{Config, Session, SockJsLayer, SockJsService};
use sockjs_testkit::{AsyncConn, Request};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tracing_subscriber::util::SubscriberInitExt;

/// Echoes, and panics on the message "boom".
async fn fragile(mut s: Session) {
    while let Some(m) = s.recv().await {
        assert_ne!(m, "boom", "the application hit a bug");
        if s.send(m).await.is_err() {
            break;
        }
    }
}

/// A `tracing` writer into a shared buffer; each write wakes whoever waits
/// for a line (see `wait_for_line`).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>, Arc<tokio::sync::Notify>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        self.1.notify_waiters();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What this test binary logged, at debug and above. One global subscriber
/// for the binary (a thread-local one can miss spans whose interest another
/// test thread cached first).
fn logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish()
            .try_init()
            .expect("the only global subscriber");
        logs
    })
    .clone()
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Waits (at most 5 s) until a logged line satisfies `found`; returns
    /// everything logged by then.
    async fn wait_for_line(&self, found: impl Fn(&str) -> bool) -> String {
        let looked = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let written = self.1.notified();
                tokio::pin!(written);
                written.as_mut().enable();
                let text = self.text();
                if text.lines().any(&found) {
                    return text;
                }
                written.await;
            }
        })
        .await;
        looked.unwrap_or_else(|_| panic!("no such line logged: {}", self.text()))
    }
}

#[tokio::test]
async fn open_and_close_are_logged_in_the_session_span() {
    let logs = logs();
    let svc = SockJsService::new(Config::new("/spans"), fragile);
    let (_, body) = status_text(call(&svc, post("/spans/000/logged1/xhr", "")).await).await;
    assert_eq!(body, "o\n");
    // The service's shutdown closes the session with 1001.
    svc.shutdown_handle().trigger();
    let (_, body) = status_text(call(&svc, post("/spans/000/logged1/xhr", "")).await).await;
    assert_eq!(body, "c[1001,\"Server is shutting down\"]\n");
    // The span names the session by a short prefix of its id (a secret).
    let span = "sockjs.session{prefix=/spans transport=xhr-polling session=logg}";
    // The close event is written by the handler's task: wait for it.
    let text = logs
        .wait_for_line(|l| l.contains(span) && l.contains("session closed"))
        .await;
    let mine: Vec<&str> = text.lines().filter(|l| l.contains(span)).collect();
    let opened = mine
        .iter()
        .find(|l| l.contains("session opened"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(opened.contains("DEBUG"), "{opened}");
    let closed = mine
        .iter()
        .find(|l| l.contains("session closed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(closed.contains("DEBUG"), "{closed}");
    assert!(closed.contains("code=1001"), "{closed}");
    assert!(closed.contains("reason=Server is shutting down"), "{closed}");
    assert_eq!(
        mine.iter().filter(|l| l.contains("session closed")).count(),
        1,
        "{mine:#?}"
    );
    // Nothing per message at info or above.
    assert!(!mine.iter().any(|l| l.contains(" INFO ")), "{mine:#?}");
}

#[tokio::test]
async fn refusals_are_logged_once_each_and_only_a_full_server_at_info() {
    let logs = logs();
    let config = Config::new("/refusals")
        .allowed_origins(["https://good.example"])
        .unwrap()
        .max_sessions(1);
    let svc = SockJsService::new(config, fragile);
    // Three requests from an origin off the list: 403 each, a debug line each
    // (a client can cause these at will: never at info).
    for i in 0..3 {
        let uri = format!("/refusals/000/bad{i}/xhr");
        let req = request("POST", &uri, &[("origin", "https://evil.example")], "");
        let (status, _) = status_text(call(&svc, req).await).await;
        assert_eq!(status, 403);
    }
    // One session fills the server; the next is refused with 503, which the
    // operator needs to see: at info.
    let (_, body) = status_text(call(&svc, post("/refusals/000/first/xhr", "")).await).await;
    assert_eq!(body, "o\n");
    let (status, _) = status_text(call(&svc, post("/refusals/000/second/xhr", "")).await).await;
    assert_eq!(status, 503);
    let text = logs
        .wait_for_line(|l| l.contains("request refused: max_sessions reached"))
        .await;
    let lines = |what: &str| -> Vec<String> { text.lines().filter(|l| l.contains(what)).map(str::to_owned).collect() };
    let origin = lines("request refused: origin not allowed");
    assert_eq!(origin.len(), 3, "{origin:#?}");
    assert!(origin.iter().all(|l| l.contains("DEBUG")), "{origin:#?}");
    let full = lines("request refused: max_sessions reached");
    assert_eq!(full.len(), 1, "{full:#?}");
    assert!(full[0].contains(" INFO "), "{full:#?}");
}

#[tokio::test]
async fn a_panicking_handler_closes_its_session_and_nothing_else() {
    let logs = logs();
    let svc = SockJsService::new(Config::new("/x"), fragile);

    let (status, body) = status_text(call(&svc, post("/x/000/bad/xhr", "")).await).await;
    assert_eq!((status, body.as_str()), (200, "o\n"));
    let (status, _) = status_text(call(&svc, post("/x/000/good/xhr", "")).await).await;
    assert_eq!(status, 200);

    let (status, _) = status_text(call(&svc, post("/x/000/bad/xhr_send", r#"["boom"]"#)).await).await;
    assert_eq!(status, 204);
    let (_, body) = status_text(call(&svc, post("/x/000/bad/xhr", "")).await).await;
    assert_eq!(body, "c[1011,\"Internal error\"]\n");

    // The other session, and new ones, are served as before.
    call(&svc, post("/x/000/good/xhr_send", r#"["fine"]"#)).await;
    let (_, body) = status_text(call(&svc, post("/x/000/good/xhr", "")).await).await;
    assert_eq!(body, "a[\"fine\"]\n");
    let (_, body) = status_text(call(&svc, post("/x/000/new/xhr", "")).await).await;
    assert_eq!(body, "o\n");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("session handler panicked") && l.contains("the application hit a bug"))
        .unwrap_or_else(|| panic!("panic not logged: {text}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("the application hit a bug"), "{line}");
    // Inside the session's span: service prefix, transport, short id.
    assert!(line.contains("sockjs.session"), "{line}");
    assert!(line.contains("prefix=/x"), "{line}");
    assert!(line.contains("transport=xhr-polling"), "{line}");
    assert!(line.contains("session=bad"), "{line}");
}

/// A handler that panics before it even returns its future.
struct PanicsAtOnce;

impl sockjs_server::Handler for PanicsAtOnce {
    fn call(&self, _session: Session) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        panic!("no future for you");
    }
}

/// A hand-written future that owns its session and panics when polled:
/// the session is dropped after the panic, not while unwinding.
struct PanicsWhenPolled(#[allow(dead_code)] Session);

impl std::future::Future for PanicsWhenPolled {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        panic!("poll failed");
    }
}

#[tokio::test]
async fn every_kind_of_handler_panic_closes_the_session_with_1011() {
    let svc = SockJsService::new(Config::new("/x"), PanicsAtOnce);
    let (_, body) = status_text(call(&svc, post("/x/000/a/xhr", "")).await).await;
    assert_eq!(body, "o\n");
    let (_, body) = status_text(call(&svc, post("/x/000/a/xhr", "")).await).await;
    assert_eq!(body, "c[1011,\"Internal error\"]\n");

    let svc = SockJsService::new(Config::new("/x"), |s: Session| PanicsWhenPolled(s));
    let (_, body) = status_text(call(&svc, post("/x/000/b/xhr", "")).await).await;
    assert_eq!(body, "o\n");
    let (_, body) = status_text(call(&svc, post("/x/000/b/xhr", "")).await).await;
    assert_eq!(body, "c[1011,\"Internal error\"]\n");
}

#[tokio::test(start_paused = true)]
async fn xhr_send_waits_for_an_application_that_keeps_taking_messages() {
    // One message every 20 s, with room for one: five messages take 100 s,
    // but no single wait reaches the 30 s bound.
    let slow = |mut s: Session| async move {
        while let Some(m) = s.recv().await {
            let _ = s.send(m).await;
            // The slowness under test (on tokio's paused clock).
            tokio::time::sleep(Duration::from_secs(20)).await;
        }
    };
    let svc = SockJsService::new(
        Config::new("/x")
            .inbound_capacity(1)
            .slow_consumer_timeout(Some(Duration::from_secs(30)))
            .disconnect_delay(Duration::from_secs(600)),
        slow,
    );
    let (_, body) = status_text(call(&svc, post("/x/000/s/xhr", "")).await).await;
    assert_eq!(body, "o\n");
    let (status, _) = status_text(call(&svc, post("/x/000/s/xhr_send", r#"["1","2","3","4","5"]"#)).await).await;
    assert_eq!(status, 204);
    let (_, body) = status_text(call(&svc, post("/x/000/s/xhr", "")).await).await;
    assert_eq!(body, "a[\"1\",\"2\",\"3\",\"4\"]\n");

    // An application that stops taking messages gets its session closed.
    let stuck = |s: Session| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(s);
    };
    let svc = SockJsService::new(
        Config::new("/x")
            .inbound_capacity(1)
            .slow_consumer_timeout(Some(Duration::from_secs(30)))
            .disconnect_delay(Duration::from_secs(600)),
        stuck,
    );
    let (_, body) = status_text(call(&svc, post("/x/000/t/xhr", "")).await).await;
    assert_eq!(body, "o\n");
    let (status, body) = status_text(call(&svc, post("/x/000/t/xhr_send", r#"["1","2","3"]"#)).await).await;
    assert_eq!(
        (status, body.as_str()),
        (503, "The application is not taking messages; the session is closed.")
    );
    let (_, body) = status_text(call(&svc, post("/x/000/t/xhr", "")).await).await;
    assert_eq!(body, "c[1011,\"Application not reading\"]\n");
}

#[tokio::test(start_paused = true)]
async fn an_expiring_session_ends_recv_at_once() {
    let (svc, mut rx) = capture_service(Config::new("/x").disconnect_delay(Duration::from_secs(5)));
    let mut session = open_xhr(&svc, &mut rx, "/x/000/s").await;
    let started = tokio::time::Instant::now();
    // Nobody polls again: the session expires after the disconnect delay,
    // and the handler waiting in recv() learns it then.
    let got = tokio::time::timeout(Duration::from_secs(60), session.recv()).await;
    assert_eq!(got, Ok(None));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_millis(5100),
        "{waited:?}"
    );
    assert_eq!(session.closed().await.code, 1000);
}

#[tokio::test]
async fn after_shutdown_new_sessions_get_503() {
    let svc = echo_service(Config::new("/x"));
    let (_, body) = status_text(call(&svc, post("/x/000/old/xhr", "")).await).await;
    assert_eq!(body, "o\n");
    svc.shutdown_handle().trigger();
    assert!(svc.shutdown_handle().is_triggered());
    let (status, body) = status_text(call(&svc, post("/x/000/new/xhr", "")).await).await;
    assert_eq!((status, body.as_str()), (503, "Server is shutting down."));
    // The old session is answered with its close frame.
    let (_, body) = status_text(call(&svc, post("/x/000/old/xhr", "")).await).await;
    assert_eq!(body, "c[1001,\"Server is shutting down\"]\n");
}

/// One request on a connection of its own, its body read as it arrives.
struct Wire {
    conn: AsyncConn,
    body: Vec<u8>,
}

impl Wire {
    /// Sends `method path` on a new connection to `addr` and waits for the
    /// response head (so the server has handled the request).
    async fn open(addr: std::net::SocketAddr, method: &str, path: &str) -> Wire {
        let mut conn = AsyncConn::new(addr, "x".into());
        let status = tokio::time::timeout(Duration::from_secs(10), conn.start(Request::new(method, path)))
            .await
            .expect("response head in time")
            .expect("response head");
        assert_eq!(status, 200, "{method} {path}");
        Wire { conn, body: Vec::new() }
    }

    /// Reads until `found` holds for the body received so far, or the body
    /// ends; returns the body so far.
    async fn until(&mut self, mut found: impl FnMut(&str) -> bool) -> String {
        let Wire { conn, body } = self;
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let text = String::from_utf8_lossy(body).into_owned();
                if found(&text) || !conn.body_data(body).await.expect("body") {
                    return String::from_utf8_lossy(body).into_owned();
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out; got {:?}", String::from_utf8_lossy(body)))
    }

    /// Reads the whole body.
    async fn rest(&mut self) -> String {
        self.until(|_| false).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_axum_serve_closes_every_session() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = SockJsLayer::new(Config::new("/echo"), fragile);
    let shutdown = layer.shutdown_handle();
    let app = Router::new().layer(layer.clone());
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.triggered())
            .into_future(),
    );

    let mut streaming = Wire::open(addr, "POST", "/echo/000/s1/xhr_streaming").await;
    streaming.until(|b| b.contains("o\n")).await;
    let mut first = Wire::open(addr, "POST", "/echo/000/s2/xhr").await;
    assert_eq!(first.rest().await, "o\n");
    let mut parked = Wire::open(addr, "POST", "/echo/000/s2/xhr").await;
    let mut eventsource = Wire::open(addr, "GET", "/echo/000/s4/eventsource").await;
    eventsource.until(|b| b.contains("data: o\r\n")).await;
    let (mut ws, _) =
        tokio_tungstenite::client_async("ws://x/echo/000/s3/websocket", TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("o"));
    // Every session is live before the trigger (the parked poll included).
    tokio::time::timeout(Duration::from_secs(5), async {
        while layer.session_count() != 4 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("4 live sessions");

    shutdown.trigger();
    let close = "c[1001,\"Server is shutting down\"]";
    let body = streaming.rest().await;
    assert!(body.ends_with(&format!("o\n{close}\n")), "{body}");
    assert_eq!(parked.rest().await, format!("{close}\n"));
    assert_eq!(
        eventsource.rest().await,
        format!("\r\ndata: o\r\n\r\ndata: {close}\r\n\r\n")
    );
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(close));
    match ws.next().await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("expected a close frame, got {other:?}"),
    }
    let _ = ws.send(Message::Close(None)).await;
    drop(ws);
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("axum::serve stops once the connections ended")
        .unwrap()
        .unwrap();
}

/// A receiver transport, for the race below.
struct Receiver {
    method: &'static str,
    endpoint: &'static str,
    open: &'static str,
    polling: bool,
}

const RECEIVERS: [Receiver; 5] = [
    Receiver {
        method: "POST",
        endpoint: "xhr",
        open: "o\n",
        polling: true,
    },
    Receiver {
        method: "POST",
        endpoint: "xhr_streaming",
        open: "o\n",
        polling: false,
    },
    Receiver {
        method: "GET",
        endpoint: "eventsource",
        open: "data: o\r\n",
        polling: false,
    },
    Receiver {
        method: "GET",
        endpoint: "htmlfile?c=cb",
        open: "p(\"o\");",
        polling: false,
    },
    Receiver {
        method: "GET",
        endpoint: "jsonp?c=cb",
        open: "cb(\"o\");",
        polling: true,
    },
];

impl Receiver {
    async fn open(&self, addr: std::net::SocketAddr, session: &str) -> Wire {
        Wire::open(addr, self.method, &format!("/echo/000/{session}/{}", self.endpoint)).await
    }

    /// Reads until the response shows its first frame.
    async fn first(&self, w: &mut Wire) -> String {
        w.until(|b| b.contains("2010") || b.contains("1002") || b.contains(self.open))
            .await
    }
}

/// The protocol's "abort" sequence once; true when the re-poll got 2010.
async fn abort_then_repoll(addr: std::net::SocketAddr, r: &Receiver, session: &str) -> bool {
    let mut attached = r.open(addr, session).await;
    assert!(r.first(&mut attached).await.contains(r.open));
    if r.polling {
        attached = r.open(addr, session).await;
    }
    let mut second = r.open(addr, session).await;
    assert!(r.first(&mut second).await.contains("2010"));
    drop(attached);
    let mut again = r.open(addr, session).await;
    let got = r.first(&mut again).await;
    assert!(
        got.contains("1002") || got.contains(r.open) || got.contains("2010"),
        "{got}"
    );
    got.contains("2010")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repoll_after_an_abort_under_axum_serve_never_gets_2010() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().layer(SockJsLayer::new(Config::new("/echo"), fragile));
    tokio::spawn(axum::serve(listener, app).into_future());
    const RUNS: usize = 300;
    const CONCURRENT: usize = 30;
    let mut tasks = tokio::task::JoinSet::new();
    for (t, r) in RECEIVERS.iter().enumerate() {
        for c in 0..CONCURRENT {
            tasks.spawn(async move {
                let mut busy = 0;
                for i in 0..RUNS / CONCURRENT {
                    if abort_then_repoll(addr, r, &format!("r{t}c{c}i{i}")).await {
                        busy += 1;
                    }
                }
                (r.endpoint, busy)
            });
        }
    }
    let mut busy_by_transport = std::collections::BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (endpoint, busy) = done.expect("run");
        *busy_by_transport.entry(endpoint).or_insert(0) += busy;
    }
    assert_eq!(busy_by_transport.len(), RECEIVERS.len());
    for (endpoint, busy) in busy_by_transport {
        assert_eq!(
            busy, 0,
            "{endpoint}: re-poll answered 2010 after an abort ({RUNS} runs)"
        );
    }
}
