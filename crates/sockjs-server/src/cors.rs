//! CORS, cookies and cache headers.

use crate::config::{Cors, CorsDecision, JSessionId};
use crate::error::HttpError;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use std::time::{Duration, SystemTime};

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
            let id = request_cookie(parts, "JSESSIONID")
                .filter(|v| !v.is_empty() && v.bytes().all(is_cookie_octet))
                .unwrap_or("dummy");
            HeaderValue::from_str(&format!("JSESSIONID={id}; path=/")).ok()
        }
        JSessionId::Custom(f) => f(parts),
    };
    if let Some(v) = v {
        h.insert(header::SET_COOKIE, v);
    }
}

/// RFC 6265 `cookie-octet`: what may be echoed back in a cookie value.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn request_cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == name).then(|| v.trim())
        })
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
        let list = Cors::AllowList(vec![crate::OriginPattern::new("https://*.a.org").unwrap()].into());
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
