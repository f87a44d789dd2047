//! Service options: one `Config`, built by value.

use http::request::Parts;
use http::HeaderValue;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A function from the request to the `Set-Cookie` value to answer.
pub type CookieFn = Arc<dyn Fn(&Parts) -> Option<HeaderValue> + Send + Sync>;

/// What to do about the `JSESSIONID` cookie that load balancers use for
/// sticky sessions.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum JSessionId {
    /// No cookie; `/info` says `"cookie_needed": false`.
    #[default]
    Off,
    /// Every session response and xhr/info preflight sets
    /// `JSESSIONID=<the request's value, else "dummy">; path=/`, and `/info`
    /// says `"cookie_needed": true`.
    On,
    /// A function decides the full `Set-Cookie` value from the request (or
    /// `None` for no cookie); `/info` says `"cookie_needed": true`.
    Custom(CookieFn),
}

impl fmt::Debug for JSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JSessionId::Off => f.write_str("Off"),
            JSessionId::On => f.write_str("On"),
            JSessionId::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// A custom CORS rule's answer for one request `Origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsDecision {
    /// Allow, answering `Access-Control-Allow-Origin: <value>` with credentials.
    Allow(HeaderValue),
    /// Refuse: the request gets `403 Forbidden` on `/info`, preflights,
    /// every session endpoint and both websocket handshakes. The greeting
    /// and the iframe page (loaded by navigation, same-origin) stay served.
    Refuse,
}

/// The CORS policy.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Cors {
    /// Reflect any `Origin` with `Access-Control-Allow-Credentials: true`
    /// (`*` without credentials when there is no `Origin`), as sockjs-node does.
    #[default]
    ReflectAny,
    /// No `Access-Control-*` header on any response, no iframe page (404),
    /// and no `origins` in `/info`.
    Disabled,
    /// A user function maps the request's `Origin` to a decision (the
    /// `custom_cors` option proposed for sockjs-node). Requests without
    /// `Origin` are served as with [`Cors::ReflectAny`].
    Custom(Arc<dyn Fn(&str) -> CorsDecision + Send + Sync>),
}

impl fmt::Debug for Cors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cors::ReflectAny => f.write_str("ReflectAny"),
            Cors::Disabled => f.write_str("Disabled"),
            Cors::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

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

/// The transports a service offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// SockJS-framed WebSocket (`/<server>/<session>/websocket`).
    Websocket,
    /// Raw WebSocket without framing (`/websocket`).
    RawWebsocket,
    /// `xhr-streaming` (`xhr_streaming` + `xhr_send`).
    XhrStreaming,
    /// `xhr-polling` (`xhr` + `xhr_send`).
    XhrPolling,
    /// `eventsource` (+ `xhr_send`).
    EventSource,
    /// `htmlfile` (+ `xhr_send`).
    HtmlFile,
    /// `jsonp-polling` (`jsonp` + `jsonp_send`).
    JsonpPolling,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 7] = [
        Transport::Websocket,
        Transport::RawWebsocket,
        Transport::XhrStreaming,
        Transport::XhrPolling,
        Transport::EventSource,
        Transport::HtmlFile,
        Transport::JsonpPolling,
    ];

    /// The name sockjs-node uses for the transport (`connection.protocol`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::RawWebsocket => "websocket-raw",
            Transport::XhrStreaming => "xhr-streaming",
            Transport::XhrPolling => "xhr-polling",
            Transport::EventSource => "eventsource",
            Transport::HtmlFile => "htmlfile",
            Transport::JsonpPolling => "jsonp-polling",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
    pub(crate) transports: u8,
    pub(crate) cors: Cors,
    pub(crate) base_url: Option<BaseUrl>,
    pub(crate) max_message_size: usize,
    pub(crate) max_messages_per_send: usize,
    pub(crate) max_queued_messages: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) inbound_capacity: usize,
    pub(crate) websocket_pong_timeout: Option<Duration>,
}

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
            transports: Transport::ALL.iter().fold(0, |a, t| a | t.bit()),
            cors: Cors::ReflectAny,
            base_url: None,
            max_message_size: 1024 * 1024,
            max_messages_per_send: 4096,
            max_queued_messages: 4096,
            max_queued_bytes: 4 * 1024 * 1024,
            inbound_capacity: 1024,
            websocket_pong_timeout: Some(Duration::from_secs(10)),
        }
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
    /// heartbeat (`h` frame; a native ping on websockets). Defaults to 25 s.
    pub fn heartbeat_delay(mut self, delay: Duration) -> Self {
        self.heartbeat_delay = delay;
        self
    }

    /// How long a session without any receiving connection lives before it
    /// is closed and forgotten. Defaults to 5 s.
    pub fn disconnect_delay(mut self, delay: Duration) -> Self {
        self.disconnect_delay = delay;
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
        self.transports = transports.into_iter().fold(0, |a, t| a | t.bit());
        self
    }

    fn set_transport(&mut self, t: Transport, on: bool) {
        if on {
            self.transports |= t.bit();
        } else {
            self.transports &= !t.bit();
        }
    }

    /// True when `t` is enabled.
    pub fn is_enabled(&self, t: Transport) -> bool {
        self.transports & t.bit() != 0
    }

    /// The CORS policy. Defaults to [`Cors::ReflectAny`].
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// Shorthand for `cors(Cors::Disabled)`: no `Access-Control-*` headers
    /// at all, no iframe page. Defaults to false.
    pub fn disable_cors(self, disabled: bool) -> Self {
        if disabled {
            self.cors(Cors::Disabled)
        } else {
            self.cors(Cors::ReflectAny)
        }
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

    /// Largest inbound payload in bytes: an `xhr_send`/`jsonp_send` body
    /// (over it: 413) and a websocket message (over it: close 1009).
    /// Defaults to 1048576 bytes (1 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(16);
        self
    }

    /// Most messages accepted in one `xhr_send`/`jsonp_send` payload or
    /// websocket frame. Defaults to 4096.
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
        self.inbound_capacity = messages.max(1);
        self
    }

    /// How long a websocket peer may take to answer the ping sent with each
    /// heartbeat before the session is closed with 3000 "No response from
    /// heartbeat"; `None` disables the check. Defaults to 10 s.
    pub fn websocket_pong_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.websocket_pong_timeout = timeout;
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
