//! The application's view of a session: receive, send, close, metadata.

use crate::hub::Hub;
use crate::sender::SessionSender;
use crate::shared::{short_id, ConnInfo, SendError, SessionId, Shared, TrySendError, HANDLER_PANICKED};
use http::HeaderMap;
use sockjs_core::ReadyState;
use sockjs_core::Transport;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// How a session ended, as reported by [`Session::closed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReason {
    /// The close code (e.g. 3000 after [`Session::end`], 1002 when the
    /// peer's connection was interrupted, 1000 when the peer closed its websocket).
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

/// One SockJS session, handed to the handler when a client connects.
///
/// Dropping the `Session` closes it with 3000 "Go away!" unless it is closed
/// already: when the handler returns, the session ends. Use
/// [`Session::sender`] to let other tasks write to it.
///
/// # As a `Stream` and a `Sink`
///
/// A `Session` is a [`futures_util::Stream`] of the client's messages (as
/// [`Session::recv`]) and a [`futures_util::Sink`] of messages to it (as
/// [`Session::send`]: a full queue holds the sink back, which is how
/// backpressure reaches a `forward`), so `split()`, `forward()` and the
/// `StreamExt` combinators work. A sink's flush means queued for the
/// client, as `send` does; closing the sink ends the session with 3000
/// "Go away!" (as [`Session::end`]), after what was queued.
///
/// ```
/// use futures_util::{SinkExt, StreamExt};
/// use sockjs_server::{Config, Session, SockJsService};
///
/// async fn shout(session: Session) {
///     let (sink, stream) = session.split();
///     // Every message back in capitals, until the client leaves.
///     let _ = stream
///         .map(|m: String| Ok::<String, ()>(m.to_uppercase()))
///         .forward(sink.sink_map_err(|_| ()))
///         .await;
/// }
/// # let _ = SockJsService::new(Config::new("/shout"), shout);
/// ```
pub struct Session {
    shared: Arc<Shared>,
    inbound: crate::inbox::Receiver,
    info: Arc<ConnInfo>,
    hub: Hub,
    /// A message given to the sink that is waiting for room in the queue.
    pending: Option<Pending>,
}

