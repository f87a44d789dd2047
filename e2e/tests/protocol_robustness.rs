//! Hostile and malformed input: payload errors, odd paths, unknown methods, oversized bodies, stray
//! upgrade headers. After each probe a fresh client must still work.

mod common;
use common::*;
use std::io::Write;

#[test]
fn broken_json_and_empty_payloads_are_500_with_exact_messages() {
    let s = server();
    let session = xhr_open(s, "/echo");
    for bad in [&br#"["x"#[..], b"[", b"{", b"not json", br#"["a",]"#, b"\xff\xfe"] {
        let r = post(s, &format!("{session}/xhr_send"), bad);
        r.expect_status(500).expect_body("Broken JSON encoding.");
    }
    let r = post(s, &format!("{session}/xhr_send"), b"");
    r.expect_status(500).expect_body("Payload expected.");
    assert_healthy(s);
    // The session itself is still usable.
    xhr_send(s, &session, r#"["fine"]"#);
    xhr_expect(s, &session, "a[\"fine\"]\n");
}

#[test]
fn non_array_json_is_refused() {
    let s = server();
    let session = xhr_open(s, "/echo");
    for body in [&br#"{"a":1}"#[..], br#""x""#, b"1", b"null"] {
        let r = post(s, &format!("{session}/xhr_send"), body);
        assert_eq!(r.status, 500, "{:?}", String::from_utf8_lossy(body));
    }
    // Nothing of those was delivered.
    xhr_send(s, &session, r#"["only this"]"#);
    xhr_expect(s, &session, "a[\"only this\"]\n");
}

#[test]
fn send_to_unknown_session_is_404_and_creates_nothing() {
    let s = server();
    let session = session_url("/echo");
    assert_eq!(post(s, &format!("{session}/xhr_send"), br#"["x"]"#).status, 404);
    let r = post_h(
        s,
        &format!("{session}/jsonp_send"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"d=%5B%22x%22%5D",
    );
    assert_eq!(r.status, 404);
    assert_eq!(post(s, &format!("{session}/xhr_send"), br#"["x"]"#).status, 404);
    xhr_expect(s, &session, "o\n");
}

#[test]
fn odd_session_paths_are_404_and_create_nothing() {
    let s = server();
    let id = sid();
    let paths = [
        format!("/echo//{id}/xhr"),
        "/echo/000//xhr".to_string(),
        format!("/echo/0.0/{id}/xhr"),
        format!("/echo/000/{id}.x/xhr"),
        format!("/echo/000/.{id}/xhr"),
        format!("/echo/000/{id}/xhr;.bat"),
        format!("/echo/000/{id}/xhr;jsessionid=1"),
        format!("/echo/000/{id};x/xhr"),
        format!("/echo/000/{id}/xhr/"),
        format!("/echo/000/{id}//xhr"),
        format!("/echo/000%2F{id}/xhr"),
        format!("/echo/000/{id}%2Fxhr"),
        format!("/echo/000/a%2F{id}/xhr"),
        format!("/echo/000/a%2f{id}/xhr"),
        format!("/echo/000/{id}/xhr%00"),
        format!("/echo/000/{id}/XHR"),
        format!("/echo/000/{id}/xhr.js"),
        format!("/echo/000/{id}/../{id}/xhr"),
        format!("/echo/000/{id}/./xhr"),
    ];
    for p in &paths {
        assert_eq!(post(s, p, b"").status, 404, "POST {p}");
        assert_eq!(get(s, p).status, 404, "GET {p}");
    }
    // None of them created the session that the plain URL names.
    assert_eq!(post(s, &format!("/echo/000/{id}/xhr_send"), br#"["x"]"#).status, 404);
    assert_healthy(s);
}

#[test]
fn jsonp_semicolon_in_last_segment_is_404() {
    let s = server();
    let session = session_url("/echo");
    for p in [
        format!("{session}/jsonp;.bat?c=cb"),
        format!("{session}/htmlfile;x.html?c=cb"),
    ] {
        assert_eq!(get(s, &p).status, 404, "GET {p}");
    }
}

#[test]
fn over_long_session_id_is_404() {
    let s = server();
    let long = "a".repeat(4000);
    let r = post(s, &format!("/echo/000/{long}/xhr"), b"");
    assert_eq!(r.status, 404);
    let r = post(s, &format!("/echo/{long}/abc/xhr"), b"");
    assert_eq!(r.status, 404, "over-long server id");
    assert_healthy(s);
}

#[test]
fn unknown_methods_are_405_with_allow_and_touch_no_session() {
    let s = server();
    let session = session_url("/echo");
    for method in ["PUT", "DELETE", "PATCH"] {
        for path in [
            format!("{session}/xhr"),
            format!("{session}/xhr_send"),
            "/echo/info".to_string(),
            "/echo/iframe.html".to_string(),
        ] {
            let r = req(s, method, &path, &[], b"");
            r.expect_status(405);
            assert!(
                r.header("Allow").map(|a| !a.is_empty()).unwrap_or(false),
                "{method} {path}: Allow"
            );
            r.expect_absent("Content-Type");
            assert!(r.body.is_empty(), "{method} {path}: body {:?}", r.text());
        }
    }
    assert_eq!(
        post(s, &format!("{session}/xhr_send"), br#"["x"]"#).status,
        404,
        "no session was created"
    );
    assert_healthy(s);
}

#[test]
fn extension_method_is_405() {
    let s = server();
    let session = session_url("/echo");
    let r = req(s, "FROB", &format!("{session}/xhr"), &[], b"");
    r.expect_status(405);
    assert!(r.has("Allow"));
    r.expect_absent("Content-Type");
    assert!(r.body.is_empty());
    assert_healthy(s);
}

/// Sends a POST with a big body from a second thread while reading the response, so that an early
/// answer (before the body is fully read) is seen rather than lost to a write error.
fn post_big(s: &Server, path: &str, content_type: &str, body: Vec<u8>) -> Response {
    let mut c = s.connect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        s.authority,
        body.len()
    );
    c.send_raw(head.as_bytes());
    let mut w = c.stream().try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&body);
    });
    let r = c.read_response("POST");
    drop(c);
    let _ = writer.join();
    r
}

#[test]
fn oversized_send_bodies_are_413() {
    let s = server();
    let session = xhr_open(s, "/echo");
    let big = format!("[\"{}\"]", "x".repeat(2 << 20));
    let r = post_big(s, &format!("{session}/xhr_send"), "text/plain", big.into_bytes());
    assert_eq!(r.status, 413, "2 MiB xhr_send");
    let big = format!("d=%5B%22{}%22%5D", "x".repeat(2 << 20));
    let r = post_big(
        s,
        &format!("{session}/jsonp_send"),
        "application/x-www-form-urlencoded",
        big.into_bytes(),
    );
    assert_eq!(r.status, 413, "2 MiB jsonp_send");
    // 64 KiB passes and arrives intact.
    let msg = "y".repeat(64 << 10);
    xhr_send(s, &session, &json_msgs(&[&msg]));
    xhr_expect(s, &session, &format!("a[\"{msg}\"]\n"));
    assert_healthy(s);
}

#[test]
fn upgrade_headers_on_non_websocket_routes_are_answered_normally() {
    let s = server();
    let h = ws_headers();
    let r = get_h(s, "/echo", &h);
    r.expect_status(200).expect_body("Welcome to SockJS!\n");
    let r = get_h(s, "/echo/info", &h);
    r.expect_status(200);
    r.expect("Content-Type", "application/json; charset=UTF-8");
    let session = session_url("/echo");
    let r = post_h(s, &format!("{session}/xhr"), &h, b"");
    r.expect_status(200).expect_body("o\n");
    let r = post_h(s, &format!("{session}/xhr_send"), &h, br#"["u"]"#);
    r.expect_status(204);
    xhr_expect(s, &session, "a[\"u\"]\n");
    let r = get_h(s, "/echo/iframe.html", &h);
    r.expect_status(200);
    let r = get_h(s, &format!("{}/jsonp?c=cb", session_url("/echo")), &h);
    r.expect_status(200).expect_body("/**/cb(\"o\");\r\n");
    assert_healthy(s);
}

#[test]
fn garbage_request_line_does_not_hurt() {
    let s = server();
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /echo HTTP/9.9\r\n\r\n",
        b"GET\r\n\r\n",
        b"\x16\x03\x01\x02\x00\r\n\r\n",
    ] {
        let mut c = s.connect();
        c.send_raw(raw);
        // Whatever the answer, it comes (or the connection closes) promptly.
        let _ = c.read_raw_to_end_or_head();
    }
    assert_healthy(s);
}

#[test]
fn many_aborted_streams_leave_the_server_healthy() {
    let s = server();
    for i in 0..20 {
        let session = session_url("/echo");
        let path = match i % 3 {
            0 => format!("{session}/xhr_streaming"),
            1 => format!("{session}/eventsource"),
            _ => format!("{session}/htmlfile?c=cb"),
        };
        let method = if i % 3 == 0 { "POST" } else { "GET" };
        let st = stream(s, method, &path, &[]);
        assert_eq!(st.head.status, 200);
        st.abort();
    }
    assert_healthy(s);
}
