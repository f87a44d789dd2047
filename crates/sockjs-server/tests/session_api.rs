//! The application's side: `Session` and `SessionSender` driven by the test
//! while xhr requests go through the service in process.

mod common;

use common::*;
use sockjs_server::{Config, ReadyState, SendError, Session, Transport, TrySendError};
use std::net::SocketAddr;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(100);

// Tests that check a task is still waiting (a send, an `xhr_send`, a
// `closed()`) run on tokio's paused clock: there `sleep(SHORT)` returns only
// once every other task has run as far as it can, so the task under test has
// certainly reached the point where it waits, whatever the machine's load.

async fn poll<H: sockjs_server::Handler>(svc: &sockjs_server::SockJsService<H>, base: &str) -> String {
    let r = call(svc, post(&format!("{base}/xhr"), "")).await;
    let (status, body) = status_text(r).await;
    assert_eq!(status, 200);
    body
}

#[tokio::test]
async fn handler_receives_messages_in_order() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    for payload in [r#"["a","b"]"#, r#"["c"]"#, r#"["d","e","f"]"#, r#"[]"#, r#"["", "g"]"#] {
        let r = call(&svc, post("/echo/000/s1/xhr_send", payload)).await;
        assert_eq!(r.status(), 204, "{payload}");
    }
    let mut got = Vec::new();
    for _ in 0..8 {
        got.push(session.recv().await.expect("message"));
    }
    assert_eq!(got, ["a", "b", "c", "d", "e", "f", "", "g"]);
    assert!(
        tokio::time::timeout(SHORT, session.recv()).await.is_err(),
        "nothing more"
    );
}

#[tokio::test(start_paused = true)]
async fn xhr_send_waits_for_a_slow_application() {
    // With one inbound slot, the second message of a send waits for recv().
    let (svc, mut rx) = capture_service(Config::new("/echo").inbound_capacity(1));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let send = tokio::spawn({
        let svc = svc.clone();
        async move {
            call(&svc, post("/echo/000/s1/xhr_send", r#"["1","2","3"]"#))
                .await
                .status()
        }
    });
    tokio::time::sleep(SHORT).await;
    assert!(!send.is_finished(), "xhr_send should wait for room");
    for want in ["1", "2", "3"] {
        assert_eq!(session.recv().await.as_deref(), Some(want));
    }
    assert_eq!(send.await.unwrap(), 204);
}

#[tokio::test(start_paused = true)]
async fn try_send_reports_full_and_send_waits_for_drain() {
    let (svc, mut rx) = capture_service(Config::new("/echo").max_queued(2, 1024));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;

    assert_eq!(session.try_send("1"), Ok(()));
    assert_eq!(session.try_send("2"), Ok(()));
    assert_eq!(session.try_send("3"), Err(TrySendError::Full("3".to_owned())));
    let sender = session.sender();
    assert_eq!(sender.try_send("3"), Err(TrySendError::Full("3".to_owned())));

    // `send` waits while the queue is full...
    let blocked = tokio::spawn(async move { sender.send("3").await });
    tokio::time::sleep(SHORT).await;
    assert!(!blocked.is_finished());

    // ...until a receiver drains it.
    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"1\",\"2\"]\n");
    assert_eq!(blocked.await.unwrap(), Ok(()));
    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"3\"]\n");
}

#[tokio::test]
async fn queue_byte_limit() {
    let (svc, mut rx) = capture_service(Config::new("/echo").max_queued(100, 8));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    assert_eq!(session.try_send("aaaaa"), Ok(()));
    assert_eq!(session.try_send("bbb"), Ok(()));
    assert_eq!(session.try_send("c"), Err(TrySendError::Full("c".to_owned())));
    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"aaaaa\",\"bbb\"]\n");
    // A message larger than the byte bound still goes into an empty queue.
    assert_eq!(session.try_send("0123456789"), Ok(()));
    assert_eq!(session.try_send("x"), Err(TrySendError::Full("x".to_owned())));
    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"0123456789\"]\n");
}

