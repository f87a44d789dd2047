//! Routing: `(method, path under the prefix)` to a typed [`Route`].
//!
//! Parse first, dispatch later: the server matches on the returned value, and
//! every rule about which paths and methods exist lives here.

use crate::endpoint::Endpoint;

/// Longest accepted `<server>` or `<session>` path segment, in bytes.
///
/// Session ids are chosen by clients; a bound keeps the registry's keys small.
pub const MAX_ID_LEN: usize = 128;

/// What a request under the prefix asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route<'a> {
    /// `GET` the prefix itself or prefix + `/`: the greeting.
    Greeting,
    /// `GET /info`.
    Info,
    /// `GET /iframe.html` or `/iframe-<anything>.html`.
    Iframe,
    /// `GET /websocket`: raw WebSocket without SockJS framing.
    RawWebsocket,
    /// `OPTIONS` on a path that supports CORS preflight; `allow` lists the
    /// methods for `Access-Control-Allow-Methods`.
    Preflight {
        /// The methods allowed on that path.
        allow: &'static str,
        /// The session endpoint asked about; `None` for `/info`.
        endpoint: Option<Endpoint>,
    },
    /// `/<server>/<session>/<endpoint>` with an allowed method.
    Session {
        /// The server id (used by load balancers; ignored by the server).
        server: &'a str,
        /// The session id.
        session: &'a str,
        /// The endpoint.
        endpoint: Endpoint,
    },
}

/// Why a request under the prefix has no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// No such path: 404.
    #[error("not found")]
    NotFound,
    /// The path exists but not for this method: 405 with `Allow: {0}`.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
}

/// Routes a request. `path` is the request path with the prefix removed and
/// without the query string: `""`, `"/"`, `"/info"`, `"/000/abc/xhr"`, ...
///
/// ```
/// use sockjs_core::{route, Endpoint, Route, RouteError};
/// assert_eq!(route("GET", "/info"), Ok(Route::Info));
/// assert_eq!(
///     route("POST", "/000/abc/xhr"),
///     Ok(Route::Session { server: "000", session: "abc", endpoint: Endpoint::Xhr })
/// );
/// assert_eq!(route("GET", "/000/abc/xhr"), Err(RouteError::MethodNotAllowed("OPTIONS, POST")));
/// assert_eq!(route("POST", "/a./b/xhr"), Err(RouteError::NotFound));
/// ```
pub fn route<'a>(method: &str, path: &'a str) -> Result<Route<'a>, RouteError> {
    let get_only = |r: Route<'a>| match method {
        "GET" => Ok(r),
        _ => Err(RouteError::MethodNotAllowed("GET")),
    };
    match path {
        "" | "/" => return get_only(Route::Greeting),
        "/info" => {
            return match method {
                "GET" => Ok(Route::Info),
                "OPTIONS" => Ok(Route::Preflight {
                    allow: "OPTIONS, GET",
                    endpoint: None,
                }),
                _ => Err(RouteError::MethodNotAllowed("OPTIONS, GET")),
            }
        }
        "/websocket" => return get_only(Route::RawWebsocket),
        _ => {}
    }
    if is_iframe_path(path) {
        return get_only(Route::Iframe);
    }
    let rest = path.strip_prefix('/').ok_or(RouteError::NotFound)?;
    let mut parts = rest.split('/');
    let (Some(server), Some(session), Some(last), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RouteError::NotFound);
    };
    if !valid_id(server) || !valid_id(session) {
        return Err(RouteError::NotFound);
    }
    let endpoint = Endpoint::from_segment(last).ok_or(RouteError::NotFound)?;
    let allowed = match endpoint.allow() {
        "OPTIONS, POST" => match method {
            "POST" => true,
            "OPTIONS" => {
                return Ok(Route::Preflight {
                    allow: endpoint.allow(),
                    endpoint: Some(endpoint),
                })
            }
            _ => false,
        },
        "POST" => method == "POST",
        _ => method == "GET",
    };
    if !allowed {
        return Err(RouteError::MethodNotAllowed(endpoint.allow()));
    }
    Ok(Route::Session {
        server,
        session,
        endpoint,
    })
}

