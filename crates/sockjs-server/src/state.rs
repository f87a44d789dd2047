//! The live sessions of one service: their registries and count, starting
//! a session (and its application task), and forgetting it once it expired.

use crate::clock::{after_std, now};
use crate::config::Config;
use crate::error::HttpError;
use crate::handler::Handler;
use crate::hub::Hub;
use crate::registry::Registry;
use crate::sender::SessionSender;
use crate::session::Session;
use crate::shared::{short_id, ConnInfo, SessionId, Shared, HEADER_WHITELIST};
use crate::shutdown::{OnShutdown, SHUTTING_DOWN};
use bytes::Bytes;
use http::header::HeaderMap;
use http::header::HeaderValue;
use http::request::Parts;
use sha1::{Digest, Sha1};
use sockjs_core::Transport;
use sockjs_core::{DecodeLimits, QueueLimits};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// State shared by every clone of one SockJS service.
pub(crate) struct State<H> {
    pub(crate) config: Config,
    handler: H,
    pub(crate) sessions: Registry<Arc<str>>,
    pub(crate) ws_sessions: Registry<u64>,
    next_id: AtomicU64,
    /// Every live session, and the rooms they joined.
    pub(crate) hub: Hub,
    pub(crate) iframe: Bytes,
    pub(crate) etag: HeaderValue,
    /// Live sessions, counted by [`SessionSlot`]s (bounded by `max_sessions`).
    live: Arc<AtomicUsize>,
    /// The service's metrics (nothing without the `metrics` feature).
    pub(crate) meters: crate::telemetry::ServiceMeters,
}

/// One reserved place among a service's live sessions, given back when
/// dropped: an HTTP session's slot lives in its expiry timer, a websocket
/// session's in its connection task, so a session is counted until it is
/// forgotten, however it ends.
pub(crate) struct SessionSlot(Arc<AtomicUsize>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<H> State<H> {
    /// A fresh identifier for a session of this service.
    pub(crate) fn next_id(&self) -> SessionId {
        SessionId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Forgets a session that ended: out of the hub and its rooms.
    pub(crate) fn end_session(&self, shared: &Shared) {
        self.hub.remove(shared.sid);
    }

    fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_messages: self.config.max_queued_messages,
            max_bytes: self.config.max_queued_bytes,
        }
    }

    pub(crate) fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_bytes: self.config.max_message_size,
            max_messages: self.config.max_messages_per_send,
        }
    }

    pub(crate) fn close_all(&self, code: u16, reason: &str) {
        for s in self.sessions.all().into_iter().chain(self.ws_sessions.all()) {
            s.close(code, reason);
        }
    }

    pub(crate) fn session_count(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Reserves a place for one more session, or refuses with 503 at `max_sessions`.
    pub(crate) fn try_reserve(&self) -> Result<SessionSlot, HttpError> {
        if self.config.shutdown.is_triggered() {
            return Err(HttpError::ShuttingDown);
        }
        let max = self.config.max_sessions;
        let mut cur = self.live.load(Ordering::Acquire);
        loop {
            if cur >= max {
                return Err(HttpError::TooManySessions);
            }
            match self
                .live
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(SessionSlot(self.live.clone())),
                Err(now) => cur = now,
            }
        }
    }
}

impl<H: Handler> State<H> {
    /// Creates a session and starts the application on it.
    /// The handle the application gets is returned with the shared state;
    /// the session is in the service's [`Hub`] from now until `end_session`.
    pub(crate) fn start_session(
        self: &Arc<Self>,
        sid: SessionId,
        id: Arc<str>,
        info: ConnInfo,
    ) -> (Arc<Shared>, Session) {
        let (tx, rx) = crate::inbox::channel(self.config.inbound_capacity);
        let core = sockjs_core::Session::new(now(), self.config.disconnect_delay, self.queue_limits());
        let meters = self.meters.session(info.transport);
        let shared = Shared::new(id, sid, core, tx, self.config.slow_consumer_timeout, meters);
        self.hub.register(SessionSender::new(shared.clone()));
        let session = Session::new(shared.clone(), rx, Arc::new(info), self.hub.clone());
        (shared, session)
    }

