//! HTTP/1.0 and 1.1 behaviour, JSON escaping and Unicode, timers, and the application services of the
//! standard test server (close, amplify, broadcast, ticker, cookie_needed, disabled and custom CORS).

mod common;
use common::*;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// HTTP/1.0 and HTTP/1.1
// ---------------------------------------------------------------------------------------------

#[test]
fn http10_greeting() {
    let s = server();
    let mut c = s.connect();
    c.send("HTTP/1.0", "GET", "/echo", &[("Connection", "Keep-Alive")], b"");
    let head = c.read_head();
    assert_eq!(head.status, 200);
    assert!(
        head.version == "HTTP/1.0" || head.version == "HTTP/1.1",
        "{}",
        head.version
    );
    head.expect_absent("Transfer-Encoding");
    match head.header("Content-Length") {
        None => {
            assert_eq!(
                head.header("Connection").map(str::to_ascii_lowercase).as_deref(),
                Some("close")
            );
            assert_eq!(c.read_raw_to_end(), b"Welcome to SockJS!\n");
        }
        Some(cl) => {
            assert_eq!(cl, "19");
            assert_eq!(c.read_raw_exact(19), b"Welcome to SockJS!\n");
            let conn = head.header("Connection").unwrap_or("").to_ascii_lowercase();
            if conn == "close" || conn.is_empty() {
                assert!(c.closes_without_data(), "HTTP/1.0 without keep-alive must close");
            } else {
                assert_eq!(conn, "keep-alive");
                c.send("HTTP/1.0", "GET", "/echo", &[("Connection", "Keep-Alive")], b"");
                let r = c.read_response("GET");
                r.expect_status(200).expect_body("Welcome to SockJS!\n");
            }
        }
    }
}

#[test]
fn http10_streaming_is_close_delimited() {
    let s = server();
    let session = session_url("/close");
    let mut c = s.connect();
    c.send(
        "HTTP/1.0",
        "POST",
        &format!("{session}/xhr_streaming"),
        &[("Connection", "Keep-Alive")],
        b"",
    );
    let head = c.read_head();
    assert_eq!(head.status, 200);
    head.expect_absent("Transfer-Encoding");
    head.expect_absent("Content-Length");
    let body = c.read_raw_to_end();
    let expected = [vec![b'h'; 2048], b"\no\nc[3000,\"Go away!\"]\n".to_vec()].concat();
    assert_eq!(String::from_utf8_lossy(&body), String::from_utf8_lossy(&expected));
}

#[test]
fn http10_streaming_echo_ends_at_response_limit() {
    let s = server();
    let session = session_url("/echo");
    let mut st = s
        .connect()
        .open_stream("HTTP/1.0", "POST", &format!("{session}/xhr_streaming"), &[], b"");
    assert_eq!(st.head.status, 200);
    assert!(!st.is_chunked() && !st.has_content_length(), "{:?}", st.head);
    st.read_exact(2049);
    assert_eq!(st.line(), "o\n");
    let msg = "z".repeat(5000);
    xhr_send(s, &session, &json_msgs(&[&msg]));
    assert_eq!(st.line(), format!("a[\"{msg}\"]\n"));
    st.expect_end();
}

