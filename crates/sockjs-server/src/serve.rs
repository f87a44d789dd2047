//! A standalone HTTP server for SockJS services, with graceful shutdown.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::error::BoxError;

/// Serves `service` on `listener` (HTTP/1.0, HTTP/1.1 with upgrades, and
/// HTTP/2). Await the returned value to run; add
/// [`Serve::with_graceful_shutdown`] to stop on a signal (see
/// [graceful shutdown](crate#graceful-shutdown)).
///
/// Each request carries the peer's [`SocketAddr`] in its extensions.
///
/// ```no_run
/// use sockjs_server::{serve, Config, Session, SockJsService};
/// use std::time::Duration;
/// # async fn echo(_: Session) {}
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8081").await?;
/// let service = SockJsService::new(Config::new("/echo"), echo);
/// // Runs until the process ends (see the crate documentation's
/// // "Graceful shutdown" to stop it); the limits are per server.
/// serve(listener, service)
///     .max_connections(50_000)
///     .write_timeout(Some(Duration::from_secs(10)))
///     .await
/// # }
/// ```
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S, std::future::Pending<()>> {
    Serve {
        listener,
        service,
        signal: std::future::pending(),
        grace: Duration::from_secs(10),
        limits: Limits::default(),
    }
}

/// Connection-level limits of [`serve`].
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_connections: usize,
    header_read_timeout: Option<Duration>,
    max_header_bytes: usize,
    max_headers: usize,
    write_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            header_read_timeout: Some(Duration::from_secs(30)),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            write_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// hyper refuses read buffers smaller than this.
const MIN_HEADER_BYTES: usize = 8192;

/// The future-like value returned by [`serve`].
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<S, F> {
    listener: TcpListener,
    service: S,
    signal: F,
    grace: Duration,
    limits: Limits,
}

impl<S, F> std::fmt::Debug for Serve<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve").field("listener", &self.listener).finish()
    }
}

impl<S, F> Serve<S, F> {
    /// Stops accepting when `signal` completes and waits up to the grace
    /// period for open connections to finish.
    ///
    /// SockJS sessions are closed by their services' [`crate::Shutdown`]
    /// handle, not by this signal: pass `shutdown.triggered()` as the
    /// signal (and trigger the handle on your own signal), so sessions get
    /// `c[1001,"Server is shutting down"]` and their connections end within
    /// the grace period. A signal that does not trigger the handle stops
    /// the server with its sessions still open, and the grace period ends
    /// them without a close frame.
    pub fn with_graceful_shutdown<F2>(self, signal: F2) -> Serve<S, F2>
    where
        F2: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            service: self.service,
            signal,
            grace: self.grace,
            limits: self.limits,
        }
    }

    /// How long shutdown waits for open connections. At most
    /// [`crate::MAX_DURATION`]. Defaults to 10 s.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace.min(crate::MAX_DURATION);
        self
    }

    /// Most connections open at once (websockets and streaming responses
    /// included). At the cap the server stops accepting: new connections
    /// wait in the kernel's listen backlog (and beyond it are refused by
    /// the kernel) until an open one ends, while open ones are served as
    /// usual. Defaults to 10000 connections.
    pub fn max_connections(mut self, connections: usize) -> Self {
        // Shutdown waits for every place back with one `acquire_many(u32)`.
        let most = tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        self.limits.max_connections = connections.clamp(1, most);
        self
    }

    /// How long a client may take to send a request's complete head
    /// (request line and headers), and also how long an idle keep-alive
    /// connection is kept waiting for its next request: the timer starts as
    /// soon as the server waits for a head. Past it the connection is
    /// closed without an answer. `None` disables it. At most
    /// [`crate::MAX_DURATION`]. Defaults to 30 s.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits.header_read_timeout = timeout.map(|t| t.min(crate::MAX_DURATION));
        self
    }

    /// Largest request head (request line plus headers), in bytes. HTTP/1
    /// requests over it get `431 Request Header Fields Too Large` and the
    /// connection is closed; HTTP/2 header lists over it are refused. hyper
    /// cannot go below 8192 bytes, so smaller values mean 8192. Defaults to
    /// 16384 bytes (16 KiB, as Node.js).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_header_bytes = bytes.max(MIN_HEADER_BYTES);
        self
    }

    /// Most header fields in one HTTP/1 request; over it: `431 Request
    /// Header Fields Too Large`. Defaults to 100 headers.
    pub fn max_headers(mut self, headers: usize) -> Self {
        self.limits.max_headers = headers.max(1);
        self
    }

    /// How long a write may wait for a peer that does not read (a stalled
    /// or vanished client whose TCP window stays closed) before the
    /// connection is dropped. Its sessions then see their receiver aborted
    /// (1002) or their websocket gone (1006), as when the peer disconnects.
    /// A peer that reads slowly but steadily is not affected: the deadline
    /// restarts whenever it takes bytes. `None` disables it. At most [`crate::MAX_DURATION`]. Defaults to 30 s.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits.write_timeout = timeout.map(|t| t.min(crate::MAX_DURATION));
        self
    }
}

