//! One websocket write under the session's write deadline, whose timer is
//! made only when the write has to wait.

use crate::shared::Shared;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Runs one write (send, feed, flush) under the write deadline. False when
/// it failed or the peer did not take the bytes in time; the caller then
/// drops the connection (a close frame could not get through either).
pub(super) fn write<F>(shared: &Shared, limit: Option<Duration>, op: F) -> Within<'_, F>
where
    F: Future<Output = Result<(), WsError>>,
{
    Within {
        op,
        shared,
        limit,
        timer: None,
    }
}

pin_project_lite::pin_project! {
    /// See [`write`]. Its timer is made (boxed) only once the write has to
    /// wait, which most never do: an inline timer would add its 112 bytes to
    /// every session's task, since the session loop holds a write future in
    /// the same room as its idle state.
    pub(super) struct Within<'a, F> {
        #[pin]
        op: F,
        shared: &'a Shared,
        limit: Option<Duration>,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F> Future for Within<'_, F>
where
    F: Future<Output = Result<(), WsError>>,
{
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<bool> {
        use std::task::Poll;
        let this = self.project();
        if let Poll::Ready(r) = this.op.poll(cx) {
            return Poll::Ready(r.is_ok());
        }
        let Some(limit) = *this.limit else {
            return Poll::Pending;
        };
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let (code, reason) = crate::shared::SLOW_CONSUMER;
        tracing::debug!(session = %crate::shared::short_id(&this.shared.id), "websocket peer stopped reading");
        this.shared.expire(code, reason);
        Poll::Ready(false)
    }
}