#[test]
fn http11_keep_alive_reuses_one_socket() {
    let s = server();
    let mut c = s.connect();
    let r = c.request("GET", "/echo", &[("Connection", "Keep-Alive")], b"");
    r.expect_status(200).expect_body("Welcome to SockJS!\n");
    let conn = r.header("Connection").unwrap_or("").to_ascii_lowercase();
    assert!(conn.is_empty() || conn == "keep-alive", "Connection: {conn}");
    if r.has("Content-Length") {
        r.expect("Content-Length", "19");
        r.expect_absent("Transfer-Encoding");
    } else {
        assert_eq!(
            r.header("Transfer-Encoding").map(str::to_ascii_lowercase).as_deref(),
            Some("chunked")
        );
    }
    let session = session_url("/echo");
    c.request("GET", "/echo/info", &[], b"").expect_status(200);
    c.request("POST", &format!("{session}/xhr"), &[], b"")
        .expect_status(200)
        .expect_body("o\n");
    c.request("POST", &format!("{session}/xhr_send"), &[], br#"["k"]"#)
        .expect_status(204);
    c.request("OPTIONS", &format!("{session}/xhr"), &[("Origin", "test")], b"")
        .expect_status(204);
    c.request("POST", &format!("{session}/xhr"), &[], b"")
        .expect_status(200)
        .expect_body("a[\"k\"]\n");
    c.request("GET", "/echo/iframe.html", &[], b"").expect_status(200);
    c.request("GET", "/nothing", &[], b"").expect_status(404);
    c.request("GET", "/echo", &[], b"")
        .expect_status(200)
        .expect_body("Welcome to SockJS!\n");
}

#[test]
fn http11_streaming_is_chunked_one_frame_per_chunk() {
    let s = server();
    let session = session_url("/close");
    let mut st = s
        .connect()
        .open_stream("HTTP/1.1", "POST", &format!("{session}/xhr_streaming"), &[], b"");
    assert_eq!(st.head.status, 200);
    assert!(st.is_chunked(), "{:?}", st.head);
    st.head.expect_absent("Content-Length");
    let prelude = st.next_chunk().expect("prelude chunk");
    assert_eq!(prelude[0], b'h');
    assert_eq!(st.next_chunk().as_deref(), Some(&b"o\n"[..]));
    assert_eq!(st.next_chunk().as_deref(), Some(&b"c[3000,\"Go away!\"]\n"[..]));
    assert_eq!(st.next_chunk(), None);
}

// ---------------------------------------------------------------------------------------------
// JSON escaping
// ---------------------------------------------------------------------------------------------

/// How the server must write character `c` inside an outgoing JSON string.
fn server_escape(c: char) -> String {
    let n = c as u32;
    match c {
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\u{8}' => "\\b".into(),
        '\t' => "\\t".into(),
        '\n' => "\\n".into(),
        '\u{c}' => "\\f".into(),
        '\r' => "\\r".into(),
        _ if n < 0x20
            || (0x200c..=0x200f).contains(&n)
            || (0x2028..=0x202f).contains(&n)
            || (0x2060..=0x206f).contains(&n)
            || (0xfff0..=0xffff).contains(&n) =>
        {
            format!("\\u{n:04x}")
        }
        _ => c.to_string(),
    }
}

fn chars_in(ranges: &[(u32, u32)]) -> String {
    ranges
        .iter()
        .flat_map(|&(a, b)| (a..=b).filter_map(char::from_u32))
        .collect()
}

#[track_caller]
fn assert_server_writes(s: &Server, text: &str) {
    let session = xhr_open(s, "/echo");
    xhr_send(s, &session, &json_msgs(&[text]));
    let r = post(s, &format!("{session}/xhr"), b"");
    r.expect_status(200);
    let expected = format!("a[\"{}\"]\n", text.chars().map(server_escape).collect::<String>());
    let got = r.text();
    if got != expected {
        let (g, e): (Vec<char>, Vec<char>) = (got.chars().collect(), expected.chars().collect());
        let i = g
            .iter()
            .zip(&e)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(e.len()));
        let show = |v: &[char]| {
            v[i.saturating_sub(10)..(i + 20).min(v.len())]
                .iter()
                .collect::<String>()
        };
        panic!(
            "server escaping differs at char {i}: got {:?}, expected {:?}",
            show(&g),
            show(&e)
        );
    }
}

