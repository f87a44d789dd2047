//! A complete SockJS server for tokio, hyper, tower and axum.
//!
//! [SockJS](https://github.com/sockjs/sockjs-protocol) gives browsers a
//! WebSocket-like channel with or without WebSockets. This crate serves the
//! official `sockjs-client` over every transport: websocket, raw websocket,
//! xhr-streaming, xhr-polling, eventsource, htmlfile and jsonp-polling.
//!
//! You write a [`Handler`] that gets a [`Session`] for each client; mount a
//! [`SockJsService`] (or [`SockJsLayer`]) in front of your other routes, or
//! run it standalone with [`serve`].
//!
//! # Standalone
//!
//! ```no_run
//! use sockjs_server::{serve, Config, Session, SockJsService};
//!
//! async fn echo(mut session: Session) {
//!     while let Some(msg) = session.recv().await {
//!         if session.send(msg).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//!     let service = SockJsService::new(Config::new("/echo"), echo);
//!     // Ctrl-C closes every session with c[1001,"Server is shutting down"],
//!     // then the server stops accepting and lets connections finish.
//!     let shutdown = service.shutdown_handle();
//!     let on_signal = shutdown.clone();
//!     tokio::spawn(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         on_signal.trigger();
//!     });
//!     serve(listener, service)
//!         .with_graceful_shutdown(shutdown.triggered())
//!         .await
//! }
//! ```
//!
//! # Mounted in axum
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use sockjs_server::{Config, Session, SockJsLayer};
//!
//! async fn echo(mut session: Session) {
//!     while let Some(msg) = session.recv().await {
//!         let _ = session.send(msg).await;
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! // Requests under /echo go to SockJS, all others to the router's routes.
//! let sockjs = SockJsLayer::new(Config::new("/echo"), echo);
//! let shutdown = sockjs.shutdown_handle();
//! let app = Router::new()
//!     .route("/", get(|| async { "home" }))
//!     .layer(sockjs);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // Whoever calls `shutdown.trigger()` closes the sessions and stops axum.
//! axum::serve(listener, app)
//!     .with_graceful_shutdown(shutdown.triggered())
//!     .await
//! # }
//! ```
//!
//! # Broadcast and rooms
//!
//! Each service has a [`Hub`]: sessions join rooms, and one call sends a
//! message to every session, to rooms, with exceptions or a filter over
//! their typed data, encoded once and without waiting on any recipient.
//!
//! ```
//! use sockjs_server::{Config, Session, SockJsService};
//!
//! #[derive(Clone)]
//! struct Nick(String);
//!
//! async fn chat(mut session: Session) {
//!     // The first message is the nick; then every message goes to the room.
//!     let Some(nick) = session.recv().await else { return };
//!     session.set_data(Nick(nick.clone()));
//!     session.join("lobby");
//!     let hub = session.hub();
//!     while let Some(msg) = session.recv().await {
//!         hub.to("lobby").except(session.id()).send(format!("{nick}: {msg}"));
//!     }
//! }
//!
//! let service = SockJsService::new(Config::new("/chat"), chat);
//! // Elsewhere: who is online, and a notice to everyone.
//! let hub = service.hub();
//! let online: Vec<String> = hub.sessions("lobby").iter().filter_map(|s| s.data::<Nick>()).map(|n| n.0).collect();
//! assert!(online.is_empty());
//! assert_eq!(hub.to_all().send("maintenance at noon"), 0);
//! ```
//!
//! # Supervision
//!
//! Each session's handler runs in a task of its own, inside a `tracing` span
//! `sockjs.session` with the service prefix, the transport and a short
//! session id. A handler that panics is logged at `error` and its session
//! is closed with 1011 "Internal error"; nothing else is affected.
//!
//! # Metrics and tracing
//!
//! With the `metrics` cargo feature the crate counts through the
//! [`metrics`](https://docs.rs/metrics) facade (to any recorder, e.g.
//! `metrics-exporter-prometheus`): live sessions by transport, sessions
//! opened and closed by close code, messages and bytes in and out, heartbeats,
//! 2010 refusals, refused origins, limits hit, pong timeouts, handler panics
//! and the outbound queue depth. Install the recorder before building the
//! services: each service takes its handles when it is created. Without the
//! feature nothing is counted and nothing is linked. In the session span,
//! `session opened` and `session closed` (with `code` and `reason`) are
//! `debug` events; refusals are logged once each, at `debug` (a client can
//! cause them at will) or `info` for a full server (`max_sessions`);
//! nothing is logged per message above `trace`. The names, labels and
//! events are listed in `docs/OBSERVABILITY.md`.
//!
//! # The client's address
//!
//! [`Session::remote_addr`], [`Session::headers`] and [`Session::url`]
//! reflect the session's latest receiving request (on the HTTP transports
//! each poll may come on another connection, as with sockjs-node). The
//! address is the one the server put in the request: [`serve`] does, and
//! with the `axum` feature axum's `ConnectInfo<SocketAddr>` is read too.
//! Behind a load balancer, [`Config::trusted_proxies`] names the proxies
//! whose `X-Forwarded-For` is believed; nobody else's is.
//!
//! # Hardening
//!
//! Every limit has a default meant for the open internet; each option's
//! documentation gives it. Per service, on [`Config`]: the origin policy
//! ([`Cors`]: reflect-any by default, or an allow-list with
//! [`Config::allowed_origins`], a custom rule, or disabled),
//! [`Config::max_sessions`] (503 beyond it), [`Config::max_message_size`]
//! (decoded; 413 / close 1009), [`Config::max_fragments`],
//! [`Config::max_messages_per_send`], [`Config::max_session_id_len`],
//! [`Config::body_read_timeout`] (408), [`Config::max_queued`] with
//! [`Config::slow_consumer_timeout`] (close 1013 for a peer that stops
//! reading), [`Config::websocket_pong_timeout`] (both websocket endpoints),
//! [`Config::websocket_frame_timeout`] (a started frame that stops
//! arriving), [`Config::receiver_grace`] and [`Config::xhr_send_settle`]. Per server, on
//! [`Serve`]: [`Serve::max_connections`], [`Serve::max_header_bytes`],
//! [`Serve::max_headers`], [`Serve::header_read_timeout`] (also the idle
//! keep-alive timeout) and [`Serve::write_timeout`].
//! [`SockJsService::session_count`] reports the live sessions.
#![deny(missing_docs)]