#[tokio::test(start_paused = true)]
async fn blocked_send_fails_when_the_session_closes() {
    let (svc, mut rx) = capture_service(Config::new("/echo").max_queued(1, 1024));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    session.try_send("1").unwrap();
    let sender = session.sender();
    let blocked = tokio::spawn(async move { sender.send("2").await });
    tokio::time::sleep(SHORT).await;
    assert!(!blocked.is_finished());
    session.close(4000, "bye");
    let res = tokio::time::timeout(Duration::from_secs(2), blocked).await;
    assert_eq!(res.expect("send woken by close").unwrap(), Err(SendError::Closed));
}

#[tokio::test]
async fn close_delivers_queued_messages_first() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    session.try_send("a").unwrap();
    session.try_send("b").unwrap();
    session.close(4000, "bye \"now\"");
    assert_eq!(session.try_send("z"), Err(TrySendError::Closed("z".to_owned())));
    assert_eq!(session.send("z").await, Err(SendError::Closed));
    // Inbound ends at close.
    assert_eq!(tokio::time::timeout(SHORT, session.recv()).await, Ok(None));

    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"a\",\"b\"]\n");
    assert_eq!(poll(&svc, "/echo/000/s1").await, "c[4000,\"bye \\\"now\\\"\"]\n");
    // Later requests get the close frame again.
    assert_eq!(poll(&svc, "/echo/000/s1").await, "c[4000,\"bye \\\"now\\\"\"]\n");

    // On a stream: messages, close, end of body, in one response.
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let mut body = call(&svc, post("/echo/000/s2/xhr_streaming", "")).await.into_body();
    let session = next_session(&mut rx).await;
    session.try_send("m").unwrap();
    session.close(3001, "done");
    let mut frames = Vec::new();
    while let Some(c) = chunk(&mut body).await {
        frames.push(c);
    }
    assert_eq!(&frames[1..], ["o\n", "a[\"m\"]\n", "c[3001,\"done\"]\n"]);
}

#[tokio::test]
async fn xhr_send_after_close_is_accepted_but_not_delivered() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    session.end();
    assert_eq!(session.recv().await, None);
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["late"]"#)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(session.recv().await, None);
}

#[tokio::test]
async fn end_sends_go_away() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    session.end();
    assert_eq!(poll(&svc, "/echo/000/s1").await, "c[3000,\"Go away!\"]\n");
    let closed = session.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (3000, "Go away!"));
}

#[tokio::test]
async fn dropping_the_session_ends_it() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let sender = session.sender();
    drop(session);
    assert_eq!(sender.ready_state(), ReadyState::Closing);
    assert_eq!(poll(&svc, "/echo/000/s1").await, "c[3000,\"Go away!\"]\n");
    assert_eq!(sender.ready_state(), ReadyState::Closed);

    // The same through a handler that returns at once.
    let svc = sockjs_server::SockJsService::new(Config::new("/echo"), |_s: Session| async {});
    let r = call(&svc, post("/echo/000/s2/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    tokio::task::yield_now().await;
    assert_eq!(poll(&svc, "/echo/000/s2").await, "c[3000,\"Go away!\"]\n");
}

#[tokio::test]
async fn ready_state_transitions() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    let session = next_session(&mut rx).await;
    // The session exists, but its open frame has not gone out yet.
    assert_eq!(session.ready_state(), ReadyState::Connecting);
    assert_eq!(text(r.into_body()).await, "o\n");
    assert_eq!(session.ready_state(), ReadyState::Open);
    session.try_send("m").unwrap();
    session.close(3001, "x");
    assert_eq!(session.ready_state(), ReadyState::Closing);
    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"m\"]\n");
    // Still closing while the close frame is undelivered.
    assert_eq!(session.ready_state(), ReadyState::Closing);
    assert_eq!(poll(&svc, "/echo/000/s1").await, "c[3001,\"x\"]\n");
    assert_eq!(session.ready_state(), ReadyState::Closed);
    assert_eq!(session.sender().ready_state(), ReadyState::Closed);
}