#[test]
fn server_escapes_exactly_the_listed_ranges_above_ascii() {
    let s = server();
    // Escaped ones (as the protocol suite checks them: lower-case \uXXXX).
    assert_server_writes(
        s,
        &chars_in(&[(0x200c, 0x200f), (0x2028, 0x202f), (0x2060, 0x206f), (0xfff0, 0xffff)]),
    );
    // Neighbours that must pass verbatim.
    assert_server_writes(
        s,
        &chars_in(&[
            (0x7f, 0xff),
            (0x600, 0x604),
            (0x2000, 0x200b),
            (0x2010, 0x2027),
            (0x2030, 0x205f),
            (0x2070, 0x20ff),
            (0xfeff, 0xfeff),
            (0xffe0, 0xffef),
        ]),
    );
}

#[test]
fn server_sends_supplementary_characters_verbatim() {
    // Not escaped as surrogate pairs: U+D800-U+DFFF never occur in a Rust string.
    assert_server_writes(
        server(),
        &chars_in(&[(0x10000, 0x10010), (0x1f600, 0x1f64f), (0x10fff0, 0x10ffff)]),
    );
}

#[test]
fn server_escapes_control_characters_quote_and_backslash() {
    let s = server();
    let mut text = chars_in(&[(0x00, 0x1f)]);
    text.push_str("\"\\/ 'a<>&%");
    assert_server_writes(s, &text);
}

#[test]
fn server_decodes_every_escape_a_client_may_send() {
    let s = server();
    // Every BMP code unit except surrogates, written as \uXXXX (alternating hex case), plus escaped
    // surrogate pairs and the short escapes.
    let mut payload = String::from("[\"");
    let mut expected = String::new();
    for n in (0u32..=0xffff).filter(|n| !(0xd800..=0xdfff).contains(n)) {
        if n % 2 == 0 {
            payload.push_str(&format!("\\u{n:04x}"));
        } else {
            payload.push_str(&format!("\\u{n:04X}"));
        }
        expected.push(char::from_u32(n).unwrap());
    }
    payload.push_str("\\ud83d\\ude00\\uD800\\uDC00\\udbff\\udfff\\\"\\\\\\/\\b\\f\\n\\r\\t\"]");
    expected.push_str("\u{1f600}\u{10000}\u{10ffff}\"\\/\u{8}\u{c}\n\r\t");
    let session = xhr_open(s, "/echo");
    xhr_send(s, &session, &payload);
    let r = post(s, &format!("{session}/xhr"), b"");
    r.expect_status(200);
    let msgs = parse_a(r.text().trim_end_matches('\n'));
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0] == expected,
        "decoded string differs (len {} vs {})",
        msgs[0].len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Full Unicode round trip on every transport
// ---------------------------------------------------------------------------------------------

/// One message holding every Unicode scalar value (U+0000..=U+10FFFF without the surrogates),
/// about 4.2 MB of UTF-8: sent to a server whose inbound cap allows it.
fn unicode_message() -> String {
    let msg: String = (0u32..=0x10ffff).filter_map(char::from_u32).collect();
    assert_eq!(msg.chars().count(), 0x110000 - 0x800);
    msg
}

#[derive(Clone, Copy, Debug)]
enum Rx {
    XhrPolling,
    XhrStreaming,
    EventSource,
    HtmlFile,
    Jsonp,
}

/// A receiver of kind `rx` on one session: polling kinds make one request per frame, streaming kinds
/// keep one response open.
struct Receiver {
    rx: Rx,
    session: String,
    stream: Option<Streaming>,
}

impl Receiver {
    #[track_caller]
    fn open(s: &Server, session: &str, rx: Rx) -> Receiver {
        let stream = match rx {
            Rx::XhrPolling | Rx::Jsonp => None,
            Rx::XhrStreaming => {
                let mut st = stream(s, "POST", &format!("{session}/xhr_streaming"), &[]);
                assert_eq!(st.head.status, 200);
                st.read_exact(2049);
                Some(st)
            }
            Rx::EventSource => {
                let mut st = stream(s, "GET", &format!("{session}/eventsource"), &[]);
                assert_eq!(st.head.status, 200);
                assert_eq!(st.read_exact(2), b"\r\n");
                Some(st)
            }
            Rx::HtmlFile => {
                let mut st = stream(s, "GET", &format!("{session}/htmlfile?c=cb"), &[]);
                assert_eq!(st.head.status, 200);
                loop {
                    let piece = st.read_until(b"\n");
                    if piece == b"<script>\n" {
                        st.unread(&piece);
                        break;
                    }
                }
                Some(st)
            }
        };
        Receiver {
            rx,
            session: session.to_string(),
            stream,
        }
    }

