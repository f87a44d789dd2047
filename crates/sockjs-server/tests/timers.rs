//! Heartbeats, session expiry, interrupted and concurrent receivers and the
//! streaming response limit, driven in process on tokio's paused clock.

mod common;

use common::*;
use sockjs_server::{CloseReason, Config, ReadyState};
use std::time::Duration;
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);

/// A disconnect delay longer than any paused-clock test runs, for tests
/// about heartbeats and receivers that must not see the session expire.
const NO_EXPIRY: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn xhr_streaming_heartbeat_after_delay() {
    let svc = echo_service(
        Config::new("/echo")
            .heartbeat_delay(Duration::from_secs(5))
            .disconnect_delay(NO_EXPIRY),
    );
    let r = call(&svc, post("/echo/000/s1/xhr_streaming", "")).await;
    let mut body = r.into_body();
    assert_eq!(chunk(&mut body).await.map(|p| p.len()), Some(2049));
    assert_eq!(chunk(&mut body).await.as_deref(), Some("o\n"));

    let start = Instant::now();
    // Silence up to just before the delay...
    assert_eq!(chunk_within(&mut body, Duration::from_millis(4900)).await, Err(()));
    // ...then a heartbeat at the delay, and again one delay later.
    assert_eq!(chunk(&mut body).await.as_deref(), Some("h\n"));
    assert_eq!(start.elapsed().as_millis() / 10, 500, "{:?}", start.elapsed());
    assert_eq!(chunk(&mut body).await.as_deref(), Some("h\n"));
    assert_eq!(start.elapsed().as_millis() / 10, 1000, "{:?}", start.elapsed());

    // A message postpones the next heartbeat by a full delay.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["m"]"#)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(chunk(&mut body).await.as_deref(), Some("a[\"m\"]\n"));
    let sent = Instant::now();
    assert_eq!(chunk(&mut body).await.as_deref(), Some("h\n"));
    assert_eq!(sent.elapsed().as_millis() / 10, 500, "{:?}", sent.elapsed());
}

#[tokio::test(start_paused = true)]
async fn xhr_polling_heartbeat_ends_the_poll() {
    let svc = echo_service(
        Config::new("/echo")
            .heartbeat_delay(Duration::from_secs(5))
            .disconnect_delay(NO_EXPIRY),
    );
    assert_eq!(
        text(call(&svc, post("/echo/000/s1/xhr", "")).await.into_body()).await,
        "o\n"
    );
    let start = Instant::now();
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "h\n".to_owned()));
    assert_eq!(start.elapsed().as_millis() / 10, 500, "{:?}", start.elapsed());
}

/// Opens a session with one xhr poll and lets it idle without a receiver
/// for longer than `disconnect_delay` (5 s).
async fn expiry_scenario() {
    let (svc, mut rx) = capture_service(Config::new("/echo").disconnect_delay(Duration::from_secs(5)));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    assert_eq!(session.ready_state(), ReadyState::Open);

    // Still alive just before the delay: a send is accepted.
    tokio::time::sleep(Duration::from_millis(4900)).await;
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["late"]"#)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(session.recv().await.as_deref(), Some("late"));
    assert_eq!(svc.session_count(), 1);

    // Once the delay passed, the session is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await;
    assert_eq!(status_text(r).await, (404, "Not Found".to_owned()));
    assert_eq!(svc.session_count(), 0);
    let closed: CloseReason = tokio::time::timeout(SECOND, session.closed())
        .await
        .expect("closed() resolves after expiry");
    assert_eq!((closed.code, closed.reason.as_str()), (1000, "Session timed out"));
    assert_eq!(tokio::time::timeout(SECOND, session.recv()).await, Ok(None));
    assert_eq!(session.ready_state(), ReadyState::Closed);
    assert!(session.try_send("z").is_err());

    // A new request with the same id starts a new session.
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    next_session(&mut rx).await;
}

