//! Session endpoints and the transports they serve, in one table.
//!
//! A transport (what a client picks, what a server enables) is served by
//! one or two endpoints (the last path segment), and an HTTP receiver
//! endpoint answers with one [`Receiver`] shape. Every such fact is a column
//! of `TABLE`; the methods of [`Endpoint`] only read it.

use crate::transport::Receiver;
use std::fmt;

/// The transports a SockJS service offers.
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
    ///
    /// ```
    /// use sockjs_core::Transport;
    /// assert_eq!(Transport::XhrStreaming.name(), "xhr-streaming");
    /// assert_eq!(Transport::RawWebsocket.to_string(), "websocket-raw");
    /// ```
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

    /// This transport's bit in a [`TransportSet`].
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// A `TransportSet` is one bit per transport, by discriminant: `ALL` lists
// them in that order, and they fit the `u8`.
const _: () = {
    let mut i = 0;
    while i < Transport::ALL.len() {
        assert!(Transport::ALL[i] as usize == i);
        i += 1;
    }
    assert!(Transport::ALL.len() <= u8::BITS as usize);
};

/// A set of [`Transport`]s, e.g. the ones a service has enabled.
///
/// ```
/// use sockjs_core::{Transport, TransportSet};
/// let mut set = TransportSet::all();
/// set.remove(Transport::Websocket);
/// assert!(!set.contains(Transport::Websocket));
/// assert!(set.contains(Transport::XhrPolling));
/// let polling: TransportSet = [Transport::XhrPolling, Transport::JsonpPolling].into_iter().collect();
/// assert_eq!(polling.iter().count(), 2);
/// assert!(set.intersects(polling));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransportSet(u8);

impl TransportSet {
    /// No transport.
    pub const fn empty() -> TransportSet {
        TransportSet(0)
    }

    /// Every transport of [`Transport::ALL`].
    pub const fn all() -> TransportSet {
        let mut set = TransportSet::empty();
        let mut i = 0;
        while i < Transport::ALL.len() {
            set.insert(Transport::ALL[i]);
            i += 1;
        }
        set
    }

    /// Adds `t`.
    pub const fn insert(&mut self, t: Transport) {
        self.0 |= t.bit();
    }

    /// Removes `t`.
    pub const fn remove(&mut self, t: Transport) {
        self.0 &= !t.bit();
    }

    /// This set with `t` added.
    pub const fn with(mut self, t: Transport) -> TransportSet {
        self.insert(t);
        self
    }

    /// True when `t` is in the set.
    pub const fn contains(self, t: Transport) -> bool {
        self.0 & t.bit() != 0
    }

    /// True when the two sets have a transport in common.
    pub const fn intersects(self, other: TransportSet) -> bool {
        self.0 & other.0 != 0
    }

    /// True when the set has no transport.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The transports in the set, in the order of [`Transport::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Transport> {
        Transport::ALL.into_iter().filter(move |t| self.contains(*t))
    }
}

impl FromIterator<Transport> for TransportSet {
    fn from_iter<I: IntoIterator<Item = Transport>>(iter: I) -> Self {
        iter.into_iter().fold(TransportSet::empty(), TransportSet::with)
    }
}

impl Extend<Transport> for TransportSet {
    fn extend<I: IntoIterator<Item = Transport>>(&mut self, iter: I) {
        for t in iter {
            self.insert(t);
        }
    }
}

