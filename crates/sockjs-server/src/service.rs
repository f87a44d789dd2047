//! The tower `Service` and `Layer`: routing, fixed pages and HTTP transports.

use crate::body::{request_drain, ReceiverBody, SockJsBody};
use crate::clock::{after_std, now};
use crate::config::{BaseUrl, Config, Cors, JSessionId, Transport};
use crate::cors::{self, AllowOrigin};
use crate::error::{HttpError, TEXT_PLAIN};
use crate::handler::Handler;
use crate::registry::Registry;
use crate::session::{short_id, ConnInfo, Session, Shared, HEADER_WHITELIST};
use crate::shutdown::{OnShutdown, SHUTTING_DOWN};
use crate::ws;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use sha1::{Digest, Sha1};
use sockjs_core::{
    decode_messages, jsonp_send_payload, percent_decode, validate_callback, Attach, DecodeLimits, Endpoint,
    QueueLimits, Receiver, Route, RouteError,
};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// The error type of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// State shared by every clone of one SockJS service.
pub(crate) struct State<H> {
    pub(crate) config: Config,
    handler: H,
    sessions: Registry<Arc<str>>,
    pub(crate) ws_sessions: Registry<u64>,
    next_ws: AtomicU64,
    iframe: Bytes,
    etag: HeaderValue,
    /// Live sessions, counted by [`SessionSlot`]s (bounded by `max_sessions`).
    live: Arc<AtomicUsize>,
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

    fn close_all(&self, code: u16, reason: &str) {
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
    pub(crate) fn start_session(
        self: &Arc<Self>,
        id: Arc<str>,
        info: ConnInfo,
    ) -> (Arc<Shared>, tokio::sync::mpsc::Receiver<String>, Arc<ConnInfo>) {
        let (tx, rx) = tokio::sync::mpsc::channel(self.config.inbound_capacity);
        let core = sockjs_core::Session::new(now(), self.config.disconnect_delay, self.queue_limits());
        (
            Shared::new(id, core, tx, self.config.slow_consumer_timeout),
            rx,
            Arc::new(info),
        )
    }

    /// Runs the application on `session` in a task of its own, inside a
    /// span naming the service, the transport and a short session id. A
    /// panicking application is logged and its session closed with
    /// 1011 "Internal error" (see `Session`'s `Drop`); the panic goes no
    /// further than its own task.
    pub(crate) fn spawn_handler(&self, session: Session) {
        use futures_util::FutureExt;
        use tracing::Instrument;
        let span = tracing::info_span!(
            "sockjs.session",
            prefix = %self.config.prefix,
            transport = %session.transport(),
            session = %short_id(session.id_str()),
        );
        let app = self.handler.call(session);
        tokio::spawn(
            async move {
                if let Err(panic) = std::panic::AssertUnwindSafe(app).catch_unwind().await {
                    let what = panic
                        .downcast_ref::<&str>()
                        .copied()
                        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("(not a string)");
                    tracing::error!(panic = %what, "session handler panicked; session closed with 1011");
                }
            }
            .instrument(span),
        );
    }

    /// Finds the HTTP session `id`, or creates it (starting the application
    /// and its expiry timer); 503 when that would exceed `max_sessions`.
    fn get_or_create(self: &Arc<Self>, id: &str, info: impl FnOnce() -> ConnInfo) -> Result<Arc<Shared>, HttpError> {
        let mut map = self.sessions.shard(id);
        if let Some(s) = map.get(id) {
            return Ok(s.clone());
        }
        let slot = self.try_reserve()?;
        let key: Arc<str> = id.into();
        let (shared, rx, info) = self.start_session(key.clone(), info());
        map.insert(key, shared.clone());
        drop(map);
        tracing::debug!(session = %short_id(id), transport = %info.transport, "session opened");
        tokio::spawn(expiry_timer(Arc::downgrade(self), shared.clone(), slot));
        self.spawn_handler(Session::new(shared.clone(), rx, info));
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
            }
            shared.expire(1000, "Session timed out");
            tracing::debug!(session = %short_id(&shared.id), "session expired");
            return;
        }
    }
}

/// A tower [`Service`] serving one SockJS endpoint under its prefix and
/// passing every other request to `S`.
///
/// ```
/// use sockjs_server::{Config, Session, SockJsService};
/// async fn echo(mut s: Session) {
///     while let Some(m) = s.recv().await {
///         let _ = s.send(m).await;
///     }
/// }
/// let service = SockJsService::new(Config::new("/echo"), echo);
/// assert_eq!(service.session_count(), 0);
/// ```
pub struct SockJsService<H, S = NotFound> {
    state: Arc<State<H>>,
    inner: S,
}

