//! The HTTP transports: receivers (a poll or a stream per request) and
//! senders (`xhr_send`, `jsonp_send`).

pub(crate) mod receive;
pub(crate) mod send;

use crate::cors::JSessionId;
use crate::cors::{self, AllowOrigin};
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;

/// The headers every session endpoint answers with.
pub(crate) fn session_headers(
    jsessionid: &JSessionId,
    parts: &Parts,
    allow: &AllowOrigin,
    content_type: &'static str,
    h: &mut HeaderMap,
) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    cors::no_cache(h);
    cors::apply(allow, h);
    cors::cookie(jsessionid, parts, h);
}