#[tokio::test]
async fn session_expires_after_disconnect_delay_real_clock() {
    // The same scenario on a short real delay, through real timers.
    let (svc, mut rx) = capture_service(Config::new("/echo").disconnect_delay(Duration::from_millis(800)));
    let mut session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    // Input, not a wait: idle for a quarter of the delay, which the session
    // must survive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        call(&svc, post("/echo/000/s1/xhr_send", r#"["a"]"#)).await.status(),
        204
    );
    assert_eq!(session.recv().await.as_deref(), Some("a"));
    wait_until(Duration::from_secs(5), "the session to expire", || {
        svc.session_count() == 0
    })
    .await;
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(svc.session_count(), 0);
    let closed = tokio::time::timeout(SECOND, session.closed()).await.unwrap();
    assert_eq!((closed.code, closed.reason.as_str()), (1000, "Session timed out"));
    assert_eq!(tokio::time::timeout(SECOND, session.recv()).await, Ok(None));
    assert_eq!(session.ready_state(), ReadyState::Closed);
}

#[tokio::test(start_paused = true)]
async fn session_expires_after_disconnect_delay_paused_clock() {
    // Guard with real time: on the paused clock the scenario needs no real
    // waiting at all (deadlines come from tokio's clock).
    let real = std::time::Instant::now();
    expiry_scenario().await;
    assert!(
        real.elapsed() < Duration::from_secs(2),
        "took {:?} of real time",
        real.elapsed()
    );
}

#[tokio::test]
async fn attached_receiver_keeps_session_alive() {
    // Real clock (see NO_EXPIRY): a heartbeat well after the disconnect delay.
    let svc = echo_service(
        Config::new("/echo")
            .disconnect_delay(Duration::from_millis(150))
            .heartbeat_delay(Duration::from_millis(500)),
    );
    let mut body = call(&svc, post("/echo/000/s1/xhr_streaming", "")).await.into_body();
    chunk(&mut body).await;
    assert_eq!(chunk(&mut body).await.as_deref(), Some("o\n"));
    // Far past the disconnect delay, with the stream attached all along.
    assert_eq!(chunk(&mut body).await.as_deref(), Some("h\n"));
    assert_eq!(svc.session_count(), 1);
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(chunk(&mut body).await.as_deref(), Some("a[\"x\"]\n"));
    // Detached, it expires after the delay.
    drop(body);
    wait_until(Duration::from_secs(5), "the detached session to expire", || {
        svc.session_count() == 0
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_poll_interrupts_the_session() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;

    // A poll that waits for messages; the client goes away before it ends.
    let mut body = call(&svc, post("/echo/000/s1/xhr", "")).await.into_body();
    assert_eq!(chunk_within(&mut body, SECOND).await, Err(()));
    drop(body);

    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(
        status_text(r).await,
        (200, "c[1002,\"Connection interrupted\"]\n".to_owned())
    );
    let closed = tokio::time::timeout(SECOND, session.closed()).await.unwrap();
    assert_eq!((closed.code, closed.reason.as_str()), (1002, "Connection interrupted"));
    assert!(session.try_send("z").is_err());
    // The close is sticky: every later receiver gets it again.
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "c[1002,\"Connection interrupted\"]\n");
}

#[tokio::test(start_paused = true)]
async fn dropped_stream_before_prelude_interrupts_the_session() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    drop(call(&svc, post("/echo/000/s1/xhr_streaming", "")).await);
    let session = next_session(&mut rx).await;
    let closed = tokio::time::timeout(SECOND, session.closed()).await.unwrap();
    assert_eq!(closed.code, 1002);
}

#[tokio::test(start_paused = true)]
async fn finished_poll_does_not_interrupt() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let session = open_xhr(&svc, &mut rx, "/echo/000/s1").await;
    session.try_send("m").unwrap();
    // Read to the end, then drop: a normal detach.
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "a[\"m\"]\n");
    assert_eq!(session.ready_state(), ReadyState::Open);
    assert_eq!(tokio::time::timeout(SECOND, session.closed()).await.ok(), None);
}

