//! The tower `Service` and `Layer`: routing, fixed pages and HTTP transports.

use crate::body::SockJsBody;
use crate::config::Config;
use crate::dispatch::{handle, under_prefix};
use crate::error::HttpError;
use crate::handler::Handler;
use crate::state::{new_state, State};
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

pub use crate::error::BoxError;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A tower [`Service`] serving one SockJS endpoint under its prefix and
/// passing every other request to `S`.
///
/// ```
/// use sockjs_server::{Config, Session, SockJsService};
/// async fn echo(mut s: Session) {
///     while let Some(m) = s.recv().await {
///         let _ = s.send(m).await;
///     }
/// }
/// let service = SockJsService::new(Config::new("/echo"), echo);
/// assert_eq!(service.session_count(), 0);
/// ```
pub struct SockJsService<H, S = NotFound> {
    state: Arc<State<H>>,
    inner: S,
}

impl<H, S: Clone> Clone for SockJsService<H, S> {
    fn clone(&self) -> Self {
        SockJsService {
            state: self.state.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<H, S> std::fmt::Debug for SockJsService<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockJsService")
            .field("prefix", &self.state.config.prefix)
            .finish()
    }
}

impl<H: Handler> SockJsService<H> {
    /// A service for `config` running `handler` once per session; requests
    /// outside the prefix get 404.
    pub fn new(config: Config, handler: H) -> Self {
        SockJsService {
            state: new_state(config, handler),
            inner: NotFound,
        }
    }
}

impl<H, S> SockJsService<H, S> {
    /// Replaces the service that gets requests outside the prefix.
    pub fn with_inner<S2>(self, inner: S2) -> SockJsService<H, S2> {
        SockJsService {
            state: self.state,
            inner,
        }
    }

    /// Closes every live session with `code` and `reason` (each receives a
    /// close frame if a connection is attached).
    pub fn close_all(&self, code: u16, reason: &str) {
        self.state.close_all(code, reason);
    }

    /// Number of live sessions: HTTP sessions not yet forgotten (a closed
    /// or abandoned one is forgotten `disconnect_delay` after its last
    /// receiver left) plus open websockets. This is the number
    /// [`Config::max_sessions`] bounds; after every client left it returns
    /// to 0 within `disconnect_delay`.
    pub fn session_count(&self) -> usize {
        self.state.session_count()
    }

    /// The service's configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The service's [`crate::Hub`]: broadcast to its sessions and rooms.
    pub fn hub(&self) -> crate::Hub {
        self.state.hub.clone()
    }

    /// The handle that shuts this service down (the one given to
    /// [`Config::shutdown`], or the config's own). See [`crate::Shutdown`].
    pub fn shutdown_handle(&self) -> crate::Shutdown {
        self.state.config.shutdown.clone()
    }
}

/// A [`tower_layer::Layer`] that puts a SockJS service in front of another
/// service. Every service it makes shares the same sessions.
pub struct SockJsLayer<H> {
    state: Arc<State<H>>,
}

impl<H> Clone for SockJsLayer<H> {
    fn clone(&self) -> Self {
        SockJsLayer {
            state: self.state.clone(),
        }
    }
}

impl<H: Handler> SockJsLayer<H> {
    /// A layer for `config` running `handler` once per session.
    pub fn new(config: Config, handler: H) -> Self {
        SockJsLayer {
            state: new_state(config, handler),
        }
    }
}

impl<H> SockJsLayer<H> {
    /// The service's [`crate::Hub`]. See [`SockJsService::hub`].
    pub fn hub(&self) -> crate::Hub {
        self.state.hub.clone()
    }

    /// The handle that shuts the layer's service down. See
    /// [`SockJsService::shutdown_handle`].
    pub fn shutdown_handle(&self) -> crate::Shutdown {
        self.state.config.shutdown.clone()
    }

    /// Number of live sessions. See [`SockJsService::session_count`].
    pub fn session_count(&self) -> usize {
        self.state.session_count()
    }
}

impl<H, S> tower_layer::Layer<S> for SockJsLayer<H> {
    type Service = SockJsService<H, S>;

    fn layer(&self, inner: S) -> Self::Service {
        SockJsService {
            state: self.state.clone(),
            inner,
        }
    }
}

/// The default inner service: `404 Not Found` for everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<SockJsBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        std::future::ready(Ok(HttpError::NotFound.into_response()))
    }
}

pin_project! {
    /// The response body of [`SockJsService`]: ours or the inner service's.
    #[project = ResponseBodyProj]
    #[allow(missing_docs)]
    pub enum ResponseBody<B> {
        /// A body produced by the SockJS service.
        SockJs {
            body: SockJsBody,
        },
        /// The inner service's body.
        Inner {
            #[pin]
            body: B,
        },
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match self.project() {
            ResponseBodyProj::SockJs { body } => Pin::new(body).poll_frame(cx).map_err(|e| match e {}),
            ResponseBodyProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::SockJs { body } => body.is_end_stream(),
            ResponseBody::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            ResponseBody::SockJs { body } => body.size_hint(),
            ResponseBody::Inner { body } => body.size_hint(),
        }
    }
}

pin_project! {
    /// The response future of [`SockJsService`].
    #[project = ResponseFutureProj]
    #[allow(missing_docs)]
    pub enum ResponseFuture<F> {
        /// Handled by the SockJS service.
        SockJs {
            fut: BoxFuture<Response<SockJsBody>>,
        },
        /// Passed to the inner service.
        Inner {
            #[pin]
            fut: F,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::SockJs { fut } => fut
                .as_mut()
                .poll(cx)
                .map(|r| Ok(r.map(|body| ResponseBody::SockJs { body }))),
            ResponseFutureProj::Inner { fut } => fut
                .poll(cx)
                .map(|r| r.map(|res| res.map(|body| ResponseBody::Inner { body }))),
        }
    }
}

impl<H, S, ReqBody, ResBody> Service<Request<ReqBody>> for SockJsService<H, S>
where
    H: Handler,
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if under_prefix(req.uri().path(), &self.state.config.prefix).is_some() {
            let state = self.state.clone();
            ResponseFuture::SockJs {
                fut: Box::pin(handle(state, req)),
            }
        } else {
            ResponseFuture::Inner {
                fut: self.inner.call(req),
            }
        }
    }
}
