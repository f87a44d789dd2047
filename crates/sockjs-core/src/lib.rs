//! The SockJS protocol without IO.
//!
//! This crate turns bytes and values into bytes and "what to send": frame
//! encoding and the protocol's JSON escaping ([`Frame`], [`quote`]), payload
//! decoding ([`decode_messages`]), routing ([`route`]), the map of
//! endpoints, receivers and transports ([`Endpoint`], [`Transport`]),
//! per-transport wrapping ([`Receiver`]), the session state machine
//! ([`Session`]), origin allow-list patterns ([`OriginPattern`]), the
//! query, cookie and header readers the transports need ([`query_param`],
//! [`jsessionid_value`], [`header_has_token`], [`etag_matches`]) and the
//! websocket fragment counter ([`FragmentCounter`]).
//! It has no tokio, no hyper and no sockets; `sockjs-server` puts it on the
//! network.
//!
//! ```
//! use sockjs_core::{decode_messages, route, DecodeLimits, Endpoint, Frame, Route};
//!
//! let r = route("POST", "/000/s1/xhr_send").unwrap();
//! assert_eq!(r, Route::Session { server: "000", session: "s1", endpoint: Endpoint::XhrSend });
//! let msgs = decode_messages(br#"["hello"]"#, DecodeLimits::default()).unwrap();
//! assert_eq!(Frame::Messages(msgs).encode(), r#"a["hello"]"#);
//! ```
#![deny(missing_docs)]

mod decode;
mod endpoint;
mod frame;
mod http;
mod message;
mod origin;
mod route;
mod session;
mod transport;
mod ws_frames;

pub use decode::{decode_messages, jsonp_send_payload, percent_decode, DecodeError, DecodeLimits};
pub use endpoint::{Endpoint, Transport, TransportSet};
pub use frame::{encode_close, encode_messages, must_escape, quote, quote_into, Frame, HEARTBEAT, OPEN};
pub use http::{cookie_value, etag_matches, header_has_token, jsessionid_value, query_param, QueryError};
pub use message::{encode_outbound, FrameText, Outbound, SharedMessage};
pub use origin::{OriginPattern, OriginPatternError};
pub use route::{route, valid_id, Route, RouteError, MAX_ID_LEN};
pub use session::{
    Attach, CloseEvent, Outgoing, PushError, QueueLimits, ReadyState, ReceiverId, Session, ANOTHER_CONNECTION,
    CONNECTION_INTERRUPTED, GO_AWAY,
};
pub use transport::{iframe_page, info_json, validate_callback, CallbackError, Receiver, MAX_CALLBACK_LEN};
pub use ws_frames::{FragmentCounter, TooManyFragments};