    /// Runs the application on `session` in a task of its own (see
    /// [`State::supervised`]).
    pub(crate) fn spawn_handler(&self, session: Session) {
        if let Some(app) = self.supervised(session) {
            tokio::spawn(app);
        }
    }

    /// The application running on `session`, inside a span naming the
    /// service, the transport and a short session id, for the caller to
    /// run (an HTTP session's own task, or a websocket's connection task).
    /// A panicking application is logged and its session closed with 1011
    /// "Internal error" (see `Session`'s `Drop`); the panic goes no further
    /// than this future. `None` when the handler panicked before returning
    /// its future (the session is closed already).
    pub(crate) fn supervised(&self, session: Session) -> Option<impl Future<Output = ()> + Send + 'static> {
        use futures_util::FutureExt;
        use tracing::Instrument;
        let span = tracing::info_span!(
            "sockjs.session",
            prefix = %self.config.prefix,
            transport = %session.transport(),
            session = %short_id(session.id_str()),
        );
        // Kept to close the session if the application panics: an `async`
        // handler drops its `Session` while unwinding (closing it with
        // 1011), but a hand-written future would only drop it later.
        let guard = session.sender();
        span.in_scope(|| tracing::debug!(remote = ?session.remote_addr(), "session opened"));
        let meters = self.meters.clone();
        let app = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handler.call(session))) {
            Ok(app) => app,
            Err(panic) => {
                let _entered = span.enter();
                meters.handler_panicked();
                panicked(&guard, panic.as_ref());
                log_close(&guard.shared.close_event_now());
                return None;
            }
        };
        Some(
            async move {
                let mut app = std::panic::AssertUnwindSafe(app).catch_unwind();
                let closed = guard.shared.wait_closed();
                tokio::pin!(closed);
                // The close is logged when it happens, whether the
                // application is still running or not.
                let mut logged = false;
                let ended = loop {
                    tokio::select! {
                        biased;
                        // Awaited by reference: the future (and a `Session`
                        // it owns) is dropped only after `panicked` closed
                        // the session.
                        r = &mut app => break r,
                        ev = &mut closed, if !logged => {
                            log_close(&Some(ev));
                            logged = true;
                        }
                    }
                };
                if let Err(panic) = ended {
                    meters.handler_panicked();
                    panicked(&guard, panic.as_ref());
                }
                drop(app);
                if !logged {
                    // The application's end closed the session (its
                    // `Session` was dropped), unless it handed the session
                    // to another task: then this waits for that close.
                    log_close(&Some(closed.await));
                }
            }
            .instrument(span),
        )
    }

    /// Finds the HTTP session `id`, or creates it (starting the application
    /// and its expiry timer); 503 when that would exceed `max_sessions`.
    pub(crate) fn get_or_create(
        self: &Arc<Self>,
        id: &str,
        info: impl FnOnce() -> ConnInfo,
    ) -> Result<Arc<Shared>, HttpError> {
        let mut map = self.sessions.shard(id);
        if let Some(s) = map.get(id) {
            return Ok(s.clone());
        }
        let slot = self.try_reserve()?;
        let key: Arc<str> = id.into();
        let (shared, session) = self.start_session(self.next_id(), key.clone(), info());
        map.insert(key, shared.clone());
        drop(map);
        tokio::spawn(expiry_timer(Arc::downgrade(self), shared.clone(), slot));
        self.spawn_handler(session);
        Ok(shared)
    }
}

