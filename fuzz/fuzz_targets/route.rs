//! `route(method, path)`: the router never panics, `NotFound` depends on the
//! path alone, a session route is exactly `/<server>/<session>/<endpoint>`
//! with two valid ids, and `MethodNotAllowed` names methods that do route.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::{percent_decode, route, valid_id, Route, RouteError, MAX_ID_LEN};

const METHODS: [&str; 8] = ["GET", "POST", "OPTIONS", "PUT", "DELETE", "HEAD", "get", ""];

/// The id rules, written out independently of `valid_id`.
fn id_ok(id: &str) -> bool {
    let b = id.as_bytes();
    if b.is_empty() || b.len() > MAX_ID_LEN {
        return false;
    }
    if b.iter()
        .any(|&c| matches!(c, b'.' | b'/' | b';' | b'\\') || c <= 0x20 || c >= 0x7f)
    {
        return false;
    }
    // No percent-encoded separator or low control character.
    let decoded = percent_decode(b, false);
    !decoded.iter().any(|&c| matches!(c, b'.' | b'/' | b'\\') || c < 0x10)
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else { return };
    let method = METHODS[usize::from(m) % METHODS.len()];
    let path = String::from_utf8_lossy(rest);
    let path = path.as_ref();
    let r = route(method, path);

    // NotFound is a property of the path, never of the method.
    let not_found = r == Err(RouteError::NotFound);
    for other in METHODS {
        assert_eq!(
            route(other, path) == Err(RouteError::NotFound),
            not_found,
            "{other} {path:?}"
        );
    }

    match r {
        Ok(Route::Greeting) => assert!(path.is_empty() || path == "/"),
        Ok(Route::Info) => assert_eq!(path, "/info"),
        Ok(Route::RawWebsocket) => assert_eq!(path, "/websocket"),
        Ok(Route::Iframe) => {
            let mid = path
                .strip_prefix("/iframe")
                .and_then(|p| p.strip_suffix(".html"))
                .unwrap();
            assert!(
                !mid.contains('/') && (mid.is_empty() || mid.starts_with('-')),
                "{path:?}"
            );
        }
        Ok(Route::Preflight { allow, endpoint }) => {
            assert_eq!(method, "OPTIONS");
            assert!(allow.split(", ").any(|t| t == "OPTIONS"));
            match endpoint {
                None => assert_eq!(path, "/info"),
                Some(e) => {
                    assert!(path.ends_with(&format!("/{}", e.as_str())));
                    assert!(matches!(route("POST", path), Ok(Route::Session { endpoint, .. }) if endpoint == e));
                }
            }
        }
        Ok(Route::Session {
            server,
            session,
            endpoint,
        }) => {
            assert_eq!(path, format!("/{server}/{session}/{}", endpoint.as_str()));
            assert!(valid_id(server) && valid_id(session));
            assert!(id_ok(server), "server id {server:?}");
            assert!(id_ok(session), "session id {session:?}");
            assert!(endpoint.allow().split(", ").any(|t| t == method) && method != "OPTIONS");
        }
        Ok(other) => panic!("unexpected route {other:?}"),
        Err(RouteError::MethodNotAllowed(allow)) => {
            assert!(
                !allow.split(", ").any(|t| t == method),
                "{method} {path:?} allow {allow}"
            );
            for t in allow.split(", ") {
                assert!(route(t, path).is_ok(), "{t} {path:?} is in Allow but does not route");
            }
        }
        Err(RouteError::NotFound) => {}
        Err(e) => panic!("unexpected error {e:?}"),
    }
});