    /// The next frame, without transport framing.
    #[track_caller]
    fn next(&mut self, s: &Server) -> String {
        let session = &self.session;
        match (self.rx, self.stream.as_mut()) {
            (Rx::XhrPolling, _) => {
                let r = post(s, &format!("{session}/xhr"), b"");
                r.expect_status(200);
                r.text().strip_suffix('\n').expect("newline").to_string()
            }
            (Rx::Jsonp, _) => {
                let r = get(s, &format!("{session}/jsonp?c=cb"));
                r.expect_status(200);
                let body = r.text();
                let inner = body
                    .strip_prefix("/**/cb(")
                    .and_then(|b| b.strip_suffix(");\r\n"))
                    .expect("jsonp framing");
                serde_json::from_str(inner).expect("jsonp argument is a JSON string")
            }
            (Rx::XhrStreaming, Some(st)) => st.line().strip_suffix('\n').unwrap().to_string(),
            (Rx::EventSource, Some(st)) => {
                let ev = String::from_utf8(st.read_until(b"\r\n\r\n")).unwrap();
                let data = ev.strip_prefix("data: ").unwrap().strip_suffix("\r\n\r\n").unwrap();
                // sockjs-client passes event data through decodeURI.
                decode_uri(data).unwrap_or_else(|e| panic!("client's decodeURI would fail: {e}"))
            }
            (Rx::HtmlFile, Some(st)) => {
                let f = String::from_utf8(st.read_until(b"</script>\r\n")).unwrap();
                let inner = f
                    .strip_prefix("<script>\np(")
                    .and_then(|r| r.strip_suffix(");\n</script>\r\n"))
                    .expect("htmlfile frame");
                serde_json::from_str(inner).expect("htmlfile argument is a JSON string")
            }
            _ => unreachable!(),
        }
    }

    /// For streaming kinds: the response ends now.
    #[track_caller]
    fn expect_end(&mut self) {
        if let Some(st) = self.stream.as_mut() {
            st.expect_end();
        }
    }
}

fn unicode_round_trip(rx: Rx) {
    let Some(s) = big_server() else { return };
    // Opened by polling, so that no streaming response is ever dropped mid-way.
    let session = xhr_open(s, "/echo");
    let msg = unicode_message();
    xhr_send(s, &session, &json_msgs(&[&msg]));
    let mut r = Receiver::open(s, &session, rx);
    let got = parse_a(&r.next(s));
    // The message exceeds /echo's 4096-byte response limit.
    r.expect_end();
    assert_eq!(got.len(), 1, "{rx:?}");
    assert!(got[0] == msg, "{rx:?}: the message changed on the way");
}

#[test]
fn unicode_round_trip_xhr_polling() {
    unicode_round_trip(Rx::XhrPolling);
}

#[test]
fn unicode_round_trip_xhr_streaming() {
    unicode_round_trip(Rx::XhrStreaming);
}

#[test]
fn unicode_round_trip_eventsource() {
    unicode_round_trip(Rx::EventSource);
}

#[test]
fn unicode_round_trip_htmlfile() {
    unicode_round_trip(Rx::HtmlFile);
}

#[test]
fn unicode_round_trip_jsonp() {
    unicode_round_trip(Rx::Jsonp);
}

#[test]
fn unicode_round_trip_websocket() {
    let Some(s) = big_server() else { return };
    let mut ws = ws_open(s, "/echo");
    let msg = unicode_message();
    ws_send(&mut ws, &json_msgs(&[&msg]));
    let got = parse_a(&ws_text(&mut ws));
    assert_eq!(got.len(), 1);
    assert!(got[0] == msg, "websocket: the message changed on the way");
}

