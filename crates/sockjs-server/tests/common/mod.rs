//! Helpers shared by the in-process tests: request builders, body readers
//! and two handlers (echo, and one that hands each `Session` to the test).
#![allow(dead_code)] // Each test crate uses a different subset.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use sockjs_server::{Config, Handler, ResponseBody, Session, SockJsBody, SockJsService};
use std::fmt::Debug;
use std::time::Duration;
use tokio::sync::mpsc;
use tower::ServiceExt;

/// What a `SockJsService` with the default inner service answers.
pub(crate) type Resp = Response<ResponseBody<SockJsBody>>;
pub(crate) type Req = Request<Full<Bytes>>;

/// A request with headers and a body.
pub(crate) fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Req {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).expect("valid request")
}

pub(crate) fn get(uri: &str) -> Req {
    request("GET", uri, &[], Bytes::new())
}

pub(crate) fn post(uri: &str, body: impl Into<Bytes>) -> Req {
    request("POST", uri, &[], body)
}

/// Calls a fresh clone of the service once (clones share sessions).
pub(crate) async fn call<H: Handler>(svc: &SockJsService<H>, req: Req) -> Resp {
    match svc.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// The next data chunk of a body as text, or `None` at its end.
pub(crate) async fn chunk<B>(body: &mut B) -> Option<String>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Debug,
{
    loop {
        let frame = body.frame().await?.expect("body error");
        if let Ok(data) = frame.into_data() {
            return Some(String::from_utf8(data.to_vec()).expect("utf-8 body"));
        }
    }
}

/// Like [`chunk`], but `Err(())` when nothing arrives within `wait`.
pub(crate) async fn chunk_within<B>(body: &mut B, wait: Duration) -> Result<Option<String>, ()>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Debug,
{
    tokio::time::timeout(wait, chunk(body)).await.map_err(|_| ())
}

/// The whole body as text.
pub(crate) async fn text<B>(body: B) -> String
where
    B: Body<Data = Bytes>,
    B::Error: Debug,
{
    let bytes = body.collect().await.expect("body error").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

/// Status and whole body of a response.
pub(crate) async fn status_text<B>(r: Response<B>) -> (u16, String)
where
    B: Body<Data = Bytes>,
    B::Error: Debug,
{
    let status = r.status().as_u16();
    (status, text(r.into_body()).await)
}

/// A header as text, `None` when absent.
pub(crate) fn header<B>(r: &Response<B>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}

/// Every `access-control-*` header name of a response.
pub(crate) fn cors_headers<B>(r: &Response<B>) -> Vec<String> {
    r.headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// A service whose sessions echo every message back.
pub(crate) fn echo_service(config: Config) -> SockJsService<impl Handler> {
    SockJsService::new(config, |mut s: Session| async move {
        while let Some(m) = s.recv().await {
            if s.send(m).await.is_err() {
                break;
            }
        }
    })
}

/// A handler that gives each new `Session` to the test, which then drives it.
pub(crate) fn capture_handler() -> (impl Handler, mpsc::UnboundedReceiver<Session>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |s: Session| {
        // Moving the session into the channel keeps it open after this
        // future ends; the test owns it from then on.
        let _ = tx.send(s);
        async {}
    };
    (handler, rx)
}

/// A service built on [`capture_handler`].
pub(crate) fn capture_service(config: Config) -> (SockJsService<impl Handler>, mpsc::UnboundedReceiver<Session>) {
    let (handler, rx) = capture_handler();
    (SockJsService::new(config, handler), rx)
}

/// The next captured session; fails the test if none comes.
pub(crate) async fn next_session(rx: &mut mpsc::UnboundedReceiver<Session>) -> Session {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a session was started")
        .expect("handler alive")
}

/// `o\n` via an xhr poll, which creates the session; returns it.
pub(crate) async fn open_xhr<H: Handler>(
    svc: &SockJsService<H>,
    rx: &mut mpsc::UnboundedReceiver<Session>,
    base: &str,
) -> Session {
    let r = call(svc, post(&format!("{base}/xhr"), "")).await;
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    next_session(rx).await
}

/// Waits until `done()` holds, looking every 10 ms on tokio's clock; panics
/// after `timeout` naming `what` was awaited. For real-clock tests waiting
/// for the service to do something (forget a session): they go on as soon
/// as it happened instead of sleeping for a guess.
pub(crate) async fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