impl<S, B, F> IntoFuture for Serve<S, F>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Serve {
                listener,
                service,
                signal,
                grace,
                limits,
            } = self;
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes)
                .max_headers(limits.max_headers);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
            let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
            tokio::pin!(signal);
            loop {
                // At the cap, wait for a connection to end before accepting:
                // pending clients queue in the listen backlog.
                let permit = tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut signal => break,
                };
                let (stream, addr) = tokio::select! {
                    r = listener.accept() => match r {
                        Ok(c) => c,
                        Err(e) => {
                            // Out of file descriptors and similar: back off, keep serving.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = &mut signal => break,
                };
                let _ = stream.set_nodelay(true);
                let svc = service.clone();
                let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert::<SocketAddr>(addr);
                    let mut svc = svc.clone();
                    async move {
                        std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
                        svc.call(req).await
                    }
                });
                let io = TokioIo::new(ConnIo::new(stream, limits.write_timeout, permit));
                let conn = builder.serve_connection_with_upgrades(io, hyper_svc);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        // hyper answered 431 to a header section over the limits.
                        if e.downcast_ref::<hyper::Error>()
                            .is_some_and(hyper::Error::is_parse_too_large)
                        {
                            crate::telemetry::header_limit();
                            tracing::debug!("request refused: header section too large (431)");
                        }
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                });
            }
            drop(listener);
            // hyper's graceful shutdown knows only the connections it still
            // serves; an upgraded one (a websocket) left it at the upgrade.
            // Every connection, upgraded or not, holds a place under
            // `max_connections` until its socket closes, so getting all the
            // places back means every connection ended, websockets
            // included (after their close frames went out).
            let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
            let drained = async {
                graceful.shutdown().await;
                let _ = slots.acquire_many(all).await;
            };
            if tokio::time::timeout(grace, drained).await.is_err() {
                tracing::debug!("grace period over with connections still open");
            }
            Ok(())
        })
    }
}

pin_project_lite::pin_project! {
    /// One accepted connection's stream. Its writes fail with `TimedOut`
    /// once one has waited `limit` for the peer to take bytes (the timer
    /// only exists while a write is pending, and restarts after each bit of
    /// progress). It holds the connection's place under `max_connections`:
    /// an upgraded connection (websocket) keeps this stream, so it is
    /// counted until the socket is closed.
    struct ConnIo<T> {
        #[pin]
        io: T,
        limit: Option<Duration>,
        stalled: Option<Pin<Box<tokio::time::Sleep>>>,
        armed: bool,
        permit: tokio::sync::OwnedSemaphorePermit,
    }
}

impl<T> ConnIo<T> {
    fn new(io: T, limit: Option<Duration>, permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        ConnIo {
            io,
            limit,
            stalled: None,
            armed: false,
            permit,
        }
    }
}

/// Maps a write attempt's outcome through the stall timer.
fn watch_stall<R>(
    limit: Option<Duration>,
    stalled: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    armed: &mut bool,
    cx: &mut Context<'_>,
    r: Poll<io::Result<R>>,
) -> Poll<io::Result<R>> {
    let Some(limit) = limit else { return r };
    if r.is_ready() {
        *armed = false;
        return r;
    }
    let deadline = crate::clock::after(tokio::time::Instant::now(), limit);
    let timer = stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    if !*armed {
        timer.as_mut().reset(deadline);
        *armed = true;
    }
    match timer.as_mut().poll(cx) {
        Poll::Ready(()) => {
            *armed = false;
            tracing::debug!("peer stopped reading: dropping the connection");
            Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "write stalled")))
        }
        Poll::Pending => Poll::Pending,
    }
}

impl<T: tokio::io::AsyncRead> tokio::io::AsyncRead for ConnIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite> tokio::io::AsyncWrite for ConnIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.io.poll_write(cx, buf);
        watch_stall(*this.limit, this.stalled, this.armed, cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.io.poll_write_vectored(cx, bufs);
        watch_stall(*this.limit, this.stalled, this.armed, cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let r = this.io.poll_flush(cx);
        watch_stall(*this.limit, this.stalled, this.armed, cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let r = this.io.poll_shutdown(cx);
        watch_stall(*this.limit, this.stalled, this.armed, cx, r)
    }
}