// ---------------------------------------------------------------------------------------------
// Timers (fast server: 300 ms heartbeat, 500 ms disconnect delay)
// ---------------------------------------------------------------------------------------------

#[test]
fn heartbeat_on_every_http_transport() {
    let Some(s) = fast_server() else { return };
    // xhr_streaming
    let session = session_url("/echo");
    let mut st = stream(s, "POST", &format!("{session}/xhr_streaming"), &[]);
    st.read_exact(2049);
    assert_eq!(st.line(), "o\n");
    assert_eq!(st.line(), "h\n");
    assert_eq!(st.line(), "h\n");
    // eventsource
    let session = session_url("/echo");
    let mut st = stream(s, "GET", &format!("{session}/eventsource"), &[]);
    st.read_exact(2);
    assert_eq!(st.read_until(b"\r\n\r\n"), b"data: o\r\n\r\n");
    assert_eq!(st.read_until(b"\r\n\r\n"), b"data: h\r\n\r\n");
    // htmlfile
    let session = session_url("/echo");
    let mut st = stream(s, "GET", &format!("{session}/htmlfile?c=cb"), &[]);
    let mut frames = Vec::new();
    while frames.len() < 2 {
        let piece = st.read_until(b"\n");
        if piece == b"<script>\n" {
            frames.push(String::from_utf8(st.read_until(b"</script>\r\n")).unwrap());
        }
    }
    assert_eq!(frames, ["p(\"o\");\n</script>\r\n", "p(\"h\");\n</script>\r\n"]);
    // xhr polling: a waiting poll is answered with a heartbeat
    let session = xhr_open(s, "/echo");
    xhr_expect(s, &session, "h\n");
    // jsonp
    let session = session_url("/echo");
    get(s, &format!("{session}/jsonp?c=cb")).expect_body("/**/cb(\"o\");\r\n");
    get(s, &format!("{session}/jsonp?c=cb")).expect_body("/**/cb(\"h\");\r\n");
}

#[test]
fn session_expires_after_disconnect_delay() {
    let Some(s) = fast_server() else { return };
    let session = xhr_open(s, "/echo");
    xhr_send(s, &session, r#"["kept"]"#);
    // Input, not a wait: idle for a fifth of the delay, which the session must survive.
    sleep_ms(FAST_DISCONNECT_MS / 5);
    xhr_expect(s, &session, "a[\"kept\"]\n");
    wait_until_forgotten(s, &session, Duration::from_millis(FAST_DISCONNECT_MS * 4 + 2000));
    let r = post(s, &format!("{session}/xhr_send"), br#"["late"]"#);
    assert_eq!(r.status, 404, "send to an expired session");
    // Polling the old id now starts a new session.
    xhr_expect(s, &session, "o\n");
}

#[test]
fn closed_session_is_forgotten_after_disconnect_delay() {
    let Some(s) = fast_server() else { return };
    let session = session_url("/close");
    xhr_expect(s, &session, "o\n");
    xhr_expect(s, &session, "c[3000,\"Go away!\"]\n");
    wait_until_forgotten(s, &session, Duration::from_millis(FAST_DISCONNECT_MS * 4 + 2000));
    xhr_expect(s, &session, "o\n");
}

// ---------------------------------------------------------------------------------------------
// Application services
// ---------------------------------------------------------------------------------------------

#[test]
fn close_service_on_every_transport() {
    let s = server();
    let go_away = "c[3000,\"Go away!\"]";
    for rx in [
        Rx::XhrPolling,
        Rx::XhrStreaming,
        Rx::EventSource,
        Rx::HtmlFile,
        Rx::Jsonp,
    ] {
        let session = session_url("/close");
        let mut r = Receiver::open(s, &session, rx);
        assert_eq!(r.next(s), "o", "{rx:?}");
        if r.stream.is_none() {
            r = Receiver::open(s, &session, rx);
        }
        assert_eq!(r.next(s), go_away, "{rx:?}");
        r.expect_end();
        // Later requests get the close frame again, on this and other transports.
        let mut r = Receiver::open(s, &session, rx);
        assert_eq!(r.next(s), go_away, "{rx:?} later request");
        r.expect_end();
        assert_eq!(
            Receiver::open(s, &session, Rx::XhrPolling).next(s),
            go_away,
            "{rx:?} then xhr"
        );
    }
}

#[test]
fn amplify_sizes() {
    let s = server();
    let mut ws = ws_open(s, "/amplify");
    for (input, n) in [
        ("3", 8),
        ("0", 2),
        ("1", 2),
        ("18", 262_144),
        ("19", 2),
        ("abc", 2),
        ("-4", 2),
        ("4.9", 16),
        ("", 2),
    ] {
        ws_send(&mut ws, &json_msgs(&[input]));
        let msgs = parse_a(&ws_text(&mut ws));
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].len(), n, "amplify {input:?}");
        assert!(msgs[0].bytes().all(|b| b == b'x'));
    }
}

