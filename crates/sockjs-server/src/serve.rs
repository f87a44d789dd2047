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
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service;

use crate::service::BoxError;

/// Put in every request's extensions by [`serve`]: SockJS services watch it
/// to close their sessions when shutdown starts.
#[derive(Clone)]
pub(crate) struct ShutdownWatch(Arc<watch::Sender<bool>>);

impl ShutdownWatch {
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Serves `service` on `listener` (HTTP/1.0, HTTP/1.1 with upgrades, and
/// HTTP/2). Await the returned value to run; add
/// [`Serve::with_graceful_shutdown`] to stop on a signal.
///
/// Each request carries the peer's [`SocketAddr`] in its extensions.
///
/// ```no_run
/// use sockjs_server::{serve, Config, Session, SockJsService};
/// # async fn run() -> std::io::Result<()> {
/// async fn echo(mut s: Session) {
///     while let Some(m) = s.recv().await {
///         let _ = s.send(m).await;
///     }
/// }
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
/// let service = SockJsService::new(Config::new("/echo"), echo);
/// serve(listener, service)
///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
///     .await
/// # }
/// ```
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S, std::future::Pending<()>> {
    Serve {
        listener,
        service,
        signal: std::future::pending(),
        grace: Duration::from_secs(10),
    }
}

/// The future-like value returned by [`serve`].
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<S, F> {
    listener: TcpListener,
    service: S,
    signal: F,
    grace: Duration,
}

impl<S, F> std::fmt::Debug for Serve<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve").field("listener", &self.listener).finish()
    }
}

impl<S, F> Serve<S, F> {
    /// Stops accepting when `signal` completes, closes every live SockJS
    /// session with a close frame (code 1001), and waits up to the grace
    /// period for connections to finish.
    pub fn with_graceful_shutdown<F2>(self, signal: F2) -> Serve<S, F2>
    where
        F2: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            service: self.service,
            signal,
            grace: self.grace,
        }
    }

    /// How long shutdown waits for open connections. Defaults to 10 s.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
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
            } = self;
            let (tx, _rx) = watch::channel(false);
            let shutdown = ShutdownWatch(Arc::new(tx));
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .max_headers(100);
            tokio::pin!(signal);
            loop {
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
                let sd = shutdown.clone();
                let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert::<SocketAddr>(addr);
                    req.extensions_mut().insert(sd.clone());
                    let mut svc = svc.clone();
                    async move {
                        std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
                        svc.call(req).await
                    }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), hyper_svc);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                });
            }
            drop(listener);
            let _ = shutdown.0.send(true);
            if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
                tracing::debug!("grace period over with connections still open");
            }
            Ok(())
        })
    }
}
