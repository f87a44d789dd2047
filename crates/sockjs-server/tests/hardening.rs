//! Hardening in process: the origin policy on every route, the session cap,
//! session-id length, body-read timeout, slow-consumer closing and script
//! response headers. Timers run on tokio's paused clock.

mod common;

use bytes::Bytes;
use common::*;
use futures_util::StreamExt as _;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use sockjs_server::{Config, Cors, OriginPattern, SendError, Session, SockJsService, TrySendError};
use std::time::Duration;
use tower::ServiceExt;

const UPGRADE: [(&str, &str); 4] = [
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("sec-websocket-version", "13"),
];

fn allow_list() -> Config {
    Config::new("/echo")
        .allowed_origins(["https://example.com", "https://*.example.com", "http://localhost:*"])
        .expect("valid patterns")
}

#[tokio::test]
async fn allow_list_serves_listed_origins_with_credentials_and_vary() {
    let svc = echo_service(allow_list());
    for origin in [
        "https://example.com",
        "https://a.b.example.com",
        "http://localhost:8080",
    ] {
        let o = [("origin", origin)];
        let r = call(&svc, request("GET", "/echo/info", &o, "")).await;
        assert_eq!(r.status(), 200, "{origin}");
        assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(origin));
        assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
        assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
        let id = format!("/echo/000/{}", origin.len());
        let r = call(&svc, request("POST", &format!("{id}/xhr"), &o, "")).await;
        assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
        let r = call(&svc, request("POST", &format!("{id}/xhr_send"), &o, r#"["hi"]"#)).await;
        assert_eq!(r.status(), 204);
        let r = call(&svc, request("POST", &format!("{id}/xhr"), &o, "")).await;
        assert_eq!(status_text(r).await, (200, "a[\"hi\"]\n".to_owned()));
        let r = call(
            &svc,
            request(
                "OPTIONS",
                &format!("{id}/xhr"),
                &[("origin", origin), ("access-control-request-method", "POST")],
                "",
            ),
        )
        .await;
        assert_eq!(r.status(), 204);
        assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(origin));
    }
}