#[tokio::test(start_paused = true)]
async fn closed_returns_the_same_reason_every_time() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let sender = session.sender();
    // A waiter from before the close sees it too.
    let (tx, early) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(async move {
        let s = session;
        let reason = s.closed().await;
        let _ = tx.send(reason);
        s
    });
    tokio::time::sleep(SHORT).await;
    assert!(!waiter.is_finished());
    sender.close(4001, "first");
    let early = tokio::time::timeout(Duration::from_secs(2), early)
        .await
        .unwrap()
        .unwrap();
    let session = waiter.await.unwrap();
    assert_eq!((early.code, early.reason.as_str()), (4001, "first"));

    // Closing again changes nothing.
    session.close(4002, "second");
    sender.close(4003, "third");
    session.end();
    for _ in 0..3 {
        assert_eq!(session.closed().await, early);
    }
    assert_eq!(poll(&svc, "/echo/000/s1").await, "c[4001,\"first\"]\n");
    assert_eq!(session.closed().await, early);
}

#[tokio::test]
async fn senders_broadcast_from_another_task() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let one = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let two = open_xhr(&svc, &mut rx, "/echo/000/s2").await;
    let senders = vec![one.sender(), two.sender()];
    assert!(senders[0].same_session(&one.sender()));
    assert!(!senders[0].same_session(&senders[1]));

    let task = tokio::spawn(async move {
        for i in 0..3 {
            for s in &senders {
                s.send(format!("news {i}")).await.unwrap();
            }
        }
        senders
    });
    let senders = task.await.unwrap();
    for base in ["/echo/000/s1", "/echo/000/s2"] {
        assert_eq!(
            poll(&svc, base).await,
            "a[\"news 0\",\"news 1\",\"news 2\"]\n",
            "{base}"
        );
    }

    // A sender can close its session; it does not keep it open.
    senders[1].close(3002, "kicked");
    assert_eq!(poll(&svc, "/echo/000/s2").await, "c[3002,\"kicked\"]\n");
    assert_eq!(senders[1].try_send("x"), Err(TrySendError::Closed("x".to_owned())));
    drop(one);
    assert_eq!(poll(&svc, "/echo/000/s1").await, "c[3000,\"Go away!\"]\n");
    assert_eq!(senders[0].send("x").await, Err(SendError::Closed));
    drop(two);
}