#[tokio::test(start_paused = true)]
async fn second_receiver_gets_2010() {
    let (svc, mut rx) = capture_service(Config::new("/echo"));
    let mut first = call(&svc, post("/echo/000/s1/xhr_streaming", "")).await.into_body();
    chunk(&mut first).await;
    assert_eq!(chunk(&mut first).await.as_deref(), Some("o\n"));
    let session = next_session(&mut rx).await;

    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(
        status_text(r).await,
        (200, "c[2010,\"Another connection still open\"]\n".to_owned())
    );
    let r = call(&svc, post("/echo/000/s1/xhr_streaming", "")).await;
    let mut second = r.into_body();
    assert_eq!(chunk(&mut second).await.map(|p| p.len()), Some(2049));
    assert_eq!(
        chunk(&mut second).await.as_deref(),
        Some("c[2010,\"Another connection still open\"]\n")
    );
    assert_eq!(chunk(&mut second).await, None);
    drop(second);
    let r = call(&svc, get("/echo/000/s1/jsonp?c=cb")).await;
    assert_eq!(
        text(r.into_body()).await,
        "/**/cb(\"c[2010,\\\"Another connection still open\\\"]\");\r\n"
    );

    // The first receiver and the session are unharmed.
    assert_eq!(session.ready_state(), ReadyState::Open);
    session.try_send("still here").unwrap();
    assert_eq!(chunk(&mut first).await.as_deref(), Some("a[\"still here\"]\n"));
}

#[tokio::test(start_paused = true)]
async fn response_limit_ends_stream_and_next_request_continues() {
    let (svc, mut rx) = capture_service(Config::new("/echo").response_limit(100));
    let mut body = call(&svc, post("/echo/000/s1/xhr_streaming", "")).await.into_body();
    let session = next_session(&mut rx).await;
    // The prelude does not count against the limit.
    assert_eq!(chunk(&mut body).await.map(|p| p.len()), Some(2049));
    assert_eq!(chunk(&mut body).await.as_deref(), Some("o\n"));

    let mut counted = 2;
    let mut n = 0;
    loop {
        n += 1;
        let msg = format!("{n:02}{}", "x".repeat(38));
        session.try_send(msg.clone()).unwrap();
        let frame = chunk(&mut body).await.expect("stream open below the limit");
        assert_eq!(frame, format!("a[\"{msg}\"]\n"));
        counted += frame.len();
        if counted >= 100 {
            break;
        }
    }
    // 2 + 46 + 46 < 100 <= 2 + 3 * 46: the third frame crosses the limit.
    assert_eq!((n, counted), (3, 140));
    assert_eq!(chunk(&mut body).await, None);
    // Queued while no receiver is attached...
    session.try_send("04").unwrap();
    session.try_send("05").unwrap();
    drop(body);
    session.try_send("06").unwrap();
    assert_eq!(session.ready_state(), ReadyState::Open);

    // ...and delivered in order by the next request, without a new `o`.
    let mut body = call(&svc, post("/echo/000/s1/xhr_streaming", "")).await.into_body();
    assert_eq!(chunk(&mut body).await.map(|p| p.len()), Some(2049));
    assert_eq!(chunk(&mut body).await.as_deref(), Some("a[\"04\",\"05\",\"06\"]\n"));
    session.try_send("07").unwrap();
    assert_eq!(chunk(&mut body).await.as_deref(), Some("a[\"07\"]\n"));
}

#[tokio::test(start_paused = true)]
async fn response_limit_applies_to_eventsource_and_htmlfile() {
    let (svc, mut rx) = capture_service(Config::new("/echo").response_limit(40));
    for uri in ["/echo/000/s1/eventsource", "/echo/000/s2/htmlfile?c=cb"] {
        let mut body = call(&svc, get(uri)).await.into_body();
        let session = next_session(&mut rx).await;
        chunk(&mut body).await.expect("prelude");
        let open = chunk(&mut body).await.expect("open frame");
        assert!(open.len() < 40, "{uri}: {open:?}");
        session.try_send("x".repeat(40)).unwrap();
        let frame = chunk(&mut body).await.expect("message frame");
        assert!(frame.contains(&"x".repeat(40)), "{uri}: {frame:?}");
        assert_eq!(chunk(&mut body).await, None, "{uri}");
    }
}
