//! XHR polling (`xhr`, `xhr_send`) and XHR streaming (`xhr_streaming`), session life cycle on them.

mod common;
use common::*;
use std::time::Duration;

/// Opens `<session>/xhr_streaming`, checks status and the exact 2048 × `h` + `\n` prelude.
#[track_caller]
fn xhr_streaming(s: &Server, session: &str, headers: &[(&str, &str)]) -> Streaming {
    let mut st = stream(s, "POST", &format!("{session}/xhr_streaming"), headers);
    assert_eq!(st.head.status, 200, "{:?}", st.head);
    let prelude = st.read_exact(2049);
    assert_eq!(
        prelude,
        [vec![b'h'; 2048], vec![b'\n']].concat(),
        "xhr_streaming prelude"
    );
    st
}

const ANOTHER_CONNECTION: &str = "c[2010,\"Another connection still open\"]\n";

/// A POST `<session>/xhr` that the server holds as the session's receiver, returned with its
/// response unread. Two polls go out at once: the server answers the one it did not attach with
/// 2010, which shows the other is attached.
#[track_caller]
fn attached_poll(s: &Server, session: &str) -> Conn {
    let send = || {
        let mut c = s.connect();
        c.send("HTTP/1.1", "POST", &format!("{session}/xhr"), &[], b"");
        c
    };
    let mut polls = vec![send(), send()];
    let mut refused = None;
    wait_until(READ_TIMEOUT, "one of two concurrent polls to be answered", || {
        refused = polls
            .iter_mut()
            .enumerate()
            .find_map(|(i, c)| c.try_read_response("POST", Duration::from_millis(1)).map(|r| (i, r)));
        refused.is_some()
    });
    let (i, r) = refused.expect("answered");
    r.expect_status(200).expect_body(ANOTHER_CONNECTION);
    polls.swap_remove(1 - i)
}

