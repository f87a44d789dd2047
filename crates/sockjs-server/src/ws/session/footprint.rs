//! The sizes of an idle websocket session's futures, held in place.

use super::*;
use tokio_tungstenite::tungstenite::protocol::Role;

/// An idle websocket session's task holds the connection loop and the
/// application side by side (see `pair`), for the session's whole life:
/// their sizes are most of what a session costs. These bounds hold the
/// savings in place (the loop's one timer, the write deadline's timer
/// made only when a write waits, the waiting `send` boxed); a change
/// that grows them should be a deliberate one.
#[tokio::test]
async fn an_idle_sessions_futures_stay_small() {
    let state = crate::state::new_state(crate::config::Config::default(), |_s: crate::session::Session| async {});
    let info = ConnInfo {
        transport: sockjs_core::Transport::Websocket,
        remote_addr: None,
        url: "/x".into(),
        path: "/x".into(),
        prefix: String::new(),
        headers: http::HeaderMap::new(),
    };
    let (shared, session) = state.start_session(state.next_id(), "x".into(), info);
    let Attach::Attached(rid) = shared.attach() else {
        panic!("a new session takes its first receiver")
    };
    let settings = Settings {
        heartbeat: Duration::from_secs(25),
        pong_timeout: Some(Duration::from_secs(10)),
        write_timeout: Some(Duration::from_secs(10)),
        limits: state.decode_limits(),
    };
    let (io, _peer) = tokio::io::duplex(64);
    let ws = Box::new(WebSocketStream::from_raw_socket(io, Role::Server, None).await);
    {
        let send = session.send("x");
        assert!(
            std::mem::size_of_val(&send) <= 128,
            "send: {}",
            std::mem::size_of_val(&send)
        );
    }
    let app = state.supervised(session);
    let slot = state.try_reserve().expect("room for a session");
    let conn = connection(&state, &shared, ws, rid, None, settings, false, 1, slot);
    assert!(
        std::mem::size_of_val(&conn) <= 900,
        "connection: {}",
        std::mem::size_of_val(&conn)
    );
    let both = crate::ws::pair::both(conn, app);
    assert!(
        std::mem::size_of_val(&both) <= 1200,
        "both: {}",
        std::mem::size_of_val(&both)
    );
}
