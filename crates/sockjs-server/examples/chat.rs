//! Run with: `cargo run --release --example chat` (then open http://127.0.0.1:8082/ in two browsers)
//!
//! A chat with rooms, mounted in an axum router beside its page. The first
//! message a client sends is its nick; after that `/join ROOM` and
//! `/leave ROOM` move it between rooms, `/who ROOM` lists the nicks in a
//! room, `/ping` is answered `pong`, and any
//! other text goes to every room the sender is in, as `ROOM NICK: TEXT`
//! (the sender sees its own messages too). Everyone starts in `lobby`.
//!
//! Set `SOCKJS_ADDR` to listen elsewhere (`127.0.0.1:0` picks a free port;
//! the address is printed) and `SOCKJS_CLIENT_URL` to load the client
//! library from another URL.

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockjs_server::{Config, Session, SockJsLayer};

const DEFAULT_CLIENT: &str = "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js";

/// The nick a session chose, kept as the session's data.
#[derive(Clone)]
struct Nick(String);

async fn chat(mut session: Session) {
    let Some(nick) = session.recv().await else { return };
    let nick = nick.trim().to_owned();
    session.set_data(Nick(nick.clone()));
    session.join("lobby");
    if session.send(format!("welcome {nick}")).await.is_err() {
        return;
    }
    let hub = session.hub();
    while let Some(msg) = session.recv().await {
        let reply = if let Some(room) = msg.strip_prefix("/join ") {
            session.join(room.trim());
            Some(format!("joined {}", room.trim()))
        } else if let Some(room) = msg.strip_prefix("/leave ") {
            session.leave(room.trim());
            Some(format!("left {}", room.trim()))
        } else if let Some(room) = msg.strip_prefix("/who ") {
            // Presence: the nicks of the room's open sessions.
            let mut nicks: Vec<String> = hub
                .sessions(room.trim())
                .iter()
                .filter_map(|s| s.data::<Nick>().map(|n| n.0))
                .collect();
            nicks.sort();
            Some(format!("who {}: {}", room.trim(), nicks.join(", ")))
        } else if msg == "/ping" {
            Some("pong".to_owned())
        } else {
            // One broadcast per room: a member of two rooms sees the
            // message once for each, labelled with the room.
            for room in session.rooms() {
                hub.to(&room).send(format!("{room} {nick}: {msg}"));
            }
            None
        };
        if let Some(reply) = reply {
            if session.send(reply).await.is_err() {
                break;
            }
        }
    }
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>SockJS chat</title>
<script src="{{CLIENT}}"></script>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;height:20em;overflow:auto;padding:.5em;white-space:pre-wrap}</style>
</head><body>
<h1>SockJS chat</h1>
<p>Nick: <input id="nick" value="guest"> <button id="connect">Connect</button> <span id="status">closed</span></p>
<form id="form"><input id="msg" size="40" placeholder="message, /join ROOM or /leave ROOM" autocomplete="off"> <button>Send</button></form>
<div id="log"></div>
<script>
var sock = null;
function log(t) { var d = document.getElementById('log'); d.textContent += t + '\n'; d.scrollTop = d.scrollHeight; }
document.getElementById('connect').onclick = function () {
  if (sock) sock.close();
  sock = new SockJS('/chat');
  sock.onopen = function () {
    document.getElementById('status').textContent = 'open (' + sock.transport + ')';
    sock.send(document.getElementById('nick').value);
  };
  sock.onmessage = function (e) { log(e.data); };
  sock.onclose = function (e) { document.getElementById('status').textContent = 'closed'; log('[close] ' + e.code + ' ' + e.reason); };
};
document.getElementById('form').onsubmit = function (e) {
  e.preventDefault();
  var m = document.getElementById('msg');
  if (sock && sock.readyState === 1 && m.value) { sock.send(m.value); m.value = ''; }
};
</script></body></html>"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("SOCKJS_ADDR").unwrap_or_else(|_| "127.0.0.1:8082".into());
    let client = std::env::var("SOCKJS_CLIENT_URL").unwrap_or_else(|_| DEFAULT_CLIENT.into());
    let page = PAGE.replace("{{CLIENT}}", &client);
    let sockjs = SockJsLayer::new(Config::new("/chat").sockjs_url(client), chat);
    let shutdown = sockjs.shutdown_handle();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.trigger();
    });
    let app = Router::new()
        .route("/", get(move || async move { Html(page) }))
        .layer(sockjs);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("chat listening on http://{}/ (SockJS at /chat)", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.triggered())
        .await
}