/// `/iframe.html` or `/iframe-<[0-9a-z._-]*>.html`.
fn is_iframe_path(path: &str) -> bool {
    let Some(mid) = path.strip_prefix("/iframe").and_then(|p| p.strip_suffix(".html")) else {
        return false;
    };
    mid.is_empty()
        || mid.strip_prefix('-').is_some_and(|v| {
            v.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// A server or session id: non-empty, bounded, no `.`, no `/`, no `;`, no
/// control characters or spaces, and no percent-encoded separator.
pub fn valid_id(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_ID_LEN {
        return false;
    }
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'.' | b'/' | b';' | b'\\' | 0..=0x20 | 0x7f..=0xff => return false,
            b'%' => {
                // Encoded `/`, `.` or `\` would smuggle a separator past the
                // router (and through any proxy that decodes paths).
                let enc = b
                    .get(i + 1..i + 3)
                    .map(|h| [h[0].to_ascii_uppercase(), h[1].to_ascii_uppercase()]);
                if matches!(enc, Some([b'2', b'F'] | [b'2', b'E'] | [b'5', b'C'] | [b'0', _])) {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_paths() {
        assert_eq!(route("GET", ""), Ok(Route::Greeting));
        assert_eq!(route("GET", "/"), Ok(Route::Greeting));
        assert_eq!(route("POST", "/"), Err(RouteError::MethodNotAllowed("GET")));
        assert_eq!(
            route("OPTIONS", "/info"),
            Ok(Route::Preflight {
                allow: "OPTIONS, GET",
                endpoint: None
            })
        );
        assert_eq!(route("GET", "/websocket"), Ok(Route::RawWebsocket));
        for p in [
            "/iframe.html",
            "/iframe-a.html",
            "/iframe-.html",
            "/iframe-0.1.2.html",
            "/iframe-0.1.2abc-dirty.2144.html",
        ] {
            assert_eq!(route("GET", p), Ok(Route::Iframe), "{p}");
        }
        for p in [
            "/iframe.htm",
            "/iframe",
            "/IFRAME.HTML",
            "/iframe.HTML",
            "/iframe.xml",
            "/iframe-/.html",
            "/a",
            "/a.html",
            "//",
            "///",
            "/a/a",
            "/a/a/",
            "/a/",
        ] {
            assert_eq!(route("GET", p), Err(RouteError::NotFound), "{p}");
        }
    }

    #[test]
    fn session_paths() {
        assert_eq!(
            route("POST", "/abcdefgh_i-j%20/abcdefg_i-j%20x/xhr_send"),
            Ok(Route::Session {
                server: "abcdefgh_i-j%20",
                session: "abcdefg_i-j%20x",
                endpoint: Endpoint::XhrSend
            })
        );
        for p in [
            "///xhr",
            "/a./a/xhr",
            "/a/a./xhr",
            "/././xhr",
            "//xhr",
            "////xhr",
            "/a/b;x/xhr",
            "/a/b%2fc/xhr",
            "/a/b%2E/xhr",
            "/a/b/xhr/",
            "/a/b/c/xhr",
        ] {
            assert_eq!(route("POST", p), Err(RouteError::NotFound), "{p}");
        }
        let long = format!("/0/{}/xhr", "x".repeat(MAX_ID_LEN + 1));
        assert_eq!(route("POST", &long), Err(RouteError::NotFound));
        assert_eq!(
            route("GET", "/a/b/xhr"),
            Err(RouteError::MethodNotAllowed("OPTIONS, POST"))
        );
        assert_eq!(
            route("POST", "/a/b/websocket"),
            Err(RouteError::MethodNotAllowed("GET"))
        );
        assert_eq!(
            route("GET", "/a/b/jsonp_send"),
            Err(RouteError::MethodNotAllowed("POST"))
        );
        assert_eq!(
            route("OPTIONS", "/a/b/xhr_streaming"),
            Ok(Route::Preflight {
                allow: "OPTIONS, POST",
                endpoint: Some(Endpoint::XhrStreaming)
            })
        );
        assert_eq!(route("POST", "/a/b/nope"), Err(RouteError::NotFound));
    }
}