#[test]
fn polling_transport_headers_and_echo() {
    let s = server();
    let session = session_url("/echo");
    let r = post_h(s, &format!("{session}/xhr"), &[("Origin", "test")], b"");
    r.expect_status(200).expect_body("o\n");
    r.expect("Content-Type", "application/javascript; charset=UTF-8");
    assert_cors(&r, Some("test"));
    assert_not_cached(&r);
    r.expect_absent("Set-Cookie");

    let r = post_h(s, &format!("{session}/xhr_send"), &[("Origin", "test")], br#"["x"]"#);
    r.expect_status(204);
    assert!(r.body.is_empty());
    r.expect("Content-Type", "text/plain; charset=UTF-8");
    assert_cors(&r, Some("test"));
    assert_not_cached(&r);

    let r = post(s, &format!("{session}/xhr"), b"");
    r.expect_status(200).expect_body("a[\"x\"]\n");
    assert_cors(&r, None);
}

#[test]
fn any_server_and_session_value_is_accepted() {
    let s = server();
    let r = sid();
    for part in [
        format!("/a/a{r}"),
        format!("/_/_{r}"),
        format!("/1/{r}"),
        format!("/abcdefgh_i-j%20/abcdefg_i-j%20{r}"),
    ] {
        let p = format!("/echo{part}");
        xhr_expect(s, &p, "o\n");
    }
}

#[test]
fn invalid_session_paths_are_404() {
    let s = server();
    for suffix in ["//", "/a./a", "/a/a.", "/./.", "/", "///", "/a/", "//a"] {
        let path = format!("/echo{suffix}/xhr");
        assert_eq!(get(s, &path).status, 404, "GET {path}");
        assert_eq!(post(s, &path, b"").status, 404, "POST {path}");
    }
}

#[test]
fn server_id_is_ignored() {
    let s = server();
    let id = sid();
    xhr_expect(s, &format!("/echo/000/{id}"), "o\n");
    xhr_send(s, &format!("/echo/000/{id}"), r#"["a"]"#);
    xhr_expect(s, &format!("/echo/999/{id}"), "a[\"a\"]\n");
}

#[test]
fn send_to_unknown_session_is_404() {
    let s = server();
    let session = session_url("/echo");
    let r = post(s, &format!("{session}/xhr_send"), br#"["x"]"#);
    assert_eq!(r.status, 404);
    // And it did not create the session: polling it now opens a new one.
    xhr_expect(s, &session, "o\n");
}

#[test]
fn second_concurrent_poll_gets_2010() {
    let s = server();
    let session = xhr_open(s, "/echo");
    let first = attached_poll(s, &session);
    let r = post(s, &format!("{session}/xhr"), b"");
    r.expect_status(200)
        .expect_body("c[2010,\"Another connection still open\"]\n");
    // The first receiver is still attached and gets the next message.
    xhr_send(s, &session, r#"["for the first"]"#);
    let mut first = first;
    let r = first.read_response("POST");
    r.expect_status(200).expect_body("a[\"for the first\"]\n");
}

#[test]
fn messages_sent_while_not_polling_are_batched_in_order() {
    let s = server();
    let session = xhr_open(s, "/echo");
    let cts = [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ];
    for (i, ct) in cts.iter().enumerate() {
        let body = format!("[\"m{i}\"]");
        let r = post_h(
            s,
            &format!("{session}/xhr_send"),
            &[("Content-Type", ct)],
            body.as_bytes(),
        );
        r.expect_status(204);
        assert!(r.body.is_empty());
    }
    // Each xhr_send is answered once the application handled its messages,
    // so one poll returns every reply in a single frame (as the protocol
    // suite's content-type test requires).
    let expected: Vec<String> = (0..cts.len()).map(|i| format!("\"m{i}\"")).collect();
    xhr_expect(s, &session, &format!("a[{}]\n", expected.join(",")));
}

#[test]
fn empty_array_is_accepted() {
    let s = server();
    let session = xhr_open(s, "/echo");
    xhr_send(s, &session, "[]");
    xhr_send(s, &session, r#"["a"]"#);
    xhr_expect(s, &session, "a[\"a\"]\n");
}

#[test]
fn invalid_and_empty_payloads() {
    let s = server();
    let session = xhr_open(s, "/echo");
    let r = post(s, &format!("{session}/xhr_send"), br#"["x"#);
    r.expect_status(500);
    assert!(r.text().contains("Broken JSON encoding."), "{:?}", r.text());
    let r = post(s, &format!("{session}/xhr_send"), b"");
    r.expect_status(500);
    assert!(r.text().contains("Payload expected."), "{:?}", r.text());
    xhr_send(s, &session, r#"["a"]"#);
    xhr_expect(s, &session, "a[\"a\"]\n");
}

#[test]
fn close_service_polling() {
    let s = server();
    let session = session_url("/close");
    xhr_expect(s, &session, "o\n");
    xhr_expect(s, &session, "c[3000,\"Go away!\"]\n");
    xhr_expect(s, &session, "c[3000,\"Go away!\"]\n");
}

// ---------------------------------------------------------------------------------------------
// xhr_streaming
// ---------------------------------------------------------------------------------------------

#[test]
fn streaming_transport() {
    let s = server();
    let session = session_url("/echo");
    let mut st = xhr_streaming(s, &session, &[("Origin", "test")]);
    st.head.expect("Content-Type", "application/javascript; charset=UTF-8");
    assert_cors(&st.head, Some("test"));
    assert_not_cached(&st.head);
    assert_eq!(st.line(), "o\n");
    xhr_send(s, &session, r#"["x"]"#);
    assert_eq!(st.line(), "a[\"x\"]\n");
    xhr_send(s, &session, r#"["y","z"]"#);
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(parse_a(st.line().trim_end()));
    }
    assert_eq!(got, ["y", "z"]);
}

#[test]
fn streaming_response_limit_closes_after_4096_bytes() {
    let s = server();
    let session = session_url("/echo");
    let mut st = xhr_streaming(s, &session, &[]);
    assert_eq!(st.line(), "o\n");
    let msg = format!("\"{}\"", "x".repeat(128));
    // 2 + 30 * 134 = 4022 bytes: still open; the 31st frame crosses 4096.
    for _ in 0..31 {
        xhr_send(s, &session, &format!("[{msg}]"));
        assert_eq!(st.line(), format!("a[{msg}]\n"));
    }
    st.expect_end();
    // The session survives: the next request continues it.
    xhr_send(s, &session, r#"["after"]"#);
    let mut st = xhr_streaming(s, &session, &[]);
    assert_eq!(st.line(), "a[\"after\"]\n");
}

#[test]
fn streaming_rollover_keeps_every_message_in_order() {
    let s = server();
    let session = session_url("/echo");
    let mut st = xhr_streaming(s, &session, &[]);
    assert_eq!(st.line(), "o\n");
    // 60 numbered messages of ~100 bytes, sent one by one without reading: more than one
    // response's worth, so the stream rolls over and the rest waits for the next request.
    let msgs: Vec<String> = (0..60).map(|i| format!("{i:03}-{}", "y".repeat(96))).collect();
    for m in &msgs {
        xhr_send(s, &session, &json_msgs(&[m]));
    }
    let mut got = Vec::new();
    let mut responses = 1;
    loop {
        while let Some(line) = st.read_until_or_end(b"\n") {
            let line = String::from_utf8(line).unwrap();
            got.extend(parse_a(line.trim_end()));
            if got.len() >= msgs.len() {
                break;
            }
        }
        if got.len() >= msgs.len() {
            break;
        }
        assert!(responses < 10, "too many responses; got {} messages", got.len());
        st = xhr_streaming(s, &session, &[]);
        responses += 1;
    }
    assert_eq!(got, msgs);
}

#[test]
fn streaming_second_receiver_gets_2010_and_ends() {
    let s = server();
    let session = session_url("/echo");
    let mut r1 = xhr_streaming(s, &session, &[]);
    assert_eq!(r1.line(), "o\n");
    let mut r2 = xhr_streaming(s, &session, &[]);
    assert_eq!(r2.line(), "c[2010,\"Another connection still open\"]\n");
    r2.expect_end();
    // The first is unaffected.
    xhr_send(s, &session, r#"["still mine"]"#);
    assert_eq!(r1.line(), "a[\"still mine\"]\n");
}

#[test]
fn streaming_close_frame_is_served_to_later_requests() {
    let s = server();
    let session = session_url("/close");
    let mut r1 = xhr_streaming(s, &session, &[]);
    assert_eq!(r1.line(), "o\n");
    assert_eq!(r1.line(), "c[3000,\"Go away!\"]\n");
    r1.expect_end();
    let mut r2 = xhr_streaming(s, &session, &[]);
    assert_eq!(r2.line(), "c[3000,\"Go away!\"]\n");
    r2.expect_end();
    xhr_expect(s, &session, "c[3000,\"Go away!\"]\n");
}

#[test]
fn aborted_streaming_receiver_interrupts_the_session() {
    let s = server();
    let session = session_url("/echo");
    let mut r1 = xhr_streaming(s, &session, &[]);
    assert_eq!(r1.line(), "o\n");
    let mut r2 = xhr_streaming(s, &session, &[]);
    assert_eq!(r2.line(), "c[2010,\"Another connection still open\"]\n");
    r2.expect_end();
    r1.abort();
    // Until the server notices the abort, another receiver is refused with 2010.
    let mut first = String::new();
    wait_until(READ_TIMEOUT, "the server to notice the aborted receiver", || {
        first = xhr_streaming(s, &session, &[]).line();
        first != ANOTHER_CONNECTION
    });
    assert_reopened_or_interrupted(&first);
}

#[test]
fn aborted_poll_interrupts_the_session() {
    let s = server();
    let session = xhr_open(s, "/echo");
    let first = attached_poll(s, &session);
    xhr_expect(s, &session, ANOTHER_CONNECTION);
    first.abort();
    // Until the server notices the abort, another poll is refused with 2010.
    let mut next = String::new();
    wait_until(READ_TIMEOUT, "the server to notice the aborted poll", || {
        let r = post(s, &format!("{session}/xhr"), b"");
        r.expect_status(200);
        next = r.text();
        next != ANOTHER_CONNECTION
    });
    assert_reopened_or_interrupted(&next);
}

#[test]
fn polling_and_streaming_share_one_session() {
    let s = server();
    let session = xhr_open(s, "/echo");
    xhr_send(s, &session, r#"["queued"]"#);
    let mut st = xhr_streaming(s, &session, &[]);
    assert_eq!(st.line(), "a[\"queued\"]\n");
    xhr_send(s, &session, r#"["live"]"#);
    assert_eq!(st.line(), "a[\"live\"]\n");
}