#[test]
fn broadcast_reaches_every_open_connection() {
    let s = server();
    let mut a = ws_open(s, "/broadcast");
    let mut b = ws_open(s, "/broadcast");
    let session = session_url("/broadcast");
    let mut st = stream(s, "POST", &format!("{session}/xhr_streaming"), &[]);
    st.read_exact(2049);
    assert_eq!(st.line(), "o\n");
    let tag = format!("hello {}", sid());
    ws_send(&mut a, &json_msgs(&[&tag]));
    // Other tests' broadcasts may interleave; look for ours.
    let want = json_msgs(&[&tag]);
    for (name, got) in [
        ("sender", wait_ws(&mut a, &want)),
        ("other ws", wait_ws(&mut b, &want)),
        ("xhr_streaming", wait_line(&mut st, &want)),
    ] {
        assert!(got, "{name} did not get the broadcast");
    }
    let tag2 = format!("from xhr {}", sid());
    xhr_send(s, &session, &json_msgs(&[&tag2]));
    assert!(wait_ws(&mut b, &json_msgs(&[&tag2])));
}

fn wait_ws(ws: &mut Ws, want: &str) -> bool {
    (0..50).any(|_| ws_text(ws) == format!("a{want}"))
}

fn wait_line(st: &mut Streaming, want: &str) -> bool {
    (0..50).any(|_| st.line() == format!("a{want}\n"))
}

#[test]
fn ticker_ticks() {
    let s = server();
    let mut ws = ws_open(s, "/ticker");
    assert_eq!(ws_text(&mut ws), "a[\"tick!\"]");
    assert_eq!(ws_text(&mut ws), "a[\"tick!\"]");
}

// ---------------------------------------------------------------------------------------------
// cookie_needed_echo
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_cookie(h: &Head, value: &str) {
    let all = h.headers_all("Set-Cookie");
    assert_eq!(all, [format!("JSESSIONID={value}; path=/")], "Set-Cookie");
}

