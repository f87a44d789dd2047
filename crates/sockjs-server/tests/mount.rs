//! Mounting: `SockJsLayer` in front of an axum `Router`, `nest_service`,
//! `with_inner`, and the standalone `serve` with graceful shutdown on a
//! real socket.

mod common;

use axum::routing::get as axum_get;
use axum::Router;
use common::*;
use sockjs_server::{serve, Config, Session, SockJsLayer, SockJsService};
use std::future::IntoFuture;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tower_layer::Layer;

async fn echo(mut s: Session) {
    while let Some(m) = s.recv().await {
        if s.send(m).await.is_err() {
            break;
        }
    }
}

fn router() -> Router {
    Router::new()
        .route("/", axum_get(|| async { "home" }))
        .route("/api/x", axum_get(|| async { "api x" }).post(|| async { "posted" }))
}

/// Calls any service once and returns status and body text.
async fn once<S, B>(svc: S, req: Req) -> (u16, String)
where
    S: tower::Service<Req, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: std::fmt::Debug,
{
    status_text(svc.oneshot(req).await.expect("service error")).await
}

#[tokio::test]
async fn layer_routes_by_prefix() {
    let layer = SockJsLayer::new(Config::new("/echo"), echo);
    let app = layer.layer(router());

    assert_eq!(once(app.clone(), get("/")).await, (200, "home".to_owned()));
    assert_eq!(once(app.clone(), get("/api/x")).await, (200, "api x".to_owned()));
    assert_eq!(once(app.clone(), post("/api/x", "")).await, (200, "posted".to_owned()));
    // Outside the prefix, the router's own 404 (an empty body), not ours.
    assert_eq!(once(app.clone(), get("/echoes")).await, (404, String::new()));
    assert_eq!(once(app.clone(), get("/nowhere")).await, (404, String::new()));

    // Inside, SockJS answers, including its errors.
    assert_eq!(
        once(app.clone(), get("/echo")).await,
        (200, "Welcome to SockJS!\n".to_owned())
    );
    let (status, info) = once(app.clone(), get("/echo/info")).await;
    assert_eq!(status, 200);
    assert!(info.starts_with("{\"websocket\":true,"), "{info}");
    assert_eq!(
        once(app.clone(), get("/echo/nope")).await,
        (404, "Not Found".to_owned())
    );

    // A full round trip through the mounted service.
    assert_eq!(
        once(app.clone(), post("/echo/000/s1/xhr", "")).await,
        (200, "o\n".to_owned())
    );
    assert_eq!(
        once(app.clone(), post("/echo/000/s1/xhr_send", r#"["hi"]"#)).await,
        (204, String::new())
    );
    assert_eq!(
        once(app, post("/echo/000/s1/xhr", "")).await,
        (200, "a[\"hi\"]\n".to_owned())
    );
}

#[tokio::test]
async fn services_from_one_layer_share_sessions() {
    let layer = SockJsLayer::new(Config::new("/echo"), echo);
    let a = layer.layer(router());
    let b = layer.clone().layer(Router::new());
    assert_eq!(once(a.clone(), post("/echo/000/s1/xhr", "")).await.1, "o\n");
    assert_eq!(b.session_count(), 1);
    assert_eq!(once(b.clone(), post("/echo/000/s1/xhr_send", r#"["x"]"#)).await.0, 204);
    assert_eq!(once(a.clone(), post("/echo/000/s1/xhr", "")).await.1, "a[\"x\"]\n");
    // close_all on one closes the sessions seen by the other.
    b.close_all(3003, "maintenance");
    assert_eq!(
        once(a, post("/echo/000/s1/xhr", "")).await.1,
        "c[3003,\"maintenance\"]\n"
    );
    // A separate layer has separate sessions.
    let other = SockJsLayer::new(Config::new("/echo"), echo).layer(router());
    assert_eq!(once(other, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await.0, 404);
}

#[tokio::test]
async fn with_inner_replaces_the_fallback() {
    let svc = SockJsService::new(Config::new("/sock"), echo).with_inner(router());
    assert_eq!(once(svc.clone(), get("/api/x")).await, (200, "api x".to_owned()));
    assert_eq!(once(svc.clone(), get("/sock")).await.0, 200);
    assert_eq!(svc.config().get_prefix(), "/sock");
    // The default fallback answers 404 for everything outside the prefix.
    let plain = SockJsService::new(Config::new("/sock"), echo);
    assert_eq!(once(plain, get("/api/x")).await, (404, "Not Found".to_owned()));
}

#[tokio::test]
async fn root_prefix_owns_every_path() {
    let app = SockJsLayer::new(Config::new("/"), echo).layer(router());
    assert_eq!(once(app.clone(), get("/")).await.1, "Welcome to SockJS!\n");
    assert_eq!(once(app.clone(), get("/api/x")).await, (404, "Not Found".to_owned()));
    assert_eq!(once(app, post("/000/s1/xhr", "")).await.1, "o\n");
}

#[tokio::test]
async fn nest_service_in_axum() {
    // nest_service strips the mount path, so the SockJS service sits at the root.
    let (handler, mut rx) = capture_handler();
    let sockjs = SockJsService::new(Config::new(""), handler);
    let app = router().nest_service("/echo", sockjs.clone());
    assert_eq!(once(app.clone(), get("/api/x")).await.1, "api x");
    assert_eq!(once(app.clone(), get("/echo/info")).await.0, 200);
    assert_eq!(once(app.clone(), post("/echo/000/s1/xhr", "")).await.1, "o\n");
    let s = next_session(&mut rx).await;
    assert_eq!(s.prefix(), "");
    assert_eq!(s.path(), "/000/s1/xhr");
    assert_eq!(sockjs.session_count(), 1);
}

/// Reads from `stream` into `buf` until `needle` appears; fails after 5 s.
async fn read_until(stream: &mut TcpStream, buf: &mut Vec<u8>, needle: &str) {
    let found = |b: &[u8]| b.windows(needle.len()).any(|w| w == needle.as_bytes());
    tokio::time::timeout(Duration::from_secs(5), async {
        while !found(buf) {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "EOF before {needle:?} in {:?}", String::from_utf8_lossy(buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(buf)));
}

#[tokio::test]
async fn serve_graceful_shutdown_closes_sessions() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (handler, mut rx) = capture_handler();
    let service = SockJsService::new(Config::new("/echo"), handler);
    let shutdown = service.shutdown_handle();
    let server = tokio::spawn(
        serve(listener, service.clone())
            .with_graceful_shutdown(shutdown.triggered())
            .into_future(),
    );

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo/000/s1/xhr_streaming HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // Chunked: the 2049-byte prelude, then the open frame in its own chunk.
    read_until(&mut stream, &mut buf, "\r\n2\r\no\n\r\n").await;
    let head = String::from_utf8_lossy(&buf).to_string();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("transfer-encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\n801\r\n{}\n\r\n", "h".repeat(2048))),
        "{head}"
    );

    let session = next_session(&mut rx).await;
    assert_eq!(session.remote_addr(), Some(stream.local_addr().unwrap()));
    session.try_send("before shutdown").unwrap();
    read_until(&mut stream, &mut buf, "a[\"before shutdown\"]\n\r\n").await;

    shutdown.trigger();
    let close = "c[1001,\"Server is shutting down\"]\n";
    read_until(&mut stream, &mut buf, &format!("\r\n{:x}\r\n{close}\r\n", close.len())).await;
    // The response ends (last chunk) and the server hangs up.
    read_until(&mut stream, &mut buf, "\r\n0\r\n\r\n").await;
    let mut rest = Vec::new();
    let eof = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(eof.is_ok(), "connection still open after shutdown");
    assert_eq!(String::from_utf8_lossy(&rest), "");

    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve future completes after shutdown");
    result.unwrap().unwrap();

    let closed = session.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (1001, "Server is shutting down"));
    // The listener is gone.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn serve_answers_plain_requests_on_the_wire() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = SockJsLayer::new(Config::new("/echo"), echo).layer(router());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut all = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    let responses: Vec<&str> = all.split("HTTP/1.1 ").filter(|s| !s.is_empty()).collect();
    assert_eq!(responses.len(), 2, "{all}");
    assert!(responses[0].starts_with("200 OK\r\n"), "{all}");
    assert!(responses[0].contains("content-length: 19\r\n"), "{all}");
    assert!(responses[0].ends_with("\r\n\r\nWelcome to SockJS!\n"), "{all}");
    assert!(responses[1].ends_with("\r\n\r\napi x"), "{all}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// With the `axum` feature, `remote_addr()` reads axum's `ConnectInfo`
/// (`into_make_service_with_connect_info`) under `axum::serve`.
#[cfg(feature = "axum")]
#[tokio::test]
async fn remote_addr_from_axum_connect_info() {
    use std::net::SocketAddr;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (handler, mut rx) = capture_handler();
    let app = router().layer(SockJsLayer::new(Config::new("/echo"), handler));
    let server =
        tokio::spawn(axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).into_future());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mine = stream.local_addr().unwrap();
    stream
        .write_all(b"POST /echo/000/ci/xhr HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut stream, &mut buf, "o\n").await;
    let s = next_session(&mut rx).await;
    assert_eq!(s.remote_addr(), Some(mine));
    server.abort();
}
