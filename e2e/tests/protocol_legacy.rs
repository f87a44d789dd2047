//! EventSource, htmlfile and JSONP polling transports.

mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// eventsource
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn eventsource(s: &Server, session: &str) -> Streaming {
    let mut st = stream(s, "GET", &format!("{session}/eventsource"), &[]);
    assert_eq!(st.head.status, 200, "{:?}", st.head);
    assert_eq!(st.read_exact(2), b"\r\n", "eventsource prelude");
    st
}

#[track_caller]
fn event(st: &mut Streaming) -> String {
    String::from_utf8(st.read_until(b"\r\n\r\n")).unwrap()
}

#[test]
fn eventsource_transport() {
    let s = server();
    let session = session_url("/echo");
    let mut st = eventsource(s, &session);
    st.head.expect("Content-Type", "text/event-stream");
    assert_not_cached(&st.head);
    assert_eq!(event(&mut st), "data: o\r\n\r\n");
    xhr_send(s, &session, r#"["x"]"#);
    assert_eq!(event(&mut st), "data: a[\"x\"]\r\n\r\n");
    // Control characters never reach the event stream raw.
    xhr_send(s, &session, r#"["  \u0000\n\r "]"#);
    assert_eq!(event(&mut st), "data: a[\"  \\u0000\\n\\r \"]\r\n\r\n");
}

#[test]
fn eventsource_data_survives_the_clients_decode_uri() {
    let s = server();
    let session = session_url("/echo");
    let mut st = eventsource(s, &session);
    assert_eq!(event(&mut st), "data: o\r\n\r\n");
    let tricky = "100% %41 %25 %zz %E2%82%AC %2F end%";
    xhr_send(s, &session, &json_msgs(&[tricky]));
    let ev = event(&mut st);
    let data = ev
        .strip_prefix("data: ")
        .and_then(|d| d.strip_suffix("\r\n\r\n"))
        .expect("event");
    assert!(!data.contains('\r') && !data.contains('\n') && !data.contains('\0'));
    let decoded = decode_uri(data).unwrap_or_else(|e| panic!("sockjs-client's decodeURI would throw on {data:?}: {e}"));
    assert_eq!(parse_a(&decoded), [tricky]);
}

#[test]
fn eventsource_response_limit() {
    let s = server();
    let session = session_url("/echo");
    let mut st = eventsource(s, &session);
    assert_eq!(event(&mut st), "data: o\r\n\r\n");
    let msg = "x".repeat(4096);
    xhr_send(s, &session, &format!("[\"{msg}\"]"));
    assert_eq!(event(&mut st), format!("data: a[\"{msg}\"]\r\n\r\n"));
    st.expect_end();
}

#[test]
fn eventsource_close_service() {
    let s = server();
    let session = session_url("/close");
    let mut st = eventsource(s, &session);
    assert_eq!(event(&mut st), "data: o\r\n\r\n");
    assert_eq!(event(&mut st), "data: c[3000,\"Go away!\"]\r\n\r\n");
    st.expect_end();
    let mut st = eventsource(s, &session);
    assert_eq!(event(&mut st), "data: c[3000,\"Go away!\"]\r\n\r\n");
    st.expect_end();
}

// ---------------------------------------------------------------------------------------------
// htmlfile
// ---------------------------------------------------------------------------------------------

fn htmlfile_head(callback: &str) -> String {
    [
        "<!doctype html>",
        "<html><head>",
        "  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />",
        "  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />",
        "</head><body><h2>Don't panic!</h2>",
        "  <script>",
        "    document.domain = document.domain;",
        &format!("    var c = parent.{callback};"),
        "    c.start();",
        "    function p(d) {c.message(d);};",
        "    window.onload = function() {c.stop();};",
        "  </script>",
    ]
    .join("\n")
}

/// Opens htmlfile, checks status, returns (stream, prelude up to the first frame).
#[track_caller]
fn htmlfile(s: &Server, session: &str, query: &str) -> (Streaming, String) {
    let mut st = stream(s, "GET", &format!("{session}/htmlfile?{query}"), &[]);
    assert_eq!(st.head.status, 200, "{:?}", st.head);
    // The prelude ends with padding; everything before the first "<script>\np(" is the prelude.
    let mut prelude = Vec::new();
    loop {
        let piece = st.read_until(b"\n");
        if piece == b"<script>\n" {
            let rest = st.read_until(b"</script>\r\n");
            st.unread(&[piece, rest].concat());
            return (st, String::from_utf8(prelude).unwrap());
        }
        prelude.extend_from_slice(&piece);
    }
}

#[track_caller]
fn html_frame(st: &mut Streaming) -> String {
    String::from_utf8(st.read_until(b"</script>\r\n")).unwrap()
}

#[test]
fn htmlfile_transport() {
    let s = server();
    let session = session_url("/echo");
    let (mut st, prelude) = htmlfile(s, &session, "c=%63allback");
    st.head.expect("Content-Type", "text/html; charset=UTF-8");
    assert_not_cached(&st.head);
    assert_eq!(prelude.trim(), htmlfile_head("callback"));
    assert!(
        prelude.len() > 1024,
        "prelude must exceed 1024 bytes, is {}",
        prelude.len()
    );
    assert_eq!(html_frame(&mut st), "<script>\np(\"o\");\n</script>\r\n");
    xhr_send(s, &session, r#"["x"]"#);
    assert_eq!(html_frame(&mut st), "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n");
}

#[test]
fn htmlfile_frames_cannot_end_the_script_element() {
    let s = server();
    let session = session_url("/echo");
    let (mut st, _) = htmlfile(s, &session, "c=cb");
    assert_eq!(html_frame(&mut st), "<script>\np(\"o\");\n</script>\r\n");
    let nasty = "</script><script>alert(1)</script>\u{2028}\u{2029}&<!--";
    xhr_send(s, &session, &json_msgs(&[nasty]));
    let frame = html_frame(&mut st);
    let inner = frame
        .strip_prefix("<script>\np(")
        .and_then(|f| f.strip_suffix(");\n</script>\r\n"))
        .unwrap_or_else(|| panic!("bad frame {frame:?}"));
    assert!(!inner.contains('<') && !inner.contains('>'), "raw < or > in {inner:?}");
    assert!(
        !inner.contains('\u{2028}') && !inner.contains('\u{2029}'),
        "raw U+2028/9 in {inner:?}"
    );
    let sockjs_frame: String = serde_json::from_str(inner).expect("JSON string argument");
    assert_eq!(parse_a(&sockjs_frame), [nasty]);
}

#[test]
fn htmlfile_response_limit() {
    let s = server();
    let session = session_url("/echo");
    let (mut st, _) = htmlfile(s, &session, "c=callback");
    assert_eq!(html_frame(&mut st), "<script>\np(\"o\");\n</script>\r\n");
    let msg = "x".repeat(4096);
    xhr_send(s, &session, &format!("[\"{msg}\"]"));
    assert_eq!(
        html_frame(&mut st),
        format!("<script>\np(\"a[\\\"{msg}\\\"]\");\n</script>\r\n")
    );
    st.expect_end();
}

#[test]
fn htmlfile_callback_errors() {
    let s = server();
    let r = get(s, "/echo/a/a/htmlfile");
    r.expect_status(500).expect_body("\"callback\" parameter required");
    for cb in ["%20", "*", "abc(", "abc%28", "a%3Cb", "x;alert(1)//", "%E2%80%A8"] {
        let r = get(s, &format!("/echo/a/a/htmlfile?c={cb}"));
        r.expect_status(500).expect_body("invalid \"callback\" parameter");
    }
}

#[test]
fn htmlfile_close_service() {
    let s = server();
    let session = session_url("/close");
    let (mut st, _) = htmlfile(s, &session, "c=cb");
    assert_eq!(html_frame(&mut st), "<script>\np(\"o\");\n</script>\r\n");
    assert_eq!(
        html_frame(&mut st),
        "<script>\np(\"c[3000,\\\"Go away!\\\"]\");\n</script>\r\n"
    );
    st.expect_end();
}

// ---------------------------------------------------------------------------------------------
// jsonp
// ---------------------------------------------------------------------------------------------

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

#[track_caller]
fn jsonp(s: &Server, session: &str, cb: &str) -> Response {
    let r = get(s, &format!("{session}/jsonp?c={cb}"));
    r.expect_status(200);
    r
}

#[track_caller]
fn jsonp_send_form(s: &Server, session: &str, body: &str) -> Response {
    post_h(s, &format!("{session}/jsonp_send"), &[FORM], body.as_bytes())
}

#[test]
fn jsonp_transport() {
    let s = server();
    let session = session_url("/echo");
    let r = jsonp(s, &session, "%63allback");
    r.expect("Content-Type", "application/javascript; charset=UTF-8");
    assert_not_cached(&r);
    r.expect_body("/**/callback(\"o\");\r\n");

    let r = jsonp_send_form(s, &session, "d=%5B%22x%22%5D");
    r.expect_status(200).expect_body("ok");
    r.expect("Content-Type", "text/plain; charset=UTF-8");
    assert_not_cached(&r);

    jsonp(s, &session, "%63allback").expect_body("/**/callback(\"a[\\\"x\\\"]\");\r\n");
}

#[test]
fn jsonp_is_nosniff() {
    let s = server();
    let r = jsonp(s, &session_url("/echo"), "cb");
    r.expect("X-Content-Type-Options", "nosniff");
}

#[test]
fn jsonp_callback_errors() {
    let s = server();
    let r = get(s, "/echo/a/a/jsonp");
    r.expect_status(500).expect_body("\"callback\" parameter required");
    let long = "a".repeat(1000);
    for cb in ["%20", "*", "abc(", "abc%28", "a%2Fb", "x;alert(1)//", long.as_str()] {
        let r = get(s, &format!("/echo/a/a/jsonp?c={cb}"));
        r.expect_status(500).expect_body("invalid \"callback\" parameter");
    }
    // Dots, dashes and underscores are fine.
    let r = jsonp(s, &session_url("/echo"), "jQuery_1.2-3");
    r.expect_body("/**/jQuery_1.2-3(\"o\");\r\n");
}

#[test]
fn jsonp_send_errors() {
    let s = server();
    let session = session_url("/echo");
    jsonp(s, &session, "x").expect_body("/**/x(\"o\");\r\n");
    let r = jsonp_send_form(s, &session, "d=%5B%22x");
    r.expect_status(500);
    assert!(r.text().contains("Broken JSON encoding."), "{:?}", r.text());
    for body in ["", "d=", "p=p"] {
        let r = jsonp_send_form(s, &session, body);
        r.expect_status(500);
        assert!(r.text().contains("Payload expected."), "{body:?}: {:?}", r.text());
    }
    jsonp_send_form(s, &session, "d=%5B%22b%22%5D")
        .expect_status(200)
        .expect_body("ok");
    jsonp(s, &session, "x").expect_body("/**/x(\"a[\\\"b\\\"]\");\r\n");
}

#[test]
fn jsonp_send_form_and_raw_json_bodies() {
    let s = server();
    let session = session_url("/echo");
    jsonp(s, &session, "x").expect_body("/**/x(\"o\");\r\n");
    jsonp_send_form(s, &session, "d=%5B%22abc%22%5D")
        .expect_status(200)
        .expect_body("ok");
    post_h(
        s,
        &format!("{session}/jsonp_send"),
        &[("Content-Type", "text/plain")],
        br#"["%61bc"]"#,
    )
    .expect_status(200)
    .expect_body("ok");
    // A form body with '+' for space and other fields around d.
    jsonp_send_form(s, &session, "x=1&d=%5B%22a+b%22%5D&y=2")
        .expect_status(200)
        .expect_body("ok");
    // The echo may be asynchronous: collect over as many polls as needed.
    let mut got = Vec::new();
    while got.len() < 3 {
        let body = jsonp(s, &session, "x").text();
        let arg = body
            .strip_prefix("/**/x(")
            .and_then(|b| b.strip_suffix(");\r\n"))
            .expect("jsonp framing");
        let frame: String = serde_json::from_str(arg).unwrap();
        got.extend(parse_a(&frame));
    }
    assert_eq!(got, ["abc", "%61bc", "a b"]);
}

#[test]
fn jsonp_send_to_unknown_session_is_404() {
    let s = server();
    let r = jsonp_send_form(s, &session_url("/echo"), "d=%5B%22x%22%5D");
    assert_eq!(r.status, 404);
}

#[test]
fn jsonp_empty_frame() {
    let s = server();
    let session = session_url("/echo");
    jsonp(s, &session, "x").expect_body("/**/x(\"o\");\r\n");
    jsonp_send_form(s, &session, "d=%5B%5D").expect_body("ok");
    jsonp_send_form(s, &session, "d=%5B%22x%22%5D").expect_body("ok");
    jsonp(s, &session, "x").expect_body("/**/x(\"a[\\\"x\\\"]\");\r\n");
}

#[test]
fn jsonp_close_service() {
    let s = server();
    let session = session_url("/close");
    jsonp(s, &session, "x").expect_body("/**/x(\"o\");\r\n");
    jsonp(s, &session, "x").expect_body("/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n");
    jsonp(s, &session, "x").expect_body("/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n");
}