#[tokio::test]
async fn allow_list_refuses_foreign_origins_everywhere_and_creates_nothing() {
    let svc = echo_service(allow_list());
    for origin in [
        "https://evil.org",
        "https://example.com.evil.org",
        "https://evilexample.com",
        "http://example.com",
        "https://example.com:8443",
        "null",
        "http://localhost",
    ] {
        let o = [("origin", origin)];
        let mut ws: Vec<(&str, &str)> = UPGRADE.to_vec();
        ws.push(("origin", origin));
        let probes = [
            request("GET", "/echo/info", &o, ""),
            request("OPTIONS", "/echo/info", &o, ""),
            request("OPTIONS", "/echo/000/s1/xhr", &o, ""),
            request("POST", "/echo/000/s1/xhr", &o, ""),
            request("POST", "/echo/000/s1/xhr_streaming", &o, ""),
            request("GET", "/echo/000/s1/eventsource", &o, ""),
            request("GET", "/echo/000/s1/htmlfile?c=cb", &o, ""),
            request("POST", "/echo/000/s1/xhr_send", &o, r#"["x"]"#),
            request("GET", "/echo/000/s1/websocket", &ws, ""),
            request("GET", "/echo/websocket", &ws, ""),
        ];
        for req in probes {
            let what = format!("{} {} from {origin}", req.method(), req.uri());
            let r = call(&svc, req).await;
            let (status, body) = status_text(r).await;
            assert_eq!((status, body.as_str()), (403, "Origin not allowed."), "{what}");
        }
    }
    assert_eq!(svc.session_count(), 0);
}

#[tokio::test]
async fn allow_list_turns_off_jsonp_and_the_iframe_page_but_serves_no_origin_clients() {
    let svc = echo_service(allow_list());
    for uri in [
        "/echo/iframe.html",
        "/echo/iframe-1.6.1.html",
        "/echo/000/s1/jsonp?c=cb",
    ] {
        let r = call(&svc, get(uri)).await;
        assert_eq!(r.status(), 404, "{uri}");
        let r = call(&svc, request("GET", uri, &[("origin", "https://example.com")], "")).await;
        assert_eq!(r.status(), 404, "{uri} with a listed origin");
    }
    let r = call(
        &svc,
        request(
            "POST",
            "/echo/000/s1/jsonp_send",
            &[("content-type", "application/x-www-form-urlencoded")],
            "d=%5B%22x%22%5D",
        ),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(svc.session_count(), 0);
    // No Origin: a non-browser client, served with `*` and no credentials.
    let r = call(&svc, post("/echo/000/s2/xhr", "")).await;
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(header(&r, "access-control-allow-credentials"), None);
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    assert_eq!(call(&svc, get("/echo")).await.status(), 200);
}

#[tokio::test]
async fn reflect_any_reflects_null_and_varies_on_origin() {
    let svc = echo_service(Config::new("/echo"));
    let r = call(&svc, request("GET", "/echo/info", &[("origin", "null")], "")).await;
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("null"));
    assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
    let r = call(&svc, get("/echo/info")).await;
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
    // JSONP and the iframe page stay available under reflect-any.
    assert_eq!(call(&svc, get("/echo/iframe.html")).await.status(), 200);
    assert_eq!(call(&svc, get("/echo/000/s1/jsonp?c=cb")).await.status(), 200);
    // Disabled CORS: no Vary either.
    let svc = echo_service(Config::new("/echo").disable_cors(true));
    let r = call(&svc, request("GET", "/echo/info", &[("origin", "https://a.org")], "")).await;
    assert_eq!(header(&r, "vary"), None);
    assert!(cors_headers(&r).is_empty());
}

#[test]
fn allow_list_patterns_are_validated() {
    assert!(Config::new("/x").allowed_origins(["https://*.ok.com", "null"]).is_ok());
    let err = Config::new("/x").allowed_origins(["https://ok.com", "*"]).unwrap_err();
    assert!(err.to_string().contains("\"*\""), "{err}");
    let list: Vec<OriginPattern> = vec!["https://a.com".parse().unwrap()];
    let svc = echo_service(Config::new("/x").cors(Cors::AllowList(list.into())));
    assert!(format!("{:?}", svc.config()).contains("AllowList"));
}

#[tokio::test(start_paused = true)]
async fn session_cap_answers_503_and_frees_places_after_disconnect_delay() {
    let delay = Duration::from_secs(5);
    let svc = echo_service(Config::new("/echo").max_sessions(3).disconnect_delay(delay));
    for i in 0..3 {
        let r = call(&svc, post(&format!("/echo/000/a{i}/xhr"), "")).await;
        assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    }
    assert_eq!(svc.session_count(), 3);
    for req in [
        post("/echo/000/b/xhr", ""),
        post("/echo/000/b/xhr_streaming", ""),
        get("/echo/000/b/eventsource"),
        get("/echo/000/b/jsonp?c=cb"),
        request("GET", "/echo/000/b/websocket", &UPGRADE, ""),
        request("GET", "/echo/websocket", &UPGRADE, ""),
    ] {
        let what = req.uri().to_string();
        let (status, body) = status_text(call(&svc, req).await).await;
        assert_eq!((status, body.as_str()), (503, "Too many sessions."), "{what}");
    }
    // Existing sessions are unaffected.
    let r = call(&svc, post("/echo/000/a0/xhr_send", r#"["still"]"#)).await;
    assert_eq!(r.status(), 204);
    let r = call(&svc, post("/echo/000/a0/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "a[\"still\"]\n".to_owned()));
    assert_eq!(svc.session_count(), 3);
    // Abandoned: every place comes back after the disconnect delay.
    tokio::time::sleep(delay + Duration::from_millis(100)).await;
    assert_eq!(svc.session_count(), 0);
    let r = call(&svc, post("/echo/000/b/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
}

#[tokio::test]
async fn over_long_session_ids_are_404_and_create_nothing() {
    let svc = echo_service(Config::new("/echo").max_session_id_len(8));
    let r = call(&svc, post("/echo/000/123456789/xhr", "")).await;
    assert_eq!(r.status(), 404);
    let r = call(&svc, request("GET", "/echo/000/123456789/websocket", &UPGRADE, "")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(svc.session_count(), 0);
    let r = call(&svc, post("/echo/000/12345678/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    // The default bound is the protocol parser's 128 bytes.
    let svc = echo_service(Config::new("/echo"));
    let id = "x".repeat(128);
    let r = call(&svc, post(&format!("/echo/000/{id}/xhr"), "")).await;
    assert_eq!(r.status(), 200);
    let r = call(&svc, post(&format!("/echo/000/{id}y/xhr"), "")).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_gets_408_and_delivers_nothing() {
    let (svc, mut rx) = capture_service(Config::new("/echo").body_read_timeout(Duration::from_secs(2)));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    // Half a payload, then silence.
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(
        "[\"partial",
    )))])
    .chain(futures_util::stream::pending());
    let req = Request::post("/echo/000/s1/xhr_send")
        .body(StreamBody::new(chunks))
        .expect("request");
    let started = tokio::time::Instant::now();
    let r = svc.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(r.status(), 408);
    assert_eq!(header(&r, "connection").as_deref(), Some("close"));
    let body = r.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"Request body timed out.");
    assert!(tokio::time::timeout(Duration::from_millis(100), session.recv())
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_past_the_deadline_closes_the_session_after_its_messages() {
    let config = Config::new("/echo")
        .max_queued(2, 1 << 20)
        .slow_consumer_timeout(Some(Duration::from_secs(3)))
        .disconnect_delay(Duration::from_secs(5));
    let (svc, mut rx) = capture_service(config);
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    session.try_send("1").unwrap();
    session.try_send("2").unwrap();
    let started = tokio::time::Instant::now();
    // Nobody polls: the waiting send gives up at the deadline, not before.
    assert_eq!(session.send("3").await, Err(SendError::Closed));
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    let reason = session.closed().await;
    assert_eq!((reason.code, reason.reason.as_str()), (1013, "Slow consumer"));
    assert_eq!(session.try_send("4"), Err(TrySendError::Closed("4".to_owned())));
    // What was queued still arrives, then the close frame.
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "a[\"1\",\"2\"]\n".to_owned()));
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "c[1013,\"Slow consumer\"]\n".to_owned()));
    drop(session);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(svc.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn try_send_reports_full_until_the_deadline_then_closed() {
    let config = Config::new("/echo")
        .max_queued(1, 1 << 20)
        .slow_consumer_timeout(Some(Duration::from_secs(3)));
    let (svc, mut rx) = capture_service(config);
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    session.try_send("1").unwrap();
    assert_eq!(session.try_send("2"), Err(TrySendError::Full("2".to_owned())));
    tokio::time::sleep(Duration::from_millis(2900)).await;
    assert_eq!(session.try_send("2"), Err(TrySendError::Full("2".to_owned())));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(session.try_send("2"), Err(TrySendError::Closed("2".to_owned())));
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "a[\"1\"]\n".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_steady_reader_is_never_closed_as_slow() {
    let config = Config::new("/echo")
        .max_queued(2, 1 << 20)
        .slow_consumer_timeout(Some(Duration::from_secs(3)));
    let (svc, mut rx) = capture_service(config);
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    let sender = session.sender();
    let producer = tokio::spawn(async move {
        for i in 0..20 {
            sender.send(i.to_string()).await?;
        }
        Ok::<(), SendError>(())
    });
    // The queue is full most of the time, but drained every 2 s: the
    // deadline restarts at each drain.
    let mut got = Vec::new();
    while got.len() < 20 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
        let (status, body) = status_text(r).await;
        assert_eq!(status, 200);
        let frame = body
            .strip_suffix('\n')
            .and_then(|b| b.strip_prefix('a'))
            .expect("a-frame");
        let msgs: Vec<String> = serde_json::from_str(frame).expect("json");
        got.extend(msgs);
    }
    assert_eq!(producer.await.unwrap(), Ok(()));
    let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn script_responses_carry_nosniff() {
    let svc = echo_service(Config::new("/echo"));
    for uri in ["/echo/000/s1/jsonp?c=cb", "/echo/000/s2/htmlfile?c=cb"] {
        let r = call(&svc, get(uri)).await;
        assert_eq!(r.status(), 200, "{uri}");
        assert_eq!(
            header(&r, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{uri}"
        );
    }
    // Callbacks are checked after percent-decoding, as a whole string.
    for cb in ["a%28", "a%0A", "%3Cscript%3E", "a%2Cb", "x%20y"] {
        let r = call(&svc, get(&format!("/echo/000/s3/jsonp?c={cb}"))).await;
        assert_eq!(
            status_text(r).await,
            (500, "invalid \"callback\" parameter".to_owned()),
            "{cb}"
        );
    }
}

#[tokio::test]
async fn one_stuck_session_does_not_delay_another() {
    // Session "stuck": its application never reads, so its inbound queue
    // (one slot) fills and its xhr_send waits; its outbound queue is full
    // too. Session "free" must be served as if nothing happened.
    let svc = SockJsService::new(
        Config::new("/echo").inbound_capacity(1).max_queued(1, 1 << 20),
        |mut s: Session| async move {
            if s.url().contains("stuck") {
                let _ = s.try_send("filler");
                s.closed().await;
            } else {
                while let Some(m) = s.recv().await {
                    if s.send(m).await.is_err() {
                        break;
                    }
                }
            }
        },
    );
    let r = call(&svc, post("/echo/000/stuck/xhr", "")).await;
    assert_eq!(r.status(), 200);
    let blocked = tokio::spawn({
        let svc = svc.clone();
        async move {
            call(&svc, post("/echo/000/stuck/xhr_send", r#"["1","2","3"]"#))
                .await
                .status()
        }
    });
    let streaming = call(&svc, post("/echo/000/stuck/xhr_streaming", "")).await;
    assert_eq!(streaming.status(), 200);
    let r = call(&svc, post("/echo/000/free/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    let started = std::time::Instant::now();
    for i in 0..20 {
        let msg = format!("[\"m{i}\"]");
        let r = call(&svc, post("/echo/000/free/xhr_send", msg.clone())).await;
        assert_eq!(r.status(), 204);
        let r = call(&svc, post("/echo/000/free/xhr", "")).await;
        assert_eq!(status_text(r).await, (200, format!("a{msg}\n")));
    }
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(
        !blocked.is_finished(),
        "the stuck send is still waiting for its application"
    );
    svc.close_all(3000, "done");
    assert_eq!(blocked.await.unwrap(), 204);
    drop(streaming);
}