impl<H, S: Clone> Clone for SockJsService<H, S> {
    fn clone(&self) -> Self {
        SockJsService {
            state: self.state.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<H, S> std::fmt::Debug for SockJsService<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockJsService")
            .field("prefix", &self.state.config.prefix)
            .finish()
    }
}

pub(crate) fn new_state<H: Handler>(config: Config, handler: H) -> Arc<State<H>> {
    let iframe = sockjs_core::iframe_page(&config.sockjs_url);
    let digest = Sha1::digest(iframe.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let etag = HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"sockjs\""));
    let shutdown = config.shutdown.clone();
    let state = Arc::new(State {
        config,
        handler,
        sessions: Registry::new(),
        ws_sessions: Registry::new(),
        next_ws: AtomicU64::new(0),
        iframe: Bytes::from(iframe),
        etag,
        live: Arc::new(AtomicUsize::new(0)),
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

impl<H: Handler> SockJsService<H> {
    /// A service for `config` running `handler` once per session; requests
    /// outside the prefix get 404.
    pub fn new(config: Config, handler: H) -> Self {
        SockJsService {
            state: new_state(config, handler),
            inner: NotFound,
        }
    }
}

impl<H, S> SockJsService<H, S> {
    /// Replaces the service that gets requests outside the prefix.
    pub fn with_inner<S2>(self, inner: S2) -> SockJsService<H, S2> {
        SockJsService {
            state: self.state,
            inner,
        }
    }

    /// Closes every live session with `code` and `reason` (each receives a
    /// close frame if a connection is attached).
    pub fn close_all(&self, code: u16, reason: &str) {
        self.state.close_all(code, reason);
    }

    /// Number of live sessions: HTTP sessions not yet forgotten (a closed
    /// or abandoned one is forgotten `disconnect_delay` after its last
    /// receiver left) plus open websockets. This is the number
    /// [`Config::max_sessions`] bounds; after every client left it returns
    /// to 0 within `disconnect_delay`.
    pub fn session_count(&self) -> usize {
        self.state.session_count()
    }

    /// The service's configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The handle that shuts this service down (the one given to
    /// [`Config::shutdown`], or the config's own). See [`crate::Shutdown`].
    pub fn shutdown_handle(&self) -> crate::Shutdown {
        self.state.config.shutdown.clone()
    }
}

/// A [`tower_layer::Layer`] that puts a SockJS service in front of another
/// service. Every service it makes shares the same sessions.
pub struct SockJsLayer<H> {
    state: Arc<State<H>>,
}

impl<H> Clone for SockJsLayer<H> {
    fn clone(&self) -> Self {
        SockJsLayer {
            state: self.state.clone(),
        }
    }
}

impl<H: Handler> SockJsLayer<H> {
    /// A layer for `config` running `handler` once per session.
    pub fn new(config: Config, handler: H) -> Self {
        SockJsLayer {
            state: new_state(config, handler),
        }
    }
}

impl<H> SockJsLayer<H> {
    /// The handle that shuts the layer's service down. See
    /// [`SockJsService::shutdown_handle`].
    pub fn shutdown_handle(&self) -> crate::Shutdown {
        self.state.config.shutdown.clone()
    }

    /// Number of live sessions. See [`SockJsService::session_count`].
    pub fn session_count(&self) -> usize {
        self.state.session_count()
    }
}

impl<H, S> tower_layer::Layer<S> for SockJsLayer<H> {
    type Service = SockJsService<H, S>;

    fn layer(&self, inner: S) -> Self::Service {
        SockJsService {
            state: self.state.clone(),
            inner,
        }
    }
}

/// The default inner service: `404 Not Found` for everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<SockJsBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        std::future::ready(Ok(HttpError::NotFound.into_response()))
    }
}

pin_project! {
    /// The response body of [`SockJsService`]: ours or the inner service's.
    #[project = ResponseBodyProj]
    #[allow(missing_docs)]
    pub enum ResponseBody<B> {
        /// A body produced by the SockJS service.
        SockJs {
            body: SockJsBody,
        },
        /// The inner service's body.
        Inner {
            #[pin]
            body: B,
        },
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match self.project() {
            ResponseBodyProj::SockJs { body } => Pin::new(body).poll_frame(cx).map_err(|e| match e {}),
            ResponseBodyProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::SockJs { body } => body.is_end_stream(),
            ResponseBody::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            ResponseBody::SockJs { body } => body.size_hint(),
            ResponseBody::Inner { body } => body.size_hint(),
        }
    }
}

pin_project! {
    /// The response future of [`SockJsService`].
    #[project = ResponseFutureProj]
    #[allow(missing_docs)]
    pub enum ResponseFuture<F> {
        /// Handled by the SockJS service.
        SockJs {
            fut: BoxFuture<Response<SockJsBody>>,
        },
        /// Passed to the inner service.
        Inner {
            #[pin]
            fut: F,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::SockJs { fut } => fut
                .as_mut()
                .poll(cx)
                .map(|r| Ok(r.map(|body| ResponseBody::SockJs { body }))),
            ResponseFutureProj::Inner { fut } => fut
                .poll(cx)
                .map(|r| r.map(|res| res.map(|body| ResponseBody::Inner { body }))),
        }
    }
}

/// The path under `prefix`, if `path` is `prefix` itself or below it on a
/// segment boundary.
fn under_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

impl<H, S, ReqBody, ResBody> Service<Request<ReqBody>> for SockJsService<H, S>
where
    H: Handler,
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if under_prefix(req.uri().path(), &self.state.config.prefix).is_some() {
            let state = self.state.clone();
            ResponseFuture::SockJs {
                fut: Box::pin(handle(state, req)),
            }
        } else {
            ResponseFuture::Inner {
                fut: self.inner.call(req),
            }
        }
    }
}