type Pending = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + Sync>>;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &short_id(&self.shared.id))
            .field("transport", &self.info.transport)
            .field("ready_state", &self.ready_state())
            .finish()
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, inbound: crate::inbox::Receiver, info: Arc<ConnInfo>, hub: Hub) -> Session {
        Session {
            shared,
            inbound,
            info,
            hub,
            pending: None,
        }
    }

    /// The session's identifier: unique among the sessions of its service,
    /// stable for the session's life, and not a secret (sockjs-node's
    /// `conn.id`; unlike the session id in the client's URLs, which is a
    /// bearer secret and never exposed).
    pub fn id(&self) -> SessionId {
        self.shared.sid
    }

    /// The service's [`Hub`]: broadcast to its sessions and rooms.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// Joins `room` (see [`Hub::join`]); the session leaves every room when
    /// it closes. False when the session is closed.
    pub fn join(&self, room: &str) -> bool {
        self.hub.join(&self.sender(), room)
    }

    /// Leaves `room`; false when the session was not in it.
    pub fn leave(&self, room: &str) -> bool {
        self.hub.leave(&self.sender(), room)
    }

    /// The rooms the session is in.
    pub fn rooms(&self) -> Vec<String> {
        self.hub.rooms_of(&self.sender())
    }

    /// Sets the session's data of type `T` (one value per type), returning
    /// the previous one. Other tasks and broadcast filters read it through
    /// [`SessionSender::data`]: for example the user a token in the first
    /// message identified.
    ///
    /// ```
    /// # async fn handler(mut session: sockjs_server::Session) {
    /// #[derive(Clone)]
    /// struct User(String);
    /// if let Some(token) = session.recv().await {
    ///     session.set_data(User(token));
    /// }
    /// let hub = session.hub();
    /// // Only to the sessions whose user is known.
    /// hub.to_all().filter(|s| s.data::<User>().is_some()).send("hello, users");
    /// # }
    /// ```
    pub fn set_data<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.sender().set_data(value)
    }

    /// A copy of the session's data of type `T`, if set.
    pub fn data<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.sender().data()
    }

    /// Receives the next message from the client, in order. Returns `None`
    /// once the session is closed (after every message received before the
    /// close was returned).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: if it is used in `tokio::select!` and
    /// another branch completes first, no message is lost.
    pub async fn recv(&mut self) -> Option<String> {
        if let Some(m) = self.inbound.try_recv() {
            return Some(m);
        }
        self.shared.set_app_idle(true);
        let m = self.inbound.recv().await;
        self.shared.set_app_idle(false);
        m
    }

    /// Queues a message, waiting while the outbound queue is full (see
    /// [`crate::Config::max_queued`]). If the queue stays full for
    /// [`crate::Config::slow_consumer_timeout`], the session is closed with
    /// 1013 "Slow consumer" and this returns [`SendError::Closed`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: when cancelled, the message was either queued in full or
    /// not at all.
    pub async fn send(&self, msg: impl Into<String>) -> Result<(), SendError> {
        self.shared.push(msg.into()).await
    }

    /// Queues a message without waiting; a full queue is reported as
    /// [`TrySendError::Full`] with the message handed back. Once the queue
    /// has stayed full for [`crate::Config::slow_consumer_timeout`], the
    /// session is closed with 1013 "Slow consumer" and this reports
    /// [`TrySendError::Closed`].
    pub fn try_send(&self, msg: impl Into<String>) -> Result<(), TrySendError> {
        self.shared.try_send(msg.into())
    }

    /// Closes the session with `code` and `reason`. Messages already queued
    /// are delivered first. Closing twice has no further effect.
    pub fn close(&self, code: u16, reason: &str) {
        self.shared.close(code, reason);
    }

    /// Closes the session with the default 3000 "Go away!".
    pub fn end(&self) {
        let (code, reason) = sockjs_core::GO_AWAY;
        self.close(code, reason);
    }

    /// Waits until the session starts closing, by either side or by expiry,
    /// and returns why. Every call returns the same reason.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&self) -> CloseReason {
        let ev = self.shared.wait_closed().await;
        CloseReason {
            code: ev.code,
            reason: ev.reason,
        }
    }

    /// The ready state.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.ready_state()
    }

    /// The session's id (a bearer secret: log only [`short_id`] of it).
    pub(crate) fn id_str(&self) -> &str {
        &self.shared.id
    }

    /// The transport the session was opened with.
    pub fn transport(&self) -> Transport {
        self.info.transport
    }

    /// What the latest request of the session told: the opening one, or
    /// on the HTTP transports a later poll or stream.
    fn request(&self) -> Arc<ConnInfo> {
        self.shared.latest().unwrap_or_else(|| self.info.clone())
    }

    /// The peer's address.
    ///
    /// It is the address of the connection that carried the session's
    /// latest request (on the HTTP transports each poll or stream may come
    /// on another connection, as with sockjs-node), found in the request's
    /// extensions: a `SocketAddr` (as [`crate::serve`] puts there) or, with
    /// the `axum` feature, axum's `ConnectInfo<SocketAddr>` (from
    /// `into_make_service_with_connect_info::<SocketAddr>()`). When that
    /// peer is one of [`Config::trusted_proxies`](crate::Config::trusted_proxies),
    /// the client's address is taken from `X-Forwarded-For` instead (with
    /// port 0, since the header carries none). `None` when the server put
    /// no address in the request.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.request().remote_addr
    }

    /// The URL (path and query) of the session's latest request (see
    /// [`Session::remote_addr`]).
    pub fn url(&self) -> String {
        self.request().url.clone()
    }

    /// The path of the session's latest request.
    pub fn path(&self) -> String {
        self.request().path.clone()
    }

    /// The service's prefix.
    pub fn prefix(&self) -> &str {
        &self.info.prefix
    }

    /// The whitelisted request headers (referer, x-forwarded-for, host,
    /// user-agent, ...; never cookies) of the session's latest request (see
    /// [`Session::remote_addr`]).
    pub fn headers(&self) -> HeaderMap {
        self.request().headers.clone()
    }

    /// A cloneable handle that can send to and close this session from other tasks.
    pub fn sender(&self) -> SessionSender {
        SessionSender::new(self.shared.clone())
    }
}

impl futures_util::Stream for Session {
    type Item = String;

    /// The next message from the client, as [`Session::recv`].
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        let this = self.get_mut();
        match this.inbound.poll_recv(cx) {
            Poll::Ready(m) => {
                this.shared.set_app_idle(false);
                Poll::Ready(m)
            }
            Poll::Pending => {
                // Waiting on an empty queue: everything given was handled.
                this.shared.set_app_idle(true);
                Poll::Pending
            }
        }
    }
}

impl Session {
    /// Drives the message waiting for queue room, if any.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        match &mut self.pending {
            None => Poll::Ready(Ok(())),
            Some(f) => {
                let r = std::task::ready!(f.as_mut().poll(cx));
                self.pending = None;
                Poll::Ready(r)
            }
        }
    }
}

impl<M: Into<String>> futures_util::Sink<M> for Session {
    type Error = SendError;

    /// Ready once the previous message is queued.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.get_mut().poll_pending(cx)
    }

    /// Queues `msg` at once when there is room; otherwise it waits, as
    /// [`Session::send`] does, driven by the next `poll_ready` or
    /// `poll_flush`.
    fn start_send(self: Pin<&mut Self>, msg: M) -> Result<(), SendError> {
        let this = self.get_mut();
        match this.shared.try_send(msg.into()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(SendError::Closed),
            Err(TrySendError::Full(m)) => {
                let shared = this.shared.clone();
                this.pending = Some(Box::pin(async move { shared.push(m).await }));
                Ok(())
            }
        }
    }

    /// Done once every message given is queued for the client.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.get_mut().poll_pending(cx)
    }

    /// Flushes, then ends the session with 3000 "Go away!" (after what was
    /// queued).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let this = self.get_mut();
        let r = std::task::ready!(this.poll_pending(cx));
        this.end();
        Poll::Ready(r)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Dropped while unwinding: the application panicked.
        let (code, reason) = if std::thread::panicking() {
            HANDLER_PANICKED
        } else {
            sockjs_core::GO_AWAY
        };
        self.shared.close(code, reason);
    }
}
