//! Service options: one `Config`, built by value.

use crate::cors::{Cors, CorsDecision, JSessionId};
use http::request::Parts;
use sockjs_core::TransportSet;
pub use sockjs_core::{OriginPattern, OriginPatternError, Transport};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The `base_url` advertised by `/info`.
#[derive(Clone)]
#[non_exhaustive]
pub enum BaseUrl {
    /// Always this URL.
    Fixed(String),
    /// Computed per `/info` request.
    PerRequest(Arc<dyn Fn(&Parts) -> String + Send + Sync>),
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseUrl::Fixed(u) => f.debug_tuple("Fixed").field(u).finish(),
            BaseUrl::PerRequest(_) => f.write_str("PerRequest(..)"),
        }
    }
}

/// Options of one SockJS service. Build it by value:
///
/// ```
/// use std::time::Duration;
/// use sockjs_server::Config;
/// let config = Config::new("/echo")
///     .response_limit(4096)
///     .heartbeat_delay(Duration::from_secs(10));
/// assert_eq!(config.get_prefix(), "/echo");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    pub(crate) prefix: String,
    pub(crate) sockjs_url: String,
    pub(crate) response_limit: usize,
    pub(crate) heartbeat_delay: Duration,
    pub(crate) disconnect_delay: Duration,
    pub(crate) jsessionid: JSessionId,
    pub(crate) transports: TransportSet,
    pub(crate) cors: Cors,
    pub(crate) base_url: Option<BaseUrl>,
    pub(crate) max_message_size: usize,
    pub(crate) max_messages_per_send: usize,
    pub(crate) max_queued_messages: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) inbound_capacity: usize,
    pub(crate) websocket_pong_timeout: Option<Duration>,
    pub(crate) max_sessions: usize,
    pub(crate) max_session_id_len: usize,
    pub(crate) body_read_timeout: Duration,
    pub(crate) slow_consumer_timeout: Option<Duration>,
    pub(crate) max_fragments: usize,
    pub(crate) receiver_grace: Duration,
    pub(crate) xhr_send_settle: Duration,
    pub(crate) websocket_frame_timeout: Option<Duration>,
    pub(crate) shutdown: crate::Shutdown,
    pub(crate) cluster: Option<ClusterHandle>,
    pub(crate) trusted_proxies: Vec<crate::ProxyNet>,
}

/// The configured cluster adapter (a `Debug` wrapper).
#[derive(Clone)]
pub(crate) struct ClusterHandle(pub(crate) std::sync::Arc<dyn crate::Cluster>);

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster")
    }
}

/// The longest any duration option is taken to be: one year. Larger values
/// (up to `Duration::MAX`) mean one year, so no deadline overflows.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

fn clamp(d: Duration) -> Duration {
    d.min(MAX_DURATION)
}

/// Most inbound messages buffered per session (see [`Config::inbound_capacity`]).
const MAX_INBOUND_CAPACITY: usize = 1 << 20;

impl Default for Config {
    fn default() -> Self {
        Config::new("")
    }
}

impl Config {
    /// A configuration for a service mounted at `prefix` (e.g. `"/echo"`;
    /// `""` or `"/"` to serve at the root), with every other option at its default.
    pub fn new(prefix: impl Into<String>) -> Config {
        Config {
            prefix: normalize_prefix(prefix.into()),
            sockjs_url: "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js".into(),
            response_limit: 128 * 1024,
            heartbeat_delay: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            jsessionid: JSessionId::Off,
            transports: TransportSet::all(),
            cors: Cors::ReflectAny,
            base_url: None,
            max_message_size: 1024 * 1024,
            max_messages_per_send: 4096,
            max_queued_messages: 4096,
            max_queued_bytes: 4 * 1024 * 1024,
            inbound_capacity: 1024,
            websocket_pong_timeout: Some(Duration::from_secs(10)),
            max_sessions: 100_000,
            max_session_id_len: sockjs_core::MAX_ID_LEN,
            body_read_timeout: Duration::from_secs(30),
            slow_consumer_timeout: Some(Duration::from_secs(30)),
            max_fragments: 1024,
            receiver_grace: Duration::from_millis(250),
            xhr_send_settle: Duration::from_millis(50),
            websocket_frame_timeout: Some(Duration::from_secs(30)),
            shutdown: crate::Shutdown::new(),
            cluster: None,
            trusted_proxies: Vec::new(),
        }
    }