async fn handle<H, B>(state: Arc<State<H>>, req: Request<B>) -> Response<SockJsBody>
where
    H: Handler,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    match dispatch(&state, parts, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn transport_of(e: Endpoint) -> Option<Transport> {
    Some(match e {
        Endpoint::Websocket => Transport::Websocket,
        Endpoint::Xhr => Transport::XhrPolling,
        Endpoint::XhrStreaming => Transport::XhrStreaming,
        Endpoint::EventSource => Transport::EventSource,
        Endpoint::HtmlFile => Transport::HtmlFile,
        Endpoint::Jsonp | Endpoint::JsonpSend => Transport::JsonpPolling,
        Endpoint::XhrSend => return None,
        _ => return None,
    })
}

fn endpoint_enabled(config: &Config, e: Endpoint) -> bool {
    match transport_of(e) {
        Some(Transport::JsonpPolling) => {
            config.is_enabled(Transport::JsonpPolling) && !cors::refuses_unchecked(&config.cors)
        }
        Some(t) => config.is_enabled(t),
        // xhr_send serves every transport that has no send endpoint of its own.
        None => [
            Transport::XhrPolling,
            Transport::XhrStreaming,
            Transport::EventSource,
            Transport::HtmlFile,
        ]
        .iter()
        .any(|t| config.is_enabled(*t)),
    }
}

async fn dispatch<H, B>(state: &Arc<State<H>>, parts: Parts, body: B) -> Result<Response<SockJsBody>, HttpError>
where
    H: Handler,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let config = &state.config;
    let path = parts.uri.path();
    let rel = under_prefix(path, &config.prefix).unwrap_or("");
    let route = sockjs_core::route(parts.method.as_str(), rel).map_err(|e| match e {
        RouteError::MethodNotAllowed(allow) => HttpError::MethodNotAllowed(allow),
        _ => HttpError::NotFound,
    })?;
    match route {
        Route::Greeting => {
            let mut r = Response::new(SockJsBody::full("Welcome to SockJS!\n"));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
            Ok(r)
        }
        Route::Iframe => iframe(state, &parts),
        Route::Info => {
            let allow = cors::decide(&config.cors, &parts)?;
            let base_url = config.base_url.as_ref().map(|b| match b {
                BaseUrl::Fixed(u) => u.clone(),
                BaseUrl::PerRequest(f) => f(&parts),
            });
            let json = sockjs_core::info_json(
                config.is_enabled(Transport::Websocket),
                !matches!(config.jsessionid, JSessionId::Off),
                !matches!(config.cors, Cors::Disabled),
                entropy(),
                base_url.as_deref(),
            );
            let mut r = Response::new(SockJsBody::full(json));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=UTF-8"),
            );
            cors::no_cache(h);
            cors::apply(&allow, h);
            Ok(r)
        }
        Route::Preflight {
            allow: methods,
            endpoint,
        } => {
            if endpoint.is_some_and(|e| !endpoint_enabled(config, e)) {
                return Err(HttpError::NotFound);
            }
            let allow = cors::decide(&config.cors, &parts)?;
            let mut r = Response::new(SockJsBody::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            let h = r.headers_mut();
            cors::cache_for_a_year(h);
            cors::apply(&allow, h);
            cors::apply_preflight(&allow, methods, &parts, h);
            cors::cookie(&config.jsessionid, &parts, h);
            Ok(r)
        }
        Route::RawWebsocket => {
            if !config.is_enabled(Transport::RawWebsocket) {
                return Err(HttpError::NotFound);
            }
            cors::decide(&config.cors, &parts)?;
            ws::upgrade(state, parts, None)
        }
        Route::Session { session, endpoint, .. } => {
            if !endpoint_enabled(config, endpoint) || session.len() > config.max_session_id_len {
                return Err(HttpError::NotFound);
            }
            let allow = cors::decide(&config.cors, &parts)?;
            match endpoint {
                Endpoint::Websocket => ws::upgrade(state, parts.clone(), Some(session)),
                Endpoint::XhrSend | Endpoint::JsonpSend => send(state, &parts, body, session, endpoint, &allow).await,
                _ => receive(state, &parts, body, session, endpoint, &allow).await,
            }
        }
        _ => Err(HttpError::NotFound),
    }
}

