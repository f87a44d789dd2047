//! `--node-id NAME`: every response of the test server names the node that
//! answered (`X-SockJS-Node`), whatever produced it: the fixed pages, a
//! session transport, a websocket handshake, a 404 or 405 outside or inside
//! a prefix, `/_stats`. Without the flag the header is absent. The
//! multi-node tests (`e2e/client/cluster.js`) rely on it to see which node
//! behind a load balancer served each request of a session.

mod common;
use common::*;

const HEADER: &str = "X-SockJS-Node";

#[test]
fn every_response_names_the_node() {
    let Some(s) = own_server(&["--node-id", "node-7", "--stats"]) else {
        return;
    };
    let origin = [("Origin", "http://example.com")];
    let preflight = [
        ("Origin", "http://example.com"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let session = session_url("/echo");
    let cases: Vec<(&str, Response)> = vec![
        ("greeting", get(&s, "/echo")),
        ("info", get_h(&s, "/echo/info", &origin)),
        ("preflight", options(&s, "/echo/info", &preflight)),
        ("iframe", get(&s, "/echo/iframe.html")),
        ("404 outside every prefix", get(&s, "/no/such/service")),
        ("404 inside a prefix", get(&s, "/echo/a/b/c/d")),
        ("405", req(&s, "PUT", "/echo/info", &[], b"")),
        ("xhr open", post(&s, &format!("{session}/xhr"), b"")),
        ("xhr_send", post(&s, &format!("{session}/xhr_send"), br#"["x"]"#)),
        ("xhr_send unknown session", post(&s, "/echo/0/nope/xhr_send", b"[]")),
        ("stats", get(&s, "/_stats")),
    ];
    for (what, r) in &cases {
        assert_eq!(r.header(HEADER), Some("node-7"), "{what}: {:?}", r.head.headers);
    }
    assert_eq!(cases[4].1.status, 404);
    assert_eq!(cases[6].1.status, 405);

    let (_conn, head) = raw_upgrade(&s, "/echo/0/ws-session/websocket", &ws_headers());
    assert_eq!(head.status, 101);
    head.expect(HEADER, "node-7");
    let (_conn, head) = raw_upgrade(&s, "/echo/websocket", &ws_headers());
    assert_eq!(head.status, 101);
    head.expect(HEADER, "node-7");
    let (_conn, head) = raw_upgrade(&s, "/disabled_websocket_echo/0/x/websocket", &ws_headers());
    assert_eq!(head.status, 404);
    head.expect(HEADER, "node-7");
}

#[test]
fn without_the_flag_there_is_no_node_header() {
    let s = server();
    get(s, "/echo").expect_absent(HEADER);
    let (_conn, head) = raw_upgrade(s, "/echo/0/ws-plain/websocket", &ws_headers());
    assert_eq!(head.status, 101);
    // An external server (SOCKJS_TEST_URL) may have been started with the
    // flag; only our own default server is known not to carry it.
    if !external() {
        head.expect_absent(HEADER);
    }
}
