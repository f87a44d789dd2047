//! The origin policy and the `JSESSIONID` policy (their public types and
//! how they answer a request), and the cache headers.

use crate::error::HttpError;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use sockjs_core::OriginPattern;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
    /// Allow, answering with the request's own `Origin` (with credentials),
    /// as [`Cors::ReflectAny`] would.
    Reflect,
    /// Refuse: the request gets `403 Forbidden` on `/info`, preflights,
    /// every session endpoint and both websocket handshakes. The greeting
    /// and the iframe page (loaded by navigation, same-origin) stay served.
    Refuse,
}

/// The origin policy. One policy drives the CORS headers, the websocket
/// handshakes (framed and raw), `/info` and the iframe page.
///
/// Whatever the policy, a request **without** an `Origin` header is served
/// (answered with `Access-Control-Allow-Origin: *`, no credentials, unless
/// CORS is disabled): browsers always send `Origin` on cross-origin
/// requests and websocket handshakes, so a missing one means a
/// non-browser client or a same-origin `GET`, neither of which an origin
/// check protects against. `Origin: null` (sandboxed frames, `file:`
/// pages) is an origin like any other: reflected by
/// [`Cors::ReflectAny`] as the protocol requires, refused by
/// [`Cors::AllowList`] unless `"null"` is listed.
///
/// Whenever the answer depends on the request's `Origin` (every policy but
/// [`Cors::Disabled`]), responses carrying CORS headers also carry
/// `Vary: Origin`, so no cache serves one origin's answer to another.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Cors {
    /// Reflect any `Origin` with `Access-Control-Allow-Credentials: true`
    /// (`*` without credentials when there is no `Origin`), as sockjs-node does.
    #[default]
    ReflectAny,
    /// Only these origins (exact or pattern, see [`OriginPattern`]) are
    /// served, reflected with credentials. Any other `Origin` gets
    /// `403 Forbidden` on `/info`, preflights, every session endpoint and
    /// both websocket handshakes. The transports that cannot be
    /// origin-checked are off: `jsonp` and `jsonp_send` (script tags and
    /// form posts from any page) and the iframe page (which relays for any
    /// page that frames it) answer 404, as disabled transports do; clients
    /// fall back to the other transports.
    AllowList(Arc<[OriginPattern]>),
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
            Cors::AllowList(l) => f.debug_tuple("AllowList").field(l).finish(),
        }
    }
}

const ONE_YEAR: u64 = 31_536_000;
pub(crate) const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";

/// What `Access-Control-Allow-Origin` to answer, decided once per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AllowOrigin {
    /// CORS is disabled: no `Access-Control-*` headers.
    None,
    /// No `Origin` in the request: `*`, without credentials.
    Any,
    /// Reflect this origin, with credentials.
    Origin(HeaderValue),
}

/// Applies the policy to the request's `Origin`. A refusal (by an
/// allow-list or a custom rule) yields [`HttpError::Forbidden`].
pub(crate) fn decide(policy: &Cors, parts: &Parts) -> Result<AllowOrigin, HttpError> {
    let origin = parts.headers.get(header::ORIGIN);
    match (policy, origin) {
        (Cors::Disabled, _) => Ok(AllowOrigin::None),
        (_, None) => Ok(AllowOrigin::Any),
        (Cors::ReflectAny, Some(o)) => Ok(AllowOrigin::Origin(o.clone())),
        (Cors::AllowList(list), Some(o)) => {
            let s = o.to_str().map_err(|_| HttpError::Forbidden)?;
            if list.iter().any(|p| p.matches(s)) {
                Ok(AllowOrigin::Origin(o.clone()))
            } else {
                Err(HttpError::Forbidden)
            }
        }
        (Cors::Custom(rule), Some(o)) => {
            let text = o.to_str().map_err(|_| HttpError::Forbidden)?;
            match rule(text) {
                CorsDecision::Allow(v) => Ok(AllowOrigin::Origin(v)),
                CorsDecision::Reflect => Ok(AllowOrigin::Origin(o.clone())),
                CorsDecision::Refuse => Err(HttpError::Forbidden),
            }
        }
    }
}