fn entropy() -> u32 {
    // The client seeds its id generator from this; it must be unpredictable.
    getrandom::u32().unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.subsec_nanos() ^ (t.as_secs() as u32)
    })
}

fn iframe<H>(state: &State<H>, parts: &Parts) -> Result<Response<SockJsBody>, HttpError> {
    if matches!(state.config.cors, Cors::Disabled) || cors::refuses_unchecked(&state.config.cors) {
        return Err(HttpError::NotFound);
    }
    let matches = parts
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == state.etag || t.trim() == "*");
    let mut r = if matches {
        let mut r = Response::new(SockJsBody::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(SockJsBody::full(state.iframe.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
        r
    };
    let h = r.headers_mut();
    cors::cache_for_a_year(h);
    h.insert(header::ETAG, state.etag.clone());
    Ok(r)
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
        remote_addr: parts.extensions.get::<std::net::SocketAddr>().copied(),
        url: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        path: parts.uri.path().to_owned(),
        prefix: config.prefix.clone(),
        headers,
    }
}

fn query_param(parts: &Parts, names: &[&str]) -> Option<Result<String, ()>> {
    let q = parts.uri.query()?;
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if names.iter().any(|n| percent_decode(k.as_bytes(), true) == n.as_bytes()) {
            return Some(String::from_utf8(percent_decode(v.as_bytes(), true)).map_err(|_| ()));
        }
    }
    None
}

fn session_headers<H>(
    state: &State<H>,
    parts: &Parts,
    allow: &AllowOrigin,
    content_type: &'static str,
    h: &mut HeaderMap,
) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    cors::no_cache(h);
    cors::apply(allow, h);
    cors::cookie(&state.config.jsessionid, parts, h);
}

async fn receive<H: Handler, B>(
    state: &Arc<State<H>>,
    parts: &Parts,
    body: B,
    session: &str,
    endpoint: Endpoint,
    allow: &AllowOrigin,
) -> Result<Response<SockJsBody>, HttpError>
where
    B: Body + Send + 'static,
{
    let (kind, transport) = match endpoint {
        Endpoint::Xhr => (Receiver::XhrPolling, Transport::XhrPolling),
        Endpoint::XhrStreaming => (Receiver::XhrStreaming, Transport::XhrStreaming),
        Endpoint::EventSource => (Receiver::EventSource, Transport::EventSource),
        Endpoint::HtmlFile => (Receiver::HtmlFile, Transport::HtmlFile),
        Endpoint::Jsonp => (Receiver::JsonpPolling, Transport::JsonpPolling),
        _ => return Err(HttpError::NotFound),
    };
    let callback = if kind.needs_callback() {
        let raw = query_param(parts, &["c", "callback"]);
        let decoded = match raw {
            Some(Err(())) => return Err(sockjs_core::CallbackError::Invalid.into()),
            Some(Ok(s)) => Some(s),
            None => None,
        };
        validate_callback(decoded.as_deref())?.to_owned()
    } else {
        String::new()
    };
    let shared = state.get_or_create(session, || conn_info(&state.config, parts, transport))?;
    let body = match shared.attach_within(state.config.receiver_grace).await {
        Attach::Attached(rid) => SockJsBody::receiver(ReceiverBody::new(
            shared,
            rid,
            kind,
            &callback,
            state.config.response_limit,
            state.config.heartbeat_delay,
            request_drain(body, state.config.max_message_size as u64),
        )),
        _ => {
            let (code, reason) = sockjs_core::ANOTHER_CONNECTION;
            let mut frame = String::new();
            kind.wrap_frame(&sockjs_core::encode_close(code, reason), &callback, &mut frame);
            SockJsBody::chunks([Bytes::from(kind.prelude(&callback)), Bytes::from(frame)])
        }
    };
    let mut r = Response::new(body);
    session_headers(state, parts, allow, kind.content_type(), r.headers_mut());
    if parts.version == http::Version::HTTP_10 {
        // Without chunking, the end of the connection is the end of the body.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if matches!(kind, Receiver::JsonpPolling | Receiver::HtmlFile) {
        // Script and HTML bodies: no sniffing them into something else.
        r.headers_mut()
            .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    }
    Ok(r)
}

