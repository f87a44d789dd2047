//! The application callback run once per session.

use crate::session::Session;
use std::future::Future;
use std::pin::Pin;

/// The application: called once for every new session. Its future runs in
/// a task of its own on the HTTP transports, and in the connection's task on
/// the websocket endpoints (polled beside the connection, so a message and
/// the reply to it are handled in one wake-up). Either way a panic closes
/// only its session (1011), and a future that blocks its thread stalls the
/// sessions sharing that thread: await, never block.
///
/// Implemented for every `Fn(Session) -> impl Future<Output = ()>` closure
/// or function that is `Send + Sync + 'static`:
///
/// ```
/// use sockjs_server::{Handler, Session};
/// async fn echo(mut session: Session) {
///     while let Some(msg) = session.recv().await {
///         if session.send(msg).await.is_err() {
///             break;
///         }
///     }
/// }
/// fn assert_handler(_: impl Handler) {}
/// assert_handler(echo);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Runs the application for one session. When the returned future
    /// completes, the session is dropped, which closes it unless it was
    /// closed already.
    fn call(&self, session: Session) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, session: Session) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(self(session))
    }
}