#[test]
fn cookie_needed_sets_dummy_cookie_on_every_transport() {
    let s = server();
    let session = session_url("/cookie_needed_echo");
    let r = post(s, &format!("{session}/xhr"), b"");
    r.expect_body("o\n");
    assert_cookie(&r, "dummy");
    let r = post(s, &format!("{session}/xhr_send"), br#"["c"]"#);
    r.expect_status(204);
    assert_cookie(&r, "dummy");
    let st = stream(
        s,
        "POST",
        &format!("{}/xhr_streaming", session_url("/cookie_needed_echo")),
        &[],
    );
    assert_cookie(&st.head, "dummy");
    let st = stream(
        s,
        "GET",
        &format!("{}/eventsource", session_url("/cookie_needed_echo")),
        &[],
    );
    assert_cookie(&st.head, "dummy");
    let st = stream(
        s,
        "GET",
        &format!("{}/htmlfile?c=%63allback", session_url("/cookie_needed_echo")),
        &[],
    );
    assert_cookie(&st.head, "dummy");
    let session = session_url("/cookie_needed_echo");
    let r = get(s, &format!("{session}/jsonp?c=%63allback"));
    r.expect_body("/**/callback(\"o\");\r\n");
    assert_cookie(&r, "dummy");
    let r = post_h(
        s,
        &format!("{session}/jsonp_send"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"d=%5B%22x%22%5D",
    );
    r.expect_status(200).expect_body("ok");
    assert_cookie(&r, "dummy");
    // Preflights too; /info itself sets none.
    let r = options(s, &format!("{session}/xhr"), &[("Origin", "test")]);
    assert_cookie(&r, "dummy");
    let r = options(s, "/cookie_needed_echo/info", &[("Origin", "test")]);
    assert_cookie(&r, "dummy");
    get(s, "/cookie_needed_echo/info").expect_absent("Set-Cookie");
}

#[test]
fn cookie_needed_echoes_request_jsessionid() {
    let s = server();
    let session = session_url("/cookie_needed_echo");
    let r = post_h(s, &format!("{session}/xhr"), &[("Cookie", "JSESSIONID=abcdef")], b"");
    r.expect_body("o\n");
    assert_cookie(&r, "abcdef");
    let r = post_h(
        s,
        &format!("{session}/xhr_send"),
        &[("Cookie", "a=b; JSESSIONID=xyz123; c=d")],
        br#"["m"]"#,
    );
    assert_cookie(&r, "xyz123");
    xhr_expect(s, &session, "a[\"m\"]\n");
}

#[test]
fn services_without_jsessionid_set_no_cookie() {
    let s = server();
    let session = session_url("/echo");
    let r = post_h(s, &format!("{session}/xhr"), &[("Cookie", "JSESSIONID=abc")], b"");
    r.expect_absent("Set-Cookie");
    let st = stream(s, "GET", &format!("{session}/eventsource"), &[]);
    st.head.expect_absent("Set-Cookie");
}

// ---------------------------------------------------------------------------------------------
// disabled_cors_echo and custom_cors_echo (ours; not in sockjs-node's test server)
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_no_cors(h: &Head) {
    for (k, _) in &h.headers {
        assert!(
            !k.to_ascii_lowercase().starts_with("access-control-"),
            "unexpected {k} in {:?}",
            h.headers
        );
    }
}

#[test]
fn disabled_cors_has_no_cors_headers_and_no_iframe() {
    let s = server();
    let o = [("Origin", "http://foo.example")];
    let r = get_h(s, "/disabled_cors_echo/info", &o);
    r.expect_status(200);
    assert_no_cors(&r);
    let info: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(info.get("origins").is_none(), "no origins in {info}");
    assert_eq!(info["websocket"], serde_json::json!(true));
    let r = options(
        s,
        "/disabled_cors_echo/info",
        &[
            ("Origin", "http://foo.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_no_cors(&r);
    let session = session_url("/disabled_cors_echo");
    let r = options(
        s,
        &format!("{session}/xhr"),
        &[
            ("Origin", "http://foo.example"),
            ("Access-Control-Request-Headers", "a"),
        ],
    );
    assert_no_cors(&r);
    let r = post_h(s, &format!("{session}/xhr"), &o, b"");
    r.expect_status(200).expect_body("o\n");
    assert_no_cors(&r);
    let r = post_h(s, &format!("{session}/xhr_send"), &o, br#"["nc"]"#);
    r.expect_status(204);
    assert_no_cors(&r);
    let st = stream(
        s,
        "POST",
        &format!("{}/xhr_streaming", session_url("/disabled_cors_echo")),
        &o,
    );
    assert_eq!(st.head.status, 200);
    assert_no_cors(&st.head);
    xhr_expect(s, &session, "a[\"nc\"]\n");
    assert_eq!(get(s, "/disabled_cors_echo/iframe.html").status, 404);
    assert_eq!(get(s, "/disabled_cors_echo/iframe-1.6.1.html").status, 404);
}

const ALLOWED: [&str; 7] = [
    "http://example.com",
    "https://example.com",
    "http://example.com:8080",
    "https://a.example.com",
    "http://a.b.example.com:1234",
    "https://www.example.com:443",
    "http://x-y.example.com",
];
const REFUSED: [&str; 8] = [
    "http://example.org",
    "http://evil-example.com",
    "http://example.com.evil.org",
    "https://notexample.com",
    "ftp://example.com",
    "null",
    "http://example.co",
    "test",
];

#[test]
fn custom_cors_reflects_allowed_origins() {
    let s = server();
    for origin in ALLOWED {
        let o = [("Origin", origin)];
        let r = get_h(s, "/custom_cors_echo/info", &o);
        r.expect_status(200);
        assert_cors(&r, Some(origin));
        let session = session_url("/custom_cors_echo");
        let r = post_h(s, &format!("{session}/xhr"), &o, b"");
        r.expect_status(200).expect_body("o\n");
        assert_cors(&r, Some(origin));
        let r = post_h(s, &format!("{session}/xhr_send"), &o, br#"["ok"]"#);
        r.expect_status(204);
        assert_cors(&r, Some(origin));
        let r = options(
            s,
            &format!("{session}/xhr"),
            &[("Origin", origin), ("Access-Control-Request-Method", "POST")],
        );
        r.expect_status(204);
        assert_cors(&r, Some(origin));
        xhr_expect(s, &session, "a[\"ok\"]\n");
        let mut ws = ws_connect_h(s, &format!("{}/websocket", session_url("/custom_cors_echo")), &o)
            .unwrap_or_else(|e| panic!("{origin}: websocket refused: {e}"));
        assert_eq!(ws_text(&mut ws), "o");
    }
}

#[test]
fn custom_cors_refuses_other_origins_with_403() {
    let s = server();
    // A session opened without Origin, to aim xhr_send at.
    let open = xhr_open(s, "/custom_cors_echo");
    for origin in REFUSED {
        let o = [("Origin", origin)];
        assert_eq!(get_h(s, "/custom_cors_echo/info", &o).status, 403, "info {origin}");
        let session = session_url("/custom_cors_echo");
        assert_eq!(
            post_h(s, &format!("{session}/xhr"), &o, b"").status,
            403,
            "xhr {origin}"
        );
        assert_eq!(
            post_h(s, &format!("{open}/xhr_send"), &o, br#"["no"]"#).status,
            403,
            "xhr_send {origin}"
        );
        let st = stream(s, "POST", &format!("{session}/xhr_streaming"), &o);
        assert_eq!(st.head.status, 403, "xhr_streaming {origin}");
        let st = stream(s, "GET", &format!("{session}/eventsource"), &o);
        assert_eq!(st.head.status, 403, "eventsource {origin}");
        let mut h = ws_headers();
        h.push(("Origin", origin));
        let (_c, head) = raw_upgrade(s, &format!("{}/websocket", session_url("/custom_cors_echo")), &h);
        assert_eq!(head.status, 403, "websocket {origin}");
        let (_c, head) = raw_upgrade(s, "/custom_cors_echo/websocket", &h);
        assert_eq!(head.status, 403, "raw websocket {origin}");
    }
    // Nothing refused reached the open session.
    xhr_send(s, &open, r#"["yes"]"#);
    xhr_expect(s, &open, "a[\"yes\"]\n");
}

#[test]
fn custom_cors_serves_requests_without_origin() {
    let s = server();
    let r = get(s, "/custom_cors_echo/info");
    r.expect_status(200);
    let session = xhr_open(s, "/custom_cors_echo");
    xhr_send(s, &session, r#"["plain"]"#);
    xhr_expect(s, &session, "a[\"plain\"]\n");
    let mut ws = ws_open(s, "/custom_cors_echo");
    ws_send(&mut ws, r#"["w"]"#);
    assert_eq!(ws_text(&mut ws), r#"a["w"]"#);
}