async fn send<H, B>(
    state: &Arc<State<H>>,
    parts: &Parts,
    body: B,
    session: &str,
    endpoint: Endpoint,
    allow: &AllowOrigin,
) -> Result<Response<SockJsBody>, HttpError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let shared = state.sessions.get(session).ok_or(HttpError::NotFound)?;
    // JSON escapes can make a payload up to six times its decoded size; the
    // decoded size is what `max_message_size` bounds.
    let max_raw = state.config.max_message_size.saturating_mul(6).saturating_add(1024);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_raw as u64) {
        return Err(HttpError::PayloadTooLarge);
    }
    // A peer trickling its body must not hold the request (and its
    // connection) open without bound.
    let collected = tokio::time::timeout(
        state.config.body_read_timeout,
        http_body_util::Limited::new(body, max_raw).collect(),
    )
    .await
    .map_err(|_| HttpError::RequestTimeout)?;
    let bytes = collected
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                HttpError::PayloadTooLarge
            } else {
                HttpError::BadRequest("Failed to read the request body.")
            }
        })?
        .to_bytes();
    let payload = if endpoint == Endpoint::JsonpSend {
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        jsonp_send_payload(&bytes, form)?
    } else {
        std::borrow::Cow::Borrowed(&bytes[..])
    };
    let messages = decode_messages(&payload, state.decode_limits())?;
    if let Some(tx) = shared.inbound() {
        let any = !messages.is_empty();
        let since = shared.idle_generation();
        // Waits while the application is behind (backpressure reaches the
        // client as a slower xhr_send), but not without bound: an
        // application that stopped reading must not hold the request, and
        // the messages it did not take must not vanish silently, so the
        // session is closed (the client learns it from the close frame).
        let wait = state
            .config
            .slow_consumer_timeout
            .unwrap_or(state.config.body_read_timeout);
        let delivered = tokio::time::timeout(wait, async {
            for m in messages {
                if tx.send(m).await.is_err() {
                    break;
                }
            }
        })
        .await;
        if delivered.is_err() {
            let (code, reason) = crate::session::APP_NOT_READING;
            tracing::debug!(session = %short_id(session), "application not taking inbound messages: closing");
            shared.close(code, reason);
            return Err(HttpError::AppNotReading);
        }
        if any {
            shared.settle(&tx, since, state.config.xhr_send_settle).await;
        }
    }
    let (status, content) = match endpoint {
        Endpoint::JsonpSend => (StatusCode::OK, "ok"),
        _ => (StatusCode::NO_CONTENT, ""),
    };
    let mut r = Response::new(SockJsBody::full(content));
    *r.status_mut() = status;
    session_headers(state, parts, allow, TEXT_PLAIN, r.headers_mut());
    Ok(r)
}

/// Allocates an id for a websocket session (websocket sessions are not
/// looked up by their URL's session id: each connection is its own session).
pub(crate) fn next_ws_id<H>(state: &State<H>) -> u64 {
    state.next_ws.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments() {
        assert_eq!(under_prefix("/echo", "/echo"), Some(""));
        assert_eq!(under_prefix("/echo/info", "/echo"), Some("/info"));
        assert_eq!(under_prefix("/echoes", "/echo"), None);
        assert_eq!(under_prefix("/x", ""), Some("/x"));
    }
}
