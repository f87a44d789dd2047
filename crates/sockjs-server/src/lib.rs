//! A complete SockJS server for tokio, hyper, tower and axum.
//!
//! [SockJS](https://github.com/sockjs/sockjs-protocol) gives browsers a
//! WebSocket-like channel with or without WebSockets. This crate serves the
//! official `sockjs-client` over every transport: websocket, raw websocket,
//! xhr-streaming, xhr-polling, eventsource, htmlfile and jsonp-polling.
//!
//! You write a [`Handler`] that gets a [`Session`] for each client; mount a
//! [`SockJsService`] (or [`SockJsLayer`]) in front of your other routes, or
//! run it standalone with [`serve`]. Options live in one [`Config`], whose
//! defaults are sockjs-node's.
//!
//! Each section below is one common task, with an example that runs as a
//! test: it starts the server on a free port (or calls the service in
//! process), drives it with a client, and checks what the client sees.
//! The clients use the raw websocket endpoint (`<prefix>/websocket`, bare
//! text messages, no SockJS framing) through `tokio-tungstenite`, so that
//! they stay short; browsers use `sockjs-client` against the same prefix.
//!
//! - [Echo](#echo)
//! - [Broadcast and rooms](#broadcast-and-rooms)
//! - [Authorising a session](#authorising-a-session)
//! - [Origins and CORS](#origins-and-cors)
//! - [Mounting beside axum routes](#mounting-beside-axum-routes)
//! - [Graceful shutdown](#graceful-shutdown)
//! - [Several nodes](#several-nodes)
//!
//! Coming from sockjs-node: `docs/MIGRATING.md` in the repository maps
//! each of its options, methods, properties and events to this crate.
//!
//! # Echo
//!
//! A handler receives the client's messages in order with
//! [`Session::recv`] and answers with [`Session::send`]; when it returns,
//! the session closes. [`serve`] runs the service on a listener.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use sockjs_server::{serve, Config, Session, SockJsService};
//! use tokio_tungstenite::tungstenite::Message;
//!
//! async fn echo(mut session: Session) {
//!     while let Some(msg) = session.recv().await {
//!         if session.send(msg).await.is_err() {
//!             break; // closed meanwhile
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Port 0 picks a free port; a real server names its own.
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let service = SockJsService::new(Config::new("/echo"), echo);
//!     let shutdown = service.shutdown_handle();
//!     let stopped = shutdown.triggered();
//!     let server = tokio::spawn(async move { serve(listener, service).with_graceful_shutdown(stopped).await });
//!
//!     let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo/websocket")).await?;
//!     client.send(Message::text("hello")).await?;
//!     assert_eq!(client.next().await.unwrap()?, Message::text("hello"));
//!     drop(client);
//!
//!     shutdown.trigger();
//!     server.await??;
//!     Ok(())
//! }
//! ```
//!
//! A [`Session`] is also a `Stream` of messages and a `Sink` of replies
//! (see its documentation), and [`Session::sender`] gives other tasks a
//! handle that sends to it.
//!
//! # Broadcast and rooms
//!
//! Each service has a [`Hub`]: sessions join rooms, and one call sends a
//! message to every session, to rooms, with exceptions or with a filter
//! over their typed data ([`Session::set_data`]), encoded once and without
//! waiting on any recipient. Sessions leave their rooms when they close.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use sockjs_server::{serve, Config, Session, SockJsService};
//! use tokio_tungstenite::tungstenite::Message;
//!
//! #[derive(Clone)]
//! struct Nick(String);
//!
//! // The first message is the nick; every later one goes to the others in the lobby.
//! async fn chat(mut session: Session) {
//!     let Some(nick) = session.recv().await else { return };
//!     session.set_data(Nick(nick.clone()));
//!     session.join("lobby");
//!     if session.send(format!("welcome {nick}")).await.is_err() {
//!         return;
//!     }
//!     let hub = session.hub();
//!     while let Some(msg) = session.recv().await {
//!         hub.to("lobby").except(session.id()).send(format!("{nick}: {msg}"));
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let url = format!("ws://{}/chat/websocket", listener.local_addr()?);
//!     let service = SockJsService::new(Config::new("/chat"), chat);
//!     // The hub outlives the move of the service into the server.
//!     let hub = service.hub();
//!     tokio::spawn(async move { serve(listener, service).await });
//!
//!     let mut alice = tokio_tungstenite::connect_async(&url).await?.0;
//!     let mut bob = tokio_tungstenite::connect_async(&url).await?.0;
//!     alice.send(Message::text("alice")).await?;
//!     bob.send(Message::text("bob")).await?;
//!     assert_eq!(alice.next().await.unwrap()?, Message::text("welcome alice"));
//!     assert_eq!(bob.next().await.unwrap()?, Message::text("welcome bob"));
//!
//!     alice.send(Message::text("hi")).await?;
//!     assert_eq!(bob.next().await.unwrap()?, Message::text("alice: hi"));
//!
//!     // From anywhere in the program: who is in the lobby, and a notice to everyone.
//!     let lobby = hub.sessions("lobby");
//!     let mut online: Vec<String> = lobby.iter().filter_map(|s| s.data::<Nick>()).map(|n| n.0).collect();
//!     online.sort();
//!     assert_eq!(online, ["alice", "bob"]);
//!     assert_eq!(hub.to_all().send("maintenance at noon"), 2);
//!     assert_eq!(alice.next().await.unwrap()?, Message::text("maintenance at noon"));
//!     assert_eq!(bob.next().await.unwrap()?, Message::text("maintenance at noon"));
//!     Ok(())
//! }
//! ```
//!
//! # Authorising a session
//!
//! SockJS does not give applications the client's cookies (see
//! [`Session::headers`]): the iframe-based transports let any page open a
//! session with the browser's cookies for your domain, so a cookie proves
//! nothing about who is on the other end. Put a token in the page instead,
//! have the client send it as its first message, and check it before
//! anything else. Closing codes 4000 to 4999 are free for applications;
//! `sockjs-client` hands the code and reason to the page's `onclose`.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use sockjs_server::{serve, Config, Session, SockJsService};
//! use std::time::Duration;
//! use tokio_tungstenite::tungstenite::Message;
//!
//! #[derive(Clone)]
//! struct User(String);
//!
//! /// Your token check (a signed token, a lookup in a session store, ...).
//! fn authenticate(token: &str) -> Option<User> {
//!     (token == "token-of-alice").then(|| User("alice".to_owned()))
//! }
//!
//! async fn app(mut session: Session) {
//!     // A client that says nothing for 10 s is not let in either.
//!     let first = tokio::time::timeout(Duration::from_secs(10), session.recv()).await;
//!     let Some(user) = first.ok().flatten().as_deref().and_then(authenticate) else {
//!         session.close(4001, "Unauthorized");
//!         return;
//!     };
//!     // Kept with the session: broadcast filters and other tasks can read it.
//!     session.set_data(user.clone());
//!     let _ = session.send(format!("hello {}", user.0)).await;
//!     while let Some(msg) = session.recv().await {
//!         // ... the application proper, for an authenticated user.
//! #       let _ = msg;
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let url = format!("ws://{}/app/websocket", listener.local_addr()?);
//!     let service = SockJsService::new(Config::new("/app"), app);
//!     tokio::spawn(async move { serve(listener, service).await });
//!
//!     let mut good = tokio_tungstenite::connect_async(&url).await?.0;
//!     good.send(Message::text("token-of-alice")).await?;
//!     assert_eq!(good.next().await.unwrap()?, Message::text("hello alice"));
//!
//!     let mut bad = tokio_tungstenite::connect_async(&url).await?.0;
//!     bad.send(Message::text("forged")).await?;
//!     let Message::Close(Some(frame)) = bad.next().await.unwrap()? else { panic!("not closed") };
//!     assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4001, "Unauthorized"));
//!     Ok(())
//! }
//! ```
//!
//! # Origins and CORS
//!
//! By default the service answers any `Origin` with CORS headers, as
//! sockjs-node does ([`Cors::ReflectAny`]). [`Config::allowed_origins`]
//! takes an allow-list of exact origins and patterns; for anything else,
//! [`Config::custom_cors`] takes a rule from the request's `Origin` to a
//! [`CorsDecision`]. A refused origin gets `403 Forbidden` on `/info`,
//! every session request and both websocket handshakes. These examples
//! call the service in process, as a tower `Service`.
//!
//! ```
//! use http::{header, Request, StatusCode};
//! use http_body_util::Empty;
//! use sockjs_server::{Config, CorsDecision, Session, SockJsService};
//! use tower::ServiceExt;
//! # async fn echo(_: Session) {}
//!
//! #[tokio::main]
//! async fn main() {
//!     // Our own sites over https, each tenant's subdomain included.
//!     let config = Config::new("/echo").custom_cors(|origin| {
//!         match origin.strip_prefix("https://") {
//!             Some(host) if host == "example.com" || host.ends_with(".example.com") => CorsDecision::Reflect,
//!             _ => CorsDecision::Refuse,
//!         }
//!     });
//!     let service = SockJsService::new(config, echo);
//!     let info = |origin: &str| {
//!         let req = Request::get("/echo/info").header(header::ORIGIN, origin);
//!         req.body(Empty::<bytes::Bytes>::new()).unwrap()
//!     };
//!
//!     let ok = service.clone().oneshot(info("https://shop.example.com")).await.unwrap();
//!     assert_eq!(ok.status(), StatusCode::OK);
//!     assert_eq!(ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://shop.example.com");
//!     let refused = service.oneshot(info("https://example.com.evil.test")).await.unwrap();
//!     assert_eq!(refused.status(), StatusCode::FORBIDDEN);
//! }
//! ```
//!
//! When every page that connects comes from the server's own origin,
//! [`Config::disable_cors`] turns CORS off: no `Access-Control-*` header on
//! any response, so browsers refuse cross-origin pages, and no iframe page
//! (the iframe-based transports are off; the others serve same-origin
//! pages as before).
//!
//! ```
//! use http::{header, Request, StatusCode};
//! use http_body_util::Empty;
//! use sockjs_server::{Config, Session, SockJsService};
//! use tower::ServiceExt;
//! # async fn echo(_: Session) {}
//!
//! #[tokio::main]
//! async fn main() {
//!     let service = SockJsService::new(Config::new("/echo").disable_cors(true), echo);
//!     let get = |path: &str| {
//!         let req = Request::get(path).header(header::ORIGIN, "https://elsewhere.test");
//!         req.body(Empty::<bytes::Bytes>::new()).unwrap()
//!     };
//!
//!     let info = service.clone().oneshot(get("/echo/info")).await.unwrap();
//!     assert_eq!(info.status(), StatusCode::OK);
//!     assert!(info.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
//!     let iframe = service.oneshot(get("/echo/iframe.html")).await.unwrap();
//!     assert_eq!(iframe.status(), StatusCode::NOT_FOUND);
//! }
//! ```
//!
//! # Mounting beside axum routes
//!
//! [`SockJsLayer`] puts a service in front of a router: requests under its
//! prefix go to SockJS, every other one to the router's routes (and its
//! fallback). `nest_service` works too; axum strips the mount path from
//! the requests it passes on, so the nested service's own prefix is `""`.
//!
//! ```
//! use axum::body::{to_bytes, Body};
//! use axum::{routing::get, Router};
//! use http::Request;
//! use sockjs_server::{Config, Session, SockJsLayer, SockJsService};
//! use tower::ServiceExt;
//! # async fn echo(_: Session) {}
//! # async fn chat(_: Session) {}
//!
//! #[tokio::main]
//! async fn main() {
//!     let app = Router::new()
//!         .route("/", get(|| async { "home" }))
//!         .nest_service("/chat", SockJsService::new(Config::new(""), chat))
//!         .layer(SockJsLayer::new(Config::new("/echo"), echo));
//!
//!     for (path, body) in [("/", "home"), ("/echo", "Welcome to SockJS!\n"), ("/chat", "Welcome to SockJS!\n")] {
//!         let res = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
//!         assert_eq!(to_bytes(res.into_body(), 1024).await.unwrap(), body);
//!     }
//! }
//! ```
//!
//! Run it with `axum::serve(listener, app)` (see the next section). For
//! [`Session::remote_addr`] under axum, serve
//! `app.into_make_service_with_connect_info::<SocketAddr>()` and enable
//! this crate's `axum` feature (see [the client's
//! address](#the-clients-address)).
//!
//! # Graceful shutdown
//!
//! Each service has a [`Shutdown`] handle. Triggering it closes every
//! session with `1001 "Server is shutting down"` (new ones get 503);
//! passing `shutdown.triggered()` as the server's graceful-shutdown signal
//! then stops the server, which lets the connections finish. This works
//! the same with [`serve`], `axum::serve` and plain hyper; several
//! services can share one handle ([`Config::shutdown`]).
//!
//! ```
//! use axum::{routing::get, Router};
//! use futures_util::{SinkExt, StreamExt};
//! use sockjs_server::{Config, Session, SockJsLayer};
//! use tokio_tungstenite::tungstenite::Message;
//! # async fn echo(mut s: Session) { while let Some(m) = s.recv().await { let _ = s.send(m).await; } }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let sockjs = SockJsLayer::new(Config::new("/echo"), echo);
//!     let shutdown = sockjs.shutdown_handle();
//!     // In a program, a signal triggers it.
//!     let on_signal = shutdown.clone();
//!     tokio::spawn(async move {
//!         if tokio::signal::ctrl_c().await.is_ok() {
//!             on_signal.trigger();
//!         }
//!     });
//!     let app = Router::new().route("/", get(|| async { "home" })).layer(sockjs);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let stopped = shutdown.triggered();
//!     let server = tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stopped).await });
//!
//!     let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo/websocket")).await?;
//!     client.send(Message::text("still there?")).await?;
//!     assert_eq!(client.next().await.unwrap()?, Message::text("still there?"));
//!
//!     shutdown.trigger(); // here, instead of Ctrl-C
//!     let Message::Close(Some(frame)) = client.next().await.unwrap()? else { panic!("not closed") };
//!     assert_eq!((u16::from(frame.code), frame.reason.as_str()), (1001, "Server is shutting down"));
//!     assert!(client.next().await.is_none()); // the close handshake is done
//!     server.await??;
//!     Ok(())
//! }
//! ```
//!
//! # Several nodes
//!
//! Behind a load balancer (sticky by session, see `docs/DEPLOYMENT.md` in
//! the repository), each node holds its own sessions. [`Config::cluster`]
//! links a service's [`Hub`] to the same service on the other nodes
//! through an adapter: a broadcast made on any node reaches the matching
//! sessions of every node, and [`Hub::cluster_count`] and
//! [`Hub::cluster_sessions`] ask every node. The `sockjs-redis` crate is
//! the adapter on Redis pub/sub (`RedisCluster`; its crate documentation
//! has the example to copy). Without an adapter everything stays in the
//! process and costs nothing more.
//!
//! An adapter implements [`Cluster`] (called once per service) and
//! [`ClusterLink`] (publish a broadcast to the other nodes, ask them a
//! [`Query`]); on the receiving side it hands what arrives to
//! [`Hub::deliver`] and answers queries with [`Hub::report`]. Here two
//! nodes in one process share an in-memory adapter, in place of a broker:
//!
//! ```
//! use futures_util::StreamExt;
//! use sockjs_server::{
//!     serve, BoxFuture, Cluster, ClusterError, ClusterLink, Config, Envelope, Hub, NodeReport, Query, Session,
//!     SockJsService,
//! };
//! use std::sync::{Arc, Mutex};
//! use tokio_tungstenite::tungstenite::Message;
//!
//! /// The hub of every linked service, by node name: a stand-in for a broker.
//! type Bus = Arc<Mutex<Vec<(String, Hub)>>>;
//!
//! /// One node's adapter.
//! struct InMemory { node: String, bus: Bus }
//!
//! impl Cluster for InMemory {
//!     fn link(&self, _service: &str, hub: Hub) -> Arc<dyn ClusterLink> {
//!         // One service per node here; a real adapter keys its channels by `_service`.
//!         self.bus.lock().unwrap().push((self.node.clone(), hub));
//!         Arc::new(InMemory { node: self.node.clone(), bus: self.bus.clone() })
//!     }
//! }
//!
//! impl ClusterLink for InMemory {
//!     fn publish(&self, envelope: Envelope) -> BoxFuture<'static, Result<usize, ClusterError>> {
//!         let bus = self.bus.lock().unwrap();
//!         let others: Vec<&Hub> = bus.iter().filter(|(node, _)| *node != self.node).map(|(_, hub)| hub).collect();
//!         for hub in &others {
//!             hub.deliver(&envelope);
//!         }
//!         let reached = others.len();
//!         Box::pin(async move { Ok(reached) })
//!     }
//!
//!     fn query(&self, query: Query) -> BoxFuture<'static, Result<Vec<NodeReport>, ClusterError>> {
//!         let reports = self.bus.lock().unwrap().iter().map(|(node, hub)| hub.report(node, &query)).collect();
//!         Box::pin(async move { Ok(reports) })
//!     }
//! }
//!
//! async fn subscriber(session: Session) {
//!     let _ = session.send("subscribed").await;
//!     session.closed().await;
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let bus = Bus::default();
//!     let node = |name: &str| InMemory { node: name.to_owned(), bus: bus.clone() };
//!     let a = SockJsService::new(Config::new("/news").cluster(node("a")), subscriber);
//!     let b = SockJsService::new(Config::new("/news").cluster(node("b")), subscriber);
//!     let hub_a = a.hub();
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let url = format!("ws://{}/news/websocket", listener.local_addr()?);
//!     tokio::spawn(async move { serve(listener, b).await });
//!
//!     // A client of node b (node a has none), and a broadcast made on node a.
//!     let mut client = tokio_tungstenite::connect_async(&url).await?.0;
//!     assert_eq!(client.next().await.unwrap()?, Message::text("subscribed"));
//!     assert_eq!(hub_a.cluster_count(None).await?, 1);
//!     let sent = hub_a.to_all().publish("extra! extra!").await;
//!     assert_eq!((sent.local, sent.remote), (0, Ok(1)));
//!     assert_eq!(client.next().await.unwrap()?, Message::text("extra! extra!"));
//!     Ok(())
//! }
//! ```
//!
//! # Supervision
//!
//! Each session's handler runs in a task of its own (on the websocket
//! endpoints, the connection's task, polled beside it), inside a `tracing` span
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
mod inbox;
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
