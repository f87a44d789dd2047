//! The fixed answers: the greeting, `/info`, CORS preflights and the iframe page.

use crate::body::SockJsBody;
use crate::config::{BaseUrl, Config, Transport};
use crate::cors;
use crate::cors::{Cors, JSessionId};
use crate::error::{HttpError, TEXT_PLAIN};
use crate::state::State;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};

/// `GET <prefix>/`.
pub(crate) fn greeting() -> Response<SockJsBody> {
    let mut r = Response::new(SockJsBody::full("Welcome to SockJS!\n"));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    r
}

/// `GET <prefix>/info`.
pub(crate) fn info(config: &Config, parts: &Parts) -> Result<Response<SockJsBody>, HttpError> {
    let allow = cors::decide(&config.cors, parts)?;
    let base_url = config.base_url.as_ref().map(|b| match b {
        BaseUrl::Fixed(u) => u.clone(),
        BaseUrl::PerRequest(f) => f(parts),
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

/// `OPTIONS` on `/info` and the xhr endpoints: `methods` is what the
/// endpoint answers.
pub(crate) fn preflight(
    config: &Config,
    methods: &'static str,
    parts: &Parts,
) -> Result<Response<SockJsBody>, HttpError> {
    let allow = cors::decide(&config.cors, parts)?;
    let mut r = Response::new(SockJsBody::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    cors::cache_for_a_year(h);
    cors::apply(&allow, h);
    cors::apply_preflight(&allow, methods, parts, h);
    cors::cookie(&config.jsessionid, parts, h);
    Ok(r)
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

pub(crate) fn iframe<H>(state: &State<H>, parts: &Parts) -> Result<Response<SockJsBody>, HttpError> {
    if matches!(state.config.cors, Cors::Disabled) || cors::refuses_unchecked(&state.config.cors) {
        return Err(HttpError::NotFound);
    }
    let values = parts
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let matches = state
        .etag
        .to_str()
        .is_ok_and(|etag| sockjs_core::etag_matches(values, etag));
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
