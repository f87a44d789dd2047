//! Property tests for routing: every path built from valid ids and an
//! endpoint routes back to exactly those parts; an invalid id never reaches
//! a session, whatever the method.

mod common;
use common::config;

use proptest::prelude::*;
use sockjs_core::{route, valid_id, Endpoint, Route, RouteError, MAX_ID_LEN};

const METHODS: [&str; 7] = ["GET", "POST", "OPTIONS", "PUT", "DELETE", "HEAD", "PATCH"];

/// Printable ASCII an id may contain, `%` aside (added as whole escapes).
/// Chosen from lists rather than filtered, so long runs have no rejects.
fn id_byte() -> impl Strategy<Value = String> {
    let plain: Vec<char> = (0x21u8..=0x7e)
        .filter(|b| !matches!(b, b'.' | b'/' | b';' | b'\\' | b'%'))
        .map(char::from)
        .collect();
    // Percent escapes of anything but a separator or low control byte.
    let escaped: Vec<u8> = (0x10u8..=0xff).filter(|b| !matches!(b, b'.' | b'/' | b'\\')).collect();
    prop_oneof![
        8 => prop::sample::select(plain).prop_map(String::from),
        1 => prop::sample::select(escaped.clone()).prop_map(|b| format!("%{b:02x}")),
        1 => prop::sample::select(escaped).prop_map(|b| format!("%{b:02X}")),
    ]
}

fn valid() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(id_byte(), 1..12).prop_map(|v| v.concat()),
        1 => prop::collection::vec(id_byte(), 100..140).prop_map(|v| v.concat()),
    ]
    .prop_map(|s| {
        // Cut to the length limit on a character boundary (escapes are ASCII).
        let mut s = s;
        while s.len() > MAX_ID_LEN {
            s.pop();
        }
        // A cut escape (`%4`) is still a valid id; a trailing `%` too.
        s
    })
}

/// A valid id made invalid in one of the ways clients (or attackers) try.
fn invalid() -> impl Strategy<Value = String> {
    let breaker = prop::sample::select(vec![
        ".", "..", ";", "\\", " ", "\t", "\u{0}", "\u{7f}", "é", "\u{2028}", "%2f", "%2F", "%2e", "%2E", "%5c", "%5C",
        "%00", "%0a", "%0D",
    ]);
    prop_oneof![
        3 => (valid(), breaker, any::<prop::sample::Index>()).prop_map(|(id, b, at)| {
            let at = at.index(id.len() + 1);
            // Ids are ASCII, so every index is a character boundary.
            format!("{}{b}{}", &id[..at], &id[at..])
        }),
        1 => Just(String::new()),
        1 => prop::collection::vec(id_byte(), MAX_ID_LEN + 1..MAX_ID_LEN + 40)
            .prop_map(|v| v.concat()),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop::sample::select(Endpoint::ALL.to_vec())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn generated_paths_route_to_their_parts(server in valid(), session in valid(), ep in endpoint()) {
        prop_assert!(valid_id(&server) && valid_id(&session), "{:?} {:?}", server, session);
        let path = format!("/{server}/{session}/{}", ep.as_str());
        let mut routed = 0;
        for m in METHODS {
            let allowed = ep.allow().split(", ").any(|a| a == m);
            match route(m, &path) {
                Ok(Route::Session { server: s, session: id, endpoint }) => {
                    prop_assert!(allowed && m != "OPTIONS", "{} {}", m, path);
                    prop_assert_eq!((s, id, endpoint), (server.as_str(), session.as_str(), ep));
                    routed += 1;
                }
                Ok(Route::Preflight { allow, endpoint }) => {
                    prop_assert!(allowed && m == "OPTIONS");
                    prop_assert_eq!((allow, endpoint), (ep.allow(), Some(ep)));
                }
                Err(RouteError::MethodNotAllowed(allow)) => {
                    prop_assert!(!allowed);
                    prop_assert_eq!(allow, ep.allow());
                }
                other => prop_assert!(false, "{} {} -> {:?}", m, path, other),
            }
        }
        // Exactly one method (GET or POST) reaches the session.
        prop_assert_eq!(routed, 1);
    }

    #[test]
    fn invalid_ids_never_reach_a_session(good in valid(), bad in invalid(), ep in endpoint(), bad_is_server in any::<bool>()) {
        prop_assert!(!valid_id(&bad), "{:?} should be invalid", bad);
        let (server, session) = if bad_is_server { (&bad, &good) } else { (&good, &bad) };
        let path = format!("/{server}/{session}/{}", ep.as_str());
        for m in METHODS {
            prop_assert_eq!(route(m, &path), Err(RouteError::NotFound), "{} {:?}", m, path);
        }
    }

    /// Anything after a valid session path (a fourth segment, a trailing
    /// slash, a suffix on the endpoint) is not found.
    #[test]
    fn extra_segments_are_not_found(server in valid(), session in valid(), ep in endpoint(), tail in prop::sample::select(vec!["/", "/x", "x", "/xhr", ".json", ";a"])) {
        let path = format!("/{server}/{session}/{}{tail}", ep.as_str());
        for m in METHODS {
            prop_assert_eq!(route(m, &path), Err(RouteError::NotFound), "{} {:?}", m, path);
        }
    }
}