/// Forgets a session once it had no receiver for `disconnect_delay`, then
/// gives its slot back (on return, with `_slot`).
async fn expiry_timer<H>(state: std::sync::Weak<State<H>>, shared: Arc<Shared>, _slot: SessionSlot) {
    loop {
        let deadline = shared.lock().core.deadline();
        let Some(state_ref) = state.upgrade() else { return };
        // While a receiver is attached there is no deadline; look again after
        // one delay (a detach can only set a later deadline than that).
        let target = deadline.unwrap_or_else(|| after_std(now(), state_ref.config.disconnect_delay));
        drop(state_ref);
        tokio::time::sleep_until(target.into()).await;
        if shared.lock().core.is_expired(now()) {
            if let Some(state) = state.upgrade() {
                state.sessions.remove_if_same(&*shared.id, &shared);
                state.end_session(&shared);
            }
            shared.expire(1000, "Session timed out");
            tracing::debug!(session = %short_id(&shared.id), "session expired");
            return;
        }
    }
}

pub(crate) fn new_state<H: Handler>(config: Config, handler: H) -> Arc<State<H>> {
    let iframe = sockjs_core::iframe_page(&config.sockjs_url);
    let digest = Sha1::digest(iframe.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let etag = HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"sockjs\""));
    let shutdown = config.shutdown.clone();
    let hub = Hub::new(&config.prefix, config.cluster.as_ref());
    let meters = crate::telemetry::ServiceMeters::new(&config.prefix);
    let state = Arc::new(State {
        config,
        handler,
        sessions: Registry::new(),
        ws_sessions: Registry::new(),
        next_id: AtomicU64::new(0),
        hub,
        iframe: Bytes::from(iframe),
        etag,
        live: Arc::new(AtomicUsize::new(0)),
        meters,
    });
    let weak: std::sync::Weak<dyn OnShutdown> = Arc::downgrade(&state) as std::sync::Weak<State<H>>;
    shutdown.register(weak);
    state
}

impl<H: Handler> OnShutdown for State<H> {
    fn shut_down(&self) {
        let (code, reason) = SHUTTING_DOWN;
        self.close_all(code, reason);
    }
}

/// The address of the connection that carried a request, as the server
/// put it in the request's extensions.
fn peer_addr(parts: &Parts) -> Option<std::net::SocketAddr> {
    let found = parts.extensions.get::<std::net::SocketAddr>().copied();
    #[cfg(feature = "axum")]
    let found = found.or_else(|| {
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0)
    });
    found
}

/// Builds what the application learns about the request that opened a session.
pub(crate) fn conn_info(config: &Config, parts: &Parts, transport: Transport) -> ConnInfo {
    // Sized to fit: a default HeaderMap reserves room for six entries
    // (about 600 bytes), held for the whole session.
    let count = HEADER_WHITELIST
        .iter()
        .map(|n| parts.headers.get_all(*n).iter().count())
        .sum();
    let mut headers = HeaderMap::with_capacity(count);
    for name in HEADER_WHITELIST {
        for v in parts.headers.get_all(name) {
            // Copied, not cloned: hyper's parsed header values are slices
            // of the connection's whole read buffer (8-16 KiB), so a clone
            // kept for the session's life pins that buffer too.
            let mut copy = HeaderValue::from_bytes(v.as_bytes()).unwrap_or_else(|_| v.clone());
            copy.set_sensitive(v.is_sensitive());
            headers.append(name, copy);
        }
    }
    ConnInfo {
        transport,
        remote_addr: peer_addr(parts)
            .map(|peer| crate::proxy::client_addr(peer, &parts.headers, &config.trusted_proxies)),
        url: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        path: parts.uri.path().to_owned(),
        prefix: config.prefix.clone(),
        headers,
    }
}

/// The session span's close event.
fn log_close(ev: &Option<sockjs_core::CloseEvent>) {
    if let Some(ev) = ev {
        tracing::debug!(code = ev.code, reason = %ev.reason, "session closed");
    }
}

/// Logs an application's panic and closes its session with 1011.
fn panicked(session: &SessionSender, panic: &(dyn std::any::Any + Send)) {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)");
    tracing::error!(panic = %what, "session handler panicked; session closed with 1011");
    let (code, reason) = crate::shared::HANDLER_PANICKED;
    session.close(code, reason);
}
