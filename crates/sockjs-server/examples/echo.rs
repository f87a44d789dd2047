//! Run with: `cargo run --release --example echo` (then open http://127.0.0.1:8081/)
//!
//! An echo service at `/echo` mounted in front of an axum router that serves
//! a small demo page at `/`. Set `SOCKJS_ADDR` to listen elsewhere and
//! `SOCKJS_CLIENT_URL` to load the client library from another URL.

use axum::extract::{ConnectInfo, Request};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockjs_server::{Config, Session, SockJsLayer};
use std::net::SocketAddr;

const DEFAULT_CLIENT: &str = "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js";

async fn echo(mut session: Session) {
    tracing::info!(transport = %session.transport(), addr = ?session.remote_addr(), "session opened");
    while let Some(msg) = session.recv().await {
        if session.send(msg).await.is_err() {
            break;
        }
    }
    let reason = session.closed().await;
    tracing::info!(code = reason.code, reason = %reason.reason, "session closed");
}

fn page(client_url: &str) -> String {
    DEMO.replace("{{CLIENT}}", client_url)
}

const DEMO: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>SockJS echo</title>
<script src="{{CLIENT}}"></script>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;height:20em;overflow:auto;padding:.5em;white-space:pre-wrap}</style>
</head><body>
<h1>SockJS echo</h1>
<p>Transport: <select id="transport">
<option value="">any</option><option>websocket</option><option>xhr-streaming</option><option>xhr-polling</option>
<option>eventsource</option><option>iframe-htmlfile</option><option>jsonp-polling</option></select>
<button id="connect">Connect</button> <span id="status">closed</span></p>
<form id="form"><input id="msg" size="40" placeholder="message" autocomplete="off"> <button>Send</button></form>
<div id="log"></div>
<script>
var sock = null;
function log(t) { var d = document.getElementById('log'); d.textContent += t + '\n'; d.scrollTop = d.scrollHeight; }
function setStatus(t) { document.getElementById('status').textContent = t; }
document.getElementById('connect').onclick = function () {
  if (sock) sock.close();
  var t = document.getElementById('transport').value;
  sock = new SockJS('/echo', null, t ? { transports: [t] } : {});
  setStatus('connecting');
  sock.onopen = function () { setStatus('open (' + sock.transport + ')'); log('[open] ' + sock.transport); };
  sock.onmessage = function (e) { log('< ' + e.data); };
  sock.onclose = function (e) { setStatus('closed'); log('[close] ' + e.code + ' ' + e.reason); };
};
document.getElementById('form').onsubmit = function (e) {
  e.preventDefault();
  var m = document.getElementById('msg');
  if (sock && sock.readyState === 1) { sock.send(m.value); log('> ' + m.value); m.value = ''; }
};
document.getElementById('connect').click();
</script></body></html>"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let addr = std::env::var("SOCKJS_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let client = std::env::var("SOCKJS_CLIENT_URL").unwrap_or_else(|_| DEFAULT_CLIENT.into());
    let html = page(&client);
    // Requests under /echo are answered by SockJS; every other one reaches
    // the router's own routes (and its 404 fallback).
    let sockjs = SockJsLayer::new(Config::new("/echo").sockjs_url(client), echo);
    // On Ctrl-C: every session gets c[1001,"Server is shutting down"] (new
    // ones 503), then axum stops accepting and waits for connections to end.
    let shutdown = sockjs.shutdown_handle();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.trigger();
    });
    let app = Router::new()
        .route("/", get(move || async move { Html(html) }))
        .layer(sockjs)
        // SockJS reads the peer address from a `SocketAddr` request extension;
        // copy it from axum's ConnectInfo (this layer runs first).
        .layer(axum::middleware::map_request(
            |ConnectInfo(addr): ConnectInfo<SocketAddr>, mut req: Request| async move {
                req.extensions_mut().insert(addr);
                req
            },
        ));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "echo demo listening on http://{}/ (SockJS at /echo)",
        listener.local_addr()?
    );
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.triggered())
        .await
}