    /// The proxies (load balancers) whose `X-Forwarded-For` header tells
    /// the client's address to [`Session::remote_addr`](crate::Session::remote_addr).
    /// A request from any other peer is taken at its word: its own address,
    /// whatever headers it sends, since anyone can write `X-Forwarded-For`.
    /// From a trusted peer, the header is read from its right end past
    /// every trusted proxy to the first address that is not one. None by
    /// default.
    ///
    /// ```
    /// use sockjs_server::{Config, ProxyNet};
    /// let haproxy: ProxyNet = "10.0.0.0/24".parse().unwrap();
    /// let config = Config::new("/echo")
    ///     .trusted_proxies([haproxy, ProxyNet::from(std::net::Ipv4Addr::LOCALHOST)]);
    /// # let _ = config;
    /// ```
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = crate::ProxyNet>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// The path prefix the service answers under, matched on whole path
    /// segments (`/echo` serves `/echo/info` but not `/echoes`).
    /// Defaults to `""` (the root).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = normalize_prefix(prefix.into());
        self
    }

    /// The configured prefix, normalized (no trailing `/`).
    pub fn get_prefix(&self) -> &str {
        &self.prefix
    }

    /// The URL of the SockJS client library loaded by the iframe page (used
    /// by iframe-based transports). Defaults to
    /// `https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js`.
    pub fn sockjs_url(mut self, url: impl Into<String>) -> Self {
        self.sockjs_url = url.into();
        self
    }

    /// Bytes of frames a streaming response (xhr-streaming, eventsource,
    /// htmlfile) carries before the server ends it so the client reconnects
    /// (streaming responses otherwise grow the browser's memory). The
    /// prelude is not counted. Defaults to 131072 bytes (128 KiB).
    pub fn response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes.max(1);
        self
    }

    /// How long a connection may stay silent before the server sends a
    /// heartbeat (`h` frame, plus a websocket ping on the framed websocket
    /// endpoint; a websocket ping alone on the raw one). Values are taken
    /// between 1 ms and [`MAX_DURATION`]. Defaults to 25 s.
    pub fn heartbeat_delay(mut self, delay: Duration) -> Self {
        self.heartbeat_delay = clamp(delay).max(Duration::from_millis(1));
        self
    }

    /// How long a session without any receiving connection lives before it
    /// is closed and forgotten. At most [`MAX_DURATION`]. Defaults to 5 s.
    pub fn disconnect_delay(mut self, delay: Duration) -> Self {
        self.disconnect_delay = clamp(delay);
        self
    }

    /// The `JSESSIONID` cookie policy. Defaults to [`JSessionId::Off`].
    pub fn jsessionid(mut self, policy: JSessionId) -> Self {
        self.jsessionid = policy;
        self
    }

    /// Enables or disables WebSocket (framed and raw); when disabled, `/info`
    /// says `"websocket": false` and the websocket routes answer 404.
    /// Defaults to enabled.
    pub fn websocket(mut self, enabled: bool) -> Self {
        self.set_transport(Transport::Websocket, enabled);
        self.set_transport(Transport::RawWebsocket, enabled);
        self
    }

    /// Enables exactly the given transports; the routes of the others answer
    /// 404. Defaults to [`Transport::ALL`].
    pub fn transports(mut self, transports: impl IntoIterator<Item = Transport>) -> Self {
        self.transports = transports.into_iter().collect();
        self
    }

    fn set_transport(&mut self, t: Transport, on: bool) {
        if on {
            self.transports.insert(t);
        } else {
            self.transports.remove(t);
        }
    }

    /// True when `t` is enabled.
    pub fn is_enabled(&self, t: Transport) -> bool {
        self.transports.contains(t)
    }

    /// The CORS policy. Defaults to [`Cors::ReflectAny`].
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// `disable_cors(true)` is `cors(Cors::Disabled)`: no
    /// `Access-Control-*` headers at all, no iframe page.
    /// `disable_cors(false)` undoes only that: a disabled policy becomes
    /// [`Cors::ReflectAny`], and any other policy (an allow-list, a custom
    /// rule) is kept as it is. Defaults to false.
    ///
    /// ```
    /// use sockjs_server::{Config, Cors};
    /// let c = Config::new("/x").allowed_origins(["https://a.org"]).unwrap().disable_cors(false);
    /// assert!(matches!(c.get_cors(), Cors::AllowList(_)));
    /// let c = Config::new("/x").disable_cors(true).disable_cors(false);
    /// assert!(matches!(c.get_cors(), Cors::ReflectAny));
    /// ```
    pub fn disable_cors(self, disabled: bool) -> Self {
        match (disabled, &self.cors) {
            (true, _) => self.cors(Cors::Disabled),
            (false, Cors::Disabled) => self.cors(Cors::ReflectAny),
            (false, _) => self,
        }
    }

    /// The origin policy in effect.
    pub fn get_cors(&self) -> &Cors {
        &self.cors
    }

    /// Shorthand for a [`Cors::AllowList`] of `patterns` (see
    /// [`OriginPattern`]). Fails on the first pattern that does not parse.
    ///
    /// ```
    /// use sockjs_server::Config;
    /// let config = Config::new("/echo")
    ///     .allowed_origins(["https://example.com", "https://*.example.com"])
    ///     .unwrap();
    /// assert!(Config::new("/echo").allowed_origins(["*"]).is_err());
    /// ```
    pub fn allowed_origins<I, P>(self, patterns: I) -> Result<Self, OriginPatternError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let list = patterns
            .into_iter()
            .map(|p| OriginPattern::new(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.cors(Cors::AllowList(list.into())))
    }

    /// Shorthand for a [`Cors::Custom`] rule.
    pub fn custom_cors(self, rule: impl Fn(&str) -> CorsDecision + Send + Sync + 'static) -> Self {
        self.cors(Cors::Custom(Arc::new(rule)))
    }

    /// The `base_url` that `/info` advertises. Defaults to none (the key is omitted).
    pub fn base_url(mut self, base_url: BaseUrl) -> Self {
        self.base_url = Some(base_url);
        self
    }

    /// Largest inbound payload in bytes, measured on the decoded messages
    /// (the sum of their UTF-8 lengths): an `xhr_send`/`jsonp_send` body
    /// (over it: 413) and a websocket message (over it: close 1009). The
    /// encoded form may be up to six times larger (JSON `\uXXXX` escapes),
    /// so raw bodies and framed websocket messages are read up to
    /// `6 × max_message_size + 1024` bytes before decoding; a raw websocket
    /// message is limited to `max_message_size` bytes as it arrives.
    /// Defaults to 1048576 bytes (1 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(16);
        self
    }

    /// Most messages accepted in one `xhr_send`/`jsonp_send` payload (over
    /// it: 413) or framed websocket message (over it: close 1009).
    /// Defaults to 4096.
    pub fn max_messages_per_send(mut self, n: usize) -> Self {
        self.max_messages_per_send = n.max(1);
        self
    }

    /// Bounds of each session's outbound queue, in messages and bytes. When
    /// full, `Session::send` waits and `Session::try_send` reports it.
    /// Defaults to 4096 messages and 4194304 bytes (4 MiB).
    pub fn max_queued(mut self, messages: usize, bytes: usize) -> Self {
        self.max_queued_messages = messages.max(1);
        self.max_queued_bytes = bytes.max(1);
        self
    }

    /// Inbound messages buffered per session before the transport stops
    /// reading (websocket) or `xhr_send` waits for the application.
    /// Defaults to 1024 messages.
    pub fn inbound_capacity(mut self, messages: usize) -> Self {
        self.inbound_capacity = messages.clamp(1, MAX_INBOUND_CAPACITY);
        self
    }

    /// How long a websocket peer may take to answer the ping sent with each
    /// heartbeat (any frame, or bytes of a frame still arriving, count as an
    /// answer; time the server spends not reading does not count against
    /// the peer) before the session is closed with 3000 "No response from
    /// heartbeat" (framed endpoint) or with a websocket close of that code
    /// and reason (raw endpoint); `None` disables the check. At most
    /// [`MAX_DURATION`]. Defaults to 10 s.
    pub fn websocket_pong_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.websocket_pong_timeout = timeout.map(clamp);
        self
    }

    /// How long a started inbound websocket frame may wait for its next byte
    /// (on both websocket endpoints); a peer that starts a frame and stalls
    /// (a slowloris on websocket) is closed with 1008 "Frame timed out". A
    /// large frame that keeps arriving, however slowly, is not cut, and
    /// time the server itself spends not reading (its application is
    /// behind) does not count. `None` disables it. At most [`MAX_DURATION`].
    /// Defaults to 30 s.
    pub fn websocket_frame_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.websocket_frame_timeout = timeout.map(clamp);
        self
    }

    /// How long a receiver request (a poll or a stream) that finds another
    /// receiver attached to its session waits for that one to leave before
    /// it is answered `c[2010,"Another connection still open"]`.
    ///
    /// A client that aborts a poll and polls again at once closes the old
    /// connection just before sending the new request, but the server may
    /// see the new request first: the two are handled by separate tasks.
    /// The protocol requires that such a re-poll never gets 2010, so the
    /// new request waits for the old receiver to be noticed gone. Only a
    /// client that really opens two receivers at once pays this wait. At
    /// most [`MAX_DURATION`]. Defaults to 250 ms.
    pub fn receiver_grace(mut self, grace: Duration) -> Self {
        self.receiver_grace = clamp(grace);
        self
    }

    /// How long an `xhr_send`/`jsonp_send` request waits, after handing its
    /// messages to the application, for the application to have taken them
    /// all and be waiting in `recv()` again, before it is answered.
    ///
    /// sockjs-node runs its `data` handlers synchronously, so the replies
    /// an application sends to a message are queued before the send request
    /// is answered; clients (and the protocol's test suite) poll right
    /// after a send and expect those replies. Here the application runs in
    /// its own task, and this wait gives the same ordering. It ends as soon
    /// as the application is idle, so it costs nothing to an application
    /// that keeps up; an application that is busy (or never calls `recv()`
    /// again) delays the answer by at most this. `Duration::ZERO` answers
    /// at once. At most [`MAX_DURATION`]. Defaults to 50 ms.
    pub fn xhr_send_settle(mut self, wait: Duration) -> Self {
        self.xhr_send_settle = clamp(wait);
        self
    }

    /// The [`crate::Shutdown`] handle that shuts this service down (closing
    /// its sessions with 1001 and refusing new ones). Give several services
    /// (and your server's graceful-shutdown signal) the same handle to stop
    /// them together. Defaults to a handle of this `Config`'s own (shared
    /// by its clones), returned by [`crate::SockJsService::shutdown_handle`].
    pub fn shutdown(mut self, shutdown: crate::Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// A cross-node adapter (for example `sockjs_redis::RedisCluster`): the
    /// service's [`crate::Hub`] then broadcasts to, and counts, the
    /// sessions of every node. Linked once, when the service is built
    /// (inside a tokio runtime, for adapters that start tasks). Defaults to
    /// none: everything stays in the process.
    pub fn cluster(mut self, cluster: impl crate::Cluster) -> Self {
        self.cluster = Some(ClusterHandle(std::sync::Arc::new(cluster)));
        self
    }

    /// Most live sessions of this service (HTTP sessions not yet reclaimed
    /// plus open websockets). A request that would open one more gets
    /// `503 Service Unavailable` (websocket handshakes included); existing
    /// sessions are not affected. Defaults to 100000 sessions.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions.max(1);
        self
    }

    /// Longest session id accepted in a session URL, in bytes; longer ids
    /// get 404 and create nothing. Values above the protocol parser's own
    /// bound ([`sockjs_core::MAX_ID_LEN`], 128) have no further effect.
    /// Defaults to 128 bytes.
    pub fn max_session_id_len(mut self, bytes: usize) -> Self {
        self.max_session_id_len = bytes.clamp(1, sockjs_core::MAX_ID_LEN);
        self
    }

    /// How long an `xhr_send`/`jsonp_send` request body may take to arrive
    /// in full; a slower body is answered `408 Request Timeout` with
    /// `Connection: close`, and none of its messages are delivered.
    /// At most [`MAX_DURATION`]. Defaults to 30 s.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = clamp(timeout);
        self
    }

    /// How long a session's outbound queue may stay full (see
    /// [`Config::max_queued`]) before the session is closed with
    /// 1013 "Slow consumer", and how long one websocket write may wait for
    /// a peer that stopped reading before the connection is dropped.
    ///
    /// Messages already queued are still delivered before the close frame
    /// if the peer resumes reading; senders waiting for room get
    /// [`crate::SendError::Closed`], so nothing is dropped silently.
    /// `None` disables both checks (a stalled peer then holds its session
    /// until the TCP connection fails).
    ///
    /// The same bound applies the other way round: an `xhr_send` or
    /// `jsonp_send` waits for room in the application's inbound queue (see
    /// [`Config::inbound_capacity`]) at most this long without the
    /// application taking a message (at most [`Config::body_read_timeout`]
    /// when this is `None`); past it the
    /// session is closed with 1011 "Application not reading" and the
    /// request is answered `503`, so messages the application never took
    /// are not lost silently. At most [`MAX_DURATION`]. Defaults to 30 s.
    pub fn slow_consumer_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.slow_consumer_timeout = timeout.map(clamp);
        self
    }

    /// Most frames one websocket message may be fragmented into (the first
    /// frame and its continuations); over it the connection is closed with
    /// 1009. Caps the work a peer can cause with floods of tiny fragments.
    /// Defaults to 1024 frames.
    pub fn max_fragments(mut self, frames: usize) -> Self {
        self.max_fragments = frames.max(1);
        self
    }
}

fn normalize_prefix(p: String) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        String::new()
    } else if t.starts_with('/') {
        t.to_owned()
    } else {
        format!("/{t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_normalize() {
        assert_eq!(Config::new("/").get_prefix(), "");
        assert_eq!(Config::new("echo/").get_prefix(), "/echo");
        assert_eq!(Config::new("/a/b").get_prefix(), "/a/b");
    }

    #[test]
    fn transports_toggle() {
        let c = Config::new("/x").websocket(false);
        assert!(!c.is_enabled(Transport::Websocket));
        assert!(!c.is_enabled(Transport::RawWebsocket));
        assert!(c.is_enabled(Transport::XhrPolling));
        let c = Config::new("/x").transports([Transport::XhrPolling]);
        assert!(!c.is_enabled(Transport::EventSource));
    }
}