#[tokio::test]
async fn headers_are_whitelisted_and_never_cookies() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let r = call(
        &svc,
        request(
            "POST",
            "/echo/000/s1/xhr",
            &[
                ("host", "chat.example"),
                ("user-agent", "test-agent/1.0"),
                ("x-forwarded-for", "203.0.113.7"),
                ("x-forwarded-for", "198.51.100.2"),
                ("referer", "https://chat.example/room"),
                ("accept-language", "fr"),
                ("cookie", "JSESSIONID=secret; token=abc"),
                ("authorization", "Bearer secret"),
                ("x-custom", "nope"),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let session = next_session(&mut rx).await;
    let h = session.headers();
    assert_eq!(h["host"], "chat.example");
    assert_eq!(h["user-agent"], "test-agent/1.0");
    assert_eq!(h["referer"], "https://chat.example/room");
    assert_eq!(h["accept-language"], "fr");
    let xff: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
    assert_eq!(xff, ["203.0.113.7", "198.51.100.2"]);
    for absent in ["cookie", "authorization", "x-custom", "content-length"] {
        assert!(h.get(absent).is_none(), "{absent} leaked");
    }
    assert_eq!(h.len(), 6);
}

#[tokio::test]
async fn url_path_prefix_and_transport() {
    let (svc, mut rx) = capture_service(Config::new("/chat/echo/"));
    let r = call(&svc, post("/chat/echo/123/s1/xhr?t=42&x=%20y", "")).await;
    assert_eq!(r.status(), 200);
    let s = next_session(&mut rx).await;
    assert_eq!(s.url(), "/chat/echo/123/s1/xhr?t=42&x=%20y");
    assert_eq!(s.path(), "/chat/echo/123/s1/xhr");
    assert_eq!(s.prefix(), "/chat/echo");
    assert_eq!(s.transport(), Transport::XhrPolling);
    assert_eq!(s.transport().name(), "xhr-polling");
    assert_eq!(s.remote_addr(), None);

    // Like sockjs-node: the URL is the latest request's; the transport
    // stays the one the session was opened with.
    drop(r);
    let r = call(&svc, post("/chat/echo/123/s1/xhr?t=43", "")).await;
    drop(r);
    assert_eq!(s.url(), "/chat/echo/123/s1/xhr?t=43");
    assert_eq!(s.path(), "/chat/echo/123/s1/xhr");
    assert_eq!(s.transport(), Transport::XhrPolling);

    for (method, uri, transport) in [
        ("POST", "/chat/echo/1/a/xhr_streaming", Transport::XhrStreaming),
        ("GET", "/chat/echo/1/b/eventsource", Transport::EventSource),
        ("GET", "/chat/echo/1/c/htmlfile?c=cb", Transport::HtmlFile),
        ("GET", "/chat/echo/1/d/jsonp?c=cb", Transport::JsonpPolling),
    ] {
        let r = call(&svc, request(method, uri, &[], "")).await;
        assert_eq!(r.status(), 200, "{uri}");
        let s = next_session(&mut rx).await;
        assert_eq!((s.transport(), s.url().as_str()), (transport, uri));
    }
}

#[tokio::test]
async fn remote_addr_comes_from_request_extensions() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let addr: SocketAddr = "127.0.0.1:40123".parse().unwrap();
    let mut req = post("/echo/000/s1/xhr", "");
    req.extensions_mut().insert(addr);
    assert_eq!(call(&svc, req).await.status(), 200);
    let s = next_session(&mut rx).await;
    assert_eq!(s.remote_addr(), Some(addr));

    let v6: SocketAddr = "[::1]:9".parse().unwrap();
    let mut req = get("/echo/000/s2/eventsource");
    req.extensions_mut().insert(v6);
    drop(call(&svc, req).await);
    assert_eq!(next_session(&mut rx).await.remote_addr(), Some(v6));
}

#[tokio::test]
async fn a_session_is_a_stream_of_the_clients_messages() {
    use futures_util::StreamExt;
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["a","bb","ccc"]"#)).await;
    assert_eq!(r.status(), 204);
    let sender = session.sender();
    let mut lengths = session.map(|m| m.len());
    assert_eq!(lengths.next().await, Some(1));
    assert_eq!(lengths.next().await, Some(2));
    assert_eq!(lengths.next().await, Some(3));
    // The stream ends once the session closes.
    sender.close(3000, "done");
    assert_eq!(lengths.next().await, None);
}

#[tokio::test]
async fn split_and_forward_echo_in_order_and_closing_the_sink_ends_the_session() {
    use futures_util::{SinkExt, StreamExt};
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let (mut sink, stream) = session.split();
    sink.send("hello".to_owned()).await.unwrap();
    let payload: Vec<String> = (0..100).map(|i| format!("\"{i}\"")).collect();
    let r = call(&svc, post("/echo/000/s1/xhr_send", format!("[{}]", payload.join(",")))).await;
    assert_eq!(r.status(), 204);
    // Echo the first 100 messages through `forward`, then close the sink.
    stream
        .take(100)
        .map(Ok)
        .forward(&mut sink)
        .await
        .expect("the session is open");
    sink.close().await.unwrap();
    let mut echoed = String::new();
    loop {
        let body = poll(&svc, "/echo/000/s1").await;
        if body.starts_with('c') {
            assert_eq!(body, "c[3000,\"Go away!\"]\n");
            break;
        }
        echoed.push_str(&body);
    }
    assert_eq!(echoed, format!("a[\"hello\",{}]\n", payload.join(",")));
}

#[tokio::test(start_paused = true)]
async fn the_sink_waits_for_queue_room_and_fails_once_closed() {
    use futures_util::SinkExt;
    let (svc, mut rx) = capture_service(Config::new("/echo").max_queued(2, 1024));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let sender = session.sender();
    session.send("1").await.unwrap();
    SinkExt::send(&mut session, "2").await.unwrap();
    // Full: the third waits in the sink until a poll drains the queue.
    let blocked = tokio::spawn(async move {
        let r = SinkExt::send(&mut session, "3").await;
        (r, session)
    });
    // One turn of this current-thread runtime runs the spawned send until
    // it waits.
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished(), "the sink holds back while the queue is full");
    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"1\",\"2\"]\n");
    let (r, mut session) = blocked.await.unwrap();
    assert_eq!(r, Ok(()));
    assert_eq!(poll(&svc, "/echo/000/s1").await, "a[\"3\"]\n");
    sender.close(3001, "bye");
    assert_eq!(SinkExt::send(&mut session, "late").await, Err(SendError::Closed));
}

