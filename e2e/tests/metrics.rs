//! `--metrics ADDR`: the library's metrics (feature `metrics`) scraped in
//! the Prometheus text format after real sessions on several transports,
//! with the exact values those sessions must have produced: sessions
//! opened and closed (by close code), messages and bytes in and out, the
//! 2010 refusal, a refused origin, the limits hit (413 and 1009), the
//! outbound queue depth of a poll, and every gauge back at 0.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// The URL the server printed for `--metrics`.
fn metrics_url(s: &Server) -> String {
    s.printed
        .iter()
        .find_map(|l| l.strip_prefix("sockjs-test-server metrics on "))
        .expect("the metrics line")
        .to_owned()
}

/// One scrape: `name{labels}` (labels sorted by name) to value.
type Scrape = BTreeMap<String, f64>;

fn scrape(metrics: &str) -> Scrape {
    let url = metrics.strip_prefix("http://").expect("http URL");
    let (authority, path) = url.split_once('/').expect("a path");
    let mut c = Conn::connect(authority);
    let r = c.request("GET", &format!("/{path}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.head.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let mut out = Scrape::new();
    for line in r.text().lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let mut labels: Vec<&str> = labels.split(',').filter(|l| !l.is_empty()).collect();
        labels.sort_unstable();
        let key = format!("{name}{{{}}}", labels.join(","));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        assert!(out.insert(key, value).is_none(), "series twice: {line}");
    }
    out
}

/// The series of `name` whose value is not 0.
fn nonzero(s: &Scrape, name: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}{{");
    s.iter()
        .filter(|(k, v)| k.starts_with(&prefix) && **v != 0.0)
        .map(|(k, v)| (k[name.len()..].to_owned(), *v))
        .collect()
}

fn expect(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Reads a streaming response until it has carried `n` messages in `a[...]` frames.
fn stream_messages(st: &mut Streaming, delim: &[u8], n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let chunk = String::from_utf8(st.read_until(delim)).unwrap();
        let frame = chunk.trim_end().trim_start_matches("data: ").trim_start_matches('\n');
        if frame.starts_with('a') {
            got.extend(parse_a(frame));
        }
    }
    got
}

#[test]
fn exact_values_after_sessions_on_several_transports() {
    let Some(s) = own_server(&[
        "--metrics",
        "127.0.0.1:0",
        "--max-message-size",
        "64",
        "--disconnect-delay-ms",
        "200",
        "--stats",
    ]) else {
        return;
    };
    let metrics = metrics_url(&s);
    let before = scrape(&metrics);
    assert_eq!(nonzero(&before, "sockjs_sessions_opened_total"), BTreeMap::new());
    assert_eq!(
        before.get(r#"sockjs_sessions_opened_total{prefix="/echo",transport="websocket"}"#),
        Some(&0.0),
        "every series is there from the start"
    );

    // Websocket: two messages in one frame, echoed, then the client closes.
    let mut ws = ws_open(&s, "/echo");
    ws_send(&mut ws, r#"["a","bc"]"#);
    let mut echoed = Vec::new();
    while echoed.len() < 2 {
        echoed.extend(parse_a(&ws_text(&mut ws)));
    }
    assert_eq!(echoed, ["a", "bc"]);
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "".into(),
    }))
    .unwrap();
    assert!(ws_expect_closed(&mut ws).is_some(), "the server answers the close");

    // Websocket: a message over --max-message-size: 1009.
    let mut ws = ws_open(&s, "/echo");
    ws_send(&mut ws, &json_msgs(&[&"x".repeat(100)]));
    assert_eq!(ws_expect_closed(&mut ws).map(|c| c.0), Some(1009));

    // xhr-polling: one message in, one out; then a send over the limit (413),
    // and the session expires (1000) once nobody polls.
    let polled = xhr_open(&s, "/echo");
    xhr_send(&s, &polled, r#"["hello"]"#);
    assert_eq!(xhr_collect(&s, &polled, 1), ["hello"]);
    post(
        &s,
        &format!("{polled}/xhr_send"),
        json_msgs(&[&"y".repeat(100)]).as_bytes(),
    )
    .expect_status(413);

    // xhr-streaming on /close: the application closes with 3000.
    let closing = session_url("/close");
    let mut st = stream(&s, "POST", &format!("{closing}/xhr_streaming"), &[]);
    let mut body = String::new();
    while !body.contains("c[3000,\"Go away!\"]\n") {
        body.push_str(std::str::from_utf8(&st.read_until(b"\n")).unwrap());
    }

    // xhr-streaming on /echo: a second receiver gets 2010; dropping the
    // first interrupts the session (1002).
    let streamed = session_url("/echo");
    let mut first = stream(&s, "POST", &format!("{streamed}/xhr_streaming"), &[]);
    assert!(String::from_utf8(first.read_until(b"o\n")).unwrap().ends_with("o\n"));
    let second = post(&s, &format!("{streamed}/xhr_streaming"), b"");
    assert!(
        second.text().ends_with("c[2010,\"Another connection still open\"]\n"),
        "{}",
        second.text()
    );
    drop(first);

    // eventsource: two messages in (3 bytes), echoed, then the stream is dropped (1002).
    let es = session_url("/echo");
    let mut st = stream(&s, "GET", &format!("{es}/eventsource"), &[]);
    assert!(String::from_utf8(st.read_until(b"data: o\r\n\r\n"))
        .unwrap()
        .ends_with("data: o\r\n\r\n"));
    xhr_send(&s, &es, r#"["x","yz"]"#);
    assert_eq!(stream_messages(&mut st, b"\r\n\r\n", 2), ["x", "yz"]);
    drop(st);

    // A refused origin.
    get_h(&s, "/custom_cors_echo/info", &[("Origin", "http://evil.test")]).expect_status(403);

    // Every session gone: the gauges say so.
    wait_until(Duration::from_secs(10), "every session closed in the gauges", || {
        let now = scrape(&metrics);
        nonzero(&now, "sockjs_sessions").is_empty()
            && now.get(r#"sockjs_sessions_closed_total{code="1000",prefix="/echo",transport="xhr-polling"}"#)
                == Some(&1.0)
    });
    let m = scrape(&metrics);
    let echo = |t: &str| format!(r#"{{prefix="/echo",transport="{t}"}}"#);
    assert_eq!(
        nonzero(&m, "sockjs_sessions_opened_total"),
        expect(&[
            (r#"{prefix="/close",transport="xhr-streaming"}"#, 1.0),
            (&echo("eventsource"), 1.0),
            (&echo("websocket"), 2.0),
            (&echo("xhr-polling"), 1.0),
            (&echo("xhr-streaming"), 1.0),
        ])
    );
    assert_eq!(
        nonzero(&m, "sockjs_sessions_closed_total"),
        expect(&[
            (r#"{code="1000",prefix="/echo",transport="websocket"}"#, 1.0),
            (r#"{code="1000",prefix="/echo",transport="xhr-polling"}"#, 1.0),
            (r#"{code="1002",prefix="/echo",transport="eventsource"}"#, 1.0),
            (r#"{code="1002",prefix="/echo",transport="xhr-streaming"}"#, 1.0),
            (r#"{code="1009",prefix="/echo",transport="websocket"}"#, 1.0),
            (r#"{code="3000",prefix="/close",transport="xhr-streaming"}"#, 1.0),
        ])
    );
    let in_out = expect(&[
        (&echo("eventsource"), 2.0),
        (&echo("websocket"), 2.0),
        (&echo("xhr-polling"), 1.0),
    ]);
    assert_eq!(nonzero(&m, "sockjs_messages_received_total"), in_out);
    assert_eq!(nonzero(&m, "sockjs_messages_sent_total"), in_out);
    let bytes = expect(&[
        (&echo("eventsource"), 3.0),
        (&echo("websocket"), 3.0),
        (&echo("xhr-polling"), 5.0),
    ]);
    assert_eq!(nonzero(&m, "sockjs_received_bytes_total"), bytes);
    assert_eq!(nonzero(&m, "sockjs_sent_bytes_total"), bytes);
    assert_eq!(
        nonzero(&m, "sockjs_another_connection_total"),
        expect(&[(&echo("xhr-streaming"), 1.0)])
    );
    assert_eq!(
        nonzero(&m, "sockjs_origin_refused_total"),
        expect(&[(r#"{prefix="/custom_cors_echo"}"#, 1.0)])
    );
    assert_eq!(
        nonzero(&m, "sockjs_limits_hit_total"),
        expect(&[
            (r#"{limit="message_too_big",prefix="/echo"}"#, 1.0),
            (r#"{limit="payload_too_large",prefix="/echo"}"#, 1.0),
        ])
    );
    // The one poll that found a message queued found exactly one.
    assert_eq!(
        (
            m.get(&format!("sockjs_outbound_queue_depth_count{}", echo("xhr-polling"))),
            m.get(&format!("sockjs_outbound_queue_depth_sum{}", echo("xhr-polling"))),
        ),
        (Some(&1.0), Some(&1.0))
    );
    assert_eq!(nonzero(&m, "sockjs_heartbeats_total"), BTreeMap::new());
    assert_eq!(nonzero(&m, "sockjs_pong_timeouts_total"), BTreeMap::new());
    assert_eq!(nonzero(&m, "sockjs_handler_panics_total"), BTreeMap::new());
}

#[test]
fn heartbeats_are_counted() {
    let Some(s) = own_server(&["--metrics", "127.0.0.1:0", "--heartbeat-delay-ms", "50"]) else {
        return;
    };
    let metrics = metrics_url(&s);
    let session = session_url("/echo");
    let mut st = stream(&s, "POST", &format!("{session}/xhr_streaming"), &[]);
    st.read_until(b"o\n");
    for _ in 0..3 {
        assert_eq!(st.read_until(b"\n"), b"h\n");
    }
    let key = r#"sockjs_heartbeats_total{prefix="/echo",transport="xhr-streaming"}"#;
    // At least the three read; the server may have written a fourth since.
    let n = scrape(&metrics).get(key).copied().unwrap_or(0.0);
    assert!(n >= 3.0, "{key} = {n}");
}