/// True when the policy cannot let the JSONP transport and the iframe page
/// be used: their requests (script tags, form posts, framed pages) come
/// from any page without an origin the server can check.
pub(crate) fn refuses_unchecked(policy: &Cors) -> bool {
    matches!(policy, Cors::AllowList(_))
}

pub(crate) fn apply(allow: &AllowOrigin, h: &mut HeaderMap) {
    match allow {
        AllowOrigin::None => {}
        AllowOrigin::Any => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            // The answer would differ with an Origin: caches must know.
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        AllowOrigin::Origin(o) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

/// Preflight extras: allowed methods, echoed request headers, max age.
pub(crate) fn apply_preflight(allow: &AllowOrigin, methods: &'static str, parts: &Parts, h: &mut HeaderMap) {
    if *allow == AllowOrigin::None {
        return;
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(ONE_YEAR));
    if let Some(req) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        if !req.is_empty() {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, req.clone());
        }
    }
}

pub(crate) fn no_cache(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
}

pub(crate) fn cache_for_a_year(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000"),
    );
    let expires = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(ONE_YEAR));
    if let Ok(v) = HeaderValue::from_str(&expires) {
        h.insert(header::EXPIRES, v);
    }
}

/// Sets the `JSESSIONID` cookie per policy.
pub(crate) fn cookie(policy: &JSessionId, parts: &Parts, h: &mut HeaderMap) {
    let v = match policy {
        JSessionId::Off => return,
        JSessionId::On => {
            let cookies = parts
                .headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok());
            let id = sockjs_core::jsessionid_value(cookies);
            HeaderValue::from_str(&format!("JSESSIONID={id}; path=/")).ok()
        }
        JSessionId::Custom(f) => f(parts),
    };
    if let Some(v) = v {
        h.insert(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        cookie(&JSessionId::On, &parts(&[("cookie", "a=1; JSESSIONID=abc")]), &mut h);
        assert_eq!(h["set-cookie"], "JSESSIONID=abc; path=/");
        cookie(&JSessionId::On, &parts(&[("cookie", "JSESSIONID=a\"b")]), &mut h);
        assert_eq!(h["set-cookie"], "JSESSIONID=dummy; path=/");
        let mut h = HeaderMap::new();
        cookie(&JSessionId::Off, &parts(&[]), &mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn origins() {
        assert_eq!(decide(&Cors::ReflectAny, &parts(&[])), Ok(AllowOrigin::Any));
        assert_eq!(
            decide(&Cors::ReflectAny, &parts(&[("origin", "null")])),
            Ok(AllowOrigin::Origin(HeaderValue::from_static("null")))
        );
        assert_eq!(
            decide(&Cors::Disabled, &parts(&[("origin", "x")])),
            Ok(AllowOrigin::None)
        );
        let list = Cors::AllowList(vec![OriginPattern::new("https://*.a.org").unwrap()].into());
        assert_eq!(
            decide(&list, &parts(&[("origin", "https://x.a.org")])),
            Ok(AllowOrigin::Origin(HeaderValue::from_static("https://x.a.org")))
        );
        assert_eq!(
            decide(&list, &parts(&[("origin", "https://a.org")])),
            Err(HttpError::Forbidden)
        );
        assert_eq!(decide(&list, &parts(&[("origin", "null")])), Err(HttpError::Forbidden));
        assert_eq!(decide(&list, &parts(&[])), Ok(AllowOrigin::Any));
        let reflect = Cors::Custom(std::sync::Arc::new(|o: &str| {
            if o.ends_with(".a.org") {
                CorsDecision::Reflect
            } else {
                CorsDecision::Refuse
            }
        }));
        assert_eq!(
            decide(&reflect, &parts(&[("origin", "https://x.a.org")])),
            Ok(AllowOrigin::Origin(HeaderValue::from_static("https://x.a.org")))
        );
        assert_eq!(
            decide(&reflect, &parts(&[("origin", "https://b.org")])),
            Err(HttpError::Forbidden)
        );
        let refuse = Cors::Custom(std::sync::Arc::new(|_: &str| CorsDecision::Refuse));
        assert_eq!(decide(&refuse, &parts(&[("origin", "x")])), Err(HttpError::Forbidden));
        assert_eq!(decide(&refuse, &parts(&[])), Ok(AllowOrigin::Any));
    }
}