#[tokio::test]
async fn headers_url_and_peer_follow_the_latest_request() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let first: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let mut req = request("POST", "/echo/000/s1/xhr?t=1", &[("user-agent", "agent/1")], "");
    req.extensions_mut().insert(first);
    assert_eq!(status_text(call(&svc, req).await).await, (200, "o\n".to_owned()));
    let s = next_session(&mut rx).await;
    assert_eq!(
        (
            s.remote_addr(),
            s.url(),
            s.headers()["user-agent"].to_str().unwrap().to_owned()
        ),
        (Some(first), "/echo/000/s1/xhr?t=1".to_owned(), "agent/1".to_owned())
    );

    // The next poll comes on another connection, with other headers.
    let second: SocketAddr = "127.0.0.1:40002".parse().unwrap();
    let mut req = request(
        "POST",
        "/echo/000/s1/xhr?t=2",
        &[("user-agent", "agent/2"), ("referer", "https://x.example/")],
        "",
    );
    req.extensions_mut().insert(second);
    let poll = tokio::spawn({
        let svc = svc.clone();
        async move { status_text(call(&svc, req).await).await }
    });
    // Observable: the poll is attached once a message sent now reaches it.
    s.send("m").await.unwrap();
    assert_eq!(poll.await.unwrap(), (200, "a[\"m\"]\n".to_owned()));
    assert_eq!(s.remote_addr(), Some(second));
    assert_eq!(s.url(), "/echo/000/s1/xhr?t=2");
    let h = s.headers();
    assert_eq!(
        (h["user-agent"].to_str().unwrap(), h["referer"].to_str().unwrap()),
        ("agent/2", "https://x.example/")
    );

    // An xhr_send is not a receiving request: it changes nothing.
    let third: SocketAddr = "127.0.0.1:40003".parse().unwrap();
    let mut req = request("POST", "/echo/000/s1/xhr_send", &[("user-agent", "agent/3")], "[]");
    req.extensions_mut().insert(third);
    assert_eq!(call(&svc, req).await.status(), 204);
    assert_eq!(s.remote_addr(), Some(second));
    assert_eq!(s.headers()["user-agent"], "agent/2");
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let proxies = ["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
    let (svc, mut rx) = capture_service(Config::new("/echo").trusted_proxies(proxies));
    let open = |session: &str, peer: &str, xff: &[&str]| {
        let mut headers: Vec<(&str, &str)> = xff.iter().map(|v| ("x-forwarded-for", *v)).collect();
        headers.push(("user-agent", "t"));
        let mut req = request("POST", &format!("/echo/000/{session}/xhr"), &headers, "");
        req.extensions_mut().insert(peer.parse::<SocketAddr>().unwrap());
        req
    };
    let cases: [(&str, &str, &[&str], &str); 5] = [
        // From the proxy: the client it names.
        ("a", "10.1.2.3:5000", &["203.0.113.9"], "203.0.113.9:0"),
        // Through two trusted proxies, a forged entry on the left ignored.
        (
            "b",
            "10.1.2.3:5000",
            &["6.6.6.6, 198.51.100.4, 10.0.0.7"],
            "198.51.100.4:0",
        ),
        // From anyone else: its own address, whatever it claims.
        ("c", "192.0.2.50:6000", &["203.0.113.9"], "192.0.2.50:6000"),
        // A trusted peer without the header: itself.
        ("d", "[::1]:7000", &[], "[::1]:7000"),
        // IPv6 client behind an IPv6 proxy.
        ("e", "[::1]:7000", &["2001:db8::5"], "[2001:db8::5]:0"),
    ];
    for (session, peer, xff, want) in cases {
        assert_eq!(call(&svc, open(session, peer, xff)).await.status(), 200);
        let s = next_session(&mut rx).await;
        assert_eq!(
            s.remote_addr(),
            Some(want.parse().unwrap()),
            "{session}: {peer} {xff:?}"
        );
    }
}
