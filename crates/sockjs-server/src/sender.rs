//! `SessionSender`: a cloneable handle to one session, for other tasks and
//! for broadcasts, with the session's identity and typed data.

use crate::shared::{short_id, SendError, SessionId, Shared, TrySendError};
use sockjs_core::ReadyState;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A cloneable handle to send to (and close) a session from any task; it
/// does not keep the session open.
///
/// Two senders are equal when they are handles to the same session, and
/// hash by its [`SessionId`], so they can key a map or fill a set. (The
/// hash reads only that immutable id, so clippy's `mutable_key_type` lint
/// on such a set is a false positive; key by [`SessionSender::id`] to avoid it.)
#[derive(Clone)]
pub struct SessionSender {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSender")
            .field("id", &self.shared.sid)
            .field("session", &short_id(&self.shared.id))
            .finish()
    }
}

impl PartialEq for SessionSender {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for SessionSender {}

impl Hash for SessionSender {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.shared.sid.hash(state);
    }
}

impl SessionSender {
    pub(crate) fn new(shared: Arc<Shared>) -> SessionSender {
        SessionSender { shared }
    }

    /// The session's identifier. See [`crate::Session::id`].
    pub fn id(&self) -> SessionId {
        self.shared.sid
    }

    /// Queues a message, waiting while the queue is full. See [`crate::Session::send`].
    pub async fn send(&self, msg: impl Into<String>) -> Result<(), SendError> {
        self.shared.push(msg.into()).await
    }

    /// Queues a message without waiting. See [`crate::Session::try_send`].
    pub fn try_send(&self, msg: impl Into<String>) -> Result<(), TrySendError> {
        self.shared.try_send(msg.into())
    }

    /// Closes the session. See [`crate::Session::close`].
    pub fn close(&self, code: u16, reason: &str) {
        self.shared.close(code, reason);
    }

    /// The session's ready state.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.ready_state()
    }

    /// True when both handles refer to the same session (as `==`).
    pub fn same_session(&self, other: &SessionSender) -> bool {
        self == other
    }

    /// A copy of the session's data of type `T`, if set. See
    /// [`crate::Session::set_data`].
    pub fn data<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get::<T>()
            .cloned()
    }

    /// Sets the session's data of type `T`, returning the previous value.
    /// See [`crate::Session::set_data`].
    pub fn set_data<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.shared.data.lock().unwrap_or_else(|e| e.into_inner()).insert(value)
    }

    /// Removes the session's data of type `T`, returning it.
    pub fn remove_data<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared.data.lock().unwrap_or_else(|e| e.into_inner()).remove::<T>()
    }

    /// True once the session is closing or closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.ready_state() >= ReadyState::Closing
    }
}