// The modules follow a request's path, and import only downwards:
// service (tower glue) -> dispatch -> pages | transport::{receive, send} |
// ws::handshake -> ws::session -> state (registry, expiry, handler tasks)
// -> session (the application's handle) -> shared (the per-session state)
// -> body / clock; config, cors, error, proxy, telemetry and shutdown
// are leaves.
mod body;
mod clock;
mod cluster;
mod config;
mod cors;
mod dispatch;
mod error;
mod handler;
mod hub;
mod pages;
mod proxy;
mod registry;
mod sender;
mod serve;
mod service;
mod session;
mod shared;
mod shutdown;
mod state;
mod telemetry;
mod transport;
mod ws;

pub use body::SockJsBody;
pub use cluster::{BoxFuture, Cluster, ClusterError, ClusterLink, Envelope, NodeReport, NodeSession, Published, Query};
pub use config::{BaseUrl, Config, OriginPattern, OriginPatternError, Transport, MAX_DURATION};
pub use cors::{CookieFn, Cors, CorsDecision, JSessionId};
pub use handler::Handler;
pub use hub::{Broadcast, Hub};
pub use proxy::{ProxyNet, ProxyNetError};
pub use sender::SessionSender;
pub use serve::{serve, Serve};
pub use service::{BoxError, NotFound, ResponseBody, ResponseFuture, SockJsLayer, SockJsService};
pub use session::{CloseReason, Session};
pub use shared::{SendError, SessionId, TrySendError};
pub use shutdown::Shutdown;
pub use sockjs_core::ReadyState;
pub use sockjs_core::SharedMessage;