impl fmt::Debug for TransportSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A session endpoint: the last path segment of `/<server>/<session>/<endpoint>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `websocket`: SockJS-framed WebSocket.
    Websocket,
    /// `xhr`: xhr-polling receiver.
    Xhr,
    /// `xhr_send`: messages posted by xhr transports (and eventsource/htmlfile).
    XhrSend,
    /// `xhr_streaming`: xhr-streaming receiver.
    XhrStreaming,
    /// `eventsource`: EventSource receiver.
    EventSource,
    /// `htmlfile`: htmlfile (forever-iframe) receiver.
    HtmlFile,
    /// `jsonp`: JSONP-polling receiver.
    Jsonp,
    /// `jsonp_send`: messages posted by the JSONP transport.
    JsonpSend,
}

/// One endpoint's facts.
struct Row {
    endpoint: Endpoint,
    segment: &'static str,
    allow: &'static str,
    /// The receiver shape, for endpoints that carry frames to the client.
    receiver: Option<Receiver>,
    /// The transports the endpoint serves.
    serves: TransportSet,
}

const fn one(t: Transport) -> TransportSet {
    TransportSet::empty().with(t)
}

/// Every endpoint, in declaration order (checked at compile time below).
const TABLE: [Row; 8] = [
    Row {
        endpoint: Endpoint::Websocket,
        segment: "websocket",
        allow: "GET",
        receiver: None,
        serves: one(Transport::Websocket),
    },
    Row {
        endpoint: Endpoint::Xhr,
        segment: "xhr",
        allow: "OPTIONS, POST",
        receiver: Some(Receiver::XhrPolling),
        serves: one(Transport::XhrPolling),
    },
    Row {
        endpoint: Endpoint::XhrSend,
        segment: "xhr_send",
        allow: "OPTIONS, POST",
        receiver: None,
        // Every transport without a send endpoint of its own.
        serves: one(Transport::XhrPolling)
            .with(Transport::XhrStreaming)
            .with(Transport::EventSource)
            .with(Transport::HtmlFile),
    },
    Row {
        endpoint: Endpoint::XhrStreaming,
        segment: "xhr_streaming",
        allow: "OPTIONS, POST",
        receiver: Some(Receiver::XhrStreaming),
        serves: one(Transport::XhrStreaming),
    },
    Row {
        endpoint: Endpoint::EventSource,
        segment: "eventsource",
        allow: "GET",
        receiver: Some(Receiver::EventSource),
        serves: one(Transport::EventSource),
    },
    Row {
        endpoint: Endpoint::HtmlFile,
        segment: "htmlfile",
        allow: "GET",
        receiver: Some(Receiver::HtmlFile),
        serves: one(Transport::HtmlFile),
    },
    Row {
        endpoint: Endpoint::Jsonp,
        segment: "jsonp",
        allow: "GET",
        receiver: Some(Receiver::JsonpPolling),
        serves: one(Transport::JsonpPolling),
    },
    Row {
        endpoint: Endpoint::JsonpSend,
        segment: "jsonp_send",
        allow: "POST",
        receiver: None,
        serves: one(Transport::JsonpPolling),
    },
];

// `Endpoint::row` indexes the table by discriminant.
const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].endpoint as usize == i);
        i += 1;
    }
};

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Websocket,
        Endpoint::Xhr,
        Endpoint::XhrSend,
        Endpoint::XhrStreaming,
        Endpoint::EventSource,
        Endpoint::HtmlFile,
        Endpoint::Jsonp,
        Endpoint::JsonpSend,
    ];

    fn row(self) -> &'static Row {
        &TABLE[self as usize]
    }

    /// Parses the last path segment.
    ///
    /// ```
    /// use sockjs_core::Endpoint;
    /// assert_eq!(Endpoint::from_segment("xhr_send"), Some(Endpoint::XhrSend));
    /// assert_eq!(Endpoint::from_segment("XHR"), None);
    /// ```
    pub fn from_segment(s: &str) -> Option<Endpoint> {
        TABLE.iter().find(|r| r.segment == s).map(|r| r.endpoint)
    }

    /// The path segment for this endpoint.
    pub fn as_str(self) -> &'static str {
        self.row().segment
    }

    /// The methods this endpoint answers, as an `Allow` header value.
    pub fn allow(self) -> &'static str {
        self.row().allow
    }

    /// True for endpoints that receive messages from the server (the HTTP
    /// receivers: those with a [`receiver`](Self::receiver)).
    pub fn is_receiver(self) -> bool {
        self.row().receiver.is_some()
    }

    /// How this endpoint's response carries frames, for the HTTP receivers;
    /// `None` for `websocket`, `xhr_send` and `jsonp_send`.
    ///
    /// ```
    /// use sockjs_core::{Endpoint, Receiver};
    /// assert_eq!(Endpoint::Xhr.receiver(), Some(Receiver::XhrPolling));
    /// assert_eq!(Endpoint::XhrSend.receiver(), None);
    /// ```
    pub fn receiver(self) -> Option<Receiver> {
        self.row().receiver
    }

    /// The one transport this endpoint belongs to; `None` for `xhr_send`,
    /// which serves several (see [`transports`](Self::transports)).
    ///
    /// ```
    /// use sockjs_core::{Endpoint, Transport};
    /// assert_eq!(Endpoint::JsonpSend.transport(), Some(Transport::JsonpPolling));
    /// assert_eq!(Endpoint::XhrSend.transport(), None);
    /// ```
    pub fn transport(self) -> Option<Transport> {
        let mut served = self.row().serves.iter();
        match (served.next(), served.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        }
    }

    /// Every transport this endpoint serves: the endpoint is needed as long
    /// as one of them is enabled.
    ///
    /// ```
    /// use sockjs_core::{Endpoint, Transport};
    /// let served = Endpoint::XhrSend.transports();
    /// assert!(served.contains(Transport::EventSource));
    /// assert!(!served.contains(Transport::JsonpPolling));
    /// ```
    pub fn transports(self) -> TransportSet {
        self.row().serves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_segment(e.as_str()), Some(e));
        }
        for s in ["", "xhr_sen", "websocket/", "Jsonp", "info"] {
            assert_eq!(Endpoint::from_segment(s), None, "{s}");
        }
    }

    #[test]
    fn the_map() {
        use Transport as T;
        let expect: [(Endpoint, Option<Receiver>, &[Transport]); 8] = [
            (Endpoint::Websocket, None, &[T::Websocket]),
            (Endpoint::Xhr, Some(Receiver::XhrPolling), &[T::XhrPolling]),
            (
                Endpoint::XhrSend,
                None,
                &[T::XhrStreaming, T::XhrPolling, T::EventSource, T::HtmlFile],
            ),
            (Endpoint::XhrStreaming, Some(Receiver::XhrStreaming), &[T::XhrStreaming]),
            (Endpoint::EventSource, Some(Receiver::EventSource), &[T::EventSource]),
            (Endpoint::HtmlFile, Some(Receiver::HtmlFile), &[T::HtmlFile]),
            (Endpoint::Jsonp, Some(Receiver::JsonpPolling), &[T::JsonpPolling]),
            (Endpoint::JsonpSend, None, &[T::JsonpPolling]),
        ];
        for (e, receiver, served) in expect {
            assert_eq!(e.receiver(), receiver, "{e:?}");
            assert_eq!(e.is_receiver(), receiver.is_some(), "{e:?}");
            assert_eq!(e.transports().iter().collect::<Vec<_>>(), served, "{e:?}");
            let single = (served.len() == 1).then(|| served[0]);
            assert_eq!(e.transport(), single, "{e:?}");
        }
        // Every transport but the raw websocket has a session endpoint.
        for t in Transport::ALL {
            let served_by = Endpoint::ALL.iter().any(|e| e.transports().contains(t));
            assert_eq!(served_by, t != T::RawWebsocket, "{t}");
        }
    }

    #[test]
    fn allowed_methods() {
        for e in Endpoint::ALL {
            let want = match e {
                Endpoint::Xhr | Endpoint::XhrSend | Endpoint::XhrStreaming => "OPTIONS, POST",
                Endpoint::JsonpSend => "POST",
                _ => "GET",
            };
            assert_eq!(e.allow(), want, "{e:?}");
        }
    }

    #[test]
    fn transport_sets() {
        let mut s = TransportSet::empty();
        assert!(s.is_empty());
        for t in Transport::ALL {
            assert!(!s.contains(t));
            s.insert(t);
            assert!(s.contains(t));
        }
        assert_eq!(s, TransportSet::all());
        assert_eq!(s.iter().collect::<Vec<_>>(), Transport::ALL);
        s.remove(Transport::HtmlFile);
        s.remove(Transport::HtmlFile);
        assert!(!s.contains(Transport::HtmlFile));
        assert!(s.contains(Transport::JsonpPolling));
        assert!(!s.intersects(one(Transport::HtmlFile)));
        let mut e = TransportSet::default();
        e.extend([Transport::Websocket, Transport::Websocket]);
        assert_eq!(format!("{e:?}"), "{Websocket}");
        let names: Vec<_> = Transport::ALL.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            names,
            [
                "websocket",
                "websocket-raw",
                "xhr-streaming",
                "xhr-polling",
                "eventsource",
                "htmlfile",
                "jsonp-polling"
            ]
        );
    }
}
